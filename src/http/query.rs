//! Query-string handling. Graph accepts system query options with or without the `$` prefix
//! (`%24` when encoded) and `+` or `%20` for spaces (`real-clients.md` §11). The OData engine
//! (filter, select, expand, paging) arrives with its own issue; until then every system option
//! is refused explicitly rather than silently ignored, so a client never gets an unfiltered list
//! it believes is filtered.

use crate::error::GraphError;

/// OData system query options (`graph-protocol.md` §3.1).
const SYSTEM_OPTIONS: [&str; 10] = [
    "filter",
    "select",
    "expand",
    "orderby",
    "top",
    "skip",
    "count",
    "search",
    "skiptoken",
    "format",
];

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct QueryOptions {
    /// System options present, lower-cased without `$`, with their values.
    pub system: Vec<(String, String)>,
}

pub(crate) fn parse(raw: Option<&str>) -> QueryOptions {
    let mut out = QueryOptions::default();
    let Some(raw) = raw else { return out };
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let name = key.strip_prefix('$').unwrap_or(&key).to_ascii_lowercase();
        if SYSTEM_OPTIONS.contains(&name.as_str()) {
            out.system.push((name, value.into_owned()));
        }
    }
    out
}

impl QueryOptions {
    /// Refuses every system option this build cannot honour.
    pub(crate) fn reject_unsupported(&self) -> Result<(), GraphError> {
        if let Some((name, _)) = self.system.first() {
            if name == "search" {
                // EM's ASP.NET OData backend does not allow $search (graph-protocol.md §3.2).
                return Err(GraphError::QueryOptionNotAllowed("Search".into()));
            }
            return Err(GraphError::NotImplemented(format!(
                "The ${name} query option"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_all_prefix_encodings() {
        for raw in [
            "$filter=a%20eq%20'b'",
            "%24filter=a+eq+'b'",
            "filter=a eq 'b'",
        ] {
            let q = parse(Some(raw));
            assert_eq!(
                q.system,
                vec![("filter".to_string(), "a eq 'b'".to_string())],
                "{raw}"
            );
        }
        assert!(parse(Some("api-version=1")).system.is_empty());
    }
}
