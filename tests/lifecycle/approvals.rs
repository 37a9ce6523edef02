//! Approvals: managers and named approvers, denial, timeouts and escalation on the clock, multi-stage, approver removal.

use super::*;

#[tokio::test]
async fn approvals_by_the_manager() {
    let t = TestTenant::start().await;
    approval_policy(&t).await;
    let me = end_user(&t, REQUESTOR1);
    let id = t
        .json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me), Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pending = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(pending.body["state"], "pendingApproval");
    let lead = t.token_for(LEAD);
    let mine = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/assignmentRequests/filterByCurrentUser(on='approver')"),
            Some(&lead),
            None,
        )
        .await;
    assert_eq!(mine.body["value"][0]["id"], id.as_str());
    // The whole collection lists what each caller could read by id.
    let all = format!("{EM_V1}/accessPackageAssignmentApprovals");
    let listed = t.json_as(Method::GET, &all, Some(&lead), None).await;
    assert_eq!(
        listed.body["value"][0]["id"],
        id.as_str(),
        "{}",
        listed.text
    );
    let others = t
        .json_as(Method::GET, &all, Some(&end_user(&t, REQUESTOR1)), None)
        .await;
    // Only the end-user scope: the collection needs EntitlementManagement.Read.All.
    assert_eq!(others.status, StatusCode::FORBIDDEN, "{}", others.text);
    let approval = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackageAssignmentApprovals/{id}"),
            Some(&lead),
            None,
        )
        .await;
    assert_eq!(approval.status, StatusCode::OK);
    snap!("lifecycle_v1_approval", approval);
    let stage = approval.body["stages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stage_path = format!("{EM_V1}/accessPackageAssignmentApprovals/{id}/stages/{stage}");
    let outsider = t
        .json_as(
            Method::PATCH,
            &stage_path,
            Some(&t.token_for(REQUESTOR2)),
            Some(json!({"reviewResult": "Approve"})),
        )
        .await;
    assert_eq!(outsider.status, StatusCode::FORBIDDEN);
    let decided = t
        .json_as(
            Method::PATCH,
            &stage_path,
            Some(&lead),
            Some(json!({"reviewResult": "Approve", "justification": "ok"})),
        )
        .await;
    assert_eq!(decided.status, StatusCode::NO_CONTENT);
    let twice = t
        .json_as(
            Method::PATCH,
            &stage_path,
            Some(&lead),
            Some(json!({"reviewResult": "Deny"})),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let done = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(done.body["state"], "delivered");
    let beta_steps = t
        .json_as(
            Method::GET,
            &format!("{EM_BETA}/accessPackageAssignmentApprovals/{id}/steps"),
            Some(&lead),
            None,
        )
        .await;
    assert_eq!(beta_steps.body["value"][0]["reviewResult"], "Approved");
}

#[tokio::test]
async fn denial_cancel_and_timeouts_on_the_virtual_clock() {
    let t = TestTenant::start().await;
    approval_policy(&t).await;
    let lead = t.token_for(LEAD);
    let ask = |persona: &'static str| {
        let t = &t;
        async move {
            let tok = end_user(t, persona);
            t.json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&tok), Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}})))
                .await
                .body["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    // Deny.
    let first = ask(REQUESTOR1).await;
    let approval = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackageAssignmentApprovals/{first}"),
            Some(&lead),
            None,
        )
        .await;
    let stage = approval.body["stages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    t.json_as(
        Method::PATCH,
        &format!("{EM_V1}/accessPackageAssignmentApprovals/{first}/stages/{stage}"),
        Some(&lead),
        Some(json!({"reviewResult": "Deny"})),
    )
    .await;
    let denied = t.get(&format!("{EM_V1}/assignmentRequests/{first}")).await;
    assert_eq!(
        (
            denied.body["state"].as_str(),
            denied.body["status"].as_str()
        ),
        (Some("denied"), Some("Denied"))
    );
    // A denied request can be deleted; a pending one can be canceled, once.
    assert_eq!(
        t.delete(&format!("{EM_V1}/assignmentRequests/{first}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let second = ask(REQUESTOR1).await;
    let me = end_user(&t, REQUESTOR1);
    let cancel = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/assignmentRequests/{second}/cancel"),
            Some(&me),
            None,
        )
        .await;
    assert_eq!((cancel.status, cancel.text.as_str()), (StatusCode::OK, ""));
    let again = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/assignmentRequests/{second}/cancel"),
            Some(&me),
            None,
        )
        .await;
    assert_eq!(again.code(), "RequestNotCancellable");
    // No decision within 7 days: denied with status Expired when the clock passes the deadline.
    let third = ask(REQUESTOR1).await;
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentRequests/{third}"))
            .await
            .body["state"],
        "pendingApproval"
    );
    let moved = t
        .send(
            Method::POST,
            "/_emulator/clock",
            None,
            &[],
            Some(br#"{"advance": "P8D"}"#.to_vec()),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    let expired = t.get(&format!("{EM_V1}/assignmentRequests/{third}")).await;
    assert_eq!(
        (
            expired.body["state"].as_str(),
            expired.body["status"].as_str()
        ),
        (Some("denied"), Some("Expired"))
    );
    let backwards = t
        .send(
            Method::POST,
            "/_emulator/clock",
            None,
            &[],
            Some(br#"{"set": "2000-01-01T00:00:00Z"}"#.to_vec()),
        )
        .await;
    assert_eq!(
        backwards.status,
        StatusCode::BAD_REQUEST,
        "time never moves backwards"
    );
}

#[tokio::test]
async fn undecided_stages_escalate_on_the_clock() {
    let t = TestTenant::start().await;
    let escalation_approver = "20000000-0000-4000-8000-000000000006";
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "escalating", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "expiration": {"type": "afterDuration", "duration": "P30D"},
            "requestorSettings": {"enableTargetsToSelfAddAccess": true},
            "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
                {"durationBeforeAutomaticDenial": "P7D", "isApproverJustificationRequired": false, "isEscalationEnabled": true,
                 "durationBeforeEscalation": "P4D",
                 "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}],
                 "escalationApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": escalation_approver}]}]}}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let me = end_user(&t, REQUESTOR1);
    let id = t
        .json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me), Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}})))
        .await
        .body["id"].as_str().unwrap().to_string();
    // Approvers act with a delegated EntitlementManagement scope (application permissions are
    // not supported:
    // https://learn.microsoft.com/graph/api/approvalstage-update?view=graph-rest-1.0).
    let second_line = t.token_for(REQUESTOR2);
    let queue = format!("{EM_V1}/assignmentRequests/filterByCurrentUser(on='approver')");
    let before = t
        .json_as(Method::GET, &queue, Some(&second_line), None)
        .await;
    assert_eq!(
        before.body["value"],
        json!([]),
        "not an approver before escalation"
    );
    move_clock(&t, r#"{"advance": "P5D"}"#).await;
    let request = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(
        (
            request.body["state"].as_str(),
            request.body["status"].as_str()
        ),
        (Some("pendingApproval"), Some("PendingApprovalEscalated"))
    );
    let after = t
        .json_as(Method::GET, &queue, Some(&second_line), None)
        .await;
    assert_eq!(after.body["value"][0]["id"], id.as_str(), "{}", after.text);
    let sent = outbox(&t).await;
    let escalated = sent
        .iter()
        .find(|n| n["kind"] == "approvalEscalated")
        .expect("an escalation notice");
    assert_eq!(escalated["recipients"], json!([escalation_approver]));
    // The escalation approver decides in the stage's place.
    let approval = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackageAssignmentApprovals/{id}"),
            Some(&second_line),
            None,
        )
        .await;
    assert_eq!(
        approval.body["stages"][0]["assignedToMe"], true,
        "{}",
        approval.text
    );
    let stage = approval.body["stages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let decided = t
        .json_as(
            Method::PATCH,
            &format!("{EM_V1}/accessPackageAssignmentApprovals/{id}/stages/{stage}"),
            Some(&second_line),
            Some(json!({"reviewResult": "Deny", "justification": "no"})),
        )
        .await;
    assert_eq!(decided.status, StatusCode::NO_CONTENT, "{}", decided.text);
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentRequests/{id}"))
            .await
            .body["state"],
        "denied"
    );
}

#[tokio::test]
async fn the_control_api_decides_as_a_named_approver() {
    let t = TestTenant::start().await;
    approval_policy(&t).await;
    let me = end_user(&t, REQUESTOR1);
    let ask = || async {
        t.json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me), Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}})))
            .await
            .body["id"].as_str().unwrap().to_string()
    };
    let id = ask().await;
    t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    let decide = |id: String, body: &'static str| {
        let t = &t;
        async move {
            t.send(
                Method::POST,
                &format!("/_emulator/approvals/{id}"),
                None,
                &[],
                Some(body.as_bytes().to_vec()),
            )
            .await
        }
    };
    // Not an approver of this request: the same refusal Graph gives.
    let outsider = decide(
        id.clone(),
        r#"{"approver": "requestor2@contoso.onmicrosoft.com", "reviewResult": "Approve"}"#,
    )
    .await;
    assert_eq!(outsider.status, StatusCode::FORBIDDEN, "{}", outsider.text);
    let unknown = decide(
        id.clone(),
        r#"{"approver": "nobody@contoso.onmicrosoft.com", "reviewResult": "Approve"}"#,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let approved = decide(id.clone(), r#"{"approver": "lead@contoso.onmicrosoft.com", "reviewResult": "Approve", "justification": "fine"}"#).await;
    assert_eq!(approved.status, StatusCode::NO_CONTENT, "{}", approved.text);
    let delivered = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(delivered.body["state"], "delivered");
    let again = decide(
        id,
        r#"{"approver": "lead@contoso.onmicrosoft.com", "reviewResult": "Deny"}"#,
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "nothing left to decide");
    // A request that does not exist is not found, not a conflict.
    let missing = decide(
        "00000000-0000-4000-8000-00000000dead".into(),
        r#"{"approver": "lead@contoso.onmicrosoft.com", "reviewResult": "Approve"}"#,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
}

#[tokio::test]
async fn approvers_can_remove_the_access_they_approve() {
    let t = TestTenant::start().await;
    approval_policy(&t).await;
    // The administrator skips approval; the assignment is under the manager-approved policy.
    let added = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE, "targetId": REQUESTOR1_ID}}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let assignment = t
        .get(&format!(
            "{EM_V1}/assignmentRequests/{}",
            added.body["id"].as_str().unwrap()
        ))
        .await
        .body["assignment"]["id"]
        .clone();
    let assignment = match assignment.as_str() {
        Some(id) => id.to_string(),
        None => t
            .get(&format!(
                "{EM_V1}/assignments?$filter=accessPackage/id eq '{ANALYTICS_PACKAGE}'"
            ))
            .await
            .body["value"][0]["id"]
            .as_str()
            .unwrap()
            .to_string(),
    };
    let remove = json!({"requestType": "approverRemove", "assignment": {"id": assignment}});
    let before = t.state().await;
    let outsider = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/assignmentRequests"),
            Some(&end_user(&t, REQUESTOR2)),
            Some(remove.clone()),
        )
        .await;
    assert_eq!(outsider.status, StatusCode::FORBIDDEN, "{}", outsider.text);
    assert_eq!(t.state().await, before);
    let removed = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/assignmentRequests"),
            Some(&end_user(&t, LEAD)),
            Some(remove),
        )
        .await;
    assert_eq!(removed.status, StatusCode::CREATED, "{}", removed.text);
    assert_eq!(removed.body["requestType"], "approverRemove");
    let done = t
        .get(&format!(
            "{EM_V1}/assignmentRequests/{}",
            removed.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(done.body["state"], "delivered", "{}", done.text);
    assert_eq!(
        t.get(&format!("{EM_V1}/assignments/{assignment}"))
            .await
            .body["state"],
        "expired"
    );
}

#[tokio::test]
async fn the_second_stage_approver_decides_after_the_first() {
    const ADMIN_ID: &str = "20000000-0000-4000-8000-000000000001";
    let t = TestTenant::start().await;
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "two stages", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "expiration": {"type": "afterDuration", "duration": "P30D"},
            "requestorSettings": {"enableTargetsToSelfAddAccess": true},
            "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
                {"durationBeforeAutomaticDenial": "P7D",
                 "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}]},
                {"durationBeforeAutomaticDenial": "P7D",
                 "primaryApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": ADMIN_ID}]}]}}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let me = end_user(&t, REQUESTOR1);
    let id = t
        .json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me),
            Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let approval_path = format!("{EM_V1}/accessPackageAssignmentApprovals/{id}");
    let lead = t.token_for(LEAD);
    let admin = t.token_for("admin@contoso.onmicrosoft.com");
    let read = |token: &String| {
        let path = approval_path.clone();
        let token = token.clone();
        let t = &t;
        async move { t.json_as(Method::GET, &path, Some(&token), None).await }
    };
    let first = read(&lead).await;
    let stages: Vec<&str> = first.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(stages, vec!["InProgress", "NotStarted"], "{}", first.text);
    let (one, two) = (
        first.body["stages"][0]["id"].as_str().unwrap().to_string(),
        first.body["stages"][1]["id"].as_str().unwrap().to_string(),
    );
    // The second approver has nothing to decide yet.
    let early = t
        .json_as(
            Method::PATCH,
            &format!("{approval_path}/stages/{two}"),
            Some(&admin),
            Some(json!({"reviewResult": "Approve"})),
        )
        .await;
    assert!(early.status.is_client_error(), "{}", early.text);
    let approved = t
        .json_as(
            Method::PATCH,
            &format!("{approval_path}/stages/{one}"),
            Some(&lead),
            Some(json!({"reviewResult": "Approve", "justification": "fine by me"})),
        )
        .await;
    assert_eq!(approved.status, StatusCode::NO_CONTENT, "{}", approved.text);
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentRequests/{id}"))
            .await
            .body["state"],
        "pendingApproval"
    );
    // Now it waits for the administrator, who finds it in their queue.
    let queue = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackageAssignmentApprovals/filterByCurrentUser(on='approver')"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(queue.body["value"][0]["id"], id.as_str(), "{}", queue.text);
    let second = read(&admin).await;
    assert_eq!(
        (
            second.body["stages"][0]["reviewResult"].as_str(),
            second.body["stages"][1]["status"].as_str(),
            second.body["stages"][1]["assignedToMe"].as_bool()
        ),
        (Some("Approved"), Some("InProgress"), Some(true)),
        "{}",
        second.text
    );
    let lead_again = t
        .json_as(
            Method::PATCH,
            &format!("{approval_path}/stages/{two}"),
            Some(&lead),
            Some(json!({"reviewResult": "Approve"})),
        )
        .await;
    assert_eq!(
        lead_again.status,
        StatusCode::FORBIDDEN,
        "{}",
        lead_again.text
    );
    let done = t
        .json_as(
            Method::PATCH,
            &format!("{approval_path}/stages/{two}"),
            Some(&admin),
            Some(json!({"reviewResult": "Approve"})),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text);
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentRequests/{id}"))
            .await
            .body["state"],
        "delivered"
    );
}
