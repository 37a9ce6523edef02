//! The HTTP layer: thin. Axum serves the control API under `/_emulator/` and hands every other
//! request to `graph::handle`, which resolves the Graph path (`route`), authenticates, calls the
//! domain operation and renders Graph's envelope (`envelope`).

mod batch;
mod body;
mod callouts;
mod control;
pub mod envelope;
pub mod faults;
mod graph;
mod handlers;
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
    pub journal: journal::Journal,
    pub faults: faults::Faults,
    /// Ids for tenants made through the control API (their own seeded stream).
    pub tenant_ids: Box<dyn crate::ids::IdGen>,
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
    let graph = identity::routes().fallback(graph::handle);
    let app = if control_api {
        graph
            .route("/_emulator/health", get(control::health))
            .route("/_emulator/reset", post(control::reset))
            .route("/_emulator/tokens", post(control::mint_token))
            .route("/_emulator/state", get(control::state))
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
    } else {
        graph
    };
    app.with_state(state)
}
