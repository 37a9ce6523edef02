//! Tenants and their state. Each tenant's whole state sits behind one `RwLock`, so rules that
//! span entities (no catalog deleted while it holds packages; creator becomes owner) are atomic.
//! Store access is synchronous and closure-scoped: no guard can live across an `.await`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::ids::{ENTITY_STREAM, IdGen, IdSource};
use crate::model::ApiVersion;
use crate::model::directory::Directory;
use crate::model::em::{AccessPackage, AppScope, Catalog, EmRoleAssignment};
use crate::model::resources::{CatalogResource, ResourceRequest, ResourceRole, ResourceScope};
use crate::model::table::Table;

/// What `TenantState::snapshot` writes and `from_snapshot` accepts; bumped when the state's
/// shape changes, so an old snapshot is refused with a clear message rather than misread.
pub const SNAPSHOT_FORMAT: &str = "entitlement-emulator/tenant-snapshot/1";

/// Graph documents no page size for EM collections; 100 is the common Graph default [inf].
pub const DEFAULT_PAGE_SIZE: usize = 100;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TenantInfo {
    pub id: Uuid,
    pub display_name: String,
    pub default_domain: String,
}

/// Everything one tenant holds. Collections are read freely; mutations that must keep an index
/// in step go through the methods below. It serializes whole (indexes included) for snapshots
/// (`snapshot` / `from_snapshot`), so a round trip restores exactly what was there.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantState {
    pub info: TenantInfo,
    /// Items per page of every listing (server-driven paging); `$top` asks for fewer.
    pub page_size: usize,
    /// Answer a policy PUT with 204 and no body (what Terraform's beta code expects,
    /// hashicorp/terraform-provider-azuread; docs/PARITY.md) instead of the documented
    /// 200 + policy.
    pub policy_put_no_content: bool,
    pub admin_approval_bypass: crate::model::lifecycle::AdminApprovalBypass,
    pub package_deletion_guard: crate::model::lifecycle::PackageDeletionGuard,
    /// Replica lag (issue 9): for this long after a create, reads by id 404 and lists leave
    /// the new object out. `None` (the default) = every read sees every write.
    pub consistency_lag: Option<std::time::Duration>,
    /// Objects created within the lag, with the time they become visible.
    pub lagging: HashMap<Uuid, Timestamp>,
    /// How additions are delivered (emulator setting).
    pub delivery: crate::model::lifecycle::DeliveryOutcome,
    /// Per-package overrides of `delivery`.
    pub delivery_by_package: HashMap<Uuid, crate::model::lifecycle::DeliveryOutcome>,
    /// Notifications and callouts Graph would have sent, oldest first, capped in count and
    /// in bytes (`Outbox`).
    pub outbox: crate::model::lifecycle::Outbox,
    /// `subjectLifecycle` set through `PATCH subjects(objectId=…)`; unset means the default.
    #[serde(with = "crate::model::interned::map")]
    pub subject_lifecycle: HashMap<Uuid, &'static str>,
    /// Governed guests blocked after their last assignment ended, and when they are deleted.
    pub guest_deletions: HashMap<Uuid, crate::clock::Timestamp>,
    /// Callouts to loopback endpoints waiting to be sent by the HTTP layer.
    pub pending_callouts: Vec<crate::model::lifecycle::PendingCallout>,
    pub directory: Directory,
    pub catalogs: Table<Catalog>,
    access_packages: Table<AccessPackage>,
    role_assignments: Table<EmRoleAssignment>,
    /// Sequence numbers (in `access_packages`) of each catalog's packages, in creation order.
    packages_by_catalog: HashMap<Uuid, BTreeSet<u64>>,
    role_assignments_by_principal: HashMap<Uuid, Vec<Uuid>>,
    resources: Table<CatalogResource>,
    /// Roles and scopes of every catalog resource, with the resource they belong to.
    resource_roles: HashMap<Uuid, ResourceRole>,
    resource_scopes: HashMap<Uuid, ResourceScope>,
    roles_of: HashMap<Uuid, Vec<Uuid>>,
    scopes_of: HashMap<Uuid, Vec<Uuid>>,
    pub resource_requests: Table<ResourceRequest>,
    /// Insert and remove through `insert_policy` / `remove_policy`, which keep
    /// `policies_by_package` in step.
    pub policies: Table<crate::model::policy::Policy>,
    /// Each package's policies in creation order: every request looks them up.
    policies_by_package: HashMap<Uuid, Vec<Uuid>>,
    pub connected_organizations: Table<crate::model::org::ConnectedOrganization>,
    pub extensions: Table<crate::model::extension::CustomExtension>,
    pub environments: Vec<crate::model::resources::ResourceEnvironment>,
    pub requests: Table<crate::model::lifecycle::Request>,
    /// Insert through `insert_assignment`, which keeps `assignments_by_holder` in step.
    pub assignments: Table<crate::model::lifecycle::Assignment>,
    /// Every assignment (any state) of a (package, target) pair, oldest first: each request
    /// asks "does the target hold this package?", which must not scan the store.
    assignments_by_holder: crate::model::table::ShardedMap<(Uuid, Uuid), Vec<Uuid>>,
    /// For each package, the packages that list it as incompatible (the reverse of
    /// `incompatible_packages`), so a request never scans every package to find them.
    incompatible_referrers: HashMap<Uuid, Vec<Uuid>>,
    /// Set when a request or assignment has work the next call must do (deliveries, removals).
    pub work_pending: bool,
    /// The earliest approval deadline or assignment end, so each call checks the clock in O(1).
    pub next_due: Option<Timestamp>,
    /// Requests that may still move (not finished, not canceled), by table sequence: what
    /// processing looks at, instead of every request ever made. Closed ones are pruned lazily.
    open_requests: BTreeMap<u64, Uuid>,
    /// No assignment ends, or reaches a near-expiry mark, before this (a lower bound: early is
    /// harmless, it only costs one scan that finds nothing). Lowered as assignments are made or
    /// extended; made exact whenever the assignments are scanned for due work.
    pub assignment_due: Option<Timestamp>,
    pub settings: crate::model::org::Settings,
    #[serde(skip, default = "crate::ids::detached")]
    ids: std::sync::Arc<dyn IdGen>,
}

impl std::fmt::Debug for TenantState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantState")
            .field("tenant", &self.info.id)
            .field("catalogs", &self.catalogs.len())
            .field("access_packages", &self.access_packages.len())
            .finish_non_exhaustive()
    }
}

impl TenantState {
    pub fn insert_assignment(&mut self, a: crate::model::lifecycle::Assignment) {
        let holders = self
            .assignments_by_holder
            .entry((a.access_package_id, a.target))
            .or_default();
        if !holders.contains(&a.id) {
            holders.push(a.id);
        }
        self.assignments.insert(a);
    }

    /// Stores a policy (a new one, or a replacement keeping its place).
    pub fn insert_policy(&mut self, policy: crate::model::policy::Policy) {
        if let Some(old) = self.policies.get(&policy.id) {
            if old.access_package_id != policy.access_package_id {
                let (id, package) = (old.id, old.access_package_id);
                if let Some(list) = self.policies_by_package.get_mut(&package) {
                    list.retain(|p| *p != id);
                }
            }
        }
        let list = self
            .policies_by_package
            .entry(policy.access_package_id)
            .or_default();
        if !list.contains(&policy.id) {
            list.push(policy.id);
        }
        self.policies.insert(policy);
    }

    pub fn remove_policy(&mut self, id: &Uuid) -> Option<crate::model::policy::Policy> {
        let policy = self.policies.remove(id)?;
        if let Some(list) = self.policies_by_package.get_mut(&policy.access_package_id) {
            list.retain(|p| p != id);
        }
        Some(policy)
    }

    /// A package's policies in creation order.
    pub fn policies_of<'s>(
        &'s self,
        package: &Uuid,
    ) -> impl Iterator<Item = &'s crate::model::policy::Policy> + use<'s> {
        self.policies_by_package
            .get(package)
            .into_iter()
            .flatten()
            .filter_map(|id| self.policies.get(id))
    }

    /// Stores a request; one that may still move joins the open set.
    pub fn put_request(&mut self, request: crate::model::lifecycle::Request) {
        let id = request.id;
        let open = request.is_open();
        self.requests.insert(request);
        if open {
            self.reopen_request(&id);
        }
    }

    /// Puts a request changed in place (reprocessed) back among the open ones.
    pub fn reopen_request(&mut self, id: &Uuid) {
        if let Some(seq) = self.requests.seq_of(id) {
            self.open_requests.insert(seq, *id);
        }
    }

    /// The requests that may still move, oldest first.
    pub fn open_request_ids(&self) -> Vec<Uuid> {
        self.open_requests.values().copied().collect()
    }

    /// Drops requests that finished, were canceled or deleted from the open set.
    pub fn prune_open_requests(&mut self) {
        let requests = &self.requests;
        self.open_requests
            .retain(|_, id| requests.get(id).is_some_and(|r| r.is_open()));
    }

    /// Notes a new or moved assignment end, so the clock check sees it.
    pub fn note_assignment_end(&mut self, end: Option<Timestamp>) {
        // The fourteen-day notice is the first event an end brings.
        let Some(first) = end.map(|e| e.minus(std::time::Duration::from_secs(14 * 86_400))) else {
            return;
        };
        self.assignment_due = Some(self.assignment_due.map_or(first, |d| d.min(first)));
        self.next_due = Some(self.next_due.map_or(first, |d| d.min(first)));
    }

    /// Records that `package` is incompatible with `other`; false when it already was.
    pub fn mark_incompatible(&mut self, package: &Uuid, other: &Uuid) -> bool {
        let Some(p) = self.package_for_change(package) else {
            return false;
        };
        if p.incompatible_packages.contains(other) {
            return false;
        }
        p.incompatible_packages.push(*other);
        self.incompatible_referrers
            .entry(*other)
            .or_default()
            .push(*package);
        true
    }

    /// Undoes `mark_incompatible`; false when `package` did not list `other`.
    pub fn unmark_incompatible(&mut self, package: &Uuid, other: &Uuid) -> bool {
        let Some(p) = self.package_for_change(package) else {
            return false;
        };
        let before = p.incompatible_packages.len();
        p.incompatible_packages.retain(|x| x != other);
        if p.incompatible_packages.len() == before {
            return false;
        }
        if let Some(list) = self.incompatible_referrers.get_mut(other) {
            list.retain(|x| x != package);
        }
        true
    }

    /// The packages that list `package` as incompatible, in the order they did.
    pub fn incompatible_referrers(&self, package: &Uuid) -> &[Uuid] {
        self.incompatible_referrers
            .get(package)
            .map_or(&[], Vec::as_slice)
    }

    /// The assignments (any state) of `package` to `user`.
    pub fn assignments_of(
        &self,
        package: &Uuid,
        user: &Uuid,
    ) -> impl Iterator<Item = &crate::model::lifecycle::Assignment> {
        self.assignments_by_holder
            .get(&(*package, *user))
            .into_iter()
            .flatten()
            .filter_map(|id| self.assignments.get(id))
    }

    pub fn new(info: TenantInfo, directory: Directory, ids: Box<dyn IdGen>) -> Self {
        let environment = crate::model::resources::ResourceEnvironment::default_for(
            info.id,
            &info.default_domain,
        );
        TenantState {
            info,
            page_size: DEFAULT_PAGE_SIZE,
            policy_put_no_content: false,
            admin_approval_bypass: Default::default(),
            package_deletion_guard: Default::default(),
            consistency_lag: None,
            lagging: HashMap::new(),
            delivery: Default::default(),
            delivery_by_package: HashMap::new(),
            outbox: Default::default(),
            subject_lifecycle: HashMap::new(),
            guest_deletions: HashMap::new(),
            pending_callouts: Vec::new(),
            directory,
            catalogs: Table::default(),
            access_packages: Table::default(),
            role_assignments: Table::default(),
            packages_by_catalog: HashMap::new(),
            role_assignments_by_principal: HashMap::new(),
            resources: Table::default(),
            resource_roles: HashMap::new(),
            resource_scopes: HashMap::new(),
            roles_of: HashMap::new(),
            scopes_of: HashMap::new(),
            resource_requests: Table::default(),
            policies: Table::default(),
            connected_organizations: Table::default(),
            extensions: Table::default(),
            environments: vec![environment],
            requests: Table::default(),
            assignments: Table::default(),
            assignments_by_holder: Default::default(),
            policies_by_package: HashMap::new(),
            incompatible_referrers: HashMap::new(),
            work_pending: false,
            next_due: None,
            open_requests: BTreeMap::new(),
            assignment_due: None,
            settings: crate::model::org::Settings::default(),
            ids: ids.into(),
        }
    }

    /// A copy of this state serving as tenant `id`, drawing new entity ids from `ids` (so the
    /// copy and the original never mint the same id).
    pub fn clone_as(&self, id: Uuid, ids: Box<dyn IdGen>) -> TenantState {
        let mut copy = self.clone();
        copy.info.id = id;
        copy.ids = ids.into();
        copy
    }

    /// The whole state as canonical JSON (sorted keys, so the same state gives the same bytes),
    /// with the position of its id stream: `from_snapshot` restores it exactly.
    pub fn snapshot(&self) -> Result<Value, String> {
        let state = serde_json::to_value(self).map_err(|e| e.to_string())?;
        Ok(canonicalize(json!({
            "format": SNAPSHOT_FORMAT,
            "idStream": self.ids.position(),
            "state": state,
        })))
    }

    /// Reads a `snapshot`. Its id stream continues where it stood when the snapshot carries one
    /// (a seeded emulator's); otherwise `ids` (given the tenant's id) supplies new ids.
    /// `as_tenant` renames the tenant.
    pub fn from_snapshot(
        snapshot: &Value,
        ids: impl FnOnce(Uuid) -> Box<dyn IdGen>,
        as_tenant: Option<Uuid>,
    ) -> Result<TenantState, String> {
        if snapshot.get("format").and_then(Value::as_str) != Some(SNAPSHOT_FORMAT) {
            return Err(format!(
                "not a tenant snapshot: 'format' must be \"{SNAPSHOT_FORMAT}\" (GET /_emulator/snapshot)"
            ));
        }
        let raw = snapshot
            .get("state")
            .ok_or_else(|| "the snapshot has no 'state'".to_string())?;
        let mut state: TenantState = serde_path_to_error::deserialize(raw)
            .map_err(|e| format!("state.{}: {}", e.path(), e.inner()))?;
        let position: Option<crate::ids::StreamPosition> =
            serde_json::from_value(snapshot.get("idStream").cloned().unwrap_or(Value::Null))
                .map_err(|e| format!("idStream: {e}"))?;
        if let Some(id) = as_tenant {
            state.info.id = id;
        }
        state.ids = match position {
            Some(position) => std::sync::Arc::new(crate::ids::SeededIds::at(position)),
            None => ids(state.info.id).into(),
        };
        // Cached renderings are not part of a snapshot; they rebuild on the next listing.
        Ok(state)
    }

    /// A fresh entity id from the tenant's own stream.
    pub fn next_id(&self) -> Uuid {
        self.ids.next_id()
    }

    pub fn default_catalog(&self) -> Option<&Catalog> {
        self.catalogs.iter().find(|c| c.is_default())
    }

    // ---- access packages ----

    pub fn access_packages(&self) -> &Table<AccessPackage> {
        &self.access_packages
    }

    pub fn access_package(&self, id: &Uuid) -> Option<&AccessPackage> {
        self.access_packages.get(id)
    }

    pub fn access_package_mut(&mut self, id: &Uuid) -> Option<&mut AccessPackage> {
        self.package_for_change(id)
    }

    /// Every change to a package goes through here, so its cached listing item never outlives
    /// the state it was rendered from.
    fn package_for_change(&mut self, id: &Uuid) -> Option<&mut AccessPackage> {
        let package = self.access_packages.get_mut(id)?;
        package.listing_json.clear();
        Some(package)
    }

    pub fn insert_access_package(&mut self, package: AccessPackage) {
        let (id, catalog) = (package.id, package.catalog_id);
        self.access_packages.insert(package);
        if let Some(seq) = self.access_packages.seq_of(&id) {
            self.packages_by_catalog
                .entry(catalog)
                .or_default()
                .insert(seq);
        }
    }

    pub fn remove_access_package(&mut self, id: &Uuid) -> Option<AccessPackage> {
        let seq = self.access_packages.seq_of(id)?;
        for policy in self.policies_by_package.remove(id).unwrap_or_default() {
            self.policies.remove(&policy);
        }
        let package = self.access_packages.remove(id)?;
        for other in self.incompatible_referrers.remove(id).unwrap_or_default() {
            if let Some(p) = self.package_for_change(&other) {
                p.incompatible_packages.retain(|x| x != id);
            }
        }
        for listed in &package.incompatible_packages {
            if let Some(list) = self.incompatible_referrers.get_mut(listed) {
                list.retain(|x| x != id);
            }
        }
        if let Some(set) = self.packages_by_catalog.get_mut(&package.catalog_id) {
            set.remove(&seq);
        }
        Some(package)
    }

    pub fn move_access_package(&mut self, id: &Uuid, to: Uuid) {
        let Some(seq) = self.access_packages.seq_of(id) else {
            return;
        };
        let Some(package) = self.package_for_change(id) else {
            return;
        };
        let from = std::mem::replace(&mut package.catalog_id, to);
        if let Some(set) = self.packages_by_catalog.get_mut(&from) {
            set.remove(&seq);
        }
        self.packages_by_catalog.entry(to).or_default().insert(seq);
    }

    pub fn catalog_package_count(&self, catalog: &Uuid) -> usize {
        self.packages_by_catalog
            .get(catalog)
            .map_or(0, BTreeSet::len)
    }

    /// A catalog's packages in creation order.
    pub fn packages_in_catalog<'a>(
        &'a self,
        catalog: &Uuid,
    ) -> impl Iterator<Item = &'a AccessPackage> + use<'a> {
        self.packages_in_catalog_seq(catalog).map(|(_, p)| p)
    }

    /// A catalog's packages with their sequence numbers, in creation order.
    pub fn packages_in_catalog_seq<'a>(
        &'a self,
        catalog: &Uuid,
    ) -> impl Iterator<Item = (u64, &'a AccessPackage)> + use<'a> {
        self.packages_by_catalog
            .get(catalog)
            .into_iter()
            .flatten()
            .filter_map(|seq| self.access_packages.get_by_seq(*seq).map(|p| (*seq, p)))
    }

    /// The packages of several catalogs, in creation order, without touching other catalogs'.
    pub fn packages_in_catalogs(&self, catalogs: &BTreeSet<Uuid>) -> Vec<(u64, &AccessPackage)> {
        let mut seqs: Vec<u64> = catalogs
            .iter()
            .filter_map(|c| self.packages_by_catalog.get(c))
            .flatten()
            .copied()
            .collect();
        seqs.sort_unstable();
        seqs.into_iter()
            .filter_map(|seq| self.access_packages.get_by_seq(seq).map(|p| (seq, p)))
            .collect()
    }

    // ---- catalog resources ----

    pub fn resources(&self) -> &Table<CatalogResource> {
        &self.resources
    }

    pub fn resource(&self, id: &Uuid) -> Option<&CatalogResource> {
        self.resources.get(id)
    }

    /// Adds a resource with its roles and scopes.
    pub fn insert_resource(
        &mut self,
        resource: CatalogResource,
        roles: Vec<ResourceRole>,
        scopes: Vec<ResourceScope>,
    ) {
        let id = resource.id;
        self.roles_of
            .insert(id, roles.iter().map(|r| r.id).collect());
        self.scopes_of
            .insert(id, scopes.iter().map(|s| s.id).collect());
        for role in roles {
            self.resource_roles.insert(role.id, role);
        }
        for scope in scopes {
            self.resource_scopes.insert(scope.id, scope);
        }
        self.resources.insert(resource);
    }

    pub fn remove_resource(&mut self, id: &Uuid) -> Option<CatalogResource> {
        for role in self.roles_of.remove(id).unwrap_or_default() {
            self.resource_roles.remove(&role);
        }
        for scope in self.scopes_of.remove(id).unwrap_or_default() {
            self.resource_scopes.remove(&scope);
        }
        self.resources.remove(id)
    }

    pub fn resource_role(&self, id: &Uuid) -> Option<&ResourceRole> {
        self.resource_roles.get(id)
    }

    pub fn resource_scope(&self, id: &Uuid) -> Option<&ResourceScope> {
        self.resource_scopes.get(id)
    }

    /// A resource's roles, in the order the resource defines them.
    pub fn roles_of(&self, resource: &Uuid) -> impl Iterator<Item = &ResourceRole> {
        self.roles_of
            .get(resource)
            .into_iter()
            .flatten()
            .filter_map(|r| self.resource_roles.get(r))
    }

    pub fn scopes_of(&self, resource: &Uuid) -> impl Iterator<Item = &ResourceScope> {
        self.scopes_of
            .get(resource)
            .into_iter()
            .flatten()
            .filter_map(|s| self.resource_scopes.get(s))
    }

    /// Whether any access package grants one of the resource's roles.
    pub fn resource_in_use(&self, resource: &Uuid) -> bool {
        let roles = self.roles_of.get(resource).cloned().unwrap_or_default();
        self.access_packages
            .iter()
            .any(|p| p.role_scopes.iter().any(|rs| roles.contains(&rs.role_id)))
    }

    // ---- EM role assignments ----

    pub fn role_assignments(&self) -> &Table<EmRoleAssignment> {
        &self.role_assignments
    }

    pub fn insert_role_assignment(&mut self, assignment: EmRoleAssignment) {
        // A replaced row may have belonged to another principal: unindex it first.
        self.remove_role_assignment(&assignment.id);
        self.role_assignments_by_principal
            .entry(assignment.principal_id)
            .or_default()
            .push(assignment.id);
        self.role_assignments.insert(assignment);
    }

    pub fn remove_role_assignment(&mut self, id: &Uuid) -> Option<EmRoleAssignment> {
        let removed = self.role_assignments.remove(id)?;
        if let Some(list) = self
            .role_assignments_by_principal
            .get_mut(&removed.principal_id)
        {
            list.retain(|a| a != id);
        }
        Some(removed)
    }

    /// Removes every role assignment scoped to a catalog (when the catalog is deleted).
    pub fn remove_role_assignments_for(&mut self, scope: AppScope) {
        let doomed: Vec<Uuid> = self
            .role_assignments
            .iter()
            .filter(|a| a.scope == scope)
            .map(|a| a.id)
            .collect();
        for id in doomed {
            self.remove_role_assignment(&id);
        }
    }

    /// EM role assignments made to exactly this principal.
    pub fn direct_role_assignments_of<'a>(
        &'a self,
        principal: &Uuid,
    ) -> impl Iterator<Item = &'a EmRoleAssignment> + 'a {
        self.role_assignments_by_principal
            .get(principal)
            .into_iter()
            .flatten()
            .filter_map(|id| self.role_assignments.get(id))
    }

    /// EM role assignments held by the principal directly or through its groups.
    pub fn role_assignments_of<'a>(
        &'a self,
        principal: &'a Uuid,
    ) -> impl Iterator<Item = &'a EmRoleAssignment> + 'a {
        std::iter::once(principal)
            .chain(self.directory.groups_of(principal))
            .filter_map(|p| self.role_assignments_by_principal.get(p))
            .flatten()
            .filter_map(|id| self.role_assignments.get(id))
    }

    /// A canonical, byte-stable JSON export: sorted ids, sorted keys. Tests use it to prove that
    /// a refused request changed nothing.
    pub fn export(&self) -> Value {
        fn sorted<'a, T: 'a>(
            items: impl Iterator<Item = &'a T>,
            render: impl Fn(&T) -> (String, Value),
        ) -> Value {
            let mut rows: Vec<(String, Value)> = items.map(render).collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Array(rows.into_iter().map(|r| r.1).collect())
        }
        let dir = &self.directory;
        let ser = |v: &dyn erased::Ser| v.to_value();
        let out = json!({
            "tenant": {
                "id": self.info.id,
                "displayName": self.info.display_name,
                "defaultDomain": self.info.default_domain,
            },
            "users": sorted(dir.users.iter(), |u| (u.id.to_string(), ser(u))),
            "groups": sorted(dir.groups.iter(), |g| (g.id.to_string(), ser(g))),
            "servicePrincipals": sorted(dir.service_principals.iter(), |s| (s.id.to_string(), ser(s))),
            "catalogs": sorted(self.catalogs.iter(), |c| (c.id.to_string(), c.to_json(ApiVersion::Beta))),
            "accessPackages": sorted(self.access_packages.iter(), |p| (p.id.to_string(), p.to_json(ApiVersion::Beta))),
            "roleAssignments": sorted(self.role_assignments.iter(), |a| (a.id.to_string(), a.to_json())),
            "resources": sorted(self.resources.iter(), |r| {
                let mut v = r.to_json(ApiVersion::Beta);
                v["catalogId"] = json!(r.catalog_id);
                v["roles"] = Value::Array(self.roles_of(&r.id).map(|x| x.to_json(ApiVersion::V1)).collect());
                v["scopes"] = Value::Array(self.scopes_of(&r.id).map(|x| x.to_json(ApiVersion::V1)).collect());
                (r.id.to_string(), v)
            }),
            "connectedOrganizations": sorted(self.connected_organizations.iter(), |o| {
                let mut v = o.to_json(ApiVersion::V1);
                v["internalSponsors"] = json!(o.internal_sponsors);
                v["externalSponsors"] = json!(o.external_sponsors);
                (o.id.to_string(), v)
            }),
            "settings": self.settings.to_json(ApiVersion::V1),
            "assignmentRequests": sorted(self.requests.iter(), |r| (r.id.to_string(), r.to_json(ApiVersion::Beta))),
            "assignments": sorted(self.assignments.iter(), |a| (a.id.to_string(), a.to_json(ApiVersion::Beta))),
            "customWorkflowExtensions": sorted(self.extensions.iter(), |x| {
                let mut v = x.to_json(ApiVersion::V1);
                v["catalogId"] = json!(x.catalog_id);
                (x.id.to_string(), v)
            }),
            "policies": sorted(self.policies.iter(), |p| (p.id.to_string(), p.to_json(ApiVersion::V1))),
            "resourceRequests": sorted(self.resource_requests.iter(), |r| (r.id.to_string(), r.to_json(ApiVersion::Beta))),
            "resourceRoleScopes": sorted(self.access_packages.iter().flat_map(|p| p.role_scopes.iter().map(move |rs| (p.id, rs))).collect::<Vec<_>>().iter(), |(p, rs)| {
                let mut v = rs.to_json(ApiVersion::Beta);
                v["accessPackageId"] = json!(p);
                (format!("{p}/{}", rs.id()), v)
            }),
        });
        canonicalize(out)
    }
}

/// Small indirection so `export` can serialize heterogeneous directory rows.
mod erased {
    pub(super) trait Ser {
        fn to_value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// Recursively sorts object keys.
pub fn canonicalize(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k, canonicalize(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonicalize).collect()),
        other => other,
    }
}

/// The id stream of a tenant made at run time: named by its id, so the same seed and the same
/// tenant id give the same ids.
fn stream_of(id: Uuid) -> u64 {
    u64::from_le_bytes(id.as_bytes()[8..16].try_into().unwrap_or([0; 8]))
}

/// What a tenant is built from and returns to on reset. The store does not know how tenants
/// are described: the fixtures implement this (`crate::fixtures::FixtureTenant`), so the core
/// imports nothing above it (docs/ARCHITECTURE.md).
pub trait Seed: Send + Sync {
    /// The tenant id this seed builds.
    fn tenant_id(&self) -> Uuid;
    /// A fresh state, drawing entity ids from `ids` and stamping `now` where the seed gives no
    /// time of its own.
    fn build(&self, ids: Box<dyn IdGen>, now: Timestamp) -> TenantState;
    /// The same seed building tenant `id` instead.
    fn renamed(&self, id: Uuid) -> Arc<dyn Seed>;
}

/// One tenant: its live state, and what it was built from so it can be reset.
pub struct Tenant {
    state: RwLock<TenantState>,
    seed: Arc<dyn Seed>,
    ids: IdSource,
    /// A tenant made from a snapshot resets to that snapshot, not to a fixture.
    restore_to: Option<Arc<Value>>,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.seed.tenant_id())
            .finish_non_exhaustive()
    }
}

impl Tenant {
    /// A copy of `source`'s current state serving as tenant `id`; it resets to `source`'s
    /// seed (under its own id). Seeded runs draw the copy's new ids from a stream named by
    /// `id`, so the same seed and the same clone give the same ids.
    pub fn clone_of(source: &Tenant, id: Uuid) -> Tenant {
        let stream = stream_of(id);
        let state = source.read(|s| s.clone_as(id, source.ids.generator(stream)));
        Tenant {
            state: RwLock::new(state),
            seed: source.seed.renamed(id),
            ids: source.ids,
            restore_to: None,
        }
    }

    /// A tenant whose state is `snapshot` (renamed to `id` when given). `template` lends the
    /// seed the tenant keeps; a reset returns to the snapshot.
    pub fn from_snapshot(
        template: &Tenant,
        snapshot: Value,
        id: Option<Uuid>,
    ) -> Result<Tenant, String> {
        let source = template.ids;
        let state =
            TenantState::from_snapshot(&snapshot, |id| source.generator(stream_of(id)), id)?;
        let id = state.info.id;
        Ok(Tenant {
            state: RwLock::new(state),
            seed: template.seed.renamed(id),
            ids: template.ids,
            restore_to: Some(Arc::new(snapshot)),
        })
    }

    /// What this tenant was built from.
    pub fn seed(&self) -> &Arc<dyn Seed> {
        &self.seed
    }

    /// The id stream settings it was made with.
    pub fn id_source(&self) -> IdSource {
        self.ids
    }

    pub fn new(seed: Arc<dyn Seed>, ids: IdSource, now: Timestamp) -> Self {
        let state = seed.build(ids.generator(ENTITY_STREAM), now);
        Tenant {
            state: RwLock::new(state),
            seed,
            ids,
            restore_to: None,
        }
    }

    pub fn id(&self) -> Uuid {
        self.seed.tenant_id()
    }

    pub fn read<R>(&self, f: impl FnOnce(&TenantState) -> R) -> R {
        let guard = self.state.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    pub fn write<R>(&self, f: impl FnOnce(&mut TenantState) -> R) -> R {
        let mut guard = self.state.write().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Back to the fixtures (or the snapshot it was made from), with the id sequence restarted.
    pub fn reset(&self, now: Timestamp) {
        if let Some(snapshot) = &self.restore_to {
            let source = self.ids;
            // The snapshot was read once already, so it reads again.
            if let Ok(state) = TenantState::from_snapshot(
                snapshot,
                |id| source.generator(stream_of(id)),
                Some(self.id()),
            ) {
                self.write(|s| *s = state);
                return;
            }
        }
        let fresh = self.seed.build(self.ids.generator(ENTITY_STREAM), now);
        self.write(|s| *s = fresh);
    }
}

/// All tenants this process serves, by tenant id.
#[derive(Debug, Default)]
pub struct Tenants {
    by_id: DashMap<Uuid, Arc<Tenant>>,
    /// Serialises capped inserts, so concurrent creations cannot all pass the count check.
    adding: std::sync::Mutex<()>,
}

/// Why a tenant was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertRefused {
    /// A tenant has that id.
    Taken,
    /// The process already serves this many tenants (its limit).
    Full(usize),
}

impl Tenants {
    pub fn insert(&self, tenant: Tenant) -> Arc<Tenant> {
        let tenant = Arc::new(tenant);
        self.by_id.insert(tenant.id(), tenant.clone());
        tenant
    }

    pub fn get(&self, id: &Uuid) -> Option<Arc<Tenant>> {
        self.by_id.get(id).map(|t| t.value().clone())
    }

    pub fn contains(&self, id: &Uuid) -> bool {
        self.by_id.contains_key(id)
    }

    /// Puts `tenant` in place of the tenant with its id (calls already running finish on the
    /// old one).
    pub fn replace(&self, tenant: Tenant) -> Arc<Tenant> {
        self.insert(tenant)
    }

    /// Adds a tenant unless its id is taken.
    pub fn try_insert(&self, tenant: Tenant) -> Option<Arc<Tenant>> {
        use dashmap::mapref::entry::Entry;
        match self.by_id.entry(tenant.id()) {
            Entry::Occupied(_) => None,
            Entry::Vacant(slot) => {
                let tenant = Arc::new(tenant);
                slot.insert(tenant.clone());
                Some(tenant)
            }
        }
    }

    /// Adds a tenant unless its id is taken or `max` tenants exist already.
    pub fn try_insert_within(
        &self,
        tenant: Tenant,
        max: usize,
    ) -> Result<Arc<Tenant>, InsertRefused> {
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        if self.by_id.contains_key(&tenant.id()) {
            return Err(InsertRefused::Taken);
        }
        if self.by_id.len() >= max {
            return Err(InsertRefused::Full(max));
        }
        self.try_insert(tenant).ok_or(InsertRefused::Taken)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn remove(&self, id: &Uuid) -> Option<Arc<Tenant>> {
        self.by_id.remove(id).map(|(_, t)| t)
    }

    pub fn all(&self) -> Vec<Arc<Tenant>> {
        let mut all: Vec<_> = self.by_id.iter().map(|t| t.value().clone()).collect();
        all.sort_by_key(|t| t.id());
        all
    }
}
