//! Catalog resources (resource requests, roles, scopes) and access packages' role scopes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::snap;

const MARKETING_GROUP: &str = "30000000-0000-4000-8000-000000000001";
const DYNAMIC_GROUP: &str = "30000000-0000-4000-8000-000000000002";
const EXPENSE_PORTAL: &str = "40000000-0000-4000-8000-000000000004";
const SITE: &str = "https://contoso.sharepoint.com/sites/Marketing";
const FIXTURE_RESOURCE: &str = "80000000-0000-4000-8000-000000000001";

fn add_v1(origin_system: &str, origin_id: &str, catalog: &str) -> Value {
    json!({"requestType": "adminAdd", "resource": {"originId": origin_id, "originSystem": origin_system}, "catalog": {"id": catalog}})
}

async fn as_user(
    t: &TestTenant,
    persona: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Resp {
    let token = t.token_for(persona);
    t.json_as(method, path, Some(&token), body).await
}

#[tokio::test]
async fn a_catalog_owner_onboards_a_group_they_own() {
    let t = TestTenant::start().await;
    let resp = as_user(
        &t,
        CATALOG_OWNER,
        Method::POST,
        &format!("{EM_V1}/resourceRequests"),
        Some(add_v1("AadGroup", MARKETING_GROUP, MARKETING)),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    assert_eq!(
        (
            resp.body["requestType"].as_str(),
            resp.body["state"].as_str()
        ),
        (Some("adminAdd"), Some("delivered"))
    );
    snap!("resources_v1_add_group", resp);
    let resources = t
        .get(&format!(
            "{EM_V1}/catalogs/{MARKETING}/resources?$expand=roles,scopes"
        ))
        .await;
    assert_eq!(resources.status, StatusCode::OK);
    snap!("resources_v1_list_expand_roles_scopes", resources);
    let roles: Vec<&str> = resources.body["value"][0]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["originId"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            format!("Member_{MARKETING_GROUP}"),
            format!("Owner_{MARKETING_GROUP}")
        ]
    );
    let again = as_user(
        &t,
        CATALOG_OWNER,
        Method::POST,
        &format!("{EM_V1}/resourceRequests"),
        Some(add_v1("AadGroup", MARKETING_GROUP, MARKETING)),
    )
    .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::BAD_REQUEST, "ResourceAlreadyOnboarded")
    );
    let listed = t
        .get(&format!(
            "{EM_V1}/resourceRequests?$filter=catalog/id eq '{MARKETING}'"
        ))
        .await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn beta_onboards_applications_and_sites() {
    let t = TestTenant::start().await;
    let owner = t.token_for(CATALOG_OWNER);
    let app = t
        .json_as(Method::POST, &format!("{EM_BETA}/accessPackageResourceRequests"), Some(&owner),
            Some(json!({"catalogId": MARKETING, "requestType": "AdminAdd", "justification": "", "accessPackageResource": {"originId": EXPENSE_PORTAL, "originSystem": "AadApplication"}})))
        .await;
    assert_eq!(app.status, StatusCode::CREATED);
    snap!("resources_beta_add_application", app);
    let site = t
        .json_as(Method::POST, &format!("{EM_BETA}/accessPackageResourceRequests"), Some(&owner),
            Some(json!({"catalogId": MARKETING, "requestType": "AdminAdd", "accessPackageResource": {"displayName": "Marketing", "originId": SITE, "originSystem": "SharePointOnline", "resourceType": "SharePoint Online Site"}})))
        .await;
    assert_eq!(site.status, StatusCode::CREATED);
    let resources = t
        .get(&format!(
            "{EM_BETA}/accessPackageCatalogs/{MARKETING}/accessPackageResources"
        ))
        .await;
    snap!("resources_beta_list", resources);
    let site_id = resources.body["value"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The roles of a site, selected (Example 2 of
    // https://learn.microsoft.com/graph/api/accesspackagecatalog-list-accesspackageresourceroles?view=graph-rest-beta).
    let roles = t
        .get(&format!("{EM_BETA}/accessPackageCatalogs/{MARKETING}/accessPackageResourceRoles?$filter=(originSystem+eq+%27SharePointOnline%27+and+accessPackageResource/id+eq+%27{site_id}%27)&$select=displayName,originId&$orderby=displayName"))
        .await;
    assert_eq!(
        roles.body["value"],
        json!([{"displayName": "Contributors", "originId": "4"}, {"displayName": "Creators", "originId": "3"}, {"displayName": "Viewers", "originId": "5"}])
    );
    let app_roles = t.get(&format!("{EM_V1}/catalogs/{MARKETING}/resourceRoles?$filter=originSystem eq 'AadApplication'&$select=displayName")).await;
    assert_eq!(
        app_roles.body["value"],
        json!([{"displayName": "Expense Submitter"}, {"displayName": "Expense Approver"}])
    );
}

#[tokio::test]
async fn onboarding_needs_the_catalog_role_and_the_resource() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let path = format!("{EM_V1}/resourceRequests");
    let iga = as_user(
        &t,
        IGA,
        Method::POST,
        &path,
        Some(add_v1("AadGroup", MARKETING_GROUP, MARKETING)),
    )
    .await;
    assert_eq!(
        iga.status,
        StatusCode::BAD_REQUEST,
        "an IGA who does not own the group"
    );
    snap!("resources_caller_not_owner", iga);
    let manager = as_user(
        &t,
        AP_MANAGER,
        Method::POST,
        &path,
        Some(add_v1("AadGroup", MARKETING_GROUP, MARKETING)),
    )
    .await;
    assert_eq!(
        (manager.status, manager.code()),
        (StatusCode::FORBIDDEN, "UnAuthorized"),
        "an access package manager may not add resources"
    );
    let unknown = t
        .post(
            &path,
            add_v1(
                "AadGroup",
                "5e0f0000-0000-4000-8000-000000000000",
                MARKETING,
            ),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "ResourceNotFound")
    );
    let no_origin = t.post(&path, json!({"requestType": "adminAdd", "resource": {"displayName": "x"}, "catalog": {"id": MARKETING}})).await;
    assert_eq!(
        (no_origin.status, no_origin.code()),
        (StatusCode::BAD_REQUEST, "InvalidModel")
    );
    let bad_system = t
        .post(&path, add_v1("Ldap", MARKETING_GROUP, MARKETING))
        .await;
    assert_eq!(bad_system.code(), "InvalidModel");
    let beta_on_v1 = t
        .post(
            &path,
            json!({"requestType": "adminAdd", "accessPackageResource": {}, "catalogId": MARKETING}),
        )
        .await;
    assert_eq!(beta_on_v1.code(), "InvalidModel");
    let app = t
        .json_as(
            Method::POST,
            &path,
            Some(&t.token_for(AUTOMATION_APP)),
            Some(add_v1("AadGroup", MARKETING_GROUP, MARKETING)),
        )
        .await;
    assert_eq!(
        app.code(),
        "CallerNotResourceOwner",
        "an app needs Group.ReadWrite.All too"
    );
    assert_eq!(t.state().await, before);
    // A Global Administrator may modify any group.
    assert_eq!(
        t.post(&path, add_v1("AadGroup", MARKETING_GROUP, MARKETING))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn role_scopes_in_both_versions() {
    let t = TestTenant::start().await;
    // The fixture's end state of the tutorial: the Member role of "Marketing resources".
    let expanded = t.get(&format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}?$expand=resourceRoleScopes($expand=role,scope)")).await;
    assert_eq!(expanded.status, StatusCode::OK);
    assert_eq!(
        expanded.body["resourceRoleScopes"][0]["role"]["originId"],
        format!("Member_{MARKETING_GROUP}")
    );
    assert_eq!(
        expanded.body["resourceRoleScopes"][0]["scope"]["isRootScope"],
        true
    );
    snap!("role_scopes_v1_expand", expanded);
    let beta = t.get(&format!("{EM_BETA}/accessPackages/{CAMPAIGN_PACKAGE}?$expand=accessPackageResourceRoleScopes($expand=accessPackageResourceRole,accessPackageResourceScope)")).await;
    assert_eq!(
        beta.body["accessPackageResourceRoleScopes"][0]["accessPackageResourceRole"]["displayName"],
        "Member"
    );
    let catalog = t
        .get(&format!(
            "{EM_V1}/catalogs/{GENERAL}?$expand=resources($select=displayName)"
        ))
        .await;
    assert_eq!(
        catalog.body["resources"],
        json!([{"displayName": "Marketing resources"}])
    );
    snap!("role_scopes_beta_expand", beta);

    // Add the Owner role by ids (the shape of Example 3 of
    // https://learn.microsoft.com/graph/api/accesspackage-post-resourcerolescopes?view=graph-rest-1.0).
    let roles = t.get(&format!("{EM_V1}/catalogs/{GENERAL}/resourceRoles?$filter=originSystem eq 'AadGroup' and resource/id eq '{FIXTURE_RESOURCE}'&$expand=resource")).await;
    let owner_role = roles.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["displayName"] == "Owner")
        .unwrap()
        .clone();
    assert_eq!(owner_role["resource"]["id"], FIXTURE_RESOURCE);
    let scope = t
        .get(&format!(
            "{EM_V1}/catalogs/{GENERAL}/resources/{FIXTURE_RESOURCE}/scopes"
        ))
        .await
        .body["value"][0]
        .clone();
    let path = format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/resourceRoleScopes");
    let added = t.post(&path, json!({"role": {"id": owner_role["id"], "displayName": "Owner", "originSystem": "AadGroup", "originId": owner_role["originId"], "resource": {"id": FIXTURE_RESOURCE}}, "scope": {"id": scope["id"], "originSystem": "AadGroup", "isRootScope": true}})).await;
    assert_eq!(added.status, StatusCode::CREATED);
    assert_eq!(
        added.body["id"],
        format!(
            "{}_{}",
            owner_role["id"].as_str().unwrap(),
            scope["id"].as_str().unwrap()
        )
    );
    snap!("role_scopes_v1_add", added);
    let duplicate = t
        .post(
            &path,
            json!({"role": {"id": owner_role["id"]}, "scope": {"id": scope["id"]}}),
        )
        .await;
    assert_eq!(
        (duplicate.status, duplicate.code()),
        (StatusCode::BAD_REQUEST, "ResourceRoleScopeAlreadyExists")
    );
    let listed = t.get(&path).await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 2);
    let id = added.body["id"].as_str().unwrap();
    assert_eq!(
        t.delete(&format!("{path}/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.delete(&format!("{path}/{id}")).await.status,
        StatusCode::NOT_FOUND
    );

    // beta by origin ids only (Example 1 of
    // https://learn.microsoft.com/graph/api/accesspackage-post-accesspackageresourcerolescopes?view=graph-rest-beta),
    // into a package of the same catalog.
    let package = t
        .post(
            &format!("{EM_BETA}/accessPackages"),
            json!({"catalogId": GENERAL, "displayName": "beta pkg"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let beta_added = t
        .post(&format!("{EM_BETA}/accessPackages/{package}/accessPackageResourceRoleScopes"),
            json!({"accessPackageResourceRole": {"originId": format!("Member_{MARKETING_GROUP}"), "displayName": "Member", "originSystem": "AadGroup", "accessPackageResource": {"id": FIXTURE_RESOURCE, "resourceType": "Security Group", "originId": MARKETING_GROUP, "originSystem": "AadGroup"}},
                   "accessPackageResourceScope": {"originId": MARKETING_GROUP, "originSystem": "AadGroup"}}))
        .await;
    assert_eq!(beta_added.status, StatusCode::CREATED);
    snap!("role_scopes_beta_add", beta_added);
}

#[tokio::test]
async fn role_scope_refusals() {
    let t = TestTenant::start().await;
    let before = t.state().await;
    let path = format!("{EM_V1}/accessPackages/{ANALYTICS_PACKAGE}/resourceRoleScopes");
    // The group is in General; Campaign Analytics is in Marketing.
    let other_catalog = t.post(&path, json!({"role": {"originId": format!("Member_{MARKETING_GROUP}"), "originSystem": "AadGroup"}, "scope": {"originId": MARKETING_GROUP}})).await;
    assert_eq!(
        (other_catalog.status, other_catalog.code()),
        (StatusCode::NOT_FOUND, "RoleNotFound")
    );
    snap!("role_scopes_role_not_found", other_catalog);
    let unknown_role = t
        .post(
            &path,
            json!({"role": {"id": "5e0f0000-0000-4000-8000-000000000000"}, "scope": {}}),
        )
        .await;
    assert_eq!(unknown_role.code(), "RoleNotFound");
    let reader = as_user(
        &t,
        REQUESTOR2,
        Method::POST,
        &path,
        Some(json!({"role": {"originId": "x"}})),
    )
    .await;
    assert_eq!(reader.status, StatusCode::FORBIDDEN);
    assert_eq!(t.state().await, before);

    // A dynamic group has only an Owner role (issue decision; the group roles of
    // https://learn.microsoft.com/graph/api/accesspackagecatalog-list-resourceroles?view=graph-rest-1.0).
    assert_eq!(
        t.post(
            &format!("{EM_V1}/resourceRequests"),
            add_v1("AadGroup", DYNAMIC_GROUP, MARKETING)
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let member = t.post(&path, json!({"role": {"originId": format!("Member_{DYNAMIC_GROUP}"), "originSystem": "AadGroup"}, "scope": {"originId": DYNAMIC_GROUP}})).await;
    assert_eq!(member.code(), "RoleNotFound");
    let owner = t.post(&path, json!({"role": {"originId": format!("Owner_{DYNAMIC_GROUP}"), "originSystem": "AadGroup"}, "scope": {"originId": DYNAMIC_GROUP}})).await;
    assert_eq!(owner.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_resource_in_use_cannot_be_removed() {
    let t = TestTenant::start().await;
    let remove = json!({"catalogId": GENERAL, "requestType": "AdminRemove", "accessPackageResource": {"id": FIXTURE_RESOURCE}});
    let refused = t
        .post(
            &format!("{EM_BETA}/accessPackageResourceRequests"),
            remove.clone(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    snap!("resources_remove_in_use", refused);
    let role_scope = t
        .get(&format!(
            "{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/resourceRoleScopes"
        ))
        .await
        .body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        t.delete(&format!(
            "{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/resourceRoleScopes/{role_scope}"
        ))
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let removed = t
        .post(&format!("{EM_BETA}/accessPackageResourceRequests"), remove)
        .await;
    assert_eq!(
        (removed.status, removed.body["requestType"].as_str()),
        (StatusCode::CREATED, Some("AdminRemove"))
    );
    let resources = t
        .get(&format!("{EM_V1}/catalogs/{GENERAL}/resources"))
        .await;
    assert_eq!(resources.body["value"], json!([]));
    let gone = t
        .get(&format!(
            "{EM_V1}/catalogs/{GENERAL}/resources/{FIXTURE_RESOURCE}"
        ))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn resource_roles_need_an_origin_system_filter() {
    let t = TestTenant::start().await;
    let without = t
        .get(&format!("{EM_V1}/catalogs/{GENERAL}/resourceRoles"))
        .await;
    assert_eq!(
        (without.status, without.code()),
        (StatusCode::BAD_REQUEST, "InvalidFilter")
    );
    let with = t.get(&format!("{EM_BETA}/accessPackageCatalogs/{GENERAL}/accessPackageResourceRoles?$filter=originSystem eq 'AadGroup'")).await;
    assert_eq!(with.body["value"].as_array().unwrap().len(), 2);
    let scopes = t
        .get(&format!(
            "{EM_BETA}/accessPackageCatalogs/{GENERAL}/accessPackageResourceScopes"
        ))
        .await;
    assert_eq!(scopes.body["value"][0]["isRootScope"], true);
    let by_origin = t
        .get(&format!(
            "{EM_V1}/catalogs/{GENERAL}/resources?$filter=startswith(originId,'30000000')"
        ))
        .await;
    assert_eq!(by_origin.body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn deleting_an_empty_catalog_takes_its_resources() {
    let t = TestTenant::start().await;
    let catalog = t
        .post(&format!("{EM_V1}/catalogs"), json!({"displayName": "temp"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        t.post(
            &format!("{EM_V1}/resourceRequests"),
            add_v1("AadGroup", MARKETING_GROUP, &catalog)
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert!(t.state().await.contains(&catalog));
    assert_eq!(
        t.delete(&format!("{EM_V1}/catalogs/{catalog}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let state: Value = serde_json::from_str(&t.state().await).unwrap();
    assert!(
        state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["catalogId"] != catalog.as_str())
    );
}

#[tokio::test]
async fn root_resource_collections_and_environments() {
    let t = TestTenant::start().await;
    let all = t.get(&format!("{EM_V1}/resources?$expand=roles")).await;
    assert_eq!(all.body["value"][0]["id"], FIXTURE_RESOURCE);
    assert_eq!(all.body["value"][0]["roles"].as_array().unwrap().len(), 2);
    let one = t
        .get(&format!(
            "{EM_BETA}/accessPackageResources/{FIXTURE_RESOURCE}"
        ))
        .await;
    assert_eq!(one.body["resourceType"], "Security Group");
    let scopes = t
        .get(&format!("{EM_V1}/resources/{FIXTURE_RESOURCE}/scopes"))
        .await;
    assert_eq!(scopes.body["value"][0]["isRootScope"], true);
    // A catalog owner of Marketing does not see General's resources.
    let owner = t.token_for(CATALOG_OWNER);
    let scoped = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/resources"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(scoped.body["value"], json!([]));
    let envs = t
        .get(&format!(
            "{EM_V1}/resourceEnvironments?$filter=originSystem eq 'SharePointOnline'"
        ))
        .await;
    assert_eq!(envs.status, StatusCode::OK);
    snap!("resources_environments", envs);
    let unfiltered = t
        .get(&format!("{EM_BETA}/accessPackageResourceEnvironments"))
        .await;
    assert_eq!(
        unfiltered.code(),
        "InvalidFilter",
        "the docs require the originSystem filter"
    );
}
