//! Custom workflow extensions and the policies that use them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::snap;

fn request_extension() -> Value {
    json!({"@odata.type": "#microsoft.graph.accessPackageAssignmentRequestWorkflowExtension", "displayName": "test_action_0124_email", "description": "this is for graph testing only",
        "endpointConfiguration": {"@odata.type": "#microsoft.graph.logicAppTriggerEndpointConfiguration", "subscriptionId": "38ab2ccc-3747-4567-b36b-9478f5602f0d", "resourceGroupName": "test", "logicAppWorkflowName": "elm-extension-email"},
        "authenticationConfiguration": {"@odata.type": "#microsoft.graph.azureAdPopTokenAuthentication"},
        "callbackConfiguration": {"@odata.type": "microsoft.graph.customExtensionCallbackConfiguration", "durationBeforeTimeout": "PT1H"}})
}

#[tokio::test]
async fn create_read_update_in_both_versions() {
    let t = TestTenant::start().await;
    let path = format!("{EM_V1}/catalogs/{MARKETING}/customWorkflowExtensions");
    let created = t.post(&path, request_extension()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    snap!("extensions_v1_create", created);
    assert!(
        created.body["endpointConfiguration"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let id = created.body["id"].as_str().unwrap().to_string();
    let beta = t
        .get(&format!(
            "{EM_BETA}/accessPackageCatalogs/{MARKETING}/accessPackageCustomWorkflowExtensions"
        ))
        .await;
    assert_eq!(beta.body["value"][0]["id"], id.as_str());
    let legacy = t
        .get(&format!(
            "{EM_BETA}/accessPackageCatalogs/{MARKETING}/customAccessPackageWorkflowExtensions"
        ))
        .await;
    assert_eq!(legacy.body["value"], json!([]));
    // The docs wrap update bodies in "value"
    // (https://learn.microsoft.com/graph/api/accesspackageassignmentrequestworkflowextension-update?view=graph-rest-1.0);
    // PUT answers 200 with the extension.
    let put = t.json_as(Method::PUT, &format!("{path}/{id}"), t.token.as_deref(),
        Some(json!({"value": {"@odata.type": "#microsoft.graph.accessPackageAssignmentRequestWorkflowExtension", "displayName": "renamed", "description": "d"}}))).await;
    assert_eq!(
        (put.status, put.body["displayName"].as_str()),
        (StatusCode::OK, Some("renamed"))
    );
    assert_eq!(
        put.body["endpointConfiguration"], created.body["endpointConfiguration"],
        "fields not sent are kept"
    );
    let patched = t
        .patch(
            &format!("{path}/{id}"),
            json!({"clientConfiguration": {"timeoutInMilliseconds": 500, "maximumRetries": 1}}),
        )
        .await;
    assert_eq!(
        patched.body["clientConfiguration"]["timeoutInMilliseconds"],
        500
    );
    let other_catalog = t
        .get(&format!(
            "{EM_V1}/catalogs/{GENERAL}/customWorkflowExtensions/{id}"
        ))
        .await;
    assert_eq!(other_catalog.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn extension_validation_and_rights() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let path = format!("{EM_V1}/catalogs/{MARKETING}/customWorkflowExtensions");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = request_extension();
        f(&mut b);
        b
    };
    for (what, body) in [
        (
            "no type",
            with(&|b| {
                b.as_object_mut().unwrap().remove("@odata.type");
            }),
        ),
        (
            "timeout",
            with(&|b| b["clientConfiguration"] = json!({"timeoutInMilliseconds": 5000})),
        ),
        (
            "retries",
            with(&|b| b["clientConfiguration"] = json!({"maximumRetries": 2})),
        ),
        (
            "callback on an assignment extension",
            with(&|b| {
                b["@odata.type"] =
                    json!("#microsoft.graph.accessPackageAssignmentWorkflowExtension")
            }),
        ),
        (
            "http endpoint without url",
            with(&|b| {
                b["endpointConfiguration"] =
                    json!({"@odata.type": "#microsoft.graph.httpRequestEndpoint"})
            }),
        ),
        (
            "no authentication",
            with(&|b| {
                b.as_object_mut()
                    .unwrap()
                    .remove("authenticationConfiguration");
            }),
        ),
    ] {
        let resp = t.post(&path, body).await;
        assert_eq!(
            (resp.status, resp.code()),
            (StatusCode::BAD_REQUEST, "InvalidModel"),
            "{what}"
        );
    }
    let manager = t.token_for(AP_MANAGER);
    let denied = t
        .json_as(
            Method::POST,
            &path,
            Some(&manager),
            Some(request_extension()),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(t.state().await, before);
}

#[tokio::test]
async fn policies_reference_extensions_that_then_cannot_be_deleted() {
    let t = TestTenant::start().await;
    let ext = t
        .post(
            &format!("{EM_V1}/catalogs/{MARKETING}/customWorkflowExtensions"),
            request_extension(),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stages = json!([{"stage": "assignmentRequestCreated", "customExtension": {"id": ext}}]);
    let wrong_catalog = t.post(&format!("{EM_V1}/assignmentPolicies"), json!({"displayName": "p", "accessPackage": {"id": CAMPAIGN_PACKAGE}, "customExtensionStageSettings": stages})).await;
    assert_eq!(
        wrong_catalog.code(),
        "InvalidModel",
        "the extension is in Marketing, the package in General"
    );
    let bad_stage = t.post(&format!("{EM_V1}/assignmentPolicies"), json!({"displayName": "p", "accessPackage": {"id": ANALYTICS_PACKAGE}, "customExtensionStageSettings": [{"stage": "whenever", "customExtension": {"id": ext}}]})).await;
    assert_eq!(bad_stage.code(), "InvalidModel");
    let policy = t.post(&format!("{EM_V1}/assignmentPolicies"), json!({"displayName": "p", "accessPackage": {"id": ANALYTICS_PACKAGE}, "customExtensionStageSettings": stages})).await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    assert!(
        policy.body.get("customExtensionStageSettings").is_none(),
        "not returned without $expand (Graph API reference: accessPackageAssignmentPolicy resource type, v1.0)"
    );
    let pid = policy.body["id"].as_str().unwrap().to_string();
    let expanded = t
        .get(&format!(
            "{EM_V1}/assignmentPolicies/{pid}?$expand=customExtensionStageSettings"
        ))
        .await;
    assert_eq!(
        expanded.body["customExtensionStageSettings"][0]["stage"],
        "assignmentRequestCreated"
    );
    assert_eq!(
        expanded.body["customExtensionStageSettings"][0]["customExtension"]["id"],
        ext.as_str()
    );
    let refused = t
        .delete(&format!(
            "{EM_V1}/catalogs/{MARKETING}/customWorkflowExtensions/{ext}"
        ))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        t.delete(&format!("{EM_V1}/assignmentPolicies/{pid}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.delete(&format!(
            "{EM_V1}/catalogs/{MARKETING}/customWorkflowExtensions/{ext}"
        ))
        .await
        .status,
        StatusCode::NO_CONTENT
    );
}

/// Makes the Analytics package's policy call an `httpRequestEndpoint` extension at
/// `target_url` when a request is granted (the extension made by the catalog's owner, as issue
/// 19 describes), then has a request delivered. Returns the request's id.
async fn grant_with_callout_to(t: &TestTenant, target_url: &str) -> String {
    let owner = t.token_for(CATALOG_OWNER);
    let ext = t
        .json_as(Method::POST, &format!("{EM_V1}/catalogs/{MARKETING}/customWorkflowExtensions"), Some(&owner), Some(json!({
            "@odata.type": "#microsoft.graph.accessPackageAssignmentWorkflowExtension", "displayName": "hook",
            "endpointConfiguration": {"@odata.type": "#microsoft.graph.httpRequestEndpoint", "targetUrl": target_url},
            "authenticationConfiguration": {"@odata.type": "#microsoft.graph.azureAdPopTokenAuthentication"}})))
        .await;
    assert_eq!(ext.status, StatusCode::CREATED, "{}", ext.text);
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "hooked", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "requestorSettings": {"enableTargetsToSelfAddAccess": true},
            "customExtensionStageSettings": [{"stage": "assignmentRequestGranted", "customExtension": {"id": ext.body["id"]}}]}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let me = t.token_with(entitlement_emulator::auth::token::TokenRequest {
        persona: REQUESTOR1.into(),
        scopes: Some(vec!["EntitlementMgmt-SubjectAccess.ReadWrite".into()]),
        ..Default::default()
    });
    let asked = t.json_as(Method::POST, &format!("{EM_V1}/assignmentRequests"), Some(&me), Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}}))).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.text);
    let id = asked.body["id"].as_str().unwrap().to_string();
    // Delivery happens on this read; the callout is sent right after it, off the request path.
    let read = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(read.body["state"], "delivered", "{}", read.text);
    id
}

/// The outbox's `customExtensionCalloutFailed` notice, once the callout task has recorded it.
async fn callout_failure(t: &TestTenant) -> Value {
    for _ in 0..250 {
        let outbox = t
            .send(Method::GET, "/_emulator/outbox", None, &[], None)
            .await;
        if let Some(failed) = outbox.body["value"].as_array().and_then(|v| {
            v.iter()
                .find(|n| n["kind"] == "customExtensionCalloutFailed")
        }) {
            return failed.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no customExtensionCalloutFailed notice in the outbox after 5 s");
}

#[tokio::test]
async fn a_callout_to_the_emulators_own_listener_is_refused_and_recorded() {
    for host in ["127.0.0.1", "localhost", "127.0.0.9"] {
        let t = TestTenant::start().await;
        let port = t.emu.address().port();
        let id = grant_with_callout_to(&t, &format!("http://{host}:{port}/_emulator/reset")).await;
        let failed = callout_failure(&t).await;
        let reason = failed["reason"].as_str().unwrap();
        assert!(reason.contains("own listener"), "{host}: {reason}");
        assert_eq!(failed["requestId"], id.as_str(), "{failed}");
        // A reset would have removed the request and emptied the outbox.
        let read = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
        assert_eq!(read.status, StatusCode::OK, "{host}: {}", read.text);
        let outbox = t
            .send(Method::GET, "/_emulator/outbox", None, &[], None)
            .await;
        assert!(
            outbox.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["kind"] == "customExtensionCallout"),
            "{host}: {}",
            outbox.text
        );
    }
}

#[tokio::test]
async fn a_callout_is_not_redirected_elsewhere_and_the_outbox_says_why() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&elsewhere)
        .await;
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("Location", format!("{}/elsewhere", elsewhere.uri())),
        )
        .mount(&hook)
        .await;
    let t = TestTenant::start().await;
    let id = grant_with_callout_to(&t, &format!("{}/hook", hook.uri())).await;
    let failed = callout_failure(&t).await;
    let reason = failed["reason"].as_str().unwrap();
    assert!(
        reason.contains("307") && reason.contains("redirects are not followed"),
        "{reason}"
    );
    assert_eq!(failed["requestId"], id.as_str(), "{failed}");
    assert_eq!(
        hook.received_requests().await.unwrap().len(),
        1,
        "the checked endpoint was called"
    );
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the redirect's target was never contacted"
    );
}
