//! The one OData query engine every collection uses: `$filter` (a typed AST, grammar in
//! [`filter`]), `$select`, `$expand` (with nested `$select`/`$expand`), `$orderby`, `$top`,
//! `$skip`, `$count`, and server-driven paging with an opaque `$skiptoken`
//! (https://learn.microsoft.com/graph/query-parameters,
//! https://learn.microsoft.com/graph/paging).
//!
//! Option policy (docs/PARITY.md; the EM pages document `$select`, `$filter` and `$expand`):
//! `$select`, `$filter`, `$expand` fully; `$top`
//! 1–999; `$orderby` and `$count` honoured; `$search` refused with ASP.NET OData's "not allowed".
//! Option names may carry `$`, `%24` or no prefix; values may use `%20` or `+` for spaces.

pub mod eval;
pub mod filter;
pub mod page;

use crate::error::GraphError;

pub use eval::{EvalCx, Field, Prop, Queryable, Ty};
pub use filter::Expr;

/// One `$expand` item, with its nested options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expand {
    pub name: String,
    pub select: Option<Vec<String>>,
    pub expand: Vec<Expand>,
}

/// A parsed query string.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub filter: Option<Expr>,
    /// The `$filter` text as sent, for error messages.
    pub filter_text: Option<String>,
    pub select: Option<Vec<String>>,
    pub expand: Vec<Expand>,
    /// Paths with `true` for descending.
    pub orderby: Vec<(Vec<String>, bool)>,
    pub top: Option<usize>,
    pub skip: Option<usize>,
    pub count: bool,
    pub skiptoken: Option<String>,
    /// The raw query string without `$skiptoken`, repeated verbatim in `@odata.nextLink`.
    pub carry: String,
}

/// The largest `$top` accepted [inf: the directory's bound, docs/PARITY.md].
pub const MAX_TOP: usize = 999;

fn bad(message: String) -> GraphError {
    GraphError::BadQuery(message)
}

/// Splits on `sep` outside parentheses.
fn split_top(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if c == sep && depth == 0 => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

fn names(text: &str) -> Vec<String> {
    split_top(text, ',')
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn parse_expand(text: &str, depth: usize) -> Result<Vec<Expand>, GraphError> {
    if depth > 8 {
        return Err(bad("The $expand is nested too deeply.".into()));
    }
    let mut out = Vec::new();
    for item in split_top(text, ',') {
        let (name, options) = match item.find('(') {
            Some(open) if item.ends_with(')') => {
                (&item[..open], Some(&item[open + 1..item.len() - 1]))
            }
            Some(_) => return Err(bad(format!("Syntax error in the $expand item '{item}'."))),
            None => (item, None),
        };
        let mut expand = Expand {
            name: name.trim().to_string(),
            ..Default::default()
        };
        for option in options.map(|o| split_top(o, ';')).unwrap_or_default() {
            let (key, value) = option.split_once('=').unwrap_or((option, ""));
            match key
                .trim()
                .trim_start_matches('$')
                .to_ascii_lowercase()
                .as_str()
            {
                "select" => expand.select = Some(names(value)),
                "expand" => expand.expand = parse_expand(value, depth + 1)?,
                other => {
                    return Err(bad(format!(
                        "The query option '${other}' is not supported inside $expand by this emulator."
                    )));
                }
            }
        }
        out.push(expand);
    }
    Ok(out)
}

/// The system query options ASP.NET OData knows (OData 4.01 §11.2), by lower-case name
/// without `$`; `$id` addresses `$ref` deletes.
const SYSTEM_OPTIONS: [&str; 13] = [
    "filter",
    "select",
    "expand",
    "orderby",
    "top",
    "skip",
    "count",
    "skiptoken",
    "search",
    "format",
    "apply",
    "compute",
    "id",
];

/// Where an empty `$orderby` item starts (`displayName,,id`, a trailing comma, or nothing at
/// all): ASP.NET OData's parser expects a property there.
fn empty_item(text: &str) -> Option<usize> {
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == ',' {
            if text[start..i].trim().is_empty() {
                return Some(i);
            }
            start = i + 1;
        }
    }
    text[start..].trim().is_empty().then_some(text.len())
}

impl Query {
    /// Parses a raw query string (`None` = no query).
    pub fn parse(raw: Option<&str>) -> Result<Query, GraphError> {
        let mut q = Query::default();
        let Some(raw) = raw else { return Ok(q) };
        let mut carried = Vec::new();
        // One bit per `SYSTEM_OPTIONS` entry: no allocation on the request path.
        let mut seen: u16 = 0;
        for piece in raw.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = form_urlencoded::parse(piece.as_bytes())
                .next()
                .unwrap_or_default();
            let dollar = key.starts_with('$');
            let name = key.strip_prefix('$').unwrap_or(&key).to_ascii_lowercase();
            if name != "skiptoken" {
                carried.push(piece);
            }
            if let Some(at) = SYSTEM_OPTIONS.iter().position(|o| *o == name) {
                // ASP.NET OData takes each system query option once.
                if seen & (1 << at) != 0 {
                    let option = SYSTEM_OPTIONS[at];
                    return Err(bad(format!(
                        "Query option '${option}' was specified more than once, but it must be specified at most once."
                    )));
                }
                seen |= 1 << at;
            } else if dollar {
                // An unknown `$` option is refused; names without `$` are custom parameters.
                return Err(bad(format!(
                    "The query parameter '{key}' is not supported."
                )));
            }
            let value = value.into_owned();
            match name.as_str() {
                "filter" => {
                    let expr = filter::parse(&value).map_err(|e| GraphError::InvalidFilter(e.0))?;
                    q.filter = Some(expr);
                    q.filter_text = Some(value);
                }
                "select" => q.select = Some(names(&value)),
                "expand" => q.expand = parse_expand(&value, 0)?,
                "orderby" => {
                    if let Some(at) = empty_item(&value) {
                        return Err(bad(format!("Syntax error at position {at} in '{value}'.")));
                    }
                    for item in split_top(&value, ',') {
                        let mut words = item.split_whitespace();
                        let path = words.next().unwrap_or("");
                        let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
                            None | Some("asc") => false,
                            Some("desc") => true,
                            Some(other) => {
                                return Err(bad(format!("Syntax error: '{other}' in $orderby.")));
                            }
                        };
                        q.orderby
                            .push((path.split('/').map(str::to_string).collect(), desc));
                    }
                }
                "top" => {
                    let top = value
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|t| (1..=MAX_TOP).contains(t));
                    q.top = Some(top.ok_or_else(|| {
                        bad(format!("Invalid page size specified: '{value}'. Must be between 1 and {MAX_TOP} inclusive."))
                    })?);
                }
                "skip" => {
                    q.skip = Some(
                        value
                            .trim()
                            .parse::<usize>()
                            .map_err(|_| bad(format!("Invalid value '{value}' for $skip.")))?,
                    );
                }
                "count" => {
                    q.count = match value.trim().to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad(format!("'{value}' is not a valid count option."))),
                    }
                }
                "skiptoken" => q.skiptoken = Some(value),
                // EM's ASP.NET OData backend allows neither (its "not allowed" refusal).
                "search" => return Err(GraphError::QueryOptionNotAllowed("Search".into())),
                "apply" => return Err(GraphError::QueryOptionNotAllowed("Apply".into())),
                "compute" => return Err(GraphError::QueryOptionNotAllowed("Compute".into())),
                // Graph answers JSON only [inf: the text].
                "format" => {
                    let media = value.split(';').next().unwrap_or("").trim();
                    if !media.eq_ignore_ascii_case("json")
                        && !media.eq_ignore_ascii_case("application/json")
                    {
                        return Err(bad(format!(
                            "The requested $format '{value}' is not supported; only 'json' is."
                        )));
                    }
                }
                _ => {}
            }
        }
        q.carry = carried.join("&");
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_encodings_and_carry() {
        for raw in [
            "$filter=displayName%20eq%20'b'&$top=2",
            "%24filter=displayName+eq+'b'&%24top=2",
            "filter=displayName eq 'b'&top=2",
        ] {
            let q = Query::parse(Some(raw)).unwrap();
            assert_eq!(q.top, Some(2), "{raw}");
            assert!(q.filter.is_some(), "{raw}");
        }
        let q = Query::parse(Some("$top=5&$skiptoken=abc&$select=id")).unwrap();
        assert_eq!(
            (q.carry.as_str(), q.skiptoken.as_deref()),
            ("$top=5&$select=id", Some("abc"))
        );
    }

    #[test]
    fn expand_nests() {
        let q = Query::parse(Some(
            "$expand=resourceRoleScopes($expand=role,scope;$select=id),catalog",
        ))
        .unwrap();
        insta::assert_debug_snapshot!(q.expand, @r#"
        [
            Expand {
                name: "resourceRoleScopes",
                select: Some(
                    [
                        "id",
                    ],
                ),
                expand: [
                    Expand {
                        name: "role",
                        select: None,
                        expand: [],
                    },
                    Expand {
                        name: "scope",
                        select: None,
                        expand: [],
                    },
                ],
            },
            Expand {
                name: "catalog",
                select: None,
                expand: [],
            },
        ]
        "#);
    }

    #[test]
    fn bounds_and_errors() {
        assert!(matches!(
            Query::parse(Some("$top=0")),
            Err(GraphError::BadQuery(_))
        ));
        assert!(matches!(
            Query::parse(Some("$top=1000")),
            Err(GraphError::BadQuery(_))
        ));
        assert!(matches!(
            Query::parse(Some("$filter=displayName eq")),
            Err(GraphError::InvalidFilter(_))
        ));
        assert!(matches!(
            Query::parse(Some("$search=x")),
            Err(GraphError::QueryOptionNotAllowed(_))
        ));
        assert!(matches!(
            Query::parse(Some("$count=maybe")),
            Err(GraphError::BadQuery(_))
        ));
        assert!(
            Query::parse(Some(
                "api-version=1.0&$orderby=displayName desc,createdDateTime"
            ))
            .unwrap()
            .orderby
            .len()
                == 2
        );
    }
}
