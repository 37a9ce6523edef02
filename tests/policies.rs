//! Assignment policies in both versions: shapes, defaults, translation, PUT, validation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::snap;

const FIXTURE_POLICY: &str = "90000000-0000-4000-8000-000000000001";
const LEAD: &str = "20000000-0000-4000-8000-000000000007";
const READERS_GROUP: &str = "30000000-0000-4000-8000-000000000003";

fn direct_v1(package: &str) -> Value {
    json!({"displayName": "New Policy", "description": "policy for assignment", "allowedTargetScope": "notSpecified", "specificAllowedTargets": [],
        "expiration": {"endDateTime": null, "duration": null, "type": "noExpiration"},
        "requestorSettings": {"enableTargetsToSelfAddAccess": false, "enableTargetsToSelfUpdateAccess": false, "enableTargetsToSelfRemoveAccess": false, "allowCustomAssignmentSchedule": true, "enableOnBehalfRequestorsToAddAccess": false, "enableOnBehalfRequestorsToUpdateAccess": false, "enableOnBehalfRequestorsToRemoveAccess": false, "onBehalfRequestors": []},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": false, "isApprovalRequiredForUpdate": false, "stages": []},
        "accessPackage": {"id": package}})
}

fn stage(days: &str, escalation: bool) -> Value {
    json!({"durationBeforeAutomaticDenial": days, "isApproverJustificationRequired": false, "isEscalationEnabled": escalation, "durationBeforeEscalation": if escalation { "P2D" } else { "PT0S" },
        "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}],
        "fallbackPrimaryApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": LEAD, "description": "lead"}],
        "escalationApprovers": if escalation { json!([{"@odata.type": "#microsoft.graph.groupMembers", "groupId": READERS_GROUP}]) } else { json!([]) },
        "fallbackEscalationApprovers": []})
}

#[tokio::test]
async fn v1_create_get_and_read_through_beta() {
    let t = TestTenant::start().await;
    let created = t
        .post(
            &format!("{EM_V1}/assignmentPolicies"),
            direct_v1(CAMPAIGN_PACKAGE),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    snap!("policies_v1_create_direct", created);
    let id = created.body["id"].as_str().unwrap().to_string();
    let got = t.get(&format!("{EM_V1}/assignmentPolicies/{id}")).await;
    let mut expected = created.body.clone();
    expected["@odata.context"] = got.body["@odata.context"].clone();
    assert_eq!(got.body, expected);
    let beta = t
        .get(&format!("{EM_BETA}/accessPackageAssignmentPolicies/{id}"))
        .await;
    assert_eq!(
        beta.body["requestorSettings"],
        json!({"scopeType": "NoSubjects", "acceptRequests": false, "allowedRequestors": []})
    );
    assert_eq!(
        beta.body["requestApprovalSettings"]["approvalMode"],
        "NoApproval"
    );
    assert_eq!(beta.body["accessPackageId"], CAMPAIGN_PACKAGE);
}

#[tokio::test]
async fn approval_stages_translate_between_versions() {
    let t = TestTenant::start().await;
    let mut body = direct_v1(CAMPAIGN_PACKAGE);
    body["allowedTargetScope"] = json!("allMemberUsers");
    body["requestorSettings"]["enableTargetsToSelfAddAccess"] = json!(true);
    body["requestApprovalSettings"] = json!({"isApprovalRequiredForAdd": true, "isApprovalRequiredForUpdate": false, "stages": [stage("P14D", true), stage("P7D", false)]});
    body["expiration"] = json!({"type": "afterDuration", "duration": "P365D"});
    let created = t.post(&format!("{EM_V1}/assignmentPolicies"), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    let beta = t
        .get(&format!("{EM_BETA}/accessPackageAssignmentPolicies/{id}"))
        .await;
    assert_eq!(beta.status, StatusCode::OK);
    snap!("policies_beta_view_of_v1_two_stages", beta);
    assert_eq!(beta.body["durationInDays"], 365);
    assert_eq!(
        beta.body["requestApprovalSettings"]["approvalMode"],
        "Serial"
    );
    assert_eq!(
        beta.body["requestApprovalSettings"]["approvalStages"][0]["primaryApprovers"][1]["isBackup"],
        true
    );
}

#[tokio::test]
async fn beta_create_defaults_questions_and_dropped_properties() {
    let t = TestTenant::start().await;
    let created = t
        .post(&format!("{EM_BETA}/accessPackageAssignmentPolicies"), json!({
            "accessPackageId": CAMPAIGN_PACKAGE, "displayName": "direct", "description": "direct assignments by administrator",
            "accessReviewSettings": null, "isDenyPolicy": false, "expiration": {"type": "afterDuration", "duration": "P365D"},
            "requestorSettings": {"scopeType": "NoSubjects", "acceptRequests": true, "allowedRequestors": []},
            "requestApprovalSettings": null,
            "questions": [
                {"isRequired": false, "text": {"defaultText": "what state are you from?", "localizedTexts": [{"text": "¿De qué estado eres?", "languageCode": "es"}]},
                 "@odata.type": "#microsoft.graph.accessPackageMultipleChoiceQuestion",
                 "choices": [{"actualValue": "AZ", "displayValue": {"localizedTexts": [{"text": "Arizona", "languageCode": "es"}]}}], "allowsMultipleSelection": false},
                {"isRequired": false, "text": {"defaultText": "Who is your manager?", "localizedTexts": []}, "@odata.type": "#microsoft.graph.accessPackageTextInputQuestion", "isSingleLineQuestion": false}]
        }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    snap!("policies_beta_create_questions", created);
    assert_eq!(
        created.body["durationInDays"], 0,
        "beta drops `expiration`, which its model lacks (the beta create example's response omits it)"
    );
    assert_eq!(
        created.body["requestApprovalSettings"],
        json!({"isApprovalRequired": false, "isApprovalRequiredForExtension": false, "isRequestorJustificationRequired": false, "approvalMode": "NoApproval", "approvalStages": []})
    );
    let qid = created.body["questions"][0]["id"].as_str().unwrap();
    assert_eq!(
        qid,
        qid.to_ascii_uppercase(),
        "question ids are upper-case on beta"
    );
    let id = created.body["id"].as_str().unwrap();
    let v1 = t
        .get(&format!(
            "{EM_V1}/assignmentPolicies/{id}?$expand=questions"
        ))
        .await;
    assert_eq!(v1.body["questions"][0]["choices"][0]["actualValue"], "AZ");
    assert_eq!(
        v1.body["questions"][1]["@odata.type"],
        "#microsoft.graph.accessPackageTextInputQuestion"
    );
}

#[tokio::test]
async fn put_replaces_and_delete_removes() {
    let t = TestTenant::start().await;
    let path = format!("{EM_V1}/assignmentPolicies/{FIXTURE_POLICY}");
    let before = t.get(&path).await.body;
    let mut body = direct_v1(CAMPAIGN_PACKAGE);
    body["id"] = json!(FIXTURE_POLICY);
    body["displayName"] = json!("All Users");
    body["allowedTargetScope"] = json!("allDirectoryUsers");
    let put = t
        .json_as(Method::PUT, &path, t.token.as_deref(), Some(body))
        .await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(put.body["displayName"], "All Users");
    assert_eq!(put.body["createdDateTime"], before["createdDateTime"]);
    assert_ne!(put.body["modifiedDateTime"], before["modifiedDateTime"]);
    assert_eq!(
        put.body["specificAllowedTargets"],
        json!([]),
        "a PUT replaces everything"
    );
    let moved = t
        .json_as(
            Method::PUT,
            &path,
            t.token.as_deref(),
            Some(direct_v1(ANALYTICS_PACKAGE)),
        )
        .await;
    assert_eq!(
        (moved.status, moved.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
    let patch = t.patch(&path, json!({"displayName": "x"})).await;
    assert_eq!(
        patch.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "policies are updated with PUT only"
    );
    assert_eq!(t.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert_eq!(t.get(&path).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn expand_from_the_package_and_quirks() {
    let t = TestTenant::start().await;
    let v1 = t.get(&format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}?$expand=assignmentPolicies($select=id,displayName)")).await;
    assert_eq!(
        v1.body["assignmentPolicies"],
        json!([{"id": FIXTURE_POLICY, "displayName": "Specific users"}])
    );
    let beta = t.get(&format!("{EM_BETA}/accessPackages?$expand=accessPackageAssignmentPolicies&$filter=id eq '{CAMPAIGN_PACKAGE}'")).await;
    assert_eq!(
        beta.body["value"][0]["accessPackageAssignmentPolicies"][0]["durationInDays"],
        30
    );
    let filtered = t.get(&format!("{EM_V1}/assignmentPolicies?$filter=displayName eq 'Specific users'&$expand=accessPackage($select=displayName)")).await;
    assert_eq!(
        filtered.body["value"][0]["accessPackage"],
        json!({"displayName": "Marketing Campaign"})
    );
    let questions = t
        .get(&format!(
            "{EM_V1}/assignmentPolicies/{FIXTURE_POLICY}/questions"
        ))
        .await;
    assert_eq!(
        (questions.status, questions.code()),
        (StatusCode::NOT_FOUND, "")
    );
    // Deleting the package takes its policies with it.
    assert_eq!(
        t.delete(&format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentPolicies/{FIXTURE_POLICY}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn validation() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let path = format!("{EM_V1}/assignmentPolicies");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = direct_v1(CAMPAIGN_PACKAGE);
        f(&mut b);
        b
    };
    let cases: Vec<(&str, Value)> = vec![
        (
            "four stages",
            with(
                &|b| b["requestApprovalSettings"] = json!({"isApprovalRequiredForAdd": true, "stages": [stage("P7D", false), stage("P7D", false), stage("P7D", false), stage("P7D", false)]}),
            ),
        ),
        (
            "approval without stages",
            with(&|b| {
                b["requestApprovalSettings"] =
                    json!({"isApprovalRequiredForAdd": true, "stages": []})
            }),
        ),
        (
            "too long",
            with(&|b| b["expiration"] = json!({"type": "afterDuration", "duration": "P4000D"})),
        ),
        (
            "no duration",
            with(&|b| b["expiration"] = json!({"type": "afterDuration"})),
        ),
        (
            "short escalation window",
            with(&|b| {
                b["requestApprovalSettings"] =
                    json!({"isApprovalRequiredForAdd": true, "stages": [stage("P3D", true)]})
            }),
        ),
        (
            "zero denial",
            with(&|b| {
                b["requestApprovalSettings"] =
                    json!({"isApprovalRequiredForAdd": true, "stages": [stage("PT0S", false)]})
            }),
        ),
        (
            "unknown user",
            with(
                &|b| b["specificAllowedTargets"] = json!([{"@odata.type": "#microsoft.graph.singleUser", "userId": "5e0f0000-0000-4000-8000-000000000000"}]),
            ),
        ),
        (
            "connected organization",
            with(
                &|b| b["specificAllowedTargets"] = json!([{"@odata.type": "#microsoft.graph.connectedOrganizationMembers", "connectedOrganizationId": "5e0f0000-0000-4000-8000-000000000000"}]),
            ),
        ),
        (
            "untyped subject",
            with(&|b| b["specificAllowedTargets"] = json!([{"userId": LEAD}])),
        ),
        (
            "bad scope",
            with(&|b| b["allowedTargetScope"] = json!("everyone")),
        ),
        (
            "beta property on v1.0",
            with(&|b| b["accessPackageId"] = json!(CAMPAIGN_PACKAGE)),
        ),
        (
            "no package",
            with(&|b| {
                b.as_object_mut().unwrap().remove("accessPackage");
            }),
        ),
        (
            "no name",
            with(&|b| {
                b.as_object_mut().unwrap().remove("displayName");
            }),
        ),
    ];
    for (what, body) in cases {
        let resp = t.post(&path, body).await;
        assert_eq!(
            (resp.status, resp.code()),
            (StatusCode::BAD_REQUEST, "InvalidModel"),
            "{what}: {}",
            resp.text
        );
    }
    let unknown_package = t
        .post(&path, direct_v1("5e0f0000-0000-4000-8000-000000000000"))
        .await;
    assert_eq!(unknown_package.status, StatusCode::NOT_FOUND);
    let beta_stage = json!({"approvalStageTimeOutInDays": 7, "primaryApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "id": LEAD, "isBackup": false}]});
    let stages = vec![beta_stage.clone(), beta_stage.clone(), beta_stage];
    let three_beta_stages = t
        .post(&format!("{EM_BETA}/accessPackageAssignmentPolicies"), json!({"accessPackageId": CAMPAIGN_PACKAGE, "displayName": "x",
            "requestApprovalSettings": {"isApprovalRequired": true, "approvalMode": "Serial", "approvalStages": stages}}))
        .await;
    assert_eq!(three_beta_stages.code(), "InvalidModel");
    assert_eq!(t.state().await, before);
    // Who may write policies: managers yes, assignment managers no.
    let assigner = t.token_for(ASSIGNMENT_MANAGER);
    let denied = t
        .json_as(
            Method::POST,
            &path,
            Some(&assigner),
            Some(direct_v1(ANALYTICS_PACKAGE)),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let manager = t.token_for(AP_MANAGER);
    let allowed = t
        .json_as(
            Method::POST,
            &path,
            Some(&manager),
            Some(direct_v1(ANALYTICS_PACKAGE)),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::CREATED);
}
