//! Robustness: random well-formed requests never crash the emulator, never answer 5xx (501 aside),
//! answer every error in Graph's envelope and leave the store unchanged when refused; parallel
//! writers keep the store consistent; the body limit is exact to the byte.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entitlement_emulator::http::DEFAULT_BODY_LIMIT;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::common::*;

// ---------------------------------------------------------------------------------------------
// 1. Random requests
// ---------------------------------------------------------------------------------------------

/// One generated request. `path` holds path and query as sent (before the URL parser's own
/// percent-encoding of spaces and non-ASCII).
#[derive(Clone)]
struct FuzzRequest {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

fn abbreviate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}…({} bytes in all)", text.len())
}

impl fmt::Debug for FuzzRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {}", self.method, abbreviate(&self.path, 600))?;
        for (k, v) in &self.headers {
            writeln!(f, "  {k}: {}", abbreviate(v, 400))?;
        }
        match &self.body {
            None => write!(f, "  <no body>"),
            Some(b) => write!(
                f,
                "  body: {:?}",
                abbreviate(&String::from_utf8_lossy(b), 600)
            ),
        }
    }
}

/// Tokens the header strategy picks from.
#[derive(Clone)]
struct Tokens {
    admin: String,
    others: Vec<String>,
    /// The admin token's claims, for mutated JWTs.
    admin_claims: Map<String, Value>,
    admin_signature: String,
}

const SEGMENTS: &[&str] = &[
    "v1.0",
    "beta",
    "identityGovernance",
    "entitlementManagement",
    "catalogs",
    "accessPackageCatalogs",
    "accessPackages",
    "roleManagement",
    "roleAssignments",
    "roleDefinitions",
    "$batch",
    "$count",
    "$metadata",
    "resources",
    "accessPackageResources",
    "resourceRoles",
    "resourceScopes",
    "roles",
    "scopes",
    "resourceRoleScopes",
    "accessPackageResourceRoleScopes",
    "resourceRequests",
    "accessPackageResourceRequests",
    "assignmentPolicies",
    "accessPackageAssignmentPolicies",
    "moveToCatalog",
    "filterByCurrentUser",
    "assignments",
    "settings",
    "directory",
    "questions",
    "users",
    "me",
    "CATALOGS",
    "accesspackages",
    "assignmentRequests",
    "accessPackageAssignmentApprovals",
    "additionalAccess",
    "groups",
    "members",
    "subjects",
];

const REAL_IDS: &[&str] = &[
    GENERAL,
    MARKETING,
    CAMPAIGN_PACKAGE,
    ANALYTICS_PACKAGE,
    "80000000-0000-4000-8000-000000000001",
    "70000000-0000-4000-8000-000000000001",
    "70000000-0000-4000-8000-000000000006",
    "ae79f266-94d4-4dab-b730-feca7e132178",
    "20000000-0000-4000-8000-000000000001",
    "30000000-0000-4000-8000-000000000001",
    "10000000-0000-4000-8000-000000000000",
    "00000000-0000-0000-0000-000000000000",
];

/// Raw segment text whose percent escapes are odd, broken or meaningful after decoding.
const ODD_SEGMENTS: &[&str] = &[
    "%",
    "%zz",
    "%2F",
    "%2f..%2F",
    "%00",
    "%FF%FE",
    "%24count",
    "%24batch",
    "%27%27",
    "()",
    "('')",
    "(id='')",
    "(''')",
    "((",
    "))",
    "'",
    "..",
    ".",
    "_emulator",
    "state",
    "health",
    "tokens",
];

/// Prefixes that reach real handlers, so random tails explore beyond routing.
const PREFIXES: &[&str] = &[
    EM_V1,
    EM_BETA,
    RBAC_V1,
    "/beta/roleManagement/entitlementManagement",
    "/v1.0",
    "/beta",
    "/_emulator",
];

fn pick(items: &'static [&'static str]) -> prop::sample::Select<&'static str> {
    prop::sample::select(items)
}

fn guid() -> impl Strategy<Value = String> {
    any::<[u8; 16]>().prop_map(|b| uuid::Uuid::from_bytes(b).to_string())
}

fn id_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(REAL_IDS).prop_map(str::to_string),
        2 => guid(),
        1 => "[0-9a-f-]{0,40}",
    ]
    .boxed()
}

fn random_text() -> BoxedStrategy<String> {
    prop_oneof!["[a-zA-Z0-9'()%$é漢🦀 ._~-]{0,14}", "\\PC{0,8}",].boxed()
}

fn segment() -> BoxedStrategy<String> {
    let base = prop_oneof![
        8 => prop::sample::select(SEGMENTS).prop_map(str::to_string),
        4 => id_text(),
        2 => random_text(),
        2 => prop::sample::select(ODD_SEGMENTS).prop_map(str::to_string),
    ];
    // A parenthesised key on a name: `catalogs('id')`, `catalogs(id='id')`, `catalogs(id)`.
    let key = prop_oneof![
        6 => Just(None),
        2 => id_text().prop_map(|id| Some(format!("('{id}')"))),
        1 => id_text().prop_map(|id| Some(format!("(id='{id}')"))),
        1 => id_text().prop_map(|id| Some(format!("({id})"))),
        1 => random_text().prop_map(|t| Some(format!("({t})"))),
    ];
    (base, key)
        .prop_map(|(b, k)| match k {
            Some(k) => format!("{b}{k}"),
            None => b,
        })
        .boxed()
}

/// Characters that would end or split a query value if sent literally.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'#')
    .add(b'&')
    .add(b'+')
    .add(b'%')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`');

const PROPS: &[&str] = &[
    "displayName",
    "DISPLAYNAME",
    "id",
    "description",
    "catalogId",
    "catalog/id",
    "catalog/displayName",
    "accessPackageCatalog/id",
    "createdDateTime",
    "modifiedDateTime",
    "isHidden",
    "isRoleScopesVisible",
    "state",
    "catalogStatus",
    "catalogType",
    "isExternallyVisible",
    "accessPackages",
    "resourceRoleScopes",
    "roleDefinitionId",
    "principalId",
    "appScopeId",
    "directoryScopeId",
    "originSystem",
    "nope",
    "@odata.type",
    "a/b/c/d/e",
];

const LITERALS: &[&str] = &[
    "'x'",
    "''",
    "''''",
    "'it''s'",
    "'ünï 漢 🦀'",
    "'50000000-0000-4000-8000-000000000001'",
    "50000000-0000-4000-8000-000000000001",
    "5000000-xyz",
    "0",
    "-1",
    "42",
    "1.5",
    "1e308",
    "1e999",
    "-0",
    "99999999999999999999999",
    "-9223372036854775809",
    "true",
    "false",
    "null",
    "2026-03-01T09:00:00Z",
    "2026-13-45T99:99:99Z",
    "2026-03-01",
    "'published'",
    "'Published'",
    "microsoft.graph.accessPackageCatalogState'published'",
    "duration'P1D'",
    "'",
    "'unterminated",
];

const OPERATORS: &[&str] = &[
    "eq", "ne", "gt", "ge", "lt", "le", "EQ", "has", "add", "-eq", "==",
];

const FUNCTIONS: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "tolower",
    "toupper",
    "length",
    "substring",
    "concat",
    "indexof",
    "trim",
    "cast",
    "isof",
];

const FILTER_JUNK: &[&str] = &[
    "(",
    ")",
    ",",
    "/",
    ":",
    "$it",
    "$root",
    "'",
    "\"",
    "%",
    "?",
    "and",
    "or",
    "not",
    "in",
    "any(",
    "all(",
    "x:x/id eq 'a'",
    "microsoft.graph.group",
    "@p",
];

fn filter_clause() -> BoxedStrategy<String> {
    let props = || pick(PROPS);
    let lit = || pick(LITERALS);
    prop_oneof![
        4 => (props(), prop::sample::select(OPERATORS), lit())
            .prop_map(|(p, o, l)| format!("{p} {o} {l}")),
        2 => (prop::sample::select(FUNCTIONS), props(), lit())
            .prop_map(|(f, p, l)| format!("{f}({p},{l})")),
        1 => (prop::sample::select(FUNCTIONS), props(), prop::sample::select(OPERATORS), lit())
            .prop_map(|(f, p, o, l)| format!("{f}({p}) {o} {l}")),
        1 => (props(), prop::collection::vec(lit(), 0..4))
            .prop_map(|(p, ls)| format!("{p} in ({})", ls.join(","))),
        2 => (props(), pick(&["any", "all", "ANY"]), props(), prop::sample::select(OPERATORS), lit())
            .prop_map(|(nav, q, p, o, l)| format!("{nav}/{q}(x:x/{p} {o} {l})")),
        1 => props().prop_map(|p| format!("{p}/any()")),
        1 => (props(), props()).prop_map(|(nav, p)| {
            format!("{nav}/any(x:x/microsoft.graph.group/{p} eq 'a' and x/{nav}/all(y:y/{p} ne null))")
        }),
    ]
    .boxed()
}

fn filter_value() -> BoxedStrategy<String> {
    prop_oneof![
        // Well-formed clauses joined by and/or/not.
        5 => (prop::collection::vec(
                (filter_clause(), pick(&[" and ", " or ", " and not ", " AND "])),
                1..4,
            ), any::<bool>())
            .prop_map(|(clauses, negate)| {
                let mut text = String::new();
                for (i, (clause, joiner)) in clauses.iter().enumerate() {
                    if i > 0 {
                        text.push_str(joiner);
                    }
                    text.push_str(clause);
                }
                if negate { format!("not ({text})") } else { text }
            }),
        // Token soup.
        3 => prop::collection::vec(
                prop_oneof![
                    prop::sample::select(PROPS),
                    prop::sample::select(OPERATORS),
                    prop::sample::select(LITERALS),
                    prop::sample::select(FILTER_JUNK),
                    prop::sample::select(FUNCTIONS),
                ],
                0..12,
            )
            .prop_map(|toks| toks.join(" ")),
        1 => random_text(),
        // Deep nesting, balanced and not.
        1 => (1usize..400).prop_map(|n| format!("{}displayName eq 'x'{}", "(".repeat(n), ")".repeat(n))),
        1 => (1usize..400).prop_map(|n| format!("{}true", "not ".repeat(n))),
        1 => (1usize..400).prop_map(|n| "(".repeat(n)),
        // Long `and`/`or` chains: 7,000 terms once overflowed the stack (issue 19).
        1 => (1usize..7_000, pick(&[" or ", " and ", " or not "]), pick(&["1", "isHidden", "(displayName eq 'x')", "id in ('a','b')"]))
            // At most ~25 KB raw, so the encoded URL stays under the 64 KB an `http::Uri` holds.
            .prop_map(|(n, joiner, term)| vec![term; n.min(25_000 / (term.len() + joiner.len()))].join(joiner)),
        1 => (1usize..100).prop_map(|n| {
            format!("{}x/id eq 'a'{}", "accessPackages/any(x:".repeat(n), ")".repeat(n))
        }),
    ]
    .boxed()
}

fn expand_value() -> BoxedStrategy<String> {
    prop_oneof![
        4 => pick(&[
            "catalog",
            "accessPackages",
            "accessPackageCatalog",
            "catalog($select=id)",
            "catalog($select=id,displayName;$expand=accessPackages)",
            "catalog($expand=accessPackages($select=displayName))",
            "accessPackages($filter=displayName eq 'x')",
            "accessPackages($top=1;$orderby=displayName desc)",
            "resourceRoleScopes($expand=role,scope)",
            "assignmentPolicies",
            "accessPackagesIncompatibleWith",
            "*",
            "",
            ",",
            "catalog(",
            "catalog)",
            "catalog($select=)",
            "catalog($nope=1)",
            "catalog,catalog",
        ]).prop_map(str::to_string),
        1 => (1usize..40).prop_map(|n| format!("{}id{}", "catalog($expand=".repeat(n), ")".repeat(n))),
        1 => random_text(),
    ]
    .boxed()
}

fn number_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => (0i64..1100).prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => pick(&[
            "", "-0", "1.0", "1e3", "abc", "999999999999999999999999", " 5", "0x10", "+5", "٣",
        ]).prop_map(str::to_string),
    ]
    .boxed()
}

fn query_param() -> BoxedStrategy<(String, String)> {
    let list =
        |items: BoxedStrategy<String>| prop::collection::vec(items, 0..4).prop_map(|v| v.join(","));
    let orderby_item = (
        prop::sample::select(PROPS),
        pick(&["", " asc", " desc", " DESC", " sideways", "  asc"]),
    )
        .prop_map(|(p, d)| format!("{p}{d}"))
        .boxed();
    let select_item = prop_oneof![
        4 => prop::sample::select(PROPS).prop_map(str::to_string),
        1 => Just("*".to_string()),
        1 => random_text(),
    ]
    .boxed();
    let pair = prop_oneof![
        4 => filter_value().prop_map(|v| ("$filter", v)),
        2 => list(select_item).prop_map(|v| ("$select", v)),
        2 => expand_value().prop_map(|v| ("$expand", v)),
        2 => number_text().prop_map(|v| ("$top", v)),
        1 => number_text().prop_map(|v| ("$skip", v)),
        2 => list(orderby_item).prop_map(|v| ("$orderby", v)),
        2 => prop_oneof!["[A-Za-z0-9_-]{0,40}", "[ -~]{0,40}", "\\PC{0,10}"].prop_map(|v| ("$skiptoken", v)),
        1 => pick(&["true", "false", "TRUE", "1", "yes", ""])
            .prop_map(|v| ("$count", v.to_string())),
        1 => random_text().prop_map(|v| ("$search", v)),
        1 => pick(&["$format", "$levels", "$apply", "filter", "top", "tenant", ""])
            .prop_flat_map(|k| random_text().prop_map(move |v| (k, v))),
    ];
    // `$filter`, `%24filter` or `$FILTER`.
    (pair, 0u8..6)
        .prop_map(|((key, value), spelling)| {
            let key = match spelling {
                0 => key.replace('$', "%24"),
                1 => key.to_uppercase(),
                _ => key.to_string(),
            };
            (key, value)
        })
        .boxed()
}

fn query_string() -> BoxedStrategy<String> {
    prop_oneof![
        5 => Just(String::new()),
        6 => prop::collection::vec(query_param(), 1..4).prop_map(|params| {
            let parts: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
                .collect();
            format!("?{}", parts.join("&"))
        }),
        1 => pick(&[
            "?", "?%", "?%zz", "?$filter=%", "?$top=%FF", "?$filter=%FF%FE", "?&&", "?=", "?$filter",
            "?$filter=", "?$top=1&$top=2", "?$select=id&$select=displayName",
            "?$filter=displayName eq 'a'&$filter=id eq 'b'", "?$skiptoken=", "?$top", "?$expand",
            "?$count=true&$top=1", "?tenant=x",
        ]).prop_map(str::to_string),
    ]
    .boxed()
}

/// (v1.0 name, beta name) of the collections under `entitlementManagement`.
const EM_COLLECTIONS: &[(&str, &str)] = &[
    ("catalogs", "accessPackageCatalogs"),
    ("accessPackages", "accessPackages"),
    ("assignmentPolicies", "accessPackageAssignmentPolicies"),
    ("resourceRequests", "accessPackageResourceRequests"),
    ("assignments", "accessPackageAssignments"),
    ("connectedOrganizations", "connectedOrganizations"),
    ("assignmentRequests", "accessPackageAssignmentRequests"),
    (
        "accessPackageAssignmentApprovals",
        "accessPackageAssignmentApprovals",
    ),
    ("subjects", "subjects"),
];

/// (v1.0 name, beta name) of navigations below an entity.
const NAVIGATIONS: &[(&str, &str)] = &[
    ("accessPackages", "accessPackages"),
    ("resources", "accessPackageResources"),
    ("resourceRoles", "accessPackageResourceRoles"),
    ("resourceScopes", "accessPackageResourceScopes"),
    ("resourceRoleScopes", "accessPackageResourceRoleScopes"),
    ("assignmentPolicies", "moveToCatalog"),
    ("incompatibleGroups", "incompatibleAccessPackages"),
    ("$count", "$count"),
    ("cancel", "reprocess"),
    ("resume", "resume"),
    ("stages", "steps"),
    (
        "getApplicablePolicyRequirements",
        "getApplicablePolicyRequirements",
    ),
];

/// A path that follows Graph's grammar most of the time, so requests get past routing.
fn structured_path() -> BoxedStrategy<String> {
    let key = prop_oneof![
        4 => Just(None),
        4 => id_text().prop_map(|id| Some(format!("/{id}"))),
        2 => id_text().prop_map(|id| Some(format!("('{id}')"))),
        1 => segment().prop_map(|s| Some(format!("/{s}"))),
    ];
    let nav = prop_oneof![
        8 => Just(None),
        4 => (prop::sample::select(NAVIGATIONS), any::<bool>()).prop_map(|(n, v1)| Some(if v1 { n.0 } else { n.1 }.to_string())),
        1 => segment().prop_map(Some),
    ];
    let extra = prop_oneof![
        12 => Just(None),
        1 => Just(Some("$count".to_string())),
        1 => prop_oneof![id_text(), segment()].prop_map(Some),
    ];
    let em = (
        any::<bool>(),
        prop::sample::select(EM_COLLECTIONS),
        0u8..10,
        key.clone(),
        nav,
        extra.clone(),
    )
        .prop_map(|(v1, names, wrong, key, nav, extra)| {
            // Now and then the other version's name.
            let name = if v1 == (wrong == 0) { names.1 } else { names.0 };
            let mut p = format!("{}/{name}", if v1 { EM_V1 } else { EM_BETA });
            if let Some(k) = key {
                p.push_str(&k);
                if let Some(n) = nav {
                    p.push('/');
                    p.push_str(&n);
                }
            }
            if let Some(e) = extra {
                p.push('/');
                p.push_str(&e);
            }
            p
        });
    let rbac = (
        pick(&["v1.0", "beta"]),
        pick(&[
            "roleDefinitions",
            "roleAssignments",
            "roleAssignmentSchedules",
        ]),
        key,
        extra,
    )
        .prop_map(|(version, name, key, extra)| {
            let mut p = format!("/{version}/roleManagement/entitlementManagement/{name}");
            p.push_str(&key.unwrap_or_default());
            if let Some(e) = extra {
                p.push('/');
                p.push_str(&e);
            }
            p
        });
    prop_oneof![4 => em, 1 => rbac, 1 => pick(&["/v1.0/$batch", "/beta/$batch", "/v1.0/%24batch"]).prop_map(str::to_string)].boxed()
}

fn path() -> BoxedStrategy<String> {
    let tail = prop::collection::vec(segment(), 0..5);
    let templated = (prop::sample::select(PREFIXES), tail.clone())
        .prop_map(|(prefix, segs)| {
            let mut p = prefix.to_string();
            for s in segs {
                p.push('/');
                p.push_str(&s);
            }
            p
        })
        .boxed();
    let version = prop_oneof![
        4 => Just("v1.0".to_string()),
        4 => Just("beta".to_string()),
        1 => pick(&["V1.0", "BETA", "v2.0", "", "_emulator", "%761.0"]).prop_map(str::to_string),
        1 => random_text(),
    ];
    let random = (version, tail)
        .prop_map(|(v, segs)| {
            let mut p = format!("/{v}");
            for s in segs {
                p.push('/');
                p.push_str(&s);
            }
            p
        })
        .boxed();
    let slashes = pick(&["", "", "", "", "", "", "/", "//"]);
    (
        prop_oneof![
            12 => structured_path(),
            1 => templated,
            1 => random,
            1 => pick(&[
                "/_emulator/tokens",
                "/_emulator/settings",
                "/_emulator/health",
                "/_emulator/state",
                "/_emulator/settings?tenant=x",
                "/_emulator/state?tenant=10000000-0000-4000-8000-000000000001",
                "/_emulator/tokens/x",
                "/_emulator/snapshot",
                "/_emulator/journal?format=cassette",
                "/_emulator/openapi.json",
                "/_emulator/",
                "/10000000-0000-4000-8000-000000000000/oauth2/v2.0/token",
                "/common/oauth2/v2.0/token",
                "/nowhere.example/oauth2/v2.0/token",
                "/common/oauth2/v2.0/authorize?client_id=e0000000-0000-4000-8000-0000000000e1&redirect_uri=http%3A%2F%2Flocalhost&response_type=code&login_hint=x",
                "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration",
                "/x/discovery/v2.0/keys",
                "/common/discovery/instance",
                "/common/userrealm/x%40y",
                "/metadata/endpoints",
            ])
            .prop_map(str::to_string),
        ],
        slashes,
        query_string(),
    )
        .prop_map(|(p, trailing, q)| format!("{p}{trailing}{q}"))
        .boxed()
}

/// The path as a `$batch` item's `url`: without the version, sometimes odd.
fn batch_url() -> BoxedStrategy<String> {
    prop_oneof![
        6 => path().prop_map(|p| {
            let rest = p.trim_start_matches('/');
            match rest.split_once('/') {
                Some((_, tail)) => format!("/{tail}"),
                None => String::new(),
            }
        }),
        1 => pick(&[
            "", "/", "identityGovernance/entitlementManagement/catalogs",
            "/_emulator/state", "/$batch", "https://graph.microsoft.com/v1.0/identityGovernance/entitlementManagement/catalogs",
            "../../_emulator/state", "/identityGovernance/entitlementManagement/catalogs?$filter=displayName eq 'x y'",
            "/identityGovernance/entitlementManagement/catalogs#frag", "[", "http://[::1", "\\\\", "%", "/ /",
        ]).prop_map(str::to_string),
        1 => random_text(),
    ]
    .boxed()
}

const KEYS: &[&str] = &[
    "displayName",
    "description",
    "catalogId",
    "catalog",
    "accessPackageCatalog",
    "isHidden",
    "isRoleScopesVisible",
    "state",
    "catalogStatus",
    "catalogType",
    "isExternallyVisible",
    "id",
    "@odata.type",
    "@odata.context",
    "createdDateTime",
    "requests",
    "principalId",
    "roleDefinitionId",
    "directoryScopeId",
    "appScopeId",
    "requestType",
    "resource",
    "accessPackageResource",
    "originId",
    "originSystem",
    "pageSize",
    "as",
    "scopes",
    "roles",
    "",
];

fn json_string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => pick(&[
            "published", "unpublished", "Published", "userManaged", "serviceDefault", "adminAdd",
            "AdminAdd", "AadGroup", "", " ", "/", "/AccessPackageCatalog/50000000-0000-4000-8000-000000000001",
            "2026-01-01T00:00:00Z", "#microsoft.graph.accessPackage", "#microsoft.graph.nope",
            "\u{0}", "\u{feff}", "admin@contoso.onmicrosoft.com",
        ]).prop_map(str::to_string),
        3 => id_text(),
        2 => "\\PC{0,16}",
        2 => "[ -~]{0,16}",
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

fn json_key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-zA-Z@.]{0,10}",
        1 => "\\PC{0,6}",
    ]
    .boxed()
}

fn json_object() -> BoxedStrategy<Value> {
    prop::collection::vec((json_key(), json_value()), 0..6)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
        .boxed()
}

/// Bodies that look like real creates and updates, so some requests succeed.
fn plausible_body() -> BoxedStrategy<Value> {
    let catalog_ref = prop_oneof![
        Just(None),
        id_text().prop_map(|id| Some(("catalog", json!({"id": id})))),
        id_text().prop_map(|id| Some(("catalogId", json!(id)))),
        id_text().prop_map(|id| Some(("accessPackageCatalog", json!({"id": id})))),
    ];
    (
        prop::option::of(json_string()),
        catalog_ref,
        prop::option::of(json_string()),
        prop::option::of(any::<bool>()),
        prop::option::of((json_key(), json_value())),
    )
        .prop_map(|(name, catalog, description, hidden, extra)| {
            let mut m = Map::new();
            if let Some(n) = name {
                m.insert("displayName".into(), json!(n));
            }
            if let Some((k, v)) = catalog {
                m.insert(k.into(), v);
            }
            if let Some(d) = description {
                m.insert("description".into(), json!(d));
            }
            if let Some(h) = hidden {
                m.insert("isHidden".into(), json!(h));
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        })
        .boxed()
}

fn batch_body() -> BoxedStrategy<Value> {
    let item = (
        prop_oneof![
            pick(&["1", "2", "3", "4", "", "1 "]).prop_map(|s| json!(s)),
            (0u8..5).prop_map(|n| json!(n)),
            Just(Value::Null),
        ],
        pick(&[
            "GET", "GET", "POST", "POST", "PATCH", "DELETE", "PUT", "get", "FOO", "", "G E T",
        ]),
        batch_url(),
        prop::option::of(prop_oneof![
            Just(json!({"Content-Type": "application/json"})),
            Just(json!({"content-type": "text/plain"})),
            Just(json!({"Content-Type": 5})),
            (
                pick(&[
                    "Authorization",
                    "Host",
                    "Content-Type",
                    "client-request-id",
                    "X"
                ]),
                "[ -~]{0,20}"
            )
                .prop_map(|(k, v)| json!({k: v})),
        ]),
        prop::option::weighted(
            0.5,
            prop_oneof![
                plausible_body(),
                json_value(),
                "[A-Za-z0-9+/=]{0,24}".prop_map(Value::String),
            ],
        ),
        prop::option::weighted(
            0.3,
            prop::collection::vec(
                prop_oneof![
                    pick(&["1", "2", "3", "9"]).prop_map(|s| json!(s)),
                    Just(json!(1)),
                ],
                0..3,
            ),
        ),
    )
        .prop_map(|(id, method, url, headers, body, depends)| {
            let mut m = Map::new();
            if !id.is_null() {
                m.insert("id".into(), id);
            }
            m.insert("method".into(), json!(method));
            m.insert("url".into(), json!(url));
            if let Some(h) = headers {
                m.insert("headers".into(), h);
            }
            if let Some(b) = body {
                m.insert("body".into(), b);
            }
            if let Some(d) = depends {
                m.insert("dependsOn".into(), Value::Array(d));
            }
            Value::Object(m)
        });
    prop_oneof![
        4 => prop::collection::vec(item, 0..5).prop_map(|items| json!({"requests": items})),
        1 => json_value().prop_map(|v| json!({"requests": v})),
    ]
    .boxed()
}

const MALFORMED: &[&str] = &[
    "",
    " ",
    "{",
    "}",
    "{\"displayName\": }",
    "{\"displayName\": \"x\",}",
    "{\"displayName\": \"x\"} trailing",
    "{\"displayName\": \"x\", \"displayName\": \"y\"}",
    "{\"displayName\": NaN}",
    "{\"displayName\": 1e400}",
    "{\"displayName\": \"\\ud800\"}",
    "{\"displayName\": \"\\u0000\"}",
    "{'displayName': 'single quotes'}",
    "\u{feff}{\"displayName\": \"bom\"}",
    "null",
    "true",
    "[]",
    "[{}]",
    "\"string\"",
    "12",
    "{\"requests\": [",
    "{\"requests\": [{\"id\": \"1\", \"method\": \"GET\", \"url\": ",
    "displayName=x",
    "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--",
];

fn malformed_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(MALFORMED).prop_map(|s| s.as_bytes().to_vec()),
        // A valid object cut short.
        3 => (json_object(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let text = serde_json::to_vec(&v).unwrap();
            let at = cut.index(text.len().max(1));
            text[..at.min(text.len())].to_vec()
        }),
        // Invalid UTF-8 inside a string, and raw bytes.
        1 => "[ -~]{0,8}".prop_map(|s| {
            let mut b = b"{\"displayName\": \"".to_vec();
            b.extend_from_slice(s.as_bytes());
            b.extend_from_slice(&[0xff, 0xfe, 0xc3]);
            b.extend_from_slice(b"\"}");
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
    .boxed()
}

fn huge_body() -> BoxedStrategy<Vec<u8>> {
    (
        prop_oneof![
            0usize..64,
            4000usize..5000,
            (64usize * 1024 - 64)..=(64usize * 1024)
        ],
        pick(&["x", "é", "'", "\\u0000", "\\\"", "漢"]),
        pick(&["displayName", "description", "catalogId", "nope"]),
        prop::option::of(pick(&[GENERAL, MARKETING])),
    )
        .prop_map(|(bytes, unit, key, catalog)| {
            let text = unit.repeat(bytes / unit.len());
            let mut body = format!("{{\"{key}\":\"{text}\"");
            if let Some(c) = catalog {
                body.push_str(&format!(
                    ",\"catalogId\":\"{c}\",\"catalog\":{{\"id\":\"{c}\"}}"
                ));
            }
            body.push('}');
            body.into_bytes()
        })
        .boxed()
}

fn nested_body() -> BoxedStrategy<Vec<u8>> {
    (1usize..3000, 0u8..4)
        .prop_map(|(n, shape)| {
            let arrays = format!("{}{}", "[".repeat(n), "]".repeat(n));
            let text = match shape {
                0 => arrays,
                1 => format!("{{\"displayName\":\"x\",\"catalog\":{arrays}}}"),
                2 => format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)),
                // Unbalanced.
                _ => "[".repeat(n),
            };
            text.into_bytes()
        })
        .boxed()
}

/// A control-API token request (or settings), with odd lifetimes and lists.
fn token_body() -> BoxedStrategy<Value> {
    (
        prop_oneof![
            3 => pick(&[ADMIN, READER, AUTOMATION_APP, "41000000-0000-4000-8000-000000000001", "nobody"]).prop_map(|p| json!(p)),
            1 => json_value(),
        ],
        prop::option::of(prop_oneof![
            any::<i64>().prop_map(|n| json!(n)),
            (-5i64..100_000).prop_map(|n| json!(n)),
            json_value(),
        ]),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        prop::option::of(prop_oneof![any::<i64>().prop_map(|n| json!(n)), json_value()]),
    )
        .prop_map(|(persona, lifetime, scopes, roles, page_size)| {
            let mut m = Map::new();
            m.insert("as".into(), persona);
            if let Some(l) = lifetime {
                m.insert("lifetimeSeconds".into(), l);
            }
            if let Some(v) = scopes {
                m.insert("scopes".into(), v);
            }
            if let Some(v) = roles {
                m.insert("roles".into(), v);
            }
            if let Some(v) = page_size {
                m.insert("pageSize".into(), v);
            }
            Value::Object(m)
        })
        .boxed()
}

fn body() -> BoxedStrategy<Option<Vec<u8>>> {
    let to_bytes = |v: Value| Some(serde_json::to_vec(&v).unwrap());
    prop_oneof![
        4 => Just(None),
        3 => json_object().prop_map(to_bytes),
        4 => plausible_body().prop_map(to_bytes),
        2 => batch_body().prop_map(to_bytes),
        2 => malformed_body().prop_map(Some),
        1 => huge_body().prop_map(Some),
        1 => nested_body().prop_map(Some),
        1 => json_value().prop_map(to_bytes),
        1 => token_body().prop_map(to_bytes),
    ]
    .boxed()
}

const CONTENT_TYPES: &[&str] = &[
    "application/json; charset=utf-8",
    "application/JSON",
    "application/json;odata.metadata=minimal",
    "application/json; charset=latin1",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/merge-patch+json",
    "application/jsonx",
    "*/*",
    "",
    ";;;",
    "garbage/",
];

const CLAIMS: &[&str] = &[
    "exp", "nbf", "iat", "aud", "iss", "tid", "oid", "scp", "roles", "wids", "idtyp", "upn",
    "appid", "azp", "sub", "",
];

/// A JWT: the admin's claims with some replaced or removed, or a broken shape.
fn crafted_jwt(tokens: &Tokens) -> BoxedStrategy<String> {
    let claims = tokens.admin_claims.clone();
    let signature = tokens.admin_signature.clone();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let mutated = prop::collection::vec(
        (prop::sample::select(CLAIMS), prop::option::of(json_value())),
        1..4,
    )
    .prop_map(move |changes| {
        let mut c = claims.clone();
        for (k, v) in changes {
            match v {
                Some(v) => c.insert(k.to_string(), v),
                None => c.remove(k),
            };
        }
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Value::Object(c)).unwrap());
        format!("{header}.{payload}.{signature}")
    });
    let header2 = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let broken = prop_oneof![
        json_value().prop_map(move |v| {
            let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
            format!("{header2}.{payload}.sig")
        }),
        pick(&[
            "a.b.c",
            "..",
            ".",
            "a.b",
            "a.b.c.d",
            "eyJhbGciOiJub25lIn0.e30.",
            "eyJhbGciOiJub25lIn0.bm90IGpzb24.",
            "eyJ.eyJ.eyJ",
        ])
        .prop_map(str::to_string),
    ];
    prop_oneof![3 => mutated, 1 => broken].boxed()
}

fn authorization(tokens: &Tokens) -> BoxedStrategy<Option<String>> {
    let admin = tokens.admin.clone();
    let admin2 = tokens.admin.clone();
    let admin3 = tokens.admin.clone();
    prop_oneof![
        2 => Just(None),
        10 => Just(Some(format!("Bearer {admin}"))),
        2 => prop::sample::select(tokens.others.clone()).prop_map(|t| Some(format!("Bearer {t}"))),
        3 => crafted_jwt(tokens).prop_map(|t| Some(format!("Bearer {t}"))),
        1 => pick(&[
            "Bearer", "Bearer ", "bearer", "Basic dXNlcjpwYXNz", "Bearer  ", "Negotiate abc", "Bearer a b c",
            "",
        ]).prop_map(|s| Some(s.to_string())),
        1 => "[ -~]{0,40}".prop_map(Some),
        1 => any::<prop::sample::Index>().prop_map(move |i| {
            let cut = i.index(admin2.len());
            Some(format!("Bearer {}", &admin2[..cut]))
        }),
        1 => pick(&["bearer {}", "BEARER {}", "Bearer {}x", "Bearer  {}  ", "Bearer {} extra"])
            .prop_map(move |shape| Some(shape.replace("{}", &admin3))),
    ]
    .boxed()
}

fn extra_headers() -> BoxedStrategy<Vec<(String, String)>> {
    let header = prop_oneof![
        "[!-~][ -~]{0,30}".prop_map(|v| ("client-request-id".to_string(), v)),
        pick(&[
            "application/json",
            "text/plain",
            "*/*",
            "application/xml",
            ""
        ])
        .prop_map(|v| ("Accept".to_string(), v.to_string())),
        pick(&[
            "odata.maxpagesize=1",
            "odata.maxpagesize=0",
            "odata.maxpagesize=-5",
            "return=minimal",
            "return=representation",
            "garbage",
        ])
        .prop_map(|v| ("Prefer".to_string(), v.to_string())),
        Just(("ConsistencyLevel".to_string(), "eventual".to_string())),
        pick(&["*", "W/\"1\"", "garbage"]).prop_map(|v| ("If-Match".to_string(), v.to_string())),
        pick(&["gzip", "br", "identity", "nope"])
            .prop_map(|v| ("Accept-Encoding".to_string(), v.to_string())),
        "[ -~]{0,30}".prop_map(|v| ("X-Random".to_string(), v)),
        // `Origin` sends a request through the CORS layer (src/http/cors.rs), another path.
        pick(&[
            "http://localhost:3000",
            "null",
            "https://app.example",
            "garbage"
        ])
        .prop_map(|v| ("Origin".to_string(), v.to_string())),
    ];
    prop::collection::vec(header, 0..3).boxed()
}

fn random_request(tokens: &Tokens) -> BoxedStrategy<FuzzRequest> {
    let method = prop_oneof![
        4 => Just(Method::GET),
        4 => Just(Method::POST),
        2 => Just(Method::PATCH),
        1 => Just(Method::PUT),
        2 => Just(Method::DELETE),
    ];
    let content_type = prop_oneof![
        6 => Just(Some("application/json".to_string())),
        2 => Just(None),
        2 => prop::sample::select(CONTENT_TYPES).prop_map(|c| Some(c.to_string())),
    ];
    (
        method,
        path(),
        authorization(tokens),
        content_type,
        extra_headers(),
        body(),
    )
        .prop_map(|(method, path, auth, content_type, extra, body)| {
            let mut headers = Vec::new();
            if let Some(a) = auth {
                headers.push(("Authorization".to_string(), a));
            }
            if let Some(c) = content_type {
                headers.push(("Content-Type".to_string(), c));
            }
            headers.extend(extra);
            FuzzRequest {
                method,
                path,
                headers,
                body,
            }
        })
        .boxed()
}

/// The entity kinds a coherent request addresses.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Catalog,
    Package,
    RoleAssignment,
}

/// A create or update body for `kind` in `v1` or beta shape: mostly valid, sometimes with one
/// odd property.
fn entity_body(kind: Kind, v1: bool) -> BoxedStrategy<Value> {
    let catalog = prop_oneof![
        6 => pick(&[GENERAL, MARKETING]).prop_map(str::to_string),
        1 => id_text(),
    ];
    let extra = prop::option::weighted(0.25, (json_key(), json_value()));
    let name = prop_oneof![
        4 => "[a-zA-Z0-9 ]{1,20}",
        1 => json_string(),
    ];
    match kind {
        Kind::Catalog => (
            name,
            prop::option::of(json_string()),
            prop::option::of(any::<bool>()),
            prop::option::of(pick(&["published", "unpublished", "Published", "nope"])),
            extra,
        )
            .prop_map(move |(name, description, visible, state, extra)| {
                let mut m = Map::new();
                m.insert("displayName".into(), json!(name));
                if let Some(d) = description {
                    m.insert("description".into(), json!(d));
                }
                if let Some(v) = visible {
                    m.insert("isExternallyVisible".into(), json!(v));
                }
                if let Some(st) = state {
                    m.insert(if v1 { "state" } else { "catalogStatus" }.into(), json!(st));
                }
                if let Some((k, v)) = extra {
                    m.insert(k, v);
                }
                Value::Object(m)
            })
            .boxed(),
        Kind::Package => (
            name,
            prop::option::weighted(0.8, catalog),
            prop::option::of(json_string()),
            prop::option::of(any::<bool>()),
            extra,
        )
            .prop_map(move |(name, catalog, description, hidden, extra)| {
                let mut m = Map::new();
                m.insert("displayName".into(), json!(name));
                if let Some(c) = catalog {
                    if v1 {
                        m.insert("catalog".into(), json!({"id": c}));
                    } else {
                        m.insert("catalogId".into(), json!(c));
                    }
                }
                if let Some(d) = description {
                    m.insert("description".into(), json!(d));
                }
                if let Some(h) = hidden {
                    m.insert("isHidden".into(), json!(h));
                }
                if let Some((k, v)) = extra {
                    m.insert(k, v);
                }
                Value::Object(m)
            })
            .boxed(),
        Kind::RoleAssignment => (
            pick(&[
                "20000000-0000-4000-8000-000000000005",
                "20000000-0000-4000-8000-000000000006",
                "30000000-0000-4000-8000-000000000001",
                "40000000-0000-4000-8000-000000000001",
            ]),
            pick(&[
                "ae79f266-94d4-4dab-b730-feca7e132178",
                "44272f93-9762-48e8-af59-1b5351b1d6b3",
                "7f480852-ebdc-47d4-87de-0d8498384a83",
                "ba92d953-d8e0-4e39-a797-0cbedb0a89e8",
                "ae79f266-94d4-4dab-b730-feca7e132179",
            ]),
            prop_oneof![
                4 => catalog.prop_map(|c| format!("/AccessPackageCatalog/{c}")),
                1 => Just("/".to_string()),
                1 => json_string(),
            ],
            extra,
        )
            .prop_map(|(principal, role, scope, extra)| {
                let mut m = Map::new();
                m.insert("principalId".into(), json!(principal));
                m.insert("roleDefinitionId".into(), json!(role));
                m.insert("appScopeId".into(), json!(scope));
                if let Some((k, v)) = extra {
                    m.insert(k, v);
                }
                Value::Object(m)
            })
            .boxed(),
    }
}

/// A request shaped like real client traffic (admin token, JSON, a path and body that fit), so
/// the store changes and the checks run against a moving state.
fn coherent_request(tokens: &Tokens) -> BoxedStrategy<FuzzRequest> {
    let admin = tokens.admin.clone();
    let target = (
        prop_oneof![
            3 => Just(Kind::Catalog),
            3 => Just(Kind::Package),
            1 => Just(Kind::RoleAssignment),
        ],
        any::<bool>(),
    );
    target
        .prop_flat_map(move |(kind, v1)| {
            let collection = match (kind, v1) {
                (Kind::Catalog, true) => format!("{EM_V1}/catalogs"),
                (Kind::Catalog, false) => format!("{EM_BETA}/accessPackageCatalogs"),
                (Kind::Package, true) => format!("{EM_V1}/accessPackages"),
                (Kind::Package, false) => format!("{EM_BETA}/accessPackages"),
                (Kind::RoleAssignment, _) => RBAC_V1.to_string() + "/roleAssignments",
            };
            let ids: &'static [&'static str] = match kind {
                Kind::Catalog => &[GENERAL, MARKETING],
                Kind::Package => &[CAMPAIGN_PACKAGE, ANALYTICS_PACKAGE],
                Kind::RoleAssignment => &[
                    "70000000-0000-4000-8000-000000000001",
                    "70000000-0000-4000-8000-000000000003",
                ],
            };
            let entity = prop_oneof![
                4 => pick(ids).prop_map(str::to_string),
                1 => guid(),
            ];
            let collection2 = collection.clone();
            let collection3 = collection.clone();
            let collection4 = collection.clone();
            let operation = prop_oneof![
                4 => query_string().prop_map(move |q| (Method::GET, format!("{collection}{q}"), None)),
                1 => Just((Method::GET, format!("{}/$count", collection2), None)),
                2 => entity.clone().prop_map(move |id| (Method::GET, format!("{collection3}/{id}"), None)),
                3 => entity_body(kind, v1).prop_map(move |b| (Method::POST, collection4.clone(), Some(b))),
                2 => (entity.clone(), entity_body(kind, v1)).prop_map({
                    let c = match (kind, v1) {
                        (Kind::Catalog, true) => format!("{EM_V1}/catalogs"),
                        (Kind::Catalog, false) => format!("{EM_BETA}/accessPackageCatalogs"),
                        (Kind::Package, true) => format!("{EM_V1}/accessPackages"),
                        (Kind::Package, false) => format!("{EM_BETA}/accessPackages"),
                        (Kind::RoleAssignment, _) => RBAC_V1.to_string() + "/roleAssignments",
                    };
                    move |(id, b)| (Method::PATCH, format!("{c}/{id}"), Some(b))
                }),
                1 => entity.prop_map({
                    let c = match kind {
                        Kind::Catalog => format!("{EM_V1}/catalogs"),
                        Kind::Package => format!("{EM_BETA}/accessPackages"),
                        Kind::RoleAssignment => RBAC_V1.to_string() + "/roleAssignments",
                    };
                    move |id| (Method::DELETE, format!("{c}('{id}')"), None)
                }),
            ];
            operation
        })
        .prop_map(move |(method, path, body): (Method, String, Option<Value>)| {
            let mut headers = vec![("Authorization".to_string(), format!("Bearer {admin}"))];
            if body.is_some() {
                headers.push(("Content-Type".to_string(), "application/json".to_string()));
            }
            FuzzRequest {
                method,
                path,
                headers,
                body: body.map(|b| serde_json::to_vec(&b).unwrap()),
            }
        })
        .boxed()
}

/// A `$batch` of coherent requests, some depending on the one before.
fn coherent_batch(tokens: &Tokens) -> BoxedStrategy<FuzzRequest> {
    let admin = tokens.admin.clone();
    (
        prop::collection::vec((coherent_request(tokens), any::<bool>()), 1..8),
        any::<bool>(),
    )
        .prop_map(move |(items, v1)| {
            let items: Vec<Value> = items
                .iter()
                .enumerate()
                .map(|(i, (r, depends))| {
                    // `/v1.0/identityGovernance/…` → `/identityGovernance/…`
                    let url = r.path.splitn(3, '/').nth(2).unwrap_or_default();
                    let mut item = json!({"id": (i + 1).to_string(), "method": r.method.as_str(), "url": format!("/{url}")});
                    if let Some(b) = &r.body {
                        item["headers"] = json!({"Content-Type": "application/json"});
                        item["body"] = serde_json::from_slice(b).unwrap();
                    }
                    if *depends && i > 0 {
                        item["dependsOn"] = json!([i.to_string()]);
                    }
                    item
                })
                .collect();
            FuzzRequest {
                method: Method::POST,
                path: if v1 { "/v1.0/$batch" } else { "/beta/$batch" }.to_string(),
                headers: vec![
                    ("Authorization".to_string(), format!("Bearer {admin}")),
                    ("Content-Type".to_string(), "application/json".to_string()),
                ],
                body: Some(serde_json::to_vec(&json!({ "requests": items })).unwrap()),
            }
        })
        .boxed()
}

fn request(tokens: &Tokens) -> BoxedStrategy<FuzzRequest> {
    prop_oneof![
        4 => coherent_request(tokens),
        1 => coherent_batch(tokens),
        6 => random_request(tokens),
    ]
    .boxed()
}

/// What came back, read whole.
struct Answer {
    status: StatusCode,
    content_type: String,
    bytes: Vec<u8>,
}

async fn send_raw(client: &reqwest::Client, base: &str, r: &FuzzRequest) -> Result<Answer, String> {
    let url = reqwest::Url::parse(&format!("{base}{}", r.path))
        .map_err(|e| format!("the generated URL does not parse: {e}"))?;
    let mut req = client.request(r.method.clone(), url);
    for (k, v) in &r.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some(b) = &r.body {
        req = req.body(b.clone());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("the request did not complete: {e:?}"))?;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("the response body did not arrive whole: {e:?}"))?
        .to_vec();
    Ok(Answer {
        status,
        content_type,
        bytes,
    })
}

async fn read_state(client: &reqwest::Client, base: &str) -> Result<String, String> {
    let resp = client
        .get(format!("{base}/_emulator/state"))
        .send()
        .await
        .map_err(|e| format!("GET /_emulator/state did not complete: {e:?}"))?;
    if resp.status() != StatusCode::OK {
        return Err(format!("GET /_emulator/state answered {}", resp.status()));
    }
    resp.text()
        .await
        .map_err(|e| format!("GET /_emulator/state body: {e:?}"))
}

/// `Err(why)` unless `body` is `{"error":{"code":string,"message":string,"innerError":{…}}}`.
fn check_envelope(body: &Value) -> Result<(), String> {
    let error = body
        .get("error")
        .and_then(Value::as_object)
        .ok_or("no 'error' object")?;
    if !error.get("code").is_some_and(Value::is_string) {
        return Err("'error.code' is not a string".into());
    }
    if !error.get("message").is_some_and(Value::is_string) {
        return Err("'error.message' is not a string".into());
    }
    if !error.get("innerError").is_some_and(Value::is_object) {
        return Err("'error.innerError' is not an object".into());
    }
    Ok(())
}

fn is_json(content_type: &str) -> bool {
    content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
}

/// Where two state exports first differ, with context from both.
fn state_diff(before: &str, after: &str) -> String {
    let at = before
        .bytes()
        .zip(after.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(before.len().min(after.len()));
    let window = |s: &str| {
        let mut start = at.saturating_sub(200).min(s.len());
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (at + 200).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        s[start..end].to_string()
    };
    format!(
        "first difference at byte {at}:\n  before: …{}…\n  after:  …{}…",
        window(before),
        window(after)
    )
}

/// The identity platform's routes, which answer errors in Entra's shape, not Graph's.
fn identity_path(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or("");
    [
        "/oauth2/v2.0/token",
        "/oauth2/v2.0/authorize",
        "/v2.0/.well-known/openid-configuration",
        "/discovery/v2.0/keys",
        "/discovery/keys",
        "/common/discovery/instance",
    ]
    .iter()
    .any(|suffix| path.trim_end_matches('/').ends_with(suffix))
        || path.starts_with("/common/userrealm/")
        || path.trim_end_matches('/') == "/metadata/endpoints"
}

/// Entra's error body: `error`, `error_description` and the AADSTS number.
fn check_entra_error(body: &Value) -> Result<(), String> {
    let code = body["error_codes"][0].as_u64();
    match (
        body["error"].as_str(),
        body["error_description"].as_str(),
        code,
    ) {
        (Some(_), Some(d), Some(c)) if d.starts_with(&format!("AADSTS{c}: ")) => Ok(()),
        _ => Err("not Entra's error body".into()),
    }
}

/// The properties every answer must have; `Err` names the one that failed.
fn check_answer(answer: &Answer, identity: bool) -> Result<(), String> {
    let status = answer.status;
    let text = String::from_utf8_lossy(&answer.bytes);
    if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
        return Err(format!("answered {status}: {}", abbreviate(&text, 800)));
    }
    let parsed: Option<Value> = if answer.bytes.is_empty() {
        None
    } else if is_json(&answer.content_type) {
        Some(serde_json::from_slice(&answer.bytes).map_err(|e| {
            format!(
                "answered {status} with Content-Type {} but a body that is not JSON ({e}): {}",
                answer.content_type,
                abbreviate(&text, 800)
            )
        })?)
    } else {
        None
    };
    if !status.is_success() && !answer.bytes.is_empty() {
        if !is_json(&answer.content_type) {
            return Err(format!(
                "answered {status} with Content-Type {:?}, not JSON: {}",
                answer.content_type,
                abbreviate(&text, 800)
            ));
        }
        let body = parsed.as_ref().unwrap_or(&Value::Null);
        let envelope = if identity && body.get("error_codes").is_some() {
            check_entra_error(body)
        } else {
            check_envelope(body)
        };
        if let Err(why) = envelope {
            return Err(format!(
                "answered {status} without Graph's error envelope ({why}): {}",
                abbreviate(&text, 800)
            ));
        }
    }
    // A `$batch` answer: every item obeys the same rules.
    if let Some(responses) = parsed
        .as_ref()
        .filter(|_| status.is_success())
        .and_then(|b| b.get("responses"))
        .and_then(Value::as_array)
    {
        for item in responses {
            let Some(code) = item.get("status").and_then(Value::as_u64) else {
                return Err(format!("a $batch item has no numeric status: {item}"));
            };
            if code >= 500 && code != 501 {
                return Err(format!("a $batch item answered {code}: {item}"));
            }
            let item_body = item.get("body").unwrap_or(&Value::Null);
            if code >= 300 && !item_body.is_null() {
                check_envelope(item_body).map_err(|why| {
                    format!("a $batch item answered {code} without Graph's error envelope ({why}): {item}")
                })?;
            }
        }
    }
    Ok(())
}

async fn run_case(
    client: &reqwest::Client,
    base: &str,
    requests: &[FuzzRequest],
    seen: &Mutex<BTreeMap<u16, usize>>,
) -> Result<(), TestCaseError> {
    for r in requests {
        let before = read_state(client, base)
            .await
            .map_err(TestCaseError::fail)?;
        let answer = match send_raw(client, base, r).await {
            Ok(a) => a,
            Err(why) if why.starts_with("the generated URL") => {
                return Err(TestCaseError::reject(why));
            }
            Err(why) => return Err(TestCaseError::fail(format!("{why}\nrequest: {r:?}"))),
        };
        *seen
            .lock()
            .unwrap()
            .entry(answer.status.as_u16())
            .or_default() += 1;
        check_answer(&answer, identity_path(&r.path))
            .map_err(|why| TestCaseError::fail(format!("{why}\nrequest: {r:?}")))?;
        if !answer.status.is_success() {
            let after = read_state(client, base)
                .await
                .map_err(|why| TestCaseError::fail(format!("{why}\nafter request: {r:?}")))?;
            if after != before {
                return Err(TestCaseError::fail(format!(
                    "refused with {} but the state changed; {}\nrequest: {r:?}",
                    answer.status,
                    state_diff(&before, &after)
                )));
            }
        }
    }
    Ok(())
}

/// Catalog references in a state export that name no catalog.
fn dangling_references(state: &Value) -> Vec<String> {
    let catalogs: BTreeSet<&str> = state["catalogs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    let mut out = Vec::new();
    for (table, field) in [("accessPackages", "catalogId"), ("resources", "catalogId")] {
        for row in state[table].as_array().unwrap() {
            let catalog = row[field].as_str().unwrap_or("<none>");
            if !catalogs.contains(catalog) {
                out.push(format!("{table} {} names catalog {catalog}", row["id"]));
            }
        }
    }
    for a in state["roleAssignments"].as_array().unwrap() {
        if let Some(c) = a["appScopeId"]
            .as_str()
            .and_then(|s| s.strip_prefix("/AccessPackageCatalog/"))
        {
            if !catalogs.contains(c) {
                out.push(format!("roleAssignment {} names catalog {c}", a["id"]));
            }
        }
    }
    out
}

#[test]
fn random_requests_never_break_the_emulator() {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t = rt.block_on(TestTenant::start());
    let base = t.emu.uri();
    // A fresh connection per request: the emulator may close a connection after refusing a
    // request whose body it did not read (see `early_refusals_keep_the_connection_usable`),
    // which would fail the next, unrelated request on a pooled connection.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let admin = t.token.clone().expect("the admin token mints");
    let parts: Vec<&str> = admin.split('.').collect();
    let admin_claims: Map<String, Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let signature = parts[2].to_string();
    let tokens = Tokens {
        others: [
            READER,
            REQUESTOR1,
            CATALOG_OWNER,
            AUTOMATION_APP,
            REPORTER_APP,
        ]
        .iter()
        .map(|p| t.token_for(p))
        .collect(),
        admin,
        admin_claims,
        admin_signature: signature,
    };
    let strategy = prop::collection::vec(request(&tokens), 1..5);
    let config = Config {
        cases: 128,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    };
    // CI explores a fixed sequence so a red build is reproducible; set EMULATOR_FUZZ_RANDOM=1
    // locally to explore new cases.
    let mut runner = if std::env::var_os("EMULATOR_FUZZ_RANDOM").is_some() {
        TestRunner::new(config)
    } else {
        TestRunner::new_with_rng(
            config,
            proptest::test_runner::TestRng::deterministic_rng(
                proptest::test_runner::RngAlgorithm::ChaCha,
            ),
        )
    };
    let seen = Mutex::new(BTreeMap::new());
    let result = runner.run(&strategy, |requests| {
        rt.block_on(run_case(&client, &base, &requests, &seen))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generator reaches past routing and authentication: some requests succeed, some
    // create, and refusals come in several kinds.
    let seen = seen.into_inner().unwrap();
    println!("statuses seen: {seen:?}");
    for status in [200, 201, 400, 401, 404] {
        assert!(seen.contains_key(&status), "no {status} among {seen:?}");
    }

    // Still serving, and whatever the accepted writes did, the store is consistent.
    let after = rt.block_on(t.get(&format!("{EM_V1}/catalogs")));
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    let state: Value = serde_json::from_str(&rt.block_on(t.state())).unwrap();
    let dangling = dangling_references(&state);
    assert!(dangling.is_empty(), "dangling references: {dangling:#?}");
    drop(t);
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(30),
        "the random-request run took {elapsed:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Parallel writers
// ---------------------------------------------------------------------------------------------

const TASKS: usize = 16;
const OPS_PER_TASK: usize = 25;

/// What one task did, by the emulator's own answers.
#[derive(Debug, Default)]
struct Report {
    created_catalogs: Vec<String>,
    deleted_catalogs: Vec<String>,
    /// Every package the task created: id → catalog id.
    created_packages: BTreeMap<String, String>,
    deleted_packages: Vec<String>,
    /// The displayName each surviving own catalog and package must have in the end.
    catalog_names: BTreeMap<String, String>,
    package_names: BTreeMap<String, String>,
}

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn ids_of(resp: &Resp) -> BTreeSet<String> {
    resp.body["value"]
        .as_array()
        .unwrap_or_else(|| panic!("not a collection: {}", resp.text))
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

async fn writer(t: Arc<TestTenant>, task: usize, shared: [String; 2]) -> Report {
    let mut rng = Lcg(task as u64 * 7919 + 17);
    let mut report = Report::default();
    // Own live catalogs and packages (package → its catalog).
    let mut catalogs: Vec<String> = Vec::new();
    let mut packages: BTreeMap<String, String> = BTreeMap::new();
    let prefix = format!("t{task}-");
    for op in 0..OPS_PER_TASK {
        let v1 = rng.below(2) == 0;
        match rng.below(18) {
            0..=1 => {
                let name = format!("{prefix}c{op}");
                let resp = if v1 {
                    t.post(&format!("{EM_V1}/catalogs"), json!({"displayName": name}))
                        .await
                } else {
                    t.post(
                        &format!("{EM_BETA}/accessPackageCatalogs"),
                        json!({"displayName": name}),
                    )
                    .await
                };
                assert_eq!(
                    resp.status,
                    StatusCode::CREATED,
                    "task {task} op {op}: create catalog: {}",
                    resp.text
                );
                let id = resp.body["id"].as_str().unwrap().to_string();
                report.created_catalogs.push(id.clone());
                report.catalog_names.insert(id.clone(), name);
                catalogs.push(id);
            }
            2..=5 => {
                // Into an own catalog, one of the shared ones, or General.
                let pick = rng.below(catalogs.len() + 6);
                let catalog = match pick {
                    0..=2 => GENERAL.to_string(),
                    3 | 4 => shared[0].clone(),
                    5 => shared[1].clone(),
                    _ => catalogs[pick - 6].clone(),
                };
                let name = format!("{prefix}p{op}");
                let resp = if v1 {
                    t.post(
                        &format!("{EM_V1}/accessPackages"),
                        json!({"displayName": name, "catalog": {"id": catalog}}),
                    )
                    .await
                } else {
                    t.post(
                        &format!("{EM_BETA}/accessPackages"),
                        json!({"displayName": name, "catalogId": catalog}),
                    )
                    .await
                };
                if catalog == shared[1] && resp.status == StatusCode::NOT_FOUND {
                    // Another task deleted the contested catalog first.
                    continue;
                }
                assert_eq!(
                    resp.status,
                    StatusCode::CREATED,
                    "task {task} op {op}: create package in {catalog}: {}",
                    resp.text
                );
                let id = resp.body["id"].as_str().unwrap().to_string();
                report.created_packages.insert(id.clone(), catalog.clone());
                report.package_names.insert(id.clone(), name);
                packages.insert(id, catalog);
            }
            6..=9 if !packages.is_empty() => {
                let id = packages
                    .keys()
                    .nth(rng.below(packages.len()))
                    .unwrap()
                    .clone();
                let name = format!("{prefix}p-{id}-v{op}");
                let path = if v1 {
                    format!("{EM_V1}/accessPackages/{id}")
                } else {
                    format!("{EM_BETA}/accessPackages/{id}")
                };
                let resp = t
                    .patch(
                        &path,
                        json!({"displayName": name, "description": format!("v{op}")}),
                    )
                    .await;
                assert_eq!(
                    resp.status,
                    StatusCode::NO_CONTENT,
                    "task {task} op {op}: PATCH {path}: {}",
                    resp.text
                );
                report.package_names.insert(id.clone(), name.clone());
                // Read your own write, through the other version.
                let other = if v1 {
                    format!("{EM_BETA}/accessPackages/{id}")
                } else {
                    format!("{EM_V1}/accessPackages/{id}")
                };
                let got = t.get(&other).await;
                assert_eq!(
                    (got.status, got.body["displayName"].as_str()),
                    (StatusCode::OK, Some(name.as_str())),
                    "task {task} op {op}: GET {other} after PATCH: {}",
                    got.text
                );
            }
            10..=11 if !packages.is_empty() => {
                // Packages in the contested catalog go first, so it empties now and then.
                let contested = packages.iter().find(|(_, c)| **c == shared[1]);
                let id = match contested {
                    Some((id, _)) => id.clone(),
                    None => packages
                        .keys()
                        .nth(rng.below(packages.len()))
                        .unwrap()
                        .clone(),
                };
                let path = if v1 {
                    format!("{EM_V1}/accessPackages/{id}")
                } else {
                    format!("{EM_BETA}/accessPackages('{id}')")
                };
                let resp = t.delete(&path).await;
                assert_eq!(
                    resp.status,
                    StatusCode::NO_CONTENT,
                    "task {task} op {op}: DELETE {path}: {}",
                    resp.text
                );
                packages.remove(&id);
                report.package_names.remove(&id);
                report.deleted_packages.push(id.clone());
                let gone = t.get(&format!("{EM_V1}/accessPackages/{id}")).await;
                assert_eq!(
                    gone.status,
                    StatusCode::NOT_FOUND,
                    "task {task} op {op}: deleted package still readable"
                );
            }
            12..=13 if !catalogs.is_empty() => {
                let i = rng.below(catalogs.len());
                let id = catalogs[i].clone();
                let holds = packages.values().any(|c| *c == id);
                if rng.below(2) == 0 {
                    // Rename it instead.
                    let name = format!("{prefix}c-{id}-v{op}");
                    let resp = t
                        .patch(
                            &format!("{EM_V1}/catalogs/{id}"),
                            json!({"displayName": name}),
                        )
                        .await;
                    assert_eq!(
                        resp.status,
                        StatusCode::NO_CONTENT,
                        "task {task} op {op}: PATCH catalog {id}: {}",
                        resp.text
                    );
                    report.catalog_names.insert(id, name);
                    continue;
                }
                let resp = t
                    .delete(&format!("{EM_BETA}/accessPackageCatalogs/{id}"))
                    .await;
                if holds {
                    assert_eq!(
                        (resp.status, resp.code()),
                        (
                            StatusCode::BAD_REQUEST,
                            "InvalidDeleteCatalogHasAccessPackages"
                        ),
                        "task {task} op {op}: DELETE catalog {id} that holds packages: {}",
                        resp.text
                    );
                } else {
                    assert_eq!(
                        resp.status,
                        StatusCode::NO_CONTENT,
                        "task {task} op {op}: DELETE empty catalog {id}: {}",
                        resp.text
                    );
                    catalogs.remove(i);
                    report.catalog_names.remove(&id);
                    report.deleted_catalogs.push(id);
                }
            }
            14 => {
                // The contested catalog: deleted at most once, never while it holds packages.
                let resp = t.delete(&format!("{EM_V1}/catalogs/{}", shared[1])).await;
                match resp.status {
                    StatusCode::NO_CONTENT => report.deleted_catalogs.push(shared[1].clone()),
                    StatusCode::NOT_FOUND => {}
                    StatusCode::BAD_REQUEST => assert_eq!(
                        resp.code(),
                        "InvalidDeleteCatalogHasAccessPackages",
                        "{}",
                        resp.text
                    ),
                    other => panic!(
                        "task {task} op {op}: DELETE contested catalog answered {other}: {}",
                        resp.text
                    ),
                }
            }
            _ => {
                // My packages and catalogs, listed: exactly what I hold.
                let filter = format!("startswith(displayName,'{prefix}')");
                let list = t
                    .get(&format!(
                        "{EM_V1}/accessPackages?$filter={filter}&$top=999&$count=true"
                    ))
                    .await;
                assert_eq!(
                    list.status,
                    StatusCode::OK,
                    "task {task} op {op}: {}",
                    list.text
                );
                assert!(
                    list.body.get("@odata.nextLink").is_none(),
                    "one page: {}",
                    list.text
                );
                let want: BTreeSet<String> = packages.keys().cloned().collect();
                assert_eq!(
                    ids_of(&list),
                    want,
                    "task {task} op {op}: my packages, listed"
                );
                assert_eq!(list.body["@odata.count"], json!(want.len()));
                let list = t
                    .get(&format!(
                        "{EM_BETA}/accessPackageCatalogs?$filter={filter}&$top=999"
                    ))
                    .await;
                assert_eq!(
                    list.status,
                    StatusCode::OK,
                    "task {task} op {op}: {}",
                    list.text
                );
                let want: BTreeSet<String> = catalogs.iter().cloned().collect();
                assert_eq!(
                    ids_of(&list),
                    want,
                    "task {task} op {op}: my catalogs, listed"
                );
                let all = t
                    .get(&format!("{EM_V1}/accessPackages?$select=id,displayName"))
                    .await;
                assert_eq!(
                    all.status,
                    StatusCode::OK,
                    "task {task} op {op}: {}",
                    all.text
                );
            }
        }
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_writers_keep_the_store_consistent() {
    let started = Instant::now();
    let t = Arc::new(TestTenant::start().await);
    let initial: Value = serde_json::from_str(&t.state().await).unwrap();
    let mut shared = Vec::new();
    for name in ["shared-stable", "shared-contested"] {
        let resp = t
            .post(&format!("{EM_V1}/catalogs"), json!({"displayName": name}))
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
        shared.push(resp.body["id"].as_str().unwrap().to_string());
    }
    let shared: [String; 2] = [shared[0].clone(), shared[1].clone()];

    let handles: Vec<_> = (0..TASKS)
        .map(|task| tokio::spawn(writer(t.clone(), task, shared.clone())))
        .collect();
    let mut reports = Vec::new();
    for (task, h) in handles.into_iter().enumerate() {
        match h.await {
            Ok(r) => reports.push(r),
            Err(e) => panic!("task {task} failed: {e}"),
        }
    }

    let state: Value = serde_json::from_str(&t.state().await).unwrap();
    let ids = |v: &Value, table: &str| -> BTreeSet<String> {
        v[table]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };

    // Catalogs: the fixtures' plus the shared ones plus what was created, minus what was deleted.
    let mut want_catalogs = ids(&initial, "catalogs");
    want_catalogs.extend(shared.iter().cloned());
    let contested_deletes = reports
        .iter()
        .flat_map(|r| &r.deleted_catalogs)
        .filter(|c| **c == shared[1])
        .count();
    assert!(
        contested_deletes <= 1,
        "the contested catalog was deleted {contested_deletes} times"
    );
    for r in &reports {
        want_catalogs.extend(r.created_catalogs.iter().cloned());
    }
    let deleted_catalogs: BTreeSet<String> = reports
        .iter()
        .flat_map(|r| r.deleted_catalogs.iter().cloned())
        .collect();
    for c in &deleted_catalogs {
        want_catalogs.remove(c);
    }
    assert_eq!(
        ids(&state, "catalogs"),
        want_catalogs,
        "catalogs = fixtures + created − deleted"
    );

    // Packages likewise.
    let mut want_packages = ids(&initial, "accessPackages");
    for r in &reports {
        want_packages.extend(r.created_packages.keys().cloned());
    }
    for r in &reports {
        for p in &r.deleted_packages {
            want_packages.remove(p);
        }
    }
    assert_eq!(
        ids(&state, "accessPackages"),
        want_packages,
        "packages = fixtures + created − deleted"
    );
    let created: usize = reports.iter().map(|r| r.created_packages.len()).sum();
    let deleted: usize = reports.iter().map(|r| r.deleted_packages.len()).sum();
    let patched: usize = reports.iter().map(|r| r.package_names.len()).sum();
    println!(
        "{TASKS} tasks: {} catalogs created, {} deleted (contested: {contested_deletes}); \
         {created} packages created, {deleted} deleted, {patched} named at the end",
        reports
            .iter()
            .map(|r| r.created_catalogs.len())
            .sum::<usize>(),
        deleted_catalogs.len(),
    );
    assert!(created > TASKS, "the tasks created packages ({created})");
    assert!(deleted > 0, "the tasks deleted packages");
    assert!(
        deleted_catalogs.len() > 1,
        "the tasks deleted catalogs ({})",
        deleted_catalogs.len()
    );

    // Every package names an existing catalog; no deleted catalog holds a package or a role.
    let dangling = dangling_references(&state);
    assert!(dangling.is_empty(), "dangling references: {dangling:#?}");
    for p in state["accessPackages"].as_array().unwrap() {
        let catalog = p["catalogId"].as_str().unwrap();
        assert!(
            !deleted_catalogs.contains(catalog),
            "package {} is in deleted catalog {catalog}",
            p["id"]
        );
        if let Some(want) = reports
            .iter()
            .find_map(|r| r.created_packages.get(p["id"].as_str().unwrap()))
        {
            assert_eq!(catalog, want, "package {} moved catalogs", p["id"]);
        }
    }

    // No PATCH lost: each surviving own package and catalog has exactly its last name.
    let names = |table: &str| -> BTreeMap<String, String> {
        state[table]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_string(),
                    r["displayName"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (package_names, catalog_names) = (names("accessPackages"), names("catalogs"));
    for r in &reports {
        for (id, name) in &r.package_names {
            assert_eq!(
                package_names.get(id),
                Some(name),
                "package {id}'s last PATCH"
            );
        }
        for (id, name) in &r.catalog_names {
            assert_eq!(
                catalog_names.get(id),
                Some(name),
                "catalog {id}'s last PATCH"
            );
        }
    }

    // Each surviving created catalog has exactly one Catalog owner assignment for its creator.
    let admin_id = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userPrincipalName"] == ADMIN)
        .map(|u| u["id"].clone())
        .unwrap();
    for c in reports
        .iter()
        .flat_map(|r| &r.created_catalogs)
        .chain(&shared)
    {
        let scope = format!("/AccessPackageCatalog/{c}");
        let owners = state["roleAssignments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["appScopeId"] == scope.as_str() && a["principalId"] == admin_id)
            .count();
        let want = usize::from(!deleted_catalogs.contains(c));
        assert_eq!(owners, want, "creator role assignments on catalog {c}");
    }

    // The API's own count agrees with the export.
    let count = t.get(&format!("{EM_V1}/accessPackages/$count")).await;
    assert_eq!(count.status, StatusCode::OK);
    assert_eq!(count.text, want_packages.len().to_string(), "/$count");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the parallel run took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 3. The body limit is exact
// ---------------------------------------------------------------------------------------------

/// `prefix` + spaces + `suffix`, exactly `len` bytes: the last byte closes the JSON, so a
/// success proves the whole body was read.
fn padded(prefix: &str, suffix: &str, len: usize) -> Vec<u8> {
    let pad = len - prefix.len() - suffix.len();
    format!("{prefix}{}{suffix}", " ".repeat(pad)).into_bytes()
}

async fn post_raw(t: &TestTenant, path: &str, body: Vec<u8>) -> Resp {
    t.send(
        Method::POST,
        path,
        t.token.as_deref(),
        &[("Content-Type", "application/json")],
        Some(body),
    )
    .await
}

async fn check_limit(t: &TestTenant, limit: usize) {
    let cases = [
        (
            format!("{EM_V1}/catalogs"),
            r#"{"displayName":"at the limit""#,
            "}",
            StatusCode::CREATED,
        ),
        (
            format!("{EM_BETA}/accessPackageCatalogs"),
            r#"{"displayName":"at the limit""#,
            "}",
            StatusCode::CREATED,
        ),
        (
            "/v1.0/$batch".to_string(),
            r#"{"requests":[{"id":"1","method":"GET","url":"/identityGovernance/entitlementManagement/catalogs"}]"#,
            "}",
            StatusCode::OK,
        ),
    ];
    for (path, prefix, suffix, ok) in cases {
        let before = t.state().await;
        let over = post_raw(t, &path, padded(prefix, suffix, limit + 1)).await;
        assert_eq!(
            (over.status, over.code()),
            (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
            "POST {path} with {} bytes (limit {limit}): {}",
            limit + 1,
            abbreviate(&over.text, 400)
        );
        check_envelope(&over.body).unwrap();
        assert!(is_json(over.header("content-type").unwrap_or("")));
        assert_eq!(t.state().await, before, "a 413 changed the state ({path})");
        let at = post_raw(t, &path, padded(prefix, suffix, limit)).await;
        assert_eq!(
            at.status,
            ok,
            "POST {path} with exactly {limit} bytes: {}",
            abbreviate(&at.text, 400)
        );
        if ok == StatusCode::OK {
            assert_eq!(at.body["responses"][0]["status"], 200, "{}", at.text);
        } else {
            assert_eq!(at.body["displayName"], "at the limit");
        }
    }
}

#[tokio::test]
async fn body_limit_is_exact_to_the_byte() {
    let t = TestTenant::with(builder().body_limit(1500)).await;
    check_limit(&t, 1500).await;
    let t = TestTenant::start().await;
    check_limit(&t, DEFAULT_BODY_LIMIT).await;
}

// ---------------------------------------------------------------------------------------------
// 4. Keep-alive after an early refusal
// ---------------------------------------------------------------------------------------------

/// Reads one HTTP/1.1 response (head and `Content-Length` body); `None` if the connection ends
/// first.
fn read_response(stream: &mut std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((head, buf[head_end..head_end + length].to_vec()))
}

/// Sends a request refused before its body is read, then a GET on the same connection; `Err`
/// says what went wrong.
fn refusal_then_reuse(addr: std::net::SocketAddr, path: &str, body: &str) -> Result<(), String> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // No Authorization: a Graph path that routes is a 401 before its body is read.
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let (head, _) = read_response(&mut stream).ok_or("no response to the refused request")?;
    if !(head.starts_with("http/1.1 4") || head.starts_with("http/1.1 501")) {
        return Err(format!("not a refusal: {head}"));
    }
    if head.contains("\r\nconnection: close") {
        return Ok(());
    }
    let reuse = stream
        .write_all(b"GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .map_err(|e| format!("the connection was closed: {e}"));
    match reuse.map(|()| read_response(&mut stream)) {
        Ok(Some((h, _))) if h.starts_with("http/1.1 200") => Ok(()),
        other => Err(format!(
            "answered {:?} without `Connection: close`, then the connection no longer answered: {other:?}",
            head.lines().next().unwrap_or("")
        )),
    }
}

/// A refusal answered before the body is read (routing, authentication, 501) must leave the
/// keep-alive connection usable or say `Connection: close`; otherwise a client's next,
/// unrelated request on that pooled connection fails.
#[tokio::test]
async fn early_refusals_keep_the_connection_usable() {
    let t = TestTenant::start().await;
    let addr = t.emu.address();
    let body = format!("{{\"displayName\":\"{}\"}}", "x".repeat(64 * 1024));
    for path in [
        format!("{EM_V1}/catalogz"),
        "/v1.0/roleManagement/entitlementManagement/roleAssignmentSchedules".to_string(),
        format!("{EM_V1}/catalogs"),
    ] {
        let body = body.clone();
        let p = path.clone();
        let outcome = tokio::task::spawn_blocking(move || refusal_then_reuse(addr, &p, &body))
            .await
            .unwrap();
        assert_eq!(outcome, Ok(()), "POST {path} with a 64 KiB body");
    }
}

/// The request that took the whole process down (issue 19): a `$filter` of ~7,000 `or` terms
/// overflowed a worker's stack. Now it is refused with the node-count error, directly, as a
/// `$batch` item and without authentication, and the emulator keeps serving every tenant.
#[tokio::test]
async fn a_long_filter_chain_is_refused_and_the_emulator_lives() {
    let chain = vec!["1"; 7_000].join(" or ");
    let query = format!("$filter={}", chain.replace(' ', "%20"));
    let limit = "OData query is invalid: The node count limit of '100' has been exceeded. To increase the limit, set the 'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings.";
    let t = TestTenant::start().await;
    let reader = t.token_for(READER);
    let direct = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/catalogs?{query}"),
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(
        (direct.status, direct.code(), direct.message()),
        (StatusCode::BAD_REQUEST, "InvalidFilter", limit)
    );
    let batch = t
        .post(
            "/v1.0/$batch",
            json!({"requests": [
                {"id": "1", "method": "GET", "url": format!("/identityGovernance/entitlementManagement/accessPackages?{query}")},
                {"id": "2", "method": "GET", "url": "/identityGovernance/entitlementManagement/catalogs"},
            ]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.text);
    let items = batch.body["responses"].as_array().unwrap();
    let item = |id: &str| items.iter().find(|r| r["id"] == id).unwrap();
    assert_eq!(item("1")["status"], 400);
    assert_eq!(item("1")["body"]["error"]["message"], limit);
    assert_eq!(item("2")["status"], 200);
    let alive = t.get(&format!("{EM_V1}/catalogs")).await;
    assert_eq!(alive.status, StatusCode::OK);

    let open = TestTenant::auth_off().await;
    let unauthenticated = open.get(&format!("{EM_V1}/catalogs?{query}")).await;
    assert_eq!(unauthenticated.code(), "InvalidFilter");
    assert_eq!(
        open.get(&format!("{EM_V1}/catalogs")).await.status,
        StatusCode::OK
    );
}
