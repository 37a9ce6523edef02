//! Record: a forwarding proxy. Clients point at it exactly as at the emulator; each request goes
//! to the upstream with the client's own token, the answer goes back to the client (its absolute
//! links pointed at the proxy, so paging stays on it), and the exchange — redacted before it is
//! kept — is appended to the cassette, which is rewritten after every exchange.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::redact::{PiiOptions, Redactor};
use super::replay::{base_of, rehost};
use super::{Cassette, Interaction, RecordedRequest, RecordedResponse, body_value};

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus what the proxy sets.
const HOP_BY_HOP: [&str; 9] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "content-length",
    // Asked uncompressed, so the recorded body is readable JSON.
    "accept-encoding",
];

/// Largest body the proxy forwards either way.
const MAX_BODY: usize = 64 * 1024 * 1024;

pub struct Recorder {
    upstream: String,
    out: PathBuf,
    client: reqwest::Client,
    state: Mutex<(Cassette, Redactor)>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("upstream", &self.upstream)
            .field("out", &self.out)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    pub fn new(upstream: &str, out: PathBuf, pii: PiiOptions) -> Result<Self, String> {
        let upstream = upstream.trim_end_matches('/').to_string();
        url::Url::parse(&upstream).map_err(|e| format!("--upstream {upstream}: {e}"))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let cassette = Cassette {
            // `https://user:password@host` works as an upstream; the cassette keeps no password.
            upstream: Some(super::redact::conceal_text(&upstream)),
            ..Default::default()
        };
        Ok(Recorder {
            upstream,
            out,
            client,
            state: Mutex::new((cassette, Redactor::new(pii))),
        })
    }

    fn keep(&self, mut interaction: Interaction) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (cassette, redactor) = &mut *guard;
        redactor.interaction(&mut interaction);
        cassette.interactions.push(interaction);
        if let Err(e) = cassette.save(&self.out) {
            tracing::error!("recording: {e}");
        }
    }
}

fn header_map(headers: &HeaderMap) -> Map<String, Value> {
    headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), json!(v))))
        .collect()
}

fn bad_gateway(message: String) -> Response {
    let body = json!({"error": {"code": "BadGateway", "message": message}});
    let mut resp = (StatusCode::BAD_GATEWAY, body.to_string()).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

/// The proxy's one handler.
pub async fn forward(State(recorder): State<Arc<Recorder>>, request: Request) -> Response {
    let here = base_of(&request);
    let started = std::time::Instant::now();
    let (parts, body) = request.into_parts();
    let Ok(sent) = to_bytes(body, MAX_BODY).await else {
        return bad_gateway("the request body could not be read".into());
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let method = match reqwest::Method::from_bytes(parts.method.as_str().as_bytes()) {
        Ok(m) => m,
        Err(e) => return bad_gateway(e.to_string()),
    };
    let mut upstream_request = recorder
        .client
        .request(method, format!("{}{path_and_query}", recorder.upstream));
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            upstream_request = upstream_request.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match upstream_request.body(sent.clone()).send().await {
        Ok(answer) => answer,
        Err(e) => return bad_gateway(format!("the upstream did not answer: {e}")),
    };
    let status = answer.status().as_u16();
    let mut answer_headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            answer_headers.append(name, value);
        }
    }
    let received = match answer.bytes().await {
        Ok(b) => b,
        Err(e) => return bad_gateway(format!("the upstream's answer was cut: {e}")),
    };
    let recorded_body = body_value(&received);
    recorder.keep(Interaction {
        request: RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: header_map(&parts.headers),
            body: body_value(&sent),
        },
        response: RecordedResponse {
            status,
            headers: header_map(&answer_headers),
            body: recorded_body.clone(),
        },
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    // The client gets the upstream's answer, its links pointed back at the proxy.
    let client_body = match &recorded_body {
        Value::Object(_) | Value::Array(_) => {
            super::body_bytes(&rehost(&recorded_body, Some(&recorder.upstream), &here))
        }
        _ => received.to_vec(),
    };
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        Body::from(client_body),
    )
        .into_response();
    for (name, value) in &answer_headers {
        if HOP_BY_HOP.contains(&name.as_str()) || name == "content-encoding" {
            continue;
        }
        let value = match value.to_str() {
            Ok(text) if text.contains(&recorder.upstream) => {
                HeaderValue::from_str(&text.replace(&recorder.upstream, &here))
                    .unwrap_or(value.clone())
            }
            _ => value.clone(),
        };
        resp.headers_mut().append(name.clone(), value);
    }
    resp
}
