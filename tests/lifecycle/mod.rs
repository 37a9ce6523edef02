//! The governance lifecycle: requests, approvals, assignments, the directory, the clock — one
//! file per concern, with the helpers they share here.

use entitlement_emulator::auth::token::TokenRequest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::snap;

mod approvals;
mod delivery;
mod outbox;
mod requests;
mod seeded;

pub(super) const MARKETING_GROUP: &str = "30000000-0000-4000-8000-000000000001";

pub(super) const REQUESTOR1_ID: &str = "20000000-0000-4000-8000-000000000005";

pub(super) const LEAD: &str = "lead@contoso.onmicrosoft.com";

pub(super) fn end_user(t: &TestTenant, persona: &str) -> String {
    t.token_with(TokenRequest {
        persona: persona.into(),
        scopes: Some(vec!["EntitlementMgmt-SubjectAccess.ReadWrite".into()]),
        ..Default::default()
    })
}

pub(super) async fn members(t: &TestTenant) -> Vec<String> {
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

pub(super) async fn approval_policy(t: &TestTenant) -> String {
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

/// The default tenant plus `assignments.json`, in a scratch directory removed on drop.
pub(super) struct SeededTenantDir(std::path::PathBuf);

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

pub(super) async fn move_clock(t: &TestTenant, body: &str) {
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

pub(super) async fn outbox(t: &TestTenant) -> Vec<Value> {
    let resp = t
        .send(Method::GET, "/_emulator/outbox", None, &[], None)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    resp.body["value"].as_array().unwrap().clone()
}

pub(super) fn kinds(notices: &[Value]) -> Vec<&str> {
    notices.iter().filter_map(|n| n["kind"].as_str()).collect()
}

/// A tenant with an `httpRequestEndpoint` extension pointing at `base`/hook, in Marketing.
pub(super) async fn t_ext(base: &str) -> (TestTenant, String) {
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

pub(super) async fn set_settings(t: &TestTenant, body: &str) -> Value {
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

pub(super) async fn owners(t: &TestTenant) -> Vec<String> {
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

/// The default policies plus one for Analytics that needs the requestor's manager's approval.
pub(super) const POLICIES_WITH_APPROVAL: &str = r##"[
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
