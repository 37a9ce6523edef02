//! The control API under `/_emulator/`: health, reset, test tokens, and a canonical state export.
//! It is the emulator's own surface, not Graph's, but answers errors in Graph's envelope so the
//! same client code can read them.

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

const DASHBOARD_HTML: &str = include_str!("dashboard.html");
const OPENAPI_JSON: &str = include_str!("control-openapi.json");

/// `GET /_emulator/`: a read-only page over the control API (tenants, catalogs, packages,
/// requests, assignments, journal, outbox). Its script renders everything as text.
pub(super) async fn dashboard() -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/html; charset=utf-8",
            ),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
            ),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        DASHBOARD_HTML,
    )
        .into_response()
}

/// `GET /_emulator/openapi.json`: the control API described as OpenAPI 3.1.
pub(super) async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
        .into_response()
}

/// `GET /_emulator/health`: ready once the fixtures are loaded (they are before we listen).
pub(super) async fn health(State(shared): State<AppState>) -> Json<Value> {
    let tenants: Vec<Value> = shared
        .tenants
        .all()
        .iter()
        .map(|t| t.read(|s| json!({"id": s.info.id, "displayName": s.info.display_name, "defaultDomain": s.info.default_domain})))
        .collect();
    Json(json!({
        "status": "ready",
        "version": env!("CARGO_PKG_VERSION"),
        "auth": format!("{:?}", shared.auth).to_ascii_lowercase(),
        "defaultTenant": shared.default_tenant,
        "tenants": tenants,
    }))
}

/// `POST /_emulator/reset[?tenant=ID]`: back to the fixtures (all tenants by default).
pub(super) async fn reset(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let now = shared.clock.now();
    let tenant = match tenant_param(query.as_deref()) {
        Ok(t) => t,
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    let targets = match tenant {
        Some(id) => match shared.tenants.get(&id) {
            Some(t) => vec![t],
            None => {
                return control_error(
                    &shared,
                    &headers,
                    StatusCode::NOT_FOUND,
                    format!("no tenant {id}"),
                );
            }
        },
        None => shared.tenants.all(),
    };
    for t in &targets {
        t.reset(now);
    }
    Json(json!({"reset": targets.iter().map(|t| t.id()).collect::<Vec<_>>()})).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenBody {
    #[serde(rename = "as")]
    persona: String,
    #[serde(default)]
    scopes: Option<StringList>,
    #[serde(default)]
    roles: Option<StringList>,
    #[serde(default)]
    tenant: Option<Uuid>,
    #[serde(default)]
    lifetime_seconds: Option<i64>,
}

/// `"a b"` or `["a","b"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringList {
    Text(String),
    List(Vec<String>),
}

impl StringList {
    fn into_vec(self) -> Vec<String> {
        match self {
            StringList::Text(t) => t
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            StringList::List(l) => l,
        }
    }
}

/// `POST /_emulator/tokens {"as": "<UPN or app name>", "scopes"|"roles": …}`: a persona token.
pub(super) async fn mint_token(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: TokenBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return control_error(
                &shared,
                &headers,
                StatusCode::BAD_REQUEST,
                format!("invalid token request: {e}"),
            );
        }
    };
    let Some(tenant) = pick_tenant(&shared, req.tenant) else {
        return control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        );
    };
    let lifetime = req.lifetime_seconds.unwrap_or(DEFAULT_LIFETIME_SECONDS);
    let token_req = TokenRequest {
        persona: req.persona,
        scopes: req.scopes.map(StringList::into_vec),
        roles: req.roles.map(StringList::into_vec),
        lifetime_seconds: Some(lifetime),
        client: None,
    };
    match tenant.read(|s| token::claims_for(s, &token_req)) {
        Ok(claims) => match token::sign_with(&shared.signing_key, &claims) {
            Ok(jwt) => Json(json!({
                "token_type": "Bearer",
                "expires_in": lifetime,
                "access_token": jwt,
                "claims": claims,
            }))
            .into_response(),
            Err(e) => control_error(
                &shared,
                &headers,
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ),
        },
        Err(e) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// `GET /_emulator/state[?tenant=ID]`: the canonical export.
pub(super) async fn state(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match tenant_param(query.as_deref()) {
        Ok(t) => t,
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    match pick_tenant(&shared, tenant) {
        Some(t) => {
            // Reading the tenant settles what is due, as any Graph call would, so the export
            // shows the state the next call will see.
            crate::ops::lifecycle::settle(&t, shared.clock.now());
            Json(t.read(|s| s.export())).into_response()
        }
        None => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
    }
}

/// `GET /_emulator/outbox[?tenant=ID]`: the notifications and custom-extension callouts Graph
/// would have sent, oldest first.
pub(super) async fn outbox(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => {
            // What the last call made due (a delivery, say) is noticed before it is read.
            crate::ops::lifecycle::settle(&t, shared.clock.now());
            Json(t.read(|s| json!({"value": s.outbox}))).into_response()
        }
        Ok(None) => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
        Err(message) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    }
}

/// `GET /_emulator/access[?tenant=ID][&user=ID]`: every resource role delivered access gives
/// (groups, app roles, SharePoint site roles), for one user or all, after due work has run.
pub(super) async fn access(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut user = None;
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        if key == "user" {
            match Uuid::parse_str(&value) {
                Ok(u) => user = Some(u),
                Err(_) => {
                    let message = format!("'{value}' is not a user id");
                    return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
                }
            }
        }
    }
    match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => {
            crate::ops::lifecycle::settle(&t, shared.clock.now());
            let value: Vec<Value> = t.read(|s| {
                crate::ops::lifecycle::held_roles(s, user.as_ref())
                    .into_iter()
                    .map(|h| {
                        json!({"userId": h.assignment.target, "originSystem": h.resource.origin_system.name(),
                               "resourceOriginId": h.resource.origin_id, "resourceDisplayName": h.resource.display_name,
                               "role": h.role.display_name, "roleOriginId": h.role.origin_id,
                               "accessPackageId": h.assignment.access_package_id, "assignmentId": h.assignment.id})
                    })
                    .collect()
            });
            Json(json!({"value": value})).into_response()
        }
        Ok(None) => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
        Err(message) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    }
}

/// `DELETE /_emulator/outbox[?tenant=ID]`: empties it (sequence numbers start again).
pub(super) async fn clear_outbox(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => {
            t.write(|s| s.outbox.clear());
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(None) => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
        Err(message) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DecisionBody {
    /// The approver's user principal name or object id.
    approver: String,
    review_result: String,
    #[serde(default)]
    justification: Option<String>,
}

/// `POST /_emulator/approvals/{requestId}[?tenant=ID] {"approver", "reviewResult", "justification"?}`:
/// decides the request's current stage as that approver would through Graph — same rules (only
/// a resolved approver, once per stage), without minting a token.
pub(super) async fn decide_as(
    State(shared): State<AppState>,
    axum::extract::Path(request_id): axum::extract::Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let bad = |status, message: String| control_error(&shared, &headers, status, message);
    let tenant = match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => t,
        Ok(None) => return bad(StatusCode::NOT_FOUND, "no such tenant".into()),
        Err(message) => return bad(StatusCode::BAD_REQUEST, message),
    };
    let Ok(request_id) = Uuid::parse_str(&request_id) else {
        return bad(
            StatusCode::BAD_REQUEST,
            format!("'{request_id}' is not a request id"),
        );
    };
    let req: DecisionBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad(StatusCode::BAD_REQUEST, format!("invalid decision: {e}")),
    };
    let approve = match req.review_result.to_ascii_lowercase().as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return bad(
                StatusCode::BAD_REQUEST,
                "reviewResult must be Approve or Deny".into(),
            );
        }
    };
    let now = shared.clock.now();
    crate::ops::lifecycle::settle(&tenant, now);
    let result = tenant.write(|s| {
        let user = s
            .directory
            .users
            .iter()
            .find(|u| {
                u.user_principal_name.eq_ignore_ascii_case(&req.approver)
                    || u.id.to_string().eq_ignore_ascii_case(&req.approver)
            })
            .map(|u| (u.id, u.user_principal_name.clone()))
            .ok_or_else(|| {
                (
                    StatusCode::NOT_FOUND,
                    format!("no user '{}' in the tenant", req.approver),
                )
            })?;
        let request = s.requests.get(&request_id).ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("no request {request_id} in the tenant"),
            )
        })?;
        let stage = request
            .stages
            .iter()
            .find(|st| st.status == "InProgress")
            .map(|st| st.id)
            .ok_or_else(|| {
                (
                    StatusCode::CONFLICT,
                    "the request has no stage awaiting a decision".to_string(),
                )
            })?;
        let caller = crate::auth::Caller {
            tenant_id: s.info.id,
            kind: crate::auth::CallerKind::Delegated,
            object_id: Some(user.0),
            app_id: None,
            actor: Some(user.1),
            permissions: vec!["EntitlementManagement.ReadWrite.All".into()],
            directory_roles: Vec::new(),
        };
        let ctx = crate::ops::OpCtx {
            caller: &caller,
            now,
        };
        crate::ops::lifecycle::decide(
            s,
            &ctx,
            &request_id,
            &stage,
            approve,
            req.justification.clone(),
        )
        .map_err(|e| (e.status(), format!("{}: {e}", e.code())))
    });
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err((status, message)) => bad(status, message),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsBody {
    /// What GET returns, so its answer can be edited and sent back; it must name the tenant
    /// the call addresses (`?tenant=`, or the default), never move settings elsewhere.
    #[serde(default)]
    tenant: Option<Uuid>,
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    policy_put_no_content: Option<bool>,
    #[serde(default)]
    admin_approval_bypass: Option<crate::model::lifecycle::AdminApprovalBypass>,
    #[serde(default)]
    package_deletion_guard: Option<crate::model::lifecycle::PackageDeletionGuard>,
    #[serde(default)]
    delivery: Option<crate::model::lifecycle::DeliveryOutcome>,
    /// Replica lag after creates (`"PT2S"`), or `null` to turn it off.
    #[serde(default, deserialize_with = "present")]
    eventual_consistency: Option<Value>,
    /// Replaces the per-package overrides.
    #[serde(default)]
    delivery_by_package:
        Option<std::collections::HashMap<Uuid, crate::model::lifecycle::DeliveryOutcome>>,
}

/// `Some(null)` for an explicit `null`, where a plain `Option<Value>` would read `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn settings_json(t: &Tenant) -> Value {
    t.read(|s| {
        json!({"tenant": s.info.id, "pageSize": s.page_size,
               "policyPutNoContent": s.policy_put_no_content, "delivery": s.delivery,
               "adminApprovalBypass": s.admin_approval_bypass, "packageDeletionGuard": s.package_deletion_guard,
               "eventualConsistency": s.consistency_lag.map(|lag| format!("PT{}S", lag.as_secs_f64())),
               "deliveryByPackage": s.delivery_by_package.iter().collect::<std::collections::BTreeMap<_, _>>()})
    })
}

/// `GET /_emulator/settings[?tenant=ID]`: the tenant's emulator settings.
pub(super) async fn settings(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => Json(settings_json(&t)).into_response(),
        Ok(None) => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
        Err(message) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    }
}

/// `POST /_emulator/settings[?tenant=ID] {"pageSize": N}`: change them until the next reset.
pub(super) async fn update_settings(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let tenant = match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return control_error(
                &shared,
                &headers,
                StatusCode::NOT_FOUND,
                "no such tenant".into(),
            );
        }
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    let req: SettingsBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return control_error(
                &shared,
                &headers,
                StatusCode::BAD_REQUEST,
                format!("invalid settings: {e}"),
            );
        }
    };
    // Checked before anything is applied, so a refused body changes nothing.
    if let Some(named) = req.tenant.filter(|named| *named != tenant.id()) {
        let message = format!(
            "the body names tenant {named}, but the call addresses {}; use ?tenant= to choose",
            tenant.id()
        );
        return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
    }
    let lag = match &req.eventual_consistency {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(text)) => match crate::model::lifecycle::parse_lag(text) {
            Ok(lag) => Some(Some(lag)),
            Err(message) => {
                return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
            }
        },
        Some(other) => {
            let message =
                format!("eventualConsistency must be an ISO 8601 duration or null, got {other}");
            return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
        }
    };
    if let Some(size) = req.page_size {
        if !(1..=crate::odata::MAX_TOP).contains(&size) {
            let message = format!("pageSize must be between 1 and {}", crate::odata::MAX_TOP);
            return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
        }
        tenant.write(|s| s.page_size = size);
    }
    if let Some(flag) = req.policy_put_no_content {
        tenant.write(|s| s.policy_put_no_content = flag);
    }
    if let Some(choice) = req.admin_approval_bypass {
        tenant.write(|s| s.admin_approval_bypass = choice);
    }
    if let Some(choice) = req.package_deletion_guard {
        tenant.write(|s| s.package_deletion_guard = choice);
    }
    if let Some(lag) = lag {
        tenant.write(|s| {
            s.consistency_lag = lag;
            s.lagging.clear();
        });
    }
    if let Some(map) = req.delivery_by_package {
        tenant.write(|s| {
            s.delivery_by_package = map;
            s.work_pending = true;
        });
    }
    if let Some(outcome) = req.delivery {
        // Requests held in `delivering` move on under the new outcome at the next call.
        tenant.write(|s| {
            s.delivery = outcome;
            s.work_pending = true;
        });
    }
    Json(settings_json(&tenant)).into_response()
}

/// `GET /_emulator/clock`: governance time.
pub(super) async fn clock(State(shared): State<AppState>) -> Json<Value> {
    Json(json!({"now": shared.clock.now()}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClockBody {
    /// An ISO 8601 duration (`P30D`, `PT1H`).
    #[serde(default)]
    advance: Option<String>,
    /// An RFC 3339 time, not earlier than now.
    #[serde(default)]
    set: Option<String>,
}

/// `POST /_emulator/clock {"advance": "P30D"} | {"set": "…"}`: move governance time, then run
/// everything that became due (approval timeouts, expirations) in every tenant.
pub(super) async fn move_clock(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: ClockBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return control_error(
                &shared,
                &headers,
                StatusCode::BAD_REQUEST,
                format!("invalid clock request: {e}"),
            );
        }
    };
    let result = match (req.advance, req.set) {
        (Some(iso), None) => match iso8601::duration(&iso) {
            Ok(d) => {
                shared.clock.advance(d.into());
                Ok(())
            }
            Err(_) => Err(format!("'{iso}' is not an ISO 8601 duration")),
        },
        (None, Some(t)) => match crate::clock::Timestamp::parse(&t) {
            Ok(ts) => shared.clock.set(ts),
            Err(_) => Err(format!("'{t}' is not an RFC 3339 time")),
        },
        _ => Err("give exactly one of 'advance' or 'set'".into()),
    };
    if let Err(message) = result {
        return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
    }
    let now = shared.clock.now();
    for tenant in shared.tenants.all() {
        crate::ops::lifecycle::settle(&tenant, now);
        super::callouts::dispatch(&shared, &tenant);
    }
    Json(json!({"now": now})).into_response()
}

/// `GET /_emulator/journal[?method=&path=&status=&tenant=&after=]`: the recorded exchanges that
/// match, oldest first, with their count — "was X called N times" is `count` — and how full
/// the journal is (`usage`: entries and bytes against its caps, and how many were evicted).
pub(super) async fn journal(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut filter = super::journal::Filter::default();
    let mut as_cassette = false;
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        let bad = |what: &str| format!("'{value}' is not {what}");
        match key.as_ref() {
            "format" if value == "cassette" => as_cassette = true,
            "format" => {
                let message = format!("unknown format '{value}': the only other one is 'cassette'");
                return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
            }
            "method" => filter.method = Some(value.into_owned()),
            "path" => filter.path = Some(value.into_owned()),
            "status" => match value.parse() {
                Ok(s) => filter.status = Some(s),
                Err(_) => {
                    let message = bad("a status code");
                    return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
                }
            },
            "tenant" => match Uuid::parse_str(&value) {
                Ok(t) => filter.tenant = Some(t),
                Err(_) => {
                    let message = bad("a tenant id");
                    return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
                }
            },
            "after" => match value.parse() {
                Ok(a) => filter.after = Some(a),
                Err(_) => {
                    let message = bad("a sequence number");
                    return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
                }
            },
            other => {
                let message = format!(
                    "unknown filter '{other}': use method, path, status, tenant, after or format"
                );
                return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
            }
        }
    }
    let (count, value) = shared.journal.query(&filter);
    if as_cassette {
        // A passing run saved as a cassette, to diff or `verify` later. Credentials in bodies
        // and queries go as in a recording; ids, addresses and names stay, so the cassette
        // verifies against the same fixtures.
        let mut redactor =
            crate::cassette::redact::Redactor::new(crate::cassette::redact::PiiOptions {
                emails: false,
                people: false,
                remap_ids: false,
            });
        let cassette = crate::cassette::from_journal(&value, &mut redactor);
        return Json(cassette).into_response();
    }
    Json(json!({"count": count, "value": value, "usage": shared.journal.usage()})).into_response()
}

/// `DELETE /_emulator/journal`: forgets every exchange (sequence numbers keep counting).
pub(super) async fn clear_journal(State(shared): State<AppState>) -> Response {
    shared.journal.clear();
    StatusCode::NO_CONTENT.into_response()
}

fn tenant_json(t: &Tenant) -> Value {
    t.read(|s| {
        json!({"id": s.info.id, "displayName": s.info.display_name,
               "defaultDomain": s.info.default_domain})
    })
}

/// `GET /_emulator/tenants`: every tenant this process serves, by id.
pub(super) async fn list_tenants(State(shared): State<AppState>) -> Response {
    let value: Vec<Value> = shared
        .tenants
        .all()
        .iter()
        .map(|t| tenant_json(t))
        .collect();
    Json(json!({"value": value})).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewTenantBody {
    /// Default: a new id from the tenant id stream (seeded runs repeat it).
    #[serde(default)]
    id: Option<Uuid>,
    /// A fixture directory; default: the fixture the default tenant was started from.
    #[serde(default)]
    fixtures: Option<std::path::PathBuf>,
    /// A tenant whose current state the new one starts from (instead of a fixture).
    #[serde(default)]
    from: Option<Uuid>,
    /// A snapshot (`GET /_emulator/snapshot`) the new tenant starts from; without `id` it keeps
    /// the snapshot's tenant id.
    #[serde(default)]
    snapshot: Option<Value>,
}

/// `POST /_emulator/tenants {"id"?, "fixtures"?}`: a fresh tenant, so parallel tests each get
/// their own state. Tokens for it come from `POST /_emulator/tokens?tenant=ID`; with `--auth
/// off`, the `x-emulator-tenant` header picks it.
pub(super) async fn create_tenant(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: NewTenantBody = if body.is_empty() {
        NewTenantBody {
            id: None,
            fixtures: None,
            from: None,
            snapshot: None,
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                let message = format!("invalid tenant: {e}");
                return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
            }
        }
    };
    let max = shared.limits.max_tenants;
    // Checked before anything is built or an id drawn (ids are part of the seeded output), and
    // again at the insert, which is what concurrent creations race for.
    if shared.tenants.len() >= max {
        return insert_refused(&shared, &headers, InsertRefused::Full(max));
    }
    let tenant = match new_tenant(&shared, req) {
        Ok(tenant) => tenant,
        Err((status, message)) => return control_error(&shared, &headers, status, message),
    };
    match shared.tenants.try_insert_within(tenant, max) {
        Ok(t) => (StatusCode::CREATED, Json(tenant_json(&t))).into_response(),
        Err(refused) => insert_refused(&shared, &headers, refused),
    }
}

fn insert_refused(shared: &AppState, headers: &HeaderMap, refused: InsertRefused) -> Response {
    match refused {
        InsertRefused::Taken => {
            let message = "a tenant with that id exists (give another 'id')".to_string();
            control_error(shared, headers, StatusCode::CONFLICT, message)
        }
        InsertRefused::Full(max) => {
            let message = format!(
                "this emulator already serves {max} tenants, its limit: delete one (DELETE \
                 /_emulator/tenants/{{id}}) or start it with --max-tenants N (or \
                 EMULATOR_MAX_TENANTS)"
            );
            refuse(shared, headers, StatusCode::CONFLICT, "Conflict", message)
        }
    }
}

/// The tenant a creation request describes (not yet served).
fn new_tenant(shared: &AppState, req: NewTenantBody) -> Result<Tenant, (StatusCode, String)> {
    let bad = |message: &str| (StatusCode::BAD_REQUEST, message.to_string());
    let gone = || {
        (
            StatusCode::CONFLICT,
            "the default tenant is gone".to_string(),
        )
    };
    if let Some(snapshot) = req.snapshot {
        if req.fixtures.is_some() || req.from.is_some() {
            return Err(bad("give one of 'snapshot', 'from' or 'fixtures'"));
        }
        let template = pick_tenant(shared, None).ok_or_else(gone)?;
        return Tenant::from_snapshot(&template, snapshot, req.id)
            .map_err(|message| (StatusCode::BAD_REQUEST, message));
    }
    if req.from.is_some() && req.fixtures.is_some() {
        return Err(bad("give either 'from' or 'fixtures', not both"));
    }
    if let Some(source) = req.from {
        let Some(source) = shared.tenants.get(&source) else {
            return Err((StatusCode::NOT_FOUND, format!("no tenant {source} to copy")));
        };
        let id = req.id.unwrap_or_else(|| shared.tenant_ids.next_id());
        return Ok(Tenant::clone_of(&source, id));
    }
    let template = pick_tenant(shared, None).ok_or_else(gone)?;
    // Loaded before the id is drawn, so a refused directory spends none of the id stream.
    let loaded = match &req.fixtures {
        Some(dir) => match crate::fixtures::load_confined(dir) {
            Ok(f) => Some(f),
            Err(crate::fixtures::ConfinedError::NotAFixtureDirectory) => {
                let message = format!("fixtures: {}", crate::fixtures::NOT_A_FIXTURE_DIRECTORY);
                return Err((StatusCode::BAD_REQUEST, message));
            }
            Err(crate::fixtures::ConfinedError::Invalid(e)) => {
                return Err((StatusCode::BAD_REQUEST, format!("fixtures: {e}")));
            }
        },
        None => None,
    };
    let id = req.id.unwrap_or_else(|| shared.tenant_ids.next_id());
    let seed = match loaded {
        Some(fixture) => crate::store::Seed::renamed(&fixture, id),
        None => template.seed().renamed(id),
    };
    Ok(Tenant::new(seed, template.id_source(), shared.clock.now()))
}

/// `GET /_emulator/snapshot[?tenant=ID]`: the tenant's whole state, canonical and complete
/// (in-flight requests, approvals, outbox, settings, id stream), for `PUT` here or
/// `POST /_emulator/tenants {"snapshot"}`.
pub(super) async fn snapshot(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match tenant_param(query.as_deref()) {
        Ok(t) => t,
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    let Some(tenant) = pick_tenant(&shared, tenant) else {
        return control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        );
    };
    // As for the export: what is due happens first, so the snapshot is what the next call sees.
    crate::ops::lifecycle::settle(&tenant, shared.clock.now());
    match tenant.read(|s| s.snapshot()) {
        Ok(value) => Json(value).into_response(),
        Err(message) => control_error(
            &shared,
            &headers,
            StatusCode::INTERNAL_SERVER_ERROR,
            message,
        ),
    }
}

/// `PUT /_emulator/snapshot[?tenant=ID]`: the tenant takes the snapshot's state (keeping its
/// own id); its resets return to the snapshot. Nothing changes when the snapshot is refused.
pub(super) async fn restore_snapshot(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let tenant = match tenant_param(query.as_deref()) {
        Ok(t) => t,
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    let Some(tenant) = pick_tenant(&shared, tenant) else {
        return control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        );
    };
    let snapshot: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let message = format!("invalid snapshot: {e}");
            return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
        }
    };
    match Tenant::from_snapshot(&tenant, snapshot, Some(tenant.id())) {
        Ok(restored) => Json(tenant_json(&shared.tenants.replace(restored))).into_response(),
        Err(message) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    }
}

/// `DELETE /_emulator/tenants/{id}`: gone with its state; the default tenant stays.
pub(super) async fn delete_tenant(
    State(shared): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(tenant_id): axum::extract::Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&tenant_id) else {
        let message = format!("'{tenant_id}' is not a tenant id");
        return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
    };
    if id == shared.default_tenant {
        let message = "the default tenant cannot be deleted (reset it instead)".to_string();
        return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
    }
    match shared.tenants.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
    }
}

/// `GET /_emulator/faults`: the rules, with how often each matched and fired.
pub(super) async fn list_faults(State(shared): State<AppState>) -> Response {
    Json(json!({"value": shared.faults.list()})).into_response()
}

/// `POST /_emulator/faults {"method"?, "path"?, "tenant"?, "schedule": {"next": N} |
/// {"everyNth": N} | {"calls": [k, m]}, "effect"?: {"status", "code"?, "message"?,
/// "retryAfter"?, "latencyMs"?}}`: 201 with the rule and its id.
pub(super) async fn add_fault(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rule: super::faults::NewRule = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let message = format!("invalid fault rule: {e}");
            return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
        }
    };
    match shared.faults.add(rule) {
        Ok(shown) => (StatusCode::CREATED, Json(shown)).into_response(),
        Err(full @ super::faults::RuleRefused::Full(_)) => refuse(
            &shared,
            &headers,
            StatusCode::CONFLICT,
            "Conflict",
            full.to_string(),
        ),
        Err(super::faults::RuleRefused::Invalid(message)) => {
            control_error(&shared, &headers, StatusCode::BAD_REQUEST, message)
        }
    }
}

/// `DELETE /_emulator/faults`: no more injected faults.
pub(super) async fn clear_faults(State(shared): State<AppState>) -> Response {
    shared.faults.remove(None);
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /_emulator/faults/{id}`.
pub(super) async fn delete_fault(
    State(shared): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(fault_id): axum::extract::Path<String>,
) -> Response {
    match fault_id.parse::<u64>() {
        Ok(id) if shared.faults.remove(Some(id)) => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such fault rule".into(),
        ),
        Err(_) => {
            let message = format!("'{fault_id}' is not a fault rule id");
            control_error(&shared, &headers, StatusCode::BAD_REQUEST, message)
        }
    }
}

/// `GET /_emulator/least-privilege[?tenant=ID]`: for the calls in the journal that went
/// through, the smallest Graph permission and entitlement-management roles that would have
/// sufficed, computed offline from the operation table.
pub(super) async fn least_privilege(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match tenant_param(query.as_deref()) {
        Ok(t) => t,
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    let (calls, required) = shared.journal.requirements(tenant);
    let mut report = crate::authz::least_privilege(&required);
    report["calls"] = json!(calls);
    Json(report).into_response()
}
