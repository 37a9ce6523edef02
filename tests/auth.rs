//! Authentication (Graph's exact 401s) and authorization (permission + role, as
//! https://learn.microsoft.com/graph/permissions-overview and the role tip of each EM
//! API page describe it) for every kind of caller the fixtures provide.

use entitlement_emulator::auth::token::{self, TokenRequest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::snap;

fn token_from(claims: Value) -> String {
    let Value::Object(map) = claims else {
        panic!("claims object")
    };
    token::sign(&map).unwrap()
}

/// The same header and claims with another signature, as a token from another issuer has.
fn forged(token: &str) -> String {
    let (signed, _) = token.rsplit_once('.').unwrap();
    format!("{signed}.c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ")
}

/// The claims signed HS256 with a secret anyone could pick.
fn hmac_signed(token: &str) -> String {
    let claims: Value = jsonwebtoken::dangerous::insecure_decode(token)
        .unwrap()
        .claims;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"secret"),
    )
    .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const TID: &str = "10000000-0000-4000-8000-000000000000";

#[tokio::test]
async fn missing_token_is_401_with_www_authenticate() {
    let t = TestTenant::start().await;
    let resp = t
        .send(Method::GET, &format!("{EM_V1}/catalogs"), None, &[], None)
        .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert!(
        resp.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer realm=\"\"")
    );
    snap!("auth_missing_token", resp);
    let empty = t
        .send(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            None,
            &[("Authorization", "Bearer ")],
            None,
        )
        .await;
    assert_eq!(empty.message(), "Access token is empty.");
}

#[tokio::test]
async fn bad_tokens_get_graphs_messages() {
    let t = TestTenant::start().await;
    let path = format!("{EM_V1}/catalogs");
    let base = json!({"aud": "https://graph.microsoft.com", "iss": format!("https://sts.windows.net/{TID}/"), "tid": TID, "oid": "20000000-0000-4000-8000-000000000001",
        "scp": "EntitlementManagement.ReadWrite.All", "wids": ["62e90394-69f5-4237-9190-012177145e10"], "exp": now() + 600, "nbf": now() - 10});
    let with = |patch: Value| {
        let mut c = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        token_from(c)
    };
    let cases = [
        (
            "not.a.jwt".to_string(),
            "CompactToken parsing failed with error code: 80049217",
        ),
        (
            with(json!({"exp": now() - 60})),
            "Lifetime validation failed, the token is expired.",
        ),
        (
            with(json!({"aud": "https://management.azure.com"})),
            "Access token validation failure. Invalid audience.",
        ),
        (
            with(json!({"tid": "99999999-0000-4000-8000-000000000000"})),
            "Access token validation failure. Invalid issuer.",
        ),
        (
            with(json!({"iss": "https://sts.windows.net/99999999-0000-4000-8000-000000000000/"})),
            "Access token validation failure. Invalid issuer.",
        ),
        (
            with(json!({"iss": null})),
            "Access token validation failure. Invalid issuer.",
        ),
        (
            // Signed by some other key: nothing about its claims is checked or revealed.
            forged(&with(json!({"exp": now() - 60}))),
            "Access token validation failure.",
        ),
        (
            // The same claims signed HS256 with a shared secret (the algorithm-confusion trick).
            hmac_signed(&with(json!({}))),
            "Access token validation failure.",
        ),
        (
            with(json!({"scp": null})),
            "Either scp or roles claim need to be present in the token.",
        ),
    ];
    for (token, message) in cases {
        let resp = t.json_as(Method::GET, &path, Some(&token), None).await;
        assert_eq!(
            (resp.status, resp.code(), resp.message()),
            (
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                message
            )
        );
    }
    // Accepted audiences: the Graph URL with or without a slash, and Graph's app id.
    for aud in [
        "https://graph.microsoft.com/",
        "00000003-0000-0000-c000-000000000000",
    ] {
        let resp = t
            .json_as(Method::GET, &path, Some(&with(json!({"aud": aud}))), None)
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{aud}");
    }
    let basic = t
        .send(
            Method::GET,
            &path,
            None,
            &[("authorization", "Basic dXNlcjpwYXNz")],
            None,
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn auth_off_needs_no_token() {
    let t = TestTenant::auth_off().await;
    let resp = t
        .post(
            &format!("{EM_BETA}/accessPackages"),
            json!({"catalogId": GENERAL, "displayName": "x"}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    assert_eq!(resp.body["createdBy"], Value::Null);
    // Any token is ignored rather than checked.
    let junk = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some("junk"),
            None,
        )
        .await;
    assert_eq!(junk.status, StatusCode::OK);
}

#[tokio::test]
async fn a_user_without_a_role_is_refused() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let me = t.token_for(REQUESTOR1);
    let list = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackages"),
            Some(&me),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::FORBIDDEN);
    snap!("auth_no_role", list);
    let create = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/catalogs"),
            Some(&me),
            Some(json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(
        (create.status, create.code()),
        (StatusCode::FORBIDDEN, "UnAuthorized")
    );
    assert_eq!(t.state().await, before);
}

#[tokio::test]
async fn delegated_scope_is_intersected_with_the_role() {
    let t = TestTenant::start().await;
    let read_only = t.token_with(TokenRequest {
        persona: ADMIN.into(),
        scopes: Some(vec!["EntitlementManagement.Read.All".into()]),
        ..Default::default()
    });
    let read = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(&read_only),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let write = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/catalogs"),
            Some(&read_only),
            Some(json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert_eq!(
        write.message(),
        "User is not authorized to perform the operation. Reason: The caller is not authorized."
    );
    let no_scope = t.token_with(TokenRequest {
        persona: ADMIN.into(),
        scopes: Some(vec!["User.Read".into()]),
        ..Default::default()
    });
    let none = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(&no_scope),
            None,
        )
        .await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn directory_roles_iga_and_global_reader() {
    let t = TestTenant::start().await;
    let iga = t.token_for(IGA);
    let created = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/catalogs"),
            Some(&iga),
            Some(json!({"displayName": "iga's"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let reader = t.token_for(READER);
    let list = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(
        list.body["value"].as_array().unwrap().len(),
        3,
        "a Global Reader sees every catalog"
    );
    let write = t
        .json_as(
            Method::PATCH,
            &format!("{EM_V1}/catalogs/{GENERAL}"),
            Some(&reader),
            Some(json!({"description": "x"})),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    let missing = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/catalogs/5e0f0000-0000-4000-8000-000000000000"),
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(
        missing.status,
        StatusCode::NOT_FOUND,
        "tenant-wide readers learn that an id does not exist"
    );
}

#[tokio::test]
async fn a_catalog_owner_manages_only_their_catalog() {
    let t = TestTenant::start().await;
    let owner = t.token_for(CATALOG_OWNER);
    let list = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(&owner),
            None,
        )
        .await;
    let ids: Vec<&str> = list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [MARKETING]);
    let packages = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackages"),
            Some(&owner),
            None,
        )
        .await;
    let names: Vec<&str> = packages.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Campaign Analytics"]);
    let general = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/catalogs/{GENERAL}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(
        (general.status, general.message()),
        (
            StatusCode::FORBIDDEN,
            "User is not authorized to perform the operation. Reason: Unauthorized"
        )
    );
    let ok = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/accessPackages"),
            Some(&owner),
            Some(json!({"displayName": "x", "catalog": {"id": MARKETING}})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let elsewhere = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/accessPackages"),
            Some(&owner),
            Some(json!({"displayName": "x", "catalog": {"id": GENERAL}})),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    let edit = t
        .json_as(
            Method::PATCH,
            &format!("{EM_V1}/catalogs/{MARKETING}"),
            Some(&owner),
            Some(json!({"description": "mine"})),
        )
        .await;
    assert_eq!(edit.status, StatusCode::NO_CONTENT);
    // After a delete, a catalog-scoped caller gets 403 rather than 404
    // (microsoft/terraform-provider-msgraph#159).
    let id = ok.body["id"].as_str().unwrap();
    assert_eq!(
        t.json_as(
            Method::DELETE,
            &format!("{EM_V1}/accessPackages/{id}"),
            Some(&owner),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let after = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackages/{id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(after.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn access_package_managers_and_assignment_managers() {
    let t = TestTenant::start().await;
    let manager = t.token_for(AP_MANAGER);
    let create = t
        .json_as(
            Method::POST,
            &format!("{EM_BETA}/accessPackages"),
            Some(&manager),
            Some(json!({"displayName": "m", "catalogId": MARKETING})),
        )
        .await;
    assert_eq!(create.status, StatusCode::CREATED);
    let edit_catalog = t
        .json_as(
            Method::PATCH,
            &format!("{EM_V1}/catalogs/{MARKETING}"),
            Some(&manager),
            Some(json!({"description": "no"})),
        )
        .await;
    assert_eq!(
        edit_catalog.status,
        StatusCode::FORBIDDEN,
        "editing a catalog is the owner's task"
    );
    let assigner = t.token_for(ASSIGNMENT_MANAGER);
    let read = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackages/{ANALYTICS_PACKAGE}"),
            Some(&assigner),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let denied = t
        .json_as(
            Method::POST,
            &format!("{EM_BETA}/accessPackages"),
            Some(&assigner),
            Some(json!({"displayName": "m", "catalogId": MARKETING})),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn roles_through_group_membership() {
    let t = TestTenant::start().await;
    let member = t.token_for(REQUESTOR2);
    let read = t
        .json_as(
            Method::GET,
            &format!("{EM_BETA}/accessPackages/{ANALYTICS_PACKAGE}"),
            Some(&member),
            None,
        )
        .await;
    assert_eq!(
        read.status,
        StatusCode::OK,
        "Catalog reader through 'Marketing catalog readers'"
    );
    let write = t
        .json_as(
            Method::PATCH,
            &format!("{EM_BETA}/accessPackages/{ANALYTICS_PACKAGE}"),
            Some(&member),
            Some(json!({"isHidden": true})),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn applications_by_permission_or_by_em_role() {
    let t = TestTenant::start().await;
    let automation = t.token_for(AUTOMATION_APP);
    let created = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/catalogs"),
            Some(&automation),
            Some(json!({"displayName": "app's"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        t.get(&format!(
            "{EM_BETA}/accessPackageCatalogs/{}",
            created.body["id"].as_str().unwrap()
        ))
        .await
        .body["createdBy"],
        AUTOMATION_APP
    );

    let reporter = t.token_for(REPORTER_APP);
    assert_eq!(
        t.json_as(
            Method::GET,
            &format!("{EM_V1}/accessPackages"),
            Some(&reporter),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    let refused = t
        .json_as(
            Method::DELETE,
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"),
            Some(&reporter),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // No Graph permission at all, but Catalog owner on Marketing (the usual Terraform set-up).
    let bot = t.token_for(CATALOG_BOT_APP);
    let in_marketing = t
        .json_as(
            Method::POST,
            &format!("{EM_BETA}/accessPackages"),
            Some(&bot),
            Some(json!({"displayName": "bot", "catalogId": MARKETING})),
        )
        .await;
    assert_eq!(in_marketing.status, StatusCode::CREATED);
    let in_general = t
        .json_as(
            Method::POST,
            &format!("{EM_BETA}/accessPackages"),
            Some(&bot),
            Some(json!({"displayName": "bot", "catalogId": GENERAL})),
        )
        .await;
    assert_eq!(in_general.status, StatusCode::FORBIDDEN);
    let list = t
        .json_as(
            Method::GET,
            &format!("{EM_BETA}/accessPackages"),
            Some(&bot),
            None,
        )
        .await;
    assert!(
        list.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["catalogId"] == MARKETING)
    );
    let app_without_anything = t.token_with(TokenRequest {
        persona: "Expense Portal".into(),
        ..Default::default()
    });
    let nothing = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(&app_without_anything),
            None,
        )
        .await;
    assert_eq!(nothing.status, StatusCode::FORBIDDEN);
}
