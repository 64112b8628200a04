//! One concept: a call to a use case. Who calls, from where, against which state travel
//! together as one value, so a handler names one extractor instead of three and a use case
//! shared by the API and the pages takes one argument; the audited runners take the caller
//! and origin from it, so no use case can audit under someone else's name.

use crate::access::Operation;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::state::{audit_entry, with_outcome, AppState, AuditAction, AuditedResource, Origin};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use referral_store::audit;
use referral_store::events::AuditWith;
use referral_store::DbConnection;

/// An authenticated request: the state, the verified caller and where the request came
/// from. Extracted from a bearer token for the API; the pages build it from the session.
#[derive(Debug, Clone)]
pub struct Call {
    /// The service's state.
    pub state: web::Data<AppState>,
    /// The verified caller.
    pub caller: Caller,
    /// The client's address and user agent, for the audit row and the fraud signals.
    pub origin: Origin,
}

impl FromRequest for Call {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or(ApiError::Internal)?
                .clone();
            let caller = Caller::from_http(&req).await?;
            Ok(Call {
                state,
                caller,
                origin: Origin::of(&req),
            })
        }
        .boxed_local()
    }
}

impl Call {
    /// A call by `caller` (a page's session), from `origin`.
    pub fn new(state: &web::Data<AppState>, caller: &Caller, origin: &Origin) -> Self {
        Call {
            state: state.clone(),
            caller: caller.clone(),
            origin: origin.clone(),
        }
    }

    /// The service's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.state.now()
    }

    /// Runs `operation`'s audited work (the `AuthCheck` habit): the caller's role is
    /// checked inside it, so a refusal is audited too, and the work gets the caller.
    ///
    /// # Errors
    /// `forbidden` for a role `operation` does not admit; the work's error.
    pub async fn run<T, F>(
        &self,
        operation: Operation,
        action: AuditAction,
        work: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, &Caller) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static + AuditedResource,
    {
        self.run_for(operation.roles(), action, work).await
    }

    /// As [`Call::run`], for a page's work open to `roles`.
    ///
    /// # Errors
    /// `forbidden` for another role; the work's error.
    pub async fn run_for<T, F>(
        &self,
        roles: &'static [Role],
        action: AuditAction,
        work: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, &Caller) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static + AuditedResource,
    {
        let who = self.caller.clone();
        self.audited(action, move |conn| {
            who.require(roles)?;
            work(conn, &who)
        })
        .await
    }

    /// As [`Call::run`], for a read that may use the replica (see [`AppState::read`]): the
    /// role is checked and the data read there, and the audit row is then written on the
    /// primary; data whose read cannot be audited is not answered.
    ///
    /// # Errors
    /// As [`Call::run`].
    pub async fn read<T, F>(
        &self,
        operation: Operation,
        action: AuditAction,
        work: F,
    ) -> Result<T, ApiError>
    where
        F: Fn(&mut DbConnection, &Caller) -> Result<T, ApiError> + Send + Sync + 'static,
        T: Send + 'static + AuditedResource,
    {
        if self.state.usable_replica().is_none() {
            return self.run(operation, action, work).await;
        }
        let who = self.caller.clone();
        let roles = operation.roles();
        let result = self
            .state
            .read(move |conn| {
                who.require(roles)?;
                work(conn, &who)
            })
            .await;
        let entry = with_outcome(
            audit_entry(Some(&self.caller), &self.origin, action),
            &result,
        );
        let keyring = self.state.keyring.clone();
        let audited = self
            .state
            .db(move |conn| Ok(audit::append(conn, &keyring, &entry, chrono::Utc::now())?))
            .await;
        match (audited, result) {
            (Err(e), Ok(_)) => {
                tracing::error!(error = %e, "could not write the audit row of a replica read");
                Err(e)
            }
            (_, result) => result,
        }
    }

    /// Audited work of any authenticated caller (see [`AppState::audited_as`]).
    ///
    /// # Errors
    /// The work's error.
    pub async fn audited<T, F>(&self, action: AuditAction, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static + AuditedResource,
    {
        self.state
            .audited_as(Some(&self.caller), &self.origin, action, work)
            .await
    }

    /// Work that writes its own audit row, with outcome `success`, inside its transaction
    /// (so that the change and its record commit together): it gets the row to write. A
    /// failed attempt is audited here, as usual.
    ///
    /// # Errors
    /// The work's error.
    pub async fn audited_within<T, F>(&self, action: AuditAction, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, AuditWith<'_>) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let entry_base = audit_entry(Some(&self.caller), &self.origin, action);
        let keyring = self.state.keyring.clone();
        self.state
            .db(move |conn| {
                let result = work(conn, (&entry_base, &keyring));
                if let Err(e) = &result {
                    let mut entry = entry_base;
                    entry.outcome = e.code().to_owned();
                    if let Err(e) = audit::append(conn, &keyring, &entry, chrono::Utc::now()) {
                        tracing::error!(error = %e, action = %entry.action, "could not write the audit row");
                    }
                }
                result
            })
            .await
    }
}
