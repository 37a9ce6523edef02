//! Redaction by default: what a cassette must never keep (tokens, secrets, cookies, passwords,
//! authorization codes) is replaced; PII (e-mail addresses and UPNs, people's display names) is
//! replaced by stable placeholders; and every GUID — tenant and object ids alike — is remapped
//! consistently, so links between objects survive while the real ids do not
//! (`emulator-anchors.md` §3 theme 10, §4 item 12).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::Interaction;

/// Request headers worth keeping; everything else (authorization, cookies, proxies', machine
/// names in user agents) is dropped. `authorization` is kept as a redacted marker.
const KEPT_REQUEST_HEADERS: [&str; 6] = [
    "content-type",
    "accept",
    "consistencylevel",
    "prefer",
    "if-match",
    "odata-version",
];
const KEPT_RESPONSE_HEADERS: [&str; 4] =
    ["content-type", "location", "retry-after", "odata-version"];

/// JSON keys whose values are credentials (`error.code` and the like stay: `code` is a
/// credential only as a form field).
const SECRET_KEYS: [&str; 11] = [
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "assertion",
    "password",
    "client_info",
    "secrettext",
    "authorization",
    "code_verifier",
];

/// Form fields and query options that carry credentials, beyond `SECRET_KEYS`.
const SECRET_FIELDS: [&str; 3] = ["code", "token", "secret"];

pub const REDACTED: &str = "<redacted>";

/// What counts as PII, beyond credentials (which are always removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiOptions {
    /// E-mail addresses and UPNs become `user{N}@contoso.example`.
    pub emails: bool,
    /// People's display names (objects that look like users) become `User {N}`.
    pub people: bool,
    /// Every GUID becomes `00000000-0000-4000-8000-{N}` (first seen, first numbered).
    pub remap_ids: bool,
}

impl Default for PiiOptions {
    fn default() -> Self {
        PiiOptions {
            emails: true,
            people: true,
            remap_ids: true,
        }
    }
}

/// Redacts a stream of interactions with one consistent mapping.
#[derive(Debug, Default)]
pub struct Redactor {
    pub options: PiiOptions,
    guids: HashMap<String, String>,
    emails: HashMap<String, String>,
    people: HashMap<String, String>,
}

impl Redactor {
    pub fn new(options: PiiOptions) -> Self {
        Redactor {
            options,
            ..Default::default()
        }
    }

    pub fn interaction(&mut self, i: &mut Interaction) {
        i.request.path = self.text(&i.request.path);
        i.request.query = i.request.query.as_deref().map(|q| self.query(q));
        i.request.headers = self.headers(&i.request.headers, &KEPT_REQUEST_HEADERS, true);
        i.request.body = self.body(std::mem::take(&mut i.request.body));
        i.response.headers = self.headers(&i.response.headers, &KEPT_RESPONSE_HEADERS, false);
        i.response.body = self.body(std::mem::take(&mut i.response.body));
    }

    fn headers(
        &mut self,
        headers: &Map<String, Value>,
        kept: &[&str],
        request: bool,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            if request && lower == "authorization" {
                // That a token was sent matters to replay; the token does not.
                out.insert(lower, Value::String(format!("Bearer {REDACTED}")));
            } else if kept.contains(&lower.as_str()) {
                let text = value.as_str().unwrap_or_default();
                // A redirect can carry an authorization code or tokens in its query or fragment.
                let text = match text.split_once(['?', '#']) {
                    Some((base, params)) if lower == "location" => {
                        let separator = &text[base.len()..=base.len()];
                        format!("{}{separator}{}", self.text(base), self.query(params))
                    }
                    _ => self.text(text),
                };
                out.insert(lower, Value::String(text));
            }
        }
        out
    }

    fn query(&mut self, query: &str) -> String {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .map(|(k, v)| {
                let v = self.field(&k, &v);
                (k, v)
            })
            .collect();
        // Re-encode only when something changed shape; keep `$` and spaces readable.
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace('&', "%26")))
            .collect::<Vec<_>>()
            .join("&")
    }

    fn body(&mut self, body: Value) -> Value {
        match body {
            // A form-encoded body (the token endpoint's) is redacted field by field.
            Value::String(text) if looks_like_form(&text) => {
                let fields: Vec<String> = form_urlencoded::parse(text.as_bytes())
                    .into_owned()
                    .map(|(k, v)| {
                        let v = self.field(&k, &v);
                        form_urlencoded::Serializer::new(String::new())
                            .append_pair(&k, &v)
                            .finish()
                    })
                    .collect();
                Value::String(fields.join("&"))
            }
            other => self.value(other),
        }
    }

    fn value(&mut self, value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let person = self.options.people && looks_like_person(&map);
                let mut out = Map::new();
                for (k, v) in map {
                    let v = if is_secret_key(&k) && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else if person && k == "displayName" {
                        match v.as_str() {
                            Some(name) => Value::String(self.person(name)),
                            None => v,
                        }
                    } else {
                        self.value(v)
                    };
                    out.insert(k, v);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.value(v)).collect()),
            Value::String(s) => Value::String(self.text(&s)),
            other => other,
        }
    }

    /// A form field or query option: credentials replaced whole, the rest redacted as text.
    fn field(&mut self, key: &str, value: &str) -> String {
        if is_secret_field(key) {
            REDACTED.to_string()
        } else {
            self.text(value)
        }
    }

    /// Redacts inside one string: JWTs, GUIDs, e-mail addresses.
    pub fn text(&mut self, s: &str) -> String {
        if looks_like_jwt(s) {
            return format!("{REDACTED}:jwt");
        }
        let mut out = s.to_string();
        if self.options.remap_ids {
            out = replace_guids(&out, |g| {
                let next = self.guids.len() + 1;
                self.guids
                    .entry(g.to_ascii_lowercase())
                    .or_insert_with(|| format!("00000000-0000-4000-8000-{next:012x}"))
                    .clone()
            });
        }
        if self.options.emails {
            out = replace_emails(&out, |e| {
                let next = self.emails.len() + 1;
                self.emails
                    .entry(e.to_ascii_lowercase())
                    .or_insert_with(|| format!("user{next}@contoso.example"))
                    .clone()
            });
        }
        out
    }

    fn person(&mut self, name: &str) -> String {
        let next = self.people.len() + 1;
        self.people
            .entry(name.to_string())
            .or_insert_with(|| format!("User {next}"))
            .clone()
    }
}

fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_KEYS.contains(&lower.as_str())
}

fn is_secret_field(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    is_secret_key(&lower) || SECRET_FIELDS.contains(&lower.as_str())
}

fn looks_like_form(text: &str) -> bool {
    text.contains('=')
        && !text.contains(' ')
        && text
            .split('&')
            .all(|pair| pair.split_once('=').is_some_and(|(k, _)| !k.is_empty()))
}

/// Users and user-shaped subjects: their `displayName` is a person's name.
fn looks_like_person(map: &Map<String, Value>) -> bool {
    map.contains_key("userPrincipalName")
        || map
            .get("@odata.type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("#microsoft.graph.user"))
        || map
            .get("subjectType")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("user"))
}

fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && s.starts_with("eyJ")
        && parts[..2].iter().all(|p| {
            p.len() >= 4
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn is_guid_at(bytes: &[u8], i: usize) -> bool {
    const DASHES: [usize; 4] = [8, 13, 18, 23];
    bytes.len() >= i + 36
        && (0..36).all(|k| {
            let b = bytes[i + k];
            if DASHES.contains(&k) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
        && (i == 0 || !bytes[i - 1].is_ascii_hexdigit())
        && bytes.get(i + 36).is_none_or(|b| !b.is_ascii_hexdigit())
}

/// Every GUID in `s` replaced by `f(guid)`.
pub fn replace_guids(s: &str, mut f: impl FnMut(&str) -> String) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut last = 0;
    while i + 36 <= bytes.len() {
        if is_guid_at(bytes, i) {
            out.push_str(&s[last..i]);
            out.push_str(&f(&s[i..i + 36]));
            i += 36;
            last = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[last..]);
    out
}

fn email_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'#')
}

/// Every e-mail address or UPN in `s` replaced by `f(address)`.
pub fn replace_emails(s: &str, mut f: impl FnMut(&str) -> String) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'@' {
            let mut start = i;
            while start > last && email_char(bytes[start - 1]) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'.' | b'-'))
            {
                end += 1;
            }
            let domain = s[i + 1..end].trim_end_matches('.');
            let end = i + 1 + domain.len();
            if start < i && domain.contains('.') && !domain.starts_with('.') {
                out.push_str(&s[last..start]);
                out.push_str(&f(&s[start..end]));
                last = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{RecordedRequest, RecordedResponse};
    use serde_json::json;

    #[test]
    fn secrets_never_survive_and_ids_map_consistently() {
        let token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJ4In0.c2ln";
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let user = "6e7b768e-07e2-4810-8459-485f84f8f204";
        let mut i = Interaction {
            request: RecordedRequest {
                method: "POST".into(),
                path: format!("/{tenant}/oauth2/v2.0/token"),
                query: None,
                headers: json!({"Authorization": format!("Bearer {token}"), "Cookie": "x=1", "Content-Type": "application/x-www-form-urlencoded"})
                    .as_object()
                    .cloned()
                    .unwrap(),
                body: json!("client_id=abc&client_secret=s3cr3t&grant_type=password&username=ada%40contoso.com&password=hunter2"),
            },
            response: RecordedResponse {
                status: 200,
                headers: json!({"Set-Cookie": "fpc=1", "request-id": user, "Location": "http://localhost:8400/?code=0.AXoAsecretcode&state=s"}).as_object().cloned().unwrap(),
                body: json!({"access_token": token, "refresh_token": "0.AAAA", "user": {"id": user, "userPrincipalName": "ada@contoso.com", "displayName": "Ada Lovelace", "tenant": tenant}}),
            },
            duration_ms: 1,
        };
        let mut r = Redactor::default();
        r.interaction(&mut i);
        let all = serde_json::to_string(&i).unwrap();
        for secret in [
            token,
            "s3cr3t",
            "hunter2",
            "0.AAAA",
            "x=1",
            "fpc=1",
            tenant,
            user,
            "ada@contoso.com",
            "Ada Lovelace",
            "0.AXoAsecretcode",
        ] {
            assert!(!all.contains(secret), "{secret} leaked: {all}");
        }
        assert_eq!(
            i.response.headers["location"],
            "http://localhost:8400/?code=<redacted>&state=s"
        );
        assert_eq!(
            i.request.path,
            "/00000000-0000-4000-8000-000000000001/oauth2/v2.0/token"
        );
        assert_eq!(
            i.response.body["user"]["tenant"], "00000000-0000-4000-8000-000000000001",
            "the same id maps the same way"
        );
        assert_eq!(i.response.body["user"]["displayName"], "User 1");
        assert_eq!(
            i.response.body["user"]["userPrincipalName"],
            "user1@contoso.example"
        );
        assert!(
            i.request
                .body
                .as_str()
                .unwrap()
                .contains("username=user1%40contoso.example")
        );
        assert_eq!(i.request.headers["authorization"], "Bearer <redacted>");
        assert!(!i.response.headers.contains_key("set-cookie"));
    }

    #[test]
    fn guids_and_emails_are_found_inside_text() {
        let mut n = 0;
        let s = replace_guids(
            "a('11111111-2222-3333-4444-555555555555')b 11111111-2222-3333-4444-5555555555556",
            |_| {
                n += 1;
                "G".into()
            },
        );
        assert_eq!(s, "a('G')b 11111111-2222-3333-4444-5555555555556");
        let e = replace_emails(
            "mail gary_partner.example#EXT#@contoso.onmicrosoft.com, or a@b.",
            |_| "E".into(),
        );
        assert_eq!(e, "mail E, or a@b.");
    }
}
