//! Fixtures that start with assignments and requests in flight.

use super::*;

#[tokio::test]
async fn fixtures_can_start_with_assignments() {
    use entitlement_emulator::fixtures::FixtureSource;
    let seeded = SeededTenantDir::new(
        "ok",
        r#"[
          {"id": "a0000000-0000-4000-8000-000000000001", "accessPackageId": "60000000-0000-4000-8000-000000000001",
           "targetId": "20000000-0000-4000-8000-000000000005", "startDateTime": "2026-02-01T00:00:00Z", "endDateTime": "2026-03-05T00:00:00Z"},
          {"id": "a0000000-0000-4000-8000-000000000002", "accessPackageId": "60000000-0000-4000-8000-000000000001",
           "targetId": "20000000-0000-4000-8000-000000000006", "state": "expired"}
        ]"#,
    );
    let t = TestTenant::with(builder().fixtures(FixtureSource::Dir(seeded.0.clone()))).await;
    let live = t
        .get(&format!(
            "{EM_V1}/assignments/a0000000-0000-4000-8000-000000000001"
        ))
        .await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.text);
    assert_eq!(
        (
            live.body["state"].as_str(),
            live.body["schedule"]["expiration"]["type"].as_str()
        ),
        (Some("delivered"), Some("afterDateTime"))
    );
    assert!(
        members(&t).await.contains(&REQUESTOR1_ID.to_string()),
        "a seeded assignment grants its roles"
    );
    let old = t
        .get(&format!(
            "{EM_V1}/assignments/a0000000-0000-4000-8000-000000000002"
        ))
        .await;
    assert_eq!(old.body["state"], "expired");
    // The seeded one counts: no second assignment, and it expires on the clock like any other.
    let me = end_user(&t, REQUESTOR1);
    let again = t
        .json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me),
            Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE}})))
        .await;
    assert_eq!(again.code(), "ExistingAssignment");
    let moved = t
        .send(
            Method::POST,
            "/_emulator/clock",
            None,
            &[],
            Some(br#"{"set": "2026-03-06T00:00:00Z"}"#.to_vec()),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let ended = t
        .get(&format!(
            "{EM_V1}/assignments/a0000000-0000-4000-8000-000000000001"
        ))
        .await;
    assert_eq!(ended.body["state"], "expired");
    assert!(!members(&t).await.contains(&REQUESTOR1_ID.to_string()));
}

#[tokio::test]
async fn fixture_assignments_are_checked() {
    use entitlement_emulator::fixtures::FixtureSource;
    let seeded = SeededTenantDir::new(
        "bad",
        r#"[{"id": "a0000000-0000-4000-8000-000000000001", "accessPackageId": "60000000-0000-4000-8000-000000000001", "targetId": "20000000-0000-4000-8000-0000000000ff"}]"#,
    );
    let err = FixtureSource::Dir(seeded.0.clone()).load().unwrap_err();
    assert_eq!(
        (err.file.ends_with("assignments.json"), err.pointer.as_str()),
        (true, "/0/targetId"),
        "{err}"
    );
}

#[tokio::test]
async fn fixtures_can_start_with_requests_in_flight() {
    use entitlement_emulator::fixtures::FixtureSource;
    let seeded = SeededTenantDir::new("inflight", "[]")
        .with("assignmentPolicies.json", POLICIES_WITH_APPROVAL)
        .with(
            "assignmentRequests.json",
            r#"[
          {"id": "b0000000-0000-4000-8000-000000000001", "accessPackageId": "60000000-0000-4000-8000-000000000002",
           "targetId": "20000000-0000-4000-8000-000000000005", "justification": "quarterly analysis",
           "state": "pendingApproval", "createdDateTime": "2026-02-27T09:00:00Z"},
          {"id": "b0000000-0000-4000-8000-000000000002", "requestType": "AdminAdd", "accessPackageId": "60000000-0000-4000-8000-000000000001",
           "targetId": "20000000-0000-4000-8000-000000000005", "createdDateTime": "2026-02-28T00:00:00Z"},
          {"id": "b0000000-0000-4000-8000-000000000003", "accessPackageId": "60000000-0000-4000-8000-000000000002",
           "targetId": "20000000-0000-4000-8000-000000000006", "state": "denied"}
        ]"#,
        );
    let t = TestTenant::with(builder().fixtures(FixtureSource::Dir(seeded.0.clone()))).await;
    let pending_path = format!("{EM_V1}/assignmentRequests/b0000000-0000-4000-8000-000000000001");
    let pending = t.get(&pending_path).await;
    assert_eq!(
        (
            pending.body["state"].as_str(),
            pending.body["justification"].as_str(),
            pending.body["createdDateTime"].as_str()
        ),
        (
            Some("pendingApproval"),
            Some("quarterly analysis"),
            Some("2026-02-27T09:00:00Z")
        ),
        "{}",
        pending.text
    );
    // The admin's request was delivered when placed; the denied one is history.
    let delivered = t
        .get(&format!(
            "{EM_V1}/assignmentRequests/b0000000-0000-4000-8000-000000000002"
        ))
        .await;
    assert_eq!(
        (
            delivered.body["state"].as_str(),
            delivered.body["requestType"].as_str()
        ),
        (Some("delivered"), Some("AdminAdd"))
    );
    assert!(members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    let denied = t
        .get(&format!(
            "{EM_V1}/assignmentRequests/b0000000-0000-4000-8000-000000000003"
        ))
        .await;
    assert_eq!(denied.body["state"], "denied");
    // The manager finds it waiting and approves it through the real routes.
    let lead = t.token_for(LEAD);
    let mine = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackageAssignmentApprovals/filterByCurrentUser(on='approver')"),
            Some(&lead),
            None,
        )
        .await;
    assert_eq!(
        mine.body["value"][0]["id"], "b0000000-0000-4000-8000-000000000001",
        "{}",
        mine.text
    );
    let approval = t
        .json_as(
            Method::GET,
            &format!(
                "{EM_V1}/accessPackageAssignmentApprovals/b0000000-0000-4000-8000-000000000001"
            ),
            Some(&lead),
            None,
        )
        .await;
    let stage = approval.body["stages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let decided = t
        .json_as(
            Method::PATCH,
            &format!("{EM_V1}/accessPackageAssignmentApprovals/b0000000-0000-4000-8000-000000000001/stages/{stage}"),
            Some(&lead),
            Some(json!({"reviewResult": "Approve"})),
        )
        .await;
    assert_eq!(decided.status, StatusCode::NO_CONTENT, "{}", decided.text);
    assert_eq!(t.get(&pending_path).await.body["state"], "delivered");
    // Its seven-day deadline counted from its creation: a second seeded copy times out.
    let late = SeededTenantDir::new("inflight-late", "[]")
        .with("assignmentPolicies.json", POLICIES_WITH_APPROVAL)
        .with(
            "assignmentRequests.json",
            r#"[{"id": "b0000000-0000-4000-8000-000000000001", "accessPackageId": "60000000-0000-4000-8000-000000000002",
                 "targetId": "20000000-0000-4000-8000-000000000005", "createdDateTime": "2026-02-20T09:00:00Z"}]"#,
        );
    let t = TestTenant::with(builder().fixtures(FixtureSource::Dir(late.0.clone()))).await;
    let timed_out = t.get(&pending_path).await;
    assert_eq!(
        (
            timed_out.body["state"].as_str(),
            timed_out.body["status"].as_str()
        ),
        (Some("denied"), Some("Expired"))
    );
}

#[tokio::test]
async fn fixture_requests_are_checked() {
    use entitlement_emulator::fixtures::FixtureSource;
    let seeded = SeededTenantDir::new("bad-request", "[]").with(
        "assignmentRequests.json",
        r#"[{"id": "b0000000-0000-4000-8000-000000000001", "accessPackageId": "60000000-0000-4000-8000-000000000001",
             "targetId": "20000000-0000-4000-8000-000000000005", "state": "pendingApproval"}]"#,
    );
    let err = FixtureSource::Dir(seeded.0.clone()).load().unwrap_err();
    assert_eq!(
        (
            err.file.ends_with("assignmentRequests.json"),
            err.pointer.as_str(),
            err.message.as_str()
        ),
        (true, "/0/state", "the policy does not require approval"),
        "{err}"
    );
}
