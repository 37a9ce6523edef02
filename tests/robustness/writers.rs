//! Parallel writers keep the store consistent: no lost update, no broken invariant.

use super::*;

// ---------------------------------------------------------------------------------------------
// 2. Parallel writers
// ---------------------------------------------------------------------------------------------

pub(super) const TASKS: usize = 16;
pub(super) const OPS_PER_TASK: usize = 25;

/// What one task did, by the emulator's own answers.
#[derive(Debug, Default)]
pub(super) struct Report {
    pub(super) created_catalogs: Vec<String>,
    pub(super) deleted_catalogs: Vec<String>,
    /// Every package the task created: id → catalog id.
    pub(super) created_packages: BTreeMap<String, String>,
    pub(super) deleted_packages: Vec<String>,
    /// The displayName each surviving own catalog and package must have in the end.
    pub(super) catalog_names: BTreeMap<String, String>,
    pub(super) package_names: BTreeMap<String, String>,
}

pub(super) struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

pub(super) fn ids_of(resp: &Resp) -> BTreeSet<String> {
    resp.body["value"]
        .as_array()
        .unwrap_or_else(|| panic!("not a collection: {}", resp.text))
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

pub(super) async fn writer(t: Arc<TestTenant>, task: usize, shared: [String; 2]) -> Report {
    let mut rng = Lcg(task as u64 * 7919 + 17);
    let mut report = Report::default();
    // Own live catalogs and packages (package → its catalog).
    let mut catalogs: Vec<String> = Vec::new();
    let mut packages: BTreeMap<String, String> = BTreeMap::new();
    let prefix = format!("t{task}-");
    for op in 0..OPS_PER_TASK {
        let v1 = rng.below(2) == 0;
        match rng.below(18) {
            0..=1 => {
                let name = format!("{prefix}c{op}");
                let resp = if v1 {
                    t.post(&format!("{EM_V1}/catalogs"), json!({"displayName": name}))
                        .await
                } else {
                    t.post(
                        &format!("{EM_BETA}/accessPackageCatalogs"),
                        json!({"displayName": name}),
                    )
                    .await
                };
                assert_eq!(
                    resp.status,
                    StatusCode::CREATED,
                    "task {task} op {op}: create catalog: {}",
                    resp.text
                );
                let id = resp.body["id"].as_str().unwrap().to_string();
                report.created_catalogs.push(id.clone());
                report.catalog_names.insert(id.clone(), name);
                catalogs.push(id);
            }
            2..=5 => {
                // Into an own catalog, one of the shared ones, or General.
                let pick = rng.below(catalogs.len() + 6);
                let catalog = match pick {
                    0..=2 => GENERAL.to_string(),
                    3 | 4 => shared[0].clone(),
                    5 => shared[1].clone(),
                    _ => catalogs[pick - 6].clone(),
                };
                let name = format!("{prefix}p{op}");
                let resp = if v1 {
                    t.post(
                        &format!("{EM_V1}/accessPackages"),
                        json!({"displayName": name, "catalog": {"id": catalog}}),
                    )
                    .await
                } else {
                    t.post(
                        &format!("{EM_BETA}/accessPackages"),
                        json!({"displayName": name, "catalogId": catalog}),
                    )
                    .await
                };
                if catalog == shared[1] && resp.status == StatusCode::NOT_FOUND {
                    // Another task deleted the contested catalog first.
                    continue;
                }
                assert_eq!(
                    resp.status,
                    StatusCode::CREATED,
                    "task {task} op {op}: create package in {catalog}: {}",
                    resp.text
                );
                let id = resp.body["id"].as_str().unwrap().to_string();
                report.created_packages.insert(id.clone(), catalog.clone());
                report.package_names.insert(id.clone(), name);
                packages.insert(id, catalog);
            }
            6..=9 if !packages.is_empty() => {
                let id = packages
                    .keys()
                    .nth(rng.below(packages.len()))
                    .unwrap()
                    .clone();
                let name = format!("{prefix}p-{id}-v{op}");
                let path = if v1 {
                    format!("{EM_V1}/accessPackages/{id}")
                } else {
                    format!("{EM_BETA}/accessPackages/{id}")
                };
                let resp = t
                    .patch(
                        &path,
                        json!({"displayName": name, "description": format!("v{op}")}),
                    )
                    .await;
                assert_eq!(
                    resp.status,
                    StatusCode::NO_CONTENT,
                    "task {task} op {op}: PATCH {path}: {}",
                    resp.text
                );
                report.package_names.insert(id.clone(), name.clone());
                // Read your own write, through the other version.
                let other = if v1 {
                    format!("{EM_BETA}/accessPackages/{id}")
                } else {
                    format!("{EM_V1}/accessPackages/{id}")
                };
                let got = t.get(&other).await;
                assert_eq!(
                    (got.status, got.body["displayName"].as_str()),
                    (StatusCode::OK, Some(name.as_str())),
                    "task {task} op {op}: GET {other} after PATCH: {}",
                    got.text
                );
            }
            10..=11 if !packages.is_empty() => {
                // Packages in the contested catalog go first, so it empties now and then.
                let contested = packages.iter().find(|(_, c)| **c == shared[1]);
                let id = match contested {
                    Some((id, _)) => id.clone(),
                    None => packages
                        .keys()
                        .nth(rng.below(packages.len()))
                        .unwrap()
                        .clone(),
                };
                let path = if v1 {
                    format!("{EM_V1}/accessPackages/{id}")
                } else {
                    format!("{EM_BETA}/accessPackages('{id}')")
                };
                let resp = t.delete(&path).await;
                assert_eq!(
                    resp.status,
                    StatusCode::NO_CONTENT,
                    "task {task} op {op}: DELETE {path}: {}",
                    resp.text
                );
                packages.remove(&id);
                report.package_names.remove(&id);
                report.deleted_packages.push(id.clone());
                let gone = t.get(&format!("{EM_V1}/accessPackages/{id}")).await;
                assert_eq!(
                    gone.status,
                    StatusCode::NOT_FOUND,
                    "task {task} op {op}: deleted package still readable"
                );
            }
            12..=13 if !catalogs.is_empty() => {
                let i = rng.below(catalogs.len());
                let id = catalogs[i].clone();
                let holds = packages.values().any(|c| *c == id);
                if rng.below(2) == 0 {
                    // Rename it instead.
                    let name = format!("{prefix}c-{id}-v{op}");
                    let resp = t
                        .patch(
                            &format!("{EM_V1}/catalogs/{id}"),
                            json!({"displayName": name}),
                        )
                        .await;
                    assert_eq!(
                        resp.status,
                        StatusCode::NO_CONTENT,
                        "task {task} op {op}: PATCH catalog {id}: {}",
                        resp.text
                    );
                    report.catalog_names.insert(id, name);
                    continue;
                }
                let resp = t
                    .delete(&format!("{EM_BETA}/accessPackageCatalogs/{id}"))
                    .await;
                if holds {
                    assert_eq!(
                        (resp.status, resp.code()),
                        (
                            StatusCode::BAD_REQUEST,
                            "InvalidDeleteCatalogHasAccessPackages"
                        ),
                        "task {task} op {op}: DELETE catalog {id} that holds packages: {}",
                        resp.text
                    );
                } else {
                    assert_eq!(
                        resp.status,
                        StatusCode::NO_CONTENT,
                        "task {task} op {op}: DELETE empty catalog {id}: {}",
                        resp.text
                    );
                    catalogs.remove(i);
                    report.catalog_names.remove(&id);
                    report.deleted_catalogs.push(id);
                }
            }
            14 => {
                // The contested catalog: deleted at most once, never while it holds packages.
                let resp = t.delete(&format!("{EM_V1}/catalogs/{}", shared[1])).await;
                match resp.status {
                    StatusCode::NO_CONTENT => report.deleted_catalogs.push(shared[1].clone()),
                    StatusCode::NOT_FOUND => {}
                    StatusCode::BAD_REQUEST => assert_eq!(
                        resp.code(),
                        "InvalidDeleteCatalogHasAccessPackages",
                        "{}",
                        resp.text
                    ),
                    other => panic!(
                        "task {task} op {op}: DELETE contested catalog answered {other}: {}",
                        resp.text
                    ),
                }
            }
            _ => {
                // My packages and catalogs, listed: exactly what I hold.
                let filter = format!("startswith(displayName,'{prefix}')");
                let list = t
                    .get(&format!(
                        "{EM_V1}/accessPackages?$filter={filter}&$top=999&$count=true"
                    ))
                    .await;
                assert_eq!(
                    list.status,
                    StatusCode::OK,
                    "task {task} op {op}: {}",
                    list.text
                );
                assert!(
                    list.body.get("@odata.nextLink").is_none(),
                    "one page: {}",
                    list.text
                );
                let want: BTreeSet<String> = packages.keys().cloned().collect();
                assert_eq!(
                    ids_of(&list),
                    want,
                    "task {task} op {op}: my packages, listed"
                );
                assert_eq!(list.body["@odata.count"], json!(want.len()));
                let list = t
                    .get(&format!(
                        "{EM_BETA}/accessPackageCatalogs?$filter={filter}&$top=999"
                    ))
                    .await;
                assert_eq!(
                    list.status,
                    StatusCode::OK,
                    "task {task} op {op}: {}",
                    list.text
                );
                let want: BTreeSet<String> = catalogs.iter().cloned().collect();
                assert_eq!(
                    ids_of(&list),
                    want,
                    "task {task} op {op}: my catalogs, listed"
                );
                let all = t
                    .get(&format!("{EM_V1}/accessPackages?$select=id,displayName"))
                    .await;
                assert_eq!(
                    all.status,
                    StatusCode::OK,
                    "task {task} op {op}: {}",
                    all.text
                );
            }
        }
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(super) async fn parallel_writers_keep_the_store_consistent() {
    let started = Instant::now();
    let t = Arc::new(TestTenant::start().await);
    let initial: Value = serde_json::from_str(&t.state().await).unwrap();
    let mut shared = Vec::new();
    for name in ["shared-stable", "shared-contested"] {
        let resp = t
            .post(&format!("{EM_V1}/catalogs"), json!({"displayName": name}))
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
        shared.push(resp.body["id"].as_str().unwrap().to_string());
    }
    let shared: [String; 2] = [shared[0].clone(), shared[1].clone()];

    let handles: Vec<_> = (0..TASKS)
        .map(|task| tokio::spawn(writer(t.clone(), task, shared.clone())))
        .collect();
    let mut reports = Vec::new();
    for (task, h) in handles.into_iter().enumerate() {
        match h.await {
            Ok(r) => reports.push(r),
            Err(e) => panic!("task {task} failed: {e}"),
        }
    }

    let state: Value = serde_json::from_str(&t.state().await).unwrap();
    let ids = |v: &Value, table: &str| -> BTreeSet<String> {
        v[table]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };

    // Catalogs: the fixtures' plus the shared ones plus what was created, minus what was deleted.
    let mut want_catalogs = ids(&initial, "catalogs");
    want_catalogs.extend(shared.iter().cloned());
    let contested_deletes = reports
        .iter()
        .flat_map(|r| &r.deleted_catalogs)
        .filter(|c| **c == shared[1])
        .count();
    assert!(
        contested_deletes <= 1,
        "the contested catalog was deleted {contested_deletes} times"
    );
    for r in &reports {
        want_catalogs.extend(r.created_catalogs.iter().cloned());
    }
    let deleted_catalogs: BTreeSet<String> = reports
        .iter()
        .flat_map(|r| r.deleted_catalogs.iter().cloned())
        .collect();
    for c in &deleted_catalogs {
        want_catalogs.remove(c);
    }
    assert_eq!(
        ids(&state, "catalogs"),
        want_catalogs,
        "catalogs = fixtures + created − deleted"
    );

    // Packages likewise.
    let mut want_packages = ids(&initial, "accessPackages");
    for r in &reports {
        want_packages.extend(r.created_packages.keys().cloned());
    }
    for r in &reports {
        for p in &r.deleted_packages {
            want_packages.remove(p);
        }
    }
    assert_eq!(
        ids(&state, "accessPackages"),
        want_packages,
        "packages = fixtures + created − deleted"
    );
    let created: usize = reports.iter().map(|r| r.created_packages.len()).sum();
    let deleted: usize = reports.iter().map(|r| r.deleted_packages.len()).sum();
    let patched: usize = reports.iter().map(|r| r.package_names.len()).sum();
    println!(
        "{TASKS} tasks: {} catalogs created, {} deleted (contested: {contested_deletes}); \
         {created} packages created, {deleted} deleted, {patched} named at the end",
        reports
            .iter()
            .map(|r| r.created_catalogs.len())
            .sum::<usize>(),
        deleted_catalogs.len(),
    );
    assert!(created > TASKS, "the tasks created packages ({created})");
    assert!(deleted > 0, "the tasks deleted packages");
    assert!(
        deleted_catalogs.len() > 1,
        "the tasks deleted catalogs ({})",
        deleted_catalogs.len()
    );

    // Every package names an existing catalog; no deleted catalog holds a package or a role.
    let dangling = dangling_references(&state);
    assert!(dangling.is_empty(), "dangling references: {dangling:#?}");
    for p in state["accessPackages"].as_array().unwrap() {
        let catalog = p["catalogId"].as_str().unwrap();
        assert!(
            !deleted_catalogs.contains(catalog),
            "package {} is in deleted catalog {catalog}",
            p["id"]
        );
        if let Some(want) = reports
            .iter()
            .find_map(|r| r.created_packages.get(p["id"].as_str().unwrap()))
        {
            assert_eq!(catalog, want, "package {} moved catalogs", p["id"]);
        }
    }

    // No PATCH lost: each surviving own package and catalog has exactly its last name.
    let names = |table: &str| -> BTreeMap<String, String> {
        state[table]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_string(),
                    r["displayName"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (package_names, catalog_names) = (names("accessPackages"), names("catalogs"));
    for r in &reports {
        for (id, name) in &r.package_names {
            assert_eq!(
                package_names.get(id),
                Some(name),
                "package {id}'s last PATCH"
            );
        }
        for (id, name) in &r.catalog_names {
            assert_eq!(
                catalog_names.get(id),
                Some(name),
                "catalog {id}'s last PATCH"
            );
        }
    }

    // Each surviving created catalog has exactly one Catalog owner assignment for its creator.
    let admin_id = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userPrincipalName"] == ADMIN)
        .map(|u| u["id"].clone())
        .unwrap();
    for c in reports
        .iter()
        .flat_map(|r| &r.created_catalogs)
        .chain(&shared)
    {
        let scope = format!("/AccessPackageCatalog/{c}");
        let owners = state["roleAssignments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["appScopeId"] == scope.as_str() && a["principalId"] == admin_id)
            .count();
        let want = usize::from(!deleted_catalogs.contains(c));
        assert_eq!(owners, want, "creator role assignments on catalog {c}");
    }

    // The API's own count agrees with the export.
    let count = t.get(&format!("{EM_V1}/accessPackages/$count")).await;
    assert_eq!(count.status, StatusCode::OK);
    assert_eq!(count.text, want_packages.len().to_string(), "/$count");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the parallel run took {:?}",
        started.elapsed()
    );
}
