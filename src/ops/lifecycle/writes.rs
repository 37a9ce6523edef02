//! Cancelling and deleting requests.

use super::*;

// ---- writing ----

/// `cancel`: only while accepted or pending approval
/// (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-cancel?view=graph-rest-1.0).
pub fn cancel(state: &mut TenantState, ctx: &OpCtx<'_>, id: &Uuid) -> Result<(), GraphError> {
    // "Application: Not supported" on the cancel page.
    if ctx.caller.kind == CallerKind::Application {
        return Err(GraphError::UnAuthorized(crate::error::REASON_NO_PERMISSION));
    }
    let r = state
        .requests
        .get(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Subject, state))?;
    let own = ctx
        .caller
        .object_id
        .is_some_and(|me| me == r.target || Some(me) == r.requestor);
    if !own {
        authz::authorize(
            ctx.caller,
            Operation::ManageAssignments {
                catalog: catalog_of(state, &r.access_package_id),
            },
            state,
        )?;
    }
    // Cancellable statuses: Accepted, PendingApproval, PendingNotBefore,
    // PendingApprovalEscalated (the cancel page); not WaitingForCallback.
    if !matches!(
        r.state,
        RequestState::Submitted | RequestState::PendingApproval | RequestState::Scheduled
    ) || r.waiting.is_some()
    {
        return Err(Refusal::NotCancellable.error());
    }
    let Some(r) = state.requests.get_mut(id) else {
        return Err(GraphError::ResourceNotFound);
    };
    r.state = RequestState::Canceled;
    r.status = "Canceled".into();
    r.completed = Some(ctx.now);
    for s in r.stages.iter_mut().filter(|s| s.status == "InProgress") {
        s.status = "Completed";
    }
    Ok(())
}

/// Only denied, canceled or completed requests whose assignment is gone
/// (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-delete?view=graph-rest-1.0).
pub fn delete_request(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<(), GraphError> {
    let r = state
        .requests
        .get(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Write, state))?;
    authz::authorize(
        ctx.caller,
        Operation::ManageAssignments {
            catalog: catalog_of(state, &r.access_package_id),
        },
        state,
    )?;
    let live_assignment = r
        .assignment_id
        .and_then(|a| state.assignments.get(&a))
        .is_some_and(|a| a.state != AssignmentState::Expired);
    if !r.state.is_final() || live_assignment {
        return Err(Refusal::NotDeletable.error());
    }
    state.requests.remove(id);
    Ok(())
}
