//! Graph-aware comparison for `verify`: what legitimately differs between two runs of the same
//! exchange — GUIDs (compared by reference: the first id seen is `<guid:1>` on each side, so
//! "the same id as before" still has to hold), timestamps, `request-id`s, the host in
//! `@odata.context` / `nextLink`, skiptokens — is normalised away; everything else is compared
//! and reported as status / JSON path / expected / actual.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::redact::replace_guids;

/// Normalises one side; each side keeps its own GUID numbering across a whole cassette.
#[derive(Debug, Default)]
pub struct Normalizer {
    guids: HashMap<String, usize>,
}

impl Normalizer {
    pub fn value(&mut self, value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let v = match (k.as_str(), v) {
                        (
                            "@odata.context" | "@odata.nextLink" | "@odata.id" | "@odata.deltaLink",
                            Value::String(url),
                        ) => Value::String(self.text(&decoded(&without_host(url)))),
                        _ => self.value(v),
                    };
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::String(s) => Value::String(self.text(s)),
            other => other.clone(),
        }
    }

    pub fn text(&mut self, s: &str) -> String {
        if looks_like_timestamp(s) {
            return "<timestamp>".into();
        }
        let out = replace_guids(s, |g| {
            let next = self.guids.len() + 1;
            let n = *self.guids.entry(g.to_ascii_lowercase()).or_insert(next);
            format!("<guid:{n}>")
        });
        match out.find("skiptoken=") {
            Some(at) => {
                let end = out[at..].find('&').map_or(out.len(), |e| at + e);
                format!("{}skiptoken=<skiptoken>{}", &out[..at], &out[end..])
            }
            None => out,
        }
    }
}

fn without_host(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(slash) => rest[slash..].to_string(),
            None => "/".into(),
        },
        None => url.to_string(),
    }
}

/// A link's options as text: Graph echoes the caller's own query in `@odata.nextLink`, and
/// `$top` sent as `%24top` by one client and `$top` by another is the same request.
fn decoded(link: &str) -> String {
    percent_encoding::percent_decode_str(link)
        .decode_utf8_lossy()
        .into_owned()
}

/// RFC 3339 date-times and Graph's `innerError.date` (no zone).
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
}

/// One place where the emulator answered differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// `$` for the whole body, `$.value[0].displayName`, or `status`.
    pub path: String,
    pub expected: String,
    pub actual: String,
}

/// Differences between two normalised bodies, deepest first-found order.
pub fn diff(expected: &Value, actual: &Value) -> Vec<Divergence> {
    let mut out = Vec::new();
    walk("$", expected, actual, &mut out);
    out
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(v) => v.to_string(),
    }
}

fn walk(path: &str, expected: &Value, actual: &Value, out: &mut Vec<Divergence>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => walk(&p, ev, av, out),
                    None => out.push(Divergence {
                        path: p,
                        expected: show(Some(ev)),
                        actual: show(None),
                    }),
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) {
                    out.push(Divergence {
                        path: format!("{path}.{k}"),
                        expected: show(None),
                        actual: show(Some(av)),
                    });
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, ev) in e.iter().enumerate() {
                match a.get(i) {
                    Some(av) => walk(&format!("{path}[{i}]"), ev, av, out),
                    None => out.push(Divergence {
                        path: format!("{path}[{i}]"),
                        expected: show(Some(ev)),
                        actual: show(None),
                    }),
                }
            }
            for (i, av) in a.iter().enumerate().skip(e.len()) {
                out.push(Divergence {
                    path: format!("{path}[{i}]"),
                    expected: show(None),
                    actual: show(Some(av)),
                });
            }
        }
        (e, a) if e == a => {}
        (e, a) => out.push(Divergence {
            path: path.to_string(),
            expected: show(Some(e)),
            actual: show(Some(a)),
        }),
    }
}

/// A known, accepted divergence: a JSON path (`[*]` matches any index), optionally limited to
/// interactions whose `METHOD path` contains `request`, and why it is accepted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KnownDivergence {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    pub reason: String,
}

impl KnownDivergence {
    pub fn covers(&self, request: &str, divergence: &Divergence) -> bool {
        self.request.as_deref().is_none_or(|r| {
            request
                .to_ascii_lowercase()
                .contains(&r.to_ascii_lowercase())
        }) && path_matches(&self.path, &divergence.path)
    }
}

/// The register as the table of divergences from recorded Graph in `docs/PARITY.md` (generated:
/// a test keeps that file in step with the register file).
pub fn register_table(register: &[KnownDivergence]) -> String {
    let mut out = String::from("| JSON path | requests | why it is accepted |\n|---|---|---|\n");
    for k in register {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            k.path,
            k.request
                .as_deref()
                .map_or_else(|| "all".to_string(), |r| format!("`{r}`")),
            k.reason.replace('|', "\\|")
        ));
    }
    out
}

/// `$.value[*].id` matches `$.value[3].id`; a pattern also covers everything below it.
fn path_matches(pattern: &str, path: &str) -> bool {
    let (mut p, mut s) = (pattern.as_bytes(), path.as_bytes());
    loop {
        match (p.first(), s.first()) {
            (None, None) => return true,
            (None, Some(b'.' | b'[')) => return true,
            (Some(b'['), Some(b'[')) if p.starts_with(b"[*]") => {
                let Some(close) = s.iter().position(|b| *b == b']') else {
                    return false;
                };
                p = &p[3..];
                s = &s[close + 1..];
            }
            (Some(a), Some(b)) if a == b => {
                p = &p[1..];
                s = &s[1..];
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_compare_by_reference_and_noise_is_ignored() {
        let expected = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#x", "id": "11111111-1111-1111-1111-111111111111",
            "catalogId": "22222222-2222-2222-2222-222222222222", "createdDateTime": "2024-01-01T00:00:00Z", "isHidden": false});
        let actual = json!({"@odata.context": "http://127.0.0.1:5055/v1.0/$metadata#x", "id": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
            "catalogId": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "createdDateTime": "2026-11-26T01:00:00.1234567Z", "isHidden": true});
        let (mut e, mut a) = (Normalizer::default(), Normalizer::default());
        let found = diff(&e.value(&expected), &a.value(&actual));
        assert_eq!(
            found,
            vec![
                Divergence {
                    path: "$.catalogId".into(),
                    expected: "\"<guid:2>\"".into(),
                    actual: "\"<guid:1>\"".into()
                },
                Divergence {
                    path: "$.isHidden".into(),
                    expected: "false".into(),
                    actual: "true".into()
                },
            ],
            "a different id where the same one was expected is a divergence; the host and times are not"
        );
        let known = KnownDivergence {
            path: "$.value[*].isHidden".into(),
            request: Some("GET /v1.0".into()),
            reason: "r".into(),
        };
        let d = Divergence {
            path: "$.value[3].isHidden".into(),
            expected: String::new(),
            actual: String::new(),
        };
        assert!(known.covers("GET /v1.0/x", &d));
        assert!(!known.covers("POST /v1.0/x", &d));
        let link = |l: &str| Normalizer::default().value(&json!({"@odata.nextLink": l}));
        assert_eq!(
            link("https://graph.microsoft.com/v1.0/x?%24top=1&%24select=id%2Cname&$skiptoken=a"),
            link("http://127.0.0.1:1/v1.0/x?$top=1&$select=id,name&$skiptoken=b"),
            "how a client encoded its options is not a divergence"
        );
        assert!(path_matches("$.value", "$.value[0].id"));
        assert!(!path_matches("$.value", "$.values"));
    }
}
