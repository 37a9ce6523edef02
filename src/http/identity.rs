//! The identity-platform endpoints
//! (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc;
//! docs/CLIENTS.md says which clients need them): instance
//! discovery, OpenID configuration, JWKS, the v2 token and authorize endpoints per tenant, and
//! Terraform's `/metadata/endpoints`. Thin: forms in, `auth::sts` decides, Entra's shapes out.
//!
//! These exchanges are not journaled: their bodies are credentials and tokens, which recorded
//! traffic must never keep.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::Value;

use super::AppState;
use super::envelope::RequestCtx;
use crate::auth::sts::{self, AuthorizeOutcome, Context, Endpoint, StsError};
use crate::clock::wall_clock_now;
use crate::store::Tenant;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/common/discovery/instance", get(instance_discovery))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/{tenant}/discovery/keys", get(keys))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/metadata/endpoints", get(metadata_endpoints))
        .route("/common/userrealm/{username}", get(user_realm))
}

fn request_ctx(shared: &AppState, headers: &HeaderMap) -> RequestCtx {
    RequestCtx::new(
        headers,
        &shared.hosts,
        shared.request_ids.next_id(),
        shared.clock.now(),
    )
}

/// `common` and `organizations` sign in to the default tenant [inf: Entra picks the user's
/// home tenant]; otherwise the segment is a tenant id or its default domain.
fn resolve_tenant(shared: &AppState, segment: &str) -> Result<Arc<Tenant>, StsError> {
    if segment.eq_ignore_ascii_case("common") || segment.eq_ignore_ascii_case("organizations") {
        return shared
            .tenants
            .get(&shared.default_tenant)
            .ok_or_else(|| StsError::unknown_tenant(segment));
    }
    if let Ok(id) = uuid::Uuid::parse_str(segment) {
        return shared
            .tenants
            .get(&id)
            .ok_or_else(|| StsError::unknown_tenant(segment));
    }
    shared
        .tenants
        .all()
        .into_iter()
        .find(|t| t.read(|s| s.info.default_domain.eq_ignore_ascii_case(segment)))
        .ok_or_else(|| StsError::unknown_tenant(segment))
}

fn json(status: StatusCode, body: &Value, cache: &'static str) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// Token-endpoint answers (and every error) must never be cached, as Entra marks them.
fn uncached(status: StatusCode, body: &Value) -> Response {
    let mut resp = json(status, body, "no-store, no-cache");
    resp.headers_mut()
        .insert(PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

fn sts_error(shared: &AppState, headers: &HeaderMap, e: &StsError) -> Response {
    let ctx = request_ctx(shared, headers);
    let correlation = headers
        .get("client-request-id")
        .or_else(|| headers.get("x-ms-client-request-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| shared.request_ids.next_id().to_string());
    let timestamp = wall_clock_now()
        .format(&time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default();
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    uncached(status, &e.body(ctx.request_id, &correlation, &timestamp))
}

fn endpoint(shared: &AppState, headers: &HeaderMap, tenant_segment: &str) -> Endpoint {
    Endpoint {
        base_url: request_ctx(shared, headers).base_url,
        tenant_segment: tenant_segment.to_string(),
    }
}

fn query_map(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

async fn instance_discovery(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = query_map(query.as_deref());
    let base = request_ctx(&shared, &headers).base_url;
    json(
        StatusCode::OK,
        &sts::instance_discovery(
            &base,
            params.get("authorization_endpoint").map(String::as_str),
        ),
        "max-age=86400, private",
    )
}

async fn openid_configuration(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path(segment): Path<String>,
) -> Response {
    match resolve_tenant(&shared, &segment) {
        Ok(tenant) => {
            let endpoint = endpoint(&shared, &headers, &segment);
            let mut resp = json(
                StatusCode::OK,
                &sts::openid_configuration(&endpoint, tenant.id()),
                "max-age=86400, private",
            );
            resp.headers_mut()
                .insert("access-control-allow-origin", HeaderValue::from_static("*"));
            resp
        }
        Err(e) => sts_error(&shared, &headers, &e),
    }
}

async fn keys(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path(segment): Path<String>,
) -> Response {
    match resolve_tenant(&shared, &segment) {
        Ok(tenant) => {
            let endpoint = endpoint(&shared, &headers, &segment);
            json(
                StatusCode::OK,
                &shared.signing_key.jwks(&endpoint.issuer(tenant.id())),
                "max-age=86400, private",
            )
        }
        Err(e) => sts_error(&shared, &headers, &e),
    }
}

async fn user_realm(State(shared): State<AppState>, Path(username): Path<String>) -> Response {
    let domain = username.rsplit_once('@').map_or("", |(_, d)| d).to_string();
    let tenant = resolve_tenant(&shared, &domain).ok();
    let body = match &tenant {
        Some(t) => t.read(|s| sts::user_realm(Some(s), &username)),
        None => sts::user_realm(None, &username),
    };
    json(StatusCode::OK, &body, "no-store, no-cache")
}

async fn metadata_endpoints(State(shared): State<AppState>, headers: HeaderMap) -> Response {
    let base = request_ctx(&shared, &headers).base_url;
    json(
        StatusCode::OK,
        &sts::metadata_endpoints(&base),
        "max-age=86400, private",
    )
}

/// `client_secret_basic`: `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// Codes already exchanged, with their expiry, so each is redeemed once. Bounded: expired
/// entries go first; past the cap the oldest knowledge is dropped.
pub(super) fn first_redemption(shared: &AppState, code_id: &str, now: i64) -> bool {
    const CAP: usize = 10_000;
    let redeemed = &shared.redeemed_codes;
    if redeemed.len() >= CAP {
        redeemed.retain(|_, exp| *exp > now);
        if redeemed.len() >= CAP {
            redeemed.clear();
        }
    }
    redeemed.insert(code_id.to_string(), now + 600).is_none()
}

async fn token(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path(segment): Path<String>,
    body: Body,
) -> Response {
    let tenant = match resolve_tenant(&shared, &segment) {
        Ok(t) => t,
        Err(e) => return sts_error(&shared, &headers, &e),
    };
    let Ok(bytes) = to_bytes(body, shared.body_limit).await else {
        return sts_error(
            &shared,
            &headers,
            &StsError {
                status: 413,
                error: "invalid_request",
                code: 90000,
                message: "The request body is too large.".into(),
            },
        );
    };
    let form: HashMap<String, String> = form_urlencoded::parse(&bytes).into_owned().collect();
    let endpoint = endpoint(&shared, &headers, &segment);
    let now = wall_clock_now().unix_timestamp();
    let redeem = |code: &str| first_redemption(&shared, code, now);
    let ctx = Context {
        endpoint: &endpoint,
        key: &shared.signing_key,
        now,
        first_redemption: &redeem,
        basic: basic_credentials(&headers),
    };
    match tenant.read(|s| sts::token(s, &form, &ctx)) {
        Ok(body) => uncached(StatusCode::OK, &body),
        Err(e) => sts_error(&shared, &headers, &e),
    }
}

/// `/authorize` signs in the `login_hint` user without a password, so a page whose name was
/// rebound to this address could take a code for anyone: it answers only an admitted `Host`
/// (`hosts`), with or without an admin token (a browser's redirect cannot carry one).
async fn authorize(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    uri: axum::http::Uri,
) -> Response {
    if let Err(refused) = shared.hosts.check(&headers, &uri) {
        let message = shared
            .hosts
            .refusal(refused.as_deref(), "the sign-in endpoints", "");
        // [inf] Entra has no such refusal; its generic invalid_request code, with a 403.
        let e = StsError {
            status: 403,
            error: "invalid_request",
            code: 90000,
            message,
        };
        return sts_error(&shared, &headers, &e);
    }
    let tenant = match resolve_tenant(&shared, &segment) {
        Ok(t) => t,
        Err(e) => return sts_error(&shared, &headers, &e),
    };
    let params = query_map(query.as_deref());
    let endpoint = endpoint(&shared, &headers, &segment);
    let never = |_: &str| false;
    let ctx = Context {
        endpoint: &endpoint,
        key: &shared.signing_key,
        now: wall_clock_now().unix_timestamp(),
        first_redemption: &never,
        basic: None,
    };
    let code_id = shared.request_ids.next_id();
    match tenant.read(|s| sts::authorize(s, &params, &ctx, code_id)) {
        AuthorizeOutcome::Redirect(location) => match HeaderValue::from_str(&location) {
            Ok(location) => {
                let mut resp = StatusCode::FOUND.into_response();
                resp.headers_mut().insert(LOCATION, location);
                resp.headers_mut().insert(
                    CACHE_CONTROL,
                    HeaderValue::from_static("no-store, no-cache"),
                );
                resp
            }
            // `url` percent-encodes what a header cannot hold, so this is a safety net only.
            Err(_) => sts_error(
                &shared,
                &headers,
                &StsError {
                    status: 400,
                    error: "invalid_request",
                    code: 50011,
                    message: "The redirect URI is not valid.".into(),
                },
            ),
        },
        AuthorizeOutcome::Page(e) => sts_error(&shared, &headers, &e),
    }
}
