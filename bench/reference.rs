//! The benchmark's reference server: the least work a server can do for the benchmark's
//! requests (docs/BENCHMARK.md), doing the same essential work per workload as the issue
//! asks: a GET by id is a map lookup returning bytes captured from the emulator; a page
//! serializes the same 100 objects; a `$filter=displayName eq '…'` scans the same 10,000
//! objects and serializes the matches; a `$batch` is parsed and each item's captured answer
//! spliced in; any other POST parses the body, gives it an id and stores it in a pre-sized map.
//! No envelope, no auth, no OData, no routing generality. What the emulator achieves relative to
//! this is the ratio the benchmark reports.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

struct Shared {
    /// `path?query` → response body.
    captured: HashMap<String, Bytes>,
    /// `path?query` of a captured collection answer → that answer parsed, serialized afresh
    /// for every request as the emulator serializes its page.
    pages: HashMap<String, Value>,
    /// Every captured package as a list item (`@odata.context` dropped), in capture order,
    /// with its displayName: what a `$filter` scans.
    packages: Vec<(String, Value)>,
    /// The `@odata.context` of a collection of packages.
    collection_context: Value,
    created: Mutex<HashMap<uuid::Uuid, Value>>,
}

fn json(status: StatusCode, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn get(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let key = uri.path_and_query().map_or("", |p| p.as_str());
    if let Some(name) = uri.query().and_then(display_name_filter) {
        return filter(&shared, &name);
    }
    if let Some(page) = shared.pages.get(key) {
        return json(
            StatusCode::OK,
            Bytes::from(serde_json::to_vec(page).unwrap_or_default()),
        );
    }
    match shared.captured.get(key) {
        Some(body) => json(StatusCode::OK, body.clone()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn post(State(shared): State<Arc<Shared>>, uri: Uri, body: Bytes) -> Response {
    let key = uri.path_and_query().map_or("", |p| p.as_str());
    if let Some(version) = key.strip_suffix("/$batch") {
        return batch(&shared, version, &body);
    }
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let id = uuid::Uuid::new_v4();
    object.insert("id".into(), Value::String(id.to_string()));
    let value = Value::Object(object);
    let out = serde_json::to_vec(&value).unwrap_or_default();
    if let Ok(mut created) = shared.created.lock() {
        created.insert(id, value);
    }
    json(StatusCode::CREATED, Bytes::from(out))
}

/// The literal of a `$filter=displayName eq '…'` query, decoded.
fn display_name_filter(query: &str) -> Option<String> {
    let (_, filter) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "$filter")?;
    let literal = filter
        .strip_prefix("displayName eq '")?
        .strip_suffix('\'')?;
    Some(literal.replace("''", "'"))
}

/// The same scan as the emulator's: every package, compare, serialize what matches.
fn filter(shared: &Shared, name: &str) -> Response {
    let matches: Vec<&Value> = shared
        .packages
        .iter()
        .filter(|(display_name, _)| display_name == name)
        .map(|(_, item)| item)
        .collect();
    let body = serde_json::json!({
        "@odata.context": shared.collection_context,
        "value": matches,
    });
    json(
        StatusCode::OK,
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

/// Parse the batch, look each item up, and splice the stored answers into the envelope.
fn batch(shared: &Shared, version: &str, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let items = request["requests"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let mut out = Vec::with_capacity(items.len() * 1024);
    out.extend_from_slice(b"{\"responses\":[");
    for (i, item) in items.iter().enumerate() {
        let url = item["url"].as_str().unwrap_or("");
        let id = serde_json::to_string(&item["id"]).unwrap_or_default();
        if i > 0 {
            out.push(b',');
        }
        match shared.captured.get(&format!("{version}{url}")) {
            Some(answer) => {
                out.extend_from_slice(format!("{{\"id\":{id},\"status\":200,\"body\":").as_bytes());
                out.extend_from_slice(answer);
            }
            None => out.extend_from_slice(
                format!("{{\"id\":{id},\"status\":404,\"body\":null").as_bytes(),
            ),
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    json(StatusCode::OK, Bytes::from(out))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = args
        .next()
        .ok_or("usage: bench-reference CAPTURED.json PORT")?;
    let port: u16 = args
        .next()
        .ok_or("usage: bench-reference CAPTURED.json PORT")?
        .parse()?;
    // Insertion order is capture order (serde_json's `preserve_order`), so the scan visits
    // the packages in the order the emulator stores them.
    let raw: serde_json::Map<String, Value> = serde_json::from_slice(&std::fs::read(&data)?)?;
    let mut captured = HashMap::new();
    let mut pages = HashMap::new();
    let mut packages = Vec::new();
    let mut collection_context = Value::Null;
    for (key, body) in raw {
        let text = body.as_str().unwrap_or_default().to_owned();
        let Ok(Value::Object(mut parsed)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if key.contains("$filter=") {
            collection_context = parsed.get("@odata.context").cloned().unwrap_or_default();
        } else if parsed.contains_key("value") {
            pages.insert(key.clone(), Value::Object(parsed));
        } else {
            // A list item as the emulator writes it: its type first, no context.
            parsed.shift_remove("@odata.context");
            let mut item = serde_json::Map::new();
            item.insert(
                "@odata.type".into(),
                "#microsoft.graph.accessPackage".into(),
            );
            item.append(&mut parsed);
            let name = item["displayName"].as_str().unwrap_or_default().to_owned();
            packages.push((name, Value::Object(item)));
        }
        captured.insert(key, Bytes::from(text));
    }
    let shared = Arc::new(Shared {
        captured,
        pages,
        packages,
        collection_context,
        // Pre-sized so growth never stalls a request (docs/BENCHMARK.md, "Measured before the
        // emulator").
        created: Mutex::new(HashMap::with_capacity(4_000_000)),
    });
    let app = Router::new()
        .fallback(
            |state, uri: Uri, method: axum::http::Method, body: Bytes| async move {
                if method == axum::http::Method::POST {
                    post(state, uri, body).await
                } else {
                    get(state, uri).await
                }
            },
        )
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
