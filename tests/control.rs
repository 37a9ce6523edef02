//! The control API: health, tokens, reset and the canonical state export.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn health_reports_ready_and_the_tenant() {
    let t = TestTenant::start().await;
    let resp = t
        .send(Method::GET, "/_emulator/health", None, &[], None)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let mut body = resp.body.clone();
    body["version"] = json!("[version]");
    insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"), prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("control_health", body);
    });
}

#[tokio::test]
async fn minted_tokens_work_against_graph_routes() {
    let t = TestTenant::start().await;
    let minted = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": "Provisioning Automation"})),
        )
        .await;
    assert_eq!(minted.status, StatusCode::OK);
    assert_eq!(
        minted.body["claims"]["roles"],
        json!(["EntitlementManagement.ReadWrite.All"])
    );
    assert_eq!(minted.body["claims"]["idtyp"], "app");
    let token = minted.body["access_token"].as_str().unwrap();
    let resp = t
        .json_as(Method::GET, &format!("{EM_V1}/catalogs"), Some(token), None)
        .await;
    assert_eq!(resp.status, StatusCode::OK);

    let user = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": REQUESTOR1, "scopes": "EntitlementMgmt-SubjectAccess.ReadWrite"})),
        )
        .await;
    assert_eq!(
        user.body["claims"]["scp"],
        "EntitlementMgmt-SubjectAccess.ReadWrite"
    );
    assert_eq!(user.body["claims"]["upn"], REQUESTOR1);
    assert!(user.body["claims"].get("wids").is_none());
    let admin = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": ADMIN})),
        )
        .await;
    assert_eq!(
        admin.body["claims"]["wids"],
        json!(["62e90394-69f5-4237-9190-012177145e10"])
    );

    let unknown = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": "nobody@contoso.onmicrosoft.com"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let wrong_kind = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": ADMIN, "roles": ["x"]})),
        )
        .await;
    assert_eq!(wrong_kind.status, StatusCode::BAD_REQUEST);
    let garbage = t
        .send(
            Method::POST,
            "/_emulator/tokens",
            None,
            &[],
            Some(b"{".to_vec()),
        )
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn reset_returns_to_the_fixtures() {
    let t = TestTenant::start().await;
    let initial = t.state().await;
    assert_eq!(
        t.post(&format!("{EM_V1}/catalogs"), json!({"displayName": "temp"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        t.delete(&format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_ne!(t.state().await, initial);
    let reset = t
        .send(Method::POST, "/_emulator/reset", None, &[], None)
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    assert_eq!(t.state().await, initial);
}

#[tokio::test]
async fn state_export_is_canonical() {
    let t = TestTenant::start().await;
    let text = t.state().await;
    let value: Value = serde_json::from_str(&text).unwrap();
    fn keys_sorted(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                let keys: Vec<&String> = m.keys().collect();
                keys.windows(2).all(|w| w[0] <= w[1]) && m.values().all(keys_sorted)
            }
            Value::Array(a) => a.iter().all(keys_sorted),
            _ => true,
        }
    }
    assert!(keys_sorted(&value));
    let ids: Vec<&str> = value["catalogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [GENERAL, MARKETING]);
    assert_eq!(text, t.state().await, "byte-stable");
}

#[tokio::test]
async fn the_control_api_can_be_switched_off() {
    let t = TestTenant::with(builder().control_api(entitlement_emulator::ControlApi::Off)).await;
    let resp = t
        .send(Method::POST, "/_emulator/reset", None, &[], None)
        .await;
    assert_eq!(
        resp.status,
        StatusCode::BAD_REQUEST,
        "just an unknown Graph path now"
    );
    assert_eq!(resp.message(), "Invalid version: _emulator");
}

#[tokio::test]
async fn the_journal_answers_what_was_sent_and_how_often() {
    let t = TestTenant::start().await;
    let created = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "Journaled", "catalog": {"id": GENERAL}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let _ = t.get(&format!("{EM_V1}/accessPackages/not-a-guid")).await;
    let batch = t
        .post(
            "/v1.0/$batch",
            json!({"requests": [{"id": "1", "method": "GET", "url": "/identityGovernance/entitlementManagement/catalogs"}]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK);
    let posts = t
        .send(
            Method::GET,
            "/_emulator/journal?method=POST&path=/accessPackages",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(posts.status, StatusCode::OK, "{}", posts.text);
    assert_eq!(posts.body["count"], 1, "{}", posts.text);
    let entry = &posts.body["value"][0];
    assert_eq!(
        (
            entry["status"].as_u64(),
            entry["requestBody"]["displayName"].as_str(),
            entry["responseBody"]["displayName"].as_str(),
            entry["caller"]["kind"].as_str(),
        ),
        (
            Some(201),
            Some("Journaled"),
            Some("Journaled"),
            Some("user")
        ),
        "{entry}"
    );
    // The request line, the kept headers and the answer's request id, as they were sent.
    assert_eq!(
        (
            entry["method"].as_str(),
            entry["path"].as_str(),
            entry["query"].is_null(),
            entry["requestHeaders"]["content-type"].as_str(),
            entry["requestId"].as_str(),
        ),
        (
            Some("POST"),
            Some(format!("{EM_V1}/accessPackages").as_str()),
            true,
            Some("application/json"),
            created.header("request-id"),
        ),
        "{entry}"
    );
    // No token ever reaches the journal.
    let everything = t
        .send(Method::GET, "/_emulator/journal", None, &[], None)
        .await;
    assert!(
        !everything.text.contains("eyJ"),
        "a token leaked into the journal"
    );
    let failed = t
        .send(
            Method::GET,
            "/_emulator/journal?status=404",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(failed.body["count"], 1, "{}", failed.text);
    // The batch's item is journaled as its own request.
    let items = t
        .send(
            Method::GET,
            "/_emulator/journal?path=/catalogs",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(items.body["value"][0]["inBatch"], true, "{}", items.text);
    // The Rust harness answers the same question without HTTP.
    let filter = entitlement_emulator::http::journal::Filter {
        method: Some("POST".into()),
        path: Some("/accessPackages".into()),
        ..Default::default()
    };
    assert_eq!(t.emu.count_requests(&filter), 1);
    assert_eq!(
        t.emu.received_requests(&filter)[0]["requestBody"]["displayName"],
        "Journaled"
    );
    let bad = t
        .send(
            Method::GET,
            "/_emulator/journal?colour=red",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let cleared = t
        .send(Method::DELETE, "/_emulator/journal", None, &[], None)
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    let empty = t
        .send(Method::GET, "/_emulator/journal", None, &[], None)
        .await;
    assert_eq!(empty.body["count"], 0);
}

/// Issue 19: entries pinned their whole request head, so 1,000 unauthenticated requests with
/// 300 KB headers and 60 KB URIs took the process from 12 MB to 363 MB. Now each entry keeps
/// its own cut copy, and the journal's byte budget (by its own accounting) evicts the oldest.
#[tokio::test]
async fn the_journal_stays_within_its_byte_budget_whatever_requests_send() {
    use entitlement_emulator::http::journal::FIELD_LIMIT;
    let budget = 128 * 1024;
    let t = TestTenant::with(builder().journal_bytes(budget)).await;
    let agent = "u".repeat(40 * 1024);
    let padding = "p".repeat(200 * 1024);
    let filter = "f".repeat(20 * 1024);
    let body = vec![b'b'; 100 * 1024];
    for i in 0..40 {
        // Unauthenticated, as in the report: refused, and journaled all the same.
        let path = format!("{EM_V1}/accessPackages?n={i}&$filter={filter}");
        let headers = [
            ("user-agent", agent.as_str()),
            ("x-padding", padding.as_str()),
            ("content-type", "application/json"),
        ];
        let (method, sent) = if i % 2 == 0 {
            (Method::GET, None)
        } else {
            (Method::POST, Some(body.clone()))
        };
        let resp = t.send(method, &path, None, &headers, sent).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{}", resp.text);
    }
    let journal = t
        .send(Method::GET, "/_emulator/journal", None, &[], None)
        .await;
    assert_eq!(journal.status, StatusCode::OK);
    let usage = &journal.body["usage"];
    let kept = journal.body["value"].as_array().unwrap();
    let bytes = usage["bytes"].as_u64().unwrap();
    assert_eq!(usage["maxBytes"], budget, "{usage}");
    assert!(bytes > 0 && bytes <= budget as u64, "over budget: {usage}");
    assert_eq!(
        usage["entries"].as_u64(),
        Some(kept.len() as u64),
        "{usage}"
    );
    assert!(kept.len() > 1 && kept.len() < 40, "{usage}");
    assert_eq!(usage["evicted"].as_u64(), Some(40 - kept.len() as u64));
    // The newest are the ones kept, in order, ending with the last request.
    for (k, entry) in kept.iter().enumerate() {
        let sequence = 40 - kept.len() + k;
        assert_eq!(entry["sequence"], sequence, "{}", entry["path"]);
        let query = entry["query"].as_str().unwrap();
        assert!(query.starts_with(&format!("n={sequence}&")), "{query}");
        // Cut, and saying so; the padding header was never kept.
        assert_eq!(query.len(), FIELD_LIMIT + "…".len());
        assert!(query.ends_with('…'));
        let agent = entry["requestHeaders"]["user-agent"].as_str().unwrap();
        assert_eq!(agent.len(), FIELD_LIMIT + "…".len());
        assert!(agent.ends_with('…'));
        assert!(entry["requestHeaders"].get("x-padding").is_none());
        let mut cut = vec!["query", "requestHeaders"];
        if sequence % 2 == 1 {
            cut.push("requestBody");
            assert!(entry["requestBody"].as_str().unwrap().ends_with('…'));
        }
        assert_eq!(entry["truncated"], json!(cut), "{}", entry["sequence"]);
    }
    // An ordinary call is kept whole, beside them, within the same budget.
    let catalogs = t.get(&format!("{EM_V1}/catalogs")).await;
    assert_eq!(catalogs.status, StatusCode::OK);
    let last = t
        .send(Method::GET, "/_emulator/journal?after=39", None, &[], None)
        .await;
    assert_eq!(last.body["count"], 1, "{}", last.text);
    assert_eq!(last.body["value"][0]["truncated"], json!([]));
    assert_eq!(last.body["value"][0]["status"], 200);
    assert!(last.body["usage"]["bytes"].as_u64().unwrap() <= budget as u64);
    // The export still reads the cut entries.
    let cassette = t
        .send(
            Method::GET,
            "/_emulator/journal?format=cassette",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(cassette.status, StatusCode::OK, "{}", cassette.text);
    let interactions = cassette.body["interactions"].as_array().unwrap();
    let journaled = last.body["usage"]["entries"].as_u64().unwrap();
    assert_eq!(interactions.len() as u64, journaled);
    let newest = &interactions[interactions.len() - 1];
    assert_eq!(newest["request"]["path"], format!("{EM_V1}/catalogs"));
    assert_eq!(newest["response"]["status"], 200);
}

#[tokio::test]
async fn the_journal_count_cap_still_keeps_the_newest() {
    let t = TestTenant::with(builder().journal_size(3)).await;
    for i in 0..5 {
        let resp = t.get(&format!("{EM_V1}/catalogs?$top={}", i + 1)).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    }
    let journal = t
        .send(Method::GET, "/_emulator/journal", None, &[], None)
        .await;
    let queries: Vec<&str> = journal.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["query"].as_str().unwrap())
        .collect();
    assert_eq!(queries, ["$top=3", "$top=4", "$top=5"]);
    let usage = &journal.body["usage"];
    assert_eq!(
        (&usage["entries"], &usage["maxEntries"], &usage["evicted"]),
        (&json!(3), &json!(3), &json!(2)),
        "{usage}"
    );
    assert_eq!(t.emu.journal_usage().entries, 3);
}

#[tokio::test]
async fn tenants_are_created_isolated_and_deleted() {
    let t = TestTenant::start().await;
    let made = t
        .send(Method::POST, "/_emulator/tenants", None, &[], None)
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let id = made.body["id"].as_str().unwrap().to_string();
    assert_ne!(id, "10000000-0000-4000-8000-000000000000");
    let chosen = "10000000-0000-4000-8000-0000000000aa";
    let named = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"id": chosen})),
        )
        .await;
    assert_eq!(named.body["id"], chosen, "{}", named.text);
    let again = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"id": chosen})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    // A token for the new tenant writes there and only there.
    let minted = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": ADMIN, "tenant": id})),
        )
        .await;
    let token = minted.body["accessToken"]
        .as_str()
        .or_else(|| minted.body["access_token"].as_str())
        .unwrap_or_else(|| panic!("{}", minted.text))
        .to_string();
    let created = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/catalogs"),
            Some(&token),
            Some(json!({"displayName": "Only here"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let find = format!("{EM_V1}/catalogs?$filter=displayName eq 'Only here'");
    let there = t.json_as(Method::GET, &find, Some(&token), None).await;
    assert_eq!(there.body["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(t.get(&find).await.body["value"], json!([]));
    let listed = t
        .send(Method::GET, "/_emulator/tenants", None, &[], None)
        .await;
    assert_eq!(listed.body["value"].as_array().map(Vec::len), Some(3));
    // Deleting it: its tokens stop working; the default tenant cannot go.
    let gone = t
        .send(
            Method::DELETE,
            &format!("/_emulator/tenants/{id}"),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let refused = t.json_as(Method::GET, &find, Some(&token), None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    let default = t
        .send(
            Method::DELETE,
            "/_emulator/tenants/10000000-0000-4000-8000-000000000000",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(default.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn with_auth_off_a_header_picks_the_tenant() {
    let t = TestTenant::auth_off().await;
    let chosen = "10000000-0000-4000-8000-0000000000bb";
    let made = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"id": chosen})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let header = [("x-emulator-tenant", chosen)];
    let body = serde_json::to_vec(&json!({"displayName": "Header tenant"})).unwrap();
    let created = t
        .send(
            Method::POST,
            &format!("{EM_V1}/catalogs"),
            None,
            &[header[0], ("content-type", "application/json")],
            Some(body),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let find = format!("{EM_V1}/catalogs?$filter=displayName eq 'Header tenant'");
    let there = t.send(Method::GET, &find, None, &header, None).await;
    assert_eq!(there.body["value"].as_array().map(Vec::len), Some(1));
    let default = t.send(Method::GET, &find, None, &[], None).await;
    assert_eq!(default.body["value"], json!([]));
    let unknown = t
        .send(
            Method::GET,
            &find,
            None,
            &[("x-emulator-tenant", "10000000-0000-4000-8000-0000000000cc")],
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn fault_rules_throttle_on_a_schedule_even_inside_a_batch() {
    let t = TestTenant::start().await;
    let rule = t
        .json_as(
            Method::POST,
            "/_emulator/faults",
            None,
            Some(
                json!({"method": "GET", "path": "/accessPackages", "schedule": {"next": 2},
                        "effect": {"status": 429, "retryAfter": 3}}),
            ),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.text);
    let path = format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}");
    let first = t.get(&path).await;
    assert_eq!(
        (
            first.status,
            first.header("retry-after"),
            first.body["error"]["code"].as_str(),
            first.body["error"]["innerError"]["status"].as_str(),
            first.body["error"]["message"].as_str()
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("3"),
            Some("TooManyRequests"),
            Some("429"),
            Some("Please retry again later.")
        ),
        "{}",
        first.text
    );
    assert_eq!(t.get(&path).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(t.get(&path).await.status, StatusCode::OK, "two, then never");
    // A POST does not match a GET rule; the journal names the rule that fired.
    let throttled = t
        .send(
            Method::GET,
            "/_emulator/journal?status=429",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(throttled.body["count"], 2);
    assert_eq!(throttled.body["value"][0]["faults"], json!([1]));

    // Inside a batch each item is its own call: every second catalog read fails with 503 and
    // its own Retry-After, and a dependant of a failed item gets 424.
    let added = t
        .json_as(
            Method::POST,
            "/_emulator/faults",
            None,
            Some(json!({"path": "/catalogs", "schedule": {"everyNth": 2},
                        "effect": {"status": 503, "retryAfter": 5}})),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let url = "/identityGovernance/entitlementManagement/catalogs";
    let batch = t
        .post(
            "/v1.0/$batch",
            json!({"requests": [
                {"id": "1", "method": "GET", "url": url},
                {"id": "2", "method": "GET", "url": url},
                {"id": "3", "method": "GET", "url": url, "dependsOn": ["2"]}]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.text);
    let statuses: Vec<u64> = batch.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![200, 503, 424], "{}", batch.text);
    assert_eq!(batch.body["responses"][1]["headers"]["Retry-After"], "5");
    let rules = t
        .send(Method::GET, "/_emulator/faults", None, &[], None)
        .await;
    assert_eq!(
        (
            rules.body["value"][0]["fired"].as_u64(),
            rules.body["value"][1]["matched"].as_u64()
        ),
        (Some(2), Some(2)),
        "{}",
        rules.text
    );
    let bad = t
        .json_as(
            Method::POST,
            "/_emulator/faults",
            None,
            Some(json!({"schedule": {"calls": [3, 1]}})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let cleared = t
        .send(Method::DELETE, "/_emulator/faults", None, &[], None)
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.get(&format!("{EM_V1}/catalogs")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_tenant_can_start_from_another_tenants_current_state() {
    let t = TestTenant::start().await;
    let prepared = t
        .post(
            &format!("{EM_V1}/catalogs"),
            json!({"displayName": "Prepared"}),
        )
        .await;
    assert_eq!(prepared.status, StatusCode::CREATED, "{}", prepared.text);
    let copy = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"from": "10000000-0000-4000-8000-000000000000"})),
        )
        .await;
    assert_eq!(copy.status, StatusCode::CREATED, "{}", copy.text);
    let id = copy.body["id"].as_str().unwrap().to_string();
    let token = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": ADMIN, "tenant": id})),
        )
        .await;
    let token = token.body["accessToken"]
        .as_str()
        .or_else(|| token.body["access_token"].as_str())
        .unwrap_or_else(|| panic!("{}", token.text))
        .to_string();
    let find = |name: &str| format!("{EM_V1}/catalogs?$filter=displayName eq '{name}'");
    let there = t
        .json_as(Method::GET, &find("Prepared"), Some(&token), None)
        .await;
    assert_eq!(
        there.body["value"][0]["id"], prepared.body["id"],
        "the copy starts with the source's state: {}",
        there.text
    );
    let own = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/catalogs"),
            Some(&token),
            Some(json!({"displayName": "Only in the copy"})),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text);
    assert_ne!(own.body["id"], prepared.body["id"]);
    assert_eq!(
        t.get(&find("Only in the copy")).await.body["value"],
        json!([])
    );
    // Resetting the copy returns it to the fixture, not to the moment it was copied.
    let reset = t
        .send(
            Method::POST,
            &format!("/_emulator/reset?tenant={id}"),
            None,
            &[],
            None,
        )
        .await;
    assert!(reset.status.is_success(), "{}", reset.text);
    let after = t
        .json_as(Method::GET, &find("Prepared"), Some(&token), None)
        .await;
    assert_eq!(after.body["value"], json!([]), "{}", after.text);
    let missing = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"from": "10000000-0000-4000-8000-0000000000ff"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_decision_log_explains_refusals_and_soft_auth_waives_them() {
    use entitlement_emulator::auth::AuthMode;
    let t = TestTenant::start().await;
    // A catalog reader may not edit: 403, and the journal says why.
    let reader = t.token_for(REQUESTOR2);
    let refused = t
        .json_as(
            Method::PATCH,
            &format!("{EM_V1}/catalogs/{MARKETING}"),
            Some(&reader),
            Some(json!({"description": "x"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let logged = t
        .send(
            Method::GET,
            "/_emulator/journal?status=403",
            None,
            &[],
            None,
        )
        .await;
    let decision = &logged.body["value"][0]["decisions"][0];
    assert_eq!(decision["decision"], "refused", "{}", logged.text);
    assert!(
        decision["rule"]
            .as_str()
            .is_some_and(|r| r.contains("roles do not grant")),
        "{decision}"
    );
    assert!(decision["required"]["permission"].is_string(), "{decision}");
    // A token that is missing entirely: 401, explained too.
    let anonymous = t
        .send(Method::GET, &format!("{EM_V1}/catalogs"), None, &[], None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let logged = t
        .send(
            Method::GET,
            "/_emulator/journal?status=401",
            None,
            &[],
            None,
        )
        .await;
    assert!(
        logged.body["value"][0]["decisions"][0]["rule"]
            .as_str()
            .is_some_and(|r| r.starts_with("the token was refused")),
        "{}",
        logged.text
    );

    // Soft: the same edit goes through, and the journal records what was waived.
    let soft = TestTenant::with(builder().auth(AuthMode::Soft)).await;
    let reader = soft.token_for(REQUESTOR2);
    let waived = soft
        .json_as(
            Method::PATCH,
            &format!("{EM_V1}/catalogs/{MARKETING}"),
            Some(&reader),
            Some(json!({"description": "x"})),
        )
        .await;
    assert!(waived.status.is_success(), "{}", waived.text);
    let logged = soft
        .send(
            Method::GET,
            "/_emulator/journal?method=PATCH",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(
        logged.body["value"][0]["decisions"][0]["decision"], "waived",
        "{}",
        logged.text
    );
    let no_token = soft
        .send(Method::GET, &format!("{EM_V1}/catalogs"), None, &[], None)
        .await;
    assert_eq!(no_token.status, StatusCode::OK, "{}", no_token.text);
}

#[tokio::test]
async fn the_least_privilege_report_names_the_smallest_roles() {
    let t = TestTenant::start().await;
    let created = t
        .post(
            &format!("{EM_BETA}/accessPackages"),
            json!({"displayName": "Least", "catalogId": MARKETING}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        t.get(&format!("{EM_V1}/accessPackages/{id}")).await.status,
        StatusCode::OK
    );
    let report = t
        .send(Method::GET, "/_emulator/least-privilege", None, &[], None)
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    assert_eq!(
        (
            report.body["calls"].as_u64(),
            report.body["graphPermission"]["delegated"].as_str(),
            report.body["graphPermission"]["application"].as_str(),
        ),
        (
            Some(2),
            Some("EntitlementManagement.ReadWrite.All"),
            Some("EntitlementManagement.ReadWrite.All")
        ),
        "{}",
        report.text
    );
    assert_eq!(
        report.body["roles"],
        json!([{"scope": format!("/catalogs/{MARKETING}"), "role": "AccessPackages manager",
                "tasks": ["Read", "ManageAccessPackages"]}]),
        "{}",
        report.text
    );
    // Only reads: the read permission and the reader role suffice.
    let reads = TestTenant::start().await;
    let _ = reads
        .get(&format!("{EM_V1}/accessPackages/{ANALYTICS_PACKAGE}"))
        .await;
    let small = reads
        .send(Method::GET, "/_emulator/least-privilege", None, &[], None)
        .await;
    assert_eq!(
        (
            small.body["graphPermission"]["delegated"].as_str(),
            small.body["roles"][0]["role"].as_str()
        ),
        (
            Some("EntitlementManagement.Read.All"),
            Some("Catalog reader")
        ),
        "{}",
        small.text
    );
}

#[tokio::test]
async fn fixtures_can_declare_faults_and_refuse_bad_ones() {
    use entitlement_emulator::fixtures::FixtureSource;
    let dir = std::env::temp_dir().join(format!("ee-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/default");
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let tenant = |faults: Value| {
        let mut t: Value = serde_json::from_str(
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("fixtures/default/tenant.json"),
            )
            .unwrap(),
        )
        .unwrap();
        t["faults"] = faults;
        std::fs::write(dir.join("tenant.json"), t.to_string()).unwrap();
    };
    tenant(json!([{"path": "/catalogs", "schedule": {"next": 1},
                   "effect": {"status": 503, "retryAfter": 2}}]));
    let t = TestTenant::with(builder().fixtures(FixtureSource::Dir(dir.clone()))).await;
    let first = t.get(&format!("{EM_V1}/catalogs")).await;
    assert_eq!(
        (first.status, first.header("retry-after")),
        (StatusCode::SERVICE_UNAVAILABLE, Some("2")),
        "{}",
        first.text
    );
    assert_eq!(
        t.get(&format!("{EM_V1}/catalogs")).await.status,
        StatusCode::OK
    );
    tenant(json!([{"schedule": {"calls": [2, 1]}}]));
    let err = builder()
        .fixtures(FixtureSource::Dir(dir.clone()))
        .build_state()
        .unwrap_err();
    assert!(err.to_string().contains("/faults/0"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_fault_rule_can_drop_the_connection() {
    let t = TestTenant::start().await;
    let rule = t
        .json_as(
            Method::POST,
            "/_emulator/faults",
            None,
            Some(json!({"path": "/catalogs", "schedule": {"next": 1}, "effect": {"drop": true}})),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.text);
    let url = format!("{}{EM_V1}/catalogs", t.emu.uri());
    let client = reqwest::Client::new();
    let token = t.token.clone().unwrap();
    let dropped = client.get(&url).bearer_auth(&token).send().await;
    let failed = match dropped {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client sees the connection drop");
    // The next call is answered, and the journal kept the dropped one.
    let next = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(next.status(), StatusCode::OK);
    let journal = t
        .send(
            Method::GET,
            "/_emulator/journal?path=/catalogs",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(
        journal.body["value"][0]["faults"],
        json!([1]),
        "{}",
        journal.text
    );
}

#[tokio::test]
async fn a_token_bucket_throttles_each_caller_on_the_emulator_clock() {
    let t = TestTenant::start().await;
    let rule = t
        .json_as(
            Method::POST,
            "/_emulator/faults",
            None,
            Some(json!({"method": "GET", "path": "/catalogs",
                        "schedule": {"tokenBucket": {"requests": 2, "seconds": 10}}})),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.text);
    let path = format!("{EM_V1}/catalogs");
    assert_eq!(t.get(&path).await.status, StatusCode::OK);
    assert_eq!(t.get(&path).await.status, StatusCode::OK);
    let throttled = t.get(&path).await;
    assert_eq!(
        (throttled.status, throttled.header("retry-after")),
        (StatusCode::TOO_MANY_REQUESTS, Some("5")),
        "two per ten seconds: a token returns in five"
    );
    // Another caller has a bucket of their own.
    let other = t
        .json_as(Method::GET, &path, Some(&t.token_for(CATALOG_OWNER)), None)
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    // The bucket refills on the emulator's clock, not the wall clock.
    let moved = t
        .json_as(
            Method::POST,
            "/_emulator/clock",
            None,
            Some(json!({"advance": "PT5S"})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(t.get(&path).await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_response_names_the_emulator_version() {
    let t = TestTenant::start().await;
    let version = env!("CARGO_PKG_VERSION");
    for (path, token) in [
        (format!("{EM_V1}/catalogs"), t.token.clone()),
        (format!("{EM_V1}/nothingHere"), None),
        ("/_emulator/health".to_string(), None),
        ("/common/discovery/instance".to_string(), None),
    ] {
        let resp = t.json_as(Method::GET, &path, token.as_deref(), None).await;
        assert_eq!(resp.header("x-emulator-version"), Some(version), "{path}");
    }
}

#[tokio::test]
async fn browsers_may_call_graph_but_not_the_control_api() {
    let t = TestTenant::start().await;
    let app = "http://localhost:3000";
    let preflight = t
        .send(
            Method::OPTIONS,
            &format!("{EM_V1}/accessPackages"),
            None,
            &[
                ("Origin", app),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization,content-type",
                ),
            ],
            None,
        )
        .await;
    assert!(preflight.status.is_success(), "{}", preflight.status);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(
        preflight
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("authorization"))
    );
    let token = t.token.clone().unwrap();
    let get = t
        .send(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(&token),
            &[("Origin", app)],
            None,
        )
        .await;
    assert_eq!(get.status, StatusCode::OK);
    assert!(
        get.header("access-control-expose-headers")
            .is_some_and(|h| h.contains("request-id"))
    );
    // Without `Origin` it is not a CORS request (an SDK, curl): no CORS headers are built.
    let sdk = t
        .send(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(sdk.status, StatusCode::OK);
    assert_eq!(sdk.header("access-control-allow-origin"), None);
    assert_eq!(sdk.header("vary"), None);

    // The control API answers no preflight and refuses cross-site calls outright, since a
    // form-encoded POST needs no preflight.
    let control_preflight = t
        .send(
            Method::OPTIONS,
            "/_emulator/reset",
            None,
            &[("Origin", app), ("Access-Control-Request-Method", "POST")],
            None,
        )
        .await;
    assert_eq!(
        control_preflight.header("access-control-allow-origin"),
        None
    );
    let before = t.state().await;
    let csrf = t
        .send(
            Method::POST,
            "/_emulator/clock",
            None,
            &[
                ("Origin", "http://evil.example"),
                ("Content-Type", "text/plain"),
            ],
            Some(br#"{"advance":"P30D"}"#.to_vec()),
        )
        .await;
    assert_eq!(csrf.status, StatusCode::FORBIDDEN, "{}", csrf.text);
    assert_eq!(t.state().await, before);
    let host = t.emu.uri();
    let same_origin = t
        .send(
            Method::GET,
            "/_emulator/health",
            None,
            &[("Origin", &host)],
            None,
        )
        .await;
    assert_eq!(same_origin.status, StatusCode::OK);

    // Origins can be narrowed (or CORS switched off).
    let narrow = TestTenant::with(
        builder()
            .cors(entitlement_emulator::http::CorsPolicy::parse("https://app.example").unwrap()),
    )
    .await;
    let other = narrow
        .send(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            narrow.token.as_deref(),
            &[("Origin", app)],
            None,
        )
        .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    let allowed = narrow
        .send(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            narrow.token.as_deref(),
            &[("Origin", "https://app.example")],
            None,
        )
        .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(entitlement_emulator::http::CorsPolicy::parse("not an origin").is_err());
}

#[tokio::test]
async fn an_admin_token_guards_the_control_api_and_allows_it_off_loopback() {
    let t = TestTenant::with(builder().admin_token("s3cret-admin")).await;
    let without = t
        .send(Method::GET, "/_emulator/health", None, &[], None)
        .await;
    assert_eq!(without.status, StatusCode::UNAUTHORIZED);
    assert!(
        without.message().contains("admin token"),
        "{}",
        without.text
    );
    let wrong = t
        .send(
            Method::GET,
            "/_emulator/health",
            None,
            &[("x-emulator-admin-token", "guess")],
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    for header in [
        ("x-emulator-admin-token", "s3cret-admin"),
        ("Authorization", "Bearer s3cret-admin"),
    ] {
        let ok = t
            .send(Method::GET, "/_emulator/health", None, &[header], None)
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{header:?}");
    }
    // Graph routes do not take the admin token; they keep Graph's own auth.
    let graph = t.get(&format!("{EM_V1}/catalogs")).await;
    assert_eq!(graph.status, StatusCode::OK);

    let exposed = entitlement_emulator::Emulator::builder()
        .bind("0.0.0.0:0".parse().unwrap())
        .control_api(entitlement_emulator::ControlApi::On)
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        exposed.contains("not a loopback address") && exposed.contains("--admin-token"),
        "{exposed}"
    );
    let guarded = entitlement_emulator::Emulator::builder()
        .bind("0.0.0.0:0".parse().unwrap())
        .control_api(entitlement_emulator::ControlApi::On)
        .admin_token("s3cret-admin")
        .start()
        .await;
    assert!(guarded.is_ok());
}

#[tokio::test]
async fn fifty_tenants_run_in_parallel_without_interference() {
    let t = std::sync::Arc::new(TestTenant::start().await);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let t = std::sync::Arc::clone(&t);
        tasks.push(tokio::spawn(async move {
            let made = t
                .send(Method::POST, "/_emulator/tenants", None, &[], None)
                .await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
            let tenant = made.body["id"].as_str().unwrap().to_string();
            let minted = t
                .json_as(
                    Method::POST,
                    "/_emulator/tokens",
                    None,
                    Some(json!({"as": ADMIN, "tenant": tenant})),
                )
                .await;
            let token = minted.body["access_token"].as_str().unwrap().to_string();
            for n in 0..5 {
                let created = t
                    .json_as(
                        Method::POST,
                        &format!("{EM_V1}/accessPackages"),
                        Some(&token),
                        Some(json!({"displayName": format!("tenant {i} package {n}"), "catalog": {"id": GENERAL}})),
                    )
                    .await;
                assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
            }
            let list = t
                .json_as(
                    Method::GET,
                    &format!("{EM_V1}/accessPackages?$filter=startswith(displayName,'tenant ')"),
                    Some(&token),
                    None,
                )
                .await;
            let names: Vec<String> = list.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["displayName"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(names.len(), 5, "tenant {i} sees only its own packages: {names:?}");
            assert!(names.iter().all(|n| n.starts_with(&format!("tenant {i} "))));
            tenant
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }
    assert_eq!(ids.len(), 50);
    // The default tenant saw none of it.
    let mine = t
        .get(&format!(
            "{EM_V1}/accessPackages?$filter=startswith(displayName,'tenant ')"
        ))
        .await;
    assert_eq!(mine.body["value"], json!([]));
}

#[tokio::test]
async fn the_control_api_describes_itself_and_serves_its_page() {
    let t = TestTenant::with(builder().admin_token("s3cret-admin")).await;
    let doc = t
        .send(Method::GET, "/_emulator/openapi.json", None, &[], None)
        .await;
    assert_eq!(
        doc.status,
        StatusCode::OK,
        "no token needed for the description"
    );
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    // Every control route the router registers is described, and nothing else.
    let router_source = include_str!("../src/http/mod.rs");
    let mut registered: Vec<String> = router_source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .filter_map(|rest| rest.split('"').next())
        .filter(|path| path.starts_with("/_emulator"))
        .map(str::to_string)
        .collect();
    registered.sort();
    registered.dedup();
    let mut described: Vec<String> = doc.body["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    described.sort();
    assert_eq!(described, registered);

    let page = t.send(Method::GET, "/_emulator/", None, &[], None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text.contains("<title>entitlement-emulator</title>"));
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("connect-src 'self'"))
    );
    // The data behind the page still needs the token.
    let health = t
        .send(Method::GET, "/_emulator/health", None, &[], None)
        .await;
    assert_eq!(health.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn eventual_consistency_hides_new_objects_until_the_lag_passes() {
    let t = TestTenant::start().await;
    let set = |body: Value| {
        let t = &t;
        async move {
            t.json_as(Method::POST, "/_emulator/settings", None, Some(body))
                .await
        }
    };
    let before = t.state().await;
    let refused = set(json!({"eventualConsistency": "soon", "pageSize": 5})).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let settings = t
        .send(Method::GET, "/_emulator/settings", None, &[], None)
        .await;
    assert_eq!(
        settings.body["pageSize"], 100,
        "a refused body changes nothing"
    );
    assert_eq!(t.state().await, before);
    // GET's answer goes back unchanged; naming another tenant is refused, not ignored.
    let round_trip = set(settings.body.clone()).await;
    assert_eq!(round_trip.status, StatusCode::OK, "{}", round_trip.text);
    assert_eq!(round_trip.body, settings.body);
    let mut elsewhere = settings.body.clone();
    elsewhere["tenant"] = json!("00000000-0000-4000-8000-00000000beef");
    elsewhere["pageSize"] = json!(7);
    let moved = set(elsewhere).await;
    assert_eq!(moved.status, StatusCode::BAD_REQUEST, "{}", moved.text);
    assert_eq!(t.state().await, before);
    let on = set(json!({"eventualConsistency": "PT5S"})).await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text);
    assert_eq!(on.body["eventualConsistency"], "PT5S");

    let created = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "lagging", "catalog": {"id": GENERAL}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_string();
    let by_id = format!("{EM_V1}/accessPackages/{id}");
    let listed = format!("{EM_V1}/accessPackages?$filter=displayName eq 'lagging'");
    let read = t.get(&by_id).await;
    assert_eq!(
        (read.status, read.code()),
        (StatusCode::NOT_FOUND, "ResourceNotFound")
    );
    assert_eq!(t.get(&listed).await.body["value"], json!([]));
    let journal = t
        .send(
            Method::GET,
            &format!("/_emulator/journal?path={id}"),
            None,
            &[],
            None,
        )
        .await;
    assert!(
        journal.text.contains("eventual consistency"),
        "the decision log says why: {}",
        journal.text
    );

    let moved = t
        .json_as(
            Method::POST,
            "/_emulator/clock",
            None,
            Some(json!({"advance": "PT6S"})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_eq!(t.get(&by_id).await.status, StatusCode::OK);
    assert_eq!(
        t.get(&listed).await.body["value"].as_array().map(Vec::len),
        Some(1)
    );

    assert_eq!(
        set(json!({"eventualConsistency": null})).await.status,
        StatusCode::OK
    );
    let fresh = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "at once", "catalog": {"id": GENERAL}}),
        )
        .await;
    let fresh_id = fresh.body["id"].as_str().unwrap();
    assert_eq!(
        t.get(&format!("{EM_V1}/accessPackages/{fresh_id}"))
            .await
            .status,
        StatusCode::OK
    );
}

/// A tenant with one of every kind of thing, including a request waiting for approval.
async fn rich_tenant(t: &TestTenant) -> String {
    let catalog = t
        .post(
            &format!("{EM_V1}/catalogs"),
            json!({"displayName": "Snapshot catalog"}),
        )
        .await;
    let catalog = catalog.body["id"].as_str().unwrap().to_string();
    let package = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "Snapshot package", "catalog": {"id": catalog}}),
        )
        .await;
    assert_eq!(package.status, StatusCode::CREATED, "{}", package.text);
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "with approval", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "expiration": {"type": "afterDuration", "duration": "P30D"},
            "requestorSettings": {"enableTargetsToSelfAddAccess": true},
            "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
                {"durationBeforeAutomaticDenial": "P7D", "isApproverJustificationRequired": false, "isEscalationEnabled": false,
                 "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}]}]}}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let pending = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/assignmentRequests"),
            Some(&t.token_for(REQUESTOR1)),
            Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}})),
        )
        .await;
    assert_eq!(pending.status, StatusCode::CREATED, "{}", pending.text);
    let pending = pending.body["id"].as_str().unwrap().to_string();
    let delivered = t.post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd",
        "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": "20000000-0000-4000-8000-000000000005",
                       "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}})).await;
    assert_eq!(delivered.status, StatusCode::CREATED, "{}", delivered.text);
    let org = t
        .post(&format!("{EM_V1}/connectedOrganizations"), json!({"displayName": "Partner",
            "identitySources": [{"@odata.type": "#microsoft.graph.domainIdentitySource", "domainName": "partner.example", "displayName": "partner"}]}))
        .await;
    assert_eq!(org.status, StatusCode::CREATED, "{}", org.text);
    let incompatible = t
        .post(&format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/incompatibleAccessPackages/$ref"),
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/identityGovernance/entitlementManagement/accessPackages/{ANALYTICS_PACKAGE}")}))
        .await;
    assert_eq!(incompatible.status, StatusCode::NO_CONTENT);
    let role = t
        .post(&format!("{RBAC_V1}/roleAssignments"), json!({"principalId": "20000000-0000-4000-8000-000000000006",
            "roleDefinitionId": "ae79f266-94d4-4dab-b730-feca7e132178", "appScopeId": format!("/AccessPackageCatalog/{catalog}")}))
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{}", role.text);
    let settings = t
        .json_as(
            Method::POST,
            "/_emulator/settings",
            None,
            Some(json!({"pageSize": 7})),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK);
    pending
}

#[tokio::test]
async fn a_snapshot_round_trips_every_entity_and_requests_in_flight() {
    let t = TestTenant::start().await;
    let pending = rich_tenant(&t).await;
    let get_snapshot = |query: &'static str| {
        let t = &t;
        async move {
            let r = t
                .send(
                    Method::GET,
                    &format!("/_emulator/snapshot{query}"),
                    None,
                    &[],
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.text
        }
    };
    let snapshot = get_snapshot("").await;
    assert_eq!(get_snapshot("").await, snapshot, "byte-stable");
    let export = t.state().await;

    // Move on, then put the snapshot back: the state and the id stream are as they were.
    let after = |name: &'static str| {
        let t = &t;
        async move {
            let r = t
                .post(
                    &format!("{EM_V1}/accessPackages"),
                    json!({"displayName": name, "catalog": {"id": GENERAL}}),
                )
                .await;
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let first = after("after the snapshot").await;
    let restore = t
        .send(
            Method::PUT,
            "/_emulator/snapshot",
            None,
            &[("Content-Type", "application/json")],
            Some(snapshot.clone().into_bytes()),
        )
        .await;
    assert_eq!(restore.status, StatusCode::OK, "{}", restore.text);
    assert_eq!(t.state().await, export);
    assert_eq!(get_snapshot("").await, snapshot);
    assert_eq!(
        after("after the snapshot").await,
        first,
        "the id stream continues"
    );

    // A new tenant from it holds the same state under its own id, in-flight request included.
    let new_id = "10000000-0000-4000-8000-0000000000cc";
    let mut body: Value = serde_json::from_str(&snapshot).unwrap();
    body = json!({"snapshot": body, "id": new_id});
    let made = t
        .json_as(Method::POST, "/_emulator/tenants", None, Some(body))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let copied = t
        .send(
            Method::GET,
            &format!("/_emulator/state?tenant={new_id}"),
            None,
            &[],
            None,
        )
        .await;
    let expected = export.replace("10000000-0000-4000-8000-000000000000", new_id);
    assert_eq!(copied.text, expected);
    let approve = t
        .json_as(
            Method::POST,
            &format!("/_emulator/approvals/{pending}?tenant={new_id}"),
            None,
            Some(json!({"approver": "lead@contoso.onmicrosoft.com", "reviewResult": "Approve"})),
        )
        .await;
    assert!(approve.status.is_success(), "{}", approve.text);
    let token = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": ADMIN, "tenant": new_id})),
        )
        .await
        .body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let request = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/assignmentRequests/{pending}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(request.body["state"], "delivered", "{}", request.text);
    // Its reset returns to the snapshot, not to the fixture.
    let reset = t
        .send(
            Method::POST,
            &format!("/_emulator/reset?tenant={new_id}"),
            None,
            &[],
            None,
        )
        .await;
    assert!(reset.status.is_success());
    let again = t
        .send(
            Method::GET,
            &format!("/_emulator/state?tenant={new_id}"),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(again.text, expected);

    // Refused snapshots change nothing.
    let before_refusals = get_snapshot("").await;
    for (bad, says) in [
        (
            json!({"format": "something else", "state": {}}),
            "not a tenant snapshot",
        ),
        (
            json!({"format": "entitlement-emulator/tenant-snapshot/1", "state": {"info": 5}}),
            "state.",
        ),
    ] {
        let refused = t
            .send(
                Method::PUT,
                "/_emulator/snapshot",
                None,
                &[("Content-Type", "application/json")],
                Some(serde_json::to_vec(&bad).unwrap()),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.message().contains(says), "{}", refused.text);
    }
    assert_eq!(get_snapshot("").await, before_refusals);
    let taken = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"snapshot": serde_json::from_str::<Value>(&snapshot).unwrap()})),
        )
        .await;
    assert_eq!(
        taken.status,
        StatusCode::CONFLICT,
        "the snapshot's own id is in use"
    );
}

#[tokio::test]
async fn throttled_answers_carry_graphs_throttle_headers_and_rules_match_operations() {
    let t = TestTenant::start().await;
    let rule = t
        .json_as(
            Method::POST,
            "/_emulator/faults",
            None,
            Some(json!({"operation": "AccessPackage", "schedule": {"next": 1}, "effect": {"status": 429, "retryAfter": 3}})),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.text);
    let app = t.token_for(AUTOMATION_APP);
    let list = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackages"),
            Some(&app),
            None,
        )
        .await;
    assert_eq!(
        list.status,
        StatusCode::OK,
        "the collection is not the rule's operation"
    );
    let one = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"),
            Some(&app),
            None,
        )
        .await;
    assert_eq!(one.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(one.header("retry-after"), Some("3"));
    assert_eq!(
        one.header("x-ms-throttle-scope"),
        Some(
            "Tenant_Application/ReadWrite/41000000-0000-4000-8000-000000000001/10000000-0000-4000-8000-000000000000"
        )
    );
    assert_eq!(
        one.header("x-ms-throttle-information"),
        Some("ResourceUnitLimitExceeded")
    );
}
