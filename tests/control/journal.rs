//! The request journal (filters, counts, its caps), the decision log and the least-privilege report.

use super::*;

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
