//! `$batch`: items through the same pipeline, dependsOn and 424, envelope errors.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::snap;

async fn batch(t: &TestTenant, version: &str, body: Value) -> Resp {
    t.json_as(
        Method::POST,
        &format!("/{version}/$batch"),
        t.token.as_deref(),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn items_run_in_order_through_the_normal_pipeline() {
    let t = TestTenant::start().await;
    let resp = batch(
        &t,
        "v1.0",
        json!({"requests": [
            {"id": "1", "method": "POST", "url": "/identityGovernance/entitlementManagement/catalogs",
             "headers": {"Content-Type": "application/json"}, "body": {"displayName": "from batch"}},
            {"id": "2", "method": "GET", "url": "identityGovernance/entitlementManagement/catalogs?$filter=displayName eq 'from batch'&$select=displayName", "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": format!("/identityGovernance/entitlementManagement/accessPackages/{}", "5e0f0000-0000-4000-8000-000000000000")},
            {"id": "4", "method": "DELETE", "url": format!("/identityGovernance/entitlementManagement/accessPackages/{ANALYTICS_PACKAGE}")},
        ]}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
    let statuses: Vec<u64> = resp.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 200, 404, 204]);
    snap!("batch_v1_mixed", resp);
    assert_eq!(
        t.get(&format!("{EM_V1}/accessPackages/{ANALYTICS_PACKAGE}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn dependants_of_a_failed_item_get_424_and_do_not_run() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let resp = batch(
        &t,
        "beta",
        json!({"requests": [
            {"id": "a", "method": "POST", "url": "/identityGovernance/entitlementManagement/accessPackages",
             "headers": {"Content-Type": "application/json"}, "body": {"displayName": "no catalog"}},
            {"id": "b", "method": "POST", "url": "/identityGovernance/entitlementManagement/accessPackageCatalogs",
             "headers": {"Content-Type": "application/json"}, "body": {"displayName": "never"}, "dependsOn": ["a"]},
            {"id": "c", "method": "GET", "url": "/identityGovernance/entitlementManagement/accessPackageCatalogs", "dependsOn": ["b"]},
        ]}),
    )
    .await;
    let responses = resp.body["responses"].as_array().unwrap();
    assert_eq!(responses[0]["status"], 400);
    assert_eq!(responses[1]["status"], 424);
    assert_eq!(responses[1]["body"]["error"]["code"], "FailedDependency");
    assert_eq!(
        responses[2]["status"], 424,
        "a chain fails all the way down"
    );
    assert_eq!(t.state().await, before);
}

#[tokio::test]
async fn items_inherit_or_override_authorization() {
    let t = TestTenant::start().await;
    let requestor = t.token_for(REQUESTOR1);
    let resp = batch(
        &t,
        "v1.0",
        json!({"requests": [
            {"id": "1", "method": "GET", "url": "/identityGovernance/entitlementManagement/catalogs"},
            {"id": "2", "method": "GET", "url": "/identityGovernance/entitlementManagement/catalogs", "headers": {"Authorization": format!("Bearer {requestor}")}},
            {"id": "3", "method": "GET", "url": "/_emulator/state"},
            {"id": "4", "method": "POST", "url": "/identityGovernance/entitlementManagement/catalogs", "body": {"displayName": "x"}},
            {"id": "5", "method": "POST", "url": "/identityGovernance/entitlementManagement/catalogs",
             "headers": {"Content-Type": "application/json"}, "body": "eyJkaXNwbGF5TmFtZSI6ImI2NCJ9"},
        ]}),
    )
    .await;
    let statuses: Vec<u64> = resp.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 403, 400, 400, 201], "{}", resp.text);
    assert_eq!(
        resp.body["responses"][4]["body"]["displayName"], "b64",
        "a string body is base64"
    );
    let anonymous = t.send(Method::POST, "/v1.0/$batch", None, &[("Content-Type", "application/json")],
        Some(json!({"requests": [{"id": "1", "method": "GET", "url": "/identityGovernance/entitlementManagement/catalogs"}]}).to_string().into_bytes())).await;
    assert_eq!(anonymous.body["responses"][0]["status"], 401);
}

#[tokio::test]
async fn envelope_errors() {
    let t = TestTenant::start().await;
    let get = |id: &str| json!({"id": id, "method": "GET", "url": "/identityGovernance/entitlementManagement/catalogs"});
    let duplicate = batch(&t, "v1.0", json!({"requests": [get("1"), get("1")]})).await;
    assert_eq!(
        (duplicate.status, duplicate.message()),
        (
            StatusCode::BAD_REQUEST,
            "Request Id 1 has to be unique in a batch."
        )
    );
    let too_many = batch(
        &t,
        "v1.0",
        json!({"requests": (0..21).map(|i| get(&i.to_string())).collect::<Vec<_>>()}),
    )
    .await;
    assert_eq!(
        (too_many.status, too_many.code()),
        (StatusCode::BAD_REQUEST, "BadRequest")
    );
    let twenty = batch(
        &t,
        "v1.0",
        json!({"requests": (0..20).map(|i| get(&i.to_string())).collect::<Vec<_>>()}),
    )
    .await;
    assert_eq!(twenty.status, StatusCode::OK);
    let refused = |bad: Value| {
        let t = &t;
        async move {
            let resp = batch(t, "v1.0", bad.clone()).await;
            assert_eq!(
                (resp.status, resp.message()),
                (StatusCode::BAD_REQUEST, "Invalid batch payload format."),
                "{bad}"
            );
        }
    };
    for bad in [
        json!({}),
        json!({"requests": []}),
        json!({"requests": [{"id": "1", "url": "/x"}]}),
        json!({"requests": [get("1"), {"id": "2", "method": "GET", "url": "/x", "dependsOn": ["9"]}]}),
    ] {
        refused(bad).await;
    }
    let malformed = t
        .send(
            Method::POST,
            "/beta/%24batch",
            t.token.as_deref(),
            &[("Content-Type", "application/json")],
            Some(b"{".to_vec()),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    snap!("batch_malformed", malformed);
    // Arrays are not objects, even where their elements line up with the members.
    for bad in [
        json!([[get("1")]]),
        json!({"requests": get("1")}),
        json!({"requests": [["1", "GET", "/identityGovernance/entitlementManagement/catalogs"]]}),
        json!({"requests": [get("1"), {"id": "2", "method": "GET", "url": "/x", "headers": ["a"]}]}),
    ] {
        refused(bad).await;
    }
    let wrong_method = t.get("/v1.0/$batch").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}
