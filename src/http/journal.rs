//! The request journal: every Graph request and its answer, kept in a bounded ring so a test
//! can ask "what did my code send?" and "was X called N times?" (`GET /_emulator/journal`).
//! Secrets never enter it: the `Authorization` header is replaced by who the caller was.
//! Its memory is capped (issue 19): at most `--journal-size` entries and `--journal-bytes` bytes
//! by its own accounting (`usage`), the oldest evicted first; each entry keeps its own copy of
//! what it shows, with long fields and bodies cut, so what it is charged for is what it holds.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{Caller, CallerKind};
use crate::clock::Timestamp;

/// How many exchanges are kept unless `--journal-size` says otherwise.
pub const DEFAULT_JOURNAL_SIZE: usize = 1000;

/// How many bytes the kept exchanges may hold, by the journal's own accounting, unless
/// `--journal-bytes` says otherwise: room for the default 1,000 entries of ordinary calls
/// (1-30 KiB each) while a stream of oversized requests evicts the oldest instead of growing.
pub const DEFAULT_JOURNAL_BYTES: usize = 64 * 1024 * 1024;

/// Bodies longer than this are cut (with `…` appended). Shorter response bodies are kept
/// without a copy: a page of 100 packages (~27 KiB) costs a reference count, not a memcpy.
const BODY_LIMIT: usize = 32 * 1024;

/// The longest path, query or kept header value an entry keeps; a longer one is cut there and
/// ends in `…`. Graph's own URLs and these headers are far shorter; a 60 KB URI is not a call
/// anyone needs to read back in full.
pub const FIELD_LIMIT: usize = 4 * 1024;

/// The longest method kept (Graph's are at most six letters; HTTP allows any token).
const METHOD_LIMIT: usize = 32;

/// What ends a cut field or body.
const MARKER: &str = "…";

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

/// Which parts of an entry were cut to their limit (`truncated` in the journal's JSON).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Truncated(u8);

impl Truncated {
    const METHOD: u8 = 1;
    const PATH: u8 = 2;
    const QUERY: u8 = 4;
    const HEADERS: u8 = 8;
    const REQUEST_BODY: u8 = 16;
    const RESPONSE_BODY: u8 = 32;
    const NAMES: [(u8, &'static str); 6] = [
        (Self::METHOD, "method"),
        (Self::PATH, "path"),
        (Self::QUERY, "query"),
        (Self::HEADERS, "requestHeaders"),
        (Self::REQUEST_BODY, "requestBody"),
        (Self::RESPONSE_BODY, "responseBody"),
    ];

    fn set(&mut self, flag: u8) {
        self.0 |= flag;
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The JSON names of the parts that were cut.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(flag, _)| self.0 & flag != 0)
            .map(|(_, name)| *name)
            .collect()
    }
}

/// `text` up to `FIELD_LIMIT` bytes (on a character boundary), and whether it was cut.
fn clip_text(text: &str) -> (&str, bool) {
    if text.len() <= FIELD_LIMIT {
        return (text, false);
    }
    let mut end = FIELD_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// What an entry keeps of its request's head: the method, path, query and kept header values,
/// copied into one allocation of its own and each cut at `FIELD_LIMIT`. Copied, not shared: a
/// request's URI and header values are views into the connection's read buffer, so holding
/// one — even a short `user-agent` — held every byte of that request's head (issue 19).
#[derive(Debug, Clone)]
pub struct Head {
    pub method: Method,
    /// The path, then the query, then the kept header values.
    text: Box<str>,
    path_end: u32,
    /// Where the query ends; `None` when the request had none.
    query_end: Option<u32>,
    /// Where each `KEPT_HEADERS` value ends, when the request sent it.
    header_ends: [Option<u32>; KEPT_HEADERS.len()],
    truncated: Truncated,
}

impl Head {
    /// Keeps the wanted request headers only; `Authorization` is never copied.
    pub fn new(method: &Method, uri: &Uri, headers: &HeaderMap) -> Self {
        // One pass over the request's few headers (names are already lower case) instead of a
        // hashed lookup per kept name.
        let mut kept: [Option<&str>; KEPT_HEADERS.len()] = [None; KEPT_HEADERS.len()];
        for (name, value) in headers {
            if let Some(slot) = KEPT_HEADERS.iter().position(|k| *k == name.as_str())
                && kept[slot].is_none()
                && let Ok(text) = value.to_str()
            {
                kept[slot] = Some(text);
            }
        }
        let mut truncated = Truncated::default();
        let method = if method.as_str().len() > METHOD_LIMIT {
            truncated.set(Truncated::METHOD);
            // A prefix of a method is a method (it is one token).
            Method::from_bytes(&method.as_str().as_bytes()[..METHOD_LIMIT])
                .unwrap_or_else(|_| method.clone())
        } else {
            method.clone()
        };
        let path = clip_text(uri.path());
        let query = uri.query().map(clip_text);
        let headers = kept.map(|v| v.map(clip_text));
        let len = |(t, cut): (&str, bool)| t.len() + if cut { MARKER.len() } else { 0 };
        let capacity = len(path)
            + query.map_or(0, len)
            + headers.iter().flatten().copied().map(len).sum::<usize>();
        let mut text = String::with_capacity(capacity);
        // Every part is at most FIELD_LIMIT plus the marker, so offsets fit in a u32.
        let mut push = |(part, cut): (&str, bool), flag: u8| {
            text.push_str(part);
            if cut {
                text.push_str(MARKER);
                truncated.set(flag);
            }
            u32::try_from(text.len()).unwrap_or(u32::MAX)
        };
        let path_end = push(path, Truncated::PATH);
        let query_end = query.map(|q| push(q, Truncated::QUERY));
        let header_ends = headers.map(|h| h.map(|h| push(h, Truncated::HEADERS)));
        Head {
            method,
            text: text.into_boxed_str(),
            path_end,
            query_end,
            header_ends,
            truncated,
        }
    }

    fn slice(&self, from: u32, to: u32) -> &str {
        self.text.get(from as usize..to as usize).unwrap_or("")
    }

    pub fn path(&self) -> &str {
        self.slice(0, self.path_end)
    }

    pub fn query(&self) -> Option<&str> {
        self.query_end.map(|end| self.slice(self.path_end, end))
    }

    /// The kept headers in `KEPT_HEADERS` order, with their values.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let mut from = self.query_end.unwrap_or(self.path_end);
        KEPT_HEADERS
            .iter()
            .zip(self.header_ends)
            .filter_map(move |(name, end)| {
                let end = end?;
                let value = self.slice(from, end);
                from = end;
                Some((*name, value))
            })
    }

    /// The bytes this head holds.
    fn bytes(&self) -> usize {
        self.text.len() + self.method.as_str().len()
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub sequence: u64,
    pub time: Timestamp,
    pub tenant: Option<Uuid>,
    pub head: Head,
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

impl Entry {
    /// What this entry holds, from lengths it already has: its own struct, the head's text,
    /// the bodies, and whatever the caller and the decisions carry. Allocator rounding, and
    /// the spare capacity a response body's buffer may have (less than its length), are not
    /// counted [approximated].
    fn bytes(&self) -> usize {
        std::mem::size_of::<Stored>()
            + self.head.bytes()
            + self.request_body.len()
            + self.response_body.len()
            + self
                .caller
                .as_ref()
                .and_then(|c| c.name.as_ref())
                .map_or(0, String::len)
            + self.faults.len() * std::mem::size_of::<u64>()
            + self.required.len() * std::mem::size_of::<crate::authz::Requirement>()
            // Decisions are rare (refusals); only then is there anything to walk.
            + self
                .decisions
                .iter()
                .map(crate::sizes::value_bytes)
                .sum::<usize>()
    }
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

/// The ring, shared by every tenant (entries carry their tenant). Bounded twice: by entries
/// (`--journal-size`) and by bytes (`--journal-bytes`, by `Entry::bytes`); whichever is
/// reached first evicts the oldest entries.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    max_bytes: usize,
    inner: Mutex<Ring>,
}

/// An entry as the ring holds it: what it costs and what was cut.
#[derive(Debug)]
struct Stored {
    bytes: usize,
    truncated: Truncated,
    entry: Entry,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Stored>,
    next: u64,
    /// The sum of the kept entries' `bytes`.
    bytes: usize,
    /// Entries dropped to stay within the caps (evicted, or too large to keep at all).
    evicted: u64,
}

/// How full the journal is (`usage` in `GET /_emulator/journal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub entries: usize,
    pub bytes: usize,
    pub max_entries: usize,
    pub max_bytes: usize,
    /// Entries dropped so far to stay within the caps (not reset by clearing).
    pub evicted: u64,
}

/// A body as an entry keeps it, and whether it was cut. A request body is copied: it may be a
/// view into the connection's read buffer, holding the request's whole head.
fn keep_body(bytes: Bytes, copy: bool) -> (Bytes, bool) {
    if bytes.len() > BODY_LIMIT {
        let mut cut = Vec::with_capacity(BODY_LIMIT + MARKER.len());
        cut.extend_from_slice(&bytes[..BODY_LIMIT]);
        cut.extend_from_slice(MARKER.as_bytes());
        return (Bytes::from(cut), true);
    }
    if copy && !bytes.is_empty() {
        return (Bytes::copy_from_slice(&bytes), false);
    }
    (bytes, false)
}

/// Reads a byte count: a number, optionally with `KiB`, `MiB` or `GiB` (or `K`, `M`, `G`).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "'{text}' is not a size like 67108864, 512KiB or 64MiB"
            ));
        }
    };
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("'{text}' is not a size like 67108864, 512KiB or 64MiB"))
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
            .is_none_or(|m| m.eq_ignore_ascii_case(e.head.method.as_str()))
            && self.path.as_deref().is_none_or(|p| {
                e.head
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
    /// At most `capacity` entries and `max_bytes` bytes; either at 0 turns the journal off.
    pub fn new(capacity: usize, max_bytes: usize) -> Self {
        Journal {
            capacity,
            max_bytes,
            inner: Mutex::new(Ring::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0 && self.max_bytes > 0
    }

    pub fn record(&self, mut entry: Entry) {
        if !self.enabled() {
            return;
        }
        let mut truncated = entry.head.truncated;
        let (request_body, cut) = keep_body(std::mem::take(&mut entry.request_body), true);
        if cut {
            truncated.set(Truncated::REQUEST_BODY);
        }
        let (response_body, cut) = keep_body(std::mem::take(&mut entry.response_body), false);
        if cut {
            truncated.set(Truncated::RESPONSE_BODY);
        }
        entry.request_body = request_body;
        entry.response_body = response_body;
        let bytes = entry.bytes();
        let mut ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        entry.sequence = ring.next;
        ring.next += 1;
        if bytes > self.max_bytes {
            // Larger than the whole budget even after cutting: keeping it would break the cap.
            ring.evicted += 1;
            return;
        }
        while ring.entries.len() >= self.capacity || ring.bytes + bytes > self.max_bytes {
            let Some(oldest) = ring.entries.pop_front() else {
                break;
            };
            ring.bytes -= oldest.bytes;
            ring.evicted += 1;
        }
        ring.bytes += bytes;
        ring.entries.push_back(Stored {
            bytes,
            truncated,
            entry,
        });
    }

    /// Matching entries, oldest first, and how many there are.
    pub fn query(&self, filter: &Filter) -> (usize, Vec<Value>) {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let matching: Vec<&Stored> = ring
            .entries
            .iter()
            .filter(|s| filter.matches(&s.entry))
            .collect();
        (matching.len(), matching.into_iter().map(to_json).collect())
    }

    /// How many entries and bytes are kept, against the caps.
    pub fn usage(&self) -> Usage {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Usage {
            entries: ring.entries.len(),
            bytes: ring.bytes,
            max_entries: self.capacity,
            max_bytes: self.max_bytes,
            evicted: ring.evicted,
        }
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
            .map(|s| &s.entry)
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
        ring.bytes = 0;
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

fn to_json(stored: &Stored) -> Value {
    let e = &stored.entry;
    let headers: serde_json::Map<String, Value> = e
        .head
        .headers()
        .map(|(k, v)| (k.to_string(), json!(v)))
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
        "method": e.head.method.as_str(),
        "path": e.head.path(),
        "query": e.head.query(),
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
        "truncated": stored.truncated.names(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(method: &str, path: &str, status: u16) -> Entry {
        let uri: Uri = path.parse().unwrap();
        Entry {
            sequence: 0,
            time: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            tenant: None,
            head: Head::new(
                &Method::from_bytes(method.as_bytes()).unwrap(),
                &uri,
                &HeaderMap::new(),
            ),
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
        let journal = Journal::new(2, DEFAULT_JOURNAL_BYTES);
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
        assert_eq!(items[0]["truncated"], json!([]));
        assert_eq!(journal.usage().evicted, 1);
    }

    #[test]
    fn long_bodies_are_cut_and_a_zero_size_journal_keeps_nothing() {
        let journal = Journal::new(1, DEFAULT_JOURNAL_BYTES);
        let mut big = entry("POST", "/x", 201);
        big.request_body = Bytes::from(vec![b'a'; BODY_LIMIT * 2]);
        journal.record(big);
        let (_, items) = journal.query(&Filter::default());
        assert!(items[0]["requestBody"].as_str().unwrap().ends_with('…'));
        assert_eq!(items[0]["truncated"], json!(["requestBody"]));
        for off in [Journal::new(0, 1 << 20), Journal::new(10, 0)] {
            off.record(entry("GET", "/x", 200));
            assert_eq!(off.query(&Filter::default()).0, 0);
        }
    }

    /// The defect of issue 19: a kept header value, the URI or a short body was a view into the
    /// request's read buffer, so every entry held its request's whole head (300 KB headers
    /// kept 300 KB per entry, whatever the journal showed).
    #[test]
    fn an_entry_holds_no_part_of_the_request_buffer() {
        let buffer = Bytes::from(vec![b'a'; 300 * 1024]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "user-agent",
            axum::http::HeaderValue::from_maybe_shared(buffer.slice(..40)).unwrap(),
        );
        headers.insert(
            "x-padding",
            axum::http::HeaderValue::from_maybe_shared(buffer.slice(40..)).unwrap(),
        );
        let mut target = b"/v1.0/x?q=".to_vec();
        target.extend_from_slice(&buffer[..20]);
        let request_buffer = Bytes::from(target);
        let uri = Uri::from_maybe_shared(request_buffer.clone()).unwrap();
        let journal = Journal::new(10, DEFAULT_JOURNAL_BYTES);
        let mut e = entry("POST", "/", 201);
        e.head = Head::new(&Method::POST, &uri, &headers);
        e.request_body = buffer.slice(..10);
        journal.record(e);
        drop((headers, uri));
        assert!(
            buffer.is_unique(),
            "the entry still holds the header buffer"
        );
        assert!(request_buffer.is_unique(), "the entry still holds the URI");
        let (_, items) = journal.query(&Filter::default());
        assert_eq!(items[0]["requestHeaders"]["user-agent"], "a".repeat(40));
        assert_eq!(items[0]["requestHeaders"].as_object().unwrap().len(), 1);
        assert_eq!(items[0]["query"], format!("q={}", "a".repeat(20)));
        assert_eq!(items[0]["requestBody"], "a".repeat(10));
    }

    #[test]
    fn long_fields_are_cut_with_a_marker_and_counted_as_kept() {
        let long = "b".repeat(FIELD_LIMIT * 3);
        let uri: Uri = format!("/v1.0/{long}?$filter={long}").parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("user-agent", long.parse().unwrap());
        headers.insert("prefer", "return=minimal".parse().unwrap());
        let method = Method::from_bytes("M".repeat(100).as_bytes()).unwrap();
        let journal = Journal::new(10, DEFAULT_JOURNAL_BYTES);
        let mut e = entry("GET", "/", 200);
        e.head = Head::new(&method, &uri, &headers);
        journal.record(e);
        let (_, items) = journal.query(&Filter::default());
        let item = &items[0];
        let cut = |v: &Value| {
            let text = v.as_str().unwrap();
            assert!(text.ends_with('…'), "{text}");
            assert_eq!(text.len(), FIELD_LIMIT + MARKER.len());
        };
        cut(&item["path"]);
        cut(&item["query"]);
        cut(&item["requestHeaders"]["user-agent"]);
        assert_eq!(item["requestHeaders"]["prefer"], "return=minimal");
        assert_eq!(item["method"], "M".repeat(METHOD_LIMIT));
        assert_eq!(
            item["truncated"],
            json!(["method", "path", "query", "requestHeaders"])
        );
        // What the entry keeps is what it is charged for: under 4 fields, never the 36 KB sent.
        let usage = journal.usage();
        assert!(usage.bytes > 3 * FIELD_LIMIT, "{usage:?}");
        assert!(usage.bytes < 4 * FIELD_LIMIT + 1024, "{usage:?}");
    }

    #[test]
    fn the_byte_budget_evicts_the_oldest_and_never_keeps_more() {
        let budget = 64 * 1024;
        let journal = Journal::new(1000, budget);
        for i in 0..100 {
            let mut e = entry("POST", &format!("/v1.0/n{i}"), 201);
            e.request_body = Bytes::from(vec![b'c'; 3000]);
            e.decisions = vec![json!({"rule": "d".repeat(500)})];
            journal.record(e);
            let usage = journal.usage();
            assert!(usage.bytes <= budget, "{usage:?}");
        }
        let usage = journal.usage();
        assert!(usage.entries < 100 && usage.entries > 10, "{usage:?}");
        assert_eq!(usage.evicted, 100 - usage.entries as u64);
        let (_, items) = journal.query(&Filter::default());
        assert_eq!(
            items.last().unwrap()["path"],
            "/v1.0/n99",
            "the newest is kept"
        );
        let first = items[0]["sequence"].as_u64().unwrap();
        assert_eq!(
            first,
            100 - usage.entries as u64,
            "the kept ones are the newest"
        );
        // One entry larger than the whole budget is not kept, and evicts nothing.
        let mut huge = entry("POST", "/v1.0/huge", 201);
        huge.decisions = vec![json!({"rule": "e".repeat(budget)})];
        journal.record(huge);
        assert_eq!(journal.usage().entries, usage.entries);
        assert_eq!(journal.usage().evicted, usage.evicted + 1);
        journal.clear();
        assert_eq!(journal.usage().bytes, 0);
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("67108864"), Ok(64 << 20));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("99999999999999999999G").is_err());
    }
}
