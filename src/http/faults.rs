//! Deterministic fault injection: rules a test sets through `POST /_emulator/faults` that make
//! matching Graph calls fail the way Graph fails (429 with `Retry-After`, 503, any error) or
//! answer late, on a schedule counted in matching calls — never by chance or wall time — so a
//! retry policy can be tested exactly.

use std::sync::Mutex;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::envelope::{Answer, ERROR_JSON, RequestCtx};
use crate::clock::Timestamp;

/// When a rule fires, counted over the calls it matches (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Schedule {
    /// The next N matching calls, then never again.
    Next(u64),
    /// Every Nth matching call, without end (unbounded by choice).
    EveryNth(u64),
    /// Matching calls k through m.
    Calls([u64; 2]),
    /// Each matching call with this probability, drawn from the emulator's seeded fault
    /// stream: with `--seed`, the same calls in the same order fail every run.
    Probability(f64),
    /// A token bucket per caller and tenant: `requests` per `seconds` of emulator time, refilled
    /// as the clock moves (so a fixed clock throttles until advanced). Graph's global limit is
    /// `{"requests": 130000, "seconds": 10}` per app
    /// (https://learn.microsoft.com/graph/throttling-limits).
    TokenBucket { requests: u64, seconds: u64 },
}

impl Schedule {
    fn fires(self, nth: u64, draw: impl FnOnce() -> f64) -> bool {
        match self {
            Schedule::Next(n) => nth <= n,
            Schedule::EveryNth(n) => n > 0 && nth % n == 0,
            Schedule::Calls([from, to]) => (from..=to).contains(&nth),
            Schedule::Probability(p) => draw() < p,
            // Decided by the bucket, not by the count (see `Faults::decide_at`).
            Schedule::TokenBucket { .. } => false,
        }
    }
}

/// What a firing rule does.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Effect {
    /// An error answer instead of the operation (default 429). 0 = no error, only latency.
    #[serde(default = "default_status")]
    pub status: u16,
    /// Default: `TooManyRequests` for 429, `ServiceUnavailable` for 503, `GatewayTimeout` for
    /// 504, else `BadRequest`.
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// Whole seconds for the `Retry-After` header (an integer is what SDKs parse safely;
    /// https://learn.microsoft.com/graph/throttling).
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Added before answering (the operation still runs unless `status` is an error).
    #[serde(default)]
    pub latency_ms: u64,
    /// Up to this much more, uniformly, drawn from the seeded fault stream (the same calls get
    /// the same delays in every seeded run).
    #[serde(default)]
    pub latency_jitter_ms: u64,
    /// Close the connection instead of answering (the client sees it drop mid-response).
    #[serde(default)]
    pub drop: bool,
}

fn default_status() -> u16 {
    429
}

/// A rule as the control API takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRule {
    #[serde(default)]
    pub method: Option<String>,
    /// A case-insensitive substring of the path.
    #[serde(default)]
    pub path: Option<String>,
    /// What the call addresses, as the router names it (case-insensitive): `AccessPackages`
    /// (the collection), `AccessPackage` (one), `Requests`, `Request`, `Policies`, `Catalog`, …
    /// — unlike a path substring, it tells a collection from its items.
    #[serde(default)]
    pub operation: Option<String>,
    #[serde(default)]
    pub tenant: Option<Uuid>,
    pub schedule: Schedule,
    #[serde(default = "default_effect")]
    pub effect: Effect,
}

fn default_effect() -> Effect {
    Effect {
        status: 429,
        code: None,
        message: None,
        retry_after: Some(1),
        latency_ms: 0,
        latency_jitter_ms: 0,
        drop: false,
    }
}

/// Token buckets by (tenant, caller): tokens left and when they were last refilled.
type Buckets = std::collections::HashMap<(Option<Uuid>, Option<Uuid>), (f64, Timestamp)>;

#[derive(Debug, Clone)]
struct Rule {
    id: u64,
    new: NewRule,
    matched: u64,
    fired: u64,
    /// Token buckets by caller and tenant: tokens left, when last refilled.
    buckets: Buckets,
}

/// Takes one token from the caller's bucket; when there is none, the whole seconds until there
/// will be one (the `Retry-After` Graph would send).
fn take_token(
    buckets: &mut Buckets,
    key: (Option<Uuid>, Option<Uuid>),
    (requests, seconds): (u64, u64),
    now: Timestamp,
) -> Option<u64> {
    let rate = requests as f64 / seconds.max(1) as f64;
    let (tokens, last) = buckets.entry(key).or_insert((requests as f64, now));
    let elapsed = (now.unix_micros() - last.unix_micros()).max(0) as f64 / 1e6;
    *tokens = (*tokens + elapsed * rate).min(requests as f64);
    *last = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        return None;
    }
    Some(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
}

/// The rules of the whole process, in creation order.
pub struct Faults {
    inner: Mutex<(Vec<Rule>, u64)>,
    /// Every Graph call is matched against each rule, so their number is capped.
    max_rules: usize,
    /// Where probability schedules draw from (a seeded id stream when the emulator has a seed).
    draws: Box<dyn crate::ids::IdGen>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").finish_non_exhaustive()
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults::new(Box::new(crate::ids::RandomIds))
    }
}

/// Why a rule was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleRefused {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "there are already {0} fault rules, the limit: delete some (DELETE /_emulator/faults[/ID]) \
         or start the emulator with --max-fault-rules N (or EMULATOR_MAX_FAULT_RULES)"
    )]
    Full(usize),
}

/// What the rules decided for one call.
#[derive(Debug, Default)]
pub struct Decision {
    /// Rule ids that fired (for the journal).
    pub fired: Vec<u64>,
    pub latency_ms: u64,
    pub error: Option<Effect>,
}

impl Faults {
    pub fn new(draws: Box<dyn crate::ids::IdGen>) -> Self {
        Faults {
            inner: Mutex::new((Vec::new(), 0)),
            max_rules: super::DEFAULT_MAX_FAULT_RULES,
            draws,
        }
    }

    /// At most `max_rules` rules at a time (`--max-fault-rules`).
    pub fn with_max_rules(mut self, max_rules: usize) -> Self {
        self.max_rules = max_rules;
        self
    }

    /// A number in [0, 1) from the draw stream.
    fn draw(&self) -> f64 {
        let bytes = self.draws.next_id().into_bytes();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap_or([0; 8]));
        (n >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn add(&self, new: NewRule) -> Result<Value, RuleRefused> {
        self.check(&new).map_err(RuleRefused::Invalid)?;
        // A refused rule must not use up an id: ids are part of the deterministic output.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if guard.0.len() >= self.max_rules {
            return Err(RuleRefused::Full(self.max_rules));
        }
        let id = guard.1 + 1;
        guard.1 = id;
        let rule = Rule {
            id,
            new,
            matched: 0,
            fired: 0,
            buckets: Default::default(),
        };
        let shown = rule_json(&rule);
        guard.0.push(rule);
        Ok(shown)
    }

    fn check(&self, new: &NewRule) -> Result<(), String> {
        if let Schedule::Probability(p) = new.schedule {
            if !(0.0..=1.0).contains(&p) {
                return Err("probability must be between 0 and 1".into());
            }
        }
        if let Schedule::Calls([from, to]) = new.schedule {
            if from == 0 || to < from {
                return Err("calls must be [k, m] with 1 <= k <= m".into());
            }
        }
        if new.schedule == Schedule::EveryNth(0) {
            return Err("everyNth must be at least 1".into());
        }
        if new.effect.status != 0 && !(400..=599).contains(&new.effect.status) {
            return Err("status must be an error (400-599), or 0 for latency only".into());
        }
        if let Schedule::TokenBucket { requests, seconds } = new.schedule {
            if requests == 0 || seconds == 0 {
                return Err("tokenBucket needs requests and seconds of at least 1".into());
            }
        }
        Ok(())
    }

    pub fn list(&self) -> Vec<Value> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.iter().map(rule_json).collect()
    }

    /// Removes one rule, or all with `None`; false when the id is unknown.
    pub fn remove(&self, id: Option<u64>) -> bool {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match id {
            None => {
                guard.0.clear();
                true
            }
            Some(id) => {
                let before = guard.0.len();
                guard.0.retain(|r| r.id != id);
                guard.0.len() != before
            }
        }
    }

    #[cfg(test)]
    fn decide(&self, method: &str, path: &str, tenant: Option<Uuid>) -> Decision {
        let epoch = Timestamp::from_datetime(time::OffsetDateTime::UNIX_EPOCH);
        self.decide_at(method, path, "", tenant, None, epoch)
    }

    /// True when no rule is armed, so a call can skip deciding.
    pub fn is_empty(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .is_empty()
    }

    /// Counts this call against every matching rule; the first firing error wins, latencies add.
    /// `caller` and `now` (emulator time) feed token buckets.
    pub fn decide_at(
        &self,
        method: &str,
        path: &str,
        operation: &str,
        tenant: Option<Uuid>,
        caller: Option<Uuid>,
        now: Timestamp,
    ) -> Decision {
        let mut decision = Decision::default();
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if guard.0.is_empty() {
            return decision;
        }
        let lower = path.to_ascii_lowercase();
        for rule in guard.0.iter_mut() {
            let r = &rule.new;
            let matches = r
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && r.path
                    .as_deref()
                    .is_none_or(|p| lower.contains(&p.to_ascii_lowercase()))
                && r.operation
                    .as_deref()
                    .is_none_or(|o| o.eq_ignore_ascii_case(operation))
                && r.tenant.is_none_or(|t| Some(t) == tenant);
            if !matches {
                continue;
            }
            rule.matched += 1;
            let mut effect = r.effect.clone();
            let fires = match r.schedule {
                Schedule::TokenBucket { requests, seconds } => {
                    match take_token(
                        &mut rule.buckets,
                        (tenant, caller),
                        (requests, seconds),
                        now,
                    ) {
                        Some(wait) => {
                            // The bucket knows when a token returns: that is the Retry-After.
                            effect.retry_after = Some(wait);
                            true
                        }
                        None => false,
                    }
                }
                schedule => schedule.fires(rule.matched, || self.draw()),
            };
            if !fires {
                continue;
            }
            rule.fired += 1;
            decision.fired.push(rule.id);
            let jitter = if effect.latency_jitter_ms > 0 {
                (self.draw() * (effect.latency_jitter_ms + 1) as f64) as u64
            } else {
                0
            };
            decision.latency_ms = decision
                .latency_ms
                .saturating_add(effect.latency_ms)
                .saturating_add(jitter.min(effect.latency_jitter_ms));
            if (effect.status != 0 || effect.drop) && decision.error.is_none() {
                decision.error = Some(effect);
            }
        }
        decision
    }
}

fn rule_json(r: &Rule) -> Value {
    json!({"id": r.id, "method": r.new.method, "path": r.new.path, "tenant": r.new.tenant,
           "schedule": r.new.schedule, "effect": r.new.effect, "matched": r.matched, "fired": r.fired})
}

/// A body that fails on its first read: hyper then closes the connection without finishing
/// the response, which is what a client sees when a connection drops.
struct Dropped;

pub(super) fn dropped_body() -> Body {
    Body::new(Dropped)
}

impl http_body::Body for Dropped {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fault rule: connection dropped",
        ))))
    }
}

/// Graph's answer for an injected error: the throttling body of
/// https://learn.microsoft.com/graph/throttling for 429,
/// the usual envelope otherwise, with `Retry-After` when the rule gives one.
/// `throttle_scope` is Graph's `x-ms-throttle-scope` for the caller
/// (`Tenant_Application/ReadWrite/{appId}/{tenantId}`,
/// https://learn.microsoft.com/graph/throttling-limits), sent with a 429.
pub fn answer(ctx: &RequestCtx, effect: &Effect, throttle_scope: Option<&str>) -> Answer {
    if effect.drop {
        // The client sees only the connection end; no status or body arrives.
        let mut answer = Answer::new(StatusCode::OK, None, axum::body::Bytes::new());
        answer.dropped = true;
        return answer;
    }
    let status = StatusCode::from_u16(effect.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let default_code = match effect.status {
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "BadRequest",
    };
    let code = effect.code.as_deref().unwrap_or(default_code);
    let body = if effect.status == 429 {
        json!({"error": {"code": code,
            "innerError": {"code": "429", "date": ctx.now.inner_error_date(),
                           "message": "Please retry after", "request-id": ctx.request_id, "status": "429"},
            "message": effect.message.as_deref().unwrap_or("Please retry again later.")}})
    } else {
        json!({"error": {"code": code,
            "message": effect.message.as_deref().unwrap_or("The service is temporarily unavailable."),
            "innerError": {"date": ctx.now.inner_error_date(), "request-id": ctx.request_id,
                           "client-request-id": ctx.client_request_id}}})
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut answer = Answer::new(status, Some(ERROR_JSON), bytes.into());
    answer.retry_after = effect.retry_after.map(HeaderValue::from);
    if effect.status == 429 {
        if let Some(scope) = throttle_scope.and_then(|s| HeaderValue::from_str(s).ok()) {
            answer
                .extra
                .push((HeaderName::from_static("x-ms-throttle-scope"), scope));
        }
        answer.extra.push((
            HeaderName::from_static("x-ms-throttle-information"),
            HeaderValue::from_static("ResourceUnitLimitExceeded"),
        ));
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(schedule: Schedule) -> NewRule {
        NewRule {
            method: Some("GET".into()),
            path: Some("/accessPackages".into()),
            operation: None,
            tenant: None,
            schedule,
            effect: default_effect(),
        }
    }

    #[test]
    fn operations_tell_a_collection_from_its_items() {
        let faults = Faults::default();
        let mut only_items = rule(Schedule::EveryNth(1));
        only_items.operation = Some("accesspackage".into());
        faults.add(only_items).unwrap();
        let at = Timestamp::from_datetime(time::OffsetDateTime::UNIX_EPOCH);
        let list = faults.decide_at(
            "GET",
            "/v1.0/x/accessPackages",
            "AccessPackages",
            None,
            None,
            at,
        );
        assert!(list.error.is_none(), "the collection is another operation");
        let one = faults.decide_at(
            "GET",
            "/v1.0/x/accessPackages/1",
            "AccessPackage",
            None,
            None,
            at,
        );
        assert!(one.error.is_some());
    }

    #[test]
    fn jitter_is_bounded_and_repeats_for_a_seed() {
        let delays = |seed| {
            let faults =
                Faults::new(crate::ids::IdSource::Seeded(seed).generator(crate::ids::FAULT_STREAM));
            let mut slow = rule(Schedule::EveryNth(1));
            slow.effect = Effect {
                status: 0,
                latency_ms: 10,
                latency_jitter_ms: 40,
                ..default_effect()
            };
            faults.add(slow).unwrap();
            (0..20)
                .map(|_| faults.decide("GET", "/accessPackages", None).latency_ms)
                .collect::<Vec<_>>()
        };
        let first = delays(3);
        assert!(first.iter().all(|d| (10..=50).contains(d)), "{first:?}");
        assert!(first.iter().any(|d| *d != first[0]), "it varies: {first:?}");
        assert_eq!(first, delays(3), "and repeats for the same seed");
    }

    #[test]
    fn schedules_count_matching_calls_only() {
        let faults = Faults::default();
        faults.add(rule(Schedule::Calls([2, 3]))).unwrap();
        let fired: Vec<bool> = (0..5)
            .map(|_| {
                // A call the rule does not match does not move its count.
                let other = faults.decide("POST", "/v1.0/x/accessPackages", None);
                assert!(other.error.is_none());
                faults
                    .decide("GET", "/v1.0/X/AccessPackages/1", None)
                    .error
                    .is_some()
            })
            .collect();
        assert_eq!(fired, vec![false, true, true, false, false]);
        assert!(faults.remove(None));
        faults.add(rule(Schedule::EveryNth(2))).unwrap();
        let every: Vec<bool> = (0..4)
            .map(|_| {
                faults
                    .decide("GET", "/accessPackages", None)
                    .error
                    .is_some()
            })
            .collect();
        assert_eq!(every, vec![false, true, false, true]);
    }

    #[test]
    fn probabilities_repeat_with_the_seed() {
        let pattern = || {
            let faults = Faults::new(crate::ids::IdSource::Seeded(9).generator(4));
            faults.add(rule(Schedule::Probability(0.5))).unwrap();
            (0..1000)
                .map(|_| {
                    faults
                        .decide("GET", "/accessPackages", None)
                        .error
                        .is_some()
                })
                .collect::<Vec<bool>>()
        };
        let first = pattern();
        assert_eq!(first, pattern(), "the same seed fails the same calls");
        let failed = first.iter().filter(|f| **f).count();
        assert!((400..=600).contains(&failed), "{failed} of 1000 at p = 0.5");
        let never = Faults::default();
        never.add(rule(Schedule::Probability(0.0))).unwrap();
        assert!((0..100).all(|_| never.decide("GET", "/accessPackages", None).error.is_none()));
        assert!(
            Faults::default()
                .add(rule(Schedule::Probability(1.5)))
                .is_err()
        );
    }

    #[test]
    fn nonsense_rules_are_refused() {
        let faults = Faults::default();
        assert!(faults.add(rule(Schedule::Calls([3, 2]))).is_err());
        assert!(faults.add(rule(Schedule::EveryNth(0))).is_err());
        let mut odd = rule(Schedule::Next(1));
        odd.effect.status = 200;
        assert!(faults.add(odd).is_err());
    }
}
