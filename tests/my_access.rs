//! End-user discovery: suggestions and available packages
//! (https://learn.microsoft.com/graph/api/accesspackagesuggestions-filterbycurrentuser?view=graph-rest-1.0,
//! https://learn.microsoft.com/graph/api/availableaccesspackage-list-resourcerolescopes?view=graph-rest-1.0).

use entitlement_emulator::auth::token::TokenRequest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::snap;

const REQUESTOR1_ID: &str = "20000000-0000-4000-8000-000000000005";
const REQUESTOR2_ID: &str = "20000000-0000-4000-8000-000000000006";

fn end_user(t: &TestTenant, persona: &str) -> String {
    t.token_with(TokenRequest {
        persona: persona.into(),
        scopes: Some(vec!["EntitlementMgmt-SubjectAccess.ReadWrite".into()]),
        ..Default::default()
    })
}

/// A policy on Analytics any member may request (with their manager's approval).
async fn open_analytics(t: &TestTenant) {
    let resp = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "members", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "expiration": {"type": "afterDuration", "duration": "P30D"},
            "requestorSettings": {"enableTargetsToSelfAddAccess": true},
            "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
                {"durationBeforeAutomaticDenial": "P7D",
                 "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}]}]}}))
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
}

async fn admin_add(t: &TestTenant, package: &str, target: &str) -> Value {
    let resp = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminAdd", "assignment": {"accessPackageId": package, "targetId": target}}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    resp.body
}

#[tokio::test]
async fn suggestions_come_from_peers_and_history() {
    let t = TestTenant::start().await;
    open_analytics(&t).await;
    let me = end_user(&t, REQUESTOR1);
    let suggest = |on: &str, extra: &str| {
        format!("{EM_V1}/accessPackageSuggestions/filterByCurrentUser(on='{on}'){extra}")
    };
    let both = suggest(
        "relatedPeopleAssignments,assignmentHistory",
        "?$expand=accessPackage",
    );
    let none = t.json_as(Method::GET, &both, Some(&me), None).await;
    assert_eq!(none.body["value"], json!([]), "{}", none.text);
    // A peer (same manager) holds Analytics; Requestor One once held Campaign.
    admin_add(&t, ANALYTICS_PACKAGE, REQUESTOR2_ID).await;
    admin_add(&t, CAMPAIGN_PACKAGE, REQUESTOR1_ID).await;
    let assignment = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await
        .body["value"][0]["id"]
        .clone();
    // While held, Campaign is not suggested.
    let held = t.json_as(Method::GET, &both, Some(&me), None).await;
    assert_eq!(held.body["value"].as_array().map(Vec::len), Some(1));
    let removed = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminRemove", "assignment": {"id": assignment}}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::CREATED, "{}", removed.text);
    let found = t.json_as(Method::GET, &both, Some(&me), None).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    snap!("my_access_suggestions", found);
    let history_only = t
        .json_as(
            Method::GET,
            &suggest("assignmentHistory", ""),
            Some(&me),
            None,
        )
        .await;
    assert_eq!(
        (
            history_only.body["value"].as_array().map(Vec::len),
            &history_only.body["value"][0]["id"],
            history_only.body["value"][0]["reasons"][0]["pastAssignmentCount"].as_i64(),
            history_only.body["value"][0].get("accessPackage")
        ),
        (Some(1), &json!(CAMPAIGN_PACKAGE), Some(1), None),
        "{}",
        history_only.text
    );

    let bad_flag = t
        .json_as(Method::GET, &suggest("friends", ""), Some(&me), None)
        .await;
    assert_eq!(
        bad_flag.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_flag.text
    );
    let bad_query = t
        .json_as(
            Method::GET,
            &suggest("assignmentHistory", "?$filter=id eq 'x'"),
            Some(&me),
            None,
        )
        .await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    // No signed-in user: application tokens are refused.
    let app = t
        .json_as(
            Method::GET,
            &suggest("assignmentHistory", ""),
            Some(&t.token_for(AUTOMATION_APP)),
            None,
        )
        .await;
    assert_eq!(app.status, StatusCode::FORBIDDEN, "{}", app.text);
}

#[tokio::test]
async fn available_packages_show_role_scopes_only_when_visible() {
    let t = TestTenant::start().await;
    open_analytics(&t).await;
    let ids = |v: &Value| -> Vec<String> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };
    let list = format!("{EM_V1}/availableAccessPackages");
    let one = t
        .json_as(Method::GET, &list, Some(&end_user(&t, REQUESTOR1)), None)
        .await;
    assert_eq!(ids(&one.body), vec![CAMPAIGN_PACKAGE, ANALYTICS_PACKAGE]);
    assert_eq!(
        one.body["value"][0],
        json!({"id": CAMPAIGN_PACKAGE, "displayName": "Marketing Campaign", "description": "Access to resources for the campaign"})
    );
    // Campaign's only policy admits Requestor One alone: not available to Requestor Two, even
    // by id.
    let two = end_user(&t, REQUESTOR2);
    let theirs = t.json_as(Method::GET, &list, Some(&two), None).await;
    assert_eq!(ids(&theirs.body), vec![ANALYTICS_PACKAGE]);
    let hidden_from_two = t
        .json_as(
            Method::GET,
            &format!("{list}/{CAMPAIGN_PACKAGE}"),
            Some(&two),
            None,
        )
        .await;
    assert_eq!(hidden_from_two.status, StatusCode::NOT_FOUND);
    // Role scopes: none until the package lets requestors see them.
    let scopes = format!("{list}/{CAMPAIGN_PACKAGE}/resourceRoleScopes");
    let me = end_user(&t, REQUESTOR1);
    let unseen = t.json_as(Method::GET, &scopes, Some(&me), None).await;
    assert_eq!(unseen.body["value"], json!([]), "{}", unseen.text);
    let shown = t
        .patch(
            &format!("{EM_BETA}/accessPackages/{CAMPAIGN_PACKAGE}"),
            json!({"isRoleScopesVisible": true}),
        )
        .await;
    assert!(shown.status.is_success(), "{}", shown.text);
    let seen = t.json_as(Method::GET, &scopes, Some(&me), None).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    snap!("my_access_available_role_scopes", seen);
    // A hidden package is not listed but is still available by id
    // (https://learn.microsoft.com/entra/id-governance/entitlement-management-process).
    let hide = t
        .patch(
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"),
            json!({"isHidden": true}),
        )
        .await;
    assert!(hide.status.is_success(), "{}", hide.text);
    let listed = t.json_as(Method::GET, &list, Some(&me), None).await;
    assert_eq!(ids(&listed.body), vec![ANALYTICS_PACKAGE]);
    let by_id = t
        .json_as(
            Method::GET,
            &format!("{list}/{CAMPAIGN_PACKAGE}"),
            Some(&me),
            None,
        )
        .await;
    assert_eq!(by_id.status, StatusCode::OK, "{}", by_id.text);
}
