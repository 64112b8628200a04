//! Who may call each operation, declared once beside its handler: the handler checks the
//! caller against the same [`Operation`] that gives the OpenAPI document its security, its
//! 401 and 403 responses and its `x-roles` (`routes::OPERATIONS` lists them all; a test
//! holds that list to the document, so an operation cannot be undeclared and fall open).

use crate::auth::Role;

/// Who may call an operation.
#[derive(Debug, Clone, Copy)]
pub enum Callers {
    /// Anyone, with no token (public links, health, signed inbound webhooks).
    Anyone,
    /// A bearer token of one of these roles.
    Roles(&'static [Role]),
    /// Anyone, or a bearer token of one of these roles acting for someone
    /// (`register_with_code`: a visitor, or a platform service on a patient's behalf).
    AnyoneOr(&'static [Role]),
}

/// One operation of the HTTP API and who may call it.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// The operation id in the OpenAPI document.
    pub id: &'static str,
    /// Who may call it.
    pub callers: Callers,
}

impl Operation {
    /// An operation open to anyone.
    pub const fn public(id: &'static str) -> Self {
        Self {
            id,
            callers: Callers::Anyone,
        }
    }

    /// An operation for bearer tokens of `roles`.
    pub const fn for_roles(id: &'static str, roles: &'static [Role]) -> Self {
        Self {
            id,
            callers: Callers::Roles(roles),
        }
    }

    /// An operation open to anyone and to tokens of `roles`.
    pub const fn public_or(id: &'static str, roles: &'static [Role]) -> Self {
        Self {
            id,
            callers: Callers::AnyoneOr(roles),
        }
    }

    /// The roles a token must have to call it (none for a public operation).
    pub const fn roles(&self) -> &'static [Role] {
        match self.callers {
            Callers::Anyone => &[],
            Callers::Roles(roles) | Callers::AnyoneOr(roles) => roles,
        }
    }

    /// Whether a bearer token is accepted (the document's `security`).
    pub const fn takes_token(&self) -> bool {
        !matches!(self.callers, Callers::Anyone)
    }

    /// Whether a token is required (401 without one, 403 for another role).
    pub const fn needs_token(&self) -> bool {
        matches!(self.callers, Callers::Roles(_))
    }

    /// The callers by name, as the document's `x-roles` says them (`anyone` for no token).
    pub fn caller_names(&self) -> Vec<&'static str> {
        let anyone = (!self.needs_token()).then_some("anyone");
        anyone
            .into_iter()
            .chain(self.roles().iter().map(|r| r.as_str()))
            .collect()
    }
}
