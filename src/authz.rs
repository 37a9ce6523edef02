//! Who may do what: the one table of operations and the permissions they need
//! (https://learn.microsoft.com/graph/permissions-overview, the role tip of each EM API
//! page, and https://learn.microsoft.com/entra/id-governance/entitlement-management-delegate),
//! and the check that applies it.
//!
//! A request passes in two steps, as Graph decides delegated access
//! (https://learn.microsoft.com/graph/permissions-overview):
//! 1. **Graph permission**: delegated callers need the scope (`scp`); application callers with the
//!    permission (`roles`) are allowed tenant-wide at that level.
//! 2. **Role**: delegated callers also need a directory role (`wids`) or an entitlement-management
//!    role on the catalog (explicit or through group membership). Applications *without* the Graph
//!    permission are allowed by their EM roles (the usual Terraform set-up; the role tip of
//!    each EM API page, e.g.
//!    https://learn.microsoft.com/graph/api/entitlementmanagement-list-catalogs?view=graph-rest-1.0).
//!
//! Policy-granted rights (requestor, approver) with `EntitlementMgmt-SubjectAccess.ReadWrite`
//! arrive with the lifecycle issue as `Access::SubjectAccess` requirements.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

use serde_json::{Value, json};

use uuid::{Uuid, uuid};

use crate::error::{GraphError, REASON_NO_PERMISSION, REASON_NO_ROLE};
use crate::model::caller::permissions::{READ_ALL, READ_WRITE_ALL};
use crate::model::caller::{Caller, CallerKind};
use crate::model::em::AppScope;
use crate::store::TenantState;

/// Directory-role template ids
/// (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
pub mod directory_roles {
    use uuid::{Uuid, uuid};
    pub const GLOBAL_ADMINISTRATOR: Uuid = uuid!("62e90394-69f5-4237-9190-012177145e10");
    pub const IDENTITY_GOVERNANCE_ADMINISTRATOR: Uuid =
        uuid!("45d8d3c5-c802-45c6-b32a-1d70b5e1e86e");
    pub const GLOBAL_READER: Uuid = uuid!("f2ef992c-3afb-46b9-b7cf-a126ee74c451");
    pub const SECURITY_READER: Uuid = uuid!("5d6b6bb7-de71-4623-b4af-96380a352509");
    pub const SECURITY_ADMINISTRATOR: Uuid = uuid!("194ae4cb-b126-40b2-bd5b-6091b380977d");
    pub const COMPLIANCE_ADMINISTRATOR: Uuid = uuid!("17315797-102d-40b4-93e0-432062caca18");

    pub const GROUPS_ADMINISTRATOR: Uuid = uuid!("fdd7a751-b60b-444a-984c-02652fe8fa1c");
    pub const USER_ADMINISTRATOR: Uuid = uuid!("fe930be7-5e62-47db-91af-98c3a49a38b1");
    pub const APPLICATION_ADMINISTRATOR: Uuid = uuid!("9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3");
    pub const CLOUD_APPLICATION_ADMINISTRATOR: Uuid = uuid!("158c047a-c907-4556-b7ef-446551a6b5f7");
    pub const SHAREPOINT_ADMINISTRATOR: Uuid = uuid!("f28a1f50-f6e7-4571-818b-6a12f2af6b6c");

    /// Roles that manage all of entitlement management.
    pub const ADMINS: [Uuid; 2] = [GLOBAL_ADMINISTRATOR, IDENTITY_GOVERNANCE_ADMINISTRATOR];
    /// Roles that may read all catalog-scoped objects (`rbac-entitlement-management-catalog-reader`).
    pub const READERS: [Uuid; 4] = [
        GLOBAL_READER,
        SECURITY_READER,
        SECURITY_ADMINISTRATOR,
        COMPLIANCE_ADMINISTRATOR,
    ];
}

/// What an entitlement-management role lets its holder do (the task matrix of
/// https://learn.microsoft.com/entra/id-governance/entitlement-management-delegate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    /// See the catalog and everything in it.
    Read,
    CreateCatalog,
    /// Edit or delete the catalog, add resources, add owners, delegate managers.
    ManageCatalog,
    /// Create, edit, hide and delete access packages, their role scopes and policies.
    ManageAccessPackages,
    /// Directly assign and remove users, view and handle requests.
    ManageAssignments,
    /// Only directory administrators (delegating tenant-wide roles such as Catalog creator).
    Administer,
}

/// A built-in EM role definition
/// (https://learn.microsoft.com/graph/api/rbacapplication-list-roledefinitions?view=graph-rest-1.0;
/// names verbatim, clients look them up).
#[derive(Debug)]
pub struct EmRoleDefinition {
    pub id: Uuid,
    pub display_name: &'static str,
    pub allowed_resource_actions: &'static [&'static str],
    pub tasks: &'static [Task],
    /// Whether the role is assigned tenant-wide (`/`) rather than on a catalog.
    pub tenant_scoped: bool,
}

pub const CATALOG_OWNER: Uuid = uuid!("ae79f266-94d4-4dab-b730-feca7e132178");
pub const CATALOG_READER: Uuid = uuid!("44272f93-9762-48e8-af59-1b5351b1d6b3");
pub const ACCESS_PACKAGE_MANAGER: Uuid = uuid!("7f480852-ebdc-47d4-87de-0d8498384a83");
pub const CATALOG_CREATOR: Uuid = uuid!("ba92d953-d8e0-4e39-a797-0cbedb0a89e8");
pub const ACCESS_PACKAGE_ASSIGNMENT_MANAGER: Uuid = uuid!("e2182095-804a-4656-ae11-64734e9b7ae5");

pub static EM_ROLE_DEFINITIONS: [EmRoleDefinition; 5] = [
    EmRoleDefinition {
        id: CATALOG_OWNER,
        display_name: "Catalog owner",
        allowed_resource_actions: &["microsoft.entitlementManagement/allEntities/allTasks"],
        tasks: &[
            Task::Read,
            Task::ManageCatalog,
            Task::ManageAccessPackages,
            Task::ManageAssignments,
        ],
        tenant_scoped: false,
    },
    EmRoleDefinition {
        id: CATALOG_READER,
        display_name: "Catalog reader",
        allowed_resource_actions: &["microsoft.entitlementManagement/allEntities/Read"],
        tasks: &[Task::Read],
        tenant_scoped: false,
    },
    EmRoleDefinition {
        id: ACCESS_PACKAGE_MANAGER,
        display_name: "AccessPackages manager",
        allowed_resource_actions: &[
            "microsoft.entitlementManagement/AccessPackageCatalog/AccessPackage/allTasks",
            "microsoft.entitlementManagement/AccessPackageCatalog/allEntities/Read",
        ],
        tasks: &[
            Task::Read,
            Task::ManageAccessPackages,
            Task::ManageAssignments,
        ],
        tenant_scoped: false,
    },
    EmRoleDefinition {
        id: CATALOG_CREATOR,
        display_name: "Catalog creator",
        allowed_resource_actions: &["microsoft.entitlementManagement/AccessPackageCatalog/Create"],
        tasks: &[Task::CreateCatalog],
        tenant_scoped: true,
    },
    EmRoleDefinition {
        id: ACCESS_PACKAGE_ASSIGNMENT_MANAGER,
        display_name: "AccessPackage assignment manager",
        allowed_resource_actions: &[
            "microsoft.entitlementManagement/AccessPackageCatalog/AccessPackage/GrantRequests/allTasks",
            "microsoft.entitlementManagement/AccessPackageCatalog/AccessPackage/Grants/allTasks",
            "microsoft.entitlementManagement/AccessPackageCatalog/allEntities/Read",
        ],
        tasks: &[Task::Read, Task::ManageAssignments],
        tenant_scoped: false,
    },
];

pub fn role_definition(id: &Uuid) -> Option<&'static EmRoleDefinition> {
    EM_ROLE_DEFINITIONS.iter().find(|d| d.id == *id)
}

/// Which Graph permission family an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// End-user ("My Access") calls: `EntitlementMgmt-SubjectAccess.ReadWrite` suffices for
    /// delegated callers (the least privileged permission of, e.g.,
    /// https://learn.microsoft.com/graph/api/accesspackage-filterbycurrentuser?view=graph-rest-1.0).
    Subject,
}

/// Where the role part of the check applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The Graph permission suffices (built-in role definitions).
    Permission,
    /// Tenant-wide roles only.
    Tenant,
    Catalog(Uuid),
    /// Both catalogs (moving a package).
    TwoCatalogs(Uuid, Uuid),
    /// A listing: filtered to the catalogs where the task is granted.
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    pub access: Access,
    pub task: Task,
    pub scope: Scope,
}

/// Every operation the emulator serves, with what it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ListCatalogs,
    ReadCatalog {
        catalog: Uuid,
    },
    CreateCatalog,
    UpdateCatalog {
        catalog: Uuid,
    },
    DeleteCatalog {
        catalog: Uuid,
    },
    ListAccessPackages,
    ReadAccessPackage {
        catalog: Uuid,
    },
    CreateAccessPackage {
        catalog: Uuid,
    },
    UpdateAccessPackage {
        catalog: Uuid,
    },
    DeleteAccessPackage {
        catalog: Uuid,
    },
    MoveAccessPackage {
        from: Uuid,
        to: Uuid,
    },
    /// Add, update or remove a catalog's resources (resource requests).
    ManageCatalogResources {
        catalog: Uuid,
    },
    /// Add or remove an access package's resource role scopes.
    ManageRoleScopes {
        catalog: Uuid,
    },
    ListResourceRequests,
    /// Create, replace or delete an assignment policy of a package in the catalog.
    ManagePolicies {
        catalog: Uuid,
    },
    /// Connected organizations and settings: Identity Governance Administrator territory (the
    /// role tip of
    /// https://learn.microsoft.com/graph/api/connectedorganization-get?view=graph-rest-1.0).
    ReadTenantObjects,
    ManageTenantObjects,
    /// Incompatible packages and groups of a package.
    ManageIncompatibilities {
        catalog: Uuid,
    },
    /// Admin requests (adminAdd/adminUpdate/adminRemove), cancelling others' requests.
    ManageAssignments {
        catalog: Uuid,
    },
    /// Reading assignments and requests of packages in a catalog; listings filter by grant.
    ReadAssignments {
        catalog: Uuid,
    },
    ListAssignments,
    ReadRoleDefinitions,
    ListRoleAssignments,
    ReadRoleAssignment {
        scope: AppScope,
    },
    CreateRoleAssignment {
        scope: AppScope,
    },
    DeleteRoleAssignment {
        scope: AppScope,
    },
}

impl Operation {
    /// The operation table.
    pub fn requirement(self) -> Requirement {
        use Access::*;
        use Operation::*;
        let (access, task, scope) = match self {
            ListCatalogs => (Read, Task::Read, Scope::List),
            ReadCatalog { catalog } => (Read, Task::Read, Scope::Catalog(catalog)),
            CreateCatalog => (Write, Task::CreateCatalog, Scope::Tenant),
            UpdateCatalog { catalog } | DeleteCatalog { catalog } => {
                (Write, Task::ManageCatalog, Scope::Catalog(catalog))
            }
            ListAccessPackages => (Read, Task::Read, Scope::List),
            ReadAccessPackage { catalog } => (Read, Task::Read, Scope::Catalog(catalog)),
            CreateAccessPackage { catalog }
            | UpdateAccessPackage { catalog }
            | DeleteAccessPackage { catalog } => {
                (Write, Task::ManageAccessPackages, Scope::Catalog(catalog))
            }
            MoveAccessPackage { from, to } => (
                Write,
                Task::ManageAccessPackages,
                Scope::TwoCatalogs(from, to),
            ),
            // "Add a resource to a catalog": IGA and Catalog owner only; an access package
            // manager may not
            // (https://learn.microsoft.com/entra/id-governance/entitlement-management-delegate).
            ManageCatalogResources { catalog } => {
                (Write, Task::ManageCatalog, Scope::Catalog(catalog))
            }
            ManageRoleScopes { catalog } => {
                (Write, Task::ManageAccessPackages, Scope::Catalog(catalog))
            }
            ListResourceRequests => (Read, Task::Read, Scope::List),
            ManagePolicies { catalog } | ManageIncompatibilities { catalog } => {
                (Write, Task::ManageAccessPackages, Scope::Catalog(catalog))
            }
            ManageAssignments { catalog } => {
                (Write, Task::ManageAssignments, Scope::Catalog(catalog))
            }
            ReadAssignments { catalog } => (Read, Task::Read, Scope::Catalog(catalog)),
            ListAssignments => (Read, Task::Read, Scope::List),
            ReadTenantObjects => (Read, Task::Read, Scope::Tenant),
            ManageTenantObjects => (Write, Task::Administer, Scope::Tenant),
            ReadRoleDefinitions => (Read, Task::Read, Scope::Permission),
            ListRoleAssignments => (Read, Task::Read, Scope::List),
            ReadRoleAssignment { scope } => (Read, Task::Read, app_scope(scope)),
            // Catalog owners add owners and delegate managers on their catalog
            // (https://learn.microsoft.com/entra/id-governance/entitlement-management-delegate);
            // tenant-wide roles (Catalog creator) only directory administrators hand out.
            CreateRoleAssignment { scope } | DeleteRoleAssignment { scope } => match scope {
                AppScope::Tenant => (Write, Task::Administer, Scope::Tenant),
                AppScope::Catalog(c) => (Write, Task::ManageCatalog, Scope::Catalog(c)),
            },
        };
        Requirement {
            access,
            task,
            scope,
        }
    }
}

fn app_scope(scope: AppScope) -> Scope {
    match scope {
        AppScope::Tenant => Scope::Tenant,
        AppScope::Catalog(c) => Scope::Catalog(c),
    }
}

/// What a successful check grants: everything, or a set of catalogs (for listings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Tenant,
    Catalogs(BTreeSet<Uuid>),
}

impl Grant {
    pub fn covers(&self, catalog: &Uuid) -> bool {
        match self {
            Grant::Tenant => true,
            Grant::Catalogs(set) => set.contains(catalog),
        }
    }
}

fn has_graph_permission(caller: &Caller, access: Access) -> bool {
    match access {
        Access::Read => caller.has_permission(READ_ALL) || caller.has_permission(READ_WRITE_ALL),
        Access::Write => caller.has_permission(READ_WRITE_ALL),
        Access::Subject => {
            caller.has_permission(READ_WRITE_ALL)
                || (caller.kind == CallerKind::Delegated
                    && caller.has_permission(crate::model::caller::permissions::SUBJECT_ACCESS))
        }
    }
}

/// Whether the caller may act on every catalog at this level without any EM role.
fn tenant_wide(caller: &Caller, access: Access) -> bool {
    match caller.kind {
        CallerKind::Unauthenticated => true,
        CallerKind::Application => has_graph_permission(caller, access),
        CallerKind::Delegated => {
            has_graph_permission(caller, access)
                && caller.directory_roles.iter().any(|r| {
                    directory_roles::ADMINS.contains(r)
                        || (access == Access::Read && directory_roles::READERS.contains(r))
                })
        }
    }
}

// ---- the decision log ----
//
// Each call's refusals are explained as they happen, for the journal (`decisions`). An operation
// runs synchronously on one thread between `start_decisions` and `take_decisions`, so a
// thread-local collects them without threading a log through every operation.

thread_local! {
    static DECISIONS: RefCell<Option<Vec<Value>>> = const { RefCell::new(None) };
    static REQUIRED: RefCell<Vec<Requirement>> = const { RefCell::new(Vec::new()) };
    static SOFT: Cell<bool> = const { Cell::new(false) };
}

/// What the table required of this call (for the least-privilege report).
pub fn take_requirements() -> Vec<Requirement> {
    REQUIRED.take()
}

/// Starts collecting this thread's decisions; with `soft`, refusals of the table are waived.
pub fn start_decisions(soft: bool) {
    DECISIONS.set(Some(Vec::new()));
    REQUIRED.set(Vec::new());
    SOFT.set(soft);
}

/// Ends collecting and returns what was noted.
pub fn take_decisions() -> Vec<Value> {
    SOFT.set(false);
    DECISIONS.take().unwrap_or_default()
}

/// Adds one explanation to the current call's log (nothing when none is being collected).
pub fn note(decision: Value) {
    DECISIONS.with_borrow_mut(|log| {
        if let Some(log) = log {
            log.push(decision);
        }
    });
}

fn caller_facts(caller: &Caller) -> Value {
    json!({"kind": format!("{:?}", caller.kind), "objectId": caller.object_id,
           "permissions": caller.permissions, "directoryRoles": caller.directory_roles})
}

/// A refusal by the permission/role table: explained, and waived in soft mode.
fn refuse(
    caller: &Caller,
    op: Option<Operation>,
    required: Value,
    rule: &str,
    reason: &'static str,
) -> Result<Grant, GraphError> {
    let soft = SOFT.get();
    note(
        json!({"decision": if soft { "waived" } else { "refused" }, "rule": rule,
                "operation": op.map(|o| format!("{o:?}")), "required": required,
                "caller": caller_facts(caller)}),
    );
    if soft {
        tracing::info!(rule, operation = ?op, "soft auth: refusal waived");
        Ok(Grant::Tenant)
    } else {
        Err(GraphError::UnAuthorized(reason))
    }
}

fn required_json(req: &Requirement) -> Value {
    let permission = match req.access {
        Access::Read => "EntitlementManagement.Read.All or EntitlementManagement.ReadWrite.All",
        Access::Write => "EntitlementManagement.ReadWrite.All",
        Access::Subject => {
            "EntitlementMgmt-SubjectAccess.ReadWrite (delegated) or EntitlementManagement.*.All"
        }
    };
    json!({"permission": permission, "task": format!("{:?}", req.task),
           "scope": format!("{:?}", req.scope)})
}

/// Applies the operation table to a caller.
pub fn authorize(caller: &Caller, op: Operation, state: &TenantState) -> Result<Grant, GraphError> {
    let req = op.requirement();
    REQUIRED.with_borrow_mut(|r| r.push(req));
    if caller.kind == CallerKind::Delegated && !has_graph_permission(caller, req.access) {
        return refuse(
            caller,
            Some(op),
            required_json(&req),
            "the token's scopes do not include the operation's permission",
            REASON_NO_PERMISSION,
        );
    }
    if tenant_wide(caller, req.access) {
        return Ok(Grant::Tenant);
    }
    if req.scope == Scope::Permission && has_graph_permission(caller, req.access) {
        return Ok(Grant::Tenant);
    }
    let Some(principal) = caller.object_id else {
        return refuse(
            caller,
            Some(op),
            required_json(&req),
            "no Graph permission and no principal that could hold an entitlement-management role",
            REASON_NO_PERMISSION,
        );
    };
    // Role path: EM role assignments, held directly or through groups.
    let mut any_role = false;
    let mut tenant_grant = false;
    let mut catalogs = BTreeSet::new();
    for assignment in state.role_assignments_of(&principal) {
        any_role = true;
        let Some(def) = role_definition(&assignment.role_definition_id) else {
            continue;
        };
        if !def.tasks.contains(&req.task) {
            continue;
        }
        match assignment.scope {
            AppScope::Tenant => tenant_grant = true,
            AppScope::Catalog(c) => {
                catalogs.insert(c);
            }
        }
    }
    let granted = |c: &Uuid| tenant_grant || catalogs.contains(c);
    let ok = match req.scope {
        Scope::Permission => any_role,
        Scope::Tenant => tenant_grant,
        Scope::Catalog(c) => granted(&c),
        Scope::TwoCatalogs(a, b) => granted(&a) && granted(&b),
        Scope::List => {
            if tenant_grant {
                return Ok(Grant::Tenant);
            }
            if !any_role && caller.kind == CallerKind::Application {
                return refuse(
                    caller,
                    Some(op),
                    required_json(&req),
                    "the application has neither the Graph permission nor an entitlement-management role",
                    REASON_NO_PERMISSION,
                );
            }
            any_role
        }
    };
    if !ok {
        let reason = if caller.kind == CallerKind::Application && !any_role {
            REASON_NO_PERMISSION
        } else {
            REASON_NO_ROLE
        };
        let rule = if any_role {
            "the caller's entitlement-management roles do not grant this task in this scope"
        } else {
            "the caller holds no entitlement-management role and no tenant-wide directory role"
        };
        return refuse(caller, Some(op), required_json(&req), rule, reason);
    }
    Ok(match req.scope {
        Scope::List => Grant::Catalogs(catalogs),
        _ => Grant::Tenant,
    })
}

/// The error for an id that does not exist (or no longer exists). Callers with tenant-wide
/// rights learn it is gone (404); catalog-scoped callers get 403, as Graph answers them after a
/// delete (microsoft/terraform-provider-msgraph#159).
/// The reason mirrors `authorize`'s, so the answer does not reveal whether the id exists.
pub fn missing(caller: &Caller, access: Access, state: &TenantState) -> GraphError {
    if caller.kind == CallerKind::Delegated && !has_graph_permission(caller, access) {
        return GraphError::UnAuthorized(REASON_NO_PERMISSION);
    }
    if tenant_wide(caller, access) {
        return GraphError::ResourceNotFound;
    }
    let holds_a_role = caller
        .object_id
        .is_some_and(|p| state.role_assignments_of(&p).next().is_some());
    if caller.kind == CallerKind::Application && !holds_a_role {
        GraphError::UnAuthorized(REASON_NO_PERMISSION)
    } else {
        GraphError::UnAuthorized(REASON_NO_ROLE)
    }
}

/// What a resource's origin lets the caller do, beyond the catalog role
/// (https://learn.microsoft.com/graph/api/entitlementmanagement-post-resourcerequests?view=graph-rest-1.0,
/// https://learn.microsoft.com/entra/id-governance/entitlement-management-catalog-create):
/// owning it, a directory role able to modify it, or — for apps —
/// the Graph permission over that kind of object.
pub fn may_onboard(
    caller: &Caller,
    kind: crate::model::resources::OriginSystem,
    owners: &[Uuid],
) -> bool {
    use crate::model::resources::OriginSystem::*;
    use directory_roles::*;
    if caller.kind == CallerKind::Unauthenticated {
        return true;
    }
    if caller.object_id.is_some_and(|me| owners.contains(&me)) {
        return true;
    }
    let (roles, app_permissions): (&[Uuid], &[&str]) = match kind {
        AadGroup => (
            &[
                GLOBAL_ADMINISTRATOR,
                GROUPS_ADMINISTRATOR,
                USER_ADMINISTRATOR,
            ],
            &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
        ),
        AadApplication => (
            &[
                GLOBAL_ADMINISTRATOR,
                APPLICATION_ADMINISTRATOR,
                CLOUD_APPLICATION_ADMINISTRATOR,
            ],
            &[
                "Application.ReadWrite.All",
                "AppRoleAssignment.ReadWrite.All",
            ],
        ),
        SharePointOnline => (
            &[GLOBAL_ADMINISTRATOR, SHAREPOINT_ADMINISTRATOR],
            &["Sites.FullControl.All"],
        ),
    };
    match caller.kind {
        CallerKind::Delegated => caller.directory_roles.iter().any(|r| roles.contains(r)),
        CallerKind::Application => app_permissions.iter().any(|p| caller.has_permission(p)),
        CallerKind::Unauthenticated => true,
    }
}

/// The Graph-permission half of the check, which needs no state: a delegated caller without the
/// scope is refused before its body is read, as an authorization filter runs before model
/// binding in the ASP.NET backend [inf].
pub fn precheck(caller: &Caller, access: Access) -> Result<(), GraphError> {
    if caller.kind == CallerKind::Delegated && !has_graph_permission(caller, access) {
        let required = required_json(&Requirement {
            access,
            task: Task::Read,
            scope: Scope::Permission,
        });
        refuse(
            caller,
            None,
            required,
            "the token's scopes do not include a permission this route accepts",
            REASON_NO_PERMISSION,
        )?;
    }
    Ok(())
}

// ---- the least-privilege report ----

/// The smallest Graph permissions and entitlement-management roles that would have allowed
/// every requirement in `required` — computed from the operation table alone, offline.
pub fn least_privilege(required: &[Requirement]) -> Value {
    use std::collections::BTreeMap;
    let writes = required.iter().any(|r| r.access == Access::Write);
    let reads = required.iter().any(|r| r.access == Access::Read);
    let delegated = if writes {
        READ_WRITE_ALL
    } else if reads {
        READ_ALL
    } else if required.is_empty() {
        "none"
    } else {
        "EntitlementMgmt-SubjectAccess.ReadWrite"
    };
    let application = if writes {
        READ_WRITE_ALL
    } else if required.is_empty() {
        "none"
    } else {
        READ_ALL
    };
    // Tasks needed per place: the tenant ("/") or a catalog.
    let mut tasks: BTreeMap<String, BTreeSet<Task>> = BTreeMap::new();
    for r in required {
        let places: Vec<String> = match r.scope {
            Scope::Tenant => vec!["/".into()],
            Scope::Catalog(c) => vec![format!("/catalogs/{c}")],
            Scope::TwoCatalogs(a, b) => vec![format!("/catalogs/{a}"), format!("/catalogs/{b}")],
            // The permission alone suffices, or a listing that any role narrows.
            Scope::Permission | Scope::List => continue,
        };
        for place in places {
            tasks.entry(place).or_default().insert(r.task);
        }
    }
    let roles: Vec<Value> = tasks
        .iter()
        .map(|(place, needed)| {
            let tenant = place == "/";
            let role = EM_ROLE_DEFINITIONS
                .iter()
                .filter(|d| d.tenant_scoped == tenant)
                .filter(|d| needed.iter().all(|t| d.tasks.contains(t)))
                .min_by_key(|d| d.tasks.len())
                .map_or("Identity Governance Administrator (directory role)", |d| {
                    d.display_name
                });
            json!({"scope": place, "role": role,
                   "tasks": needed.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>()})
        })
        .collect();
    json!({
        "graphPermission": {"delegated": delegated, "application": application},
        "roles": roles,
        "note": "Either the Graph permission with a tenant-wide role (or an application permission), or the delegated permission with these entitlement-management roles, allows every call counted.",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::fixtures::FixtureSource;
    use crate::ids::IdSource;
    use crate::model::caller::CallerKind;

    const GENERAL: Uuid = uuid!("50000000-0000-4000-8000-000000000001");
    const MARKETING: Uuid = uuid!("50000000-0000-4000-8000-000000000002");

    fn state() -> TenantState {
        let fixture = FixtureSource::EmbeddedDefault.load().unwrap();
        fixture.build_state(
            IdSource::Seeded(1).generator(1),
            Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        )
    }

    fn user(oid: &str, scopes: &[&str], wids: &[Uuid]) -> Caller {
        Caller {
            tenant_id: Uuid::nil(),
            kind: CallerKind::Delegated,
            object_id: Uuid::parse_str(oid).ok(),
            app_id: None,
            actor: None,
            permissions: scopes.iter().map(|s| s.to_string()).collect(),
            directory_roles: wids.to_vec(),
        }
    }

    #[test]
    fn catalog_owner_is_confined_to_the_catalog() {
        let s = state();
        let owner = user(
            "20000000-0000-4000-8000-000000000003",
            &[READ_WRITE_ALL],
            &[],
        );
        assert!(authorize(&owner, Operation::ReadCatalog { catalog: MARKETING }, &s).is_ok());
        assert_eq!(
            authorize(&owner, Operation::ReadCatalog { catalog: GENERAL }, &s),
            Err(GraphError::UnAuthorized(REASON_NO_ROLE))
        );
        assert_eq!(
            authorize(&owner, Operation::ListCatalogs, &s),
            Ok(Grant::Catalogs([MARKETING].into_iter().collect()))
        );
        assert!(authorize(&owner, Operation::CreateCatalog, &s).is_err());
        assert!(
            authorize(
                &owner,
                Operation::MoveAccessPackage {
                    from: MARKETING,
                    to: GENERAL
                },
                &s
            )
            .is_err()
        );
    }

    #[test]
    fn scope_is_intersected_with_directory_roles() {
        let s = state();
        let iga = directory_roles::IDENTITY_GOVERNANCE_ADMINISTRATOR;
        let admin_rw = user(
            "20000000-0000-4000-8000-000000000002",
            &[READ_WRITE_ALL],
            &[iga],
        );
        assert_eq!(
            authorize(&admin_rw, Operation::CreateCatalog, &s),
            Ok(Grant::Tenant)
        );
        let admin_read = user("20000000-0000-4000-8000-000000000002", &[READ_ALL], &[iga]);
        assert_eq!(
            authorize(&admin_read, Operation::ListCatalogs, &s),
            Ok(Grant::Tenant)
        );
        assert_eq!(
            authorize(&admin_read, Operation::CreateCatalog, &s),
            Err(GraphError::UnAuthorized(REASON_NO_PERMISSION))
        );
        let reader = user(
            "20000000-0000-4000-8000-000000000009",
            &[READ_WRITE_ALL],
            &[directory_roles::GLOBAL_READER],
        );
        assert_eq!(
            authorize(&reader, Operation::ListAccessPackages, &s),
            Ok(Grant::Tenant)
        );
        assert!(authorize(&reader, Operation::UpdateCatalog { catalog: GENERAL }, &s).is_err());
    }

    #[test]
    fn apps_act_by_permission_or_by_em_role() {
        let s = state();
        let bot = Caller {
            kind: CallerKind::Application,
            permissions: Vec::new(),
            ..user("40000000-0000-4000-8000-000000000002", &[], &[])
        };
        assert!(
            authorize(
                &bot,
                Operation::CreateAccessPackage { catalog: MARKETING },
                &s
            )
            .is_ok()
        );
        assert_eq!(
            authorize(
                &bot,
                Operation::CreateAccessPackage { catalog: GENERAL },
                &s
            ),
            Err(GraphError::UnAuthorized(REASON_NO_ROLE))
        );
        let reporter = Caller {
            permissions: vec![READ_ALL.into()],
            ..bot.clone()
        };
        assert_eq!(
            authorize(&reporter, Operation::ListAccessPackages, &s),
            Ok(Grant::Tenant)
        );
        assert_eq!(
            missing(&reporter, Access::Read, &s),
            GraphError::ResourceNotFound
        );
        assert_eq!(
            missing(&bot, Access::Read, &s),
            GraphError::UnAuthorized(REASON_NO_ROLE)
        );
        // The same reason whether or not the id exists.
        let existing = authorize(
            &reporter,
            Operation::DeleteAccessPackage { catalog: GENERAL },
            &s,
        );
        assert_eq!(existing, Err(missing(&reporter, Access::Write, &s)));
    }

    #[test]
    fn group_membership_confers_roles() {
        let s = state();
        let member = user(
            "20000000-0000-4000-8000-000000000006",
            &[READ_WRITE_ALL],
            &[],
        );
        assert!(
            authorize(
                &member,
                Operation::ReadAccessPackage { catalog: MARKETING },
                &s
            )
            .is_ok()
        );
        assert!(
            authorize(
                &member,
                Operation::UpdateAccessPackage { catalog: MARKETING },
                &s
            )
            .is_err()
        );
    }
}
