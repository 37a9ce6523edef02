//! Bearer tokens to `Caller`s (the type itself is `crate::model::caller`), with a cache of checked tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use serde_json::Value;
use uuid::Uuid;

use super::keys::SigningKey;
use super::{AuthMode, GRAPH_APP_ID};
use crate::clock::wall_clock_now;
use crate::error::GraphError;
use crate::model::caller::{Caller, CallerKind};

/// Audiences Graph accepts (the `aud` claim,
/// https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference;
/// which spellings pass is the emulator's decision).
fn audience_ok(aud: &Value) -> bool {
    let ok = |s: &str| {
        let s = s.trim_end_matches('/');
        s.eq_ignore_ascii_case("https://graph.microsoft.com")
            || s.eq_ignore_ascii_case(GRAPH_APP_ID)
    };
    match aud {
        Value::String(s) => ok(s),
        Value::Array(items) => items.iter().any(|a| a.as_str().is_some_and(ok)),
        _ => false,
    }
}

/// Tokens whose `nbf` lies this far in the future are still accepted (clock skew).
const CLOCK_SKEW_SECONDS: i64 = 300;

/// A token that passed every check that does not depend on time or on which tenants exist.
#[derive(Debug)]
struct CheckedToken {
    caller: Arc<Caller>,
    exp: i64,
    nbf: Option<i64>,
}

/// Tokens already decoded and checked, by their text: a test suite sends the same few tokens
/// thousands of times, and decoding (later, verifying a signature) each time cost ~40 % of a
/// GET by id (docs/BENCHMARK.md). Time and tenant checks still run on every request.
/// Capped in count and in bytes; past either cap it starts over rather than growing.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: DashMap<String, Arc<CheckedToken>, foldhash::fast::RandomState>,
    /// What the cached tokens and their callers hold, by `entry_bytes`. Approximate under
    /// concurrent puts: one racing a reset may be counted after it was dropped, or not
    /// counted, by one entry per racing thread at most.
    bytes: AtomicUsize,
}

/// Enough for every persona of a large fixture; past it the cache starts over rather than
/// growing with traffic.
const TOKEN_CACHE_CAPACITY: usize = 4096;

/// The most bytes the cache holds (issue 19): 4,096 minted tokens of 1-3 KiB fit with room.
const TOKEN_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// A token larger than this (with its caller) is checked on every call rather than cached: the
/// token service puts every scope a client asks for in `scp`, so a signed token can be as large
/// as a request head (~400 KB), and 4,096 of those were over a gigabyte.
const TOKEN_CACHE_ENTRY_LIMIT: usize = 64 * 1024;

/// What one cached token holds: its text (the key), its caller, and their structs.
fn entry_bytes(token: &str, caller: &Caller) -> usize {
    std::mem::size_of::<(String, Arc<CheckedToken>)>()
        + std::mem::size_of::<CheckedToken>()
        + std::mem::size_of::<Caller>()
        + token.len()
        + caller.actor.as_ref().map_or(0, String::len)
        + caller
            .permissions
            .iter()
            .map(|p| p.len() + std::mem::size_of::<String>())
            .sum::<usize>()
        + caller.directory_roles.len() * std::mem::size_of::<Uuid>()
}

impl TokenCache {
    fn get(&self, token: &str) -> Option<Arc<CheckedToken>> {
        self.entries.get(token).map(|e| Arc::clone(e.value()))
    }

    fn put(&self, token: &str, checked: Arc<CheckedToken>) {
        let bytes = entry_bytes(token, &checked.caller);
        if bytes > TOKEN_CACHE_ENTRY_LIMIT {
            return;
        }
        if self.entries.len() >= TOKEN_CACHE_CAPACITY
            || self.bytes.load(Ordering::Relaxed) + bytes > TOKEN_CACHE_BYTES
        {
            self.entries.clear();
            self.bytes.store(0, Ordering::Relaxed);
        }
        if self.entries.insert(token.to_string(), checked).is_none() {
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// How many tokens are cached, and what they hold by `entry_bytes`.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        (self.entries.len(), self.bytes.load(Ordering::Relaxed))
    }
}

fn check_time(exp: i64, nbf: Option<i64>) -> Result<(), GraphError> {
    let now = wall_clock_now().unix_timestamp();
    if exp <= now {
        return Err(GraphError::TokenExpired);
    }
    if nbf.is_some_and(|nbf| nbf > now + CLOCK_SKEW_SECONDS) {
        return Err(GraphError::TokenNotYetValid);
    }
    Ok(())
}

/// Reads the caller from the `Authorization` header value. `tenant_exists` answers whether the
/// token's `tid` is served here; `default_tenant` is used when auth is off; `key` is the key
/// every token must be signed with.
pub fn authenticate(
    authorization: Option<&str>,
    mode: AuthMode,
    default_tenant: Uuid,
    tenant_exists: impl Fn(&Uuid) -> bool,
    cache: &TokenCache,
    key: &SigningKey,
) -> Result<Arc<Caller>, GraphError> {
    if mode == AuthMode::Off {
        return Ok(Arc::new(Caller::unauthenticated(default_tenant)));
    }
    let raw = authorization.map(str::trim).unwrap_or("");
    let token = match raw.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ if raw.eq_ignore_ascii_case("bearer") => "",
        _ if raw.is_empty() => "",
        // Graph treats a non-bearer credential like a token it cannot parse.
        _ => return Err(GraphError::TokenMalformed),
    };
    if token.is_empty() {
        return Err(GraphError::TokenMissing);
    }
    if let Some(checked) = cache.get(token) {
        check_time(checked.exp, checked.nbf)?;
        if !tenant_exists(&checked.caller.tenant_id) {
            return Err(GraphError::TokenInvalidIssuer);
        }
        return Ok(Arc::clone(&checked.caller));
    }
    let checked = check_token(token, &tenant_exists, key)?;
    let caller = Arc::clone(&checked.caller);
    cache.put(token, Arc::new(checked));
    Ok(caller)
}

/// The issuers Graph accepts for tenant `tid`: Entra's v1 issuer (what Graph tokens carry)
/// and the v2 one (the `iss` claim,
/// https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
fn issuer_ok(iss: Option<&str>, tid: &str) -> bool {
    iss.is_some_and(|iss| {
        iss.eq_ignore_ascii_case(&format!("https://sts.windows.net/{tid}/"))
            || iss.eq_ignore_ascii_case(&format!("https://login.microsoftonline.com/{tid}/v2.0"))
    })
}

/// Decodes a token and runs every check, in Graph's order: shape, signature, then lifetime,
/// audience and issuer. A forged token learns nothing about its claims.
fn check_token(
    token: &str,
    tenant_exists: &impl Fn(&Uuid) -> bool,
    key: &SigningKey,
) -> Result<CheckedToken, GraphError> {
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .map_err(|_| GraphError::TokenMalformed)?
        .claims;
    let claims = claims.as_object().ok_or(GraphError::TokenMalformed)?;
    if !key.verifies(token) {
        return Err(GraphError::TokenInvalidSignature);
    }

    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(GraphError::TokenMalformed)?;
    let nbf = claims.get("nbf").and_then(Value::as_i64);
    check_time(exp, nbf)?;
    if !claims.get("aud").is_some_and(audience_ok) {
        return Err(GraphError::TokenInvalidAudience);
    }
    let tid = claims.get("tid").and_then(Value::as_str).unwrap_or("");
    if !issuer_ok(claims.get("iss").and_then(Value::as_str), tid) {
        return Err(GraphError::TokenInvalidIssuer);
    }
    let tenant_id = Uuid::parse_str(tid)
        .ok()
        .filter(|t| tenant_exists(t))
        .ok_or(GraphError::TokenInvalidIssuer)?;

    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
    let uuid_claim = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
    };
    let scopes: Option<Vec<String>> =
        text("scp").map(|s| s.split_whitespace().map(str::to_string).collect());
    let roles: Option<Vec<String>> = claims.get("roles").and_then(Value::as_array).map(|r| {
        r.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    });
    let is_app_token = text("idtyp").is_some_and(|t| t.eq_ignore_ascii_case("app"));
    let directory_roles = claims
        .get("wids")
        .and_then(Value::as_array)
        .map(|w| {
            w.iter()
                .filter_map(Value::as_str)
                .filter_map(|s| Uuid::parse_str(s).ok())
                .collect()
        })
        .unwrap_or_default();

    let (kind, permissions, actor) = match (scopes, roles) {
        (Some(scp), _) => (
            CallerKind::Delegated,
            scp,
            text("upn").or_else(|| text("unique_name")),
        ),
        (None, Some(roles)) => (CallerKind::Application, roles, text("app_displayname")),
        // An app token without `roles` is legitimate: the app may hold EM roles instead.
        (None, None) if is_app_token => {
            (CallerKind::Application, Vec::new(), text("app_displayname"))
        }
        (None, None) => return Err(GraphError::TokenWithoutPermissions),
    };
    Ok(CheckedToken {
        caller: Arc::new(Caller {
            tenant_id,
            kind,
            object_id: uuid_claim("oid"),
            app_id: uuid_claim("appid"),
            actor,
            permissions,
            directory_roles,
        }),
        exp,
        nbf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(cache: &TokenCache, token: &str, exp: i64) -> Uuid {
        let tenant = Uuid::from_u128(7);
        cache.put(
            token,
            Arc::new(CheckedToken {
                caller: Arc::new(Caller::unauthenticated(tenant)),
                exp,
                nbf: None,
            }),
        );
        tenant
    }

    #[test]
    fn cached_tokens_still_expire_and_need_their_tenant() {
        let cache = TokenCache::default();
        let now = wall_clock_now().unix_timestamp();
        let tenant = cached(&cache, "fresh", now + 3600);
        cached(&cache, "stale", now - 1);
        let auth = |token: &str, exists: bool| {
            authenticate(
                Some(&format!("Bearer {token}")),
                AuthMode::Enforce,
                tenant,
                |_| exists,
                &cache,
                crate::auth::token::builtin_key(),
            )
        };
        assert_eq!(
            auth("fresh", true).map(|c| c.tenant_id),
            Ok(tenant),
            "a cached token is not decoded again"
        );
        assert_eq!(auth("stale", true).err(), Some(GraphError::TokenExpired));
        assert_eq!(
            auth("fresh", false).err(),
            Some(GraphError::TokenInvalidIssuer)
        );
    }

    #[test]
    fn the_cache_starts_over_instead_of_growing() {
        let cache = TokenCache::default();
        let now = wall_clock_now().unix_timestamp();
        for i in 0..=TOKEN_CACHE_CAPACITY {
            cached(&cache, &format!("t{i}"), now + 60);
        }
        assert!(cache.entries.len() <= TOKEN_CACHE_CAPACITY);
    }

    /// Issue 19: the count cap alone let 4,096 tokens of ~400 KB each (as many scopes as a
    /// request head holds) stay cached.
    #[test]
    fn the_cache_is_capped_in_bytes_and_skips_oversized_tokens() {
        let cache = TokenCache::default();
        let now = wall_clock_now().unix_timestamp();
        let put = |token: &str, scopes: usize| {
            let mut caller = Caller::unauthenticated(Uuid::from_u128(7));
            caller.permissions = (0..scopes).map(|i| format!("Scope{i}")).collect();
            cache.put(
                token,
                Arc::new(CheckedToken {
                    caller: Arc::new(caller),
                    exp: now + 60,
                    nbf: None,
                }),
            );
        };
        let big = "t".repeat(40 * 1024);
        for i in 0..1_000 {
            put(&format!("{i}{big}"), 100);
            let (count, bytes) = cache.usage();
            assert!(bytes <= TOKEN_CACHE_BYTES, "{bytes} bytes");
            assert!(count * 40 * 1024 <= bytes, "every entry is counted");
        }
        assert!(cache.usage().0 < 1_000, "it started over");
        // Permissions count too: a small token with 10,000 scopes is over the entry limit.
        put("few-bytes", 10_000);
        assert!(cache.get("few-bytes").is_none());
        let huge = "h".repeat(TOKEN_CACHE_ENTRY_LIMIT);
        put(&huge, 0);
        assert!(cache.get(&huge).is_none(), "checked on every call instead");
        put("small", 2);
        assert!(cache.get("small").is_some());
    }
}
