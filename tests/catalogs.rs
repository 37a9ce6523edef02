//! Catalogs in both versions: CRUD, server defaults, General, deletion rules, creator-as-owner.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::snap;

#[tokio::test]
async fn v1_list_includes_general_and_fixture_catalogs() {
    let t = TestTenant::start().await;
    let resp = t.get(&format!("{EM_V1}/catalogs")).await;
    assert_eq!(resp.status, StatusCode::OK);
    snap!("catalogs_v1_list", resp);
}

#[tokio::test]
async fn v1_create_returns_201_location_and_server_defaults() {
    let t = TestTenant::start().await;
    let resp = t
        .post(
            &format!("{EM_V1}/catalogs"),
            json!({"displayName": "sales", "description": "for employees working with sales and outside sales partners"}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    let id = resp.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        resp.header("location").unwrap(),
        format!("{}{EM_V1}/catalogs('{id}')", t.emu.uri())
    );
    assert_eq!(resp.body["catalogType"], "userManaged");
    assert_eq!(resp.body["state"], "published");
    snap!("catalogs_v1_create", resp);

    let got = t.get(&format!("{EM_V1}/catalogs/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    let mut created = resp.body.clone();
    created["@odata.context"] = got.body["@odata.context"].clone();
    assert_eq!(got.body, created, "GET returns the object POST returned");
}

#[tokio::test]
async fn beta_create_uses_beta_names_and_audit_fields() {
    let t = TestTenant::start().await;
    let resp = t
        .post(
            &format!("{EM_BETA}/accessPackageCatalogs"),
            json!({"displayName": "sales", "description": "for employees working with sales and outside sales partners", "isExternallyVisible": true}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    assert_eq!(resp.body["catalogType"], "UserManaged");
    assert_eq!(resp.body["catalogStatus"], "Published");
    assert_eq!(resp.body["createdBy"], ADMIN);
    snap!("catalogs_beta_create", resp);
    let list = t.get(&format!("{EM_BETA}/accessPackageCatalogs")).await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn patch_changes_only_named_fields_and_bumps_modified() {
    let t = TestTenant::start().await;
    let path = format!("{EM_V1}/catalogs/{MARKETING}");
    let before = t.get(&path).await.body;
    let resp = t
        .patch(
            &path,
            json!({"displayName": "Catalog One", "state": "unpublished"}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::NO_CONTENT);
    assert_eq!(resp.text, "");
    let after = t.get(&path).await.body;
    assert_eq!(after["displayName"], "Catalog One");
    assert_eq!(after["state"], "unpublished");
    assert_eq!(after["description"], before["description"]);
    assert_ne!(after["modifiedDateTime"], before["modifiedDateTime"]);
    assert_eq!(after["createdDateTime"], before["createdDateTime"]);
    // beta reads the same catalog with its own names.
    let beta = t
        .get(&format!("{EM_BETA}/accessPackageCatalogs/{MARKETING}"))
        .await
        .body;
    assert_eq!(beta["catalogStatus"], "Unpublished");
    assert_eq!(beta["modifiedBy"], ADMIN);
}

#[tokio::test]
async fn delete_removes_an_empty_catalog() {
    let t = TestTenant::start().await;
    let id = t
        .post(&format!("{EM_V1}/catalogs"), json!({"displayName": "temp"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = t.delete(&format!("{EM_V1}/catalogs/{id}")).await;
    assert_eq!(resp.status, StatusCode::NO_CONTENT);
    let gone = t.get(&format!("{EM_V1}/catalogs/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "ResourceNotFound");
    snap!("catalogs_get_deleted", gone);
}

#[tokio::test]
async fn a_catalog_that_holds_packages_cannot_be_deleted() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let resp = t.delete(&format!("{EM_V1}/catalogs/{MARKETING}")).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    snap!("catalogs_delete_with_packages", resp);
    assert_eq!(t.state().await, before, "refused delete changed nothing");
    // Once empty, it can go.
    assert_eq!(
        t.delete(&format!("{EM_V1}/accessPackages/{ANALYTICS_PACKAGE}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.delete(&format!("{EM_V1}/catalogs/{MARKETING}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn general_cannot_be_deleted_renamed_or_retyped() {
    let t = TestTenant::start().await;
    let path = format!("{EM_V1}/catalogs/{GENERAL}");
    let before = t.state().await;
    // Empty General first, so the refusal is about General itself.
    let del = t.delete(&path).await;
    assert_eq!(
        (del.status, del.code()),
        (StatusCode::BAD_REQUEST, "InvalidOperationOnDefaultCatalog")
    );
    let rename = t.patch(&path, json!({"displayName": "Renamed"})).await;
    assert_eq!(
        (rename.status, rename.code()),
        (StatusCode::BAD_REQUEST, "InvalidOperationOnDefaultCatalog")
    );
    snap!("catalogs_rename_general", rename);
    let retype = t
        .patch(
            &format!("{EM_V1}/catalogs/{MARKETING}"),
            json!({"catalogType": "serviceDefault"}),
        )
        .await;
    assert_eq!(
        (retype.status, retype.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
    assert_eq!(t.state().await, before);
    // Its description may change.
    assert_eq!(
        t.patch(&path, json!({"description": "Everything else"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn the_creator_of_a_catalog_becomes_its_owner() {
    let t = TestTenant::start().await;
    let creator = t.token_for(CATALOG_CREATOR);
    let created = t
        .json_as(
            reqwest::Method::POST,
            &format!("{EM_V1}/catalogs"),
            Some(&creator),
            Some(json!({"displayName": "Creator's"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap();
    let assignments = t.get(&format!("{RBAC_V1}/roleAssignments")).await;
    let owner = assignments.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["appScopeId"] == format!("/AccessPackageCatalog/{id}"))
        .expect("an owner assignment for the new catalog");
    assert_eq!(
        owner["roleDefinitionId"],
        "ae79f266-94d4-4dab-b730-feca7e132178"
    );
    assert_eq!(owner["principalId"], "20000000-0000-4000-8000-00000000000b");
    // As owner the creator sees it, and only it (a creator "can't see catalogs they don't own").
    let list = t
        .json_as(
            reqwest::Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(&creator),
            None,
        )
        .await;
    let names: Vec<&str> = list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Creator's"]);
    let package = t
        .json_as(
            reqwest::Method::POST,
            &format!("{EM_V1}/accessPackages"),
            Some(&creator),
            Some(json!({"displayName": "mine", "catalog": {"id": id}})),
        )
        .await;
    assert_eq!(package.status, StatusCode::CREATED);
}

#[tokio::test]
async fn contained_access_packages_of_a_catalog() {
    let t = TestTenant::start().await;
    let list = t
        .get(&format!("{EM_V1}/catalogs/{MARKETING}/accessPackages"))
        .await;
    assert_eq!(list.status, StatusCode::OK);
    snap!("catalogs_v1_access_packages", list);
    let one = t
        .get(&format!(
            "{EM_V1}/catalogs/{MARKETING}/accessPackages/{ANALYTICS_PACKAGE}"
        ))
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["displayName"], "Campaign Analytics");
    let wrong = t
        .get(&format!(
            "{EM_V1}/catalogs/{MARKETING}/accessPackages/{CAMPAIGN_PACKAGE}"
        ))
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    let beta = t
        .get(&format!(
            "{EM_BETA}/accessPackageCatalogs('{GENERAL}')/accessPackages"
        ))
        .await;
    assert_eq!(beta.body["value"][0]["catalogId"], GENERAL);
}

#[tokio::test]
async fn create_validates_the_body() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    for body in [
        json!({}),
        json!({"displayName": ""}),
        json!({"displayName": 42}),
        json!({"displayName": "x", "state": "archived"}),
        json!({"displayName": "x", "isExternallyVisible": "yes"}),
        json!({"displayName": "x", "catalogType": "serviceDefault"}),
        json!({"displayName": "x", "catalogStatus": "Published"}),
    ] {
        let resp = t.post(&format!("{EM_V1}/catalogs"), body.clone()).await;
        assert_eq!(
            (resp.status, resp.code()),
            (StatusCode::BAD_REQUEST, "InvalidModel"),
            "{body}"
        );
        assert_eq!(resp.message(), "The model is invalid.");
    }
    assert_eq!(t.state().await, before);
    // Enum input in either casing (the v1.0 examples send `"UserAdd"`:
    // https://learn.microsoft.com/graph/api/entitlementmanagement-post-assignmentrequests?view=graph-rest-1.0).
    let ok = t
        .post(
            &format!("{EM_V1}/catalogs"),
            json!({"displayName": "x", "state": "Unpublished"}),
        )
        .await;
    assert_eq!(
        (ok.status, ok.body["state"].as_str()),
        (StatusCode::CREATED, Some("unpublished"))
    );
}
