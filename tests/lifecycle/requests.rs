//! Requests end to end: the tutorial, policy scope and rules, end-user discovery, shapes, subjects, refusals.

use super::*;

#[tokio::test]
async fn the_tutorial_end_to_end() {
    let t = TestTenant::start().await;
    let me = end_user(&t, REQUESTOR1);
    // Requestor1 asks for Marketing Campaign with a justification.
    let requested = t
        .json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me),
            Some(json!({"requestType": "UserAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE}, "justification": "Need access to the campaign"})))
        .await;
    assert_eq!(requested.status, StatusCode::CREATED, "{}", requested.text);
    assert_eq!(
        (
            requested.body["state"].as_str(),
            requested.body["status"].as_str()
        ),
        (Some("submitted"), Some("Accepted"))
    );
    assert_eq!(
        requested.body["requestType"], "UserAdd",
        "the input casing is echoed (Graph API reference: Create assignmentRequest, v1.0)"
    );
    snap!("lifecycle_v1_user_add", requested);
    let id = requested.body["id"].as_str().unwrap().to_string();
    // The next read finds it delivered, and the user in the group.
    // An end user may not read a request by id (EntitlementMgmt-SubjectAccess.ReadWrite is
    // listed for filterByCurrentUser, not for Get:
    // https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-get?view=graph-rest-1.0);
    // the admin may.
    let denied = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/assignmentRequests/{id}"),
            Some(&me),
            None,
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let delivered = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(
        (
            delivered.body["state"].as_str(),
            delivered.body["status"].as_str()
        ),
        (Some("delivered"), Some("Delivered")),
        "{}",
        delivered.text
    );
    assert!(delivered.body["completedDateTime"].is_string());
    let mine = t
        .json_as(
            Method::GET,
            &format!(
                "{EM_V1}/assignments/filterByCurrentUser(on='target')?$expand=target,accessPackage"
            ),
            Some(&me),
            None,
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    snap!("lifecycle_v1_my_assignments", mine);
    let assignment = mine.body["value"][0]["id"].as_str().unwrap().to_string();
    assert!(members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    // The package cannot go while the assignment lives.
    let refused = t
        .delete(&format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"))
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::BAD_REQUEST, "AccessPackageHasAssignments")
    );
    // The administrator removes the access.
    let removal = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminRemove", "assignment": {"id": assignment}}),
        )
        .await;
    assert_eq!(removal.status, StatusCode::CREATED);
    let after = t.get(&format!("{EM_V1}/assignments/{assignment}")).await;
    assert_eq!(
        (after.body["state"].as_str(), after.body["status"].as_str()),
        (Some("expired"), Some("ExpiredNotificationTriggered"))
    );
    assert!(!members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    // The service records its own systemRemove beside the administrator's request
    // (https://learn.microsoft.com/graph/api/resources/accesspackageassignmentrequest?view=graph-rest-1.0).
    let removals = t
        .get(&format!(
            "{EM_V1}/assignmentRequests?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await;
    let kinds: Vec<&str> = removals.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requestType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["UserAdd", "adminRemove", "systemRemove"],
        "{}",
        removals.text
    );
    // Now the package can be deleted.
    assert_eq!(
        t.delete(&format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn policy_scope_and_rules() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let other = end_user(&t, REQUESTOR2);
    let outside = t
        .json_as(Method::POST, &format!("{EM_BETA}/accessPackageAssignmentRequests"), Some(&other),
            Some(json!({"requestType": "UserAdd", "accessPackageAssignment": {"accessPackageId": CAMPAIGN_PACKAGE}})))
        .await;
    assert_eq!(outside.status, StatusCode::BAD_REQUEST);
    snap!("lifecycle_policy_requirements_not_met", outside);
    let me = end_user(&t, REQUESTOR1);
    let for_someone_else = t
        .json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me),
            Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": "20000000-0000-4000-8000-000000000006"}})))
        .await;
    assert_eq!(for_someone_else.code(), "InvalidRequest");
    let admin_outside_scope = t.post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": "20000000-0000-4000-8000-000000000006", "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}})).await;
    assert_eq!(
        admin_outside_scope.message(),
        "You don't meet policy requirements to request this entitlement."
    );
    let app = t.json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&t.token_for(AUTOMATION_APP)),
        Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE}}))).await;
    assert_eq!(
        app.status,
        StatusCode::FORBIDDEN,
        "end-user requests need a signed-in user"
    );
    assert_eq!(t.state().await, before);
    // Twice is once too many.
    t.json_as(
        Method::POST,
        &format!("{EM_V1}/assignmentRequests"),
        Some(&me),
        Some(
            json!({"requestType": "userAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE}}),
        ),
    )
    .await;
    let again = t.json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me), Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE}}))).await;
    assert_eq!(again.code(), "ExistingAssignment");
}

#[tokio::test]
async fn catalog_scoped_callers_must_filter_by_package() {
    let t = TestTenant::start().await;
    let owner = t.token_for(CATALOG_OWNER);
    let unfiltered = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/assignments"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(unfiltered.status, StatusCode::FORBIDDEN);
    let filtered = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/assignments?$filter=accessPackage/id eq '{ANALYTICS_PACKAGE}'"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(filtered.status, StatusCode::OK);
    let requests = t.json_as(Method::GET, &format!("{EM_BETA}/accessPackageAssignmentRequests?$filter=accessPackage/id eq '{ANALYTICS_PACKAGE}'"), Some(&owner), None).await;
    assert_eq!(requests.status, StatusCode::OK);
    let user = t.get(&format!("/v1.0/users/{REQUESTOR1_ID}")).await;
    assert_eq!(user.body["userPrincipalName"], REQUESTOR1);
    let nobody = t
        .get("/v1.0/users/5e0f0000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(
        (nobody.status, nobody.code()),
        (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
    );
    let _: Value = user.body;
}

#[tokio::test]
async fn end_users_find_what_they_may_request() {
    let t = TestTenant::start().await;
    let me = end_user(&t, REQUESTOR1);
    let other = end_user(&t, REQUESTOR2);
    let browse = format!("{EM_V1}/accessPackages/filterByCurrentUser(on='allowedRequestor')");
    let mine = t.json_as(Method::GET, &browse, Some(&me), None).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    let ids: Vec<&str> = mine.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec![CAMPAIGN_PACKAGE],
        "only the package whose policy names requestor1"
    );
    let theirs = t.json_as(Method::GET, &browse, Some(&other), None).await;
    assert_eq!(theirs.body["value"], json!([]));
    // The requirements of the one policy that admits requestor1
    // (https://learn.microsoft.com/graph/api/accesspackage-getapplicablepolicyrequirements?view=graph-rest-1.0);
    // none for requestor2.
    let requirements =
        format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/getApplicablePolicyRequirements");
    let applicable = t
        .json_as(Method::POST, &requirements, Some(&me), None)
        .await;
    assert_eq!(applicable.status, StatusCode::OK, "{}", applicable.text);
    assert_eq!(
        applicable.body["value"][0]["policyId"],
        "90000000-0000-4000-8000-000000000001"
    );
    snap!("lifecycle_v1_policy_requirements", applicable);
    let none = t
        .json_as(Method::POST, &requirements, Some(&other), None)
        .await;
    assert_eq!(
        (none.status, &none.body["value"]),
        (StatusCode::OK, &json!([]))
    );
    let beta = t
        .json_as(
            Method::POST,
            &format!("{EM_BETA}/accessPackages/{CAMPAIGN_PACKAGE}/getApplicablePolicyRequirements"),
            Some(&me),
            None,
        )
        .await;
    assert_eq!(beta.body["value"][0]["isApprovalRequired"], false);
    // A hidden package leaves the catalogue but can still be requested by id
    // (https://learn.microsoft.com/entra/id-governance/entitlement-management-process).
    let hide = t
        .patch(
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"),
            json!({"isHidden": true}),
        )
        .await;
    assert!(hide.status.is_success(), "{}", hide.text);
    assert_eq!(
        t.json_as(Method::GET, &browse, Some(&me), None).await.body["value"],
        json!([])
    );
    assert_eq!(
        t.json_as(Method::POST, &requirements, Some(&me), None)
            .await
            .body["value"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // Unknown package, application callers.
    let unknown = t
        .json_as(
            Method::POST,
            &format!(
                "{EM_V1}/accessPackages/{}/getApplicablePolicyRequirements",
                "60000000-0000-4000-8000-0000000000ff"
            ),
            Some(&me),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let app = t
        .json_as(
            Method::GET,
            &browse,
            Some(&t.token_for(AUTOMATION_APP)),
            None,
        )
        .await;
    assert_eq!(
        app.status,
        StatusCode::FORBIDDEN,
        "delegated only (Graph API reference: accessPackage: filterByCurrentUser, v1.0)"
    );
}

#[tokio::test]
async fn beta_shapes_of_requests_assignments_and_approvals() {
    let t = TestTenant::start().await;
    let created = t
        .post(&format!("{EM_BETA}/accessPackageAssignmentRequests"), json!({"requestType": "AdminAdd", "accessPackageAssignment": {
            "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001", "accessPackageId": CAMPAIGN_PACKAGE}}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    snap!("lifecycle_beta_admin_add", created);
    let me = end_user(&t, REQUESTOR1);
    let mine = t
        .json_as(
            Method::GET,
            &format!("{EM_BETA}/accessPackageAssignmentRequests/filterByCurrentUser(on='target')"),
            Some(&me),
            None,
        )
        .await;
    assert_eq!(
        (
            mine.body["value"][0]["requestState"].as_str(),
            mine.body["value"][0]["requestStatus"].as_str()
        ),
        (Some("Delivered"), Some("Fulfilled")),
        "as in Graph API reference: accessPackageAssignmentRequest: filterByCurrentUser (beta)"
    );
    snap!("lifecycle_beta_my_requests", mine);
    let assignments = t
        .get(&format!(
            "{EM_BETA}/accessPackageAssignments?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await;
    assert_eq!(assignments.status, StatusCode::OK, "{}", assignments.text);
    snap!("lifecycle_beta_assignments", assignments);
    // An approval in beta has `steps`
    // (https://learn.microsoft.com/graph/api/approval-get?view=graph-rest-beta).
    approval_policy(&t).await;
    let asked = t
        .json_as(Method::POST, &format!("{EM_BETA}/accessPackageAssignmentRequests"), Some(&me),
            Some(json!({"requestType": "UserAdd", "accessPackageAssignment": {"accessPackageId": ANALYTICS_PACKAGE}, "justification": "beta"})))
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.text);
    let id = asked.body["id"].as_str().unwrap().to_string();
    let lead = t.token_for(LEAD);
    let approval = t
        .json_as(
            Method::GET,
            &format!("{EM_BETA}/accessPackageAssignmentApprovals/{id}"),
            Some(&lead),
            None,
        )
        .await;
    assert_eq!(approval.status, StatusCode::OK, "{}", approval.text);
    snap!("lifecycle_beta_approval", approval);
    let step = approval.body["steps"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let decided = t
        .json_as(
            Method::PATCH,
            &format!("{EM_BETA}/accessPackageAssignmentApprovals/{id}/steps/{step}"),
            Some(&lead),
            Some(json!({"reviewResult": "Approve", "justification": "ok"})),
        )
        .await;
    assert_eq!(decided.status, StatusCode::NO_CONTENT, "{}", decided.text);
    let done = t
        .get(&format!("{EM_BETA}/accessPackageAssignmentRequests/{id}"))
        .await;
    assert_eq!(done.body["requestState"], "Delivered");
}

#[tokio::test]
async fn subjects_by_object_id() {
    let t = TestTenant::start().await;
    let path = format!("{EM_V1}/subjects(objectId='{REQUESTOR1_ID}')");
    let unknown = t.get(&path).await;
    assert_eq!(
        unknown.status,
        StatusCode::NOT_FOUND,
        "not a subject before any request [inf]"
    );
    let me = end_user(&t, REQUESTOR1);
    t.json_as(
        Method::POST,
        &format!("{EM_V1}/assignmentRequests"),
        Some(&me),
        Some(
            json!({"requestType": "userAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE}}),
        ),
    )
    .await;
    let subject = t.get(&path).await;
    assert_eq!(subject.status, StatusCode::OK, "{}", subject.text);
    snap!("lifecycle_v1_subject", subject);
    let patched = t
        .patch(&path, json!({"subjectLifecycle": "governed"}))
        .await;
    assert_eq!(patched.status, StatusCode::NO_CONTENT, "{}", patched.text);
    assert_eq!(t.get(&path).await.body["subjectLifecycle"], "governed");
    let bad = t
        .patch(&path, json!({"subjectLifecycle": "sometimes"}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let other_field = t.patch(&path, json!({"displayName": "x"})).await;
    assert_eq!(
        other_field.status,
        StatusCode::BAD_REQUEST,
        "only subjectLifecycle may change"
    );
    let reader = t
        .json_as(
            Method::PATCH,
            &path,
            Some(&me),
            Some(json!({"subjectLifecycle": "notGoverned"})),
        )
        .await;
    assert_eq!(reader.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn malformed_requests_are_refused_without_changing_anything() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let url = format!("{EM_V1}/assignmentRequests");
    let add = |assignment: Value| json!({"requestType": "adminAdd", "assignment": assignment});
    let target = json!({"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID});
    for body in [
        json!({"requestType": 5, "assignment": target}),
        json!({"requestType": "systemAdd", "assignment": target}),
        json!({"requestType": "adminAdd"}),
        json!({"requestType": "adminAdd", "assignment": "x"}),
        add(json!({"accessPackageId": "not-a-guid", "targetId": REQUESTOR1_ID})),
        add(
            json!({"accessPackageId": CAMPAIGN_PACKAGE, "targetId": "20000000-0000-4000-8000-0000000000ff"}),
        ),
        add(
            json!({"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": ANALYTICS_PACKAGE}),
        ),
        json!({"requestType": "adminAdd", "assignment": target, "answers": {}}),
        json!({"requestType": "adminAdd", "assignment": target, "schedule": {"startDateTime": "yesterday"}}),
        json!({"requestType": "adminAdd", "assignment": target, "unknownProperty": true}),
        json!({"requestType": "adminRemove", "assignment": {"id": "a0000000-0000-4000-8000-000000000009"}}),
    ] {
        let resp = t.post(&url, body.clone()).await;
        assert!(
            resp.status.is_client_error(),
            "{body}: {} {}",
            resp.status,
            resp.text
        );
        assert!(
            resp.body["error"]["code"].is_string(),
            "{body}: {}",
            resp.text
        );
    }
    assert_eq!(t.state().await, before);
    // A huge custom duration saturates at the calendar's end instead of crashing the clock.
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "custom", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "requestorSettings": {"enableTargetsToSelfAddAccess": true, "allowCustomAssignmentSchedule": true}}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let huge = t
        .post(&url, json!({"requestType": "adminAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE, "targetId": REQUESTOR1_ID},
            "schedule": {"expiration": {"type": "afterDuration", "duration": "P99999999D"}}}))
        .await;
    assert_eq!(huge.status, StatusCode::CREATED, "{}", huge.text);
    move_clock(&t, r#"{"advance": "P3650D"}"#).await;
    let held = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{ANALYTICS_PACKAGE}'"
        ))
        .await;
    assert_eq!(held.body["value"][0]["state"], "delivered", "{}", held.text);
}

#[tokio::test]
async fn updates_keep_the_end_and_cancel_is_refused_when_graph_refuses_it() {
    let t = TestTenant::start().await;
    let added = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let assignment = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await
        .body["value"][0]
        .clone();
    // An adminUpdate without a schedule changes answers, not the end (Example 6 of
    // https://learn.microsoft.com/graph/api/entitlementmanagement-post-assignmentrequests?view=graph-rest-1.0).
    let update = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminUpdate", "assignment": {"id": assignment["id"]}}),
        )
        .await;
    assert_eq!(update.status, StatusCode::CREATED, "{}", update.text);
    move_clock(&t, r#"{"advance": "P1D"}"#).await;
    let after = t
        .get(&format!(
            "{EM_V1}/assignments/{}",
            assignment["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        after.body["schedule"], assignment["schedule"],
        "{}",
        after.text
    );
    // The end user can read their group's members with only the end-user scope.
    let members_as_user = t
        .json_as(
            Method::GET,
            &format!("/v1.0/groups/{MARKETING_GROUP}/members"),
            Some(&end_user(&t, REQUESTOR1)),
            None,
        )
        .await;
    assert_eq!(
        members_as_user.status,
        StatusCode::OK,
        "{}",
        members_as_user.text
    );
    // Applications cannot cancel
    // (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-cancel?view=graph-rest-1.0).
    approval_policy(&t).await;
    let pending = t
        .json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&end_user(&t, REQUESTOR1)),
            Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}})))
        .await;
    assert_eq!(pending.status, StatusCode::CREATED, "{}", pending.text);
    let cancel = format!(
        "{EM_V1}/assignmentRequests/{}/cancel",
        pending.body["id"].as_str().unwrap()
    );
    let by_app = t
        .json_as(
            Method::POST,
            &cancel,
            Some(&t.token_for(AUTOMATION_APP)),
            None,
        )
        .await;
    assert_eq!(by_app.status, StatusCode::FORBIDDEN, "{}", by_app.text);
    // The outbox already shows the approval request the submission led to.
    let notices = outbox(&t).await;
    assert!(
        notices.iter().any(|n| n["kind"] == "approvalRequired"),
        "{notices:?}"
    );
}

#[tokio::test]
async fn approval_bypass_and_deletion_guard_are_configurable() {
    let t = TestTenant::start().await;
    approval_policy(&t).await;
    let assigner = t.token_for(ASSIGNMENT_MANAGER);
    let add = |target: &str| json!({"requestType": "adminAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE, "targetId": target}});
    let state_after = |resp: &crate::common::Resp| {
        format!(
            "{EM_V1}/assignmentRequests/{}",
            resp.body["id"].as_str().unwrap_or("?")
        )
    };
    // Default: an assignment manager alone does not skip approval.
    let first = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/assignmentRequests"),
            Some(&assigner),
            Some(add(REQUESTOR1_ID)),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(
        t.get(&state_after(&first)).await.body["state"],
        "pendingApproval"
    );
    set_settings(&t, r#"{"adminApprovalBypass": "all"}"#).await;
    let second = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/assignmentRequests"),
            Some(&assigner),
            Some(add("20000000-0000-4000-8000-000000000006")),
        )
        .await;
    assert_eq!(
        t.get(&state_after(&second)).await.body["state"],
        "delivered"
    );
    let shown = set_settings(&t, r#"{"adminApprovalBypass": "none"}"#).await;
    assert_eq!(shown["adminApprovalBypass"], "none");
    let third = t
        .post(&format!("{EM_V1}/assignmentRequests"), add(REQUESTOR1_ID))
        .await;
    assert_eq!(
        t.get(&state_after(&third)).await.body["state"],
        "pendingApproval"
    );

    // Deleting a package whose assignments have all ended: allowed by default, refused when
    // every assignment counts.
    set_settings(&t, r#"{"packageDeletionGuard": "anyAssignment"}"#).await;
    let added = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let assignment = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await
        .body["value"][0]["id"]
        .clone();
    let removed = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminRemove", "assignment": {"id": assignment}}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::CREATED, "{}", removed.text);
    let path = format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}");
    assert_eq!(t.delete(&path).await.code(), "AccessPackageHasAssignments");
    set_settings(&t, r#"{"packageDeletionGuard": "liveAssignments"}"#).await;
    assert_eq!(t.delete(&path).await.status, StatusCode::NO_CONTENT);
}
