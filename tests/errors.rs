//! Bad input of every kind gets Graph's envelope with the right status and code, leaves the
//! store unchanged, and the server keeps serving.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::snap;

async fn raw(
    t: &TestTenant,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Resp {
    let headers: Vec<(&str, &str)> = content_type
        .map(|c| vec![("Content-Type", c)])
        .unwrap_or_default();
    t.send(
        method,
        path,
        t.token.as_deref(),
        &headers,
        Some(body.to_vec()),
    )
    .await
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_invalid_model() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let path = format!("{EM_V1}/accessPackages");
    let cases: [&[u8]; 7] = [
        b"{\"displayName\": ",
        b"[1,2,3]",
        b"\"just a string\"",
        b"   ",
        b"{\"displayName\": \"x\", \"catalog\": \"not-an-object\"}",
        b"{\"displayName\": \"x\", \"catalog\": {\"id\": 7}}",
        b"{\"displayName\": \"x\", \"catalog\": {}}",
    ];
    for body in cases {
        let resp = raw(&t, Method::POST, &path, Some("application/json"), body).await;
        assert_eq!(
            (resp.status, resp.code(), resp.message()),
            (
                StatusCode::BAD_REQUEST,
                "InvalidModel",
                "The model is invalid."
            ),
            "{}",
            String::from_utf8_lossy(body)
        );
        assert!(
            resp.header("x-emulator-detail").is_some(),
            "the emulator says why"
        );
    }
    let resp = raw(
        &t,
        Method::POST,
        &path,
        Some("application/json"),
        b"{\"displayName\": ",
    )
    .await;
    snap!("errors_malformed_json", resp);
    assert_eq!(t.state().await, before);
}

#[tokio::test]
async fn unknown_properties_strict_on_v1_lenient_on_beta() {
    let t = TestTenant::start().await;
    let v1 = t
        .post(
            &format!("{EM_V1}/catalogs"),
            json!({"displayName": "x", "colour": "red"}),
        )
        .await;
    assert_eq!(
        (v1.status, v1.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
    let beta = t
        .post(
            &format!("{EM_BETA}/accessPackageCatalogs"),
            json!({"displayName": "x", "colour": "red"}),
        )
        .await;
    assert_eq!(beta.status, StatusCode::CREATED);
    assert!(beta.body.get("colour").is_none());
}

#[tokio::test]
async fn annotations_and_read_only_properties_are_ignored() {
    let t = TestTenant::start().await;
    let resp = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({
                "@odata.type": "#microsoft.graph.accessPackage",
                "id": "99999999-9999-4999-8999-999999999999",
                "createdDateTime": "2001-01-01T00:00:00Z",
                "displayName": "x",
                "catalog": {"id": GENERAL}
            }),
        )
        .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    assert_ne!(resp.body["id"], "99999999-9999-4999-8999-999999999999");
    assert_eq!(
        resp.body["createdDateTime"].as_str().unwrap().get(..4),
        Some("2026")
    );
}

#[tokio::test]
async fn non_json_content_types_are_415() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let path = format!("{EM_V1}/catalogs");
    let form = raw(
        &t,
        Method::POST,
        &path,
        Some("application/x-www-form-urlencoded"),
        b"displayName=x",
    )
    .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    snap!("errors_form_content_type", form);
    let none = raw(&t, Method::POST, &path, None, b"{\"displayName\":\"x\"}").await;
    assert_eq!(none.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(t.state().await, before);
    let with_params = raw(
        &t,
        Method::POST,
        &path,
        Some("application/json; charset=utf-8"),
        b"{\"displayName\":\"x\"}",
    )
    .await;
    assert_eq!(with_params.status, StatusCode::CREATED);
}

#[tokio::test]
async fn huge_bodies_are_413() {
    let t = TestTenant::with(builder().body_limit(1024)).await;
    let before = t.state().await;
    let big = format!("{{\"displayName\":\"{}\"}}", "x".repeat(4096));
    let resp = raw(
        &t,
        Method::POST,
        &format!("{EM_V1}/catalogs"),
        Some("application/json"),
        big.as_bytes(),
    )
    .await;
    assert_eq!(
        (resp.status, resp.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge")
    );
    assert_eq!(t.state().await, before);
}

#[tokio::test]
async fn routing_errors_come_before_authentication() {
    let t = TestTenant::start().await;
    let unknown = t
        .send(Method::GET, &format!("{EM_V1}/catalogz"), None, &[], None)
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    snap!("errors_unknown_segment", unknown);
    let version = t
        .get("/v2.0/identityGovernance/entitlementManagement/catalogs")
        .await;
    assert_eq!(
        (version.status, version.message()),
        (StatusCode::BAD_REQUEST, "Invalid version: v2.0")
    );
    let deep = t.get(&format!("{EM_V1}/catalogs/{GENERAL}/nope")).await;
    assert_eq!(deep.message(), "Resource not found for the segment 'nope'.");
}

#[tokio::test]
async fn non_guid_keys_are_not_found() {
    let t = TestTenant::start().await;
    for path in [
        format!("{EM_V1}/catalogs/not-a-guid"),
        format!("{EM_V1}/accessPackages('x')"),
        format!("{EM_BETA}/accessPackages/{CAMPAIGN_PACKAGE}x"),
        format!("{RBAC_V1}/roleAssignments/1"),
    ] {
        let resp = t.get(&path).await;
        assert_eq!(
            (resp.status, resp.code()),
            (StatusCode::NOT_FOUND, "ResourceNotFound"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn unsupported_methods_and_query_options() {
    let t = TestTenant::start().await;
    let put = t
        .json_as(
            Method::PUT,
            &format!("{EM_V1}/catalogs/{GENERAL}"),
            t.token.as_deref(),
            Some(json!({})),
        )
        .await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        put.message(),
        "The requested resource does not support http method 'PUT'."
    );
    let search = t.get(&format!("{EM_V1}/accessPackages?%24search=x")).await;
    assert_eq!(search.status, StatusCode::BAD_REQUEST);
    snap!("errors_search_not_allowed", search);
    let pending = t
        .get("/v1.0/roleManagement/entitlementManagement/roleAssignmentSchedules")
        .await;
    assert_eq!(pending.status, StatusCode::NOT_IMPLEMENTED);
}

#[tokio::test]
async fn request_ids_and_headers() {
    let t = TestTenant::start().await;
    let echoed = t
        .send(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            t.token.as_deref(),
            &[("client-request-id", "my-correlation")],
            None,
        )
        .await;
    assert_eq!(echoed.header("client-request-id"), Some("my-correlation"));
    assert_ne!(echoed.header("request-id"), Some("my-correlation"));
    let plain = t.get(&format!("{EM_V1}/catalogs")).await;
    assert_eq!(
        plain.header("client-request-id"),
        plain.header("request-id")
    );
    assert_eq!(plain.header("odata-version"), Some("4.0"));
    assert!(
        plain
            .header("content-type")
            .unwrap()
            .starts_with("application/json;odata.metadata=minimal")
    );
    assert_eq!(plain.header("date"), Some("Sun, 01 Mar 2026 09:00:00 GMT"));
    let err = t
        .get(&format!(
            "{EM_V1}/catalogs/{}",
            "5e0f0000-0000-4000-8000-000000000000"
        ))
        .await;
    assert_eq!(
        err.body["error"]["innerError"]["request-id"].as_str(),
        err.header("request-id")
    );
    assert_eq!(
        err.body["error"]["innerError"]["date"],
        "2026-03-01T09:00:00"
    );
    // The server is still serving after all of the above.
    assert_eq!(
        t.get(&format!("{EM_V1}/catalogs")).await.status,
        StatusCode::OK
    );
}

/// A 3 MB display name is a validation error, as Graph gives for over-long strings [inf: the
/// bound], not a stored catalog; so is any over-long string in a body.
#[tokio::test]
async fn over_long_strings_are_invalid_model() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    for body in [
        json!({"displayName": "x".repeat(3 * 1024 * 1024)}),
        json!({"displayName": "x".repeat(257)}),
        json!({"displayName": "ok", "description": "d".repeat(16 * 1024 + 1)}),
    ] {
        for path in [
            format!("{EM_V1}/catalogs"),
            format!("{EM_BETA}/accessPackageCatalogs"),
        ] {
            let resp = t.post(&path, body.clone()).await;
            assert_eq!(
                (resp.status, resp.code(), resp.message()),
                (
                    StatusCode::BAD_REQUEST,
                    "InvalidModel",
                    "The model is invalid."
                ),
                "{path}"
            );
        }
    }
    assert_eq!(t.state().await, before, "a refused body changed the store");
    let exactly = t
        .post(
            &format!("{EM_V1}/catalogs"),
            json!({"displayName": "é".repeat(256)}),
        )
        .await;
    assert_eq!(exactly.status, StatusCode::CREATED, "{}", exactly.text);
    let renamed = t
        .patch(
            &format!("{EM_V1}/catalogs/{GENERAL}"),
            json!({"displayName": "y".repeat(300)}),
        )
        .await;
    assert_eq!(renamed.code(), "InvalidModel");
}
