//! Who a policy admits, the answers and schedules a request must carry, and the approval stages and approvers it meets.

use super::*;

/// A request body, read.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub request_type: RequestType,
    pub request_type_text: String,
    pub package_id: Option<Uuid>,
    pub policy_id: Option<Uuid>,
    pub target_id: Option<Uuid>,
    pub target_email: Option<String>,
    pub assignment_id: Option<Uuid>,
    pub justification: Option<String>,
    pub answers: Vec<Value>,
    pub schedule: Option<Schedule>,
    pub validation_only: bool,
}

/// Whether the policy's requestor scope includes the user ("the subject is matched against each
/// policy",
/// https://learn.microsoft.com/graph/api/resources/accesspackageassignmentpolicy?view=graph-rest-beta).
pub fn admits(state: &TenantState, policy: &Policy, user: &User) -> bool {
    let in_set = |s: &SubjectSet| match (s.kind, s.id) {
        (SubjectKind::SingleUser, Some(id)) => id == user.id,
        (SubjectKind::GroupMembers, Some(g)) => member_of(state, &g, &user.id),
        _ => false,
    };
    match policy.target_scope {
        TargetScope::NotSpecified => false,
        TargetScope::SpecificDirectoryUsers => policy.allowed_targets.iter().any(in_set),
        TargetScope::AllMemberUsers => user.user_type == UserType::Member,
        TargetScope::AllDirectoryUsers => true,
        // Guests stand in for connected-organization users [inf].
        TargetScope::SpecificConnectedOrganizationUsers
        | TargetScope::AllConfiguredConnectedOrganizationUsers
        | TargetScope::AllExternalUsers => user.user_type == UserType::Guest,
        TargetScope::SpecificDirectoryServicePrincipals
        | TargetScope::AllDirectoryServicePrincipals
        | TargetScope::AllDirectoryAgentIdentities => false,
    }
}

/// Fixture membership plus what delivered assignments grant.
pub fn member_of(state: &TenantState, group: &Uuid, user: &Uuid) -> bool {
    state
        .directory
        .groups
        .get(group)
        .is_some_and(|g| g.members.contains(user))
        || state.directory.groups_of(user).contains(group)
        || granted(state, group, "Member_").contains(user)
}

/// Users an assignment currently grants a group role to (`Member_` or `Owner_`).
pub fn granted(state: &TenantState, group: &Uuid, prefix: &str) -> Vec<Uuid> {
    let origin = format!("{prefix}{group}");
    let mut out = Vec::new();
    for a in state.assignments.iter().filter(|a| a.state.is_active()) {
        let Some(p) = state.access_package(&a.access_package_id) else {
            continue;
        };
        // A partial delivery granted only the first of the package's roles [inf].
        let delivered = if a.state == AssignmentState::PartiallyDelivered {
            1
        } else {
            usize::MAX
        };
        let grants = p.role_scopes.iter().take(delivered).any(|rs| {
            state
                .resource_role(&rs.role_id)
                .is_some_and(|r| r.origin_id.eq_ignore_ascii_case(&origin))
        });
        if grants && !out.contains(&a.target) {
            out.push(a.target);
        }
    }
    out
}

pub(super) fn active_assignment<'s>(
    state: &'s TenantState,
    package: &Uuid,
    user: &Uuid,
) -> Option<&'s Assignment> {
    state
        .assignments_of(package, user)
        .find(|a| a.state != AssignmentState::Expired)
}

pub(super) fn check_incompatibilities(
    state: &TenantState,
    package: &Uuid,
    user: &Uuid,
) -> Result<(), GraphError> {
    let Some(p) = state.access_package(package) else {
        return Ok(());
    };
    let holds = |other: &Uuid| active_assignment(state, other, user).is_some();
    let conflicting = p.incompatible_packages.iter().any(holds)
        || state.incompatible_referrers(package).iter().any(holds);
    if conflicting {
        return Err(Refusal::IncompatibleAccessPackage.error());
    }
    if p.incompatible_groups
        .iter()
        .any(|g| member_of(state, g, user))
    {
        return Err(Refusal::IncompatibleGroup.error());
    }
    Ok(())
}

pub(super) fn check_answers(policy: &Policy, answers: &[Value]) -> Result<(), GraphError> {
    for q in &policy.questions {
        let answer = answers.iter().find(|a| {
            a.get("answeredQuestion")
                .and_then(|q| q.get("id"))
                .and_then(Value::as_str)
                .and_then(|t| Uuid::parse_str(t).ok())
                == Some(q.id)
        });
        match answer.and_then(|a| a.get("value")).and_then(Value::as_str) {
            None if q.required => return Err(Refusal::MissingAnswer.error()),
            Some(v) if q.multiple_choice && !q.choices.iter().any(|c| c.value == v) => {
                return Err(Refusal::InvalidAnswer.error());
            }
            _ => {}
        }
    }
    Ok(())
}

/// The assignment's schedule: the request's custom one if the policy allows it, else the
/// policy's expiration from now.
pub(super) fn schedule_for(
    policy: Option<&Policy>,
    requested: Option<&Schedule>,
    now: Timestamp,
) -> Schedule {
    if let Some(s) = requested {
        return Schedule {
            start: s.start.or(Some(now)),
            expiration: s.expiration.clone(),
        };
    }
    let expiration = policy.map(|p| p.expiration.clone()).unwrap_or(Expiration {
        kind: ExpirationKind::NoExpiration,
        duration: None,
        end: None,
    });
    Schedule {
        start: Some(now),
        expiration,
    }
}

pub(super) fn ends(schedule: &Schedule) -> Option<Timestamp> {
    let start = schedule.start?;
    match schedule.expiration.kind {
        ExpirationKind::AfterDateTime => schedule.expiration.end,
        ExpirationKind::AfterDuration => {
            let iso = schedule.expiration.duration.as_deref()?;
            let d: std::time::Duration = iso8601::duration(iso).ok()?.into();
            Some(start.plus(d))
        }
        _ => None,
    }
}

/// Approvers of a stage for a target, from the policy's subject sets; fallbacks when the primary
/// ones resolve to nobody.
pub(super) fn resolve_approvers(
    state: &TenantState,
    primary: &[SubjectSet],
    fallback: &[SubjectSet],
    target: &Uuid,
) -> Vec<Uuid> {
    let resolve = |sets: &[SubjectSet]| {
        let mut out = Vec::new();
        for s in sets {
            match (s.kind, s.id) {
                (SubjectKind::SingleUser, Some(id)) => out.push(id),
                (SubjectKind::GroupMembers, Some(g)) => {
                    if let Some(group) = state.directory.groups.get(&g) {
                        out.extend(group.members.iter().copied());
                    }
                    out.extend(granted(state, &g, "Member_"));
                }
                (SubjectKind::RequestorManager, _) => {
                    let mut who = *target;
                    for _ in 0..s.manager_level.unwrap_or(1).max(1) {
                        match state.directory.users.get(&who).and_then(|u| u.manager) {
                            Some(m) => who = m,
                            None => break,
                        }
                    }
                    if who != *target {
                        out.push(who);
                    }
                }
                _ => {}
            }
        }
        out.retain(|u| state.directory.users.contains(u));
        out.dedup();
        out
    };
    let primary = resolve(primary);
    if primary.is_empty() {
        resolve(fallback)
    } else {
        primary
    }
}

pub(super) fn start_stage(
    state: &TenantState,
    request: &mut Request,
    policy: &Policy,
    index: usize,
    now: Timestamp,
) {
    let Some(stage) = policy.approval.stages.get(index) else {
        return;
    };
    let deadline = duration_days(&stage.deny_after)
        .map(|d| now.plus(std::time::Duration::from_secs(d.max(0) as u64 * 86_400)));
    if let Some(s) = request.stages.get_mut(index) {
        s.approvers = resolve_approvers(
            state,
            &stage.primary,
            &stage.fallback_primary,
            &request.target,
        );
        s.status = "InProgress";
        s.deadline = deadline;
        s.escalate_at = stage
            .escalation_enabled
            .then(|| iso8601::duration(&stage.escalate_after).ok())
            .flatten()
            .map(|d| now.plus(d.into()));
    }
}

/// Brings in the escalation approvers of stages whose escalation time has come: the request's
/// status becomes `PendingApprovalEscalated`, which the cancel page lists as cancellable
/// (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-cancel?view=graph-rest-1.0).
pub(super) fn escalate(
    state: &mut TenantState,
    request: &mut Request,
    policy: &Policy,
    now: Timestamp,
) {
    let mut joined = Vec::new();
    for (index, s) in request.stages.iter_mut().enumerate() {
        if s.status != "InProgress" || s.escalate_at.is_none_or(|at| at > now) {
            continue;
        }
        s.escalate_at = None;
        let Some(stage) = policy.approval.stages.get(index) else {
            continue;
        };
        let extra = resolve_approvers(
            state,
            &stage.escalation,
            &stage.fallback_escalation,
            &request.target,
        );
        for a in extra {
            if !s.approvers.contains(&a) {
                s.approvers.push(a);
                joined.push(a);
            }
        }
        request.status = "PendingApprovalEscalated".into();
    }
    if !joined.is_empty() {
        let (package, policy_id, id) = (request.access_package_id, request.policy_id, request.id);
        notify(
            state,
            now,
            "approvalEscalated",
            package,
            policy_id,
            Some(id),
            None,
            joined,
        );
    }
}

/// Whether `user` approves requests for this assignment's target under its policy (any stage,
/// primary or fallback): who may send `approverRemove` [inf].
pub(super) fn approves_for(state: &TenantState, assignment: &Assignment, user: &Uuid) -> bool {
    let Some(policy) = assignment.policy_id.and_then(|p| state.policies.get(&p)) else {
        return false;
    };
    policy.approval.stages.iter().any(|stage| {
        resolve_approvers(
            state,
            &stage.primary,
            &stage.fallback_primary,
            &assignment.target,
        )
        .contains(user)
    })
}

/// What an end user may do to their own assignment under its policy: remove it when the policy
/// lets targets remove their access, update or extend it when it lets them update (v1.0's
/// `UserExtend` through `enableTargetsToSelfUpdateAccess`, issue decision), while still in the
/// policy's scope and not past the policy's own end date (seed page).
pub(super) fn check_self_service(
    state: &TenantState,
    policy: Option<&Policy>,
    new: &NewRequest,
    user: Option<&User>,
) -> Result<(), GraphError> {
    let Some(policy) = policy else {
        return Err(Refusal::SelfServiceNotAllowed.error());
    };
    match new.request_type {
        RequestType::UserRemove if !policy.requestor.self_remove => {
            Err(Refusal::SelfServiceNotAllowed.error())
        }
        RequestType::UserUpdate | RequestType::UserExtend => {
            if !policy.requestor.self_update || !user.is_some_and(|u| admits(state, policy, u)) {
                return Err(Refusal::SelfServiceNotAllowed.error());
            }
            if new.schedule.is_some() && !policy.requestor.custom_schedule {
                return Err(Refusal::CustomScheduleNotAllowed.error());
            }
            let asked_end = new.schedule.as_ref().and_then(|s| s.expiration.end);
            let policy_end = (policy.expiration.kind == ExpirationKind::AfterDateTime)
                .then_some(policy.expiration.end)
                .flatten();
            if let (Some(asked), Some(limit)) = (asked_end, policy_end) {
                if asked > limit {
                    return Err(Refusal::ExtensionBeyondPolicy.error());
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
