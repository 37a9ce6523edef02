//! Submitting a request (`POST assignmentRequests`): its checks, in Graph's order, and the request it creates.

use super::*;

/// Creates a request (`POST assignmentRequests`), answering as Graph does: submitted/Accepted.
pub fn submit(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    new: NewRequest,
) -> Result<Request, GraphError> {
    let caller = ctx.caller;
    let is_admin = new.request_type.is_admin();
    // Find the assignment a remove/update acts on, or the package an add targets.
    let existing = match new.assignment_id {
        Some(id) => Some(
            state
                .assignments
                .get(&id)
                .cloned()
                .ok_or_else(|| authz::missing(caller, Access::Write, state))?,
        ),
        None => None,
    };
    let package_id = existing
        .as_ref()
        .map(|a| a.access_package_id)
        .or(new.package_id)
        .ok_or_else(|| GraphError::invalid_model("the assignment's accessPackageId is required"))?;
    let catalog = state
        .access_package(&package_id)
        .map(|p| p.catalog_id)
        .ok_or_else(|| authz::missing(caller, Access::Write, state))?;
    let me = caller.object_id;
    if is_admin {
        authz::authorize(caller, Operation::ManageAssignments { catalog }, state)?;
    } else if caller.kind != CallerKind::Unauthenticated {
        if caller.kind != CallerKind::Delegated {
            return Err(GraphError::UnAuthorized(crate::error::REASON_NO_PERMISSION));
        }
        if new.request_type == RequestType::ApproverRemove {
            let live = match &existing {
                Some(a) => Some(a.clone()),
                None => new
                    .target_id
                    .and_then(|t| active_assignment(state, &package_id, &t).cloned()),
            };
            let live = live.ok_or_else(|| Refusal::NoAssignment.error())?;
            if !me.is_some_and(|me| approves_for(state, &live, &me)) {
                return Err(Refusal::NotAnApprover.error());
            }
        } else if new.target_id.is_some_and(|t| Some(t) != me)
            || existing.as_ref().is_some_and(|a| Some(a.target) != me)
        {
            return Err(Refusal::NotSelf.error());
        }
    }
    // The target: given, the existing assignment's, the caller's own, or a guest by e-mail.
    let mut target = existing
        .as_ref()
        .map(|a| a.target)
        .or(new.target_id)
        .or(if is_admin { None } else { me });
    if target.is_none() {
        if let Some(email) = &new.target_email {
            target = state
                .directory
                .users
                .iter()
                .find(|u| {
                    u.mail
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case(email))
                })
                .map(|u| u.id);
        }
    }
    let needs_guest = target.is_none() && new.target_email.is_some();
    let target_user = match target {
        Some(t) => Some(state.directory.users.get(&t).cloned().ok_or_else(|| {
            GraphError::invalid_model(format!("the target {t} is not a user of this tenant"))
        })?),
        None if needs_guest => None,
        None => {
            return Err(GraphError::invalid_model(
                "the assignment's targetId (or target.email) is required",
            ));
        }
    };

    let adding = matches!(
        new.request_type,
        RequestType::AdminAdd | RequestType::UserAdd
    );
    let policy_id;
    if adding {
        let policies: Vec<&Policy> = crate::ops::policy::of_package(state, &package_id).collect();
        let policy = match new.policy_id {
            Some(pid) => Some(*policies.iter().find(|p| p.id == pid).ok_or_else(|| {
                GraphError::invalid_model(format!(
                    "policy {pid} is not a policy of the access package"
                ))
            })?),
            // "the first admitting policy in creation order" (issue decision); for a user's
            // own request, among the policies that let targets request at all.
            None => policies.iter().copied().find(|p| {
                (is_admin || p.requestor.self_add)
                    && target_user.as_ref().is_some_and(|u| admits(state, p, u))
            }),
        };
        let policy = policy.ok_or_else(|| Refusal::PolicyRequirementsNotMet.error())?;
        let requests_enabled = policy.requestor.self_add
            || policy.requestor.obo_add
            || policy.target_scope == TargetScope::NotSpecified;
        if !requests_enabled {
            return Err(Refusal::RequestsDisabled.error());
        }
        match &target_user {
            Some(u) if !is_admin && (!policy.requestor.self_add || !admits(state, policy, u)) => {
                return Err(Refusal::PolicyRequirementsNotMet.error());
            }
            Some(u)
                if is_admin
                    && policy.target_scope != TargetScope::NotSpecified
                    && !admits(state, policy, u) =>
            {
                return Err(Refusal::PolicyRequirementsNotMet.error());
            }
            _ => {}
        }
        if new.schedule.is_some() && !policy.requestor.custom_schedule {
            return Err(Refusal::CustomScheduleNotAllowed.error());
        }
        if !is_admin {
            check_answers(policy, &new.answers)?;
        }
        if let Some(u) = &target_user {
            if active_assignment(state, &package_id, &u.id).is_some() {
                return Err(Refusal::AlreadyAssigned.error());
            }
            check_incompatibilities(state, &package_id, &u.id)?;
        }
        policy_id = Some(policy.id);
    } else {
        // Remove/update: the given assignment, or the target's active one of the package.
        let t = target_user.as_ref().map(|u| u.id).unwrap_or_default();
        let live = match &existing {
            Some(a) => (a.state != AssignmentState::Expired).then_some(a),
            None => active_assignment(state, &package_id, &t),
        };
        let live = live.ok_or_else(|| Refusal::NoAssignment.error())?;
        policy_id = live.policy_id;
        let policy = live.policy_id.and_then(|p| state.policies.get(&p));
        if !is_admin && new.request_type != RequestType::ApproverRemove {
            check_self_service(state, policy, &new, target_user.as_ref())?;
        }
    }
    if new.validation_only {
        return Ok(request_value(
            state.next_id(),
            &new,
            package_id,
            policy_id,
            target.unwrap_or_default(),
            ctx,
            existing.map(|a| a.id),
            0,
        ));
    }
    let target = match target_user {
        Some(u) => u.id,
        None => {
            // "a guest (target.email) is created as a guest user" — here when requested [inf].
            let email = new.target_email.clone().unwrap_or_default();
            let id = state.next_id();
            let upn = format!(
                "{}#EXT#@{}",
                email.replace('@', "_"),
                state.info.default_domain
            );
            state.directory.users.insert(User {
                id,
                display_name: email.clone(),
                user_principal_name: upn,
                mail: Some(email),
                user_type: UserType::Guest,
                account_enabled: true,
                manager: None,
                password_profile: None,
            });
            state.directory.reindex();
            id
        }
    };
    // Adds are approved per `isApprovalRequiredForAdd`, updates and extensions per
    // `isApprovalRequiredForUpdate`; removals never wait for approval.
    let stages = policy_id
        .and_then(|p| state.policies.get(&p))
        .map_or(0, |p| {
            let required = match new.request_type {
                RequestType::AdminAdd | RequestType::UserAdd => p.approval.for_add,
                RequestType::AdminUpdate | RequestType::UserUpdate | RequestType::UserExtend => {
                    p.approval.for_update
                }
                _ => false,
            };
            if required { p.approval.stages.len() } else { 0 }
        });
    let request = request_value(
        state.next_id(),
        &new,
        package_id,
        policy_id,
        target,
        ctx,
        existing.map(|a| a.id),
        stages,
    );
    let mut request = request;
    for s in request.stages.iter_mut() {
        s.id = state.next_id();
    }
    // Who may skip approval: IGA, catalog owner, access package manager; an assignment manager
    // alone may not (issue decision, after "will no longer be able to bypass approval
    // settings", https://learn.microsoft.com/entra/id-governance/entitlement-management-delegate).
    use crate::model::lifecycle::AdminApprovalBypass;
    let bypass = is_admin
        && match state.admin_approval_bypass {
            AdminApprovalBypass::Managers => {
                authz::authorize(caller, Operation::UpdateAccessPackage { catalog }, state).is_ok()
            }
            AdminApprovalBypass::All => true,
            AdminApprovalBypass::None => false,
        };
    if bypass {
        request.stages.clear();
    }
    // Stored once, after its callouts: neither the notice nor the callouts read it back.
    state.work_pending = true;
    let to = request.requestor.unwrap_or(request.target);
    notify(
        state,
        ctx.now,
        "requestSubmitted",
        package_id,
        policy_id,
        Some(request.id),
        None,
        vec![to],
    );
    request_callouts(state, &mut request, "assignmentRequestCreated", ctx.now);
    state.put_request(request.clone());
    Ok(request)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn request_value(
    id: Uuid,
    new: &NewRequest,
    package: Uuid,
    policy: Option<Uuid>,
    target: Uuid,
    ctx: &OpCtx<'_>,
    assignment: Option<Uuid>,
    stages: usize,
) -> Request {
    Request {
        id,
        access_package_id: package,
        policy_id: policy,
        request_type: new.request_type,
        request_type_text: new.request_type_text.clone(),
        state: RequestState::Submitted,
        status: "Accepted".into(),
        target,
        requestor: ctx.caller.object_id,
        justification: new.justification.clone(),
        answers: new.answers.clone(),
        schedule: new.schedule.clone().unwrap_or(Schedule {
            start: None,
            expiration: Expiration {
                kind: ExpirationKind::NotSpecified,
                duration: None,
                end: None,
            },
        }),
        created: ctx.now,
        completed: None,
        assignment_id: assignment,
        stages: (0..stages)
            .map(|_| StageState {
                id: Uuid::nil(),
                approvers: Vec::new(),
                status: "NotStarted",
                review_result: "NotReviewed",
                reviewed_by: None,
                reviewed_at: None,
                justification: None,
                deadline: None,
                escalate_at: None,
            })
            .collect(),
        created_by: ctx.caller.actor.clone(),
        callouts: Vec::new(),
        waiting: None,
        reads: 0,
        delivering_since: None,
    }
}
