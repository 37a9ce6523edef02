//! Connected organizations and sponsors, settings, and incompatible packages and groups.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::snap;

const TENANT_SOURCE: &str = "11111111-2222-4333-8444-555555555555";
const LEAD: &str = "20000000-0000-4000-8000-000000000007";
const MARKETING_GROUP: &str = "30000000-0000-4000-8000-000000000001";

#[tokio::test]
async fn connected_organization_lifecycle() {
    let t = TestTenant::start().await;
    let path = format!("{EM_V1}/connectedOrganizations");
    let created = t
        .post(&path, json!({"displayName": "Connected organization name", "description": "Connected organization description",
            "identitySources": [{"@odata.type": "#microsoft.graph.domainIdentitySource", "domainName": "example.com", "displayName": "example.com"}], "state": "proposed"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    snap!("organizations_v1_create", created);
    let id = created.body["id"].as_str().unwrap().to_string();
    let patched = t.patch(&format!("{path}/{id}"), json!({"displayName": "Connected organization new name", "state": "configured",
        "identitySources": [{"@odata.type": "microsoft.graph.azureActiveDirectoryTenant", "tenantId": TENANT_SOURCE, "displayName": "Wingtip Toys Co"}]})).await;
    assert_eq!(
        patched.status,
        StatusCode::ACCEPTED,
        "PATCH answers 202 with the body (Graph API reference: Update connectedOrganization, v1.0)"
    );
    assert_eq!(patched.body["state"], "configured");
    let found = t.get(&format!("{path}?$filter=identitySources/any(is:is/microsoft.graph.azureActiveDirectoryTenant/tenantId eq '{TENANT_SOURCE}')")).await;
    assert_eq!(
        found.body["value"].as_array().unwrap().len(),
        1,
        "{}",
        found.text
    );
    let beta = t
        .get(&format!("{EM_BETA}/connectedOrganizations/{id}"))
        .await;
    assert_eq!(beta.body["state"], "Configured");

    // Sponsors by $ref.
    let sponsors = format!("{path}/{id}/externalSponsors");
    let add = t
        .post(
            &format!("{sponsors}/$ref"),
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{LEAD}")}),
        )
        .await;
    assert_eq!(add.status, StatusCode::NO_CONTENT);
    let group = t.post(&format!("{sponsors}/$ref"), json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/groups/{MARKETING_GROUP}")})).await;
    assert_eq!(group.status, StatusCode::NO_CONTENT);
    let nobody = t.post(&format!("{sponsors}/$ref"), json!({"@odata.id": "https://graph.microsoft.com/v1.0/users/5e0f0000-0000-4000-8000-000000000000"})).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    let listed = t.get(&sponsors).await;
    assert_eq!(listed.body["value"][0]["id"], LEAD);
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 2);
    assert_eq!(
        t.delete(&format!("{sponsors}/{LEAD}/$ref")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get(&format!("{path}/{id}/internalSponsors")).await.body["value"],
        json!([])
    );

    // A policy may now name it; while it does, the organization stays.
    let policy = t.post(&format!("{EM_V1}/assignmentPolicies"), json!({"displayName": "partners", "accessPackage": {"id": CAMPAIGN_PACKAGE},
        "allowedTargetScope": "specificConnectedOrganizationUsers",
        "specificAllowedTargets": [{"@odata.type": "#microsoft.graph.connectedOrganizationMembers", "connectedOrganizationId": id}]})).await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    assert_eq!(
        t.delete(&format!("{path}/{id}")).await.code(),
        "InvalidModel"
    );
    t.delete(&format!(
        "{EM_V1}/assignmentPolicies/{}",
        policy.body["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(
        t.delete(&format!("{path}/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get(&format!("{path}/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn organizations_and_settings_are_for_governance_administrators() {
    let t = TestTenant::start().await;
    let owner = t.token_for(CATALOG_OWNER);
    let create = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/connectedOrganizations"),
            Some(&owner),
            Some(json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);
    let read = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/settings"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::FORBIDDEN);
    let iga = t.token_for(IGA);
    let ok = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/connectedOrganizations"),
            Some(&iga),
            Some(json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let reader = t.token_for(READER);
    assert_eq!(
        t.json_as(
            Method::GET,
            &format!("{EM_V1}/connectedOrganizations"),
            Some(&reader),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    let bad = t.post(&format!("{EM_V1}/connectedOrganizations"), json!({"displayName": "x", "identitySources": [{"@odata.type": "#microsoft.graph.azureActiveDirectoryTenant", "tenantId": "nope"}]})).await;
    assert_eq!(bad.code(), "InvalidModel");
}

#[tokio::test]
async fn settings_singleton() {
    let t = TestTenant::start().await;
    let v1 = t.get(&format!("{EM_V1}/settings")).await;
    assert_eq!(v1.status, StatusCode::OK);
    snap!("settings_v1_get", v1);
    let patched = t
        .patch(
            &format!("{EM_V1}/settings"),
            json!({"externalUserLifecycleAction": "None"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::NO_CONTENT);
    let beta = t.get(&format!("{EM_BETA}/settings")).await;
    assert_eq!(
        beta.body,
        json!({"@odata.context": beta.body["@odata.context"], "id": "singleton", "daysUntilExternalUserDeletedAfterBlocked": 30, "externalUserLifecycleAction": "None"})
    );
    let days = t
        .patch(
            &format!("{EM_BETA}/settings"),
            json!({"daysUntilExternalUserDeletedAfterBlocked": 7}),
        )
        .await;
    assert_eq!(days.status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.get(&format!("{EM_V1}/settings")).await.body["durationUntilExternalUserDeletedAfterBlocked"],
        "P7D"
    );
    let query = t.get(&format!("{EM_V1}/settings?$select=id")).await;
    assert_eq!(
        query.status,
        StatusCode::BAD_REQUEST,
        "settings supports no query options"
    );
    let bad = t
        .patch(
            &format!("{EM_V1}/settings"),
            json!({"externalUserLifecycleAction": "explode"}),
        )
        .await;
    assert_eq!(bad.code(), "InvalidModel");
}

#[tokio::test]
async fn incompatible_packages_and_groups() {
    let t = TestTenant::start().await;
    let base = format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}");
    let add = t.post(&format!("{base}/incompatibleAccessPackages/$ref"),
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/identityGovernance/entitlementManagement/accessPackages/{ANALYTICS_PACKAGE}")})).await;
    assert_eq!(add.status, StatusCode::NO_CONTENT);
    let listed = t.get(&format!("{base}/incompatibleAccessPackages")).await;
    assert_eq!(listed.body["value"][0]["id"], ANALYTICS_PACKAGE);
    let inverse = t.get(&format!("{EM_V1}/accessPackages/{ANALYTICS_PACKAGE}/accessPackagesIncompatibleWith?$select=id,displayName")).await;
    assert_eq!(
        inverse.body["value"],
        json!([{"@odata.type": "#microsoft.graph.accessPackage", "id": CAMPAIGN_PACKAGE, "displayName": "Marketing Campaign"}])
    );
    let itself = t.post(&format!("{base}/incompatibleAccessPackages/$ref"), json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/identityGovernance/entitlementManagement/accessPackages('{CAMPAIGN_PACKAGE}')")})).await;
    assert_eq!(itself.code(), "InvalidModel");
    let group = t.post(&format!("{base}/incompatibleGroups/$ref"), json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/groups/{MARKETING_GROUP}")})).await;
    assert_eq!(group.status, StatusCode::NO_CONTENT);
    let groups = t.get(&format!("{base}/incompatibleGroups")).await;
    assert_eq!(
        groups.body["value"][0]["displayName"],
        "Marketing resources"
    );
    let expanded = t.get(&format!("{base}?$expand=incompatibleAccessPackages($select=displayName),incompatibleGroups($select=id)")).await;
    assert_eq!(
        expanded.body["incompatibleAccessPackages"],
        json!([{"displayName": "Campaign Analytics"}])
    );
    assert_eq!(
        expanded.body["incompatibleGroups"],
        json!([{"id": MARKETING_GROUP}])
    );
    assert_eq!(
        t.delete(&format!("{base}/incompatibleGroups/{MARKETING_GROUP}/$ref"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.delete(&format!("{base}/incompatibleGroups/{MARKETING_GROUP}/$ref"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Deleting the other package removes it from the list.
    assert_eq!(
        t.delete(&format!("{EM_V1}/accessPackages/{ANALYTICS_PACKAGE}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get(&format!("{base}/incompatibleAccessPackages"))
            .await
            .body["value"],
        json!([])
    );
    let beta = t
        .get(&format!(
            "{EM_BETA}/accessPackages/{CAMPAIGN_PACKAGE}/incompatibleAccessPackages"
        ))
        .await;
    assert_eq!(beta.status, StatusCode::OK);
}
