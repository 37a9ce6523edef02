//! Reading requests and assignments as the caller may see them, and what an end user may request.

use super::*;

// ---- reading ----

/// Catalog-scoped callers must filter by `accessPackage/id`
/// (https://learn.microsoft.com/graph/api/entitlementmanagement-list-assignments?view=graph-rest-1.0).
pub(super) fn scoped_listing(
    state: &TenantState,
    ctx: &OpCtx<'_>,
    filtered_by_package: bool,
) -> Result<Grant, GraphError> {
    let grant = authz::authorize(ctx.caller, Operation::ListAssignments, state)?;
    if matches!(grant, Grant::Catalogs(_)) && !filtered_by_package {
        return Err(GraphError::UnAuthorized(crate::error::REASON_NO_ROLE));
    }
    Ok(grant)
}

pub(super) fn catalog_of(state: &TenantState, package: &Uuid) -> Uuid {
    state
        .access_package(package)
        .map(|p| p.catalog_id)
        .unwrap_or_default()
}

pub fn list_requests<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    filtered_by_package: bool,
) -> Result<Rows<'s, Request>, GraphError> {
    let grant = scoped_listing(state, ctx, filtered_by_package)?;
    Ok(Box::new(state.requests.range_after(None).filter(
        move |(_, r)| grant.covers(&catalog_of(state, &r.access_package_id)),
    )))
}

pub fn get_request<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<&'s Request, GraphError> {
    let r = state
        .requests
        .get(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Read, state))?;
    if ctx
        .caller
        .object_id
        .is_some_and(|me| me == r.target || Some(me) == r.requestor)
    {
        return Ok(r);
    }
    authz::authorize(
        ctx.caller,
        Operation::ReadAssignments {
            catalog: catalog_of(state, &r.access_package_id),
        },
        state,
    )?;
    Ok(r)
}

pub fn list_assignments<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    filtered_by_package: bool,
) -> Result<Rows<'s, Assignment>, GraphError> {
    let grant = scoped_listing(state, ctx, filtered_by_package)?;
    Ok(Box::new(
        state
            .assignments
            .range_after(None)
            .filter(move |(_, a)| grant.covers(&a.catalog_id)),
    ))
}

pub fn get_assignment<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<&'s Assignment, GraphError> {
    let a = state
        .assignments
        .get(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Read, state))?;
    if ctx.caller.object_id == Some(a.target) {
        return Ok(a);
    }
    authz::authorize(
        ctx.caller,
        Operation::ReadAssignments {
            catalog: a.catalog_id,
        },
        state,
    )?;
    Ok(a)
}

/// `filterByCurrentUser(on='target'|'createdBy'|'approver')` (delegated callers only).
pub fn my_requests<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    on: &str,
) -> Result<Rows<'s, Request>, GraphError> {
    let me = current_user(ctx)?;
    let on = on.to_ascii_lowercase();
    Ok(Box::new(state.requests.range_after(None).filter(
        move |(_, r)| {
            match on.as_str() {
                "target" => r.target == me,
                "createdby" => r.requestor == Some(me),
                "approver" => {
                    r.state == RequestState::PendingApproval
                        && r.stages
                            .iter()
                            .any(|s| s.status == "InProgress" && s.approvers.contains(&me))
                }
                _ => false,
            }
        },
    )))
}

pub fn my_assignments<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    on: &str,
) -> Result<Rows<'s, Assignment>, GraphError> {
    let me = current_user(ctx)?;
    let on = on.to_ascii_lowercase();
    Ok(Box::new(state.assignments.range_after(None).filter(
        move |(_, a)| {
            match on.as_str() {
                "target" => a.target == me,
                "createdby" => state
                    .requests
                    .iter()
                    .any(|r| r.assignment_id == Some(a.id) && r.requestor == Some(me)),
                _ => false,
            }
        },
    )))
}

/// Policies of the package through which the signed-in user may request it themselves.
pub(crate) fn self_service_policies<'s>(
    state: &'s TenantState,
    package: &Uuid,
    user: &'s User,
) -> impl Iterator<Item = &'s Policy> + 's {
    crate::ops::policy::of_package(state, package)
        .filter(move |p| p.requestor.self_add && admits(state, p, user))
}

/// `accessPackages/filterByCurrentUser(on='allowedRequestor')`: packages the signed-in user may
/// request, across catalogs. Hidden packages are left out — they can still be requested by id
/// (https://learn.microsoft.com/entra/id-governance/entitlement-management-process)
/// — and so are packages of unpublished
/// catalogs [inf].
pub fn requestable_packages<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    on: &str,
) -> Result<Rows<'s, crate::model::em::AccessPackage>, GraphError> {
    let me = current_user(ctx)?;
    let user = state
        .directory
        .users
        .get(&me)
        .ok_or(GraphError::UnAuthorized(crate::error::REASON_NO_PERMISSION))?;
    let allowed = on.eq_ignore_ascii_case("allowedRequestor");
    Ok(Box::new(state.access_packages().range_after(None).filter(
        move |(_, p)| {
            allowed
                && !p.is_hidden
                && state
                    .catalogs
                    .get(&p.catalog_id)
                    .is_some_and(|c| c.state == crate::model::em::CatalogState::Published)
                && self_service_policies(state, &p.id, user).next().is_some()
        },
    )))
}

/// `accessPackages/{id}/getApplicablePolicyRequirements`: one entry per policy through which
/// the signed-in user may request the package; none when the user is out of every policy's scope.
pub fn applicable_policies<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    package: &Uuid,
) -> Result<Vec<&'s Policy>, GraphError> {
    let me = current_user(ctx)?;
    if state.access_package(package).is_none() {
        return Err(GraphError::ResourceNotFound);
    }
    Ok(match state.directory.users.get(&me) {
        Some(user) => self_service_policies(state, package, user).collect(),
        None => Vec::new(),
    })
}

pub(crate) fn current_user(ctx: &OpCtx<'_>) -> Result<Uuid, GraphError> {
    match (ctx.caller.kind, ctx.caller.object_id) {
        (CallerKind::Delegated, Some(me)) => Ok(me),
        // Application permissions are not supported on these functions
        // (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-filterbycurrentuser?view=graph-rest-1.0).
        _ => Err(GraphError::UnAuthorized(crate::error::REASON_NO_PERMISSION)),
    }
}
