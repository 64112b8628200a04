//! The served contract, built once at start-up: the OpenAPI document
//! (`openapi::document_json`) and a compiled JSON Schema validator for every request body
//! it declares. The body extractor (`json_body`), the document's route and the 405
//! answers read it from the application state, so none of them imports the document's
//! builder, and a request schema that does not compile stops the start instead of
//! refusing that one body later.

use serde_json::Value;
use std::collections::HashMap;

/// The document and its request validators.
#[derive(Debug)]
pub struct Contract {
    document: Value,
    validators: HashMap<String, jsonschema::Validator>,
}

/// The HTTP methods a path item of the document may declare.
pub(crate) const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

impl Contract {
    /// Compiles the schema of every request body `document` declares.
    ///
    /// # Errors
    /// The name of a schema that does not compile, with why.
    pub fn build(document: Value) -> Result<Self, String> {
        let mut validators = HashMap::new();
        for item in document["paths"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
        {
            for op in item.as_object().into_iter().flat_map(|o| o.values()) {
                let Some(name) = op
                    .pointer("/requestBody/content/application~1json/schema/$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.rsplit('/').next())
                else {
                    continue;
                };
                if validators.contains_key(name) {
                    continue;
                }
                // The whole document is the schema's root, so `#/components/...`
                // references resolve; its other members are not keywords and are ignored.
                let mut root = document.clone();
                if let Some(map) = root.as_object_mut() {
                    map.insert("$ref".into(), format!("#/components/schemas/{name}").into());
                }
                let validator = jsonschema::validator_for(&root)
                    .map_err(|e| format!("the request schema {name} does not compile: {e}"))?;
                validators.insert(name.to_owned(), validator);
            }
        }
        Ok(Self {
            document,
            validators,
        })
    }

    /// The document as served at `/api/openapi.json`.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The validator of request component `name`, if the document has a body of it.
    pub fn validator(&self, name: &str) -> Option<&jsonschema::Validator> {
        self.validators.get(name)
    }

    /// How many request schemas were compiled.
    pub fn request_schemas(&self) -> usize {
        self.validators.len()
    }

    /// The methods the document declares at a route pattern (`/api/referral-programs/{id}`),
    /// upper-case: what a 405 answer's `Allow` lists.
    pub fn allowed_methods(&self, pattern: &str) -> Option<Vec<String>> {
        let item = self.document["paths"].get(pattern)?.as_object()?;
        let methods: Vec<String> = item
            .keys()
            .filter(|m| HTTP_METHODS.contains(&m.as_str()))
            .map(|m| m.to_ascii_uppercase())
            .collect();
        (!methods.is_empty()).then_some(methods)
    }
}
