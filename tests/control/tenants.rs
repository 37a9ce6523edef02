//! Many tenants: creation, isolation, deletion, copies, snapshots, parallel use and eventual consistency.

use super::*;

#[tokio::test]
async fn tenants_are_created_isolated_and_deleted() {
    let t = TestTenant::start().await;
    let made = t
        .send(Method::POST, "/_emulator/tenants", None, &[], None)
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let id = made.body["id"].as_str().unwrap().to_string();
    assert_ne!(id, "10000000-0000-4000-8000-000000000000");
    let chosen = "10000000-0000-4000-8000-0000000000aa";
    let named = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"id": chosen})),
        )
        .await;
    assert_eq!(named.body["id"], chosen, "{}", named.text);
    let again = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"id": chosen})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    // A token for the new tenant writes there and only there.
    let minted = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": ADMIN, "tenant": id})),
        )
        .await;
    let token = minted.body["accessToken"]
        .as_str()
        .or_else(|| minted.body["access_token"].as_str())
        .unwrap_or_else(|| panic!("{}", minted.text))
        .to_string();
    let created = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/catalogs"),
            Some(&token),
            Some(json!({"displayName": "Only here"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let find = format!("{EM_V1}/catalogs?$filter=displayName eq 'Only here'");
    let there = t.json_as(Method::GET, &find, Some(&token), None).await;
    assert_eq!(there.body["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(t.get(&find).await.body["value"], json!([]));
    let listed = t
        .send(Method::GET, "/_emulator/tenants", None, &[], None)
        .await;
    assert_eq!(listed.body["value"].as_array().map(Vec::len), Some(3));
    // Deleting it: its tokens stop working; the default tenant cannot go.
    let gone = t
        .send(
            Method::DELETE,
            &format!("/_emulator/tenants/{id}"),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let refused = t.json_as(Method::GET, &find, Some(&token), None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    let default = t
        .send(
            Method::DELETE,
            "/_emulator/tenants/10000000-0000-4000-8000-000000000000",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(default.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn with_auth_off_a_header_picks_the_tenant() {
    let t = TestTenant::auth_off().await;
    let chosen = "10000000-0000-4000-8000-0000000000bb";
    let made = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"id": chosen})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let header = [("x-emulator-tenant", chosen)];
    let body = serde_json::to_vec(&json!({"displayName": "Header tenant"})).unwrap();
    let created = t
        .send(
            Method::POST,
            &format!("{EM_V1}/catalogs"),
            None,
            &[header[0], ("content-type", "application/json")],
            Some(body),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let find = format!("{EM_V1}/catalogs?$filter=displayName eq 'Header tenant'");
    let there = t.send(Method::GET, &find, None, &header, None).await;
    assert_eq!(there.body["value"].as_array().map(Vec::len), Some(1));
    let default = t.send(Method::GET, &find, None, &[], None).await;
    assert_eq!(default.body["value"], json!([]));
    let unknown = t
        .send(
            Method::GET,
            &find,
            None,
            &[("x-emulator-tenant", "10000000-0000-4000-8000-0000000000cc")],
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_tenant_can_start_from_another_tenants_current_state() {
    let t = TestTenant::start().await;
    let prepared = t
        .post(
            &format!("{EM_V1}/catalogs"),
            json!({"displayName": "Prepared"}),
        )
        .await;
    assert_eq!(prepared.status, StatusCode::CREATED, "{}", prepared.text);
    let copy = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"from": "10000000-0000-4000-8000-000000000000"})),
        )
        .await;
    assert_eq!(copy.status, StatusCode::CREATED, "{}", copy.text);
    let id = copy.body["id"].as_str().unwrap().to_string();
    let token = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": ADMIN, "tenant": id})),
        )
        .await;
    let token = token.body["accessToken"]
        .as_str()
        .or_else(|| token.body["access_token"].as_str())
        .unwrap_or_else(|| panic!("{}", token.text))
        .to_string();
    let find = |name: &str| format!("{EM_V1}/catalogs?$filter=displayName eq '{name}'");
    let there = t
        .json_as(Method::GET, &find("Prepared"), Some(&token), None)
        .await;
    assert_eq!(
        there.body["value"][0]["id"], prepared.body["id"],
        "the copy starts with the source's state: {}",
        there.text
    );
    let own = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/catalogs"),
            Some(&token),
            Some(json!({"displayName": "Only in the copy"})),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text);
    assert_ne!(own.body["id"], prepared.body["id"]);
    assert_eq!(
        t.get(&find("Only in the copy")).await.body["value"],
        json!([])
    );
    // Resetting the copy returns it to the fixture, not to the moment it was copied.
    let reset = t
        .send(
            Method::POST,
            &format!("/_emulator/reset?tenant={id}"),
            None,
            &[],
            None,
        )
        .await;
    assert!(reset.status.is_success(), "{}", reset.text);
    let after = t
        .json_as(Method::GET, &find("Prepared"), Some(&token), None)
        .await;
    assert_eq!(after.body["value"], json!([]), "{}", after.text);
    let missing = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"from": "10000000-0000-4000-8000-0000000000ff"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn fifty_tenants_run_in_parallel_without_interference() {
    let t = std::sync::Arc::new(TestTenant::start().await);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let t = std::sync::Arc::clone(&t);
        tasks.push(tokio::spawn(async move {
            let made = t
                .send(Method::POST, "/_emulator/tenants", None, &[], None)
                .await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
            let tenant = made.body["id"].as_str().unwrap().to_string();
            let minted = t
                .json_as(
                    Method::POST,
                    "/_emulator/tokens",
                    None,
                    Some(json!({"as": ADMIN, "tenant": tenant})),
                )
                .await;
            let token = minted.body["access_token"].as_str().unwrap().to_string();
            for n in 0..5 {
                let created = t
                    .json_as(
                        Method::POST,
                        &format!("{EM_V1}/accessPackages"),
                        Some(&token),
                        Some(json!({"displayName": format!("tenant {i} package {n}"), "catalog": {"id": GENERAL}})),
                    )
                    .await;
                assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
            }
            let list = t
                .json_as(
                    Method::GET,
                    &format!("{EM_V1}/accessPackages?$filter=startswith(displayName,'tenant ')"),
                    Some(&token),
                    None,
                )
                .await;
            let names: Vec<String> = list.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["displayName"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(names.len(), 5, "tenant {i} sees only its own packages: {names:?}");
            assert!(names.iter().all(|n| n.starts_with(&format!("tenant {i} "))));
            tenant
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }
    assert_eq!(ids.len(), 50);
    // The default tenant saw none of it.
    let mine = t
        .get(&format!(
            "{EM_V1}/accessPackages?$filter=startswith(displayName,'tenant ')"
        ))
        .await;
    assert_eq!(mine.body["value"], json!([]));
}

#[tokio::test]
async fn eventual_consistency_hides_new_objects_until_the_lag_passes() {
    let t = TestTenant::start().await;
    let set = |body: Value| {
        let t = &t;
        async move {
            t.json_as(Method::POST, "/_emulator/settings", None, Some(body))
                .await
        }
    };
    let before = t.state().await;
    let refused = set(json!({"eventualConsistency": "soon", "pageSize": 5})).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let settings = t
        .send(Method::GET, "/_emulator/settings", None, &[], None)
        .await;
    assert_eq!(
        settings.body["pageSize"], 100,
        "a refused body changes nothing"
    );
    assert_eq!(t.state().await, before);
    // GET's answer goes back unchanged; naming another tenant is refused, not ignored.
    let round_trip = set(settings.body.clone()).await;
    assert_eq!(round_trip.status, StatusCode::OK, "{}", round_trip.text);
    assert_eq!(round_trip.body, settings.body);
    let mut elsewhere = settings.body.clone();
    elsewhere["tenant"] = json!("00000000-0000-4000-8000-00000000beef");
    elsewhere["pageSize"] = json!(7);
    let moved = set(elsewhere).await;
    assert_eq!(moved.status, StatusCode::BAD_REQUEST, "{}", moved.text);
    assert_eq!(t.state().await, before);
    let on = set(json!({"eventualConsistency": "PT5S"})).await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text);
    assert_eq!(on.body["eventualConsistency"], "PT5S");

    let created = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "lagging", "catalog": {"id": GENERAL}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_string();
    let by_id = format!("{EM_V1}/accessPackages/{id}");
    let listed = format!("{EM_V1}/accessPackages?$filter=displayName eq 'lagging'");
    let read = t.get(&by_id).await;
    assert_eq!(
        (read.status, read.code()),
        (StatusCode::NOT_FOUND, "ResourceNotFound")
    );
    assert_eq!(t.get(&listed).await.body["value"], json!([]));
    let journal = t
        .send(
            Method::GET,
            &format!("/_emulator/journal?path={id}"),
            None,
            &[],
            None,
        )
        .await;
    assert!(
        journal.text.contains("eventual consistency"),
        "the decision log says why: {}",
        journal.text
    );

    let moved = t
        .json_as(
            Method::POST,
            "/_emulator/clock",
            None,
            Some(json!({"advance": "PT6S"})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_eq!(t.get(&by_id).await.status, StatusCode::OK);
    assert_eq!(
        t.get(&listed).await.body["value"].as_array().map(Vec::len),
        Some(1)
    );

    assert_eq!(
        set(json!({"eventualConsistency": null})).await.status,
        StatusCode::OK
    );
    let fresh = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "at once", "catalog": {"id": GENERAL}}),
        )
        .await;
    let fresh_id = fresh.body["id"].as_str().unwrap();
    assert_eq!(
        t.get(&format!("{EM_V1}/accessPackages/{fresh_id}"))
            .await
            .status,
        StatusCode::OK
    );
}

/// A tenant with one of every kind of thing, including a request waiting for approval.
async fn rich_tenant(t: &TestTenant) -> String {
    let catalog = t
        .post(
            &format!("{EM_V1}/catalogs"),
            json!({"displayName": "Snapshot catalog"}),
        )
        .await;
    let catalog = catalog.body["id"].as_str().unwrap().to_string();
    let package = t
        .post(
            &format!("{EM_V1}/accessPackages"),
            json!({"displayName": "Snapshot package", "catalog": {"id": catalog}}),
        )
        .await;
    assert_eq!(package.status, StatusCode::CREATED, "{}", package.text);
    let policy = t
        .post(&format!("{EM_V1}/assignmentPolicies"), json!({
            "displayName": "with approval", "accessPackage": {"id": ANALYTICS_PACKAGE}, "allowedTargetScope": "allMemberUsers",
            "expiration": {"type": "afterDuration", "duration": "P30D"},
            "requestorSettings": {"enableTargetsToSelfAddAccess": true},
            "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
                {"durationBeforeAutomaticDenial": "P7D", "isApproverJustificationRequired": false, "isEscalationEnabled": false,
                 "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}]}]}}))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let pending = t
        .json_as(
            Method::POST,
            &format!("{EM_V1}/assignmentRequests"),
            Some(&t.token_for(REQUESTOR1)),
            Some(json!({"requestType": "userAdd", "assignment": {"accessPackageId": ANALYTICS_PACKAGE}})),
        )
        .await;
    assert_eq!(pending.status, StatusCode::CREATED, "{}", pending.text);
    let pending = pending.body["id"].as_str().unwrap().to_string();
    let delivered = t.post(&format!("{EM_V1}/assignmentRequests"), json!({"requestType": "adminAdd",
        "assignment": {"accessPackageId": CAMPAIGN_PACKAGE, "targetId": "20000000-0000-4000-8000-000000000005",
                       "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"}})).await;
    assert_eq!(delivered.status, StatusCode::CREATED, "{}", delivered.text);
    let org = t
        .post(&format!("{EM_V1}/connectedOrganizations"), json!({"displayName": "Partner",
            "identitySources": [{"@odata.type": "#microsoft.graph.domainIdentitySource", "domainName": "partner.example", "displayName": "partner"}]}))
        .await;
    assert_eq!(org.status, StatusCode::CREATED, "{}", org.text);
    let incompatible = t
        .post(&format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}/incompatibleAccessPackages/$ref"),
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/identityGovernance/entitlementManagement/accessPackages/{ANALYTICS_PACKAGE}")}))
        .await;
    assert_eq!(incompatible.status, StatusCode::NO_CONTENT);
    let role = t
        .post(&format!("{RBAC_V1}/roleAssignments"), json!({"principalId": "20000000-0000-4000-8000-000000000006",
            "roleDefinitionId": "ae79f266-94d4-4dab-b730-feca7e132178", "appScopeId": format!("/AccessPackageCatalog/{catalog}")}))
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{}", role.text);
    let settings = t
        .json_as(
            Method::POST,
            "/_emulator/settings",
            None,
            Some(json!({"pageSize": 7})),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK);
    pending
}

#[tokio::test]
async fn a_snapshot_round_trips_every_entity_and_requests_in_flight() {
    let t = TestTenant::start().await;
    let pending = rich_tenant(&t).await;
    let get_snapshot = |query: &'static str| {
        let t = &t;
        async move {
            let r = t
                .send(
                    Method::GET,
                    &format!("/_emulator/snapshot{query}"),
                    None,
                    &[],
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.text
        }
    };
    let snapshot = get_snapshot("").await;
    assert_eq!(get_snapshot("").await, snapshot, "byte-stable");
    let export = t.state().await;

    // Move on, then put the snapshot back: the state and the id stream are as they were.
    let after = |name: &'static str| {
        let t = &t;
        async move {
            let r = t
                .post(
                    &format!("{EM_V1}/accessPackages"),
                    json!({"displayName": name, "catalog": {"id": GENERAL}}),
                )
                .await;
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let first = after("after the snapshot").await;
    let restore = t
        .send(
            Method::PUT,
            "/_emulator/snapshot",
            None,
            &[("Content-Type", "application/json")],
            Some(snapshot.clone().into_bytes()),
        )
        .await;
    assert_eq!(restore.status, StatusCode::OK, "{}", restore.text);
    assert_eq!(t.state().await, export);
    assert_eq!(get_snapshot("").await, snapshot);
    assert_eq!(
        after("after the snapshot").await,
        first,
        "the id stream continues"
    );

    // A new tenant from it holds the same state under its own id, in-flight request included.
    let new_id = "10000000-0000-4000-8000-0000000000cc";
    let mut body: Value = serde_json::from_str(&snapshot).unwrap();
    body = json!({"snapshot": body, "id": new_id});
    let made = t
        .json_as(Method::POST, "/_emulator/tenants", None, Some(body))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let copied = t
        .send(
            Method::GET,
            &format!("/_emulator/state?tenant={new_id}"),
            None,
            &[],
            None,
        )
        .await;
    let expected = export.replace("10000000-0000-4000-8000-000000000000", new_id);
    assert_eq!(copied.text, expected);
    let approve = t
        .json_as(
            Method::POST,
            &format!("/_emulator/approvals/{pending}?tenant={new_id}"),
            None,
            Some(json!({"approver": "lead@contoso.onmicrosoft.com", "reviewResult": "Approve"})),
        )
        .await;
    assert!(approve.status.is_success(), "{}", approve.text);
    let token = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": ADMIN, "tenant": new_id})),
        )
        .await
        .body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let request = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/assignmentRequests/{pending}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(request.body["state"], "delivered", "{}", request.text);
    // Its reset returns to the snapshot, not to the fixture.
    let reset = t
        .send(
            Method::POST,
            &format!("/_emulator/reset?tenant={new_id}"),
            None,
            &[],
            None,
        )
        .await;
    assert!(reset.status.is_success());
    let again = t
        .send(
            Method::GET,
            &format!("/_emulator/state?tenant={new_id}"),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(again.text, expected);

    // Refused snapshots change nothing.
    let before_refusals = get_snapshot("").await;
    for (bad, says) in [
        (
            json!({"format": "something else", "state": {}}),
            "not a tenant snapshot",
        ),
        (
            json!({"format": "entitlement-emulator/tenant-snapshot/1", "state": {"info": 5}}),
            "state.",
        ),
    ] {
        let refused = t
            .send(
                Method::PUT,
                "/_emulator/snapshot",
                None,
                &[("Content-Type", "application/json")],
                Some(serde_json::to_vec(&bad).unwrap()),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.message().contains(says), "{}", refused.text);
    }
    assert_eq!(get_snapshot("").await, before_refusals);
    let taken = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"snapshot": serde_json::from_str::<Value>(&snapshot).unwrap()})),
        )
        .await;
    assert_eq!(
        taken.status,
        StatusCode::CONFLICT,
        "the snapshot's own id is in use"
    );
}
