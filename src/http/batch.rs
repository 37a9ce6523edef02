//! JSON batching at `/{version}/$batch` (`graph-protocol.md` §4): up to 20 requests, run one
//! after another in array order (so the same batch gives the same bytes), each through exactly
//! the pipeline a direct request takes — routing, authentication, handlers, envelope.
//!
//! Items inherit the batch's `Authorization` unless they carry their own; `url` is relative to
//! the version, with or without a leading slash; a JSON `body` is sent as JSON and a string body
//! is base64 (falling back to the text itself); `dependsOn` names earlier items, and a dependant
//! of a failed item answers 424 without running.

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::AppState;
use super::body::json_body;
use super::envelope::{Reply, RequestCtx, render_error, render_reply};
use super::graph::handle_one;
use crate::error::GraphError;
use crate::model::ApiVersion;

/// Characters batch URLs carry unencoded in Graph's own examples (`$filter=a eq 'b'`) that
/// a URI cannot hold; `%` stays, so already-encoded URLs pass unchanged.
const URL_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^');

/// The most requests one batch may hold.
pub(super) const MAX_BATCH: usize = 20;

/// `Some(version)` when the path is `/{version}/$batch`.
pub(super) fn batch_version(path: &str) -> Option<ApiVersion> {
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    let version = ApiVersion::from_segment(parts.next()?)?;
    let last = parts.next()?;
    // Every Graph request asks this; a deeper path is answered without decoding anything.
    if !parts.next().is_none_or(str::is_empty) {
        return None;
    }
    percent_decode_str(last)
        .decode_utf8_lossy()
        .eq_ignore_ascii_case("$batch")
        .then_some(version)
}

/// A validated item.
struct Item {
    id: String,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    depends_on: Vec<String>,
}

fn invalid(detail: impl Into<String>) -> GraphError {
    GraphError::BatchInvalid {
        detail: detail.into(),
    }
}

/// The envelope as sent. Items are kept as raw JSON and their members read one by one, so the
/// body is parsed once without building a map for the envelope and each item (that map-building
/// was ~13 % of a batch of 20 GETs).
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    requests: Option<Vec<&'a RawValue>>,
}

/// One item's members, each still raw JSON (`null` reads as absent, as before).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawItem<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<&'a RawValue>,
    #[serde(borrow)]
    url: Option<&'a RawValue>,
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
    #[serde(borrow)]
    depends_on: Option<&'a RawValue>,
}

/// A derived struct would also read a JSON array positionally; only objects are read as one.
fn is_object(json: &[u8]) -> bool {
    json.trim_ascii_start().starts_with(b"{")
}

fn text_of(raw: Option<&RawValue>) -> Option<String> {
    raw.and_then(|r| serde_json::from_str::<String>(r.get()).ok())
}

fn parse_items(body: &[u8]) -> Result<Vec<Item>, GraphError> {
    let requests = match serde_json::from_slice::<RawEnvelope<'_>>(body) {
        Ok(RawEnvelope {
            requests: Some(requests),
        }) if is_object(body) => requests,
        // Only a refused body is read again, to say why.
        _ => {
            return Err(invalid(
                match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                    Err(e) => format!("the body is not valid JSON: {e}"),
                    Ok(_) if !is_object(body) => "the body must be a JSON object".into(),
                    Ok(_) => "the body needs a 'requests' array".into(),
                },
            ));
        }
    };
    if requests.is_empty() {
        return Err(invalid("'requests' is empty"));
    }
    if requests.len() > MAX_BATCH {
        return Err(GraphError::BatchTooLarge(requests.len()));
    }
    let mut items: Vec<Item> = Vec::with_capacity(requests.len());
    for (i, raw) in requests.into_iter().enumerate() {
        let r: RawItem<'_> = is_object(raw.get().as_bytes())
            .then(|| serde_json::from_str(raw.get()).ok())
            .flatten()
            .ok_or_else(|| invalid(format!("request {i} is not an object")))?;
        let id = match r.id.map(|id| serde_json::from_str::<Value>(id.get())) {
            Some(Ok(Value::String(s))) if !s.is_empty() => s,
            Some(Ok(Value::Number(n))) => n.to_string(),
            _ => return Err(invalid(format!("request {i} has no 'id'"))),
        };
        if items.iter().any(|it| it.id == id) {
            return Err(GraphError::BatchDuplicateId(id));
        }
        let method = text_of(r.method)
            .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
            .ok_or_else(|| invalid(format!("request {id} has no valid 'method'")))?;
        let url = text_of(r.url).ok_or_else(|| invalid(format!("request {id} has no 'url'")))?;
        let mut headers = Vec::new();
        if let Some(h) = r.headers {
            let map: Map<String, Value> = serde_json::from_str(h.get())
                .map_err(|_| invalid(format!("request {id}: 'headers' must be an object")))?;
            for (k, v) in map {
                let Value::String(v) = v else {
                    return Err(invalid(format!(
                        "request {id}: header '{k}' must be a string"
                    )));
                };
                headers.push((k, v));
            }
        }
        let body = r
            .body
            .map(|b| match serde_json::from_str::<String>(b.get()) {
                Ok(s) => STANDARD.decode(&s).unwrap_or_else(|_| s.into_bytes()),
                // An object or array goes to the item as the JSON it was sent as.
                Err(_) => b.get().as_bytes().to_vec(),
            });
        let depends_on = match r.depends_on.map(|d| serde_json::from_str::<Value>(d.get())) {
            None => Vec::new(),
            Some(Ok(Value::Array(ids))) => ids
                .iter()
                .map(|d| {
                    d.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| d.to_string())
                })
                .collect(),
            Some(_) => {
                return Err(invalid(format!(
                    "request {id}: 'dependsOn' must be an array"
                )));
            }
        };
        for dep in &depends_on {
            // Items run in array order, so a dependency must come first [inf].
            if !items.iter().any(|it| &it.id == dep) {
                return Err(invalid(format!(
                    "request {id} depends on '{dep}', which is not an earlier request of the batch"
                )));
            }
        }
        items.push(Item {
            id,
            method,
            url,
            headers,
            body,
            depends_on,
        });
    }
    Ok(items)
}

/// Headers a batch item carries back, with the casing the envelope spells them in.
static ITEM_HEADERS: [(HeaderName, &str); 5] = [
    (header::LOCATION, "Location"),
    (header::CONTENT_TYPE, "Content-Type"),
    (HeaderName::from_static("odata-version"), "OData-Version"),
    (header::CACHE_CONTROL, "Cache-Control"),
    (header::RETRY_AFTER, "Retry-After"),
];

/// An item's answer headers as the envelope writes them, in `ITEM_HEADERS` order.
type ItemHeaders = Vec<(&'static str, axum::http::HeaderValue)>;

/// What an item takes from the batch request unless it sets its own.
struct Inherited<'a> {
    authorization: Option<&'a HeaderValue>,
    /// So links in item bodies point where the client called.
    host: Option<&'a HeaderValue>,
}

async fn run_item(
    shared: &AppState,
    version: ApiVersion,
    item: &Item,
    inherited: &Inherited<'_>,
) -> (StatusCode, ItemHeaders, ItemBody) {
    let mut path = String::with_capacity(item.url.len() + 8);
    path.push('/');
    path.push_str(version.segment());
    path.push('/');
    path.extend(utf8_percent_encode(
        item.url.trim_start_matches('/'),
        URL_UNSAFE,
    ));
    let mut builder = Request::builder().method(item.method.clone()).uri(path);
    let mut has_auth = false;
    let mut has_content_type = false;
    for (k, v) in &item.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) else {
            continue;
        };
        has_auth |= name == header::AUTHORIZATION;
        has_content_type |= name == header::CONTENT_TYPE;
        builder = builder.header(name, value);
    }
    if let (false, Some(auth)) = (has_auth, inherited.authorization) {
        builder = builder.header(header::AUTHORIZATION, auth.clone());
    }
    if let Some(host) = inherited.host {
        builder = builder.header(header::HOST, host.clone());
    }
    let body = item.body.clone().unwrap_or_default();
    let response = if item.body.is_some() && !has_content_type {
        // "headers … must include Content-Type" when a body is present (json-batching.md) [inf].
        let err = GraphError::invalid_model(format!(
            "request {} has a body but no Content-Type header",
            item.id
        ));
        let ctx = RequestCtx::new(
            &HeaderMap::new(),
            shared.request_ids.next_id(),
            shared.clock.now(),
        );
        render_error(&ctx, &err)
    } else {
        match builder.body(Body::from(body)) {
            Ok(request) => handle_one(shared, request, true).await,
            Err(_) => {
                let ctx = RequestCtx::new(
                    &HeaderMap::new(),
                    shared.request_ids.next_id(),
                    shared.clock.now(),
                );
                render_error(&ctx, &GraphError::SegmentNotFound(item.url.clone()))
            }
        }
    };
    to_item(response).await
}

/// An item's answer body as it goes into the envelope.
enum ItemBody {
    None,
    /// JSON the pipeline produced: spliced in as bytes, never parsed again.
    Json(axum::body::Bytes),
    Text(String),
}

async fn to_item(response: Response) -> (StatusCode, ItemHeaders, ItemBody) {
    let status = response.status();
    // One pass over the answer's ~10 headers (name comparisons, no hashing), kept in
    // `ITEM_HEADERS` order.
    let mut kept: [Option<&HeaderValue>; ITEM_HEADERS.len()] = [None; ITEM_HEADERS.len()];
    for (name, value) in response.headers() {
        if let Some(slot) = ITEM_HEADERS
            .iter()
            .position(|(kept_name, _)| kept_name == name)
            && kept[slot].is_none()
            && value.to_str().is_ok()
        {
            kept[slot] = Some(value);
        }
    }
    let content_type = ITEM_HEADERS
        .iter()
        .position(|(name, _)| name == header::CONTENT_TYPE)
        .and_then(|slot| kept[slot]);
    let is_json = content_type
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let headers = ITEM_HEADERS
        .iter()
        .zip(kept)
        .filter_map(|((_, spelled), value)| Some((*spelled, value?.clone())))
        .collect();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let body = if bytes.is_empty() {
        ItemBody::None
    } else if is_json {
        ItemBody::Json(bytes)
    } else {
        ItemBody::Text(String::from_utf8_lossy(&bytes).into_owned())
    };
    (status, headers, body)
}

/// Appends `{"id","status","headers","body"}` for one item; the body's bytes are copied as they
/// are (the item pipeline wrote them as JSON), which is most of a batch's saving.
fn write_item(
    out: &mut Vec<u8>,
    id: &str,
    status: StatusCode,
    headers: &ItemHeaders,
    body: &ItemBody,
) {
    out.extend_from_slice(b"{\"id\":");
    let _ = serde_json::to_writer(&mut *out, id);
    out.extend_from_slice(b",\"status\":");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b",\"headers\":{");
    for (i, (name, value)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut *out, name);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, value.to_str().unwrap_or_default());
    }
    out.push(b'}');
    out.extend_from_slice(b",\"body\":");
    match body {
        ItemBody::None => out.extend_from_slice(b"null"),
        ItemBody::Json(bytes) => out.extend_from_slice(bytes),
        ItemBody::Text(text) => {
            let _ = serde_json::to_writer(&mut *out, text);
        }
    }
    out.push(b'}');
}

pub(super) async fn handle(
    shared: &AppState,
    version: ApiVersion,
    request: Request<Body>,
) -> Response {
    let (parts, body) = request.into_parts();
    let ctx = RequestCtx::new(
        &parts.headers,
        shared.request_ids.next_id(),
        shared.clock.now(),
    );
    if parts.method != Method::POST {
        return render_error(
            &ctx,
            &GraphError::MethodNotAllowed(parts.method.to_string()),
        );
    }
    let bytes = match to_bytes(body, shared.body_limit).await {
        Ok(b) => b,
        Err(_) => return render_error(&ctx, &GraphError::PayloadTooLarge(shared.body_limit)),
    };
    let items = match json_body(&parts.headers, &bytes)
        .map_err(|e| match e {
            GraphError::InvalidModel { detail } => invalid(detail),
            other => other,
        })
        .and_then(|()| parse_items(&bytes))
    {
        Ok(items) => items,
        Err(err) => return render_error(&ctx, &err),
    };
    let inherited = Inherited {
        authorization: parts.headers.get(header::AUTHORIZATION),
        host: parts.headers.get(header::HOST),
    };
    let mut statuses: Vec<(String, StatusCode)> = Vec::new();
    let mut out = Vec::with_capacity(items.len() * 1024);
    out.extend_from_slice(b"{\"responses\":[");
    for item in &items {
        let failed_dep = item.depends_on.iter().find(|d| {
            statuses
                .iter()
                .any(|(id, status)| id == *d && !status.is_success())
        });
        let (status, headers, body) = match failed_dep {
            Some(dep) => {
                let item_ctx = RequestCtx::new(
                    &HeaderMap::new(),
                    shared.request_ids.next_id(),
                    shared.clock.now(),
                );
                to_item(render_error(
                    &item_ctx,
                    &GraphError::FailedDependency(dep.clone()),
                ))
                .await
            }
            None => run_item(shared, version, item, &inherited).await,
        };
        if !statuses.is_empty() {
            out.push(b',');
        }
        write_item(&mut out, &item.id, status, &headers, &body);
        statuses.push((item.id.clone(), status));
    }
    out.extend_from_slice(b"]}");
    render_reply(&ctx, Reply::JsonBytes(StatusCode::OK, out))
}
