//! The Graph entry point: one request in, Graph's envelope out. Order follows Graph: routing
//! fails first (400, before auth), then authentication (401); only then is the body read and the
//! operation run. Nothing here holds a lock across an `.await`: the only await is the body read,
//! and the operation after it is synchronous.

use std::sync::Arc;

use uuid::Uuid;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Request};
use axum::response::Response;
use percent_encoding::percent_decode_str;

use super::envelope::{Answer, Reply, RequestCtx, error_answer, reply_answer};
use super::handlers::{Call, dispatch};
use super::journal::{CallerSummary, Entry, Head};
use super::route::Target;
use super::{AppState, Shared, route};
use crate::auth::{Caller, authenticate};
use crate::error::GraphError;
use crate::model::ApiVersion;
use crate::store::Tenant;

pub(super) async fn handle(State(shared): State<AppState>, request: Request<Body>) -> Response {
    if let Some(version) = super::batch::batch_version(request.uri().path()) {
        return super::batch::handle(&shared, version, request).await;
    }
    handle_one(&shared, request).await
}

/// One Graph request sent on its own.
async fn handle_one(shared: &AppState, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let (ctx, answer) = answer_one(shared, parts, Incoming::Stream(body), None).await;
    answer.into_response(&ctx)
}

/// A request's body: still arriving (a direct request), or already in memory (a `$batch`
/// item's, taken from the envelope).
pub(super) enum Incoming {
    Stream(Body),
    Ready(Bytes),
}

/// The caller a `$batch`'s own `Authorization` named, found by its first item that sends it
/// and reused by the others: the items of one batch run within the same moment, so checking the
/// same token twenty times would give the same caller twenty times (~4 % of a batch).
pub(super) struct BatchCaller {
    authorization: Option<HeaderValue>,
    caller: std::sync::OnceLock<Arc<Caller>>,
}

impl BatchCaller {
    pub(super) fn new(authorization: Option<&HeaderValue>) -> Self {
        BatchCaller {
            authorization: authorization.cloned(),
            caller: std::sync::OnceLock::new(),
        }
    }

    /// Whether an item sends the batch's own credential (inherited, or repeated verbatim).
    fn is_batch_credential(&self, authorization: Option<&HeaderValue>) -> bool {
        matches!((&self.authorization, authorization), (Some(mine), Some(theirs)) if mine == theirs)
    }
}

/// One Graph call, direct or a `$batch` item (`batch` is `Some`, and the journal marks it),
/// from its head and body to its answer, journaled. The caller sends the answer as a response
/// or writes it into a batch envelope; the context carries the request id both use.
pub(super) async fn answer_one(
    shared: &AppState,
    parts: Parts,
    body: Incoming,
    batch: Option<&BatchCaller>,
) -> (RequestCtx, Answer) {
    let in_batch = batch.is_some();
    let started = std::time::Instant::now();
    let ctx = RequestCtx::new(
        &parts.headers,
        &shared.hosts,
        shared.request_ids.next_id(),
        shared.clock.now(),
    );
    let mut who = None;
    let mut sent = Bytes::new();
    let mut fired = Vec::new();
    let mut required = Vec::new();
    let soft = shared.auth == crate::auth::AuthMode::Soft;
    crate::authz::start_decisions(false);
    let resolved = resolve(shared, &parts, batch);
    let mut decisions = crate::authz::take_decisions();
    let answer = match resolved {
        Ok(resolved) => {
            let tenant = resolved.tenant.id();
            who = Some((tenant, CallerSummary::of(&resolved.caller)));
            // Injected faults apply to authenticated calls, as Graph's throttling does.
            // Naming the operation formats the target, so only when a rule could use it.
            let decision = if shared.faults.is_empty() {
                super::faults::Decision::default()
            } else {
                shared.faults.decide_at(
                    parts.method.as_str(),
                    parts.uri.path(),
                    &resolved.target.kind(),
                    Some(tenant),
                    resolved.caller.object_id,
                    ctx.now,
                )
            };
            fired = decision.fired;
            if decision.latency_ms > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(decision.latency_ms)).await;
            }
            match (
                read_body(shared, &parts.headers, body).await,
                decision.error,
            ) {
                (Ok(bytes), Some(effect)) => {
                    sent = bytes;
                    let scope = resolved
                        .caller
                        .app_id
                        .map(|app| format!("Tenant_Application/ReadWrite/{app}/{tenant}"));
                    super::faults::answer(&ctx, &effect, scope.as_deref())
                }
                (Ok(bytes), None) => {
                    crate::authz::start_decisions(soft);
                    let reply = run(shared, &ctx, &parts, resolved, &bytes);
                    decisions.extend(crate::authz::take_decisions());
                    required = crate::authz::take_requirements();
                    sent = bytes;
                    answer(&ctx, &parts, reply)
                }
                (Err(e), _) => answer(&ctx, &parts, Err(e)),
            }
        }
        Err(e) => {
            // Drain the unread body so the keep-alive connection stays usable for the
            // client's next request (an unread body makes hyper close it silently).
            if let Ok(bytes) = read_body(shared, &parts.headers, body).await {
                sent = bytes;
            }
            answer(&ctx, &parts, Err(e))
        }
    };
    if shared.journal.enabled() {
        shared.journal.record(Entry {
            sequence: 0,
            time: ctx.now,
            tenant: who.as_ref().map(|(t, _)| *t),
            head: Head::new(&parts.method, &parts.uri, &parts.headers),
            caller: who.map(|(_, c)| c),
            request_body: sent,
            status: answer.status.as_u16(),
            // Every answer, faults' included, carries the context's request id.
            request_id: Some(ctx.request_id),
            // A reference count, not a copy; a dropped connection sent no body.
            response_body: if answer.dropped {
                Bytes::new()
            } else {
                answer.body.clone()
            },
            micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            in_batch,
            faults: fired,
            decisions,
            required,
        });
    }
    (ctx, answer)
}

fn answer(ctx: &RequestCtx, parts: &Parts, result: Result<Reply, GraphError>) -> Answer {
    match result {
        Ok(reply) => reply_answer(reply),
        Err(err) => {
            tracing::debug!(method = %parts.method, path = %parts.uri.path(), code = err.code(), "refused: {err}");
            error_answer(ctx, &err)
        }
    }
}

/// A routed, authenticated request waiting for its body.
struct Resolved {
    version: ApiVersion,
    target: Target,
    caller: Arc<Caller>,
    tenant: Arc<Tenant>,
}

fn resolve(
    shared: &AppState,
    parts: &Parts,
    batch: Option<&BatchCaller>,
) -> Result<Resolved, GraphError> {
    // Borrowed unless a segment has escapes: most paths decode without an allocation, and a
    // segment without `%` skips the decoder's UTF-8 re-check of what is already a `str`.
    // Room for every path Graph routes here, so the list never regrows.
    let mut segments: Vec<std::borrow::Cow<'_, str>> = Vec::with_capacity(12);
    segments.extend(parts.uri.path().split('/').map(|s| {
        if s.contains('%') {
            percent_decode_str(s).decode_utf8_lossy()
        } else {
            std::borrow::Cow::Borrowed(s)
        }
    }));
    // segments[0] is the empty string before the leading '/'.
    let version_segment = segments.get(1).map_or("", |s| s.as_ref());
    let version = ApiVersion::from_segment(version_segment)
        .ok_or_else(|| GraphError::InvalidVersion(version_segment.to_string()))?;
    let target = route::resolve(version, segments.get(2..).unwrap_or(&[]))?;
    let authorization_header = parts.headers.get(axum::http::header::AUTHORIZATION);
    let authorization = authorization_header.and_then(|v| v.to_str().ok());
    // With auth off there is no token to name the tenant: a header does (issue 9).
    static TENANT_HEADER: axum::http::HeaderName =
        axum::http::HeaderName::from_static("x-emulator-tenant");
    let default_tenant = match parts.headers.get(&TENANT_HEADER) {
        Some(v) if shared.auth == crate::auth::AuthMode::Off => v
            .to_str()
            .ok()
            .and_then(|t| Uuid::parse_str(t.trim()).ok())
            .filter(|t| shared.tenants.contains(t))
            .ok_or_else(|| {
                GraphError::invalid_model("x-emulator-tenant names no tenant of this emulator")
            })?,
        _ => shared.default_tenant,
    };
    // Only an accepted credential is remembered: a refused one is refused (and, under
    // `--auth soft`, noted) item by item, as before. With auth off the caller comes from each
    // item's tenant header instead, so nothing is shared.
    let memo = batch.filter(|b| {
        shared.auth != crate::auth::AuthMode::Off && b.is_batch_credential(authorization_header)
    });
    let known = memo.and_then(|b| b.caller.get().cloned());
    let authenticated = match known {
        Some(caller) => Ok(caller),
        None => authenticate(
            authorization,
            shared.auth,
            default_tenant,
            |t| shared.tenants.contains(t),
            &shared.tokens,
            &shared.signing_key,
        )
        .inspect(|caller| {
            if let Some(b) = memo {
                let _ = b.caller.set(caller.clone());
            }
        }),
    };
    let caller = match authenticated {
        Ok(caller) => caller,
        Err(e) => {
            let soft = shared.auth == crate::auth::AuthMode::Soft;
            crate::authz::note(serde_json::json!({
                "decision": if soft { "waived" } else { "refused" },
                "rule": format!("the token was refused: {}: {e}", e.code()),
            }));
            if !soft {
                return Err(e);
            }
            // Soft: the call goes on as the tenant's administrator app, as with auth off.
            Arc::new(Caller::unauthenticated(default_tenant))
        }
    };
    let tenant = shared
        .tenants
        .get(&caller.tenant_id)
        .ok_or(GraphError::TokenInvalidIssuer)?;
    Ok(Resolved {
        version,
        target,
        caller,
        tenant,
    })
}

async fn read_body(
    shared: &AppState,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<Bytes, GraphError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > shared.body_limit as u64) {
        return Err(GraphError::PayloadTooLarge(shared.body_limit));
    }
    let body = match body {
        Incoming::Stream(body) => body,
        // A batch item's body came within the batch's own limit.
        Incoming::Ready(bytes) => return Ok(bytes),
    };
    match to_bytes(body, shared.body_limit).await {
        Ok(bytes) => Ok(bytes),
        // Without a Content-Length (chunked), the limit is only found while reading.
        Err(e) if e.to_string().contains("length limit") => {
            Err(GraphError::PayloadTooLarge(shared.body_limit))
        }
        Err(e) => Err(GraphError::invalid_model(format!(
            "the request body could not be read: {e}"
        ))),
    }
}

fn run(
    shared: &Shared,
    ctx: &RequestCtx,
    parts: &Parts,
    resolved: Resolved,
    body: &[u8],
) -> Result<Reply, GraphError> {
    let Resolved {
        version,
        target,
        caller,
        tenant,
    } = resolved;
    // Work the clock made due (deliveries, deadlines, expirations) happens before the call
    // observes the tenant, so a read right after a request sees it processed (the create
    // answers `submitted`;
    // https://learn.microsoft.com/graph/api/entitlementmanagement-post-assignmentrequests?view=graph-rest-1.0).
    crate::ops::lifecycle::settle(&tenant, ctx.now);
    let callout_tenant = tenant.clone();
    let mut call = Call {
        ctx,
        version,
        caller: &caller,
        tenant,
        headers: &parts.headers,
        body,
        path: parts.uri.path(),
        raw_query: parts.uri.query(),
        query: Default::default(),
    };
    let lagging = callout_tenant.read(|s| s.consistency_lag.is_some());
    if !lagging {
        let reply = dispatch(&mut call, &parts.method, target);
        super::callouts::dispatch(shared, &callout_tenant);
        return reply;
    }
    // Eventual consistency (issue 9): objects created within the lag are not yet on the
    // replica that serves reads.
    let hidden: Vec<String> = callout_tenant.write(|s| {
        s.lagging.retain(|_, visible_at| *visible_at > ctx.now);
        s.lagging.keys().map(Uuid::to_string).collect()
    });
    let is_read = parts.method == axum::http::Method::GET;
    if is_read {
        let path = parts.uri.path().to_ascii_lowercase();
        if let Some(id) = hidden.iter().find(|id| path.contains(id.as_str())) {
            crate::authz::note(serde_json::json!({
                "decision": "refused",
                "rule": format!("eventual consistency: {id} was created less than the tenant's lag ago and is not on the read replica yet"),
            }));
            return Err(GraphError::ResourceNotFound);
        }
    }
    let mut reply = dispatch(&mut call, &parts.method, target);
    super::callouts::dispatch(shared, &callout_tenant);
    match &mut reply {
        Ok(Reply::Collection { items, .. }) if is_read && !hidden.is_empty() => {
            use crate::odata::page::PageItems;
            match items {
                PageItems::Values(values) => values.retain(|v| {
                    v.get("id")
                        .and_then(serde_json::Value::as_str)
                        .is_none_or(|id| !hidden.iter().any(|h| h.eq_ignore_ascii_case(id)))
                }),
                PageItems::Raw(raw) => raw.retain(|item| {
                    !hidden
                        .iter()
                        .any(|h| item.contains(&format!("\"id\":\"{h}\"")))
                }),
            }
        }
        Ok(Reply::Entity { status, body, .. }) if *status == axum::http::StatusCode::CREATED => {
            if let Some(id) = body
                .get("id")
                .and_then(serde_json::Value::as_str)
                .and_then(|id| Uuid::parse_str(id).ok())
            {
                callout_tenant.write(|s| {
                    if let Some(lag) = s.consistency_lag {
                        s.lagging.insert(id, ctx.now.plus(lag));
                    }
                });
            }
        }
        _ => {}
    }
    reply
}
