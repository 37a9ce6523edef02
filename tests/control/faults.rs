//! Fault rules: schedules, dropped connections, token buckets and Graph's throttling headers.

use super::*;

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
