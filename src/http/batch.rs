//! JSON batching at `/{version}/$batch` (https://learn.microsoft.com/graph/json-batching):
//! up to 20 requests, run one
//! after another in array order (so the same batch gives the same bytes), each through exactly
//! the call a direct request makes (`graph::answer_one`: routing, authentication, faults,
//! handlers, journal), its answer written straight into the envelope. The batch's own
//! credential is checked once, by the first item that sends it, for all the items that do.
//!
//! Items inherit the batch's `Authorization` unless they carry their own; `url` is relative to
//! the version, with or without a leading slash; a JSON `body` is sent as JSON and a string body
//! is base64 (falling back to the text itself); `dependsOn` names earlier items, and a dependant
//! of a failed item answers 424 without running.

use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::AppState;
use super::body::json_body;
use super::envelope::{
    Answer, CACHE_CONTROL_VALUE, Reply, RequestCtx, error_answer, render_error, render_reply,
};
use super::graph::{BatchCaller, Incoming, answer_one};
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

/// What an item takes from the batch request unless it sets its own.
struct Inherited<'a> {
    authorization: Option<&'a HeaderValue>,
    /// Who that authorization names, once an item has checked it.
    caller: BatchCaller,
    /// So links in item bodies point where the client called.
    host: Option<&'a HeaderValue>,
}

/// Runs one item through the same call a direct request makes (`answer_one`: routing,
/// authentication, faults, the operation, the journal), without the HTTP request and response
/// a direct request is wrapped in: the answer is written straight into the envelope.
async fn run_item(
    shared: &AppState,
    version: ApiVersion,
    item: &Item,
    inherited: &Inherited<'_>,
) -> Answer {
    let mut path = String::with_capacity(item.url.len() + 8);
    path.push('/');
    path.push_str(version.segment());
    path.push('/');
    path.extend(utf8_percent_encode(
        item.url.trim_start_matches('/'),
        URL_UNSAFE,
    ));
    let mut headers = HeaderMap::with_capacity(item.headers.len() + 2);
    for (k, v) in &item.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(name, value);
        }
    }
    if !headers.contains_key(header::AUTHORIZATION)
        && let Some(auth) = inherited.authorization
    {
        headers.insert(header::AUTHORIZATION, auth.clone());
    }
    if let Some(host) = inherited.host {
        headers.insert(header::HOST, host.clone());
    }
    let refused = |err: GraphError| {
        let ctx = RequestCtx::new(
            &HeaderMap::new(),
            &shared.hosts,
            shared.request_ids.next_id(),
            shared.clock.now(),
        );
        error_answer(&ctx, &err)
    };
    if item.body.is_some() && !headers.contains_key(header::CONTENT_TYPE) {
        // "headers … must include Content-Type" when a body is present
        // (https://learn.microsoft.com/graph/json-batching) [inf].
        return refused(GraphError::invalid_model(format!(
            "request {} has a body but no Content-Type header",
            item.id
        )));
    }
    let Ok(uri) = Uri::try_from(path) else {
        return refused(GraphError::SegmentNotFound(item.url.clone()));
    };
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = item.method.clone();
    parts.uri = uri;
    parts.headers = headers;
    let body = item.body.clone().map(Bytes::from).unwrap_or_default();
    answer_one(
        shared,
        parts,
        Incoming::Ready(body),
        Some(&inherited.caller),
    )
    .await
    .1
}

/// Appends `{"id","status","headers","body"}` for one item. The headers are the ones Graph
/// repeats per item, in a fixed order; the body's bytes are copied as they are (the item's
/// call wrote them as JSON), which is most of a batch's saving.
fn write_item<'a>(out: &mut Vec<u8>, id: &str, answer: &'a Answer) {
    out.extend_from_slice(b"{\"id\":");
    let _ = serde_json::to_writer(&mut *out, id);
    out.extend_from_slice(b",\"status\":");
    out.extend_from_slice(answer.status.as_str().as_bytes());
    out.extend_from_slice(b",\"headers\":{");
    // `Header::Literal` values are the emulator's own constants, with nothing to escape;
    // `Header::Sent` ones may carry what a request put in them.
    enum Header<'a> {
        Literal(&'static str),
        Sent(&'a str),
    }
    let sent = |v: &'a HeaderValue| v.to_str().ok().map(Header::Sent);
    let headers = [
        ("Location", answer.location.as_ref().and_then(sent)),
        ("Content-Type", answer.content_type.map(Header::Literal)),
        ("OData-Version", answer.odata_version().map(Header::Literal)),
        ("Cache-Control", Some(Header::Literal(CACHE_CONTROL_VALUE))),
        ("Retry-After", answer.retry_after.as_ref().and_then(sent)),
    ];
    let mut first = true;
    for (name, value) in headers {
        let Some(value) = value else { continue };
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        match value {
            Header::Literal(text) => {
                out.push(b'"');
                out.extend_from_slice(text.as_bytes());
                out.push(b'"');
            }
            Header::Sent(text) => {
                let _ = serde_json::to_writer(&mut *out, text);
            }
        }
    }
    out.push(b'}');
    out.extend_from_slice(b",\"body\":");
    let is_json = answer
        .content_type
        .is_some_and(|c| c.starts_with("application/json"));
    if answer.body.is_empty() || answer.dropped {
        out.extend_from_slice(b"null");
    } else if is_json {
        out.extend_from_slice(&answer.body);
    } else {
        let _ = serde_json::to_writer(&mut *out, &String::from_utf8_lossy(&answer.body));
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
        &shared.hosts,
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
        caller: BatchCaller::new(parts.headers.get(header::AUTHORIZATION)),
        host: parts.headers.get(header::HOST),
    };
    let mut statuses: Vec<(&str, StatusCode)> = Vec::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len() * 1024);
    out.extend_from_slice(b"{\"responses\":[");
    for item in &items {
        let failed_dep = item.depends_on.iter().find(|d| {
            statuses
                .iter()
                .any(|(id, status)| id == d && !status.is_success())
        });
        let answer = match failed_dep {
            Some(dep) => {
                let item_ctx = RequestCtx::new(
                    &HeaderMap::new(),
                    &shared.hosts,
                    shared.request_ids.next_id(),
                    shared.clock.now(),
                );
                error_answer(&item_ctx, &GraphError::FailedDependency(dep.clone()))
            }
            None => run_item(shared, version, item, &inherited).await,
        };
        if !statuses.is_empty() {
            out.push(b',');
        }
        write_item(&mut out, &item.id, &answer);
        statuses.push((&item.id, answer.status));
    }
    out.extend_from_slice(b"]}");
    render_reply(&ctx, Reply::JsonBytes(StatusCode::OK, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::envelope::{ERROR_JSON, ODATA_JSON};

    fn written(answer: &Answer) -> Value {
        let mut out = Vec::new();
        write_item(&mut out, "7\"", answer);
        serde_json::from_slice(&out).expect("an item is JSON")
    }

    /// Literal header values are copied without escaping, so every one must need none; values
    /// that come from a request (a `Location` built from the `Host` the client sent) are escaped.
    #[test]
    fn items_are_json_whatever_their_headers_hold() {
        for literal in [
            ODATA_JSON,
            ERROR_JSON,
            "text/plain;charset=utf-8",
            CACHE_CONTROL_VALUE,
            "4.0",
        ] {
            assert_eq!(
                serde_json::to_string(literal).unwrap(),
                format!("\"{literal}\"")
            );
        }
        let mut created = Answer::new(
            StatusCode::CREATED,
            Some(ODATA_JSON),
            Bytes::from_static(br#"{"id":"x"}"#),
        );
        created.location = Some(HeaderValue::from_static(r#"http://a"b\c/x"#));
        created.retry_after = Some(HeaderValue::from(5u64));
        let item = written(&created);
        assert_eq!(item["id"], "7\"");
        assert_eq!(item["status"], 201);
        assert_eq!(item["headers"]["Location"], r#"http://a"b\c/x"#);
        assert_eq!(item["headers"]["Content-Type"], ODATA_JSON);
        assert_eq!(item["headers"]["OData-Version"], "4.0");
        assert_eq!(item["headers"]["Retry-After"], "5");
        assert_eq!(item["body"]["id"], "x");
        let text = written(&Answer::new(
            StatusCode::OK,
            Some("text/plain;charset=utf-8"),
            Bytes::from_static(b"12\"3"),
        ));
        assert_eq!(text["body"], "12\"3");
        assert!(text["headers"].get("OData-Version").is_none());
        let empty = written(&Answer::new(StatusCode::NO_CONTENT, None, Bytes::new()));
        assert_eq!(empty["body"], Value::Null);
        assert_eq!(
            empty["headers"],
            serde_json::json!({"Cache-Control": "private"})
        );
    }
}
