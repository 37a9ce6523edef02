//! The governance lifecycle: requests, approvals, assignments, the directory, the clock.

use entitlement_emulator::auth::token::TokenRequest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::snap;

const MARKETING_GROUP: &str = "30000000-0000-4000-8000-000000000001";
const REQUESTOR1_ID: &str = "20000000-0000-4000-8000-000000000005";
const LEAD: &str = "lead@contoso.onmicrosoft.com";

fn end_user(t: &TestTenant, persona: &str) -> String {
    t.token_with(TokenRequest {
        persona: persona.into(),
        scopes: Some(vec!["EntitlementMgmt-SubjectAccess.ReadWrite".into()]),
        ..Default::default()
    })
}

async fn members(t: &TestTenant) -> Vec<String> {
    let resp = t
        .get(&format!("/v1.0/groups/{MARKETING_GROUP}/members"))
        .await;
    resp.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

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

async fn approval_policy(t: &TestTenant) -> String {
    let resp = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "with approval", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "expiration": {"type": "afterDuration", "duration": "P30D"},
            "requestorSettings": {"enableTargetsToSelfAddAccess": true, "enableTargetsToSelfRemoveAccess": true},
            "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
                {"durationBeforeAutomaticDenial": "P7D", "isApproverJustificationRequired": false, "isEscalationEnabled": false,
                 "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}]}]}}))
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    resp.body["id"].as_str().unwrap().to_string()
}

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
async fn assignments_expire_with_the_policy() {
    let t = TestTenant::start().await;
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
    let list = t
        .get(&format!("{EM_V1}/assignments?$filter=state eq 'Delivered'"))
        .await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);
    assert!(members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    // The fixture policy expires assignments after 30 days.
    t.send(
        Method::POST,
        "/_emulator/clock",
        None,
        &[],
        Some(br#"{"advance": "P31D"}"#.to_vec()),
    )
    .await;
    let expired = t.get(&format!("{EM_BETA}/accessPackageAssignments")).await;
    assert_eq!(expired.body["value"][0]["assignmentState"], "Expired");
    assert!(!members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    let system = t
        .get(&format!(
            "{EM_V1}/assignmentRequests?$filter=requestType eq 'systemRemove'"
        ))
        .await;
    assert_eq!(
        system.body["value"].as_array().unwrap().len(),
        1,
        "{}",
        system.text
    );
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

/// The default tenant plus `assignments.json`, in a scratch directory removed on drop.
struct SeededTenantDir(std::path::PathBuf);

impl SeededTenantDir {
    fn new(name: &str, assignments: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ee-seeded-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/default");
        for entry in std::fs::read_dir(source).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
        std::fs::write(dir.join("assignments.json"), assignments).unwrap();
        SeededTenantDir(dir)
    }

    fn with(self, file: &str, content: &str) -> Self {
        std::fs::write(self.0.join(file), content).unwrap();
        self
    }
}

impl Drop for SeededTenantDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

async fn move_clock(t: &TestTenant, body: &str) {
    let moved = t
        .send(
            Method::POST,
            "/_emulator/clock",
            None,
            &[],
            Some(body.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
}

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
async fn failed_and_stuck_deliveries_and_reprocess() {
    let t = TestTenant::start().await;
    let settings = |body: &'static str| {
        let t = &t;
        async move {
            let r = t
                .send(
                    Method::POST,
                    "/_emulator/settings",
                    None,
                    &[],
                    Some(body.as_bytes().to_vec()),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
    };
    let add = json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}});
    settings(r#"{"delivery": "deliveryFailed"}"#).await;
    let id = t
        .post(&format!("{EM_V1}/assignmentRequests"), add.clone())
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(
        (
            failed.body["state"].as_str(),
            failed.body["status"].as_str()
        ),
        (Some("deliveryFailed"), Some("DeliveryFailed"))
    );
    assert!(!members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    // Reprocess retries under the current outcome: held in delivering, then delivered.
    settings(r#"{"delivery": "delivering"}"#).await;
    let again = t
        .post(
            &format!("{EM_V1}/assignmentRequests/{id}/reprocess"),
            json!({}),
        )
        .await;
    assert_eq!(
        (again.status, again.text.as_str()),
        (StatusCode::ACCEPTED, "")
    );
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentRequests/{id}"))
            .await
            .body["state"],
        "delivering"
    );
    settings(r#"{"delivery": "delivered"}"#).await;
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentRequests/{id}"))
            .await
            .body["state"],
        "delivered"
    );
    assert!(members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    // Delivered requests are not reprocessed; delivered assignments are.
    let refused = t
        .post(
            &format!("{EM_V1}/assignmentRequests/{id}/reprocess"),
            json!({}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::BAD_REQUEST, "RequestNotReprocessable")
    );
    let a = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await
        .body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reprocessed = t
        .post(&format!("{EM_V1}/assignments/{a}/reprocess"), json!({}))
        .await;
    assert_eq!(
        reprocessed.status,
        StatusCode::ACCEPTED,
        "{}",
        reprocessed.text
    );
    // additionalAccess: holders of Campaign who also hold Analytics (none yet, then one).
    let overlap = format!(
        "{EM_V1}/assignments/additionalAccess(accessPackageId='{CAMPAIGN_PACKAGE}',incompatibleAccessPackageId='{ANALYTICS_PACKAGE}')"
    );
    assert_eq!(t.get(&overlap).await.body["value"], json!([]));
    approval_policy(&t).await;
    let both = t.post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE, "targetId": REQUESTOR1_ID}})).await;
    assert_eq!(both.status, StatusCode::CREATED, "{}", both.text);
    let found = t.get(&overlap).await;
    assert_eq!(found.body["value"][0]["id"], a.as_str(), "{}", found.text);
    let same = t.get(&format!("{EM_V1}/assignments/additionalAccess(accessPackageId='{CAMPAIGN_PACKAGE}',incompatibleAccessPackageId='{CAMPAIGN_PACKAGE}')")).await;
    assert_eq!(same.status, StatusCode::BAD_REQUEST);
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

async fn outbox(t: &TestTenant) -> Vec<Value> {
    let resp = t
        .send(Method::GET, "/_emulator/outbox", None, &[], None)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    resp.body["value"].as_array().unwrap().clone()
}

fn kinds(notices: &[Value]) -> Vec<&str> {
    notices.iter().filter_map(|n| n["kind"].as_str()).collect()
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
async fn governed_guests_are_blocked_then_deleted_when_their_access_ends() {
    let t = TestTenant::start().await;
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "partners", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allExternalUsers",
            "requestorSettings": {"enableTargetsToSelfAddAccess": true}}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let pid = policy.body["id"].as_str().unwrap().to_string();
    let added = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {
            "accessPackageId": ANALYTICS_PACKAGE, "assignmentPolicyId": pid, "target": {"email": "pat@fabrikam.example"}}}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let listed = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{ANALYTICS_PACKAGE}'&$expand=target"
        ))
        .await;
    let assignment = listed.body["value"][0]["id"].as_str().unwrap().to_string();
    let guest = listed.body["value"][0]["target"]["objectId"]
        .as_str()
        .unwrap()
        .to_string();
    let user = t.get(&format!("/v1.0/users/{guest}")).await;
    assert_eq!(
        (
            user.body["userType"].as_str(),
            user.body["accountEnabled"].as_bool()
        ),
        (Some("Guest"), Some(true)),
        "{}",
        user.text
    );
    // Settings: block sign-in and delete after 4 days.
    let settings = t.patch(&format!("{EM_V1}/settings"), json!({"externalUserLifecycleAction": "blockSignInAndDelete", "durationUntilExternalUserDeletedAfterBlocked": "P4D"})).await;
    assert!(settings.status.is_success(), "{}", settings.text);
    let removed = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminRemove", "assignment": {"id": assignment}}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::CREATED);
    let blocked = t.get(&format!("/v1.0/users/{guest}")).await;
    assert_eq!(blocked.body["accountEnabled"], false, "{}", blocked.text);
    move_clock(&t, r#"{"advance": "P5D"}"#).await;
    assert_eq!(
        t.get(&format!("/v1.0/users/{guest}")).await.status,
        StatusCode::NOT_FOUND
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

/// A tenant with an `httpRequestEndpoint` extension pointing at `base`/hook, in Marketing.
async fn t_ext(base: &str) -> (TestTenant, String) {
    let t = TestTenant::start().await;
    let ext = t
        .post(&format!("{EM_V1}/catalogs/{MARKETING}/customWorkflowExtensions"), json!({
            "@odata.type": "#microsoft.graph.accessPackageAssignmentWorkflowExtension", "displayName": "hook",
            "endpointConfiguration": {"@odata.type": "#microsoft.graph.httpRequestEndpoint", "targetUrl": format!("{base}/hook")},
            "authenticationConfiguration": {"@odata.type": "#microsoft.graph.azureAdPopTokenAuthentication"}}))
        .await;
    assert_eq!(ext.status, StatusCode::CREATED, "{}", ext.text);
    let id = ext.body["id"].as_str().unwrap().to_string();
    (t, id)
}

#[tokio::test]
async fn delivery_outcomes_can_differ_per_package() {
    let t = TestTenant::start().await;
    approval_policy(&t).await;
    let body = format!(r#"{{"deliveryByPackage": {{"{CAMPAIGN_PACKAGE}": "deliveryFailed"}}}}"#);
    let set = t
        .send(
            Method::POST,
            "/_emulator/settings",
            None,
            &[],
            Some(body.into_bytes()),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(
        set.body["deliveryByPackage"][CAMPAIGN_PACKAGE],
        "deliveryFailed"
    );
    let add = |package: &str, policy: Option<&str>| {
        let mut assignment = json!({"accessPackageId": package, "targetId": REQUESTOR1_ID});
        if let Some(p) = policy {
            assignment["assignmentPolicyId"] = json!(p);
        }
        json!({"requestType": "adminAdd", "assignment": assignment})
    };
    let failed = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            add(
                CAMPAIGN_PACKAGE,
                Some("90000000-0000-4000-8000-000000000001"),
            ),
        )
        .await;
    let fine = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            add(ANALYTICS_PACKAGE, None),
        )
        .await;
    assert_eq!(
        (failed.status, fine.status),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{} {}",
        failed.text,
        fine.text
    );
    let state_of = |id: &Value| format!("{EM_V1}/assignmentRequests/{}", id.as_str().unwrap());
    assert_eq!(
        t.get(&state_of(&failed.body["id"])).await.body["state"],
        "deliveryFailed"
    );
    assert_eq!(
        t.get(&state_of(&fine.body["id"])).await.body["state"],
        "delivered"
    );
}

async fn set_settings(t: &TestTenant, body: &str) -> Value {
    let set = t
        .send(
            Method::POST,
            "/_emulator/settings",
            None,
            &[],
            Some(body.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    set.body
}

async fn owners(t: &TestTenant) -> Vec<String> {
    let resp = t
        .get(&format!("/v1.0/groups/{MARKETING_GROUP}/owners"))
        .await;
    resp.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn partial_deliveries_complete_on_reprocess() {
    let t = TestTenant::start().await;
    // The Campaign package grants membership; give it ownership too, so a partial delivery
    // (the first role only) is visible.
    let owner = t
        .post(
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/resourceRoleScopes"),
            json!({"role": {"originId": format!("Owner_{MARKETING_GROUP}"), "originSystem": "AadGroup"},
                   "scope": {"originId": MARKETING_GROUP, "originSystem": "AadGroup"}}),
        )
        .await;
    assert_eq!(owner.status, StatusCode::CREATED, "{}", owner.text);
    set_settings(&t, r#"{"delivery": "partiallyDelivered"}"#).await;
    let id = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let partial = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(
        (
            partial.body["state"].as_str(),
            partial.body["status"].as_str(),
            partial.body["completedDateTime"].is_string()
        ),
        (Some("partiallyDelivered"), Some("PartiallyDelivered"), true),
        "{}",
        partial.text
    );
    let listed = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await;
    let assignment = listed.body["value"][0].clone();
    assert_eq!(assignment["state"], "partiallyDelivered", "{}", listed.text);
    let me = REQUESTOR1_ID.to_string();
    assert!(members(&t).await.contains(&me));
    assert!(!owners(&t).await.contains(&me));
    // beta names the assignment's state in PascalCase.
    let beta = t
        .get(&format!(
            "{EM_BETA}/accessPackageAssignments/{}",
            assignment["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(beta.body["assignmentState"], "PartiallyDelivered");

    set_settings(&t, r#"{"delivery": "delivered"}"#).await;
    let again = t
        .post(
            &format!("{EM_V1}/assignmentRequests/{id}/reprocess"),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text);
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentRequests/{id}"))
            .await
            .body["state"],
        "delivered"
    );
    // The same assignment is completed, not a second one made.
    let after = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await;
    assert_eq!(
        (
            after.body["value"].as_array().map(Vec::len),
            &after.body["value"][0]["id"],
            after.body["value"][0]["state"].as_str()
        ),
        (Some(1), &assignment["id"], Some("delivered"))
    );
    assert!(owners(&t).await.contains(&me));
}

#[tokio::test]
async fn deliveries_can_wait_for_reads_or_virtual_time() {
    let t = TestTenant::start().await;
    let shown = set_settings(&t, r#"{"delivery": {"afterReads": 2}}"#).await;
    assert_eq!(shown["delivery"], json!({"afterReads": 2}));
    let id = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("{EM_V1}/assignmentRequests/{id}");
    // Listing does not count; two reads by id see it delivering, the third finds it delivered.
    let _ = t.get(&format!("{EM_V1}/assignmentRequests")).await;
    assert_eq!(t.get(&path).await.body["state"], "delivering");
    assert_eq!(t.get(&path).await.body["state"], "delivering");
    assert!(!members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    assert_eq!(t.get(&path).await.body["state"], "delivered");
    assert!(members(&t).await.contains(&REQUESTOR1_ID.to_string()));

    // Virtual time: held until ten minutes have passed on the clock.
    let shown = set_settings(&t, r#"{"delivery": {"afterDuration": "PT10M"}}"#).await;
    assert_eq!(shown["delivery"], json!({"afterDuration": "PT10M"}));
    approval_policy(&t).await;
    let later = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE, "targetId": REQUESTOR1_ID}}))
        .await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.text);
    let later = later.body["id"].as_str().unwrap().to_string();
    let path = format!("{EM_V1}/assignmentRequests/{later}");
    assert_eq!(t.get(&path).await.body["state"], "delivering");
    move_clock(&t, r#"{"advance": "PT9M"}"#).await;
    assert_eq!(t.get(&path).await.body["state"], "delivering");
    move_clock(&t, r#"{"advance": "PT1M"}"#).await;
    assert_eq!(t.get(&path).await.body["state"], "delivered");

    let bad = t
        .send(
            Method::POST,
            "/_emulator/settings",
            None,
            &[],
            Some(br#"{"delivery": {"afterDuration": "soon"}}"#.to_vec()),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
}

/// The default policies plus one for Analytics that needs the requestor's manager's approval.
const POLICIES_WITH_APPROVAL: &str = r##"[
  {"id": "90000000-0000-4000-8000-000000000001", "displayName": "Specific users", "accessPackage": {"id": "60000000-0000-4000-8000-000000000001"},
   "allowedTargetScope": "specificDirectoryUsers",
   "specificAllowedTargets": [{"@odata.type": "#microsoft.graph.singleUser", "userId": "20000000-0000-4000-8000-000000000005"}],
   "expiration": {"type": "afterDuration", "duration": "P30D"},
   "requestorSettings": {"enableTargetsToSelfAddAccess": true, "enableTargetsToSelfRemoveAccess": true}},
  {"id": "90000000-0000-4000-8000-000000000002", "displayName": "Manager approves", "accessPackage": {"id": "60000000-0000-4000-8000-000000000002"},
   "allowedTargetScope": "allMemberUsers", "expiration": {"type": "afterDuration", "duration": "P30D"},
   "requestorSettings": {"enableTargetsToSelfAddAccess": true},
   "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
     {"durationBeforeAutomaticDenial": "P7D", "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}]}]}}
]"##;

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
async fn additional_access_in_all_three_overloads() {
    let t = TestTenant::start().await;
    approval_policy(&t).await;
    for package in [CAMPAIGN_PACKAGE, ANALYTICS_PACKAGE] {
        let mut assignment = json!({"accessPackageId": package, "targetId": REQUESTOR1_ID});
        if package == CAMPAIGN_PACKAGE {
            assignment["assignmentPolicyId"] = json!("90000000-0000-4000-8000-000000000001");
        }
        let added = t
            .post(
                &format!("{EM_V1}/assignmentRequests"),
                json!({"requestType": "adminAdd", "assignment": assignment}),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    }
    let all = format!("{EM_V1}/assignments/additionalAccess()");
    assert_eq!(t.get(&all).await.body["value"], json!([]));
    // Declared incompatible after Requestor One came to hold both.
    let declared = t
        .post(
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/incompatibleAccessPackages/$ref"),
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/identityGovernance/entitlementManagement/accessPackages('{ANALYTICS_PACKAGE}')")}),
        )
        .await;
    assert_eq!(declared.status, StatusCode::NO_CONTENT, "{}", declared.text);
    let every = t
        .get(&format!("{all}?$expand=accessPackage&$select=id"))
        .await;
    assert_eq!(every.status, StatusCode::OK, "{}", every.text);
    let ids: Vec<&str> = every.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["accessPackage"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![CAMPAIGN_PACKAGE, ANALYTICS_PACKAGE],
        "{}",
        every.text
    );
    // One argument: that package's holders; the incompatibility counts in both directions.
    for package in [CAMPAIGN_PACKAGE, ANALYTICS_PACKAGE] {
        let one = t
            .get(&format!(
                "{EM_V1}/assignments/additionalAccess(accessPackageId='{package}')?$expand=accessPackage"
            ))
            .await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.text);
        assert_eq!(
            one.body["value"].as_array().map(Vec::len),
            Some(1),
            "{}",
            one.text
        );
        assert_eq!(one.body["value"][0]["accessPackage"]["id"], package);
    }
    let half = t
        .get(&format!(
            "{EM_V1}/assignments/additionalAccess(incompatibleAccessPackageId='{ANALYTICS_PACKAGE}')"
        ))
        .await;
    assert_eq!(half.status, StatusCode::BAD_REQUEST, "{}", half.text);
}

#[tokio::test]
async fn beta_assignment_resource_roles_follow_delivered_access() {
    let t = TestTenant::start().await;
    let list = format!("{EM_BETA}/accessPackageAssignmentResourceRoles");
    assert_eq!(t.get(&list).await.body["value"], json!([]));
    let added = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let mine = t
        .get(&format!(
            "{list}?$expand=accessPackageSubject&$filter=accessPackageSubject/objectId eq '{REQUESTOR1_ID}'"
        ))
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    snap!("lifecycle_beta_assignment_resource_roles", mine);
    let id = mine.body["value"][0]["id"].as_str().unwrap().to_string();
    let one = t
        .get(&format!("{list}/{id}?$expand=accessPackageAssignments"))
        .await;
    assert_eq!(
        one.body["accessPackageAssignments"][0]["accessPackageId"], CAMPAIGN_PACKAGE,
        "{}",
        one.text
    );
    let nobody = t
        .get(&format!(
            "{list}?$filter=accessPackageSubject/objectId eq '20000000-0000-4000-8000-000000000006'"
        ))
        .await;
    assert_eq!(nobody.body["value"], json!([]));
    // v1.0 does not expose them (beta only:
    // https://learn.microsoft.com/graph/api/entitlementmanagement-list-accesspackageassignmentresourceroles?view=graph-rest-beta).
    let v1 = t
        .get(&format!("{EM_V1}/accessPackageAssignmentResourceRoles"))
        .await;
    assert!(v1.status.is_client_error(), "{}", v1.text);
    // Removal takes the role away.
    let assignment = one.body["accessPackageAssignments"][0]["id"].clone();
    let removed = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminRemove", "assignment": {"id": assignment}}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::CREATED, "{}", removed.text);
    assert_eq!(t.get(&list).await.body["value"], json!([]));
    assert_eq!(
        t.get(&format!("{list}/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn delivered_app_and_site_roles_are_observable() {
    const EXPENSE_PORTAL: &str = "40000000-0000-4000-8000-000000000004";
    const APPROVER_ROLE: &str = "42000000-0000-4000-8000-000000000002";
    const SITE: &str = "https://contoso.sharepoint.com/sites/Marketing";
    let t = TestTenant::start().await;
    // Onboard the app and the site into General, then give Campaign an app role and a site role.
    for (system, origin) in [
        ("AadApplication", EXPENSE_PORTAL),
        ("SharePointOnline", SITE),
    ] {
        let onboarded = t
            .post(
                &format!("{EM_V1}/resourceRequests"),
                json!({"requestType": "adminAdd", "resource": {"originId": origin, "originSystem": system}, "catalog": {"id": GENERAL}}),
            )
            .await;
        assert_eq!(onboarded.status, StatusCode::CREATED, "{}", onboarded.text);
    }
    for (system, role, scope) in [
        ("AadApplication", APPROVER_ROLE, EXPENSE_PORTAL),
        ("SharePointOnline", "5", SITE),
    ] {
        let added = t
            .post(
                &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/resourceRoleScopes"),
                json!({"role": {"originId": role, "originSystem": system},
                       "scope": {"originId": scope, "originSystem": system}}),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    }
    let user_roles = format!("/v1.0/users/{REQUESTOR1_ID}/appRoleAssignments");
    assert_eq!(t.get(&user_roles).await.body["value"], json!([]));
    let added = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let held = t.get(&user_roles).await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.text);
    snap!("lifecycle_user_app_role_assignments", held);
    let assigned_to = t
        .get(&format!(
            "/v1.0/servicePrincipals/{EXPENSE_PORTAL}/appRoleAssignedTo"
        ))
        .await;
    assert_eq!(
        (
            assigned_to.body["value"][0]["principalId"].as_str(),
            assigned_to.body["value"][0]["appRoleId"].as_str()
        ),
        (Some(REQUESTOR1_ID), Some(APPROVER_ROLE)),
        "{}",
        assigned_to.text
    );
    // The control API shows everything the user holds, sites included.
    let access_path = format!("/_emulator/access?user={REQUESTOR1_ID}");
    let access = t.send(Method::GET, &access_path, None, &[], None).await;
    let roles: Vec<(String, String)> = access.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["originSystem"].as_str().unwrap().to_string(),
                r["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            ("AadGroup".to_string(), "Member".to_string()),
            ("AadApplication".to_string(), "Expense Approver".to_string()),
            ("SharePointOnline".to_string(), "Viewers".to_string()),
        ],
        "{}",
        access.text
    );
    let unknown = t
        .get("/v1.0/users/20000000-0000-4000-8000-0000000000ff/appRoleAssignments")
        .await;
    assert_eq!(unknown.code(), "Request_ResourceNotFound");
    // Removal takes them all away.
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
    assert_eq!(t.get(&user_roles).await.body["value"], json!([]));
    let after = t.send(Method::GET, &access_path, None, &[], None).await;
    assert_eq!(after.body["value"], json!([]));
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
