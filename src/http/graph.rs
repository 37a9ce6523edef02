//! The Graph entry point: one request in, Graph's envelope out. Order matters and follows
//! Graph: routing fails first (400 before auth), then authentication (401), then the operation.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request};
use axum::response::Response;
use percent_encoding::percent_decode_str;

use super::envelope::{RequestCtx, render_error, render_reply};
use super::handlers::{Call, dispatch};
use super::{AppState, query, route};
use crate::auth::authenticate;
use crate::error::GraphError;
use crate::model::ApiVersion;

pub(super) async fn handle(State(shared): State<AppState>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let ctx = RequestCtx::new(
        &parts.headers,
        shared.request_ids.next_id(),
        shared.clock.now(),
    );
    let bytes = match to_bytes(body, shared.body_limit).await {
        Ok(b) => b,
        Err(_) => return render_error(&ctx, &GraphError::PayloadTooLarge(shared.body_limit)),
    };
    let result = serve(
        &shared,
        &ctx,
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &bytes,
    );
    match result {
        Ok(reply) => render_reply(&ctx, reply),
        Err(err) => {
            tracing::debug!(method = %parts.method, path = %parts.uri.path(), code = err.code(), "refused: {err}");
            render_error(&ctx, &err)
        }
    }
}

/// Everything after the body is read; synchronous, so no lock can be held across an await.
fn serve(
    shared: &AppState,
    ctx: &RequestCtx,
    method: &Method,
    path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<super::envelope::Reply, GraphError> {
    let segments: Vec<String> = path
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    // segments[0] is the empty string before the leading '/'.
    let version_segment = segments.get(1).map(String::as_str).unwrap_or("");
    let version = ApiVersion::from_segment(version_segment)
        .ok_or_else(|| GraphError::InvalidVersion(version_segment.to_string()))?;
    let target = route::resolve(version, segments.get(2..).unwrap_or(&[]))?;
    let query = query::parse(raw_query);

    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let caller = authenticate(authorization, shared.auth, shared.default_tenant, |t| {
        shared.tenants.contains(t)
    })?;
    let tenant = shared
        .tenants
        .get(&caller.tenant_id)
        .ok_or(GraphError::TokenInvalidIssuer)?;
    let mut call = Call {
        ctx,
        version,
        caller: &caller,
        tenant: Arc::clone(&tenant),
        headers,
        body,
        query,
    };
    dispatch(&mut call, method, target)
}
