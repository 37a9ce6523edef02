//! Fixture tenants: human-editable JSON files (Graph's own property names) that describe a
//! tenant's directory and entitlement-management objects. The default tenant is compiled into the
//! binary so `cargo run` works from any directory; `--fixtures DIR` loads another.
//!
//! Every file is optional except `tenant.json`. A fixture error names the file and the JSON
//! pointer of the offending value. The format is documented in `fixtures/README.md`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::authz::role_definition;
use crate::clock::Timestamp;
use crate::ids::IdGen;
use crate::model::directory::Directory;
use crate::model::directory::{DirectoryRoleAssignment, Group, ServicePrincipal, Site, User};
use crate::model::em::{
    AccessPackage, AppScope, Catalog, CatalogState, CatalogType, EmRoleAssignment, WireEnum,
};
use crate::model::resources::OriginSystem;
use crate::store::{TenantInfo, TenantState};

/// A fixture problem, located by file and JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureError {
    pub file: String,
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{} at {}: {}", self.file, self.pointer, self.message)
        }
    }
}

impl std::error::Error for FixtureError {}

/// The files a fixture directory may hold, in load order.
pub const FIXTURE_FILES: [&str; 14] = [
    "tenant.json",
    "users.json",
    "groups.json",
    "servicePrincipals.json",
    "sites.json",
    "directoryRoleAssignments.json",
    "catalogs.json",
    "accessPackages.json",
    "roleAssignments.json",
    "resources.json",
    "resourceRoleScopes.json",
    "assignmentPolicies.json",
    "assignments.json",
    "assignmentRequests.json",
];

macro_rules! embedded {
    ($($name:literal),*) => {
        &[$(($name, include_str!(concat!("../fixtures/default/", $name)))),*]
    };
}

/// The default tenant, compiled in.
const EMBEDDED_DEFAULT: &[(&str, &str)] = embedded!(
    "tenant.json",
    "users.json",
    "groups.json",
    "servicePrincipals.json",
    "sites.json",
    "directoryRoleAssignments.json",
    "catalogs.json",
    "accessPackages.json",
    "roleAssignments.json",
    "resources.json",
    "resourceRoleScopes.json",
    "assignmentPolicies.json"
);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantFile {
    pub id: Uuid,
    pub display_name: String,
    pub default_domain: String,
    /// When the fixture's objects were created, unless they say otherwise. Default: start-up time.
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    /// Items per page of every listing (default 100).
    #[serde(default)]
    pub page_size: Option<usize>,
    /// Answer policy PUTs with 204 instead of 200 + body (default false).
    #[serde(default)]
    pub policy_put_no_content: bool,
    /// Fault rules in force from start-up, as `POST /_emulator/faults` takes them (checked when
    /// the emulator starts; `tenant` defaults to this tenant).
    #[serde(default)]
    pub faults: Vec<serde_json::Value>,
    /// Whose `adminAdd` skips approval: `managers` (default), `all`, `none`.
    #[serde(default)]
    pub admin_approval_bypass: crate::model::lifecycle::AdminApprovalBypass,
    /// What blocks deleting a package: `liveAssignments` (default) or `anyAssignment`.
    #[serde(default)]
    pub package_deletion_guard: crate::model::lifecycle::PackageDeletionGuard,
    /// Replica lag after creates, as an ISO 8601 duration (`"PT2S"`); absent = none.
    #[serde(default)]
    pub eventual_consistency: Option<String>,
    /// How additions are delivered: `delivered` (default), `deliveryFailed`, `delivering`.
    #[serde(default)]
    pub delivery: crate::model::lifecycle::DeliveryOutcome,
    /// Per-package overrides of `delivery`, by access package id.
    #[serde(default)]
    pub delivery_by_package: HashMap<Uuid, crate::model::lifecycle::DeliveryOutcome>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogFixture {
    pub id: Uuid,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub catalog_type: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub is_externally_visible: Option<bool>,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    #[serde(default)]
    pub modified_date_time: Option<Timestamp>,
    #[serde(default)]
    pub created_by: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessPackageFixture {
    pub id: Uuid,
    pub catalog_id: Uuid,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub is_hidden: bool,
    #[serde(default)]
    pub is_role_scopes_visible: bool,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    #[serde(default)]
    pub modified_date_time: Option<Timestamp>,
    #[serde(default)]
    pub created_by: Option<String>,
}

/// An access package assignment the tenant starts with, so a test can begin from "already has
/// access" (or "had access") without driving a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignmentFixture {
    pub id: Uuid,
    pub access_package_id: Uuid,
    pub target_id: Uuid,
    /// Default: the package's first policy, if any.
    #[serde(default)]
    pub assignment_policy_id: Option<Uuid>,
    /// `delivered` (default) or `expired`.
    #[serde(default)]
    pub state: Option<String>,
    /// Default: the tenant's creation time.
    #[serde(default)]
    pub start_date_time: Option<Timestamp>,
    /// Default: what the policy's expiration gives from the start.
    #[serde(default)]
    pub end_date_time: Option<Timestamp>,
}

/// A request a fixture declares, placed as if submitted at `createdDateTime` and processed
/// then: it waits for approval when its policy requires it, else it is delivered (or waits
/// for a future `startDateTime`) under the tenant's delivery outcome.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestFixture {
    pub id: Uuid,
    /// `userAdd` (default) or `adminAdd`, in either casing; echoed as written.
    #[serde(default)]
    pub request_type: Option<String>,
    pub access_package_id: Uuid,
    pub target_id: Uuid,
    /// Default: the target for `userAdd`; none (an application) for `adminAdd`.
    #[serde(default)]
    pub requestor_id: Option<Uuid>,
    /// Default: the package's first policy.
    #[serde(default)]
    pub assignment_policy_id: Option<Uuid>,
    #[serde(default)]
    pub justification: Option<String>,
    /// Omitted: processed as above. `pendingApproval` asserts the policy requires approval;
    /// `denied` and `canceled` record a finished request.
    #[serde(default)]
    pub state: Option<String>,
    /// Default: the tenant's creation time.
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    /// A future start makes the request `scheduled`.
    #[serde(default)]
    pub start_date_time: Option<Timestamp>,
}

/// A resource onboarded into a catalog; its roles and root scope are derived as the service
/// derives them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceFixture {
    pub id: Uuid,
    pub catalog_id: Uuid,
    pub origin_system: String,
    pub origin_id: String,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
}

/// A resource role an access package grants.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleScopeFixture {
    pub access_package_id: Uuid,
    pub resource_id: Uuid,
    pub role_origin_id: String,
    /// Default: the resource's root scope.
    #[serde(default)]
    pub scope_origin_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleAssignmentFixture {
    pub id: Uuid,
    pub principal_id: Uuid,
    pub role_definition_id: Uuid,
    pub app_scope_id: String,
}

/// A parsed, cross-checked fixture tenant.
#[derive(Debug, Clone)]
pub struct FixtureTenant {
    pub tenant: TenantFile,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub service_principals: Vec<ServicePrincipal>,
    pub sites: Vec<Site>,
    pub directory_role_assignments: Vec<DirectoryRoleAssignment>,
    pub catalogs: Vec<(CatalogFixture, CatalogType, CatalogState)>,
    pub access_packages: Vec<AccessPackageFixture>,
    pub role_assignments: Vec<(RoleAssignmentFixture, AppScope)>,
    pub resources: Vec<(ResourceFixture, OriginSystem)>,
    pub role_scopes: Vec<RoleScopeFixture>,
    /// Policies in v1.0's shape, with their ids.
    pub policies: Vec<(Uuid, crate::ops::policy::PolicyInput, Option<Timestamp>)>,
    pub assignments: Vec<AssignmentFixture>,
    pub requests: Vec<RequestFixture>,
}

/// Where fixture files come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FixtureSource {
    #[default]
    EmbeddedDefault,
    Dir(PathBuf),
}

impl FixtureSource {
    /// The fixture files as text, by name (for tools that write a derived fixture).
    pub fn raw_files(&self) -> Result<Vec<(String, String)>, String> {
        match self {
            FixtureSource::EmbeddedDefault => Ok(EMBEDDED_DEFAULT
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect()),
            FixtureSource::Dir(dir) => FIXTURE_FILES
                .iter()
                .filter_map(|name| match std::fs::read_to_string(dir.join(name)) {
                    Ok(text) => Some(Ok((name.to_string(), text))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => Some(Err(format!("{}: {e}", dir.join(name).display()))),
                })
                .collect(),
        }
    }

    pub fn load(&self) -> Result<FixtureTenant, FixtureError> {
        match self {
            FixtureSource::EmbeddedDefault => FixtureTenant::parse("fixtures/default", |name| {
                Ok(EMBEDDED_DEFAULT
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, t)| t.to_string()))
            }),
            FixtureSource::Dir(dir) => {
                check_no_unknown_files(dir)?;
                FixtureTenant::parse(&dir.display().to_string(), |name| {
                    let path = dir.join(name);
                    match std::fs::read_to_string(&path) {
                        Ok(text) => Ok(Some(text)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(e.to_string()),
                    }
                })
            }
        }
    }
}

/// The one answer the control API gives for a `fixtures` path it cannot use, whatever the
/// reason (missing, not a directory, unreadable, no `tenant.json`, a file that is not a fixture
/// file or resolves outside the directory): `POST /_emulator/tenants` must not tell a caller
/// which paths exist on this machine.
pub const NOT_A_FIXTURE_DIRECTORY: &str = "not a fixture directory (a readable directory holding tenant.json and only fixture files, none of them links out of it)";

/// Why a fixture directory named over the network was not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfinedError {
    /// Anything about the path itself: one message, [`NOT_A_FIXTURE_DIRECTORY`].
    NotAFixtureDirectory,
    /// The directory is a fixture directory, and its content is wrong (file and pointer).
    Invalid(FixtureError),
}

/// Loads the fixture directory `dir` for a control-API caller: as [`FixtureSource::load`], but
/// every file must resolve inside the (canonical) directory, so a link cannot make the emulator
/// read, or report on, a file elsewhere; and any problem with the path is the one
/// [`ConfinedError::NotAFixtureDirectory`].
pub fn load_confined(dir: &Path) -> Result<FixtureTenant, ConfinedError> {
    let not_fixture = |_| ConfinedError::NotAFixtureDirectory;
    let root = std::fs::canonicalize(dir).map_err(not_fixture)?;
    let resolve = |name: &str| -> Result<Option<PathBuf>, ()> {
        let path = root.join(name);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(_) => return Err(()),
            Ok(_) => {}
        }
        let real = std::fs::canonicalize(&path).map_err(|_| ())?;
        let inside = real.starts_with(&root);
        match std::fs::metadata(&real) {
            Ok(meta) if inside && meta.is_file() => Ok(Some(real)),
            _ => Err(()),
        }
    };
    if !std::fs::metadata(&root).is_ok_and(|m| m.is_dir())
        || !matches!(resolve("tenant.json"), Ok(Some(_)))
    {
        return Err(ConfinedError::NotAFixtureDirectory);
    }
    let entries = std::fs::read_dir(&root).map_err(not_fixture)?;
    for entry in entries {
        let name = entry.map_err(not_fixture)?.file_name();
        let name = name.to_string_lossy();
        let known = FIXTURE_FILES.contains(&name.as_ref());
        if (name.ends_with(".json") && !known) || (known && resolve(&name).is_err()) {
            return Err(ConfinedError::NotAFixtureDirectory);
        }
    }
    let mut texts = Vec::new();
    for name in FIXTURE_FILES {
        match resolve(name) {
            Ok(Some(path)) => match std::fs::read_to_string(path) {
                Ok(text) => texts.push((name, text)),
                Err(_) => return Err(ConfinedError::NotAFixtureDirectory),
            },
            Ok(None) => {}
            Err(()) => return Err(ConfinedError::NotAFixtureDirectory),
        }
    }
    FixtureTenant::parse(&dir.display().to_string(), |name| {
        Ok(texts
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.clone()))
    })
    .map_err(ConfinedError::Invalid)
}

fn check_no_unknown_files(dir: &Path) -> Result<(), FixtureError> {
    let entries = std::fs::read_dir(dir).map_err(|e| FixtureError {
        file: dir.display().to_string(),
        pointer: String::new(),
        message: format!("cannot read fixture directory: {e}"),
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".json") && !FIXTURE_FILES.contains(&name.as_str()) {
            return Err(FixtureError {
                file: dir.join(&name).display().to_string(),
                pointer: String::new(),
                message: format!(
                    "unknown fixture file; expected one of {}",
                    FIXTURE_FILES.join(", ")
                ),
            });
        }
    }
    Ok(())
}

fn parse_file<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, FixtureError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let pointer = json_pointer(e.path());
        FixtureError {
            file: file.to_string(),
            pointer,
            message: e.inner().to_string(),
        }
    })
}

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        out.push('/');
        match seg {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

impl crate::store::Seed for FixtureTenant {
    fn tenant_id(&self) -> Uuid {
        self.tenant.id
    }

    fn build(&self, ids: Box<dyn IdGen>, now: Timestamp) -> TenantState {
        self.build_state(ids, now)
    }

    fn renamed(&self, id: Uuid) -> Arc<dyn crate::store::Seed> {
        let mut renamed = self.clone();
        renamed.tenant.id = id;
        Arc::new(renamed)
    }
}

impl FixtureTenant {
    /// Parses and cross-checks a fixture set; `read(name)` returns a file's text if it exists.
    pub fn parse(
        origin: &str,
        read: impl Fn(&str) -> Result<Option<String>, String>,
    ) -> Result<Self, FixtureError> {
        let path = |name: &str| format!("{origin}/{name}");
        let load = |name: &str| -> Result<Option<String>, FixtureError> {
            read(name).map_err(|message| FixtureError {
                file: path(name),
                pointer: String::new(),
                message,
            })
        };
        fn list<T: DeserializeOwned>(
            name: &str,
            file: String,
            text: Option<String>,
        ) -> Result<Vec<T>, FixtureError> {
            let _ = name;
            match text {
                Some(t) => parse_file(&file, &t),
                None => Ok(Vec::new()),
            }
        }
        let tenant_text = load("tenant.json")?.ok_or_else(|| FixtureError {
            file: path("tenant.json"),
            pointer: String::new(),
            message: "missing: every fixture tenant needs tenant.json".into(),
        })?;
        let tenant: TenantFile = parse_file(&path("tenant.json"), &tenant_text)?;
        if tenant
            .page_size
            .is_some_and(|n| !(1..=crate::odata::MAX_TOP).contains(&n))
        {
            return Err(FixtureError {
                file: path("tenant.json"),
                pointer: "/pageSize".into(),
                message: format!("must be between 1 and {}", crate::odata::MAX_TOP),
            });
        }
        if let Some(Err(message)) = tenant
            .eventual_consistency
            .as_deref()
            .map(crate::model::lifecycle::parse_lag)
        {
            return Err(FixtureError {
                file: path("tenant.json"),
                pointer: "/eventualConsistency".into(),
                message,
            });
        }
        let users: Vec<User> = list("users.json", path("users.json"), load("users.json")?)?;
        let groups: Vec<Group> = list("groups.json", path("groups.json"), load("groups.json")?)?;
        let service_principals: Vec<ServicePrincipal> = list(
            "servicePrincipals.json",
            path("servicePrincipals.json"),
            load("servicePrincipals.json")?,
        )?;
        let sites: Vec<Site> = list("sites.json", path("sites.json"), load("sites.json")?)?;
        let directory_role_assignments: Vec<DirectoryRoleAssignment> = list(
            "directoryRoleAssignments.json",
            path("directoryRoleAssignments.json"),
            load("directoryRoleAssignments.json")?,
        )?;
        let raw_catalogs: Vec<CatalogFixture> = list(
            "catalogs.json",
            path("catalogs.json"),
            load("catalogs.json")?,
        )?;
        let access_packages: Vec<AccessPackageFixture> = list(
            "accessPackages.json",
            path("accessPackages.json"),
            load("accessPackages.json")?,
        )?;
        let raw_assignments: Vec<RoleAssignmentFixture> = list(
            "roleAssignments.json",
            path("roleAssignments.json"),
            load("roleAssignments.json")?,
        )?;
        let raw_resources: Vec<ResourceFixture> = list(
            "resources.json",
            path("resources.json"),
            load("resources.json")?,
        )?;
        let role_scopes: Vec<RoleScopeFixture> = list(
            "resourceRoleScopes.json",
            path("resourceRoleScopes.json"),
            load("resourceRoleScopes.json")?,
        )?;

        let err = |file: &str, pointer: String, message: String| FixtureError {
            file: path(file),
            pointer,
            message,
        };

        // A certificate the token endpoint could never use is a fixture mistake, not a sign-in
        // failure to discover later.
        for (i, sp) in service_principals.iter().enumerate() {
            for (k, cred) in sp.key_credentials.iter().enumerate() {
                if jsonwebtoken::DecodingKey::from_rsa_pem(cred.pem().as_bytes()).is_err() {
                    return Err(err(
                        "servicePrincipals.json",
                        format!("/{i}/keyCredentials/{k}/key"),
                        "not an RSA certificate (PEM, or base64 DER)".into(),
                    ));
                }
            }
        }

        // Ids are unique across the directory and within each collection.
        let mut seen = HashSet::new();
        for (file, ids) in [
            ("users.json", users.iter().map(|u| u.id).collect::<Vec<_>>()),
            ("groups.json", groups.iter().map(|g| g.id).collect()),
            (
                "servicePrincipals.json",
                service_principals.iter().map(|s| s.id).collect(),
            ),
        ] {
            for (i, id) in ids.iter().enumerate() {
                if !seen.insert(*id) {
                    return Err(err(
                        file,
                        format!("/{i}/id"),
                        format!("duplicate object id {id}"),
                    ));
                }
            }
        }
        let principals = seen;
        let mut upns = HashSet::new();
        for (i, u) in users.iter().enumerate() {
            if !upns.insert(u.user_principal_name.to_ascii_lowercase()) {
                return Err(err(
                    "users.json",
                    format!("/{i}/userPrincipalName"),
                    "duplicate userPrincipalName".into(),
                ));
            }
            if let Some(m) = u.manager.filter(|m| !users.iter().any(|x| x.id == *m)) {
                return Err(err(
                    "users.json",
                    format!("/{i}/manager"),
                    format!("manager {m} is not a user"),
                ));
            }
        }
        for (i, g) in groups.iter().enumerate() {
            for (j, m) in g.members.iter().enumerate() {
                if !principals.contains(m) {
                    return Err(err(
                        "groups.json",
                        format!("/{i}/members/{j}"),
                        format!("{m} is not a user, group or service principal"),
                    ));
                }
            }
            for (j, o) in g.owners.iter().enumerate() {
                if !principals.contains(o) {
                    return Err(err(
                        "groups.json",
                        format!("/{i}/owners/{j}"),
                        format!("{o} is not a user or service principal"),
                    ));
                }
            }
            if g.is_dynamic() && !g.members.is_empty() {
                return Err(err(
                    "groups.json",
                    format!("/{i}/members"),
                    "a dynamic group's members come from its membershipRule; list none".into(),
                ));
            }
        }
        for (i, a) in directory_role_assignments.iter().enumerate() {
            if !principals.contains(&a.principal_id) {
                return Err(err(
                    "directoryRoleAssignments.json",
                    format!("/{i}/principalId"),
                    format!("{} is not in the directory", a.principal_id),
                ));
            }
        }

        let mut catalogs = Vec::new();
        let mut catalog_ids = HashSet::new();
        for (i, c) in raw_catalogs.into_iter().enumerate() {
            if !catalog_ids.insert(c.id) {
                return Err(err(
                    "catalogs.json",
                    format!("/{i}/id"),
                    format!("duplicate catalog id {}", c.id),
                ));
            }
            let catalog_type = match &c.catalog_type {
                None => CatalogType::UserManaged,
                Some(t) => CatalogType::parse_any_case(t).ok_or_else(|| {
                    err(
                        "catalogs.json",
                        format!("/{i}/catalogType"),
                        format!("'{t}' is not userManaged, serviceDefault or serviceManaged"),
                    )
                })?,
            };
            let state = match &c.state {
                None => CatalogState::Published,
                Some(s) => CatalogState::parse_any_case(s).ok_or_else(|| {
                    err(
                        "catalogs.json",
                        format!("/{i}/state"),
                        format!("'{s}' is not published or unpublished"),
                    )
                })?,
            };
            catalogs.push((c, catalog_type, state));
        }
        if catalogs
            .iter()
            .filter(|c| c.1 == CatalogType::ServiceDefault)
            .count()
            > 1
        {
            return Err(err(
                "catalogs.json",
                String::new(),
                "only one catalog can be the serviceDefault (General) catalog".into(),
            ));
        }
        let mut package_ids = HashSet::new();
        for (i, p) in access_packages.iter().enumerate() {
            if !package_ids.insert(p.id) {
                return Err(err(
                    "accessPackages.json",
                    format!("/{i}/id"),
                    format!("duplicate access package id {}", p.id),
                ));
            }
            if !catalog_ids.contains(&p.catalog_id) {
                return Err(err(
                    "accessPackages.json",
                    format!("/{i}/catalogId"),
                    format!("catalog {} is not in catalogs.json", p.catalog_id),
                ));
            }
        }
        let mut overridden: Vec<&Uuid> = tenant.delivery_by_package.keys().collect();
        overridden.sort();
        if let Some(unknown) = overridden.into_iter().find(|p| !package_ids.contains(*p)) {
            return Err(err(
                "tenant.json",
                format!("/deliveryByPackage/{unknown}"),
                "not an access package of accessPackages.json".into(),
            ));
        }
        let mut role_assignments = Vec::new();
        let mut assignment_ids = HashSet::new();
        for (i, a) in raw_assignments.into_iter().enumerate() {
            if !assignment_ids.insert(a.id) {
                return Err(err(
                    "roleAssignments.json",
                    format!("/{i}/id"),
                    format!("duplicate role assignment id {}", a.id),
                ));
            }
            if !principals.contains(&a.principal_id) {
                return Err(err(
                    "roleAssignments.json",
                    format!("/{i}/principalId"),
                    format!("{} is not in the directory", a.principal_id),
                ));
            }
            let def = role_definition(&a.role_definition_id).ok_or_else(|| {
                err(
                    "roleAssignments.json",
                    format!("/{i}/roleDefinitionId"),
                    format!(
                        "{} is not an entitlement-management role definition",
                        a.role_definition_id
                    ),
                )
            })?;
            let scope = AppScope::parse(&a.app_scope_id).ok_or_else(|| {
                err(
                    "roleAssignments.json",
                    format!("/{i}/appScopeId"),
                    "expected '/' or '/AccessPackageCatalog/{id}'".into(),
                )
            })?;
            match scope {
                AppScope::Catalog(c) if !catalog_ids.contains(&c) => {
                    return Err(err(
                        "roleAssignments.json",
                        format!("/{i}/appScopeId"),
                        format!("catalog {c} is not in catalogs.json"),
                    ));
                }
                AppScope::Catalog(_) if def.tenant_scoped => {
                    return Err(err(
                        "roleAssignments.json",
                        format!("/{i}/appScopeId"),
                        format!("'{}' is assigned tenant-wide: use '/'", def.display_name),
                    ));
                }
                AppScope::Tenant if !def.tenant_scoped => {
                    return Err(err(
                        "roleAssignments.json",
                        format!("/{i}/appScopeId"),
                        format!("'{}' is assigned on a catalog", def.display_name),
                    ));
                }
                _ => {}
            }
            role_assignments.push((a, scope));
        }
        let mut resources = Vec::new();
        let mut resource_ids = HashSet::new();
        for (i, r) in raw_resources.into_iter().enumerate() {
            if !resource_ids.insert(r.id) {
                return Err(err(
                    "resources.json",
                    format!("/{i}/id"),
                    format!("duplicate resource id {}", r.id),
                ));
            }
            if !catalog_ids.contains(&r.catalog_id) {
                return Err(err(
                    "resources.json",
                    format!("/{i}/catalogId"),
                    format!("catalog {} is not in catalogs.json", r.catalog_id),
                ));
            }
            let system = OriginSystem::parse(&r.origin_system).ok_or_else(|| {
                err(
                    "resources.json",
                    format!("/{i}/originSystem"),
                    format!(
                        "'{}' is not AadGroup, AadApplication or SharePointOnline",
                        r.origin_system
                    ),
                )
            })?;
            let exists = match system {
                OriginSystem::AadGroup => {
                    Uuid::parse_str(&r.origin_id).is_ok_and(|g| groups.iter().any(|x| x.id == g))
                }
                OriginSystem::AadApplication => Uuid::parse_str(&r.origin_id)
                    .is_ok_and(|g| service_principals.iter().any(|x| x.id == g)),
                OriginSystem::SharePointOnline => sites
                    .iter()
                    .any(|x| x.web_url.eq_ignore_ascii_case(&r.origin_id)),
            };
            if !exists {
                return Err(err(
                    "resources.json",
                    format!("/{i}/originId"),
                    format!("no {} '{}' in the directory", system.name(), r.origin_id),
                ));
            }
            resources.push((r, system));
        }
        let raw_policies: Vec<serde_json::Map<String, serde_json::Value>> = list(
            "assignmentPolicies.json",
            path("assignmentPolicies.json"),
            load("assignmentPolicies.json")?,
        )?;
        let mut policies = Vec::new();
        for (i, m) in raw_policies.iter().enumerate() {
            let e = |pointer: &str, message: String| {
                err("assignmentPolicies.json", format!("/{i}{pointer}"), message)
            };
            let id = m
                .get("id")
                .and_then(serde_json::Value::as_str)
                .and_then(|t| Uuid::parse_str(t).ok())
                .ok_or_else(|| e("/id", "every fixture policy needs a GUID id".into()))?;
            let unknown: Vec<&String> = m
                .keys()
                .filter(|k| {
                    !["id", "createdDateTime", "modifiedDateTime"].contains(&k.as_str())
                        && !crate::ops::policy::POLICY_FIELDS_V1.contains(&k.as_str())
                })
                .collect();
            if let Some(k) = unknown.first() {
                return Err(e(
                    &format!("/{k}"),
                    "unknown property (policies use v1.0's shape)".into(),
                ));
            }
            let mut n = 0u32;
            let mut ids = || {
                n += 1;
                crate::model::resources::derived_id(id, "question", &n.to_string())
            };
            let input = crate::ops::policy::PolicyInput::from_v1(m, &mut ids)
                .map_err(|g| e("", g.detail().unwrap_or("invalid policy").to_string()))?;
            if !input
                .access_package_id
                .is_some_and(|p| package_ids.contains(&p))
            {
                return Err(e(
                    "/accessPackage/id",
                    "the access package is not in accessPackages.json".into(),
                ));
            }
            // The API refuses a policy naming a principal the tenant lacks; so does a fixture
            // (connected organizations are not fixture objects, so they cannot be named).
            use crate::model::policy::SubjectKind;
            if let Some(message) = input.missing_principal(|kind, pid| match kind {
                SubjectKind::SingleUser => users.iter().any(|u| u.id == pid),
                SubjectKind::GroupMembers => groups.iter().any(|g| g.id == pid),
                SubjectKind::SingleServicePrincipal => {
                    service_principals.iter().any(|s| s.id == pid)
                }
                SubjectKind::ConnectedOrganizationMembers => false,
                _ => true,
            }) {
                return Err(e("", message));
            }
            let created = m
                .get("createdDateTime")
                .and_then(serde_json::Value::as_str)
                .map(|t| {
                    Timestamp::parse(t).map_err(|_| e("/createdDateTime", "not a date-time".into()))
                })
                .transpose()?;
            policies.push((id, input, created));
        }
        let assignments: Vec<AssignmentFixture> = list(
            "assignments.json",
            path("assignments.json"),
            load("assignments.json")?,
        )?;
        let mut assignment_ids = HashSet::new();
        for (i, a) in assignments.iter().enumerate() {
            let e = |pointer: &str, message: &str| {
                err(
                    "assignments.json",
                    format!("/{i}/{pointer}"),
                    message.into(),
                )
            };
            if !assignment_ids.insert(a.id) {
                return Err(e("id", "duplicate id"));
            }
            if !package_ids.contains(&a.access_package_id) {
                return Err(e(
                    "accessPackageId",
                    "the access package is not in accessPackages.json",
                ));
            }
            if !users.iter().any(|u| u.id == a.target_id) {
                return Err(e("targetId", "the target is not in users.json"));
            }
            if let Some(pid) = a.assignment_policy_id {
                let of_package = policies.iter().any(|(id, input, _)| {
                    *id == pid && input.access_package_id == Some(a.access_package_id)
                });
                if !of_package {
                    return Err(e(
                        "assignmentPolicyId",
                        "not a policy of the access package in assignmentPolicies.json",
                    ));
                }
            }
            if !matches!(
                a.state.as_deref(),
                None | Some("delivered") | Some("expired")
            ) {
                return Err(e("state", "must be 'delivered' or 'expired'"));
            }
        }
        let requests: Vec<RequestFixture> = list(
            "assignmentRequests.json",
            path("assignmentRequests.json"),
            load("assignmentRequests.json")?,
        )?;
        let mut request_ids = HashSet::new();
        for (i, r) in requests.iter().enumerate() {
            let e = |pointer: &str, message: &str| {
                err(
                    "assignmentRequests.json",
                    format!("/{i}/{pointer}"),
                    message.into(),
                )
            };
            if !request_ids.insert(r.id) {
                return Err(e("id", "duplicate id"));
            }
            let kind = r.request_type.as_deref().unwrap_or("userAdd");
            if !["userAdd", "adminAdd"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(kind))
            {
                return Err(e("requestType", "must be 'userAdd' or 'adminAdd'"));
            }
            if !package_ids.contains(&r.access_package_id) {
                return Err(e(
                    "accessPackageId",
                    "the access package is not in accessPackages.json",
                ));
            }
            if !users.iter().any(|u| u.id == r.target_id) {
                return Err(e("targetId", "the target is not in users.json"));
            }
            if let Some(requestor) = r.requestor_id {
                if !users.iter().any(|u| u.id == requestor) {
                    return Err(e("requestorId", "the requestor is not in users.json"));
                }
            }
            let policy = match r.assignment_policy_id {
                Some(pid) => policies.iter().find(|(id, input, _)| {
                    *id == pid && input.access_package_id == Some(r.access_package_id)
                }),
                None => policies
                    .iter()
                    .find(|(_, input, _)| input.access_package_id == Some(r.access_package_id)),
            };
            let Some((_, policy, _)) = policy else {
                return Err(e(
                    "assignmentPolicyId",
                    "no policy of the access package in assignmentPolicies.json",
                ));
            };
            match r.state.as_deref() {
                None | Some("denied") | Some("canceled") => {}
                // An administrator's request skips approval, so it cannot be left pending.
                Some("pendingApproval") if kind.eq_ignore_ascii_case("adminAdd") => {
                    return Err(e(
                        "state",
                        "an adminAdd request skips approval; it cannot be pendingApproval",
                    ));
                }
                Some("pendingApproval")
                    if policy.approval.for_add && !policy.approval.stages.is_empty() => {}
                Some("pendingApproval") => {
                    return Err(e("state", "the policy does not require approval"));
                }
                Some(_) => {
                    return Err(e(
                        "state",
                        "must be 'pendingApproval', 'denied' or 'canceled' (omit it to process the request)",
                    ));
                }
            }
        }
        let fixture = FixtureTenant {
            tenant,
            users,
            groups,
            service_principals,
            sites,
            directory_role_assignments,
            catalogs,
            access_packages,
            role_assignments,
            resources,
            role_scopes,
            policies,
            assignments,
            requests,
        };
        fixture.check_role_scopes(&path("resourceRoleScopes.json"))?;
        Ok(fixture)
    }

    /// Role scopes name roles that only exist once resources are onboarded: check them against a
    /// built tenant.
    fn check_role_scopes(&self, file: &str) -> Result<(), FixtureError> {
        let state = self.build_state(
            Box::new(crate::ids::RandomIds),
            Timestamp::from_datetime(time::OffsetDateTime::UNIX_EPOCH),
        );
        for (i, rs) in self.role_scopes.iter().enumerate() {
            let e = |pointer: &str, message: String| FixtureError {
                file: file.to_string(),
                pointer: format!("/{i}/{pointer}"),
                message,
            };
            let package = state.access_package(&rs.access_package_id).ok_or_else(|| {
                e(
                    "accessPackageId",
                    format!(
                        "access package {} is not in accessPackages.json",
                        rs.access_package_id
                    ),
                )
            })?;
            let resource = state.resource(&rs.resource_id).ok_or_else(|| {
                e(
                    "resourceId",
                    format!("resource {} is not in resources.json", rs.resource_id),
                )
            })?;
            if resource.catalog_id != package.catalog_id {
                return Err(e(
                    "resourceId",
                    "the resource is not in the access package's catalog".into(),
                ));
            }
            if !state
                .roles_of(&resource.id)
                .any(|r| r.origin_id.eq_ignore_ascii_case(&rs.role_origin_id))
            {
                let known: Vec<&str> = state
                    .roles_of(&resource.id)
                    .map(|r| r.origin_id.as_str())
                    .collect();
                return Err(e(
                    "roleOriginId",
                    format!(
                        "the resource has no role '{}' (it has: {})",
                        rs.role_origin_id,
                        known.join(", ")
                    ),
                ));
            }
            if let Some(scope) = &rs.scope_origin_id {
                if !state
                    .scopes_of(&resource.id)
                    .any(|s| s.origin_id.eq_ignore_ascii_case(scope))
                {
                    return Err(e(
                        "scopeOriginId",
                        format!("the resource has no scope '{scope}'"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Builds a live tenant. `now` dates objects whose fixture gives no time.
    pub fn build_state(&self, ids: Box<dyn IdGen>, now: Timestamp) -> TenantState {
        let created = self.tenant.created_date_time.unwrap_or(now);
        let mut directory = Directory::default();
        for u in &self.users {
            directory.users.insert(u.clone());
        }
        for g in &self.groups {
            directory.groups.insert(g.clone());
        }
        for sp in &self.service_principals {
            directory.service_principals.insert(sp.clone());
        }
        directory.sites = self.sites.clone();
        directory.role_assignments = self.directory_role_assignments.clone();
        directory.reindex();
        let info = TenantInfo {
            id: self.tenant.id,
            display_name: self.tenant.display_name.clone(),
            default_domain: self.tenant.default_domain.clone(),
        };
        let mut state = TenantState::new(info, directory, ids);
        if let Some(size) = self.tenant.page_size {
            state.page_size = size;
        }
        state.policy_put_no_content = self.tenant.policy_put_no_content;
        state.admin_approval_bypass = self.tenant.admin_approval_bypass;
        state.package_deletion_guard = self.tenant.package_deletion_guard;
        // Checked when the file was loaded.
        state.consistency_lag = self
            .tenant
            .eventual_consistency
            .as_deref()
            .and_then(|d| crate::model::lifecycle::parse_lag(d).ok());
        state.delivery = self.tenant.delivery;
        state.delivery_by_package = self.tenant.delivery_by_package.clone();
        // Every tenant has the built-in General catalog.
        if !self
            .catalogs
            .iter()
            .any(|c| c.1 == CatalogType::ServiceDefault)
        {
            let id = state.next_id();
            state.catalogs.insert(general_catalog(id, created));
        }
        for (c, catalog_type, catalog_state) in &self.catalogs {
            let created_at = c.created_date_time.unwrap_or(created);
            state.catalogs.insert(Catalog {
                id: c.id,
                display_name: c.display_name.clone(),
                description: c.description.clone(),
                catalog_type: *catalog_type,
                state: *catalog_state,
                is_externally_visible: c.is_externally_visible.unwrap_or(true),
                created: created_at,
                modified: c.modified_date_time.unwrap_or(created_at),
                created_by: c.created_by.clone(),
                modified_by: c.created_by.clone(),
            });
        }
        for p in &self.access_packages {
            let created_at = p.created_date_time.unwrap_or(created);
            state.insert_access_package(AccessPackage {
                id: p.id,
                catalog_id: p.catalog_id,
                role_scopes: Vec::new(),
                incompatible_packages: Vec::new(),
                incompatible_groups: Vec::new(),
                display_name: p.display_name.clone(),
                description: p.description.clone(),
                is_hidden: p.is_hidden,
                is_role_scopes_visible: p.is_role_scopes_visible,
                created: created_at,
                modified: p.modified_date_time.unwrap_or(created_at),
                created_by: p.created_by.clone(),
                modified_by: p.created_by.clone(),
                listing_json: Default::default(),
            });
        }
        for (a, scope) in &self.role_assignments {
            state.insert_role_assignment(EmRoleAssignment {
                id: a.id,
                principal_id: a.principal_id,
                role_definition_id: a.role_definition_id,
                scope: *scope,
            });
        }
        for (r, system) in &self.resources {
            let added = r.created_date_time.unwrap_or(created);
            if let Ok(crate::ops::resource::Onboarded {
                resource,
                roles,
                scopes,
                ..
            }) = crate::ops::resource::describe(
                &state,
                r.id,
                r.catalog_id,
                *system,
                &r.origin_id,
                added,
                None,
            ) {
                state.insert_resource(resource, roles, scopes);
            }
        }
        for (id, input, at) in &self.policies {
            let at = at.unwrap_or(created);
            let Some(package) = input.access_package_id else {
                continue;
            };
            state.insert_policy(crate::model::policy::Policy {
                id: *id,
                access_package_id: package,
                display_name: input.display_name.clone(),
                description: input.description.clone(),
                target_scope: input.target_scope,
                allowed_targets: input.allowed_targets.clone(),
                automatic: input.automatic.clone(),
                expiration: input.expiration.clone(),
                requestor: input.requestor.clone(),
                approval: input.approval.clone(),
                review_v1: input.review_v1.clone(),
                review_beta: input.review_beta.clone(),
                questions: input.questions.clone(),
                notification: input.notification.clone(),
                extension_stages: input.extension_stages.clone(),
                created: at,
                modified: at,
                created_by: None,
                modified_by: None,
            });
        }
        for rs in &self.role_scopes {
            let role = state
                .roles_of(&rs.resource_id)
                .find(|r| r.origin_id.eq_ignore_ascii_case(&rs.role_origin_id))
                .map(|r| r.id);
            let scope = state
                .scopes_of(&rs.resource_id)
                .find(|s| match &rs.scope_origin_id {
                    Some(o) => s.origin_id.eq_ignore_ascii_case(o),
                    None => s.is_root_scope,
                })
                .map(|s| s.id);
            let created_at = self
                .access_packages
                .iter()
                .find(|p| p.id == rs.access_package_id)
                .and_then(|p| p.created_date_time)
                .unwrap_or(created);
            if let (Some(role_id), Some(scope_id), Some(p)) =
                (role, scope, state.access_package_mut(&rs.access_package_id))
            {
                p.role_scopes.push(crate::model::resources::RoleScope {
                    role_id,
                    scope_id,
                    created: created_at,
                    created_by: None,
                });
            }
        }
        for a in &self.assignments {
            crate::ops::lifecycle::seed_assignment(
                &mut state,
                crate::ops::lifecycle::SeededAssignment {
                    id: a.id,
                    access_package_id: a.access_package_id,
                    target: a.target_id,
                    policy_id: a.assignment_policy_id,
                    expired: a.state.as_deref() == Some("expired"),
                    start: a.start_date_time.unwrap_or(created),
                    end: a.end_date_time,
                },
            );
        }
        for r in &self.requests {
            let kind = r.request_type.clone().unwrap_or_else(|| "userAdd".into());
            let admin = kind.eq_ignore_ascii_case("adminAdd");
            crate::ops::lifecycle::seed_request(
                &mut state,
                crate::ops::lifecycle::SeededRequest {
                    id: r.id,
                    admin,
                    request_type_text: kind,
                    access_package_id: r.access_package_id,
                    target: r.target_id,
                    requestor: r.requestor_id.or_else(|| (!admin).then_some(r.target_id)),
                    policy_id: r.assignment_policy_id,
                    justification: r.justification.clone(),
                    finished: r.state.clone().filter(|s| s != "pendingApproval"),
                    created: r.created_date_time.unwrap_or(created),
                    start: r.start_date_time,
                },
            );
        }
        state
    }
}

/// The General catalog as entitlement management creates it in every tenant.
pub fn general_catalog(id: Uuid, created: Timestamp) -> Catalog {
    Catalog {
        id,
        display_name: "General".into(),
        description: Some("Built-in catalog.".into()),
        catalog_type: CatalogType::ServiceDefault,
        state: CatalogState::Published,
        is_externally_visible: true,
        created,
        modified: created,
        created_by: None,
        modified_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(files: &[(&str, &str)]) -> Result<FixtureTenant, FixtureError> {
        FixtureTenant::parse("t", |name| {
            Ok(files
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.to_string()))
        })
    }

    const TENANT: &str = r#"{"id":"10000000-0000-4000-8000-000000000000","displayName":"T","defaultDomain":"t.example"}"#;

    #[test]
    fn embedded_default_loads() {
        let t = FixtureSource::EmbeddedDefault.load().unwrap();
        assert!(
            t.catalogs
                .iter()
                .any(|c| c.1 == CatalogType::ServiceDefault)
        );
        assert!(!t.users.is_empty());
    }

    #[test]
    fn type_errors_name_file_and_pointer() {
        let e = parse(&[("tenant.json", TENANT), ("users.json", r#"[{"id":"20000000-0000-4000-8000-000000000001","displayName":5,"userPrincipalName":"a@t"}]"#)]).unwrap_err();
        assert_eq!(e.file, "t/users.json");
        assert_eq!(e.pointer, "/0/displayName");
    }

    #[test]
    fn dangling_references_are_reported() {
        let e = parse(&[
            ("tenant.json", TENANT),
            ("accessPackages.json", r#"[{"id":"60000000-0000-4000-8000-000000000001","catalogId":"50000000-0000-4000-8000-000000000009","displayName":"x"}]"#),
        ])
        .unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.pointer.as_str()),
            ("t/accessPackages.json", "/0/catalogId")
        );
    }

    #[test]
    fn unknown_properties_are_rejected() {
        let e = parse(&[("tenant.json", r#"{"id":"10000000-0000-4000-8000-000000000000","displayName":"T","defaultDomain":"d","colour":1}"#)]).unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn general_catalog_is_added_when_missing() {
        let t = parse(&[("tenant.json", TENANT)]).unwrap();
        let state = t.build_state(
            crate::ids::IdSource::Seeded(1).generator(1),
            Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        );
        assert_eq!(
            state.default_catalog().map(|c| c.display_name.as_str()),
            Some("General")
        );
    }
}
