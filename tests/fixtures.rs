//! Loading another tenant with `--fixtures DIR`, and fixture errors that name file and pointer.

use std::path::PathBuf;

use entitlement_emulator::StartError;
use entitlement_emulator::fixtures::FixtureSource;
use reqwest::StatusCode;

use crate::common::*;

/// A scratch fixture directory holding `files`, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str, files: &[(&str, &str)]) -> Self {
        let path = std::env::temp_dir().join(format!("ee-fixtures-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        for (file, text) in files {
            std::fs::write(path.join(file), text).unwrap();
        }
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const TENANT: &str = r#"{"id": "abcd0000-0000-4000-8000-000000000000", "displayName": "Fabrikam", "defaultDomain": "fabrikam.example"}"#;
const USERS: &str = r#"[{"id": "abcd0000-0000-4000-8000-000000000001", "displayName": "Fay", "userPrincipalName": "fay@fabrikam.example"}]"#;
const ROLES: &str = r#"[{"principalId": "abcd0000-0000-4000-8000-000000000001", "roleDefinitionId": "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e"}]"#;

#[tokio::test]
async fn another_tenant_loads_from_a_directory() {
    let dir = Dir::new(
        "ok",
        &[
            ("tenant.json", TENANT),
            ("users.json", USERS),
            ("directoryRoleAssignments.json", ROLES),
        ],
    );
    let mut t = TestTenant::with(builder().fixtures(FixtureSource::Dir(dir.0.clone()))).await;
    t.token = Some(t.token_for("fay@fabrikam.example"));
    let catalogs = t.get(&format!("{EM_V1}/catalogs")).await;
    assert_eq!(catalogs.status, StatusCode::OK);
    let names: Vec<&str> = catalogs.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["General"], "every tenant gets its General catalog");
    // A token for the default tenant is not valid here.
    let foreign = entitlement_emulator::auth::token::sign(
        serde_json::json!({"aud": "https://graph.microsoft.com", "iss": "https://sts.windows.net/10000000-0000-4000-8000-000000000000/", "tid": "10000000-0000-4000-8000-000000000000", "scp": "EntitlementManagement.Read.All", "exp": i64::MAX / 2})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    let refused = t
        .json_as(
            reqwest::Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(&foreign),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

async fn start_error(files: &[(&str, &str)], name: &str) -> String {
    let dir = Dir::new(name, files);
    match builder()
        .fixtures(FixtureSource::Dir(dir.0.clone()))
        .start()
        .await
    {
        Err(StartError::Fixture(e)) => e.to_string().replace(&dir.0.display().to_string(), "<dir>"),
        other => panic!("expected a fixture error, got {other:?}"),
    }
}

#[tokio::test]
async fn fixture_errors_name_the_file_and_pointer() {
    let wrong_type = start_error(&[("tenant.json", TENANT), ("users.json", r#"[{"id": "abcd0000-0000-4000-8000-000000000001", "displayName": ["x"], "userPrincipalName": "u"}]"#)], "type").await;
    assert!(
        wrong_type.starts_with("<dir>/users.json at /0/displayName: invalid type"),
        "{wrong_type}"
    );
    let dangling = start_error(
        &[("tenant.json", TENANT), ("accessPackages.json", r#"[{"id": "abcd0000-0000-4000-8000-0000000000a1", "catalogId": "abcd0000-0000-4000-8000-0000000000c1", "displayName": "p"}]"#)],
        "dangling",
    )
    .await;
    assert_eq!(
        dangling,
        "<dir>/accessPackages.json at /0/catalogId: catalog abcd0000-0000-4000-8000-0000000000c1 is not in catalogs.json"
    );
    let unknown_file =
        start_error(&[("tenant.json", TENANT), ("policies.json", "[]")], "file").await;
    assert!(
        unknown_file.starts_with("<dir>/policies.json: unknown fixture file"),
        "{unknown_file}"
    );
    let missing = start_error(&[("users.json", USERS)], "missing").await;
    assert_eq!(
        missing,
        "<dir>/tenant.json: missing: every fixture tenant needs tenant.json"
    );
    let bad_scope = start_error(
        &[("tenant.json", TENANT), ("users.json", USERS), ("roleAssignments.json", r#"[{"id": "abcd0000-0000-4000-8000-0000000000e1", "principalId": "abcd0000-0000-4000-8000-000000000001", "roleDefinitionId": "ba92d953-d8e0-4e39-a797-0cbedb0a89e8", "appScopeId": "/AccessPackageCatalog/abcd0000-0000-4000-8000-0000000000c1"}]"#)],
        "scope",
    )
    .await;
    assert!(
        bad_scope.starts_with("<dir>/roleAssignments.json at /0/appScopeId:"),
        "{bad_scope}"
    );
}

#[tokio::test]
async fn a_fixture_policy_may_name_only_principals_the_tenant_has() {
    let catalogs = r#"[{"id": "abcd0000-0000-4000-8000-0000000000c1", "displayName": "c"}]"#;
    let packages = r#"[{"id": "abcd0000-0000-4000-8000-0000000000a1", "catalogId": "abcd0000-0000-4000-8000-0000000000c1", "displayName": "p"}]"#;
    let policies = r##"[{"id": "abcd0000-0000-4000-8000-0000000000b1", "displayName": "x", "accessPackage": {"id": "abcd0000-0000-4000-8000-0000000000a1"},
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"@odata.type": "#microsoft.graph.singleUser", "userId": "abcd0000-0000-4000-8000-0000000000ee"}]}]"##;
    let refused = start_error(
        &[
            ("tenant.json", TENANT),
            ("catalogs.json", catalogs),
            ("accessPackages.json", packages),
            ("assignmentPolicies.json", policies),
        ],
        "principal",
    )
    .await;
    assert!(
        refused.starts_with("<dir>/assignmentPolicies.json at /0")
            && refused
                .contains("abcd0000-0000-4000-8000-0000000000ee does not exist in this tenant"),
        "{refused}"
    );
}
