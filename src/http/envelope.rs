//! Graph's response envelope: request ids, headers, `@odata.context`, and the error body
//! (`graph-protocol.md` §1.1, §2.2, §2.3, §5.4, §8 items 1–4).

use axum::body::Body;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, DATE, HeaderName, HeaderValue, LOCATION, WWW_AUTHENTICATE,
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
    /// `scheme://host[:port]` as the client called it, for absolute links.
    pub base_url: String,
}

impl RequestCtx {
    pub fn new(headers: &HeaderMap, request_id: Uuid, now: Timestamp) -> Self {
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
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or("localhost");
        // The https listener sets `X-Forwarded-Proto` itself; behind a TLS-terminating proxy
        // the proxy does, so links keep the scheme the client used.
        let scheme = match headers.get(&FORWARDED_PROTO).and_then(|v| v.to_str().ok()) {
            Some(p) if p.trim().eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        // Built by hand: `format!` here was ~1 % of a batch item.
        let mut base_url = String::with_capacity(scheme.len() + 3 + host.len());
        base_url.push_str(scheme);
        base_url.push_str("://");
        base_url.push_str(host);
        RequestCtx {
            request_id,
            client_request_id,
            now,
            base_url,
        }
    }

    /// `https://host/v1.0/$metadata#<path>`.
    pub fn context_url(&self, version: ApiVersion, path: &str) -> String {
        format!("{}/{}/$metadata#{}", self.base_url, version.segment(), path)
    }

    pub fn absolute(&self, version: ApiVersion, path: &str) -> String {
        format!("{}/{}/{}", self.base_url, version.segment(), path)
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
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
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

fn json_response(ctx: &RequestCtx, status: StatusCode, value: &Value) -> Response {
    bytes_response(ctx, status, serde_json::to_vec(value).unwrap_or_default())
}

fn bytes_response(ctx: &RequestCtx, status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut resp = base_response(ctx, status, Body::from(bytes));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    resp.headers_mut()
        .insert(ODATA_VERSION.clone(), HeaderValue::from_static("4.0"));
    resp
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
    match reply {
        Reply::Entity {
            status,
            context,
            body,
            location,
        } => {
            let mut resp = bytes_response(ctx, status, with_context(&context, &body));
            if let Some(loc) = location {
                resp.headers_mut().insert(LOCATION, hv(&loc));
            }
            resp
        }
        Reply::CachedEntity { context, entity } => {
            let fields = entity.fields();
            let mut bytes = open_with_context(&context, fields.len());
            bytes.push(b',');
            bytes.extend_from_slice(fields.as_bytes());
            bytes_response(ctx, StatusCode::OK, bytes)
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
                    json_response(ctx, StatusCode::OK, &Value::Object(m))
                }
                crate::odata::page::PageItems::Raw(items) => {
                    // The same bytes `json_response` would write: the envelope's keys in order,
                    // then the cached items spliced into `value`.
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
                    bytes_response(ctx, StatusCode::OK, bytes)
                }
            }
        }
        Reply::Text(text) => {
            let mut resp = base_response(ctx, StatusCode::OK, Body::from(text));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain;charset=utf-8"),
            );
            resp
        }
        Reply::Json(status, body) => json_response(ctx, status, &body),
        Reply::JsonBytes(status, bytes) => bytes_response(ctx, status, bytes),
        Reply::Empty(status) => base_response(ctx, status, Body::empty()),
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
    if let GraphError::Internal(detail) = err {
        tracing::error!(request_id = %ctx.request_id, %detail, "internal error");
    }
    let bytes = serde_json::to_vec(&error_body(ctx, err)).unwrap_or_default();
    let mut resp = base_response(ctx, err.status(), Body::from(bytes));
    let h = resp.headers_mut();
    // EM backend errors are plain `application/json` [inf, graph-protocol.md §1.1].
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if err.status() == StatusCode::UNAUTHORIZED {
        h.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTHENTICATE_VALUE),
        );
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
        h.insert(DETAIL.clone(), hv(&clean));
    }
    resp
}
