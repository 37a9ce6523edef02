//! The request journal: every Graph request and its answer, kept in a bounded ring so a test
//! can ask "what did my code send?" and "was X called N times?" (`GET /_emulator/journal`).
//! Secrets never enter it: the `Authorization` header is replaced by who the caller was.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, Uri};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{Caller, CallerKind};
use crate::clock::Timestamp;

/// How many exchanges are kept unless `--journal-size` says otherwise.
pub const DEFAULT_JOURNAL_SIZE: usize = 1000;

/// Bodies longer than this are cut (with `…` appended), so the ring stays bounded in bytes too
/// (at most 64 MiB for the default 1,000 entries). Shorter ones are kept without a copy: a page
/// of 100 packages (~27 KiB) costs a reference count, not a memcpy.
const BODY_LIMIT: usize = 32 * 1024;

/// Request headers worth keeping; anything else (cookies, proxies' headers) is dropped.
const KEPT_HEADERS: [&str; 7] = [
    "content-type",
    "retry-attempt",
    "client-request-id",
    "consistencylevel",
    "prefer",
    "if-match",
    "user-agent",
];

#[derive(Debug, Clone)]
pub struct Entry {
    pub sequence: u64,
    pub time: Timestamp,
    pub tenant: Option<Uuid>,
    // The request's own method, URI and header values, held by reference count: an entry is
    // made for every call and read back rarely, so it copies no text.
    pub method: Method,
    pub uri: Uri,
    /// Kept headers in `KEPT_HEADERS` order; every value is visible ASCII.
    pub headers: Vec<(&'static str, HeaderValue)>,
    pub caller: Option<CallerSummary>,
    pub request_body: Bytes,
    pub status: u16,
    pub request_id: Option<Uuid>,
    pub response_body: Bytes,
    pub micros: u64,
    /// Set for the items of a `$batch`.
    pub in_batch: bool,
    /// Fault rules that fired on this call.
    pub faults: Vec<u64>,
    /// Why the call was refused (or, with `--auth soft`, what was waived).
    pub decisions: Vec<Value>,
    /// What the operation table required of the call.
    pub required: Vec<crate::authz::Requirement>,
}

/// Who called, without the token.
#[derive(Debug, Clone)]
pub struct CallerSummary {
    pub kind: CallerKind,
    pub object_id: Option<Uuid>,
    pub name: Option<String>,
}

impl CallerSummary {
    pub fn of(caller: &Caller) -> Self {
        CallerSummary {
            kind: caller.kind,
            object_id: caller.object_id,
            name: caller.actor.clone(),
        }
    }
}

/// The ring, shared by every tenant (entries carry their tenant).
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Entry>,
    next: u64,
}

fn clip(bytes: Bytes) -> Bytes {
    if bytes.len() <= BODY_LIMIT {
        return bytes;
    }
    let mut cut = bytes.slice(..BODY_LIMIT).to_vec();
    cut.extend_from_slice("…".as_bytes());
    Bytes::from(cut)
}

/// What a query on the journal asks for; every part optional.
#[derive(Debug, Default)]
pub struct Filter {
    pub method: Option<String>,
    /// A case-insensitive substring of the path.
    pub path: Option<String>,
    pub status: Option<u16>,
    pub tenant: Option<Uuid>,
    /// Only entries after this sequence number.
    pub after: Option<u64>,
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(e.method.as_str()))
            && self.path.as_deref().is_none_or(|p| {
                e.uri
                    .path()
                    .to_ascii_lowercase()
                    .contains(&p.to_ascii_lowercase())
            })
            && self.status.is_none_or(|s| s == e.status)
            && self.tenant.is_none_or(|t| Some(t) == e.tenant)
            && self.after.is_none_or(|a| e.sequence > a)
    }
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Journal {
            capacity,
            inner: Mutex::new(Ring::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Keeps only the wanted request headers; `Authorization` is never copied.
    pub fn headers(headers: &axum::http::HeaderMap) -> Vec<(&'static str, HeaderValue)> {
        // One pass over the request's few headers (names are already lower case) instead of a
        // hashed lookup per kept name; the result stays in `KEPT_HEADERS` order.
        let mut kept: [Option<&HeaderValue>; KEPT_HEADERS.len()] = [None; KEPT_HEADERS.len()];
        for (name, value) in headers {
            if let Some(slot) = KEPT_HEADERS.iter().position(|k| *k == name.as_str())
                && kept[slot].is_none()
                && value.to_str().is_ok()
            {
                kept[slot] = Some(value);
            }
        }
        KEPT_HEADERS
            .iter()
            .zip(kept)
            .filter_map(|(name, value)| Some((*name, value?.clone())))
            .collect()
    }

    pub fn record(&self, mut entry: Entry) {
        if !self.enabled() {
            return;
        }
        entry.request_body = clip(entry.request_body);
        entry.response_body = clip(entry.response_body);
        let mut ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        entry.sequence = ring.next;
        ring.next += 1;
        if ring.entries.len() == self.capacity {
            ring.entries.pop_front();
        }
        ring.entries.push_back(entry);
    }

    /// Matching entries, oldest first, and how many there are.
    pub fn query(&self, filter: &Filter) -> (usize, Vec<Value>) {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let matching: Vec<&Entry> = ring.entries.iter().filter(|e| filter.matches(e)).collect();
        (matching.len(), matching.into_iter().map(to_json).collect())
    }

    /// What the calls that went through (status below 400) required, for the least-privilege
    /// report.
    pub fn requirements(&self, tenant: Option<Uuid>) -> (usize, Vec<crate::authz::Requirement>) {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut calls = 0;
        let mut all = Vec::new();
        for e in ring
            .entries
            .iter()
            .filter(|e| e.status < 400 && tenant.is_none_or(|t| Some(t) == e.tenant))
        {
            calls += 1;
            all.extend(e.required.iter().copied());
        }
        (calls, all)
    }

    pub fn clear(&self) {
        let mut ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        ring.entries.clear();
    }
}

/// A body as JSON when it is JSON, else as text; `null` when empty.
fn body_json(bytes: &Bytes) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn to_json(e: &Entry) -> Value {
    let headers: serde_json::Map<String, Value> = e
        .headers
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!(v.to_str().unwrap_or_default())))
        .collect();
    let caller = e.caller.as_ref().map(|c| {
        json!({
            "kind": match c.kind {
                CallerKind::Delegated => "user",
                CallerKind::Application => "application",
                CallerKind::Unauthenticated => "none",
            },
            "objectId": c.object_id,
            "name": c.name,
        })
    });
    json!({
        "sequence": e.sequence,
        "time": e.time,
        "tenant": e.tenant,
        "method": e.method.as_str(),
        "path": e.uri.path(),
        "query": e.uri.query(),
        "inBatch": e.in_batch,
        "faults": e.faults,
        "decisions": e.decisions,
        "caller": caller,
        "requestHeaders": headers,
        "requestBody": body_json(&e.request_body),
        "status": e.status,
        "requestId": e.request_id,
        "responseBody": body_json(&e.response_body),
        "durationMicros": e.micros,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(method: &str, path: &str, status: u16) -> Entry {
        Entry {
            sequence: 0,
            time: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            tenant: None,
            method: Method::from_bytes(method.as_bytes()).unwrap(),
            uri: path.parse().unwrap(),
            headers: Vec::new(),
            caller: None,
            request_body: Bytes::new(),
            status,
            request_id: None,
            response_body: Bytes::from_static(b"{\"id\":1}"),
            micros: 1,
            in_batch: false,
            faults: Vec::new(),
            decisions: Vec::new(),
            required: Vec::new(),
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_and_filters() {
        let journal = Journal::new(2);
        journal.record(entry("GET", "/v1.0/a", 200));
        journal.record(entry("POST", "/v1.0/b", 201));
        journal.record(entry("POST", "/v1.0/B/c", 400));
        let (all, _) = journal.query(&Filter::default());
        assert_eq!(all, 2, "the oldest was dropped");
        let posts = Filter {
            method: Some("post".into()),
            path: Some("/b".into()),
            ..Default::default()
        };
        let (n, items) = journal.query(&posts);
        assert_eq!(n, 2);
        assert_eq!(items[1]["sequence"], 2);
        assert_eq!(items[0]["responseBody"], json!({"id": 1}));
    }

    #[test]
    fn long_bodies_are_cut_and_a_zero_size_journal_keeps_nothing() {
        let journal = Journal::new(1);
        let mut big = entry("POST", "/x", 201);
        big.request_body = Bytes::from(vec![b'a'; BODY_LIMIT * 2]);
        journal.record(big);
        let (_, items) = journal.query(&Filter::default());
        assert!(items[0]["requestBody"].as_str().unwrap().ends_with('…'));
        let off = Journal::new(0);
        off.record(entry("GET", "/x", 200));
        assert_eq!(off.query(&Filter::default()).0, 0);
    }
}
