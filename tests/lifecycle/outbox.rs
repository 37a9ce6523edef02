//! The outbox: notifications, custom-extension callouts, callbacks and scheduled starts.

use super::*;

#[tokio::test]
async fn extensions_removals_and_scheduled_starts() {
    let t = TestTenant::start().await;
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "extendable", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "expiration": {"type": "afterDuration", "duration": "P30D"},
            "requestorSettings": {"enableTargetsToSelfAddAccess": true, "enableTargetsToSelfUpdateAccess": true,
                                  "enableTargetsToSelfRemoveAccess": false, "allowCustomAssignmentSchedule": true},
            "requestApprovalSettings": {"isApprovalRequiredForAdd": false, "isApprovalRequiredForUpdate": false, "stages": []}}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let me = end_user(&t, REQUESTOR1);
    let ask = |body: Value| {
        let (t, me) = (&t, me.clone());
        async move {
            t.json_as(
                Method::POST,
                &format!("{EM_V1}/assignmentRequests"),
                Some(&me),
                Some(body),
            )
            .await
        }
    };
    let added = ask(
        json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}}),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let mine = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/assignments/filterByCurrentUser(on='target')"),
            Some(&me),
            None,
        )
        .await;
    let assignment = mine.body["value"][0]["id"].as_str().unwrap().to_string();
    // Twenty days in, the user extends by the policy's 30 days from now; the original end passes harmlessly.
    move_clock(&t, r#"{"advance": "P20D"}"#).await;
    let extended = ask(
        json!({"requestType": "UserExtend", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}}),
    )
    .await;
    assert_eq!(
        (extended.status, extended.body["requestType"].as_str()),
        (StatusCode::CREATED, Some("UserExtend")),
        "{}",
        extended.text
    );
    let after = t.get(&format!("{EM_V1}/assignments/{assignment}")).await;
    assert_eq!(
        after.body["schedule"]["expiration"]["type"],
        "afterDateTime"
    );
    assert!(
        after.body["schedule"]["expiration"]["endDateTime"]
            .as_str()
            .unwrap()
            .starts_with("2026-04-20"),
        "{}",
        after.text
    );
    let beta = t
        .get(&format!("{EM_BETA}/accessPackageAssignments/{assignment}"))
        .await;
    assert_eq!(beta.body["isExtended"], true, "{}", beta.text);
    move_clock(&t, r#"{"advance": "P25D"}"#).await;
    assert_eq!(
        t.get(&format!("{EM_V1}/assignments/{assignment}"))
            .await
            .body["state"],
        "delivered"
    );
    // The policy does not let targets remove their own access; the administrator can.
    let self_remove =
        ask(json!({"requestType": "userRemove", "assignment": {"id": assignment}})).await;
    assert_eq!(self_remove.code(), "PolicyRequirementsNotMet");
    let removed = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminRemove", "assignment": {"id": assignment}}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::CREATED);
    let gone = t.get(&format!("{EM_V1}/assignments/{assignment}")).await;
    assert_eq!(gone.body["state"], "expired");
    // A future start waits as `scheduled`, cancellable, and delivers when the clock reaches it.
    let now = t
        .send(Method::GET, "/_emulator/clock", None, &[], None)
        .await
        .body["now"]
        .as_str()
        .unwrap()
        .to_string();
    let start = now.replacen("2026-04-15", "2026-04-20", 1);
    assert_ne!(start, now, "the clock is where the test thinks: {now}");
    let later = ask(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE},
        "schedule": {"startDateTime": start, "expiration": {"type": "afterDuration", "duration": "P7D"}}})).await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.text);
    let id = later.body["id"].as_str().unwrap().to_string();
    let waiting = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(
        (
            waiting.body["state"].as_str(),
            waiting.body["status"].as_str()
        ),
        (Some("scheduled"), Some("PendingNotBefore"))
    );
    move_clock(&t, r#"{"advance": "P6D"}"#).await;
    let started = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(started.body["state"], "delivered");
    let active = t
        .json_as(
            Method::GET,
            &format!(
                "{EM_V1}/assignments/filterByCurrentUser(on='target')?$filter=state eq 'delivered'"
            ),
            Some(&me),
            None,
        )
        .await;
    assert_eq!(
        active.body["value"].as_array().map(Vec::len),
        Some(1),
        "{}",
        active.text
    );
}

#[tokio::test]
async fn the_outbox_records_what_graph_would_send() {
    let t = TestTenant::start().await;
    let ext = t
        .post(&format!("{EM_V1}/catalogs/{MARKETING}/customWorkflowExtensions"), json!({
            "@odata.type": "#microsoft.graph.accessPackageAssignmentWorkflowExtension", "displayName": "on grant",
            "endpointConfiguration": {"@odata.type": "#microsoft.graph.logicAppTriggerEndpointConfiguration", "subscriptionId": "38ab2ccc-3747-4567-b36b-9478f5602f0d", "resourceGroupName": "test", "logicAppWorkflowName": "grant"},
            "authenticationConfiguration": {"@odata.type": "#microsoft.graph.azureAdPopTokenAuthentication"}}))
        .await;
    assert_eq!(ext.status, StatusCode::CREATED, "{}", ext.text);
    let ext = ext.body["id"].as_str().unwrap().to_string();
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "approved and extendable", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "expiration": {"type": "afterDuration", "duration": "P30D"},
            "requestorSettings": {"enableTargetsToSelfAddAccess": true, "enableTargetsToSelfUpdateAccess": true},
            "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
                {"durationBeforeAutomaticDenial": "P7D", "isApproverJustificationRequired": false, "isEscalationEnabled": false,
                 "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}]}]},
            "customExtensionStageSettings": [{"stage": "assignmentRequestGranted", "customExtension": {"id": ext}}]}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let me = end_user(&t, REQUESTOR1);
    let id = t
        .json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me), Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}})))
        .await
        .body["id"].as_str().unwrap().to_string();
    let lead = t.token_for(LEAD);
    let approval = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackageAssignmentApprovals/{id}"),
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
            &format!("{EM_V1}/accessPackageAssignmentApprovals/{id}/stages/{stage}"),
            Some(&lead),
            Some(json!({"reviewResult": "Approve", "justification": "ok"})),
        )
        .await;
    assert_eq!(decided.status, StatusCode::NO_CONTENT, "{}", decided.text);
    t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    let sent = outbox(&t).await;
    assert_eq!(
        kinds(&sent),
        [
            "requestSubmitted",
            "approvalRequired",
            "requestApproved",
            "assignmentDelivered",
            "customExtensionCallout"
        ]
    );
    assert_ne!(
        sent[1]["recipients"],
        json!([REQUESTOR1_ID]),
        "the approval notice goes to the manager"
    );
    assert_eq!(sent[3]["recipients"], json!([REQUESTOR1_ID]));
    assert_eq!(
        (
            sent[4]["customExtensionId"].as_str(),
            sent[4]["payload"]["Stage"].as_str()
        ),
        (Some(ext.as_str()), Some("assignmentRequestGranted"))
    );
    // Near-expiry notices go out 14 days and 1 day before the end, then the expiry.
    let cleared = t
        .send(Method::DELETE, "/_emulator/outbox", None, &[], None)
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    move_clock(&t, r#"{"advance": "P17D"}"#).await;
    assert_eq!(kinds(&outbox(&t).await), ["assignmentExpiring14Days"]);
    move_clock(&t, r#"{"advance": "P13D"}"#).await;
    assert_eq!(
        kinds(&outbox(&t).await),
        [
            "assignmentExpiring14Days",
            "assignmentExpiring1Day",
            "assignmentExpired"
        ]
    );
}

#[tokio::test]
async fn callouts_with_callbacks_pause_requests_until_resume() {
    let t = TestTenant::start().await;
    let ext = t
        .post(&format!("{EM_V1}/catalogs/{MARKETING}/customWorkflowExtensions"), json!({
            "@odata.type": "#microsoft.graph.accessPackageAssignmentRequestWorkflowExtension", "displayName": "check first",
            "endpointConfiguration": {"@odata.type": "#microsoft.graph.logicAppTriggerEndpointConfiguration", "subscriptionId": "38ab2ccc-3747-4567-b36b-9478f5602f0d", "resourceGroupName": "test", "logicAppWorkflowName": "check"},
            "authenticationConfiguration": {"@odata.type": "#microsoft.graph.azureAdPopTokenAuthentication"},
            "callbackConfiguration": {"@odata.type": "microsoft.graph.customExtensionCallbackConfiguration", "durationBeforeTimeout": "PT1H"}}))
        .await;
    assert_eq!(ext.status, StatusCode::CREATED, "{}", ext.text);
    let ext = ext.body["id"].as_str().unwrap().to_string();
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "checked", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "requestorSettings": {"enableTargetsToSelfAddAccess": true},
            "customExtensionStageSettings": [{"stage": "assignmentRequestCreated", "customExtension": {"id": ext}}]}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let ask = |persona: &'static str| {
        let t = &t;
        async move {
            let me = end_user(t, persona);
            let r = t.json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me), Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}}))).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let id = ask(REQUESTOR1).await;
    let waiting = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(
        (
            waiting.body["state"].as_str(),
            waiting.body["status"].as_str()
        ),
        (Some("submitted"), Some("WaitingForCallback")),
        "{}",
        waiting.text
    );
    let callout = &waiting.body["customExtensionCalloutInstances"][0];
    assert_eq!(
        (
            callout["customExtensionId"].as_str(),
            callout["status"].as_str()
        ),
        (Some(ext.as_str()), Some("waitingForCallback"))
    );
    let instance = callout["id"].as_str().unwrap().to_string();
    let resume = |id: String, data: Value| {
        let t = &t;
        async move {
            t.post(&format!("{EM_V1}/assignmentRequests/{id}/resume"), json!({"source": "Contoso.StorageAccount", "type": "microsoft.graph.accessPackageCustomExtensionStage.assignmentRequestCreated", "data": data})).await
        }
    };
    let wrong = resume(id.clone(), json!({"@odata.type": "microsoft.graph.accessPackageAssignmentRequestCallbackData", "stage": "assignmentRequestCreated", "customExtensionStageInstanceId": ANALYTICS_PACKAGE})).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let deny = resume(id.clone(), json!({"stage": "assignmentRequestCreated", "customExtensionStageInstanceId": instance, "state": "denied"})).await;
    assert_eq!(
        deny.status,
        StatusCode::BAD_REQUEST,
        "cannot deny at assignmentRequestCreated (Graph API reference: accessPackageAssignmentRequest: resume, v1.0)"
    );
    let ok = resume(id.clone(), json!({"@odata.type": "microsoft.graph.accessPackageAssignmentRequestCallbackData", "stage": "assignmentRequestCreated", "customExtensionStageInstanceId": instance, "customExtensionStageInstanceDetail": "checked"})).await;
    assert_eq!((ok.status, ok.text.as_str()), (StatusCode::NO_CONTENT, ""));
    let done = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(
        (
            done.body["state"].as_str(),
            done.body["customExtensionCalloutInstances"][0]["status"].as_str()
        ),
        (Some("delivered"), Some("callbackReceived"))
    );
    let not_waiting = resume(id, json!({"customExtensionStageInstanceId": instance})).await;
    assert_eq!(not_waiting.code(), "RequestNotWaitingForCallback");
    // Without a callback within durationBeforeTimeout, the request moves on.
    let second = ask(REQUESTOR2).await;
    move_clock(&t, r#"{"advance": "PT2H"}"#).await;
    let timed_out = t.get(&format!("{EM_V1}/assignmentRequests/{second}")).await;
    assert_eq!(
        (
            timed_out.body["state"].as_str(),
            timed_out.body["customExtensionCalloutInstances"][0]["status"].as_str()
        ),
        (Some("delivered"), Some("callbackTimedOut")),
        "{}",
        timed_out.text
    );
}

#[tokio::test]
async fn loopback_extensions_are_really_called() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&hook)
        .await;
    let ext = t_ext(&hook.uri()).await;
    let t = ext.0;
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "hooked", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "requestorSettings": {"enableTargetsToSelfAddAccess": true},
            "customExtensionStageSettings": [{"stage": "assignmentRequestGranted", "customExtension": {"id": ext.1}}]}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let me = end_user(&t, REQUESTOR1);
    let asked = t.json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me), Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}}))).await;
    let id = asked.body["id"].as_str().unwrap().to_string();
    // Delivery happens on this read; the callout is posted right after it, off the request path.
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentRequests/{id}"))
            .await
            .body["state"],
        "delivered"
    );
    let mut received = Vec::new();
    for _ in 0..250 {
        received = hook.received_requests().await.unwrap_or_default();
        if !received.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(received.len(), 1, "one callout reached the test's server");
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        (
            body["Stage"].as_str(),
            body["AccessPackageAssignmentRequestId"].as_str()
        ),
        (Some("assignmentRequestGranted"), Some(id.as_str()))
    );
}
