//! Server-driven paging, ordering, projection and expansion of a collection.
//!
//! The `$skiptoken` is a keyset cursor — the last row's `$orderby` values and its insertion
//! sequence, base64url-encoded (only `[A-Za-z0-9_-]`, so URI-template clients keep it intact).
//! Resuming after that key means rows created or deleted between pages neither repeat nor skip
//! a surviving row, and no cursor state lives on the server.

use std::cmp::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::eval::{self, EvalCx, Prop, Queryable, Ty, find_field};
use super::{Expand, Query};
use crate::error::GraphError;

/// An entity that can be rendered and expanded.
pub trait Resource: Queryable {
    fn render(&self, cx: &EvalCx<'_>) -> Value;
    /// Where this entity keeps its listing item once rendered, when its rendering depends on
    /// nothing but the entity and the API version (so the cache cannot go stale unseen).
    fn listing_cache(&self) -> Option<&ListingCache> {
        None
    }
    /// The JSON of navigation `field` (named as in `fields`), with `item`'s nested options
    /// applied; `None` when the navigation is not emulated yet.
    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value>;
    /// An `@odata.type` Graph puts on each item of a listing (v1.0 access packages,
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-list-accesspackages?view=graph-rest-1.0).
    fn list_item_type(_version: crate::model::ApiVersion) -> Option<&'static str> {
        None
    }
}

pub use crate::model::cache::ListingCache;

/// A listing item: the entity shaped by `$select`/`$expand`, with the `@odata.type` a listing
/// of its type carries.
fn list_item<T: Resource>(
    e: &T,
    select: Option<&[String]>,
    expand: &[Expand],
    cx: &EvalCx<'_>,
) -> Value {
    let body = shape(e, select, expand, cx);
    match T::list_item_type(cx.version) {
        Some(t) => annotate(t, body),
        None => body,
    }
}

/// One entity's JSON taken from its listing cache: the cached listing item minus the
/// `@odata.type` a listing puts first. A GET by id (and each such item of a `$batch`) then
/// copies text instead of building and serializing a map (docs/BENCHMARK.md).
#[derive(Debug)]
pub struct CachedEntity {
    text: std::sync::Arc<str>,
    fields_at: usize,
}

impl CachedEntity {
    /// The entity's fields and its closing brace, without the opening one.
    pub fn fields(&self) -> &str {
        &self.text[self.fields_at..]
    }
}

/// The entity from its listing cache when the query reshapes nothing (no `$select` or
/// `$expand`); `None` sends the caller down the building path.
pub fn cached_entity<T: Resource>(e: &T, q: &Query, cx: &EvalCx<'_>) -> Option<CachedEntity> {
    if q.select.is_some() || !q.expand.is_empty() {
        return None;
    }
    let text = e
        .listing_cache()?
        .get_or_render(cx.version, || list_item(e, None, &[], cx));
    let fields_at = match T::list_item_type(cx.version) {
        // `{"@odata.type":"<t>",` matched piece by piece (the type names are plain
        // `#microsoft.graph.*` with nothing to escape): building the prefix with `format!` on
        // every read was ~3 % of a batch of GETs.
        Some(t) => {
            let rest = text
                .strip_prefix("{\"@odata.type\":\"")?
                .strip_prefix(t)?
                .strip_prefix("\",")?;
            text.len() - rest.len()
        }
        None => text.starts_with('{').then_some(1)?,
    };
    // An entity with no fields would leave a dangling comma after the context.
    (text.len() > fields_at + 1).then_some(CachedEntity { text, fields_at })
}

/// A page's items: built values, or cached JSON text when nothing reshapes them.
#[derive(Debug)]
pub enum PageItems {
    Values(Vec<Value>),
    Raw(Vec<std::sync::Arc<str>>),
}

impl From<Vec<Value>> for PageItems {
    fn from(items: Vec<Value>) -> Self {
        PageItems::Values(items)
    }
}

fn annotate(odata_type: &str, body: Value) -> Value {
    match body {
        // Shifting the entries keeps their hashes: no re-insertion of every key.
        Value::Object(mut fields) => {
            fields.shift_insert(0, "@odata.type".into(), json!(odata_type));
            Value::Object(fields)
        }
        other => other,
    }
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page {
    pub items: PageItems,
    pub skiptoken: Option<String>,
    pub count: Option<usize>,
}

fn unknown(name: &str, type_name: &str) -> GraphError {
    GraphError::BadQuery(format!(
        "Could not find a property named '{name}' on type '{type_name}'."
    ))
}

/// Checks `$select`, `$expand` and `$orderby` names, and `$filter` against the schema.
pub fn validate<T: Queryable>(q: &Query, cx: &EvalCx<'_>) -> Result<(), GraphError> {
    let fields = T::fields(cx.version);
    if let Some(select) = &q.select {
        for name in select.iter().filter(|n| n.as_str() != "*") {
            let f = find_field(fields, name).ok_or_else(|| unknown(name, T::TYPE_NAME))?;
            if matches!(f.ty, Ty::Nav(_) | Ty::NavMany(_)) {
                // [inf] OData would return a navigation link; the EM backend's support is unknown.
                return Err(GraphError::BadQuery(format!(
                    "The property '{}' is a navigation property and cannot be selected; use $expand.",
                    f.name
                )));
            }
        }
    }
    for item in &q.expand {
        let f = find_field(fields, &item.name).ok_or_else(|| unknown(&item.name, T::TYPE_NAME))?;
        if !matches!(f.ty, Ty::Nav(_) | Ty::NavMany(_)) {
            return Err(GraphError::BadQuery(format!(
                "Property '{}' on type '{}' is not a navigation property or complex property. Only navigation properties can be expanded.",
                f.name,
                T::TYPE_NAME
            )));
        }
    }
    for (path, _) in &q.orderby {
        let first = path.first().map(String::as_str).unwrap_or("");
        find_field(fields, first).ok_or_else(|| unknown(first, T::TYPE_NAME))?;
    }
    if let Some(filter) = &q.filter {
        eval::check::<T>(filter, cx.version).map_err(|e| GraphError::InvalidFilter(e.0))?;
    }
    Ok(())
}

/// Canonical field names of a `$select`, for `@odata.context`.
pub fn selected_names<T: Queryable>(q: &Query, cx: &EvalCx<'_>) -> Option<Vec<&'static str>> {
    let fields = T::fields(cx.version);
    let select = q.select.as_ref()?;
    if select.iter().any(|s| s == "*") {
        return None;
    }
    Some(
        select
            .iter()
            .filter_map(|n| find_field(fields, n).map(|f| f.name))
            .collect(),
    )
}

/// Keeps only the selected properties (and `@odata.*` annotations) of a rendered entity.
pub fn project(value: Value, select: Option<&[String]>) -> Value {
    let (Some(select), Value::Object(map)) = (select, &value) else {
        return value;
    };
    if select.iter().any(|s| s == "*") {
        return value;
    }
    let kept: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| k.starts_with('@') || select.iter().any(|s| s.eq_ignore_ascii_case(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

/// Renders one entity with `$select` and `$expand` applied.
pub fn shape<T: Resource>(
    entity: &T,
    select: Option<&[String]>,
    expand: &[Expand],
    cx: &EvalCx<'_>,
) -> Value {
    let mut value = project(entity.render(cx), select);
    if let Value::Object(map) = &mut value {
        let fields = T::fields(cx.version);
        for item in expand {
            if let Some(f) = find_field(fields, &item.name) {
                if let Some(expanded) = entity.expand(f.name, item, cx) {
                    map.insert(f.name.to_string(), expanded);
                }
            }
        }
    }
    value
}

fn key_json(p: &Prop<'_>) -> Value {
    match p {
        Prop::Null => Value::Null,
        Prop::Bool(b) => json!(b),
        Prop::Str(s) | Prop::Enum(s) => json!(s),
        Prop::Guid(g) => json!(g),
        Prop::Int(i) => json!(i),
        Prop::Float(f) => json!(f),
        Prop::Date(t) => json!(t),
        Prop::Json(v) => v.clone().into_owned(),
    }
}

fn encode_token(seq: u64, keys: &[Value]) -> String {
    let mut parts = vec![json!(seq)];
    parts.extend(keys.iter().cloned());
    URL_SAFE_NO_PAD.encode(Value::Array(parts).to_string())
}

fn decode_token(token: &str, n_keys: usize) -> Result<(u64, Vec<Value>), GraphError> {
    let invalid = || GraphError::BadQuery(format!("The $skiptoken '{token}' is not valid."));
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let parts = value.as_array().ok_or_else(invalid)?;
    let seq = parts.first().and_then(Value::as_u64).ok_or_else(invalid)?;
    if parts.len() != n_keys + 1 {
        return Err(invalid());
    }
    Ok((seq, parts[1..].to_vec()))
}

fn cmp_keys(a: &[Value], b: &[Value], desc: &[bool]) -> Ordering {
    for ((x, y), d) in a.iter().zip(b).zip(desc) {
        let ord = eval::order(&json_prop(x), &json_prop(y)).unwrap_or(Ordering::Equal);
        let ord = if *d { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn json_prop(v: &Value) -> Prop<'_> {
    match v {
        Value::Null => Prop::Null,
        Value::Bool(b) => Prop::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(Prop::Int)
            .unwrap_or_else(|| Prop::Float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => Prop::Str(std::borrow::Cow::Borrowed(s)),
        other => Prop::Json(std::borrow::Cow::Borrowed(other)),
    }
}

/// A chosen row: sequence, entity, `$orderby` key values.
type Row<'s, T> = (u64, &'s T, Vec<Value>);

/// Filters, orders and pages `rows` (in insertion order, with their sequence numbers).
pub fn page<'s, T: Resource + 's>(
    rows: impl Iterator<Item = (u64, &'s T)>,
    q: &Query,
    cx: &EvalCx<'s>,
    page_size: usize,
) -> Result<Page, GraphError> {
    let size = q.top.unwrap_or(page_size).max(1);
    let keep = |e: &T| q.filter.as_ref().is_none_or(|f| eval::matches(f, e, cx));
    let cursor = q
        .skiptoken
        .as_deref()
        .map(|t| decode_token(t, q.orderby.len()))
        .transpose()?;
    let desc: Vec<bool> = q.orderby.iter().map(|(_, d)| *d).collect();
    let select = q.select.as_deref();

    let (chosen, more, count): (Vec<Row<'s, T>>, bool, Option<usize>) = if q.orderby.is_empty() {
        let after = cursor.as_ref().map(|c| c.0);
        let skip = if after.is_none() {
            q.skip.unwrap_or(0)
        } else {
            0
        };
        let mut count = 0usize;
        let mut chosen = Vec::with_capacity(size.min(1024));
        let mut more = false;
        for (seq, e) in rows {
            if !keep(e) {
                continue;
            }
            count += 1;
            if after.is_some_and(|a| seq <= a) || count <= skip {
                continue;
            }
            if chosen.len() < size {
                chosen.push((seq, e, Vec::new()));
            } else {
                more = true;
                if !q.count {
                    break;
                }
            }
        }
        (chosen, more, q.count.then_some(count))
    } else {
        let mut all: Vec<Row<'s, T>> = rows
            .filter(|(_, e)| keep(e))
            .map(|(seq, e)| {
                let keys = q
                    .orderby
                    .iter()
                    .map(|(path, _)| key_json(&eval::path_value(path, e, cx)))
                    .collect();
                (seq, e, keys)
            })
            .collect();
        all.sort_by(|a, b| cmp_keys(&a.2, &b.2, &desc).then(a.0.cmp(&b.0)));
        let count = all.len();
        let start = match &cursor {
            Some((seq, keys)) => all
                .iter()
                .position(|(s, _, k)| {
                    cmp_keys(k, keys, &desc).then(s.cmp(seq)) == Ordering::Greater
                })
                .unwrap_or(all.len()),
            None => q.skip.unwrap_or(0).min(all.len()),
        };
        let more = all.len() > start + size;
        let chosen = all.into_iter().skip(start).take(size).collect();
        (chosen, more, q.count.then_some(count))
    };

    let skiptoken = match (more, chosen.last()) {
        (true, Some((seq, _, keys))) => Some(encode_token(*seq, keys)),
        _ => None,
    };
    let render = |e: &T| list_item(e, select, &q.expand, cx);
    let plain = select.is_none() && q.expand.is_empty();
    let cached = plain && chosen.iter().all(|(_, e, _)| e.listing_cache().is_some());
    let items = if cached {
        PageItems::Raw(
            chosen
                .iter()
                .filter_map(|(_, e, _)| {
                    e.listing_cache()
                        .map(|c| c.get_or_render(cx.version, || render(e)))
                })
                .collect(),
        )
    } else {
        PageItems::Values(chosen.iter().map(|(_, e, _)| render(e)).collect())
    };
    Ok(Page {
        items,
        skiptoken,
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_url_safe_and_round_trip() {
        let t = encode_token(42, &[json!("it's a name/with+odd chars"), json!(null)]);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{t}"
        );
        assert_eq!(
            decode_token(&t, 2).unwrap(),
            (42, vec![json!("it's a name/with+odd chars"), json!(null)])
        );
        assert!(decode_token("!!", 0).is_err());
        assert!(decode_token(&t, 1).is_err());
    }

    /// Every entity a GET by id serves from its listing cache must be recognised as cached: a
    /// prefix that no longer matched would quietly fall back to rebuilding the entity.
    #[test]
    fn a_package_read_by_id_is_served_from_its_cached_listing_text() {
        use crate::clock::Timestamp;
        use crate::fixtures::FixtureSource;
        use crate::ids::IdSource;
        let state = FixtureSource::EmbeddedDefault.load().unwrap().build_state(
            IdSource::Seeded(1).generator(1),
            Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        );
        let package = state.access_packages().iter().next().expect("a package");
        for version in [crate::model::ApiVersion::V1, crate::model::ApiVersion::Beta] {
            let cx = EvalCx {
                state: &state,
                version,
            };
            let cached = cached_entity(package, &Query::default(), &cx)
                .unwrap_or_else(|| panic!("{version:?}: not served from the cache"));
            let fields = cached.fields();
            assert!(fields.starts_with("\"id\":"), "{version:?}: {fields}");
        }
    }
}
