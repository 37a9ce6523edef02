//! End-user discovery ("My Access"): suggested packages and the packages a signed-in user may
//! request, with their role scopes
//! (https://learn.microsoft.com/graph/api/accesspackagesuggestions-filterbycurrentuser?view=graph-rest-1.0,
//! https://learn.microsoft.com/graph/api/availableaccesspackage-list-resourcerolescopes?view=graph-rest-1.0).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};
use uuid::Uuid;

use super::lifecycle::{current_user, self_service_policies};
use super::{OpCtx, Rows};
use crate::clock::Timestamp;
use crate::error::GraphError;
use crate::model::directory::User;
use crate::model::em::{AccessPackage, CatalogState};
use crate::model::resources::RoleScope;
use crate::store::TenantState;

/// The signed-in user, who must be in the directory.
fn me<'s>(state: &'s TenantState, ctx: &OpCtx<'_>) -> Result<&'s User, GraphError> {
    let id = current_user(ctx)?;
    state
        .directory
        .users
        .get(&id)
        .ok_or(GraphError::UnAuthorized(crate::error::REASON_NO_PERMISSION))
}

/// Whether `user` may request `package` through a policy (hidden packages included: they can
/// be requested by id,
/// https://learn.microsoft.com/entra/id-governance/entitlement-management-process)
/// in a published catalog.
fn requestable(state: &TenantState, package: &AccessPackage, user: &User) -> bool {
    state
        .catalogs
        .get(&package.catalog_id)
        .is_some_and(|c| c.state == CatalogState::Published)
        && self_service_policies(state, &package.id, user)
            .next()
            .is_some()
}

/// `availableAccessPackage`: what a requestor is shown of a package.
pub fn available_json(package: &AccessPackage) -> Value {
    json!({"id": package.id, "displayName": package.display_name, "description": package.description})
}

/// `availableAccessPackages`: the packages the caller may request that are not hidden, in
/// creation order [inf: the collection is CSDL-only].
pub fn available_packages<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
) -> Result<Vec<&'s AccessPackage>, GraphError> {
    let user = me(state, ctx)?;
    Ok(state
        .access_packages()
        .range_after(None)
        .map(|(_, p)| p)
        .filter(|p| !p.is_hidden && requestable(state, p, user))
        .collect())
}

/// `availableAccessPackages/{id}`: any package the caller may request, hidden or not; others
/// are not found ("Being an admin doesn't override these checks",
/// https://learn.microsoft.com/graph/api/availableaccesspackage-list-resourcerolescopes?view=graph-rest-1.0).
pub fn available_package<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<&'s AccessPackage, GraphError> {
    let user = me(state, ctx)?;
    state
        .access_package(id)
        .filter(|p| requestable(state, p, user))
        .ok_or(GraphError::ResourceNotFound)
}

/// `availableAccessPackages/{id}/resourceRoleScopes`: the package's role scopes when it lets
/// requestors see them (`isRoleScopesVisible`), else none [inf].
pub fn available_role_scopes<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<Rows<'s, RoleScope>, GraphError> {
    let package = available_package(state, ctx, id)?;
    let shown = if package.is_role_scopes_visible {
        package.role_scopes.len()
    } else {
        0
    };
    Ok(Box::new(
        package
            .role_scopes
            .iter()
            .take(shown)
            .enumerate()
            .map(|(i, rs)| (i as u64, rs)),
    ))
}

/// The reasons `accessPackageSuggestions/filterByCurrentUser(on=…)` may be asked for.
const REASONS: [&str; 2] = ["relatedPeopleAssignments", "assignmentHistory"];

/// One suggestion: the package and why.
#[derive(Debug)]
pub struct Suggestion<'s> {
    pub package: &'s AccessPackage,
    pub related_people: usize,
    /// Past assignments of the caller to the package, and when the last one started.
    pub history: Option<(usize, Timestamp)>,
}

impl Suggestion<'_> {
    /// The shape of
    /// https://learn.microsoft.com/graph/api/accesspackagesuggestions-filterbycurrentuser?view=graph-rest-1.0;
    /// `accessPackage` only with `$expand=accessPackage`.
    pub fn to_json(&self, expand: bool) -> Value {
        let mut reasons = Vec::new();
        if self.related_people > 0 {
            reasons.push(
                json!({"@odata.type": "#microsoft.graph.accessPackageSuggestionRelatedPeopleBased",
                                "relatedPeopleAssignmentCount": self.related_people}),
            );
        }
        if let Some((count, last)) = self.history {
            reasons.push(json!({"@odata.type": "#microsoft.graph.accessPackageSuggestionSelfAssignmentHistoryBased",
                                "pastAssignmentCount": count, "lastAssignmentDateTime": last}));
        }
        let mut out = json!({"id": self.package.id, "reasons": reasons});
        if expand {
            out["accessPackage"] = available_json(self.package);
        }
        out
    }
}

/// Packages suggested to the signed-in user: ones they may request and do not hold now, held
/// by related people (their manager, direct reports and peers under the same manager [inf])
/// or held by themselves before. Strongest first (related holders plus past assignments), then
/// in creation order [inf]; hidden packages are never suggested.
pub fn suggestions<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    on: &str,
) -> Result<Vec<Suggestion<'s>>, GraphError> {
    let mut related_wanted = false;
    let mut history_wanted = false;
    for flag in on.split(',').map(str::trim) {
        match REASONS.iter().position(|r| r.eq_ignore_ascii_case(flag)) {
            Some(0) => related_wanted = true,
            Some(_) => history_wanted = true,
            None => {
                return Err(GraphError::invalid_model(format!(
                    "'{flag}' is not a suggestion reason: use {}",
                    REASONS.join(", ")
                )));
            }
        }
    }
    let user = me(state, ctx)?;
    let related: HashSet<Uuid> = if related_wanted {
        state
            .directory
            .users
            .iter()
            .filter(|u| u.id != user.id)
            .filter(|u| {
                Some(u.id) == user.manager
                    || u.manager == Some(user.id)
                    || (user.manager.is_some() && u.manager == user.manager)
            })
            .map(|u| u.id)
            .collect()
    } else {
        HashSet::new()
    };
    // One pass over assignments: related holders per package, and the caller's own history.
    let mut holders: HashMap<Uuid, HashSet<Uuid>> = HashMap::new();
    let mut mine: HashMap<Uuid, (usize, Timestamp, bool)> = HashMap::new();
    for a in state.assignments.iter() {
        if a.state.is_active() && related.contains(&a.target) {
            holders
                .entry(a.access_package_id)
                .or_default()
                .insert(a.target);
        }
        if a.target == user.id {
            let e = mine
                .entry(a.access_package_id)
                .or_insert((0, a.created, false));
            e.0 += 1;
            e.1 = e.1.max(a.created);
            e.2 |= a.state.is_active();
        }
    }
    let mut ranked: BTreeMap<(std::cmp::Reverse<usize>, u64), Suggestion<'s>> = BTreeMap::new();
    for (seq, package) in state.access_packages().range_after(None) {
        let own = mine.get(&package.id);
        if own.is_some_and(|o| o.2) || package.is_hidden || !requestable(state, package, user) {
            continue;
        }
        let related_people = holders.get(&package.id).map_or(0, HashSet::len);
        let history = own
            .filter(|_| history_wanted)
            .map(|&(count, last, _)| (count, last));
        let score = related_people + history.map_or(0, |h| h.0);
        if score > 0 {
            ranked.insert(
                (std::cmp::Reverse(score), seq),
                Suggestion {
                    package,
                    related_people,
                    history,
                },
            );
        }
    }
    Ok(ranked.into_values().collect())
}
