//! Cassettes: recorded Graph exchanges in a documented, diff-friendly JSON file — written by the
//! recording proxy (`record`), served back by `replay`, checked against the emulator by
//! `verify`, and written from the request journal — plus the redaction that keeps secrets and
//! PII out of them and the normalisation that compares answers the way Graph varies them.
//!
//! Format (`"format": "entitlement-emulator/cassette/1"`):
//! ```json
//! {"format": "…", "interactions": [
//!   {"request": {"method": "GET", "path": "/v1.0/…", "query": "$top=2", "headers": {…}, "body": …},
//!    "response": {"status": 200, "headers": {…}, "body": …}, "durationMs": 12}]}
//! ```
//! Bodies are JSON when they parse as JSON, else a string; header names are lower case.

pub mod import;
pub mod normalize;
pub mod record;
pub mod redact;
pub mod replay;
pub mod verify;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const CASSETTE_FORMAT: &str = "entitlement-emulator/cassette/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cassette {
    pub format: String,
    /// The service recorded (`https://graph.microsoft.com`); replay points its absolute links
    /// (`@odata.nextLink`, `Location`) at itself instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    pub interactions: Vec<Interaction>,
}

impl Default for Cassette {
    fn default() -> Self {
        Cassette {
            format: CASSETTE_FORMAT.into(),
            upstream: None,
            interactions: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Interaction {
    pub request: RecordedRequest,
    pub response: RecordedResponse,
    #[serde(default)]
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default)]
    pub headers: Map<String, Value>,
    #[serde(default)]
    pub body: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedResponse {
    pub status: u16,
    #[serde(default)]
    pub headers: Map<String, Value>,
    #[serde(default)]
    pub body: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path} is not a cassette: {message}")]
    Parse { path: String, message: String },
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
}

impl Cassette {
    pub fn load(path: &std::path::Path) -> Result<Self, CassetteError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CassetteError::Read {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let cassette: Cassette = serde_json::from_str(&text).map_err(|e| CassetteError::Parse {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        if cassette.format != CASSETTE_FORMAT {
            return Err(CassetteError::Parse {
                path: shown,
                message: format!("'format' must be \"{CASSETTE_FORMAT}\""),
            });
        }
        Ok(cassette)
    }

    /// Pretty-printed, written to a temporary file and renamed, so a reader never sees half a
    /// cassette (the recorder rewrites it after every exchange).
    pub fn save(&self, path: &std::path::Path) -> Result<(), CassetteError> {
        let shown = path.display().to_string();
        let err = |e: std::io::Error| CassetteError::Write {
            path: shown.clone(),
            message: e.to_string(),
        };
        let mut text = serde_json::to_string_pretty(self).map_err(|e| CassetteError::Write {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        text.push('\n');
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// A body as a cassette keeps it: JSON when it parses, else text (empty = null).
pub fn body_value(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The bytes to send for a recorded body.
pub fn body_bytes(body: &Value) -> Vec<u8> {
    match body {
        Value::Null => Vec::new(),
        Value::String(text) => text.clone().into_bytes(),
        other => serde_json::to_vec(other).unwrap_or_default(),
    }
}

/// The request journal's entries (`GET /_emulator/journal`) as a cassette: a passing test run
/// saved for diffing later. The journal keeps no `Authorization` header, but bodies and queries
/// can still carry credentials (a custom extension's secret, a `?code=`), so the recorder's
/// credential redaction runs here too; PII is replaced as `redactor`'s options say.
pub fn from_journal(entries: &[Value], redactor: &mut redact::Redactor) -> Cassette {
    let interactions = entries
        .iter()
        .filter(|e| !e["inBatch"].as_bool().unwrap_or(false))
        .map(|e| {
            let headers = e["requestHeaders"].as_object().cloned().unwrap_or_default();
            let mut interaction = Interaction {
                request: RecordedRequest {
                    method: e["method"].as_str().unwrap_or("GET").to_string(),
                    path: e["path"].as_str().unwrap_or("/").to_string(),
                    query: e["query"].as_str().map(str::to_string),
                    headers,
                    body: e["requestBody"].clone(),
                },
                response: RecordedResponse {
                    status: e["status"]
                        .as_u64()
                        .and_then(|s| u16::try_from(s).ok())
                        .unwrap_or(0),
                    headers: Map::new(),
                    body: e["responseBody"].clone(),
                },
                duration_ms: e["durationMicros"].as_u64().unwrap_or(0) / 1000,
            };
            redactor.interaction(&mut interaction);
            interaction
        })
        .collect();
    Cassette {
        format: CASSETTE_FORMAT.into(),
        upstream: None,
        interactions,
    }
}
