//! Access packages in both versions: CRUD, defaults, catalog binding, moveToCatalog, quirks.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::snap;

#[tokio::test]
async fn beta_create_matches_the_documented_example() {
    let t = TestTenant::start().await;
    let resp = t
        .post(
            &format!("{EM_BETA}/accessPackages"),
            json!({"catalogId": GENERAL, "displayName": "sales reps", "description": "outside sales representatives"}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    assert_eq!(resp.body["isHidden"], false);
    assert_eq!(resp.body["isRoleScopesVisible"], false);
    assert_eq!(resp.body["catalogId"], GENERAL);
    let id = resp.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        resp.header("location").unwrap(),
        format!("{}{EM_BETA}/accessPackages('{id}')", t.emu.uri())
    );
    snap!("access_packages_beta_create", resp);
    let got = t.get(&format!("{EM_BETA}/accessPackages/{id}")).await;
    let mut created = resp.body.clone();
    created["@odata.context"] = got.body["@odata.context"].clone();
    assert_eq!(got.body, created);
    same_bytes_but_context(&got, &resp);
}

/// A GET by id is served from the listing cache (docs/BENCHMARK.md); it must write the
/// same fields in the same order as the create, which builds the entity afresh. Map equality
/// ignores order, so the texts are compared.
fn same_bytes_but_context(got: &Resp, created: &Resp) {
    let without_context = |r: &Resp| {
        let context = r.body["@odata.context"].as_str().unwrap().to_string();
        r.text.replacen(&context, "", 1)
    };
    assert_eq!(without_context(got), without_context(created));
}

#[tokio::test]
async fn v1_create_takes_the_catalog_navigation() {
    let t = TestTenant::start().await;
    let resp = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "sales reps", "description": "outside sales representatives", "isHidden": false, "catalog": {"id": GENERAL}}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    snap!("access_packages_v1_create", resp);
    let id = resp.body["id"].as_str().unwrap();
    let got = t.get(&format!("{EM_V1}/accessPackages('{id}')")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["displayName"], "sales reps");
    same_bytes_but_context(&got, &resp);
    // beta sees the same package with its catalogId.
    let beta = t.get(&format!("{EM_BETA}/accessPackages/{id}")).await;
    assert_eq!(beta.body["catalogId"], GENERAL);
}

#[tokio::test]
async fn v1_list_items_carry_odata_type() {
    let t = TestTenant::start().await;
    let resp = t.get(&format!("{EM_V1}/accessPackages")).await;
    assert_eq!(resp.status, StatusCode::OK);
    snap!("access_packages_v1_list", resp);
    let beta = t.get(&format!("{EM_BETA}/accessPackages")).await;
    snap!("access_packages_beta_list", beta);
}

#[tokio::test]
async fn beta_accepts_the_catalog_as_terraform_sends_it() {
    let t = TestTenant::start().await;
    let resp = t
        .post(
            &format!("{EM_BETA}/accessPackages"),
            json!({"accessPackageCatalog": {"id": MARKETING}, "displayName": "tf", "isHidden": true, "isRoleScopesVisible": true}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    assert_eq!(resp.body["catalogId"], MARKETING);
    assert_eq!(resp.body["isHidden"], true);
    assert_eq!(resp.body["isRoleScopesVisible"], true);
    let clash = t
        .post(
            &format!("{EM_BETA}/accessPackages"),
            json!({"accessPackageCatalog": {"id": MARKETING}, "catalogId": GENERAL, "displayName": "tf"}),
        )
        .await;
    assert_eq!(
        (clash.status, clash.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
}

#[tokio::test]
async fn the_catalog_is_required_and_must_exist() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let missing = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "x"}),
        )
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
    let beta_missing = t
        .post(
            &format!("{EM_BETA}/accessPackages"),
            json!({"displayName": "x"}),
        )
        .await;
    assert_eq!(
        (beta_missing.status, beta_missing.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
    let unknown = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "x", "catalog": {"id": "5e0f0000-0000-4000-8000-000000000000"}}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    snap!("access_packages_unknown_catalog", unknown);
    let not_guid = t
        .post(
            &format!("{EM_BETA}/accessPackages"),
            json!({"displayName": "x", "catalogId": "sales"}),
        )
        .await;
    assert_eq!(
        (not_guid.status, not_guid.code()),
        (StatusCode::NOT_FOUND, "ResourceNotFound")
    );
    // v1.0 has no catalogId: a beta-shaped body is a model error there.
    let beta_shaped = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "x", "catalogId": GENERAL}),
        )
        .await;
    assert_eq!(
        (beta_shaped.status, beta_shaped.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
    assert_eq!(t.state().await, before);
}

#[tokio::test]
async fn patch_updates_what_it_may_and_refuses_a_catalog_change() {
    let t = TestTenant::start().await;
    let path = format!("{EM_BETA}/accessPackages/{CAMPAIGN_PACKAGE}");
    let ok = t.patch(&path, json!({"displayName": "Access Package New Name", "isHidden": true, "isRoleScopesVisible": true, "catalogId": GENERAL})).await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    let after = t.get(&path).await.body;
    assert_eq!(
        (
            after["displayName"].as_str(),
            after["isHidden"].as_bool(),
            after["isRoleScopesVisible"].as_bool()
        ),
        (Some("Access Package New Name"), Some(true), Some(true))
    );
    assert_eq!(after["modifiedBy"], ADMIN);

    let before = t.state().await;
    let move_by_patch = t.patch(&path, json!({"catalogId": MARKETING})).await;
    assert_eq!(
        (move_by_patch.status, move_by_patch.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
    let v1_move = t
        .patch(
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"),
            json!({"catalog": {"id": MARKETING}}),
        )
        .await;
    assert_eq!(
        (v1_move.status, v1_move.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
    let v1_beta_prop = t
        .patch(
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"),
            json!({"isRoleScopesVisible": false}),
        )
        .await;
    assert_eq!(
        (v1_beta_prop.status, v1_beta_prop.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
    let null_name = t.patch(&path, json!({"displayName": null})).await;
    assert_eq!(
        (null_name.status, null_name.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
    assert_eq!(t.state().await, before);

    let cleared = t
        .patch(
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"),
            json!({"description": null}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.get(&path).await.body["description"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn delete_then_get_is_not_found() {
    let t = TestTenant::start().await;
    let path = format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}");
    assert_eq!(t.delete(&path).await.status, StatusCode::NO_CONTENT);
    let gone = t.get(&path).await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "ResourceNotFound")
    );
    let again = t.delete(&path).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn beta_move_to_catalog() {
    let t = TestTenant::start().await;
    let path = format!("{EM_BETA}/accessPackages/{CAMPAIGN_PACKAGE}/moveToCatalog");
    let resp = t.post(&path, json!({"catalogId": MARKETING})).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.text, "");
    let moved = t
        .get(&format!("{EM_BETA}/accessPackages/{CAMPAIGN_PACKAGE}"))
        .await
        .body;
    assert_eq!(moved["catalogId"], MARKETING);
    let in_marketing = t
        .get(&format!("{EM_V1}/catalogs/{MARKETING}/accessPackages"))
        .await
        .body;
    assert_eq!(in_marketing["value"].as_array().unwrap().len(), 2);
    let in_general = t
        .get(&format!("{EM_V1}/catalogs/{GENERAL}/accessPackages"))
        .await
        .body;
    assert_eq!(in_general["value"].as_array().unwrap().len(), 0);

    let unknown = t
        .post(
            &path,
            json!({"catalogId": "5e0f0000-0000-4000-8000-000000000000"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // Not part of v1.0.
    let v1 = t
        .post(
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/moveToCatalog"),
            json!({"catalogId": GENERAL}),
        )
        .await;
    assert_eq!(
        (v1.status, v1.message()),
        (
            StatusCode::BAD_REQUEST,
            "Resource not found for the segment 'moveToCatalog'."
        )
    );
}

#[tokio::test]
async fn v1_assignment_policies_navigation_is_not_routed() {
    let t = TestTenant::start().await;
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let is_get = method == reqwest::Method::GET;
        let body = (!is_get).then(|| json!({"displayName": "p"}));
        let resp = t
            .json_as(
                method,
                &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/assignmentPolicies"),
                t.token.as_deref(),
                body,
            )
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.code(), "");
        assert!(
            resp.message()
                .starts_with("No HTTP resource was found that matches the request URI")
        );
        if resp.status == StatusCode::NOT_FOUND && is_get {
            snap!("access_packages_v1_assignment_policies_unrouted", resp);
        }
    }
}

#[tokio::test]
async fn listings_show_changes_made_after_they_were_first_rendered() {
    let t = TestTenant::start().await;
    let listed = |version: &'static str| {
        let t = &t;
        async move {
            let path = if version == "v1" {
                format!("{EM_V1}/accessPackages?$filter=id eq '{CAMPAIGN_PACKAGE}'")
            } else {
                format!("{EM_BETA}/accessPackages?$filter=id eq '{CAMPAIGN_PACKAGE}'")
            };
            t.get(&path).await.body["value"][0].clone()
        }
    };
    let by_id = format!("{EM_BETA}/accessPackages/{CAMPAIGN_PACKAGE}");
    // Render (and cache) both versions' items, then change the package.
    assert_eq!(listed("v1").await["displayName"], "Marketing Campaign");
    assert_eq!(listed("beta").await["displayName"], "Marketing Campaign");
    assert_eq!(
        t.get(&by_id).await.body["displayName"],
        "Marketing Campaign"
    );
    let patched = t
        .patch(
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"),
            json!({"displayName": "Renamed", "isHidden": true}),
        )
        .await;
    assert!(patched.status.is_success(), "{}", patched.text);
    let v1 = listed("v1").await;
    assert_eq!(
        (v1["displayName"].as_str(), v1["isHidden"].as_bool()),
        (Some("Renamed"), Some(true)),
        "{v1}"
    );
    assert_eq!(v1["@odata.type"], "#microsoft.graph.accessPackage");
    assert_eq!(listed("beta").await["displayName"], "Renamed");
    // A GET by id reads the same cache.
    assert_eq!(t.get(&by_id).await.body["displayName"], "Renamed");
}
