//! Assembling the service: state, middleware (limits, CORS, security headers), routes, and
//! the server with graceful shutdown.

use crate::auth::JwtKeys;
use crate::config::ServeArgs;
use crate::error::ApiError;
use crate::limits::{LimitBackend, SharedCounters, WhenCountersFail};
use crate::routes;
use crate::state::AppState;
use actix_cors::Cors;
use actix_extensible_rate_limit::backend::memory::InMemoryBackend;
use actix_extensible_rate_limit::backend::{SimpleInput, SimpleInputFuture, SimpleOutput};
use actix_extensible_rate_limit::{HeaderCompatibleOutput, RateLimiter};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, App, HttpRequest, HttpServer, ResponseError};
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest batch of platform events (`POST /api/events/batch`: up to 1,000 events).
pub const MAX_BATCH_BODY_BYTES: usize = 1024 * 1024;

pub(crate) fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge.into()
        }
        JsonPayloadError::ContentType => {
            ApiError::InvalidJson("the body must be application/json".into()).into()
        }
        other => {
            // serde's message names the field and the expected type, never our internals.
            let detail = match &other {
                JsonPayloadError::Deserialize(e) => format!("the body is not valid: {e}"),
                _ => "the body is not valid JSON".to_owned(),
            };
            ApiError::InvalidJson(detail).into()
        }
    }
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::Validation(vec![crate::error::FieldProblem::new(
        "query",
        err.to_string(),
    )])
    .into()
}

fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound.into()
}

/// The content security policy of the docs UI: its own vendored script and stylesheet
/// (served by this binary), the inline styles Swagger UI's React components set, and the
/// OpenAPI document from this origin. Nothing from another origin.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Adds the security headers; the docs UI gets its own policy, the API allows nothing.
fn security_headers<B: MessageBody>(mut res: ServiceResponse<B>) -> ServiceResponse<B> {
    let path = res.request().path();
    let is_docs = path == "/docs" || path.starts_with("/docs/");
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    // Pages set their own policy (their stylesheet and script); the API allows nothing.
    if is_docs {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CSP),
        );
    } else if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if !is_docs && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Audits every 401 of an API route (a missing, forged or expired token never reaches the
/// handler's own audit row), by route pattern, never the path's values. 403s are audited
/// by the handlers, which know the resource.
fn audit_unauthenticated<B: MessageBody>(res: ServiceResponse<B>) -> ServiceResponse<B> {
    let req = res.request();
    if res.status() == actix_web::http::StatusCode::UNAUTHORIZED && req.path().starts_with("/api/")
    {
        if let Some(state) = req.app_data::<web::Data<AppState>>() {
            let origin = crate::state::Origin::of(req);
            let route = req
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned());
            state.clone().into_inner().audit_denial(
                origin,
                "auth.denied",
                route,
                "unauthenticated",
            );
        }
    }
    res
}

/// The per-address limit of the public endpoints. One backend is shared by every resource,
/// so a visitor has one budget across lookups, clicks and registrations. The key is the
/// client address (IPv6 grouped by /64): the peer, or behind a trusted proxy the address
/// it forwarded, never a header an untrusted client wrote. Platform services (a verified
/// `service` token) are keyed by their token's subject with a budget of their own,
/// `service_per_minute`, or none when it is 0: one busy platform service registers many
/// patients from few addresses.
pub fn public_limiter(
    backend: LimitBackend,
    per_minute: u64,
    service_per_minute: u64,
    when_counters_fail: WhenCountersFail,
) -> RateLimiter<LimitBackend, SimpleOutput, impl Fn(&ServiceRequest) -> SimpleInputFuture + 'static>
{
    let input = move |req: &ServiceRequest| -> SimpleInputFuture {
        let service = crate::auth::bearer_token(req.headers())
            .and_then(|token| {
                req.app_data::<web::Data<JwtKeys>>()
                    .and_then(|keys| keys.verify(token).ok())
            })
            .filter(|claims| claims.role == crate::auth::Role::Service);
        let interval = Duration::from_secs(60);
        let input = match service {
            Some(claims) => SimpleInput {
                interval,
                max_requests: if service_per_minute == 0 {
                    u64::MAX
                } else {
                    service_per_minute
                },
                key: format!("service:{}", claims.sub),
            },
            None => SimpleInput {
                interval,
                max_requests: per_minute,
                key: format!("ip:{}", client_key(req)),
            },
        };
        std::future::ready(Ok(input))
    };
    RateLimiter::builder(backend, input)
        .fail_open(when_counters_fail == WhenCountersFail::Allow)
        .add_headers()
        .request_denied_response(|status| {
            ApiError::RateLimited(status.seconds_until_reset().max(1)).error_response()
        })
        .build()
}

/// The client address as a limit key (the peer, or behind a trusted proxy the address it
/// forwarded); IPv6 clients get a /64 each, as providers hand out.
fn client_key(req: &ServiceRequest) -> String {
    match crate::state::Origin::of(req.request()).ip {
        Some(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(ip) => ip.to_string(),
        None => "unknown".to_owned(),
    }
}

/// The built service, ready to listen.
#[derive(Debug)]
pub struct Service {
    /// Shared state.
    pub state: Arc<AppState>,
    /// Token keys.
    pub keys: JwtKeys,
    /// Settings.
    pub args: ServeArgs,
}

/// HTTP workers: one per core, as actix would choose, but fixed here because each worker
/// opens its own click connections on PostgreSQL (a share of `--db-pool-size`).
pub fn http_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Starts the HTTP server on `listener` (with the click counter's flush, the audit sealer
/// and the referrer totals' fold).
///
/// # Errors
/// When the listener cannot be used.
pub fn run(service: Service, listener: TcpListener) -> std::io::Result<Server> {
    let state = web::Data::from(service.state);
    crate::workers::spawn_click_flush(state.clone().into_inner());
    crate::workers::spawn_every_second(state.clone().into_inner());
    if let Some(replica) = &state.replica {
        crate::replica::spawn_monitor(replica.clone());
    }
    if let Some(jwks) = service.keys.jwks() {
        crate::workers::spawn_jwks_refresh(jwks.clone());
    }
    let keys = web::Data::new(service.keys);
    let args = service.args;
    if let Some(bind) = args
        .metrics_bind
        .as_deref()
        .filter(|b| !b.trim().is_empty())
    {
        // Off loopback the metrics port is reachable by others: it then takes the token too,
        // and without one the service does not start (fail closed, naming the setting).
        let token = args.metrics_token.clone().filter(|t| !t.trim().is_empty());
        let open = crate::config::is_loopback_bind(bind.trim());
        if !open && token.is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "--metrics-bind {bind} is not a loopback address: set --metrics-token \
                     (Prometheus sends it as a bearer token) or bind 127.0.0.1"
                ),
            ));
        }
        let listener = TcpListener::bind(bind.trim())
            .map_err(|e| std::io::Error::new(e.kind(), format!("--metrics-bind {bind}: {e}")))?;
        tracing::info!(address = ?listener.local_addr().ok(), "metrics: GET /metrics");
        let metrics_state = state.clone();
        let metrics_token = web::Data::new(crate::routes::metrics::MetricsToken(token));
        let metrics_server = HttpServer::new(move || {
            let app = App::new().app_data(metrics_state.clone());
            if open {
                app.route("/metrics", web::get().to(crate::routes::metrics::scrape))
            } else {
                app.app_data(metrics_token.clone()).route(
                    "/metrics",
                    web::get().to(crate::routes::metrics::scrape_with_token),
                )
            }
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        actix_web::rt::spawn(metrics_server);
    }
    // On PostgreSQL every instance counts in the database (#33); SQLite serves one.
    let on_postgres = referral_store::DatabaseUrl::parse(&args.database_url)
        .is_ok_and(|url| url.kind() == referral_store::BackendKind::Postgres);
    let backend = if on_postgres {
        LimitBackend::Shared(SharedCounters::new(
            state.pool.clone(),
            state.keyring.clone(),
        ))
    } else {
        LimitBackend::Memory(InMemoryBackend::builder().build())
    };
    let metrics_token = web::Data::new(crate::routes::metrics::MetricsToken(
        args.metrics_token.clone().filter(|t| !t.trim().is_empty()),
    ));
    let per_minute = args.public_rate_limit.max(1);
    let service_per_minute = args.service_rate_limit;
    let server = HttpServer::new(move || {
        let backend = backend.clone();
        let mut cors = Cors::default()
            .allowed_methods(vec!["GET", "POST", "PUT", "DELETE"])
            .allowed_headers(vec![
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
            ])
            .max_age(3600);
        for origin in &args.cors_origins {
            if !origin.trim().is_empty() {
                cors = cors.allowed_origin(origin.trim());
            }
        }
        // Made here, in each worker, so that its connections run on this worker's loop.
        let worker_clicks = web::Data::new(match &state.click_pools {
            Some(settings) => settings.worker_pool(),
            None => crate::clicks::WorkerClickPool(None),
        });
        App::new()
            .app_data(state.clone())
            .app_data(worker_clicks)
            .app_data(keys.clone())
            .app_data(metrics_token.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .error_handler(json_error),
            )
            .app_data(web::PayloadConfig::default().limit(MAX_BODY_BYTES))
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .wrap(cors)
            .wrap_fn(|req: ServiceRequest, srv| {
                let fut = actix_web::dev::Service::call(srv, req);
                async move { fut.await.map(audit_unauthenticated).map(security_headers) }
                    .boxed_local() as LocalBoxFuture<'static, _>
            })
            // Outermost: the request id is set before anything answers, and the log line
            // and metrics see the final status.
            .wrap_fn(crate::observe::request)
            // The vendored Swagger UI at /docs/ reads the document the API serves.
            .service(web::redirect("/docs", "/docs/"))
            .service(SwaggerUi::new("/docs/{_:.*}").config(Config::new(["/api/openapi.json"])))
            .configure(|cfg| {
                routes::configure(cfg, &|when| {
                    public_limiter(backend.clone(), per_minute, service_per_minute, when)
                })
            })
            .configure(|cfg| {
                crate::pages::configure(cfg, &|when| {
                    public_limiter(backend.clone(), per_minute, service_per_minute, when)
                })
            })
            .route(
                "/metrics",
                web::get().to(crate::routes::metrics::scrape_with_token),
            )
            .default_service(web::to(routes::not_found))
    })
    .workers(http_workers())
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}
