//! Request bodies: JSON read with the service's limits and errors (`web::JsonConfig` in
//! `app.rs`), checked against the body's schema in the served OpenAPI document, then parsed
//! into the typed request. So the document is the contract in both directions: what it
//! refuses is refused (serde alone would take an array for an object, or ignore a pattern),
//! and schemathesis holds what it allows to what the handlers accept.
//!
//! Numbers such as `25.0` are taken as the integers they equal: JSON and JSON Schema make
//! no difference between `25` and `25.0`; serde does.

use crate::error::{ApiError, FieldProblem};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::ToSchema;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    /// The parsed body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Integral floats (`3.0`) become integers, recursively.
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// The problems of `value` against the schema of `name`: wrong shapes as `invalid_json`,
/// values out of bounds as `validation_failed` naming the field.
fn check_against_schema(
    contract: &crate::contract::Contract,
    name: &str,
    value: &Value,
) -> Result<(), ApiError> {
    use jsonschema::error::ValidationErrorKind as Kind;
    // A body whose schema cannot be checked is refused, not let through unchecked.
    let validator = contract.validator(name).ok_or(ApiError::Internal)?;
    let mut shape = None;
    let mut problems = Vec::new();
    for error in validator.iter_errors(value) {
        let field = error.instance_path.to_string();
        let field = field.trim_start_matches('/').replace('/', ".");
        // A field required only with another (`if`/`then`) is a validation problem of
        // that field; anything else missing or of the wrong type is a malformed body.
        if let Kind::Required { property } = &error.kind {
            if error.schema_path.to_string().contains("/then/") {
                let name = property.as_str().unwrap_or_default().to_owned();
                problems.push(FieldProblem::new(&name, "is required here"));
                continue;
            }
        }
        match &error.kind {
            // Said without the value: the body may hold a person's data.
            Kind::Type { .. } => {
                let at = if field.is_empty() {
                    "the body"
                } else {
                    field.as_str()
                };
                shape.get_or_insert_with(|| {
                    format!("the body is not valid: {at} has the wrong type")
                });
            }
            Kind::Required { property } => {
                let name = property.as_str().unwrap_or_default().to_owned();
                shape.get_or_insert_with(|| {
                    format!("the body is not valid: missing field `{name}`")
                });
            }
            Kind::AdditionalProperties { unexpected } => {
                shape.get_or_insert_with(|| {
                    format!(
                        "the body is not valid: unknown field `{}`",
                        unexpected.join("`, `")
                    )
                });
            }
            other => {
                // The bound itself is said, so that a person can fix the value.
                let message: String = match other {
                    Kind::Pattern { .. } | Kind::Format { .. } if field.ends_with("email") => {
                        "not a valid email address".into()
                    }
                    Kind::Pattern { .. } | Kind::Format { .. } if field.ends_with("phone") => {
                        "enter a mobile number, like (415) 555-0199, or with its country code, like +44 20 7946 0958".into()
                    }
                    Kind::Pattern { .. } | Kind::Format { .. } => {
                        "does not have the documented format".into()
                    }
                    Kind::MaxLength { limit } => format!("at most {limit} characters"),
                    Kind::MinLength { limit } => format!("at least {limit} characters"),
                    Kind::Minimum { limit } => format!("must be at least {limit}"),
                    Kind::Maximum { limit } => format!("must be at most {limit}"),
                    Kind::ExclusiveMinimum { .. } | Kind::ExclusiveMaximum { .. } => {
                        "is out of range".into()
                    }
                    Kind::Enum { .. } | Kind::Constant { .. } => {
                        "is not one of the documented values".into()
                    }
                    Kind::MinItems { limit } => format!("at least {limit} items"),
                    Kind::MaxItems { limit } => format!("at most {limit} items"),
                    _ => "does not match the documented schema".into(),
                };
                problems.push(FieldProblem::new(
                    if field.is_empty() { "body" } else { &field },
                    message,
                ));
            }
        }
    }
    if let Some(detail) = shape {
        return Err(ApiError::InvalidJson(detail));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems.dedup();
        Err(ApiError::Validation(problems))
    }
}

impl<T: DeserializeOwned + ToSchema + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let raw = web::Json::<Value>::from_request(req, payload);
        let state = req.app_data::<web::Data<crate::state::AppState>>().cloned();
        async move {
            let mut value = raw.await?.into_inner();
            integral_floats_as_integers(&mut value);
            let state = state.ok_or(ApiError::Internal)?;
            check_against_schema(&state.contract, &T::name(), &value)?;
            serde_json::from_value(value)
                .map(JsonBody)
                .map_err(|e| ApiError::InvalidJson(format!("the body is not valid: {e}")).into())
        }
        .boxed_local()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_body_schema_compiles() {
        let contract = crate::contract::Contract::build(crate::openapi::document_json())
            .expect("every request schema compiles");
        assert!(
            contract.request_schemas() >= 9,
            "{}",
            contract.request_schemas()
        );
    }

    #[test]
    fn integral_floats_become_integers_and_others_stay() {
        let mut v = serde_json::json!({"a": 3.0, "b": [1.0, 2.5], "c": {"d": -7.0}, "e": "4.0"});
        integral_floats_as_integers(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": 3, "b": [1, 2.5], "c": {"d": -7}, "e": "4.0"})
        );
    }
}
