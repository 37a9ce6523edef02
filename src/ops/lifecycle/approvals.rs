//! Approvals: reading them and deciding a stage.

use super::*;

/// An approval (id = request id) the caller may see: an approver of one of its stages, or an
/// administrator of the catalog.
pub fn approval<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<&'s Request, GraphError> {
    if ctx.caller.kind == CallerKind::Application {
        return Err(GraphError::UnAuthorized(crate::error::REASON_NO_PERMISSION));
    }
    let r = state
        .requests
        .get(id)
        .filter(|r| !r.stages.is_empty())
        .ok_or(GraphError::ResourceNotFound)?;
    let approver = ctx
        .caller
        .object_id
        .is_some_and(|me| r.stages.iter().any(|s| s.approvers.contains(&me)));
    if !approver {
        authz::authorize(
            ctx.caller,
            Operation::ReadAssignments {
                catalog: catalog_of(state, &r.access_package_id),
            },
            state,
        )?;
    }
    Ok(r)
}

/// `GET accessPackageAssignmentApprovals` (a CSDL collection the docs do not page through):
/// every approval the caller could read by id, in request order [inf].
pub fn list_approvals<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
) -> Result<impl Iterator<Item = &'s Request>, GraphError> {
    if ctx.caller.kind == CallerKind::Application {
        return Err(GraphError::UnAuthorized(crate::error::REASON_NO_PERMISSION));
    }
    let ids: Vec<Uuid> = state
        .requests
        .iter()
        .filter(|r| !r.stages.is_empty())
        .map(|r| r.id)
        .collect();
    Ok(ids
        .into_iter()
        .filter_map(move |id| approval(state, ctx, &id).ok()))
}

/// PATCH a stage: `Approve` moves to the next stage or delivery, `Deny` ends the request; 409 if
/// the stage is already decided, 403 for non-approvers
/// (https://learn.microsoft.com/graph/api/approvalstage-update?view=graph-rest-1.0).
pub fn decide(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    stage: &Uuid,
    approve: bool,
    justification: Option<String>,
) -> Result<(), GraphError> {
    let me = current_user(ctx)?;
    let mut r = state
        .requests
        .get(id)
        .filter(|r| !r.stages.is_empty())
        .cloned()
        .ok_or(GraphError::ResourceNotFound)?;
    let index = r
        .stages
        .iter()
        .position(|s| s.id == *stage)
        .ok_or(GraphError::ResourceNotFound)?;
    let policy = r.policy_id.and_then(|p| state.policies.get(&p)).cloned();
    {
        let s = &r.stages[index];
        if !s.approvers.contains(&me) {
            return Err(Refusal::NotAnApprover.error());
        }
        if s.status != "InProgress" {
            return Err(GraphError::AlreadyDecided);
        }
        if me == r.target {
            // Requestors cannot approve themselves [inf].
            return Err(Refusal::NotAnApprover.error());
        }
        let required = policy
            .as_ref()
            .and_then(|p| p.approval.stages.get(index))
            .is_some_and(|x| x.approver_justification);
        if required && justification.as_deref().is_none_or(str::is_empty) {
            return Err(GraphError::invalid_model(
                "this stage requires the approver's justification",
            ));
        }
    }
    let now = ctx.now;
    let s = &mut r.stages[index];
    s.status = "Completed";
    s.review_result = if approve { "Approve" } else { "Deny" };
    s.reviewed_by = Some(me);
    s.reviewed_at = Some(now);
    s.justification = justification;
    let to = r.requestor.unwrap_or(r.target);
    let (package, policy_id, request_id) = (r.access_package_id, r.policy_id, r.id);
    if !approve {
        r.state = RequestState::Denied;
        r.status = "Denied".into();
        r.completed = Some(now);
        notify(
            state,
            now,
            "requestDenied",
            package,
            policy_id,
            Some(request_id),
            None,
            vec![to],
        );
    } else if index + 1 < r.stages.len() {
        if let Some(p) = &policy {
            start_stage(state, &mut r, p, index + 1, now);
        }
        let approvers = r.stages[index + 1].approvers.clone();
        notify(
            state,
            now,
            "approvalRequired",
            package,
            policy_id,
            Some(request_id),
            None,
            approvers,
        );
    } else {
        r.state = RequestState::Delivering;
        r.status = "Delivering".into();
        notify(
            state,
            now,
            "requestApproved",
            package,
            policy_id,
            Some(request_id),
            None,
            vec![to],
        );
        request_callouts(state, &mut r, "assignmentRequestApproved", now);
    }
    state.put_request(r);
    state.work_pending = true;
    Ok(())
}
