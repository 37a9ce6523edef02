//! Verify: replay a cassette's requests against an emulator and compare its answers with what
//! was recorded, Graph-aware (`normalize`). Ids the emulator invents are learned as they appear
//! (a recorded id and the emulator's id at the same place in the same answer are the same
//! object), so later requests naming a recorded id reach the emulator's object. Divergences a
//! register accepts are counted but not failures.

use std::collections::HashMap;

use serde_json::Value;

use super::normalize::{Divergence, KnownDivergence, Normalizer, diff};
use super::redact::replace_guids;
use super::{Cassette, body_bytes, body_value};

/// One divergence, placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// 1-based position in the cassette.
    pub interaction: usize,
    /// `METHOD path` of the recorded request.
    pub request: String,
    pub divergence: Divergence,
    /// The register's reason, when the divergence is a known one.
    pub accepted: Option<String>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub checked: usize,
    pub found: Vec<Found>,
}

impl Report {
    /// Divergences no register entry accepts: what fails CI.
    pub fn new_divergences(&self) -> impl Iterator<Item = &Found> {
        self.found.iter().filter(|f| f.accepted.is_none())
    }

    /// `#N METHOD path — json.path: expected X, actual Y`, one per line, accepted ones marked.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.found {
            out.push_str(&format!(
                "#{} {} — {}: expected {}, actual {}{}\n",
                f.interaction,
                f.request,
                f.divergence.path,
                f.divergence.expected,
                f.divergence.actual,
                f.accepted
                    .as_ref()
                    .map(|r| format!(" (known: {r})"))
                    .unwrap_or_default()
            ));
        }
        let new = self.new_divergences().count();
        out.push_str(&format!(
            "{} interactions checked, {} divergences ({} new, {} known)\n",
            self.checked,
            self.found.len(),
            new,
            self.found.len() - new
        ));
        out
    }
}

fn is_guid(s: &str) -> bool {
    s.len() == 36 && replace_guids(s, |_| String::new()).is_empty()
}

/// Pairs up ids at the same places of the recorded and the actual answer.
fn learn_ids(recorded: &Value, actual: &Value, ids: &mut HashMap<String, String>) {
    match (recorded, actual) {
        (Value::String(r), Value::String(a)) if is_guid(r) && is_guid(a) => {
            ids.entry(r.to_ascii_lowercase())
                .or_insert_with(|| a.to_ascii_lowercase());
        }
        (Value::Object(r), Value::Object(a)) => {
            for (k, rv) in r {
                if let Some(av) = a.get(k) {
                    learn_ids(rv, av, ids);
                }
            }
        }
        (Value::Array(r), Value::Array(a)) => {
            for (rv, av) in r.iter().zip(a) {
                learn_ids(rv, av, ids);
            }
        }
        _ => {}
    }
}

fn translate(text: &str, ids: &HashMap<String, String>) -> String {
    replace_guids(text, |g| {
        ids.get(&g.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| g.to_string())
    })
}

fn translate_value(value: &Value, ids: &HashMap<String, String>) -> Value {
    match value {
        Value::String(s) => Value::String(translate(s, ids)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| translate_value(v, ids)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), translate_value(v, ids)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Sends every recorded request to `base` (an emulator), with `token` as the bearer when
/// given, and compares the answers.
pub async fn verify(
    cassette: &Cassette,
    base: &str,
    token: Option<&str>,
    register: &[KnownDivergence],
) -> Result<Report, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let mut ids: HashMap<String, String> = HashMap::new();
    let (mut expected_side, mut actual_side) = (Normalizer::default(), Normalizer::default());
    let mut report = Report::default();
    for (n, interaction) in cassette.interactions.iter().enumerate() {
        let r = &interaction.request;
        let path = translate(&r.path, &ids);
        let query = r.query.as_deref().map(|q| translate(q, &ids));
        let url = match &query {
            Some(q) if !q.is_empty() => {
                let encoded: String = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form_urlencoded::parse(q.as_bytes()))
                    .finish();
                format!("{base}{path}?{encoded}")
            }
            _ => format!("{base}{path}"),
        };
        let method = reqwest::Method::from_bytes(r.method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = client.request(method, url);
        if let Some(ct) = r.headers.get("content-type").and_then(Value::as_str) {
            request = request.header("content-type", ct);
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = translate_value(&r.body, &ids);
        if !body.is_null() {
            request = request.body(body_bytes(&body));
        }
        let answer = request
            .send()
            .await
            .map_err(|e| format!("#{} {} {}: {e}", n + 1, r.method, r.path))?;
        let status = answer.status().as_u16();
        let actual = body_value(&answer.bytes().await.map_err(|e| e.to_string())?);
        let recorded = &interaction.response;
        learn_ids(&recorded.body, &actual, &mut ids);
        let mut divergences = Vec::new();
        if status != recorded.status {
            divergences.push(Divergence {
                path: "status".into(),
                expected: recorded.status.to_string(),
                actual: status.to_string(),
            });
        }
        divergences.extend(diff(
            &expected_side.value(&recorded.body),
            &actual_side.value(&actual),
        ));
        let request_line = format!("{} {}", r.method, r.path);
        for divergence in divergences {
            let accepted = register
                .iter()
                .find(|k| k.covers(&request_line, &divergence))
                .map(|k| k.reason.clone());
            report.found.push(Found {
                interaction: n + 1,
                request: request_line.clone(),
                divergence,
                accepted,
            });
        }
        report.checked += 1;
    }
    Ok(report)
}
