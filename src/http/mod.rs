//! The HTTP layer: thin. Axum serves the control API under `/_emulator/` and hands every other
//! request to `graph::handle`, which resolves the Graph path (`route`), authenticates, calls the
//! domain operation and renders Graph's envelope (`envelope`).

mod batch;
mod body;
mod callouts;
mod control;
mod cors;
pub mod envelope;
pub mod faults;
mod graph;
mod handlers;
pub mod hosts;
mod identity;
pub mod journal;
mod route;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use uuid::Uuid;

use crate::auth::AuthMode;
use crate::clock::Clock;
use crate::ids::IdGen;
use crate::store::Tenants;

/// Default largest control-API body (`--control-body-limit-mib`): a snapshot of the benchmark's
/// 10,000-package tenant fits several times over; larger snapshots need the flag.
pub const CONTROL_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Default most tenants one process serves (`--max-tenants`): each costs at least its fixture's
/// state (~80 KB for the default one), and nothing else bounds how many `POST
/// /_emulator/tenants` makes.
pub const DEFAULT_MAX_TENANTS: usize = 100;

/// Default most fault rules (`--max-fault-rules`): every Graph call is matched against each
/// one, so their number is on the request path.
pub const DEFAULT_MAX_FAULT_RULES: usize = 100;

/// What the control plane may grow to; each is refused past its limit, naming the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlLimits {
    pub max_tenants: usize,
    pub max_fault_rules: usize,
    pub control_body_limit: usize,
}

impl Default for ControlLimits {
    fn default() -> Self {
        ControlLimits {
            max_tenants: DEFAULT_MAX_TENANTS,
            max_fault_rules: DEFAULT_MAX_FAULT_RULES,
            control_body_limit: CONTROL_BODY_LIMIT,
        }
    }
}

/// Largest request body accepted (Graph's gateway limit is 4 MB [inf]).
pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// What every handler can reach.
pub struct Shared {
    pub tenants: Tenants,
    pub default_tenant: Uuid,
    pub clock: Arc<dyn Clock>,
    /// The per-request id stream (request-id), separate from entity ids.
    pub request_ids: Box<dyn IdGen>,
    pub auth: AuthMode,
    pub body_limit: usize,
    pub tokens: crate::auth::TokenCache,
    /// Signs minted tokens and verifies bearer tokens; published as each tenant's JWKS.
    pub signing_key: Arc<crate::auth::keys::SigningKey>,
    /// Authorization codes already exchanged (by code id), with their expiry.
    pub redeemed_codes: dashmap::DashMap<String, i64>,
    /// When set, every control-API call must carry it (`Authorization: Bearer …` or
    /// `x-emulator-admin-token`).
    pub admin_token: Option<String>,
    /// Which browser origins may call Graph and the identity endpoints.
    pub cors: CorsPolicy,
    pub journal: journal::Journal,
    pub faults: faults::Faults,
    /// Ids for tenants made through the control API (their own seeded stream).
    pub tenant_ids: Box<dyn crate::ids::IdGen>,
    /// The `Host` names answered as the emulator itself, and its own address.
    pub hosts: hosts::HostPolicy,
    pub limits: ControlLimits,
    /// One snapshot-bearing control body (`PUT /_emulator/snapshot`, `POST /_emulator/tenants`)
    /// is read and built at a time: each can take several times its size in memory.
    pub restore_gate: tokio::sync::Semaphore,
    /// The addresses this emulator listens on (HTTP, then HTTPS), set once both are bound: a
    /// custom-extension callout must never reach them (issue 19).
    pub listeners: std::sync::OnceLock<Vec<std::net::SocketAddr>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("default_tenant", &self.default_tenant)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

pub type AppState = Arc<Shared>;

/// CORS for Graph and the identity endpoints (never for the control API).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsPolicy {
    /// Any origin, as Graph answers single-page apps.
    #[default]
    AnyOrigin,
    Origins(Vec<String>),
    Off,
}

impl CorsPolicy {
    /// `*`, `none`, or a comma-separated list of origins (`https://app.example:3000`).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "*" => Ok(CorsPolicy::AnyOrigin),
            t if t.eq_ignore_ascii_case("none") => Ok(CorsPolicy::Off),
            t => {
                let origins: Vec<String> = t
                    .split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect();
                match origins
                    .iter()
                    .find(|o| url::Url::parse(o).is_err() || !o.contains("://"))
                {
                    Some(bad) => Err(format!(
                        "'{bad}' is not an origin like https://app.example:3000"
                    )),
                    None if origins.is_empty() => Err("no origin given".into()),
                    None => Ok(CorsPolicy::Origins(origins)),
                }
            }
        }
    }

    fn layer(&self) -> Option<tower_http::cors::CorsLayer> {
        use axum::http::{HeaderName, HeaderValue, Method};
        use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
        let origin = match self {
            CorsPolicy::Off => return None,
            CorsPolicy::AnyOrigin => AllowOrigin::any(),
            CorsPolicy::Origins(list) => AllowOrigin::list(
                list.iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok())
                    .collect::<Vec<_>>(),
            ),
        };
        let expose = [
            "request-id",
            "client-request-id",
            "location",
            "retry-after",
            "odata-version",
            "x-ms-ags-diagnostic",
            "x-emulator-version",
            "www-authenticate",
        ]
        .map(HeaderName::from_static);
        Some(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers(AllowHeaders::mirror_request())
                .expose_headers(expose)
                .max_age(std::time::Duration::from_secs(3600)),
        )
    }
}

/// Every response says which emulator answered.
const VERSION_HEADER: &str = "x-emulator-version";

/// The router the HTTPS listener serves: the same application, with every request marked as
/// arriving over TLS (`X-Forwarded-Proto: https`, overriding whatever the client sent) so
/// absolute links and the identity documents say `https`.
pub fn https_router(state: AppState, control_api: bool) -> Router {
    router(state, control_api).layer(axum::middleware::map_request(
        |mut req: axum::extract::Request| async move {
            req.headers_mut().insert(
                "x-forwarded-proto",
                axum::http::HeaderValue::from_static("https"),
            );
            req
        },
    ))
}

/// The whole application as a `Router`, usable without a socket (`oneshot`) or served.
/// Without `control_api`, `/_emulator/…` paths are just unknown Graph paths.
pub fn router(state: AppState, control_api: bool) -> Router {
    let mut graph = identity::routes().fallback(graph::handle);
    if let Some(cors) = state.cors.layer() {
        graph = graph.layer(cors::CorsForBrowsers(cors));
    }
    let app = if control_api {
        // No CORS here, and a guard that refuses cross-site browser calls and, when set, asks
        // for the admin token: a web page must never reset or mint tokens through a browser.
        let control = Router::new()
            .route("/_emulator/health", get(control::health))
            .route("/_emulator/reset", post(control::reset))
            .route("/_emulator/tokens", post(control::mint_token))
            .route("/_emulator/state", get(control::state))
            .route(
                "/_emulator/snapshot",
                get(control::snapshot).put(control::restore_snapshot),
            )
            .route("/_emulator/access", get(control::access))
            .route(
                "/_emulator/tenants",
                get(control::list_tenants).post(control::create_tenant),
            )
            .route(
                "/_emulator/tenants/{tenant_id}",
                axum::routing::delete(control::delete_tenant),
            )
            .route(
                "/_emulator/faults",
                get(control::list_faults)
                    .post(control::add_fault)
                    .delete(control::clear_faults),
            )
            .route(
                "/_emulator/faults/{fault_id}",
                axum::routing::delete(control::delete_fault),
            )
            .route("/_emulator/least-privilege", get(control::least_privilege))
            .route(
                "/_emulator/journal",
                get(control::journal).delete(control::clear_journal),
            )
            .route(
                "/_emulator/approvals/{request_id}",
                post(control::decide_as),
            )
            .route(
                "/_emulator/outbox",
                get(control::outbox).delete(control::clear_outbox),
            )
            .route(
                "/_emulator/clock",
                get(control::clock).post(control::move_clock),
            )
            .route(
                "/_emulator/settings",
                get(control::settings).post(control::update_settings),
            )
            // Snapshots of large tenants run to many megabytes (axum's default cap is 2 MB);
            // `read_body` has already held the body to the configured limit.
            .layer(axum::extract::DefaultBodyLimit::max(
                state.limits.control_body_limit,
            ))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                control::read_body,
            ))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                control::guard,
            ));
        // The page and the API description hold no data, so they need no admin token (the page
        // asks for it in its URL fragment and sends it with every call); without one, they
        // follow the API's `Host` rule.
        let static_pages = Router::new()
            .route("/_emulator", get(control::dashboard))
            .route("/_emulator/", get(control::dashboard))
            .route("/_emulator/openapi.json", get(control::openapi))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                control::console_guard,
            ));
        graph.merge(control).merge(static_pages)
    } else {
        graph
    };
    app.layer(axum::middleware::map_response(
        |mut resp: axum::response::Response| async move {
            resp.headers_mut().insert(
                VERSION_HEADER,
                axum::http::HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
            );
            resp
        },
    ))
    .with_state(state)
}
