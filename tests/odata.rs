//! The query engine end to end: documented queries, errors, paging and `$count`.

use std::collections::HashSet;

use entitlement_emulator::fixtures::FixtureSource;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::snap;

fn names(resp: &Resp) -> Vec<String> {
    resp.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["displayName"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn documented_filters() {
    let t = TestTenant::start().await;
    let general = t
        .get(&format!(
            "{EM_V1}/catalogs?$filter=(displayName%20eq%20'General')"
        ))
        .await;
    assert_eq!(names(&general), ["General"]);
    let contains = t
        .get(&format!(
            "{EM_V1}/accessPackages?$filter=contains(tolower(displayName),'campaign')"
        ))
        .await;
    assert_eq!(
        names(&contains),
        ["Marketing Campaign", "Campaign Analytics"]
    );
    // Case matters without tolower [inf: OData's contains is case-sensitive].
    let exact = t
        .get(&format!(
            "{EM_V1}/accessPackages?$filter=contains(displayName,'campaign')"
        ))
        .await;
    assert_eq!(names(&exact), Vec::<String>::new());
    let by_catalog = t
        .get(&format!(
            "{EM_V1}/accessPackages?$filter=catalog/id%20eq%20'{MARKETING}'"
        ))
        .await;
    assert_eq!(names(&by_catalog), ["Campaign Analytics"]);
    let beta = t
        .get(&format!(
            "{EM_BETA}/accessPackages?$filter=catalogId+eq+'{GENERAL}'+and+not+isHidden"
        ))
        .await;
    assert_eq!(names(&beta), ["Marketing Campaign"]);
    let enums = t
        .get(&format!(
            "{EM_V1}/catalogs?$filter=catalogType eq 'ServiceDefault'"
        ))
        .await;
    assert_eq!(
        names(&enums),
        ["General"],
        "enum values compare in either casing"
    );
    let roles = t
        .get(&format!(
            "{RBAC_V1}/roleDefinitions?$filter=displayName in ('Catalog owner','Catalog reader')"
        ))
        .await;
    assert_eq!(names(&roles), ["Catalog owner", "Catalog reader"]);
    let scoped = t
        .get(&format!("{RBAC_V1}/roleAssignments?$filter=appScopeId eq '/AccessPackageCatalog/{MARKETING}' and roleDefinitionId eq ae79f266-94d4-4dab-b730-feca7e132178&$expand=principal"))
        .await;
    assert_eq!(scoped.status, StatusCode::OK);
    snap!("odata_role_assignments_filter_expand_principal", scoped);
    // The Python SDK's exact query string (msgraph-sdk 1.65, as `tests/clients/python_sdk.py`
    // drives it; docs/CLIENTS.md).
    let sdk = t.get(&format!("{EM_V1}/accessPackages?$expand=assignmentPolicies&$filter=displayName%20eq%20%27Marketing%20Campaign%27&$top=2")).await;
    assert_eq!(names(&sdk), ["Marketing Campaign"]);
    assert_eq!(
        sdk.body["value"][0]["assignmentPolicies"][0]["displayName"],
        "Specific users"
    );
    let dates = t.get(&format!("{EM_V1}/accessPackages?$filter=createdDateTime ge 2026-01-01T00:00:00Z and createdDateTime lt 2026-01-02T00:00:00Z")).await;
    assert_eq!(names(&dates).len(), 2);
}

#[tokio::test]
async fn select_and_expand_shape_the_body_and_context() {
    let t = TestTenant::start().await;
    let list = t
        .get(&format!(
            "{EM_V1}/accessPackages?$select=id,DisplayName&$expand=catalog($select=displayName)"
        ))
        .await;
    assert_eq!(list.status, StatusCode::OK);
    snap!("odata_select_expand_v1", list);
    let one = t.get(&format!("{EM_BETA}/accessPackages/{ANALYTICS_PACKAGE}?$select=displayName,catalogId&$expand=accessPackageCatalog")).await;
    assert_eq!(one.status, StatusCode::OK);
    snap!("odata_select_expand_beta_entity", one);
    let catalogs = t
        .get(&format!(
            "{EM_V1}/catalogs/{MARKETING}?$expand=accessPackages($select=displayName)"
        ))
        .await;
    assert_eq!(
        catalogs.body["accessPackages"],
        json!([{"displayName": "Campaign Analytics"}])
    );
}

#[tokio::test]
async fn order_count_top_and_count_segment() {
    let t = TestTenant::start().await;
    let ordered = t
        .get(&format!(
            "{EM_V1}/accessPackages?$orderby=displayName&$count=true"
        ))
        .await;
    assert_eq!(
        names(&ordered),
        ["Campaign Analytics", "Marketing Campaign"]
    );
    assert_eq!(ordered.body["@odata.count"], 2);
    let desc = t
        .get(&format!("{EM_V1}/catalogs?$orderby=displayName desc"))
        .await;
    assert_eq!(names(&desc), ["Marketing", "General"]);
    let top = t.get(&format!("{EM_V1}/catalogs?$top=1")).await;
    assert_eq!(names(&top), ["General"]);
    assert!(
        top.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$top=1&$skiptoken=")
    );
    let count = t
        .get(&format!(
            "{EM_V1}/accessPackages/$count?$filter=isHidden eq false"
        ))
        .await;
    assert_eq!((count.status, count.text.as_str()), (StatusCode::OK, "2"));
    assert!(
        count
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let skip = t.get(&format!("{EM_V1}/catalogs?$skip=1")).await;
    assert_eq!(names(&skip), ["Marketing"]);
}

#[tokio::test]
async fn query_errors() {
    let t = TestTenant::start().await;
    let bad_guid = t
        .get(&format!(
            "{EM_V1}/accessPackages?$filter=catalog/id eq 'sales'"
        ))
        .await;
    assert_eq!(
        (bad_guid.status, bad_guid.code()),
        (StatusCode::BAD_REQUEST, "InvalidFilter")
    );
    snap!("odata_bad_guid_literal", bad_guid);
    let cases = [
        (
            format!("{EM_V1}/accessPackages?$filter=colour eq 'red'"),
            "InvalidFilter",
            "OData query is invalid: Could not find a property named 'colour' on type 'microsoft.graph.accessPackage'.",
        ),
        (
            format!("{EM_V1}/accessPackages?$filter=displayName eq"),
            "InvalidFilter",
            "OData query is invalid: Syntax error at position 14 in 'displayName eq'.",
        ),
        (
            format!("{EM_V1}/accessPackages?$filter=displayName"),
            "InvalidFilter",
            "OData query is invalid: The $filter expression must evaluate to a single boolean value.",
        ),
        (
            format!("{EM_V1}/accessPackages?$filter=catalogId eq '{GENERAL}'"),
            "InvalidFilter",
            "OData query is invalid: Could not find a property named 'catalogId' on type 'microsoft.graph.accessPackage'.",
        ),
        (
            format!("{EM_V1}/accessPackages?$select=colour"),
            "BadRequest",
            "Could not find a property named 'colour' on type 'microsoft.graph.accessPackage'.",
        ),
        (
            format!("{EM_V1}/accessPackages?$expand=displayName"),
            "BadRequest",
            "Property 'displayName' on type 'microsoft.graph.accessPackage' is not a navigation property or complex property. Only navigation properties can be expanded.",
        ),
        (
            format!("{EM_V1}/accessPackages?$expand=owner"),
            "BadRequest",
            "Could not find a property named 'owner' on type 'microsoft.graph.accessPackage'.",
        ),
        (
            format!("{EM_V1}/accessPackages?$top=0"),
            "BadRequest",
            "Invalid page size specified: '0'. Must be between 1 and 999 inclusive.",
        ),
        (
            format!("{EM_V1}/accessPackages?$top=1000"),
            "BadRequest",
            "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.",
        ),
        (
            format!("{EM_V1}/accessPackages?$skiptoken=garbage!"),
            "BadRequest",
            "The $skiptoken 'garbage!' is not valid.",
        ),
        (
            format!("{EM_V1}/accessPackages?$orderby=colour"),
            "BadRequest",
            "Could not find a property named 'colour' on type 'microsoft.graph.accessPackage'.",
        ),
    ];
    for (path, code, message) in cases {
        let resp = t.get(&path).await;
        assert_eq!(
            (resp.status, resp.code(), resp.message()),
            (StatusCode::BAD_REQUEST, code, message),
            "{path}"
        );
    }
}

/// What ASP.NET OData refuses and the emulator used to answer 200 (issue 19): repeated or unknown
/// system query options, `$format` other than JSON, `$apply`, operands of incompatible types,
/// function arguments of the wrong type, and empty `$orderby` items.
#[tokio::test]
async fn query_options_graph_refuses_are_refused() {
    let t = TestTenant::start().await;
    let cases = [
        (
            "$top=1&$top=2",
            "BadRequest",
            "Query option '$top' was specified more than once, but it must be specified at most once.",
        ),
        (
            "$filter=isHidden eq true&%24FILTER=isHidden eq false",
            "BadRequest",
            "Query option '$filter' was specified more than once, but it must be specified at most once.",
        ),
        (
            "$foo=1",
            "BadRequest",
            "The query parameter '$foo' is not supported.",
        ),
        (
            "$format=xml",
            "BadRequest",
            "The requested $format 'xml' is not supported; only 'json' is.",
        ),
        (
            "$apply=groupby((displayName))",
            "BadRequest",
            "The query specified in the URI is not valid. Query option 'Apply' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.",
        ),
        (
            "$filter=createdDateTime gt 'x'",
            "InvalidFilter",
            "OData query is invalid: A binary operator with incompatible types was detected. Found operand types 'Edm.DateTimeOffset' and 'Edm.String' for operator kind 'GreaterThan'.",
        ),
        (
            "$filter=isHidden eq 'yes'",
            "InvalidFilter",
            "OData query is invalid: A binary operator with incompatible types was detected. Found operand types 'Edm.Boolean' and 'Edm.String' for operator kind 'Equal'.",
        ),
        (
            "$filter=displayName in ('a', 5)",
            "InvalidFilter",
            "OData query is invalid: A binary operator with incompatible types was detected. Found operand types 'Edm.String' and 'Edm.Int32' for operator kind 'Equal'.",
        ),
        (
            "$filter=contains(displayName,1)",
            "InvalidFilter",
            "OData query is invalid: No function signature for the function with name 'contains' matches the specified arguments. The function signatures considered are: contains(Edm.String Nullable=true, Edm.String Nullable=true).",
        ),
        (
            "$filter=startswith(isHidden,'t')",
            "InvalidFilter",
            "OData query is invalid: No function signature for the function with name 'startswith' matches the specified arguments. The function signatures considered are: startswith(Edm.String Nullable=true, Edm.String Nullable=true).",
        ),
        (
            "$orderby=displayName,,id",
            "BadRequest",
            "Syntax error at position 12 in 'displayName,,id'.",
        ),
        (
            "$orderby=displayName,",
            "BadRequest",
            "Syntax error at position 12 in 'displayName,'.",
        ),
        (
            "$orderby=",
            "BadRequest",
            "Syntax error at position 0 in ''.",
        ),
    ];
    for (query, code, message) in cases {
        let path = format!("{EM_V1}/accessPackages?{query}");
        let resp = t.get(&path).await;
        assert_eq!(
            (resp.status, resp.code(), resp.message()),
            (StatusCode::BAD_REQUEST, code, message),
            "{path}"
        );
    }
    // What stays accepted: JSON `$format`, custom (non-`$`) parameters, quoted GUIDs and enum
    // names, a date literal against a date, null against anything.
    for query in [
        "$format=json",
        "$format=application/json;odata.metadata=minimal",
        "api-version=1.0&$top=1",
        "$filter=catalog/id eq '50000000-0000-4000-8000-000000000001'",
        "$filter=createdDateTime gt 2020-01-01T00:00:00Z and description ne null",
        "$filter=startswith(tolower(displayName),'market')",
        "$orderby=displayName desc, createdDateTime",
    ] {
        let path = format!("{EM_V1}/accessPackages?{query}");
        let resp = t.get(&path).await;
        assert_eq!(resp.status, StatusCode::OK, "{path}: {}", resp.text);
    }
    let assignments = t
        .get(&format!("{EM_V1}/assignments?$filter=state eq 'Delivered'"))
        .await;
    assert_eq!(assignments.status, StatusCode::OK, "{}", assignments.text);
}

/// A tenant with `n` extra access packages in General.
async fn big_tenant(n: usize, page_size: Option<usize>) -> (TestTenant, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "ee-paging-{n}-{}-{}",
        std::process::id(),
        page_size.unwrap_or(0)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tenant = json!({"id": "10000000-0000-4000-8000-000000000000", "displayName": "Big", "defaultDomain": "contoso.onmicrosoft.com", "createdDateTime": "2026-01-01T00:00:00Z", "pageSize": page_size});
    let mut tenant = tenant;
    if page_size.is_none() {
        tenant.as_object_mut().unwrap().remove("pageSize");
    }
    std::fs::write(dir.join("tenant.json"), tenant.to_string()).unwrap();
    let packages: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("60000000-0000-4000-8000-{:012x}", 0x1000 + i), "catalogId": GENERAL, "displayName": format!("package {i:04}")}))
        .collect();
    std::fs::write(
        dir.join("accessPackages.json"),
        Value::Array(packages).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("catalogs.json"),
        json!([{"id": GENERAL, "displayName": "General", "catalogType": "serviceDefault"}])
            .to_string(),
    )
    .unwrap();
    let mut t = TestTenant::with(
        builder()
            .fixtures(FixtureSource::Dir(dir.clone()))
            .auth(entitlement_emulator::auth::AuthMode::Off),
    )
    .await;
    t.token = None;
    (t, dir)
}

/// Follows `@odata.nextLink` verbatim, as the SDK page iterators do.
async fn walk(t: &TestTenant, first: &str) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut next = Some(format!("{}{first}", t.emu.uri()));
    while let Some(url) = next {
        let path = url
            .strip_prefix(&t.emu.uri())
            .expect("absolute link to this emulator")
            .to_string();
        let resp = t.get(&path).await;
        assert_eq!(resp.status, StatusCode::OK, "{path}: {}", resp.text);
        let items = resp.body["value"]
            .as_array()
            .expect("value is always present");
        next = resp.body["@odata.nextLink"].as_str().map(str::to_string);
        assert!(
            next.is_none() || !items.is_empty(),
            "no empty page while a nextLink is present"
        );
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        pages += 1;
    }
    (seen, pages)
}

#[tokio::test]
async fn paging_walks_a_thousand_packages() {
    let (t, dir) = big_tenant(1000, None).await;
    let (ids, pages) = walk(&t, &format!("{EM_V1}/accessPackages")).await;
    assert_eq!((ids.len(), pages), (1000, 10), "default page size 100");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1000);
    let (ids, pages) = walk(&t, &format!("{EM_V1}/accessPackages?$top=999")).await;
    assert_eq!((ids.len(), pages), (1000, 2));
    let (filtered, pages) = walk(
        &t,
        &format!("{EM_V1}/accessPackages?$filter=startswith(displayName,'package 01')&$top=30"),
    )
    .await;
    assert_eq!((filtered.len(), pages), (100, 4));
    let (ordered, _) = walk(
        &t,
        &format!(
            "{EM_BETA}/accessPackages?$orderby=displayName%20desc&$top=64&$select=id,displayName"
        ),
    )
    .await;
    assert_eq!(ordered.len(), 1000);
    assert_eq!(
        ordered[0], "60000000-0000-4000-8000-0000000013e7",
        "package 0999 first"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn next_links_survive_reencoding_top_rewrites_and_concurrent_changes() {
    let (t, dir) = big_tenant(30, Some(10)).await;
    let first = t
        .get(&format!(
            "{EM_V1}/accessPackages?$filter=isHidden%20eq%20false&$select=id"
        ))
        .await;
    let link = first.body["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!(
            "{}{EM_V1}/accessPackages?$filter=isHidden%20eq%20false&$select=id&$skiptoken=",
            t.emu.uri()
        )),
        "{link}"
    );
    let token = link.rsplit("$skiptoken=").next().unwrap();
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    let path = link.strip_prefix(&t.emu.uri()).unwrap();
    let expected = t.get(path).await.body["value"].clone();
    for variant in [
        path.replace('$', "%24"),
        path.replace("%20", "+"),
        path.replace("$filter", "filter")
            .replace("$select", "select")
            .replace("$skiptoken", "skiptoken"),
    ] {
        assert_eq!(t.get(&variant).await.body["value"], expected, "{variant}");
    }
    // PowerShell -All rewrites $top on the link.
    let rewritten = t.get(&format!("{path}&$top=3")).await;
    assert_eq!(rewritten.body["value"].as_array().unwrap().len(), 3);

    // Between pages: delete a row already seen, one not yet seen, and create one.
    let page1: Vec<String> = first.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    let page2_first = expected[0]["id"].as_str().unwrap().to_string();
    t.delete(&format!("{EM_V1}/accessPackages/{}", page1[0]))
        .await;
    t.delete(&format!("{EM_V1}/accessPackages/{page2_first}"))
        .await;
    let created = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "late", "catalog": {"id": GENERAL}}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (rest, _) = walk(&t, path).await;
    let mut all: Vec<String> = page1.clone();
    all.extend(rest);
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "no duplicates");
    assert!(
        !all.contains(&page2_first),
        "a row deleted before it was reached is not returned"
    );
    assert!(
        all.contains(&created),
        "a row created after the cursor is reached"
    );
    assert_eq!(
        all.len(),
        30 - 1 + 1,
        "every surviving row exactly once (the deleted seen one was seen)"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn page_size_is_configurable_per_tenant() {
    let t = TestTenant::start().await;
    let set = t
        .send(
            Method::POST,
            "/_emulator/settings",
            None,
            &[("Content-Type", "application/json")],
            Some(br#"{"pageSize": 1}"#.to_vec()),
        )
        .await;
    assert_eq!(
        (set.status, set.body["pageSize"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let (ids, pages) = walk(&t, &format!("{EM_V1}/catalogs")).await;
    assert_eq!((ids.len(), pages), (2, 2));
    let bad = t
        .send(
            Method::POST,
            "/_emulator/settings",
            None,
            &[],
            Some(br#"{"pageSize": 0}"#.to_vec()),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    t.send(Method::POST, "/_emulator/reset", None, &[], None)
        .await;
    let after_reset = t
        .send(Method::GET, "/_emulator/settings", None, &[], None)
        .await;
    assert_eq!(after_reset.body["pageSize"], 100);
}
