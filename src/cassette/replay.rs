//! Replay: serve a cassette's recorded answers to matching requests, for users who want exactly
//! what Graph said. Matching is by method, path (case-insensitive) and decoded query options,
//! order-aware: the Nth identical request gets the Nth recorded answer (then the last one again,
//! for polling). Anything unrecorded gets a 501 in Graph's envelope naming the closest recorded
//! request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Cassette, Interaction, body_bytes};

/// The key two requests must share to match: method, lower-case path, sorted decoded query.
pub fn request_key(method: &str, path: &str, query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{} {}?{}",
        method.to_ascii_uppercase(),
        path.to_ascii_lowercase(),
        query.join("&")
    )
}

/// A cassette being played: which recorded answer each key gives next.
#[derive(Debug)]
pub struct Player {
    cassette: Cassette,
    by_key: HashMap<String, Vec<usize>>,
    played: Mutex<HashMap<String, usize>>,
}

impl Player {
    pub fn new(cassette: Cassette) -> Self {
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, interaction) in cassette.interactions.iter().enumerate() {
            let r = &interaction.request;
            by_key
                .entry(request_key(&r.method, &r.path, r.query.as_deref()))
                .or_default()
                .push(i);
        }
        Player {
            cassette,
            by_key,
            played: Mutex::new(HashMap::new()),
        }
    }

    /// The interaction answering this request, or the closest recorded request's `METHOD path`.
    pub fn next(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
    ) -> Result<&Interaction, String> {
        let key = request_key(method, path, query);
        if let Some(indexes) = self.by_key.get(&key) {
            let mut played = self.played.lock().unwrap_or_else(|e| e.into_inner());
            let n = played.entry(key).or_insert(0);
            let index = indexes[(*n).min(indexes.len() - 1)];
            *n += 1;
            return Ok(&self.cassette.interactions[index]);
        }
        let closest = self
            .by_key
            .keys()
            .min_by_key(|k| edit_distance(k, &key))
            .map(|k| k.trim_end_matches('?').to_string())
            .unwrap_or_else(|| "(the cassette is empty)".into());
        Err(closest)
    }

    pub fn upstream(&self) -> Option<&str> {
        self.cassette.upstream.as_deref()
    }
}

/// Levenshtein distance, for naming the nearest miss.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Absolute links the upstream wrote (`@odata.nextLink`, `Location`) pointed at this server.
pub fn rehost(body: &Value, upstream: Option<&str>, here: &str) -> Value {
    let Some(upstream) = upstream.map(|u| u.trim_end_matches('/')) else {
        return body.clone();
    };
    match body {
        Value::String(s) => Value::String(s.replace(upstream, here)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| rehost(v, Some(upstream), here))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), rehost(v, Some(upstream), here)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `scheme://host` as the client called this server.
pub fn base_of(request: &Request) -> String {
    let host = request
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = match request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// The replay server's one handler.
pub async fn serve(State(player): State<Arc<Player>>, request: Request) -> Response {
    let here = base_of(&request);
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    // Drain the body so the connection stays usable.
    let _ = to_bytes(request.into_body(), 64 * 1024 * 1024).await;
    match player.next(&method, &path, query.as_deref()) {
        Ok(interaction) => {
            let r = &interaction.response;
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
            let body = rehost(&r.body, player.upstream(), &here);
            let mut resp = (status, Body::from(body_bytes(&body))).into_response();
            for (name, value) in &r.headers {
                let text = value.as_str().unwrap_or_default();
                let text = match player.upstream() {
                    Some(up) => text.replace(up.trim_end_matches('/'), &here),
                    None => text.to_string(),
                };
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&text),
                ) {
                    resp.headers_mut().insert(name, value);
                }
            }
            if !resp.headers().contains_key("content-type")
                && matches!(body, Value::Object(_) | Value::Array(_))
            {
                resp.headers_mut()
                    .insert("content-type", HeaderValue::from_static("application/json"));
            }
            resp
        }
        Err(closest) => {
            let body = json!({"error": {
                "code": "NotImplemented",
                "message": format!("No recorded interaction matches {method} {path}{}. The closest recorded request is {closest}.",
                    query.map(|q| format!("?{q}")).unwrap_or_default()),
                "innerError": {"request-id": uuid::Uuid::nil(), "client-request-id": uuid::Uuid::nil()},
            }});
            let mut resp = (StatusCode::NOT_IMPLEMENTED, body.to_string()).into_response();
            resp.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{RecordedRequest, RecordedResponse};

    fn interaction(method: &str, path: &str, query: Option<&str>, n: u64) -> Interaction {
        Interaction {
            request: RecordedRequest {
                method: method.into(),
                path: path.into(),
                query: query.map(str::to_string),
                headers: Default::default(),
                body: Value::Null,
            },
            response: RecordedResponse {
                status: 200,
                headers: Default::default(),
                body: json!({"n": n}),
            },
            duration_ms: 0,
        }
    }

    #[test]
    fn identical_requests_play_in_order_then_repeat_the_last() {
        let player = Player::new(Cassette {
            interactions: vec![
                interaction("GET", "/v1.0/a", Some("$top=2&$filter=x"), 1),
                interaction("GET", "/v1.0/a", Some("$filter=x&$top=2"), 2),
                interaction("POST", "/v1.0/a", None, 3),
            ],
            ..Default::default()
        });
        let n = |q| {
            player
                .next("get", "/V1.0/A", q)
                .map(|i| i.response.body["n"].clone())
        };
        assert_eq!(n(Some("%24filter=x&%24top=2")), Ok(json!(1)));
        assert_eq!(n(Some("$top=2&$filter=x")), Ok(json!(2)));
        assert_eq!(
            n(Some("$top=2&$filter=x")),
            Ok(json!(2)),
            "then the last again"
        );
        assert_eq!(
            player.next("DELETE", "/v1.0/a", None).err().as_deref(),
            Some("POST /v1.0/a")
        );
    }
}
