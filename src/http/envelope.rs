//! Graph's response envelope: request ids, headers, `@odata.context`, and the error body
//! (https://learn.microsoft.com/graph/errors; the headers as captured in
//! microsoftgraph/msgraph-sdk-powershell#2373 and #2505; docs/PARITY.md, "envelope").

use axum::body::{Body, Bytes};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, DATE, HeaderName, HeaderValue, LOCATION, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::error::GraphError;
use crate::model::ApiVersion;

pub const ODATA_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
const AGS_DIAGNOSTIC: &str = r#"{"ServerInfo":{"DataCenter":"Emulator","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"entitlement-emulator"}}"#;
const WWW_AUTHENTICATE_VALUE: &str = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000""#;
static REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
static CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");
static AGS: HeaderName = HeaderName::from_static("x-ms-ags-diagnostic");
static ODATA_VERSION: HeaderName = HeaderName::from_static("odata-version");
static HSTS: HeaderName = HeaderName::from_static("strict-transport-security");
static DETAIL: HeaderName = HeaderName::from_static("x-emulator-detail");
static FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Per-request facts the envelope needs, fixed when the request arrives.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub request_id: Uuid,
    pub client_request_id: String,
    pub now: Timestamp,
    /// `scheme://host[:port]` the emulator names itself by (`@odata.context`, `Location`, the
    /// identity documents): the `Host` the client called when it is admitted (`hosts`), else
    /// the listener's own address, so a foreign `Host` is never echoed as the emulator's.
    pub base_url: String,
    /// `scheme://host[:port]` as called, when that differs from `base_url`: links the client
    /// follows (`@odata.nextLink`) keep the host it reached the emulator by.
    called_base: Option<String>,
}

impl RequestCtx {
    pub fn new(
        headers: &HeaderMap,
        hosts: &super::hosts::HostPolicy,
        request_id: Uuid,
        now: Timestamp,
    ) -> Self {
        let client_request_id = headers
            .get(&CLIENT_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map_or_else(
                || {
                    request_id
                        .hyphenated()
                        .encode_lower(&mut Uuid::encode_buffer())
                        .to_owned()
                },
                str::to_string,
            );
        let called = headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()));
        // The https listener sets `X-Forwarded-Proto` itself; behind a TLS-terminating proxy
        // the proxy does, so links keep the scheme the client used.
        let https = matches!(
            headers.get(&FORWARDED_PROTO).and_then(|v| v.to_str().ok()),
            Some(p) if p.trim().eq_ignore_ascii_case("https")
        );
        let scheme = if https { "https" } else { "http" };
        // Built by hand: `format!` here was ~1 % of a batch item.
        let url = |host: &str| {
            let mut url = String::with_capacity(scheme.len() + 3 + host.len());
            url.push_str(scheme);
            url.push_str("://");
            url.push_str(host);
            url
        };
        let (base_url, called_base) = match called {
            Some(host) if hosts.admits(host) => (url(host), None),
            other => (url(hosts.own(https)), other.map(url)),
        };
        RequestCtx {
            request_id,
            client_request_id,
            now,
            base_url,
            called_base,
        }
    }

    /// `scheme://host[:port]` as the client called it, for links it follows.
    pub fn called_base(&self) -> &str {
        self.called_base.as_deref().unwrap_or(&self.base_url)
    }

    /// `https://host/v1.0/$metadata#<path>`, with room for what callers append (a `$select`
    /// list, `/$entity`).
    pub fn context_url(&self, version: ApiVersion, path: &str) -> String {
        const METADATA: &str = "/$metadata#";
        let mut url = self.versioned(version, METADATA.len() + path.len() + 16);
        url.push_str(METADATA);
        url.push_str(path);
        url
    }

    pub fn absolute(&self, version: ApiVersion, path: &str) -> String {
        let mut url = self.versioned(version, path.len() + 48);
        url.push('/');
        url.push_str(path);
        url
    }

    /// `https://host/v1.0`, with `extra` bytes of room to grow.
    fn versioned(&self, version: ApiVersion, extra: usize) -> String {
        let segment = version.segment();
        let mut url = String::with_capacity(self.base_url.len() + 1 + segment.len() + extra);
        url.push_str(&self.base_url);
        url.push('/');
        url.push_str(segment);
        url
    }
}

/// A successful Graph answer.
#[derive(Debug)]
pub enum Reply {
    /// 200 (or 201 with `Location`) and one entity.
    Entity {
        status: StatusCode,
        context: String,
        body: Value,
        location: Option<String>,
    },
    /// 200 and one entity whose JSON was already rendered (`page::cached_entity`).
    CachedEntity {
        context: String,
        entity: crate::odata::page::CachedEntity,
    },
    /// 200 and `{"@odata.context", "@odata.count"?, "@odata.nextLink"?, "value": [...]}`.
    Collection {
        context: String,
        count: Option<usize>,
        next_link: Option<String>,
        items: crate::odata::page::PageItems,
    },
    /// 200 `text/plain` (`/$count`).
    Text(String),
    /// A JSON body without `@odata.context`.
    Json(StatusCode, Value),
    /// The same, already serialized (the `$batch` envelope, spliced from its items' bytes).
    JsonBytes(StatusCode, Vec<u8>),
    /// A status with no body (204 on PATCH/DELETE, 200 on some actions).
    Empty(StatusCode),
}

impl Reply {
    pub fn ok(context: String, body: Value) -> Self {
        Reply::Entity {
            status: StatusCode::OK,
            context,
            body,
            location: None,
        }
    }

    pub fn created(context: String, body: Value, location: String) -> Self {
        Reply::Entity {
            status: StatusCode::CREATED,
            context,
            body,
            location: Some(location),
        }
    }
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Date` header for `now`, formatted once per second per thread: every response carries
/// one, and formatting it each time was ~1 % of a GET by id.
fn date_header(now: Timestamp) -> HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, HeaderValue)> =
            const { std::cell::RefCell::new((i64::MIN, HeaderValue::from_static(""))) };
    }
    let second = now.unix_seconds();
    LAST.with_borrow_mut(|(cached_second, value)| {
        if *cached_second != second {
            *cached_second = second;
            *value = hv(&now.http_date());
        }
        value.clone()
    })
}

pub(super) fn base_response(ctx: &RequestCtx, status: StatusCode, body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    // Room for every header a response gets (these, content type, CORS, version), so the map
    // never regrows while they go in.
    *resp.headers_mut() = HeaderMap::with_capacity(16);
    let h = resp.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL_VALUE));
    h.insert(
        REQUEST_ID.clone(),
        hv(ctx
            .request_id
            .hyphenated()
            .encode_lower(&mut Uuid::encode_buffer())),
    );
    h.insert(CLIENT_REQUEST_ID.clone(), hv(&ctx.client_request_id));
    h.insert(AGS.clone(), HeaderValue::from_static(AGS_DIAGNOSTIC));
    h.insert(HSTS.clone(), HeaderValue::from_static("max-age=31536000"));
    h.insert(DATE, date_header(ctx.now));
    resp
}

/// Every Graph answer's `Cache-Control`.
pub(super) const CACHE_CONTROL_VALUE: &str = "private";
/// Errors from the entitlement-management backend are plain JSON [inf, docs/PARITY.md].
pub(super) const ERROR_JSON: &str = "application/json";

/// An answer before it is sent: status, the headers that belong to this answer, and the body.
/// A direct response and a `$batch` item are both made from one, so they cannot disagree; the
/// envelope's own headers (request ids, date, diagnostics) are added only to a response sent on
/// its own, which is what lets a batch item skip building a header map it would throw away.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<&'static str>,
    pub location: Option<HeaderValue>,
    pub retry_after: Option<HeaderValue>,
    /// Headers only a response sent on its own carries (`WWW-Authenticate`, the emulator's
    /// detail, throttling information); a batch item's headers are the ones Graph repeats.
    pub extra: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// A fault rule dropped the connection: the response's body fails when it is sent.
    pub dropped: bool,
}

impl Answer {
    pub(super) fn new(status: StatusCode, content_type: Option<&'static str>, body: Bytes) -> Self {
        Answer {
            status,
            content_type,
            location: None,
            retry_after: None,
            extra: Vec::new(),
            body,
            dropped: false,
        }
    }

    fn odata(status: StatusCode, body: Vec<u8>) -> Self {
        Answer::new(status, Some(ODATA_JSON), body.into())
    }

    /// OData payloads say which protocol version they follow; errors and text do not.
    pub fn odata_version(&self) -> Option<&'static str> {
        (self.content_type == Some(ODATA_JSON)).then_some("4.0")
    }

    pub fn into_response(self, ctx: &RequestCtx) -> Response {
        let odata_version = self.odata_version();
        let body = if self.dropped {
            super::faults::dropped_body()
        } else {
            Body::from(self.body)
        };
        let mut resp = base_response(ctx, self.status, body);
        let h = resp.headers_mut();
        if let Some(content_type) = self.content_type {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if let Some(version) = odata_version {
            h.insert(ODATA_VERSION.clone(), HeaderValue::from_static(version));
        }
        if let Some(location) = self.location {
            h.insert(LOCATION, location);
        }
        if let Some(seconds) = self.retry_after {
            h.insert(RETRY_AFTER, seconds);
        }
        for (name, value) in self.extra {
            h.insert(name, value);
        }
        resp
    }
}

/// `{"@odata.context":"…"` — an entity's opening, before its fields.
fn open_with_context(context: &str, fields_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(context.len() + fields_len + 24);
    out.extend_from_slice(b"{\"@odata.context\":");
    let _ = serde_json::to_writer(&mut out, context);
    out
}

/// The entity with `@odata.context` first, as Graph does: the context is written ahead of the
/// body's own bytes rather than moving every field into a new map.
fn with_context(context: &str, body: &Value) -> Vec<u8> {
    let Value::Object(fields) = body else {
        return serde_json::to_vec(&json!({ "@odata.context": context })).unwrap_or_default();
    };
    let mut out = open_with_context(context, 512);
    if fields.is_empty() {
        out.push(b'}');
        return out;
    }
    // The fields' own object follows, its opening brace turned into the separating comma.
    let brace = out.len();
    let _ = serde_json::to_writer(&mut out, fields);
    out[brace] = b',';
    out
}

pub fn render_reply(ctx: &RequestCtx, reply: Reply) -> Response {
    reply_answer(reply).into_response(ctx)
}

pub fn reply_answer(reply: Reply) -> Answer {
    match reply {
        Reply::Entity {
            status,
            context,
            body,
            location,
        } => {
            let mut answer = Answer::odata(status, with_context(&context, &body));
            answer.location = location.map(|loc| hv(&loc));
            answer
        }
        Reply::CachedEntity { context, entity } => {
            let fields = entity.fields();
            let mut bytes = open_with_context(&context, fields.len());
            bytes.push(b',');
            bytes.extend_from_slice(fields.as_bytes());
            Answer::odata(StatusCode::OK, bytes)
        }
        Reply::Collection {
            context,
            count,
            next_link,
            items,
        } => {
            let mut m = Map::new();
            m.insert("@odata.context".into(), Value::String(context));
            if let Some(n) = count {
                m.insert("@odata.count".into(), json!(n));
            }
            if let Some(link) = next_link {
                m.insert("@odata.nextLink".into(), Value::String(link));
            }
            match items {
                crate::odata::page::PageItems::Values(items) => {
                    m.insert("value".into(), Value::Array(items));
                    Answer::odata(
                        StatusCode::OK,
                        serde_json::to_vec(&Value::Object(m)).unwrap_or_default(),
                    )
                }
                crate::odata::page::PageItems::Raw(items) => {
                    // The same bytes serializing the map would write: the envelope's keys in
                    // order, then the cached items spliced into `value`.
                    let head = serde_json::to_vec(&Value::Object(m)).unwrap_or_default();
                    let size = items.iter().map(|i| i.len() + 1).sum::<usize>();
                    let mut bytes = Vec::with_capacity(head.len() + size + 12);
                    bytes.extend_from_slice(head.strip_suffix(b"}").unwrap_or(&head));
                    bytes.extend_from_slice(b",\"value\":[");
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            bytes.push(b',');
                        }
                        bytes.extend_from_slice(item.as_bytes());
                    }
                    bytes.extend_from_slice(b"]}");
                    Answer::odata(StatusCode::OK, bytes)
                }
            }
        }
        Reply::Text(text) => Answer::new(
            StatusCode::OK,
            Some("text/plain;charset=utf-8"),
            text.into(),
        ),
        Reply::Json(status, body) => {
            Answer::odata(status, serde_json::to_vec(&body).unwrap_or_default())
        }
        Reply::JsonBytes(status, bytes) => Answer::odata(status, bytes),
        Reply::Empty(status) => Answer::new(status, None, Bytes::new()),
    }
}

/// `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
pub fn error_body(ctx: &RequestCtx, err: &GraphError) -> Value {
    json!({
        "error": {
            "code": err.code(),
            "message": err.to_string(),
            "innerError": {
                "date": ctx.now.inner_error_date(),
                "request-id": ctx.request_id,
                "client-request-id": ctx.client_request_id,
            }
        }
    })
}

pub fn render_error(ctx: &RequestCtx, err: &GraphError) -> Response {
    error_answer(ctx, err).into_response(ctx)
}

pub fn error_answer(ctx: &RequestCtx, err: &GraphError) -> Answer {
    if let GraphError::Internal(detail) = err {
        tracing::error!(request_id = %ctx.request_id, %detail, "internal error");
    }
    let bytes = serde_json::to_vec(&error_body(ctx, err)).unwrap_or_default();
    let mut answer = Answer::new(err.status(), Some(ERROR_JSON), bytes.into());
    if err.status() == StatusCode::UNAUTHORIZED {
        answer.extra.push((
            WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTHENTICATE_VALUE),
        ));
    }
    if let Some(detail) = err.detail() {
        // Header values must be visible ASCII; keep the explanation readable, not exact.
        let clean: String = detail
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    '?'
                }
            })
            .take(1000)
            .collect();
        answer.extra.push((DETAIL.clone(), hv(&clean)));
    }
    answer
}
