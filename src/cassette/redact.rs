//! Redaction by default: what a cassette must never keep (tokens, secrets, cookies, passwords,
//! authorization codes, signatures) is replaced; PII (e-mail addresses and UPNs, people's names)
//! is replaced by stable placeholders; and every GUID — tenant and object ids alike — is
//! remapped consistently, so links between objects survive while the real ids do not
//! (docs/RECORDING.md).
//!
//! Credentials are removed fail-closed, wherever they sit: by the name they are given (a JSON
//! member, a form field, a query option, or a `name=value` / `"name": value` pair inside any
//! text — see [`is_secret_key`]) and by their shape (JWTs, `Bearer`/`Basic` credentials, a URL's
//! `user:password@`), also after undoing up to three rounds of percent-encoding. A form body is
//! read leniently (a trailing `&`, literal spaces, pieces without `=`), because a body the parser
//! refuses must not be the one kept verbatim. Nothing here runs on the request path: only the
//! recording proxy, `import` and the journal's `?format=cassette` export call it.

use std::collections::HashMap;

use base64::Engine as _;
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

/// A key with one of these as a whole word segment names a credential.
const SECRET_WORDS: [&str; 19] = [
    "secret",
    "secrets",
    "password",
    "passwords",
    "passwd",
    "passphrase",
    "token",
    "tokens",
    "key",
    "keys",
    "assertion",
    "assertions",
    "credential",
    "credentials",
    "sig",
    "signature",
    "cookie",
    "cookies",
    "pkcs12",
];

/// Long enough not to hide inside ordinary words, so a lower-case run-on that contains one
/// (`clientsecret`, `accesstoken`, `newpassword`, `secrettext`) is a credential too.
const RUN_ON_WORDS: [&str; 6] = [
    "secret",
    "password",
    "passwd",
    "token",
    "assertion",
    "credential",
];

/// OData paging cursors: opaque, but not credentials
/// (https://learn.microsoft.com/graph/paging), and replay and `verify` need them as they are.
const CURSORS: [&str; 2] = ["skiptoken", "deltatoken"];

/// Whole keys (lower case, letters and digits only) that carry credentials without a secret
/// word: the `Authorization` header as a member, MSAL's `client_info` (the user's ids).
const SECRET_NAMES: [&str; 3] = ["authorization", "proxyauthorization", "clientinfo"];

/// A last segment saying the value describes or names a credential instead of being one:
/// `token_type` ("Bearer"), `client_assertion_type`, `credentialTypes`,
/// `verifiableCredentialSettings`, `SharedAccessKeyName`, `keyId`, OpenID metadata's
/// `token_endpoint` and `…_supported` (which clients read when replaying).
const DESCRIPTORS: [&str; 9] = [
    "type",
    "types",
    "settings",
    "endpoint",
    "uri",
    "url",
    "supported",
    "name",
    "id",
];

/// Segments that turn `code` into an OAuth code: `authorization_code`, `authCode`,
/// `device_code`, `user_code`, `code_verifier`.
const CODE_COMPANIONS: [&str; 5] = ["authorization", "auth", "device", "user", "verifier"];

/// Words after `Bearer` that describe the scheme in prose ("a Bearer token") rather than carry
/// a credential.
const SCHEME_PROSE: [&str; 9] = [
    "token",
    "tokens",
    "authentication",
    "authorization",
    "auth",
    "scheme",
    "header",
    "credential",
    "credentials",
];

pub const REDACTED: &str = "<redacted>";

/// Where a key was found. It matters for one word only: a bare `code` is OAuth's authorization
/// code as a form field or query option, but Graph's error code as a JSON member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyContext {
    /// A form field, a query option, a `name=value` pair in text.
    Parameter,
    /// A JSON member, a `"name": value` pair in text.
    Member,
}

/// Whether `key` names a credential. The key is cut into word segments at `_`, `-`, `.`, `$`
/// and other non-alphanumerics and at camelCase humps (`clientSecret` → client|secret,
/// `APIKey` → api|key, `pkcs12Value` → pkcs12|value), compared case-insensitively. It is a
/// credential when:
///
/// - a segment is a secret word (`secret`, `password`, `token`, `key`, `assertion`,
///   `credential`, `sig`, `signature`, `cookie`, `pkcs12`, plurals and `passwd`/`passphrase`),
///   or a lower-case run-on holds a long one (`accesstoken`) or ends in `key` (`apikey`) —
///   so `signInAudience` (sign|in|audience) is not one while `sig` is;
/// - `code` is a segment next to `authorization`, `auth`, `device`, `user` or `verifier`, or is
///   the whole key of a [`KeyContext::Parameter`]: OAuth's `code` travels as a query option or
///   form field (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow),
///   while a JSON member `code` is Graph's error code
///   (https://learn.microsoft.com/graph/errors) and `languageCode`/`countryCode` are ordinary;
/// - the whole key is `authorization` or `client_info`.
///
/// It is not one when the key is a paging cursor (`$skiptoken`, `$deltatoken`), when its last
/// segment only describes or names a credential (`token_type`, `client_assertion_type`,
/// `credentialTypes`, `token_endpoint`, `keyId`, `SharedAccessKeyName`), or when `credential`
/// comes with `verifiable`/`verified`: a policy's `verifiableCredentialSettings` and a request's
/// `verifiedCredentialsData` say which Verified ID types are required and which claims were
/// presented, and authenticate no one
/// (https://learn.microsoft.com/graph/api/resources/verifiablecredentialsettings?view=graph-rest-beta).
pub fn is_secret_key(key: &str, context: KeyContext) -> bool {
    let whole: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if CURSORS.contains(&whole.as_str()) {
        return false;
    }
    if SECRET_NAMES.contains(&whole.as_str()) {
        return true;
    }
    let segments = segments(key);
    let Some(last) = segments.last() else {
        return false;
    };
    if segments.len() > 1 && DESCRIPTORS.contains(&last.as_str()) {
        return false;
    }
    let has = |words: &[&str]| segments.iter().any(|s| words.contains(&s.as_str()));
    let verified = has(&["verifiable", "verified"]);
    segments.iter().any(|s| match s.as_str() {
        "code" => {
            (context == KeyContext::Parameter && segments.len() == 1) || has(&CODE_COMPANIONS)
        }
        "credential" | "credentials" if verified => false,
        s if CURSORS.contains(&s) => false,
        s => {
            SECRET_WORDS.contains(&s)
                || (s.len() > 3 && s.ends_with("key"))
                || RUN_ON_WORDS.iter().any(|w| s.contains(w))
        }
    })
}

/// `clientSecret` → `["client", "secret"]`; `x-API-Key` → `["x", "api", "key"]`.
fn segments(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !current.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push(std::mem::take(&mut current));
            }
        }
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// What counts as PII, beyond credentials (which are always removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiOptions {
    /// E-mail addresses and UPNs become `user{N}@contoso.example`.
    pub emails: bool,
    /// People's names: `displayName` of objects that look like users becomes `User {N}`,
    /// `givenName` and `surname` (which only people have) become `Given {N}` / `Surname {N}`.
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
    given_names: HashMap<String, String>,
    surnames: HashMap<String, String>,
}

impl Redactor {
    pub fn new(options: PiiOptions) -> Self {
        Redactor {
            options,
            ..Default::default()
        }
    }

    pub fn interaction(&mut self, i: &mut Interaction) {
        let request_form = is_form(&i.request.headers);
        let response_form = is_form(&i.response.headers);
        i.request.path = self.text(&i.request.path);
        i.request.query = i.request.query.as_deref().map(|q| self.pairs(q, true));
        i.request.headers = self.headers(&i.request.headers, &KEPT_REQUEST_HEADERS, true);
        i.request.body = self.body(std::mem::take(&mut i.request.body), request_form);
        i.response.headers = self.headers(&i.response.headers, &KEPT_RESPONSE_HEADERS, false);
        i.response.body = self.body(std::mem::take(&mut i.response.body), response_form);
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
                // A redirect's `Location` can carry a code or tokens in its query or fragment,
                // or a token in its path: the text rules find all of them.
                let text = self.text(value.as_str().unwrap_or_default());
                out.insert(lower, Value::String(text));
            }
        }
        out
    }

    /// A query string (`readable`: decoded, escaping only what would change how it parses) or
    /// a form body (each untouched piece kept byte for byte, so `verify` sends what was sent).
    /// Split on `&` alone, keeping empty pieces and pieces without `=`: nothing a strict form
    /// parser would refuse is let through unread.
    fn pairs(&mut self, text: &str, readable: bool) -> String {
        let mut out = Vec::new();
        for piece in text.split('&') {
            if piece.is_empty() {
                out.push(String::new());
                continue;
            }
            let (raw_key, raw_value) = match piece.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (piece, None),
            };
            let key = form_decode(raw_key);
            let shown_key = self.piece(raw_key, &key, readable, true);
            let Some(raw_value) = raw_value else {
                out.push(shown_key);
                continue;
            };
            let shown_value = if is_secret_key(&key, KeyContext::Parameter) {
                REDACTED.to_string()
            } else {
                self.piece(raw_value, &form_decode(raw_value), readable, false)
            };
            out.push(format!("{shown_key}={shown_value}"));
        }
        out.join("&")
    }

    /// One decoded form name or value, redacted as text and encoded back.
    fn piece(&mut self, raw: &str, decoded: &str, readable: bool, is_key: bool) -> String {
        let redacted = self.text(decoded);
        if readable {
            readable_escape(&redacted, is_key)
        } else if redacted == decoded {
            raw.to_string()
        } else {
            form_urlencoded::byte_serialize(redacted.as_bytes()).collect()
        }
    }

    fn body(&mut self, body: Value, form: bool) -> Value {
        match body {
            // A form-encoded body (the token endpoint's) is redacted field by field.
            Value::String(text) if form || looks_like_form(&text) => {
                Value::String(self.pairs(&text, false))
            }
            Value::String(text) => Value::String(self.document(&text)),
            other => self.value(other),
        }
    }

    /// JSON is walked as deep as serde_json parsed it (its recursion limit, 128, bounds this).
    fn value(&mut self, value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let person = self.options.people && looks_like_person(&map);
                let pair_secret = names_a_secret(&map);
                let mut out = Map::new();
                for (k, v) in map {
                    let name = match (&v, k.as_str()) {
                        (Value::String(name), "givenName") if self.options.people => {
                            Some(placeholder(&mut self.given_names, name, "Given"))
                        }
                        (Value::String(name), "surname") if self.options.people => {
                            Some(placeholder(&mut self.surnames, name, "Surname"))
                        }
                        (Value::String(name), "displayName") if person => {
                            Some(placeholder(&mut self.people, name, "User"))
                        }
                        _ => None,
                    };
                    let v =
                        if is_secret_key(&k, KeyContext::Member) || (pair_secret && k == "value") {
                            conceal(v)
                        } else if let Some(name) = name {
                            Value::String(name)
                        } else {
                            self.value(v)
                        };
                    out.insert(self.text(&k), v);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.value(v)).collect()),
            Value::String(s) => Value::String(self.text(&s)),
            other => other,
        }
    }

    /// Redacts inside one string: credentials by name and by shape, then GUIDs and e-mail
    /// addresses.
    pub fn text(&mut self, s: &str) -> String {
        self.redact_text(s, false)
    }

    /// Like [`Redactor::text`] for a whole body that is neither JSON nor a form (a log, YAML,
    /// a JSON body cut short), where `password: …` is a credential and not prose.
    fn document(&mut self, s: &str) -> String {
        self.redact_text(s, true)
    }

    fn redact_text(&mut self, s: &str, document: bool) -> String {
        let mut out = conceal_in_text(s, document);
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
}

fn placeholder(map: &mut HashMap<String, String>, name: &str, prefix: &str) -> String {
    let next = map.len() + 1;
    map.entry(name.to_string())
        .or_insert_with(|| format!("{prefix} {next}"))
        .clone()
}

/// Everything under a credential's name: strings and numbers go, the shape (and booleans such
/// as `forceChangePasswordNextSignIn`) stays. As deep as `Redactor::value` goes, no deeper.
fn conceal(value: Value) -> Value {
    match value {
        Value::String(_) | Value::Number(_) => Value::String(REDACTED.into()),
        Value::Array(items) => Value::Array(items.into_iter().map(conceal).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, conceal(v))).collect())
        }
        other => other,
    }
}

/// `{"name": "client_secret", "value": "…"}` (HAR, Graph's `keyValuePair`): the value is a
/// credential because of its sibling.
fn names_a_secret(map: &Map<String, Value>) -> bool {
    map.contains_key("value")
        && ["name", "key"].iter().any(|k| {
            map.get(*k)
                .and_then(Value::as_str)
                .is_some_and(|n| is_secret_key(n, KeyContext::Parameter))
        })
}

fn is_form(headers: &Map<String, Value>) -> bool {
    headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type")
            && v.as_str().is_some_and(|ct| {
                ct.to_ascii_lowercase()
                    .contains("application/x-www-form-urlencoded")
            })
    })
}

/// A body sent without a form content type is still read as one when it starts like one
/// (`name=`): reading a text as a form only ever redacts more.
fn looks_like_form(text: &str) -> bool {
    text.split('&')
        .find(|piece| !piece.is_empty())
        .and_then(|piece| piece.split_once('='))
        .is_some_and(|(key, _)| {
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.$%+[]~*".contains(&b))
        })
}

fn form_decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Decoded text that a form parser reads back the same: only `%`, `&`, `+`, `#`, a key's `=`
/// and control characters are escaped, so `$filter=displayName eq 'x'` stays readable.
fn readable_escape(text: &str, is_key: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' | '&' | '+' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            '=' if is_key => out.push_str("%3D"),
            c if c.is_ascii_control() => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Users and user-shaped subjects: their `displayName` is a person's name.
fn looks_like_person(map: &Map<String, Value>) -> bool {
    map.contains_key("userPrincipalName")
        || map.contains_key("givenName")
        || map.contains_key("surname")
        || map
            .get("@odata.type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("#microsoft.graph.user"))
        || map
            .get("subjectType")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("user"))
}

/// Credentials in one value's text (no PII rules): also in a copy with up to three rounds of
/// percent-encoding undone, which is kept instead when only it shows a credential.
pub fn conceal_text(s: &str) -> String {
    conceal_in_text(s, false)
}

fn conceal_in_text(s: &str, document: bool) -> String {
    let once = conceal_shapes(s, document);
    if !s.contains('%') {
        return once;
    }
    let mut decoded = s.to_string();
    for _ in 0..3 {
        let next = percent_encoding::percent_decode_str(&decoded)
            .decode_utf8_lossy()
            .into_owned();
        if next == decoded {
            break;
        }
        let concealed = conceal_shapes(&next, document);
        if concealed != next {
            return concealed;
        }
        decoded = next;
    }
    once
}

fn conceal_shapes(s: &str, document: bool) -> String {
    let s = replace_jwts(s);
    let s = replace_scheme_credentials(&s);
    let s = replace_userinfo(&s);
    replace_named_values(&s, document)
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The end of a JWT (JWS or JWE: a base64url JSON header `eyJ…`, then two to four more
/// dot-separated parts) starting at `i`.
fn jwt_end(b: &[u8], i: usize) -> Option<usize> {
    if !b[i..].starts_with(b"eyJ") || (i > 0 && is_base64url(b[i - 1])) {
        return None;
    }
    let run = |from: usize| {
        (from..b.len())
            .find(|&k| !is_base64url(b[k]))
            .unwrap_or(b.len())
    };
    let mut end = run(i);
    if end - i < 10 {
        return None;
    }
    let mut dots = 0;
    while dots < 4 && b.get(end) == Some(&b'.') {
        end = run(end + 1);
        dots += 1;
    }
    (dots >= 2).then_some(end)
}

/// Every JWT in `s`, anywhere (`Bearer eyJ…`, a path segment, a fragment), replaced.
fn replace_jwts(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut i, mut last) = (0, 0);
    while i + 3 <= b.len() {
        match jwt_end(b, i) {
            Some(end) => {
                out.push_str(&s[last..i]);
                out.push_str(REDACTED);
                out.push_str(":jwt");
                last = end;
                i = end;
            }
            None => i += 1,
        }
    }
    out.push_str(&s[last..]);
    out
}

fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// `Bearer <token>` (any token, opaque ones too) and `Basic <base64 of user:password>` in text
/// (RFC 9110 §11.4 credentials; RFC 6750, RFC 7617), but not `Bearer realm="…"` or prose.
fn replace_scheme_credentials(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut i, mut last) = (0, 0);
    while i < b.len() {
        let scheme = [&b"bearer"[..], &b"basic"[..]].into_iter().find(|w| {
            b.len() >= i + w.len()
                && b[i..i + w.len()].eq_ignore_ascii_case(w)
                && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
        });
        let Some(scheme) = scheme else {
            i += 1;
            continue;
        };
        let mut start = i + scheme.len();
        let spaced = start;
        while matches!(b.get(start), Some(b' ' | b'\t')) {
            start += 1;
        }
        let mut end = start;
        while end < b.len() && is_token68(b[end]) {
            end += 1;
        }
        let word = &s[start..end];
        while b.get(end) == Some(&b'=') {
            end += 1;
        }
        // `realm="x"` or `error=invalid_token` is an auth-param, not a token68.
        let auth_param =
            end > start + word.len() && b.get(end).is_some_and(|c| *c == b'"' || is_token68(*c));
        let credential = start > spaced
            && !word.is_empty()
            && !auth_param
            && if scheme == b"basic" {
                is_basic_credential(&s[start..end])
            } else {
                !SCHEME_PROSE.contains(&word.trim_end_matches('.').to_ascii_lowercase().as_str())
            };
        if credential {
            out.push_str(&s[last..start]);
            out.push_str(REDACTED);
            last = end;
            i = end;
        } else {
            i = spaced;
        }
    }
    out.push_str(&s[last..]);
    out
}

fn is_basic_credential(encoded: &str) -> bool {
    let engine = base64::engine::general_purpose::STANDARD;
    let Ok(bytes) = engine.decode(encoded).or_else(|_| {
        base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded.trim_end_matches('='))
    }) else {
        return false;
    };
    std::str::from_utf8(&bytes).is_ok_and(|t| t.contains(':'))
}

/// The password of `scheme://user:password@host` (RFC 3986 §3.2.1).
fn replace_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("://") {
        let authority_start = at + 3;
        out.push_str(&rest[..authority_start]);
        let tail = &rest[authority_start..];
        let authority_end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority
            .rfind('@')
            .and_then(|a| authority[..a].find(':').map(|c| (c, a)))
        {
            Some((colon, at_sign)) => {
                out.push_str(&authority[..=colon]);
                out.push_str(REDACTED);
                out.push_str(&authority[at_sign..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'$')
}

/// Where an unquoted value ends. In a parameter (`sig=…`) a comma may be part of the secret; in
/// a member (`"pin": 1234,`) it ends the value.
fn ends_value(b: u8, context: KeyContext) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b';' | b'"' | b'\'' | b'#' | b'<' | b'>' | b')' | b']' | b'}' | b'\\' | b'|'
        )
        || (b == b',' && context == KeyContext::Member)
}

/// The span to replace for a value starting at `v`: inside its quotes when quoted (JSON,
/// escaped JSON inside JSON, or shell-style), a whole bracketed JSON value, else up to the first
/// delimiter. An unclosed quote or bracket runs to the end: a cut body fails closed.
fn value_span(b: &[u8], v: usize, context: KeyContext) -> (usize, usize) {
    match b.get(v) {
        Some(b'\\') if b.get(v + 1) == Some(&b'"') => {
            let start = v + 2;
            let end = (start..b.len())
                .find(|&k| b[k] == b'\\' && b.get(k + 1) == Some(&b'"'))
                .unwrap_or(b.len());
            (start, end)
        }
        Some(&quote @ (b'"' | b'\'')) => {
            let start = v + 1;
            let mut end = start;
            while end < b.len() && b[end] != quote {
                end += if b[end] == b'\\' { 2 } else { 1 };
            }
            (start, end.min(b.len()))
        }
        Some(b'[' | b'{') if context == KeyContext::Member => (v, bracket_end(b, v)),
        _ => {
            let end = (v..b.len())
                .find(|&k| ends_value(b[k], context))
                .unwrap_or(b.len());
            (v, end)
        }
    }
}

/// The index after the bracket matching the one at `open`, skipping strings; no recursion.
fn bracket_end(b: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut k = open;
    while k < b.len() {
        match b[k] {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return k + 1;
                }
            }
            b'"' => {
                k += 1;
                while k < b.len() && b[k] != b'"' {
                    k += if b[k] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        k += 1;
    }
    b.len()
}

/// Values named by a credential's key inside text: `client_secret=…` in a URL, a connection
/// string (`AccountKey=…;`), a SAS (`…&sig=…`), `"refreshToken": "…"` in a cut or malformed JSON
/// body. An unquoted `password: …` counts only in a `document` (a text body): inside a JSON
/// string it is prose — "Signing key: rotate monthly" is an ordinary description.
fn replace_named_values(s: &str, document: bool) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut i, mut last) = (0, 0);
    while i < b.len() {
        if !is_key_byte(b[i]) || (i > 0 && is_key_byte(b[i - 1])) {
            i += 1;
            continue;
        }
        let key_end = (i..b.len())
            .find(|&k| !is_key_byte(b[k]))
            .unwrap_or(b.len());
        // A key may be closed by its quote (`"password": …`, `\"password\": …`) or bracket
        // (`client[secret]=…`), and spaced from its separator.
        let mut k = key_end;
        let quoted = if b.get(k) == Some(&b'\\') && b.get(k + 1) == Some(&b'"') {
            k += 2;
            true
        } else if matches!(b.get(k), Some(b'"' | b'\'' | b']')) {
            k += 1;
            true
        } else {
            false
        };
        while matches!(b.get(k), Some(b' ' | b'\t')) {
            k += 1;
        }
        let context = match b.get(k) {
            Some(b'=') => KeyContext::Parameter,
            Some(b':') if quoted || document => KeyContext::Member,
            _ => {
                i = key_end;
                continue;
            }
        };
        if !is_secret_key(&s[i..key_end], context) {
            i = key_end;
            continue;
        }
        let mut v = k + 1;
        while matches!(b.get(v), Some(b' ' | b'\t')) {
            v += 1;
        }
        let (start, mut end) = value_span(b, v, context);
        // `Authorization: Bearer x` names the scheme first: the credential is the next word,
        // unless the scheme rule has already replaced it.
        if ["bearer", "basic"]
            .iter()
            .any(|w| s[start..end].eq_ignore_ascii_case(w))
        {
            let next = (end..b.len())
                .find(|&k| !matches!(b[k], b' ' | b'\t'))
                .unwrap_or(b.len());
            if s[next..].starts_with(REDACTED) {
                i = next;
                continue;
            }
            end = (next..b.len())
                .find(|&k| ends_value(b[k], context))
                .unwrap_or(b.len());
        }
        let value = &s[start..end];
        let literal = context == KeyContext::Member && matches!(value, "true" | "false" | "null");
        if end > start && !literal && value != REDACTED {
            out.push_str(&s[last..start]);
            out.push_str(REDACTED);
            last = end;
        }
        i = end.max(key_end);
    }
    out.push_str(&s[last..]);
    out
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

    #[test]
    fn keys_are_secret_by_word_segment_and_ordinary_em_fields_are_not() {
        use KeyContext::{Member, Parameter};
        for key in [
            "clientSecret",
            "client_secret",
            "refreshToken",
            "newPassword",
            "currentPassword",
            "token",
            "apiKey",
            "api_key",
            "x-api-key",
            "APIKey",
            "Ocp-Apim-Subscription-Key",
            "sig",
            "access_token",
            "id_token_hint",
            "client_assertion",
            "SharedAccessKey",
            "AccountKey",
            "secretText",
            "accesstoken",
            "clientsecret",
            "passwordCredentials",
            "pkcs12Value",
            "authorization_code",
            "authCode",
            "device_code",
            "code_verifier",
            "client_info",
            "Authorization",
            "credential",
            "Cookie",
        ] {
            assert!(is_secret_key(key, Member), "{key} is a credential");
            assert!(is_secret_key(key, Parameter), "{key} is a credential");
        }
        assert!(is_secret_key("code", Parameter), "OAuth's code parameter");
        assert!(!is_secret_key("code", Member), "Graph's error code");
        for key in [
            "signInAudience",
            "countryCode",
            "languageCode",
            "errorCode",
            "verifiableCredentialSettings",
            "credentialTypes",
            "credentialType",
            "verifiedCredentialsData",
            "token_type",
            "client_assertion_type",
            "token_endpoint",
            "id_token_signing_alg_values_supported",
            "$skiptoken",
            "$skipToken",
            "$deltatoken",
            "authenticationConfiguration",
            "isApprovalRequiredForAdd",
            "@odata.nextLink",
            "accessPackageAssignmentPolicies",
            "blockSignInAndDelete",
            "grant_type",
            "scope",
            "state",
            "displayName",
            "description",
        ] {
            assert!(!is_secret_key(key, Member), "{key} is ordinary");
            assert!(!is_secret_key(key, Parameter), "{key} is ordinary");
        }
    }

    #[test]
    fn credentials_are_found_by_shape_and_name_in_any_text() {
        let jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJ4In0.c2ln";
        let cases = [
            (format!("Bearer {jwt}"), "Bearer <redacted>:jwt".to_string()),
            (
                format!("https://app.example/cb/{jwt}/done"),
                "https://app.example/cb/<redacted>:jwt/done".into(),
            ),
            ("Bearer opaque-0.AXoA".into(), "Bearer <redacted>".into()),
            (
                "Authorization: Basic dXNlcjpodW50ZXIy".into(),
                "Authorization: Basic <redacted>".into(),
            ),
            (
                "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=AbC%2Bd%3D&se=x".into(),
                "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=<redacted>&se=x".into(),
            ),
            (
                "Endpoint=sb://ns.example/;SharedAccessKeyName=root;SharedAccessKey=k3y=;EntityPath=q"
                    .into(),
                "Endpoint=sb://ns.example/;SharedAccessKeyName=root;SharedAccessKey=<redacted>;EntityPath=q"
                    .into(),
            ),
            (
                "https://ada:hunter2@proxy.example:8080/x".into(),
                "https://ada:<redacted>@proxy.example:8080/x".into(),
            ),
            (
                "next?redirect=https%3A%2F%2Fx%2Fcb%3Fcode%3Dsplx".into(),
                "next?redirect=https://x/cb?code=<redacted>".into(),
            ),
            (
                r#"{"a":1,"refreshToken":"0.AAA","keys":["k1","k2"],"pin":1234,"apiKey":"ab…"#.into(),
                r#"{"a":1,"refreshToken":"<redacted>","keys":<redacted>,"pin":1234,"apiKey":"<redacted>"#.into(),
            ),
            (
                r#"{\"clientSecret\":\"s3\"}"#.into(),
                r#"{\"clientSecret\":\"<redacted>\"}"#.into(),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(conceal_text(&input), expected, "{input}");
        }
        assert_eq!(
            conceal_in_text(
                "log password: correct horse\nauthorization: Bearer token",
                true
            ),
            "log password: <redacted> horse\nauthorization: <redacted>",
            "a text body is a document, where `name: value` is a pair"
        );
        for ordinary in [
            r#"{"error":{"code":"Request_ResourceNotFound","message":"x"}}"#,
            r#"Bearer realm="", authorization_uri="https://login.example/authorize""#,
            "Send a Bearer token.",
            "Basic settings",
            "$filter=startswith(displayName, 'Token') and catalog/id eq 'x'",
            "#microsoft.graph.azureAdPopTokenAuthentication",
            "https://graph.microsoft.com/v1.0/x?$skiptoken=WzEsIngiXQ",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            r#"{"localizations":[{"languageCode":"en-US","text":"Why?"}]}"#,
            "Signing key: rotate monthly",
        ] {
            assert_eq!(conceal_text(ordinary), ordinary);
        }
    }

    #[test]
    fn forms_are_read_leniently_and_untouched_pieces_kept_verbatim() {
        let mut r = Redactor::new(PiiOptions {
            emails: false,
            people: false,
            remap_ids: false,
        });
        let form = |r: &mut Redactor, body: &str, form_type: bool| {
            let mut headers = Map::new();
            if form_type {
                headers.insert(
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                );
            }
            r.body(Value::String(body.into()), is_form(&headers))
        };
        assert_eq!(
            form(&mut r, "client_id=a%2Db&client_secret=s3cr3t&", false),
            "client_id=a%2Db&client_secret=<redacted>&",
            "a trailing & is no reason to keep the body verbatim"
        );
        assert_eq!(
            form(
                &mut r,
                "grant_type=password&password=correct horse battery&scope=x y",
                true
            ),
            "grant_type=password&password=<redacted>&scope=x y"
        );
        assert_eq!(
            form(&mut r, "flag&code=0.AXo&&api_key=k", false),
            "flag&code=<redacted>&&api_key=<redacted>"
        );
        assert_eq!(
            form(&mut r, "note=see+https%3A%2F%2Fx%3Fsig%3Dabc", true),
            "note=see+https%3A%2F%2Fx%3Fsig%3D%3Credacted%3E",
            "a changed piece is encoded back"
        );
        assert_eq!(
            r.pairs(
                "%24filter=displayName%20eq%20'a%2Bb'&access_token=x&sig=y&",
                true
            ),
            "$filter=displayName eq 'a%2Bb'&access_token=<redacted>&sig=<redacted>&"
        );
    }

    #[test]
    fn given_names_and_surnames_are_personal_data_and_redaction_is_idempotent() {
        let mut r = Redactor::default();
        let body = json!({"value": [
            {"givenName": "Ada", "surname": "Lovelace", "displayName": "Ada Lovelace", "jobTitle": "Analyst"},
            {"givenName": "Ada", "surname": "Byron", "displayName": "Ada Byron"}]});
        let out = r.value(body);
        assert_eq!(
            out,
            json!({"value": [
                {"givenName": "Given 1", "surname": "Surname 1", "displayName": "User 1", "jobTitle": "Analyst"},
                {"givenName": "Given 1", "surname": "Surname 2", "displayName": "User 2"}]})
        );
        let mut again = Redactor::new(PiiOptions {
            emails: false,
            people: false,
            remap_ids: false,
        });
        let secret = json!({"clientSecret": "x", "nested": {"passwordProfile": {"password": "p", "forceChangePasswordNextSignIn": true}},
            "headers": [{"name": "Authorization", "value": "Basic dXNlcjpwYXNz"}], "code": "BadRequest"});
        let once = again.value(secret);
        assert_eq!(
            once,
            json!({"clientSecret": "<redacted>", "nested": {"passwordProfile": {"password": "<redacted>", "forceChangePasswordNextSignIn": true}},
                "headers": [{"name": "Authorization", "value": "<redacted>"}], "code": "BadRequest"})
        );
        assert_eq!(again.value(once.clone()), once);
    }
}
