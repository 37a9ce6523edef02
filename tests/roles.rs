//! Entitlement-management RBAC: built-in role definitions, role assignments and their effect.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::snap;

const AP_MANAGER_ROLE: &str = "7f480852-ebdc-47d4-87de-0d8498384a83";
const CATALOG_CREATOR_ROLE: &str = "ba92d953-d8e0-4e39-a797-0cbedb0a89e8";
const REQUESTOR1_ID: &str = "20000000-0000-4000-8000-000000000005";

#[tokio::test]
async fn role_definitions_are_the_five_built_ins() {
    let t = TestTenant::start().await;
    let list = t.get(&format!("{RBAC_V1}/roleDefinitions")).await;
    assert_eq!(list.status, StatusCode::OK);
    snap!("roles_v1_definitions", list);
    let one = t
        .get(&format!(
            "/beta/roleManagement/entitlementManagement/roleDefinitions/{AP_MANAGER_ROLE}"
        ))
        .await;
    assert_eq!(one.body["displayName"], "AccessPackages manager");
    let unknown = t
        .get(&format!(
            "{RBAC_V1}/roleDefinitions/5e0f0000-0000-4000-8000-000000000000"
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_catalog_owner_delegates_and_revokes_access_package_management() {
    let t = TestTenant::start().await;
    let owner = t.token_for(CATALOG_OWNER);
    let requestor = t.token_for(REQUESTOR1);
    let create_pkg = |tok: String| {
        let t = &t;
        async move {
            t.json_as(
                Method::POST,
                &format!("{EM_V1}/accessPackages"),
                Some(&tok),
                Some(json!({"displayName": "r1", "catalog": {"id": MARKETING}})),
            )
            .await
            .status
        }
    };
    assert_eq!(create_pkg(requestor.clone()).await, StatusCode::FORBIDDEN);
    let assigned = t
        .json_as(
            Method::POST,
            &format!("{RBAC_V1}/roleAssignments"),
            Some(&owner),
            Some(json!({"principalId": REQUESTOR1_ID, "roleDefinitionId": AP_MANAGER_ROLE, "appScopeId": format!("/AccessPackageCatalog/{MARKETING}")})),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::CREATED);
    snap!("roles_v1_assignment_create", assigned);
    assert_eq!(create_pkg(requestor.clone()).await, StatusCode::CREATED);
    let id = assigned.body["id"].as_str().unwrap();
    let got = t.get(&format!("{RBAC_V1}/roleAssignments/{id}")).await;
    assert_eq!(got.body["principalId"], REQUESTOR1_ID);
    let revoked = t
        .json_as(
            Method::DELETE,
            &format!("{RBAC_V1}/roleAssignments/{id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(create_pkg(requestor).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn role_assignment_validation() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let path = format!("{RBAC_V1}/roleAssignments");
    let scope = format!("/AccessPackageCatalog/{MARKETING}");
    for body in [
        json!({"principalId": "5e0f0000-0000-4000-8000-000000000000", "roleDefinitionId": AP_MANAGER_ROLE, "appScopeId": scope}),
        json!({"principalId": REQUESTOR1_ID, "roleDefinitionId": "5e0f0000-0000-4000-8000-000000000000", "appScopeId": scope}),
        json!({"principalId": REQUESTOR1_ID, "roleDefinitionId": AP_MANAGER_ROLE, "appScopeId": "/AccessPackageCatalog/5e0f0000-0000-4000-8000-000000000000"}),
        json!({"principalId": REQUESTOR1_ID, "roleDefinitionId": AP_MANAGER_ROLE, "appScopeId": "/"}),
        json!({"principalId": REQUESTOR1_ID, "roleDefinitionId": CATALOG_CREATOR_ROLE, "appScopeId": scope}),
        json!({"principalId": REQUESTOR1_ID, "roleDefinitionId": AP_MANAGER_ROLE}),
        json!({"principalId": "nope", "roleDefinitionId": AP_MANAGER_ROLE, "appScopeId": scope}),
    ] {
        let resp = t.post(&path, body.clone()).await;
        assert_eq!(
            (resp.status, resp.code()),
            (StatusCode::BAD_REQUEST, "InvalidModel"),
            "{body}"
        );
    }
    assert_eq!(t.state().await, before);
    let first = t.post(&path, json!({"principalId": REQUESTOR1_ID, "roleDefinitionId": AP_MANAGER_ROLE, "appScopeId": scope})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let duplicate = t.post(&path, json!({"principalId": REQUESTOR1_ID, "roleDefinitionId": AP_MANAGER_ROLE, "appScopeId": scope})).await;
    assert_eq!(
        (duplicate.status, duplicate.code()),
        (StatusCode::BAD_REQUEST, "RoleAssignmentAlreadyExists")
    );
    // Rights are checked before references, so an outsider learns nothing about what exists.
    let outsider = t.token_for(REQUESTOR2);
    let probe = t
        .json_as(Method::POST, &path, Some(&outsider), Some(json!({"principalId": "5e0f0000-0000-4000-8000-000000000000", "roleDefinitionId": AP_MANAGER_ROLE, "appScopeId": scope})))
        .await;
    assert_eq!(probe.status, StatusCode::FORBIDDEN);
    // Tenant-wide roles only come from directory administrators.
    let owner = t.token_for(CATALOG_OWNER);
    let creator = t
        .json_as(Method::POST, &path, Some(&owner), Some(json!({"principalId": REQUESTOR1_ID, "roleDefinitionId": CATALOG_CREATOR_ROLE, "directoryScopeId": "/"})))
        .await;
    assert_eq!(creator.status, StatusCode::FORBIDDEN);
    let by_admin = t.post(&path, json!({"principalId": REQUESTOR1_ID, "roleDefinitionId": CATALOG_CREATOR_ROLE, "directoryScopeId": "/"})).await;
    assert_eq!(
        (by_admin.status, by_admin.body["appScopeId"].as_str()),
        (StatusCode::CREATED, Some("/"))
    );
}

#[tokio::test]
async fn listing_role_assignments_is_scoped_to_what_the_caller_may_read() {
    let t = TestTenant::start().await;
    let all = t.get(&format!("{RBAC_V1}/roleAssignments")).await;
    assert_eq!(all.body["value"].as_array().unwrap().len(), 6);
    snap!("roles_v1_assignments_list", all);
    let owner = t.token_for(CATALOG_OWNER);
    let mine = t
        .json_as(
            Method::GET,
            &format!("{RBAC_V1}/roleAssignments"),
            Some(&owner),
            None,
        )
        .await;
    let scopes: Vec<&str> = mine.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appScopeId"].as_str().unwrap())
        .collect();
    assert!(
        scopes
            .iter()
            .all(|s| *s == format!("/AccessPackageCatalog/{MARKETING}")),
        "{scopes:?}"
    );
    assert_eq!(scopes.len(), 5);
}
