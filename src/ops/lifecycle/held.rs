//! What access is held: additional access across incompatible packages, and the resource roles assignments give.

use super::*;

/// `assignments/additionalAccess(accessPackageId=…,incompatibleAccessPackageId=…)`: assignments
/// of the first package whose targets also hold the second
/// (https://learn.microsoft.com/graph/api/accesspackageassignment-additionalaccess?view=graph-rest-1.0).
pub fn additional_access<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    package: Option<Uuid>,
    incompatible: Option<Uuid>,
) -> Result<Rows<'s, Assignment>, GraphError> {
    let Some(package) = package else {
        // `additionalAccess()`: every readable assignment whose target also holds a package
        // incompatible with its own [inf].
        let grant = scoped_listing(state, ctx, false)?;
        // Both directions of every incompatibility, gathered once for the whole listing.
        return Ok(Box::new(state.assignments.range_after(None).filter(
            move |(_, a)| {
                grant.covers(&a.catalog_id)
                    && a.state.is_active()
                    && incompatible_with(state, &a.access_package_id)
                        .iter()
                        .any(|other| active_assignment(state, other, &a.target).is_some())
            },
        )));
    };
    let Some(incompatible) = incompatible else {
        // `additionalAccess(accessPackageId)`: the package's assignments whose targets also
        // hold any package incompatible with it [inf].
        let catalog = state
            .access_package(&package)
            .map(|p| p.catalog_id)
            .ok_or_else(|| authz::missing(ctx.caller, Access::Read, state))?;
        authz::authorize(ctx.caller, Operation::ReadAssignments { catalog }, state)?;
        let others = incompatible_with(state, &package);
        return Ok(Box::new(state.assignments.range_after(None).filter(
            move |(_, a)| {
                a.access_package_id == package
                    && a.state.is_active()
                    && others
                        .iter()
                        .any(|other| active_assignment(state, other, &a.target).is_some())
            },
        )));
    };
    if package == incompatible {
        return Err(GraphError::invalid_model(
            "accessPackageId and incompatibleAccessPackageId must differ",
        ));
    }
    let catalog = state
        .access_package(&package)
        .map(|p| p.catalog_id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Read, state))?;
    authz::authorize(ctx.caller, Operation::ReadAssignments { catalog }, state)?;
    Ok(Box::new(state.assignments.range_after(None).filter(
        move |(_, a)| {
            a.access_package_id == package
                && a.state != AssignmentState::Expired
                && active_assignment(state, &incompatible, &a.target).is_some()
        },
    )))
}

/// beta `accessPackageAssignmentResourceRoles`: what each subject holds through the caller's
/// readable active assignments, in assignment order. A partial delivery holds only the
/// package's first role (as `granted`).
pub fn assignment_resource_roles(
    state: &TenantState,
    ctx: &OpCtx<'_>,
) -> Result<Vec<crate::model::lifecycle::AssignmentResourceRole>, GraphError> {
    use crate::model::lifecycle::AssignmentResourceRole;
    let grant = scoped_listing(state, ctx, false)?;
    let mut out: Vec<AssignmentResourceRole> = Vec::new();
    let mut at: std::collections::HashMap<Uuid, usize> = Default::default();
    for a in state
        .assignments
        .iter()
        .filter(|a| a.state.is_active() && grant.covers(&a.catalog_id))
    {
        let Some(p) = state.access_package(&a.access_package_id) else {
            continue;
        };
        let delivered = if a.state == AssignmentState::PartiallyDelivered {
            1
        } else {
            usize::MAX
        };
        for rs in p.role_scopes.iter().take(delivered) {
            let id = AssignmentResourceRole::id_for(&a.target, &rs.role_id, &rs.scope_id);
            match at.get(&id) {
                Some(&i) => out[i].assignments.push(a.id),
                None => {
                    at.insert(id, out.len());
                    out.push(AssignmentResourceRole {
                        id,
                        target: a.target,
                        role_id: rs.role_id,
                        scope_id: rs.scope_id,
                        assignments: vec![a.id],
                    });
                }
            }
        }
    }
    Ok(out)
}

/// One resource role a user holds through an active assignment.
#[derive(Debug, Clone, Copy)]
pub struct HeldRole<'s> {
    pub assignment: &'s Assignment,
    pub role: &'s crate::model::resources::ResourceRole,
    pub resource: &'s crate::model::resources::CatalogResource,
}

/// Every role delivered access gives (to `user`, or to everyone), in assignment order: group
/// memberships and ownerships, app roles, site roles (a partial delivery: the first role only).
pub fn held_roles<'s>(state: &'s TenantState, user: Option<&Uuid>) -> Vec<HeldRole<'s>> {
    let mut out = Vec::new();
    for a in state
        .assignments
        .iter()
        .filter(|a| a.state.is_active() && user.is_none_or(|u| a.target == *u))
    {
        let Some(p) = state.access_package(&a.access_package_id) else {
            continue;
        };
        let delivered = if a.state == AssignmentState::PartiallyDelivered {
            1
        } else {
            usize::MAX
        };
        for rs in p.role_scopes.iter().take(delivered) {
            let Some(role) = state.resource_role(&rs.role_id) else {
                continue;
            };
            if let Some(resource) = state.resource(&role.resource_id) {
                out.push(HeldRole {
                    assignment: a,
                    role,
                    resource,
                });
            }
        }
    }
    out
}

/// Packages incompatible with `package` in either direction: those it lists, and those that
/// list it (either way a user may not hold both).
pub(super) fn incompatible_with(state: &TenantState, package: &Uuid) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = state
        .access_package(package)
        .map(|p| p.incompatible_packages.clone())
        .unwrap_or_default();
    for other in state.incompatible_referrers(package) {
        if !out.contains(other) {
            out.push(*other);
        }
    }
    out
}
