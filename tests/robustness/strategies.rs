//! The fuzzer's generators: paths, queries (long filter chains among them), headers, tokens and bodies, well-formed and not.

use super::*;

// ---------------------------------------------------------------------------------------------
// 1. Random requests
// ---------------------------------------------------------------------------------------------

/// One generated request. `path` holds path and query as sent (before the URL parser's own
/// percent-encoding of spaces and non-ASCII).
#[derive(Clone)]
pub(super) struct FuzzRequest {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Option<Vec<u8>>,
}

pub(super) fn abbreviate(text: &str, max: usize) -> String {
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
pub(super) struct Tokens {
    pub(super) admin: String,
    pub(super) others: Vec<String>,
    /// The admin token's claims, for mutated JWTs.
    pub(super) admin_claims: Map<String, Value>,
    pub(super) admin_signature: String,
}

pub(super) const SEGMENTS: &[&str] = &[
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

pub(super) const REAL_IDS: &[&str] = &[
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
pub(super) const ODD_SEGMENTS: &[&str] = &[
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
pub(super) const PREFIXES: &[&str] = &[
    EM_V1,
    EM_BETA,
    RBAC_V1,
    "/beta/roleManagement/entitlementManagement",
    "/v1.0",
    "/beta",
    "/_emulator",
];

pub(super) fn pick(items: &'static [&'static str]) -> prop::sample::Select<&'static str> {
    prop::sample::select(items)
}

pub(super) fn guid() -> impl Strategy<Value = String> {
    any::<[u8; 16]>().prop_map(|b| uuid::Uuid::from_bytes(b).to_string())
}

pub(super) fn id_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(REAL_IDS).prop_map(str::to_string),
        2 => guid(),
        1 => "[0-9a-f-]{0,40}",
    ]
    .boxed()
}

pub(super) fn random_text() -> BoxedStrategy<String> {
    prop_oneof!["[a-zA-Z0-9'()%$é漢🦀 ._~-]{0,14}", "\\PC{0,8}",].boxed()
}

pub(super) fn segment() -> BoxedStrategy<String> {
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
pub(super) const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'#')
    .add(b'&')
    .add(b'+')
    .add(b'%')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`');

pub(super) const PROPS: &[&str] = &[
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

pub(super) const LITERALS: &[&str] = &[
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

pub(super) const OPERATORS: &[&str] = &[
    "eq", "ne", "gt", "ge", "lt", "le", "EQ", "has", "add", "-eq", "==",
];

pub(super) const FUNCTIONS: &[&str] = &[
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

pub(super) const FILTER_JUNK: &[&str] = &[
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

pub(super) fn filter_clause() -> BoxedStrategy<String> {
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

pub(super) fn filter_value() -> BoxedStrategy<String> {
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

pub(super) fn expand_value() -> BoxedStrategy<String> {
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

pub(super) fn number_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => (0i64..1100).prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => pick(&[
            "", "-0", "1.0", "1e3", "abc", "999999999999999999999999", " 5", "0x10", "+5", "٣",
        ]).prop_map(str::to_string),
    ]
    .boxed()
}

pub(super) fn query_param() -> BoxedStrategy<(String, String)> {
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

pub(super) fn query_string() -> BoxedStrategy<String> {
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
pub(super) const EM_COLLECTIONS: &[(&str, &str)] = &[
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
pub(super) const NAVIGATIONS: &[(&str, &str)] = &[
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
pub(super) fn structured_path() -> BoxedStrategy<String> {
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

pub(super) fn path() -> BoxedStrategy<String> {
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
pub(super) fn batch_url() -> BoxedStrategy<String> {
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

pub(super) const KEYS: &[&str] = &[
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

pub(super) fn json_string() -> BoxedStrategy<String> {
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

pub(super) fn json_value() -> BoxedStrategy<Value> {
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

pub(super) fn json_key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-zA-Z@.]{0,10}",
        1 => "\\PC{0,6}",
    ]
    .boxed()
}

pub(super) fn json_object() -> BoxedStrategy<Value> {
    prop::collection::vec((json_key(), json_value()), 0..6)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
        .boxed()
}

/// Bodies that look like real creates and updates, so some requests succeed.
pub(super) fn plausible_body() -> BoxedStrategy<Value> {
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

pub(super) fn batch_body() -> BoxedStrategy<Value> {
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

pub(super) const MALFORMED: &[&str] = &[
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

pub(super) fn malformed_body() -> BoxedStrategy<Vec<u8>> {
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

pub(super) fn huge_body() -> BoxedStrategy<Vec<u8>> {
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

pub(super) fn nested_body() -> BoxedStrategy<Vec<u8>> {
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
pub(super) fn token_body() -> BoxedStrategy<Value> {
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

pub(super) fn body() -> BoxedStrategy<Option<Vec<u8>>> {
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

pub(super) const CONTENT_TYPES: &[&str] = &[
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

pub(super) const CLAIMS: &[&str] = &[
    "exp", "nbf", "iat", "aud", "iss", "tid", "oid", "scp", "roles", "wids", "idtyp", "upn",
    "appid", "azp", "sub", "",
];

/// A JWT: the admin's claims with some replaced or removed, or a broken shape.
pub(super) fn crafted_jwt(tokens: &Tokens) -> BoxedStrategy<String> {
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

pub(super) fn authorization(tokens: &Tokens) -> BoxedStrategy<Option<String>> {
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

pub(super) fn extra_headers() -> BoxedStrategy<Vec<(String, String)>> {
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

pub(super) fn random_request(tokens: &Tokens) -> BoxedStrategy<FuzzRequest> {
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
pub(super) enum Kind {
    Catalog,
    Package,
    RoleAssignment,
}

/// A create or update body for `kind` in `v1` or beta shape: mostly valid, sometimes with one
/// odd property.
pub(super) fn entity_body(kind: Kind, v1: bool) -> BoxedStrategy<Value> {
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
pub(super) fn coherent_request(tokens: &Tokens) -> BoxedStrategy<FuzzRequest> {
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
pub(super) fn coherent_batch(tokens: &Tokens) -> BoxedStrategy<FuzzRequest> {
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

pub(super) fn request(tokens: &Tokens) -> BoxedStrategy<FuzzRequest> {
    prop_oneof![
        4 => coherent_request(tokens),
        1 => coherent_batch(tokens),
        6 => random_request(tokens),
    ]
    .boxed()
}

/// What came back, read whole.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) content_type: String,
    pub(super) bytes: Vec<u8>,
}
