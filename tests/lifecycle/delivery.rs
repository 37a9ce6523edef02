//! Delivery and what it grants: outcomes, reprocessing, held deliveries, expiry, additional access, held roles, guests.

use super::*;

#[tokio::test]
async fn assignments_expire_with_the_policy() {
    let t = TestTenant::start().await;
    let me = end_user(&t, REQUESTOR1);
    t.json_as(
        Method::POST,
        &format!("{EM_V1}/assignmentRequests"),
        Some(&me),
        Some(
            json!({"requestType": "userAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE}}),
        ),
    )
    .await;
    let list = t
        .get(&format!("{EM_V1}/assignments?$filter=state eq 'Delivered'"))
        .await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);
    assert!(members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    // The fixture policy expires assignments after 30 days.
    t.send(
        Method::POST,
        "/_emulator/clock",
        None,
        &[],
        Some(br#"{"advance": "P31D"}"#.to_vec()),
    )
    .await;
    let expired = t.get(&format!("{EM_BETA}/accessPackageAssignments")).await;
    assert_eq!(expired.body["value"][0]["assignmentState"], "Expired");
    assert!(!members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    let system = t
        .get(&format!(
            "{EM_V1}/assignmentRequests?$filter=requestType eq 'systemRemove'"
        ))
        .await;
    assert_eq!(
        system.body["value"].as_array().unwrap().len(),
        1,
        "{}",
        system.text
    );
}

#[tokio::test]
async fn failed_and_stuck_deliveries_and_reprocess() {
    let t = TestTenant::start().await;
    let settings = |body: &'static str| {
        let t = &t;
        async move {
            let r = t
                .send(
                    Method::POST,
                    "/_emulator/settings",
                    None,
                    &[],
                    Some(body.as_bytes().to_vec()),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
    };
    let add = json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}});
    settings(r#"{"delivery": "deliveryFailed"}"#).await;
    let id = t
        .post(&format!("{EM_V1}/assignmentRequests"), add.clone())
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(
        (
            failed.body["state"].as_str(),
            failed.body["status"].as_str()
        ),
        (Some("deliveryFailed"), Some("DeliveryFailed"))
    );
    assert!(!members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    // Reprocess retries under the current outcome: held in delivering, then delivered.
    settings(r#"{"delivery": "delivering"}"#).await;
    let again = t
        .post(
            &format!("{EM_V1}/assignmentRequests/{id}/reprocess"),
            json!({}),
        )
        .await;
    assert_eq!(
        (again.status, again.text.as_str()),
        (StatusCode::ACCEPTED, "")
    );
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentRequests/{id}"))
            .await
            .body["state"],
        "delivering"
    );
    settings(r#"{"delivery": "delivered"}"#).await;
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentRequests/{id}"))
            .await
            .body["state"],
        "delivered"
    );
    assert!(members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    // Delivered requests are not reprocessed; delivered assignments are.
    let refused = t
        .post(
            &format!("{EM_V1}/assignmentRequests/{id}/reprocess"),
            json!({}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::BAD_REQUEST, "RequestNotReprocessable")
    );
    let a = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await
        .body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reprocessed = t
        .post(&format!("{EM_V1}/assignments/{a}/reprocess"), json!({}))
        .await;
    assert_eq!(
        reprocessed.status,
        StatusCode::ACCEPTED,
        "{}",
        reprocessed.text
    );
    // additionalAccess: holders of Campaign who also hold Analytics (none yet, then one).
    let overlap = format!(
        "{EM_V1}/assignments/additionalAccess(accessPackageId='{CAMPAIGN_PACKAGE}',incompatibleAccessPackageId='{ANALYTICS_PACKAGE}')"
    );
    assert_eq!(t.get(&overlap).await.body["value"], json!([]));
    approval_policy(&t).await;
    let both = t.post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE, "targetId": REQUESTOR1_ID}})).await;
    assert_eq!(both.status, StatusCode::CREATED, "{}", both.text);
    let found = t.get(&overlap).await;
    assert_eq!(found.body["value"][0]["id"], a.as_str(), "{}", found.text);
    let same = t.get(&format!("{EM_V1}/assignments/additionalAccess(accessPackageId='{CAMPAIGN_PACKAGE}',incompatibleAccessPackageId='{CAMPAIGN_PACKAGE}')")).await;
    assert_eq!(same.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn governed_guests_are_blocked_then_deleted_when_their_access_ends() {
    let t = TestTenant::start().await;
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "partners", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allExternalUsers",
            "requestorSettings": {"enableTargetsToSelfAddAccess": true}}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let pid = policy.body["id"].as_str().unwrap().to_string();
    let added = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {
            "accessPackageId": ANALYTICS_PACKAGE, "assignmentPolicyId": pid, "target": {"email": "pat@fabrikam.example"}}}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let listed = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{ANALYTICS_PACKAGE}'&$expand=target"
        ))
        .await;
    let assignment = listed.body["value"][0]["id"].as_str().unwrap().to_string();
    let guest = listed.body["value"][0]["target"]["objectId"]
        .as_str()
        .unwrap()
        .to_string();
    let user = t.get(&format!("/v1.0/users/{guest}")).await;
    assert_eq!(
        (
            user.body["userType"].as_str(),
            user.body["accountEnabled"].as_bool()
        ),
        (Some("Guest"), Some(true)),
        "{}",
        user.text
    );
    // Settings: block sign-in and delete after 4 days.
    let settings = t.patch(&format!("{EM_V1}/settings"), json!({"externalUserLifecycleAction": "blockSignInAndDelete", "durationUntilExternalUserDeletedAfterBlocked": "P4D"})).await;
    assert!(settings.status.is_success(), "{}", settings.text);
    let removed = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminRemove", "assignment": {"id": assignment}}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::CREATED);
    let blocked = t.get(&format!("/v1.0/users/{guest}")).await;
    assert_eq!(blocked.body["accountEnabled"], false, "{}", blocked.text);
    move_clock(&t, r#"{"advance": "P5D"}"#).await;
    assert_eq!(
        t.get(&format!("/v1.0/users/{guest}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn delivery_outcomes_can_differ_per_package() {
    let t = TestTenant::start().await;
    approval_policy(&t).await;
    let body = format!(r#"{{"deliveryByPackage": {{"{CAMPAIGN_PACKAGE}": "deliveryFailed"}}}}"#);
    let set = t
        .send(
            Method::POST,
            "/_emulator/settings",
            None,
            &[],
            Some(body.into_bytes()),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(
        set.body["deliveryByPackage"][CAMPAIGN_PACKAGE],
        "deliveryFailed"
    );
    let add = |package: &str, policy: Option<&str>| {
        let mut assignment = json!({"accessPackageId": package, "targetId": REQUESTOR1_ID});
        if let Some(p) = policy {
            assignment["assignmentPolicyId"] = json!(p);
        }
        json!({"requestType": "adminAdd", "assignment": assignment})
    };
    let failed = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            add(
                CAMPAIGN_PACKAGE,
                Some("90000000-0000-4000-8000-000000000001"),
            ),
        )
        .await;
    let fine = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            add(ANALYTICS_PACKAGE, None),
        )
        .await;
    assert_eq!(
        (failed.status, fine.status),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{} {}",
        failed.text,
        fine.text
    );
    let state_of = |id: &Value| format!("{EM_V1}/assignmentRequests/{}", id.as_str().unwrap());
    assert_eq!(
        t.get(&state_of(&failed.body["id"])).await.body["state"],
        "deliveryFailed"
    );
    assert_eq!(
        t.get(&state_of(&fine.body["id"])).await.body["state"],
        "delivered"
    );
}

#[tokio::test]
async fn partial_deliveries_complete_on_reprocess() {
    let t = TestTenant::start().await;
    // The Campaign package grants membership; give it ownership too, so a partial delivery
    // (the first role only) is visible.
    let owner = t
        .post(
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/resourceRoleScopes"),
            json!({"role": {"originId": format!("Owner_{MARKETING_GROUP}"), "originSystem": "AadGroup"},
                   "scope": {"originId": MARKETING_GROUP, "originSystem": "AadGroup"}}),
        )
        .await;
    assert_eq!(owner.status, StatusCode::CREATED, "{}", owner.text);
    set_settings(&t, r#"{"delivery": "partiallyDelivered"}"#).await;
    let id = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let partial = t.get(&format!("{EM_V1}/assignmentRequests/{id}")).await;
    assert_eq!(
        (
            partial.body["state"].as_str(),
            partial.body["status"].as_str(),
            partial.body["completedDateTime"].is_string()
        ),
        (Some("partiallyDelivered"), Some("PartiallyDelivered"), true),
        "{}",
        partial.text
    );
    let listed = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await;
    let assignment = listed.body["value"][0].clone();
    assert_eq!(assignment["state"], "partiallyDelivered", "{}", listed.text);
    let me = REQUESTOR1_ID.to_string();
    assert!(members(&t).await.contains(&me));
    assert!(!owners(&t).await.contains(&me));
    // beta names the assignment's state in PascalCase.
    let beta = t
        .get(&format!(
            "{EM_BETA}/accessPackageAssignments/{}",
            assignment["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(beta.body["assignmentState"], "PartiallyDelivered");

    set_settings(&t, r#"{"delivery": "delivered"}"#).await;
    let again = t
        .post(
            &format!("{EM_V1}/assignmentRequests/{id}/reprocess"),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text);
    assert_eq!(
        t.get(&format!("{EM_V1}/assignmentRequests/{id}"))
            .await
            .body["state"],
        "delivered"
    );
    // The same assignment is completed, not a second one made.
    let after = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await;
    assert_eq!(
        (
            after.body["value"].as_array().map(Vec::len),
            &after.body["value"][0]["id"],
            after.body["value"][0]["state"].as_str()
        ),
        (Some(1), &assignment["id"], Some("delivered"))
    );
    assert!(owners(&t).await.contains(&me));
}

#[tokio::test]
async fn deliveries_can_wait_for_reads_or_virtual_time() {
    let t = TestTenant::start().await;
    let shown = set_settings(&t, r#"{"delivery": {"afterReads": 2}}"#).await;
    assert_eq!(shown["delivery"], json!({"afterReads": 2}));
    let id = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("{EM_V1}/assignmentRequests/{id}");
    // Listing does not count; two reads by id see it delivering, the third finds it delivered.
    let _ = t.get(&format!("{EM_V1}/assignmentRequests")).await;
    assert_eq!(t.get(&path).await.body["state"], "delivering");
    assert_eq!(t.get(&path).await.body["state"], "delivering");
    assert!(!members(&t).await.contains(&REQUESTOR1_ID.to_string()));
    assert_eq!(t.get(&path).await.body["state"], "delivered");
    assert!(members(&t).await.contains(&REQUESTOR1_ID.to_string()));

    // Virtual time: held until ten minutes have passed on the clock.
    let shown = set_settings(&t, r#"{"delivery": {"afterDuration": "PT10M"}}"#).await;
    assert_eq!(shown["delivery"], json!({"afterDuration": "PT10M"}));
    approval_policy(&t).await;
    let later = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE, "targetId": REQUESTOR1_ID}}))
        .await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.text);
    let later = later.body["id"].as_str().unwrap().to_string();
    let path = format!("{EM_V1}/assignmentRequests/{later}");
    assert_eq!(t.get(&path).await.body["state"], "delivering");
    move_clock(&t, r#"{"advance": "PT9M"}"#).await;
    assert_eq!(t.get(&path).await.body["state"], "delivering");
    move_clock(&t, r#"{"advance": "PT1M"}"#).await;
    assert_eq!(t.get(&path).await.body["state"], "delivered");

    let bad = t
        .send(
            Method::POST,
            "/_emulator/settings",
            None,
            &[],
            Some(br#"{"delivery": {"afterDuration": "soon"}}"#.to_vec()),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
}

#[tokio::test]
async fn additional_access_in_all_three_overloads() {
    let t = TestTenant::start().await;
    approval_policy(&t).await;
    for package in [CAMPAIGN_PACKAGE, ANALYTICS_PACKAGE] {
        let mut assignment = json!({"accessPackageId": package, "targetId": REQUESTOR1_ID});
        if package == CAMPAIGN_PACKAGE {
            assignment["assignmentPolicyId"] = json!("90000000-0000-4000-8000-000000000001");
        }
        let added = t
            .post(
                &format!("{EM_V1}/assignmentRequests"),
                json!({"requestType": "adminAdd", "assignment": assignment}),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    }
    let all = format!("{EM_V1}/assignments/additionalAccess()");
    assert_eq!(t.get(&all).await.body["value"], json!([]));
    // Declared incompatible after Requestor One came to hold both.
    let declared = t
        .post(
            &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/incompatibleAccessPackages/$ref"),
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/identityGovernance/entitlementManagement/accessPackages('{ANALYTICS_PACKAGE}')")}),
        )
        .await;
    assert_eq!(declared.status, StatusCode::NO_CONTENT, "{}", declared.text);
    let every = t
        .get(&format!("{all}?$expand=accessPackage&$select=id"))
        .await;
    assert_eq!(every.status, StatusCode::OK, "{}", every.text);
    let ids: Vec<&str> = every.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["accessPackage"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![CAMPAIGN_PACKAGE, ANALYTICS_PACKAGE],
        "{}",
        every.text
    );
    // One argument: that package's holders; the incompatibility counts in both directions.
    for package in [CAMPAIGN_PACKAGE, ANALYTICS_PACKAGE] {
        let one = t
            .get(&format!(
                "{EM_V1}/assignments/additionalAccess(accessPackageId='{package}')?$expand=accessPackage"
            ))
            .await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.text);
        assert_eq!(
            one.body["value"].as_array().map(Vec::len),
            Some(1),
            "{}",
            one.text
        );
        assert_eq!(one.body["value"][0]["accessPackage"]["id"], package);
    }
    let half = t
        .get(&format!(
            "{EM_V1}/assignments/additionalAccess(incompatibleAccessPackageId='{ANALYTICS_PACKAGE}')"
        ))
        .await;
    assert_eq!(half.status, StatusCode::BAD_REQUEST, "{}", half.text);
}

#[tokio::test]
async fn beta_assignment_resource_roles_follow_delivered_access() {
    let t = TestTenant::start().await;
    let list = format!("{EM_BETA}/accessPackageAssignmentResourceRoles");
    assert_eq!(t.get(&list).await.body["value"], json!([]));
    let added = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let mine = t
        .get(&format!(
            "{list}?$expand=accessPackageSubject&$filter=accessPackageSubject/objectId eq '{REQUESTOR1_ID}'"
        ))
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    snap!("lifecycle_beta_assignment_resource_roles", mine);
    let id = mine.body["value"][0]["id"].as_str().unwrap().to_string();
    let one = t
        .get(&format!("{list}/{id}?$expand=accessPackageAssignments"))
        .await;
    assert_eq!(
        one.body["accessPackageAssignments"][0]["accessPackageId"], CAMPAIGN_PACKAGE,
        "{}",
        one.text
    );
    let nobody = t
        .get(&format!(
            "{list}?$filter=accessPackageSubject/objectId eq '20000000-0000-4000-8000-000000000006'"
        ))
        .await;
    assert_eq!(nobody.body["value"], json!([]));
    // v1.0 does not expose them (beta only:
    // https://learn.microsoft.com/graph/api/entitlementmanagement-list-accesspackageassignmentresourceroles?view=graph-rest-beta).
    let v1 = t
        .get(&format!("{EM_V1}/accessPackageAssignmentResourceRoles"))
        .await;
    assert!(v1.status.is_client_error(), "{}", v1.text);
    // Removal takes the role away.
    let assignment = one.body["accessPackageAssignments"][0]["id"].clone();
    let removed = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminRemove", "assignment": {"id": assignment}}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::CREATED, "{}", removed.text);
    assert_eq!(t.get(&list).await.body["value"], json!([]));
    assert_eq!(
        t.get(&format!("{list}/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn delivered_app_and_site_roles_are_observable() {
    const EXPENSE_PORTAL: &str = "40000000-0000-4000-8000-000000000004";
    const APPROVER_ROLE: &str = "42000000-0000-4000-8000-000000000002";
    const SITE: &str = "https://contoso.sharepoint.com/sites/Marketing";
    let t = TestTenant::start().await;
    // Onboard the app and the site into General, then give Campaign an app role and a site role.
    for (system, origin) in [
        ("AadApplication", EXPENSE_PORTAL),
        ("SharePointOnline", SITE),
    ] {
        let onboarded = t
            .post(
                &format!("{EM_V1}/resourceRequests"),
                json!({"requestType": "adminAdd", "resource": {"originId": origin, "originSystem": system}, "catalog": {"id": GENERAL}}),
            )
            .await;
        assert_eq!(onboarded.status, StatusCode::CREATED, "{}", onboarded.text);
    }
    for (system, role, scope) in [
        ("AadApplication", APPROVER_ROLE, EXPENSE_PORTAL),
        ("SharePointOnline", "5", SITE),
    ] {
        let added = t
            .post(
                &format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/resourceRoleScopes"),
                json!({"role": {"originId": role, "originSystem": system},
                       "scope": {"originId": scope, "originSystem": system}}),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    }
    let user_roles = format!("/v1.0/users/{REQUESTOR1_ID}/appRoleAssignments");
    assert_eq!(t.get(&user_roles).await.body["value"], json!([]));
    let added = t
        .post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd", "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": REQUESTOR1_ID, "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let held = t.get(&user_roles).await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.text);
    snap!("lifecycle_user_app_role_assignments", held);
    let assigned_to = t
        .get(&format!(
            "/v1.0/servicePrincipals/{EXPENSE_PORTAL}/appRoleAssignedTo"
        ))
        .await;
    assert_eq!(
        (
            assigned_to.body["value"][0]["principalId"].as_str(),
            assigned_to.body["value"][0]["appRoleId"].as_str()
        ),
        (Some(REQUESTOR1_ID), Some(APPROVER_ROLE)),
        "{}",
        assigned_to.text
    );
    // The control API shows everything the user holds, sites included.
    let access_path = format!("/_emulator/access?user={REQUESTOR1_ID}");
    let access = t.send(Method::GET, &access_path, None, &[], None).await;
    let roles: Vec<(String, String)> = access.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["originSystem"].as_str().unwrap().to_string(),
                r["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            ("AadGroup".to_string(), "Member".to_string()),
            ("AadApplication".to_string(), "Expense Approver".to_string()),
            ("SharePointOnline".to_string(), "Viewers".to_string()),
        ],
        "{}",
        access.text
    );
    let unknown = t
        .get("/v1.0/users/20000000-0000-4000-8000-0000000000ff/appRoleAssignments")
        .await;
    assert_eq!(unknown.code(), "Request_ResourceNotFound");
    // Removal takes them all away.
    let assignment = t
        .get(&format!(
            "{EM_V1}/assignments?$filter=accessPackage/id eq '{CAMPAIGN_PACKAGE}'"
        ))
        .await
        .body["value"][0]["id"]
        .clone();
    let removed = t
        .post(
            &format!("{EM_V1}/assignmentRequests"),
            json!({"requestType": "adminRemove", "assignment": {"id": assignment}}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::CREATED, "{}", removed.text);
    assert_eq!(t.get(&user_roles).await.body["value"], json!([]));
    let after = t.send(Method::GET, &access_path, None, &[], None).await;
    assert_eq!(after.body["value"], json!([]));
}
