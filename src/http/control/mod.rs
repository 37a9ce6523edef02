//! The control API under `/_emulator/`: health, reset, test tokens, and a canonical state export.
//! It is the emulator's own surface, not Graph's, but answers errors in Graph's envelope so the
//! same client code can read them. One file per sub-API; this one holds the guards and the
//! helpers they share.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use super::envelope::{RequestCtx, error_body};
use crate::auth::token::{self, DEFAULT_LIFETIME_SECONDS, TokenRequest};
use crate::error::GraphError;
use crate::store::{InsertRefused, Tenant};

mod approvals;
mod clock;
mod faults;
mod journal;
mod outbox;
mod pages;
mod settings;
mod snapshot;
mod tenants;
mod tokens;

pub(super) use approvals::*;
pub(super) use clock::*;
pub(super) use faults::*;
pub(super) use journal::*;
pub(super) use outbox::*;
pub(super) use pages::*;
pub(super) use settings::*;
pub(super) use snapshot::*;
pub(super) use tenants::*;
pub(super) use tokens::*;

/// The optional `?tenant=ID` of control calls; a malformed one is a 400 in Graph's envelope.
fn tenant_param(raw: Option<&str>) -> Result<Option<Uuid>, String> {
    let Some(raw) = raw else { return Ok(None) };
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if key == "tenant" {
            return Uuid::parse_str(&value)
                .map(Some)
                .map_err(|_| format!("'{value}' is not a tenant id"));
        }
    }
    Ok(None)
}

fn control_error(
    shared: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    message: String,
) -> Response {
    refuse(shared, headers, status, "BadRequest", message)
}

/// A control-API error in Graph's envelope with its own `code`.
fn refuse(
    shared: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    code: &str,
    message: String,
) -> Response {
    let ctx = RequestCtx::new(
        headers,
        &shared.hosts,
        shared.request_ids.next_id(),
        shared.clock.now(),
    );
    let mut body = error_body(&ctx, &GraphError::invalid_model(String::new()));
    body["error"]["code"] = json!(code);
    body["error"]["message"] = json!(message);
    (status, Json(body)).into_response()
}

/// Without an admin token, nothing but the `Host` tells a DNS-rebinding page's request from the
/// user's own, so it must name this emulator (see `hosts`); with one, the token is what such a
/// page cannot have.
fn rebinding_refusal(shared: &AppState, request: &axum::extract::Request) -> Option<Response> {
    if shared.admin_token.is_some() {
        return None;
    }
    let refused = shared.hosts.check(request.headers(), request.uri()).err()?;
    let message = shared.hosts.refusal(
        refused.as_deref(),
        "without --admin-token, the control API and its console",
        ", or set --admin-token",
    );
    Some(refuse(
        shared,
        request.headers(),
        StatusCode::FORBIDDEN,
        "Forbidden",
        message,
    ))
}

/// Runs before the console page and the API description: the same `Host` rule as the API.
pub(super) async fn console_guard(
    State(shared): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match rebinding_refusal(&shared, &request) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

fn over_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// Whether a control call carries a snapshot (a body that can be large and is built into a
/// whole tenant).
fn carries_snapshot(request: &axum::extract::Request) -> bool {
    let path = request.uri().path().trim_end_matches('/');
    (request.method() == axum::http::Method::PUT && path == "/_emulator/snapshot")
        || (request.method() == axum::http::Method::POST && path == "/_emulator/tenants")
}

/// Control bodies up to this size (a token request, a fault rule, settings) are read without
/// waiting for the restore gate.
const UNGATED_BODY: u64 = 1024 * 1024;

/// Reads a control call's body within `--control-body-limit-mib`, refusing a larger one with a
/// 413 that names the flag; snapshot-bearing calls (and any large body) are read and answered
/// one at a time, so a few concurrent large restores cannot each hold their body and its
/// parsed tree at once.
pub(super) async fn read_body(
    State(shared): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let limit = shared.limits.control_body_limit;
    let too_large = |headers: &HeaderMap| {
        let message = format!(
            "the control-API body is larger than its limit of {} MiB ({limit} bytes); start \
             the emulator with --control-body-limit-mib N (or EMULATOR_CONTROL_BODY_LIMIT_MIB) \
             to raise it",
            limit / (1024 * 1024)
        );
        refuse(
            &shared,
            headers,
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            message,
        )
    };
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(request.headers());
    }
    // Snapshots, and any other body that is large or of unknown length, go one at a time:
    // the permit, held until the answer is built, bounds the memory and not just the read.
    // (The gate is never closed, so acquiring cannot fail.)
    let small = http_body::Body::size_hint(request.body())
        .upper()
        .is_some_and(|n| n <= UNGATED_BODY);
    let _permit = if carries_snapshot(&request) || !small {
        shared.restore_gate.acquire().await.ok()
    } else {
        None
    };
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(e) if over_limit(&e) => return too_large(&parts.headers),
        Err(e) => {
            let message = format!("the request body could not be read: {e}");
            return control_error(&shared, &parts.headers, StatusCode::BAD_REQUEST, message);
        }
    };
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

fn pick_tenant(shared: &AppState, id: Option<Uuid>) -> Option<std::sync::Arc<Tenant>> {
    shared.tenants.get(&id.unwrap_or(shared.default_tenant))
}

/// Runs before every control call: without an admin token, refuses a `Host` that does not name
/// this emulator (DNS rebinding); refuses browser requests from another origin (a page the user
/// visits could otherwise `POST /_emulator/reset` without any CORS preflight); then, when an
/// admin token is configured, requires it.
pub(super) async fn guard(
    State(shared): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(refused) = rebinding_refusal(&shared, &request) {
        return refused;
    }
    let headers = request.headers();
    if let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) {
        let host = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let same_origin = origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host));
        if !same_origin {
            return control_error(
                &shared,
                headers,
                StatusCode::FORBIDDEN,
                format!("cross-origin calls to the control API are refused (Origin: {origin})"),
            );
        }
    }
    if let Some(expected) = &shared.admin_token {
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        let given = headers
            .get("x-emulator-admin-token")
            .and_then(|v| v.to_str().ok())
            .or(bearer);
        let ok = given.is_some_and(|g| {
            g.len() == expected.len()
                && g.bytes()
                    .zip(expected.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if !ok {
            let mut resp = control_error(
                &shared,
                headers,
                StatusCode::UNAUTHORIZED,
                "the control API needs the admin token (x-emulator-admin-token or Authorization: Bearer)".into(),
            );
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    "Bearer realm=\"entitlement-emulator control API\"",
                ),
            );
            return resp;
        }
    }
    next.run(request).await
}
