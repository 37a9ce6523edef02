//! The benchmark's reference server: the least work a server can do for the benchmark's
//! requests (README.md, "Benchmark"). It answers each GET with bytes captured from the emulator, keyed
//! by path and query; a `$batch` by parsing it and assembling each item's captured GET answer
//! (the same lookups the emulator does, none of its pipeline); each other POST by parsing the
//! body, giving it an id and storing it in a pre-sized map; no envelope, no auth, no OData. What
//! the emulator achieves relative to this is the ratio the benchmark reports.

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
    let raw: HashMap<String, String> = serde_json::from_slice(&std::fs::read(&data)?)?;
    let captured = raw.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect();
    let shared = Arc::new(Shared {
        captured,
        // Pre-sized so growth never stalls a request (performance-anchors.md).
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
