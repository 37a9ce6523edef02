//! The governance lifecycle as a state machine driven by requests and by the clock
//! (https://learn.microsoft.com/graph/api/resources/accesspackageassignmentrequest?view=graph-rest-1.0
//! and https://learn.microsoft.com/entra/id-governance/entitlement-management-process):
//! assignment requests, approvals, assignments, and their effect on the emulated directory.
//!
//! Progression: a request is answered `submitted`/`Accepted` and processed by the next call to
//! the tenant (`process_due`), so "my code requests access and then reads it delivered" works
//! without sleeps. Approval deadlines and assignment expirations fire when the clock passes them,
//! checked on every call and on every clock change — never by a background timer.

use serde_json::Value;
use uuid::Uuid;

use super::{OpCtx, Rows};
use crate::auth::CallerKind;
use crate::authz::{self, Access, Grant, Operation};
use crate::clock::Timestamp;
use crate::error::GraphError;
use crate::model::directory::{User, UserType};
use crate::model::lifecycle::{
    Assignment, AssignmentState, DeliveryOutcome, Request, RequestState, RequestType, Schedule,
    StageState,
};
use crate::model::policy::{
    Expiration, ExpirationKind, Policy, SubjectKind, SubjectSet, TargetScope, duration_days,
};
use crate::store::TenantState;

/// The lifecycle's refusals, each with its status, code and message (issue decision: one table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The only captured text (MicrosoftDocs/entra-docs#967).
    PolicyRequirementsNotMet,
    IncompatibleAccessPackage,
    IncompatibleGroup,
    RequestsDisabled,
    AlreadyAssigned,
    NoAssignment,
    MissingAnswer,
    InvalidAnswer,
    CustomScheduleNotAllowed,
    NotCancellable,
    NotDeletable,
    NotAnApprover,
    NotSelf,
    SelfServiceNotAllowed,
    ExtensionBeyondPolicy,
    NotReprocessable,
    NotWaiting,
}

impl Refusal {
    pub fn error(self) -> GraphError {
        use Refusal::*;
        let (code, message) = match self {
            PolicyRequirementsNotMet => (
                "PolicyRequirementsNotMet",
                "You don't meet policy requirements to request this entitlement.",
            ),
            IncompatibleAccessPackage => (
                "IncompatibleAccessPackage",
                "The target already has an access package that is incompatible with this one.",
            ),
            IncompatibleGroup => (
                "IncompatibleGroup",
                "The target is a member of a group that is incompatible with this access package.",
            ),
            RequestsDisabled => ("RequestsDisabled", "The policy does not accept requests."),
            AlreadyAssigned => (
                "ExistingAssignment",
                "The target already has an assignment to this access package.",
            ),
            NoAssignment => (
                "AssignmentNotFound",
                "The target has no active assignment to this access package.",
            ),
            MissingAnswer => (
                "RequiredQuestionNotAnswered",
                "A required question of the policy has not been answered.",
            ),
            InvalidAnswer => (
                "InvalidAnswer",
                "An answer is not one of the question's choices.",
            ),
            CustomScheduleNotAllowed => (
                "CustomScheduleNotAllowed",
                "The policy does not allow a custom assignment schedule.",
            ),
            NotCancellable => (
                "RequestNotCancellable",
                "The request can no longer be canceled.",
            ),
            NotDeletable => (
                "RequestNotDeletable",
                "Only denied, canceled or completed requests without assignments can be deleted.",
            ),
            NotAnApprover => (
                "UnAuthorized",
                "User is not authorized to perform the operation. Reason: Unauthorized",
            ),
            SelfServiceNotAllowed => (
                "PolicyRequirementsNotMet",
                "You don't meet policy requirements to request this entitlement.",
            ),
            NotWaiting => (
                "RequestNotWaitingForCallback",
                "The request is not waiting for a custom extension callback.",
            ),
            NotReprocessable => (
                "RequestNotReprocessable",
                "Only failed or partially delivered requests of the last 14 days, and delivered assignments, can be reprocessed.",
            ),
            ExtensionBeyondPolicy => (
                "ExtensionBeyondPolicyEnd",
                "The requested schedule ends after the policy allows.",
            ),
            NotSelf => (
                "InvalidRequest",
                "End-user requests can only be made for the signed-in user.",
            ),
        };
        crate::authz::note(
            serde_json::json!({"decision": "refused", "rule": message, "code": code}),
        );
        if self == NotAnApprover {
            return GraphError::UnAuthorized(crate::error::REASON_NO_ROLE);
        }
        GraphError::Refused {
            code,
            message: message.to_string(),
        }
    }
}

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

fn active_assignment<'s>(
    state: &'s TenantState,
    package: &Uuid,
    user: &Uuid,
) -> Option<&'s Assignment> {
    state
        .assignments_of(package, user)
        .find(|a| a.state != AssignmentState::Expired)
}

fn check_incompatibilities(
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

fn check_answers(policy: &Policy, answers: &[Value]) -> Result<(), GraphError> {
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
fn schedule_for(policy: Option<&Policy>, requested: Option<&Schedule>, now: Timestamp) -> Schedule {
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

fn ends(schedule: &Schedule) -> Option<Timestamp> {
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
fn resolve_approvers(
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

fn start_stage(
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
fn escalate(state: &mut TenantState, request: &mut Request, policy: &Policy, now: Timestamp) {
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
fn approves_for(state: &TenantState, assignment: &Assignment, user: &Uuid) -> bool {
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
fn check_self_service(
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
fn request_value(
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

/// Runs everything that is due at `now`, in a fixed order: new requests (to approval or
/// delivery), approved ones (delivery), removals, approval deadlines, assignment expirations.
pub fn process_due(state: &mut TenantState, now: Timestamp) {
    state.work_pending = false;
    // Only open requests can move, and assignments only need a look when one of them may be
    // due: per call this is O(open requests), not O(everything ever stored).
    let assignments_due = state.assignment_due.is_some_and(|d| d <= now);
    for id in state.open_request_ids() {
        let Some(mut request) = state.requests.get(&id).cloned() else {
            continue;
        };
        if !request.is_open() {
            continue;
        }
        match &request.waiting {
            // No callback in time: the request moves on as if resumed [inf].
            Some(w) if w.until.is_some_and(|u| u <= now) => {
                end_wait(&mut request, "callbackTimedOut")
            }
            Some(_) => continue,
            None => {}
        }
        let policy = request
            .policy_id
            .and_then(|p| state.policies.get(&p))
            .cloned();
        match request.state {
            RequestState::Submitted if !request.stages.is_empty() => {
                request.state = RequestState::PendingApproval;
                request.status = "PendingApproval".into();
                if let Some(p) = &policy {
                    start_stage(state, &mut request, p, 0, now);
                }
                let approvers = request
                    .stages
                    .first()
                    .map(|s| s.approvers.clone())
                    .unwrap_or_default();
                notify(
                    state,
                    now,
                    "approvalRequired",
                    request.access_package_id,
                    request.policy_id,
                    Some(request.id),
                    None,
                    approvers,
                );
            }
            RequestState::Submitted | RequestState::Delivering
                if request.schedule.start.is_some_and(|start| start > now)
                    && is_add(request.request_type) =>
            {
                // A future start waits (the `scheduled` state of
                // https://learn.microsoft.com/graph/api/resources/accesspackageassignmentrequest?view=graph-rest-1.0);
                // its status is the cancellable
                // `PendingNotBefore` the cancel page names [inf].
                request.state = RequestState::Scheduled;
                request.status = "PendingNotBefore".into();
            }
            RequestState::Scheduled if request.schedule.start.is_some_and(|start| start > now) => {}
            RequestState::Submitted | RequestState::Delivering | RequestState::Scheduled => {
                deliver(state, &mut request, policy.as_ref(), now)
            }
            RequestState::PendingApproval => {
                if let Some(p) = &policy {
                    escalate(state, &mut request, p, now);
                }
                let expired = request
                    .stages
                    .iter()
                    .any(|s| s.status == "InProgress" && s.deadline.is_some_and(|d| d <= now));
                if expired {
                    for s in request
                        .stages
                        .iter_mut()
                        .filter(|s| s.status == "InProgress")
                    {
                        s.status = "Expired";
                    }
                    request.state = RequestState::Denied;
                    request.status = "Expired".into();
                    request.completed = Some(now);
                    let to = request.requestor.unwrap_or(request.target);
                    notify(
                        state,
                        now,
                        "requestTimedOut",
                        request.access_package_id,
                        request.policy_id,
                        Some(request.id),
                        None,
                        vec![to],
                    );
                }
            }
            _ => {}
        }
        state.put_request(request);
    }
    state.prune_open_requests();
    delete_due_guests(state, now);
    if !assignments_due {
        return;
    }
    warn_expiring(state, now);
    // Expirations.
    let due: Vec<Uuid> = state
        .assignments
        .iter()
        .filter(|a| a.state.is_active() && a.ends.is_some_and(|e| e <= now))
        .map(|a| a.id)
        .collect();
    for id in due {
        expire(state, &id, now, Ending::Expired);
    }
    state.assignment_due = assignment_deadline(state);
}

/// The exact next assignment event (an end or a near-expiry mark): a scan of every assignment,
/// run only when the cached bound says something may be due.
fn assignment_deadline(state: &TenantState) -> Option<Timestamp> {
    state
        .assignments
        .iter()
        .filter(|a| a.state.is_active())
        .filter_map(|a| {
            let end = a.ends?;
            let (fourteen, one) = a.warned;
            // The fourteen-day mark comes first; reaching the one-day mark settles both.
            let warning = (!fourteen)
                .then(|| end.minus(14 * DAY))
                .or_else(|| (!one).then(|| end.minus(DAY)));
            Some(warning.map_or(end, |w| w.min(end)))
        })
        .min()
}

/// The earliest time something will become due, for the clock check on each call.
pub fn next_deadline(state: &TenantState) -> Option<Timestamp> {
    let open: Vec<&Request> = state
        .open_request_ids()
        .iter()
        .filter_map(|id| state.requests.get(id))
        .collect();
    let stages = open
        .iter()
        .filter(|r| r.state == RequestState::PendingApproval)
        .flat_map(|r| r.stages.iter().flat_map(|s| [s.deadline, s.escalate_at]))
        .flatten();
    let starts = open
        .iter()
        .filter(|r| r.state == RequestState::Scheduled)
        .filter_map(|r| r.schedule.start);
    let waits = open
        .iter()
        .filter_map(|r| r.waiting.as_ref().and_then(|w| w.until));
    let held = open
        .iter()
        .filter(|r| r.state == RequestState::Delivering)
        .filter_map(|r| match delivery_of(state, &r.access_package_id) {
            DeliveryOutcome::AfterDuration(delay) => r.delivering_since.map(|t| t.plus(delay.0)),
            _ => None,
        });
    stages
        .chain(starts)
        .chain(waits)
        .chain(held)
        .chain(state.assignment_due)
        .chain(state.guest_deletions.values().copied())
        .min()
}

fn is_add(t: RequestType) -> bool {
    matches!(t, RequestType::AdminAdd | RequestType::UserAdd)
}

fn deliver(
    state: &mut TenantState,
    request: &mut Request,
    policy: Option<&Policy>,
    now: Timestamp,
) {
    match request.request_type {
        RequestType::AdminRemove
        | RequestType::UserRemove
        | RequestType::SystemRemove
        | RequestType::ApproverRemove => {
            let target = request.assignment_id.or_else(|| {
                active_assignment(state, &request.access_package_id, &request.target).map(|a| a.id)
            });
            if let Some(a) = target {
                expire(state, &a, now, Ending::Removed);
            }
            request.assignment_id = target;
        }
        RequestType::AdminAdd | RequestType::UserAdd if held_in_delivery(state, request, now) => {
            request.state = RequestState::Delivering;
            request.status = "Delivering".into();
            request.delivering_since.get_or_insert(now);
            return;
        }
        RequestType::AdminAdd | RequestType::UserAdd
            if delivery_of(state, &request.access_package_id)
                == DeliveryOutcome::DeliveryFailed =>
        {
            request.state = RequestState::DeliveryFailed;
            request.status = "DeliveryFailed".into();
            request.completed = Some(now);
            return;
        }
        // A reprocessed partial delivery completes the assignment it already made.
        RequestType::AdminAdd | RequestType::UserAdd
            if request
                .assignment_id
                .and_then(|id| state.assignments.get(&id))
                .is_some_and(|a| a.state == AssignmentState::PartiallyDelivered) =>
        {
            let partial = delivery_of(state, &request.access_package_id)
                == DeliveryOutcome::PartiallyDelivered;
            if partial {
                request.state = RequestState::PartiallyDelivered;
                request.status = "PartiallyDelivered".into();
                request.completed = Some(now);
                return;
            }
            if let Some(a) = request
                .assignment_id
                .and_then(|id| state.assignments.get_mut(&id))
            {
                a.state = AssignmentState::Delivered;
                a.status = "Delivered".into();
            }
        }
        RequestType::AdminAdd | RequestType::UserAdd => {
            let partial = delivery_of(state, &request.access_package_id)
                == DeliveryOutcome::PartiallyDelivered;
            let catalog = state
                .access_package(&request.access_package_id)
                .map(|p| p.catalog_id)
                .unwrap_or_default();
            let schedule = schedule_for(
                policy,
                match request.schedule.expiration.kind {
                    ExpirationKind::NotSpecified if request.schedule.start.is_none() => None,
                    _ => Some(&request.schedule),
                },
                now,
            );
            // A delivered request reports the schedule it produced
            // (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-filterbycurrentuser?view=graph-rest-beta).
            request.schedule = schedule.clone();
            let assignment = Assignment {
                id: state.next_id(),
                access_package_id: request.access_package_id,
                catalog_id: catalog,
                policy_id: request.policy_id,
                target: request.target,
                state: if partial {
                    AssignmentState::PartiallyDelivered
                } else {
                    AssignmentState::Delivered
                },
                status: if partial {
                    "PartiallyDelivered"
                } else {
                    "Delivered"
                }
                .into(),
                ends: ends(&schedule),
                schedule,
                expired: None,
                created: now,
                extended: false,
                warned: (false, false),
            };
            request.assignment_id = Some(assignment.id);
            let (id, target, policy_id) = (assignment.id, assignment.target, assignment.policy_id);
            state.insert_assignment(assignment);
            state.note_assignment_end(ends(&request.schedule));
            restore_guest(state, &target);
            let package = request.access_package_id;
            notify(
                state,
                now,
                "assignmentDelivered",
                package,
                policy_id,
                Some(request.id),
                Some(id),
                vec![target],
            );
            callout(
                state,
                now,
                "assignmentRequestGranted",
                package,
                policy_id,
                Some(request.id),
                Some(id),
            );
            if partial {
                request.state = RequestState::PartiallyDelivered;
                request.status = "PartiallyDelivered".into();
                request.completed = Some(now);
                return;
            }
        }
        RequestType::AdminUpdate | RequestType::UserUpdate | RequestType::UserExtend => {
            let target = request.assignment_id.or_else(|| {
                active_assignment(state, &request.access_package_id, &request.target).map(|a| a.id)
            });
            // The new schedule: the one asked for, else for an extension the policy's
            // expiration counted again from now. An update without a schedule (new answers,
            // Example 6 of
            // https://learn.microsoft.com/graph/api/entitlementmanagement-post-assignmentrequests?view=graph-rest-1.0)
            // leaves the end alone.
            let asked = match request.schedule.expiration.kind {
                ExpirationKind::NotSpecified if request.schedule.start.is_none() => None,
                _ => Some(&request.schedule),
            };
            let moves_end = asked.is_some() || request.request_type == RequestType::UserExtend;
            let schedule = schedule_for(policy, asked, now);
            if let Some(a) = target.and_then(|id| state.assignments.get_mut(&id)) {
                if a.state.is_active() && moves_end {
                    // The assignment keeps its start; its end is restated as a date [inf].
                    a.extended = true;
                    a.ends = ends(&schedule);
                    a.schedule.expiration = match a.ends {
                        Some(end) => Expiration {
                            kind: ExpirationKind::AfterDateTime,
                            duration: None,
                            end: Some(end),
                        },
                        None => schedule.expiration,
                    };
                }
            }
            let extended_end = target
                .and_then(|id| state.assignments.get(&id))
                .and_then(|a| a.ends);
            state.note_assignment_end(extended_end);
            request.assignment_id = target;
        }
        _ => {}
    }
    request.state = RequestState::Delivered;
    request.status = "Delivered".into();
    request.completed = Some(now);
}

/// `assignmentRequests/{id}/reprocess`: only a failed or partial delivery, within 14 days of
/// its completion
/// (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-reprocess?view=graph-rest-1.0);
/// it is delivered again by the next call.
pub fn reprocess_request(
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
    let recent = r
        .completed
        .is_some_and(|c| ctx.now <= c.plus(std::time::Duration::from_secs(14 * 86_400)));
    let failed = matches!(
        r.state,
        RequestState::DeliveryFailed | RequestState::PartiallyDelivered
    );
    if !failed || !recent {
        return Err(Refusal::NotReprocessable.error());
    }
    if let Some(r) = state.requests.get_mut(id) {
        r.state = RequestState::Delivering;
        r.status = "Delivering".into();
        r.completed = None;
        r.reads = 0;
        r.delivering_since = None;
    }
    state.reopen_request(id);
    state.work_pending = true;
    Ok(())
}

/// `assignments/{id}/reprocess`: only a delivered assignment
/// (https://learn.microsoft.com/graph/api/accesspackageassignment-reprocess?view=graph-rest-1.0);
/// its grants are evaluated again, which here they always are.
pub fn reprocess_assignment(
    state: &TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<(), GraphError> {
    let a = state
        .assignments
        .get(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Write, state))?;
    authz::authorize(
        ctx.caller,
        Operation::ManageAssignments {
            catalog: a.catalog_id,
        },
        state,
    )?;
    if a.state != AssignmentState::Delivered {
        return Err(Refusal::NotReprocessable.error());
    }
    Ok(())
}

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
fn incompatible_with(state: &TenantState, package: &Uuid) -> Vec<Uuid> {
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

// ---- the outbox ----

const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

/// Records a notice unless the package's policy turned assignment notifications off
/// (`notificationSettings.isAssignmentNotificationDisabled`, issue decision).
#[allow(clippy::too_many_arguments)]
fn notify(
    state: &mut TenantState,
    now: Timestamp,
    kind: &'static str,
    package: Uuid,
    policy: Option<Uuid>,
    request: Option<Uuid>,
    assignment: Option<Uuid>,
    recipients: Vec<Uuid>,
) {
    let policy = policy.and_then(|p| state.policies.get(&p));
    let muted = kind.starts_with("assignment")
        && policy
            .and_then(|p| p.notification.as_ref())
            .and_then(|n| n.get("isAssignmentNotificationDisabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if muted {
        return;
    }
    post(
        state,
        crate::model::lifecycle::Notice {
            sequence: 0,
            time: now,
            kind,
            access_package_id: package,
            request_id: request,
            assignment_id: assignment,
            recipients,
            custom_extension_id: None,
            payload: None,
            reason: None,
        },
    );
}

/// The outbox keeps the most recent notices only, capped in count and in bytes.
pub use crate::model::lifecycle::{OUTBOX_BYTES, OUTBOX_CAPACITY};

fn post(state: &mut TenantState, mut notice: crate::model::lifecycle::Notice) {
    notice.sequence = state.outbox.back().map_or(1, |n| n.sequence + 1);
    state.outbox.push(notice);
}

/// Records the callout a policy's custom extension would receive at `stage`
/// (https://learn.microsoft.com/graph/api/resources/customextensionstagesetting?view=graph-rest-1.0).
/// The payload follows the documented callout body [approximated: fields Logic Apps read].
fn callout(
    state: &mut TenantState,
    now: Timestamp,
    stage: &str,
    package: Uuid,
    policy: Option<Uuid>,
    request: Option<Uuid>,
    assignment: Option<Uuid>,
) -> Vec<(Uuid, Uuid)> {
    let Some(p) = policy.and_then(|p| state.policies.get(&p)) else {
        return Vec::new();
    };
    let extensions: Vec<Uuid> = p
        .extension_stages
        .iter()
        .filter(|(s, _)| s.eq_ignore_ascii_case(stage))
        .map(|(_, x)| *x)
        .collect();
    let mut sent = Vec::new();
    for extension in extensions {
        let instance = state.next_id();
        sent.push((extension, instance));
        let catalog = catalog_of(state, &package);
        let payload = serde_json::json!({
            "Stage": stage,
            "CustomExtensionStageInstanceId": instance,
            "CustomExtensionStageInstanceDetail": format!("A callout for the {stage} stage"),
            "AccessPackageCatalog": {"Id": catalog},
            "AccessPackage": {"Id": package},
            "AccessPackageAssignmentPolicy": {"Id": policy},
            "AccessPackageAssignmentRequestId": request,
            "AccessPackageAssignmentId": assignment,
            "CallbackUriPath": request.map(|r| format!(
                "/identityGovernance/entitlementManagement/assignmentRequests('{r}')/resume"
            )),
        });
        // Only loopback endpoints are really called (issue decision): a test's own server. The
        // HTTP layer checks the address again after name resolution (`http::callouts`).
        if let Some(url) = loopback_target(state, &extension) {
            state
                .pending_callouts
                .push(crate::model::lifecycle::PendingCallout {
                    url,
                    body: payload.clone(),
                    custom_extension_id: extension,
                    access_package_id: package,
                    request_id: request,
                    assignment_id: assignment,
                });
        }
        post(
            state,
            crate::model::lifecycle::Notice {
                sequence: 0,
                time: now,
                kind: "customExtensionCallout",
                access_package_id: package,
                request_id: request,
                assignment_id: assignment,
                recipients: Vec::new(),
                custom_extension_id: Some(extension),
                payload: Some(payload),
                reason: None,
            },
        );
    }
    sent
}

/// Records in the outbox that a loopback callout was not delivered, and why (refused before
/// connecting, or what the endpoint answered), so a test can see what became of it.
pub fn callout_failed(
    state: &mut TenantState,
    now: Timestamp,
    callout: &crate::model::lifecycle::PendingCallout,
    reason: String,
) {
    post(
        state,
        crate::model::lifecycle::Notice {
            sequence: 0,
            time: now,
            kind: "customExtensionCalloutFailed",
            access_package_id: callout.access_package_id,
            request_id: callout.request_id,
            assignment_id: callout.assignment_id,
            recipients: Vec::new(),
            custom_extension_id: Some(callout.custom_extension_id),
            payload: None,
            reason: Some(reason),
        },
    );
}

/// The `targetUrl` of an `httpRequestEndpoint` extension when it points at this machine.
fn loopback_target(state: &TenantState, extension: &Uuid) -> Option<String> {
    let endpoint = &state.extensions.get(extension)?.endpoint;
    let url = endpoint.get("targetUrl").and_then(Value::as_str)?;
    let parsed = url::Url::parse(url).ok()?;
    let loopback = match parsed.host()? {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    (loopback && matches!(parsed.scheme(), "http" | "https")).then(|| url.to_string())
}

/// Records a request's callouts at `stage`; one whose extension expects a callback pauses the
/// request (`WaitingForCallback`) until `resume` or its `durationBeforeTimeout`
/// (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-resume?view=graph-rest-1.0).
fn request_callouts(state: &mut TenantState, request: &mut Request, stage: &str, now: Timestamp) {
    let sent = callout(
        state,
        now,
        stage,
        request.access_package_id,
        request.policy_id,
        Some(request.id),
        None,
    );
    for (extension, instance) in sent {
        let callback = state
            .extensions
            .get(&extension)
            .and_then(|x| x.callback.as_ref())
            .map(|c| {
                c.get("durationBeforeTimeout")
                    .and_then(Value::as_str)
                    .and_then(|d| iso8601::duration(d).ok())
                    .map(|d| now.plus(d.into()))
            });
        let waits = callback.is_some() && request.waiting.is_none();
        request
            .callouts
            .push(crate::model::lifecycle::CalloutInstance {
                id: instance,
                extension,
                stage: stage.to_string(),
                status: if waits {
                    "waitingForCallback"
                } else {
                    "calloutSent"
                },
            });
        if waits {
            request.waiting = Some(crate::model::lifecycle::Waiting {
                instance,
                stage: stage.to_string(),
                until: callback.flatten(),
                resume_status: std::mem::replace(&mut request.status, "WaitingForCallback".into()),
            });
        }
    }
}

/// Ends a wait: the callout's status, the request's status before it, and on to the next step.
fn end_wait(request: &mut Request, callout_status: &'static str) {
    if let Some(w) = request.waiting.take() {
        if let Some(c) = request.callouts.iter_mut().find(|c| c.id == w.instance) {
            c.status = callout_status;
        }
        request.status = w.resume_status;
    }
}

/// `assignmentRequests/{id}/resume`
/// (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-resume?view=graph-rest-1.0):
/// 204 while the request waits on that
/// callout; a `denied` state ends it, except at `assignmentRequestCreated` (doc).
pub fn resume(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    instance: Option<Uuid>,
    deny: bool,
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
    let Some(waiting) = r.waiting.as_ref() else {
        return Err(Refusal::NotWaiting.error());
    };
    if instance.is_some_and(|i| i != waiting.instance) {
        return Err(GraphError::invalid_model(
            "customExtensionStageInstanceId does not name the callout the request waits on",
        ));
    }
    if deny
        && waiting
            .stage
            .eq_ignore_ascii_case("assignmentRequestCreated")
    {
        return Err(GraphError::invalid_model(
            "A request cannot be denied at the assignmentRequestCreated stage of the callout",
        ));
    }
    let mut r = r.clone();
    end_wait(&mut r, "callbackReceived");
    if deny {
        r.state = RequestState::Denied;
        r.status = "Denied".into();
        r.completed = Some(ctx.now);
    }
    state.put_request(r);
    state.work_pending = true;
    Ok(())
}

/// Sends the near-expiry notices that are due: 14 days and 1 day before an assignment ends.
/// Users hear of it only when their policy lets them extend (seed page); callouts always go.
fn warn_expiring(state: &mut TenantState, now: Timestamp) {
    let due: Vec<(Uuid, bool)> = state
        .assignments
        .iter()
        .filter(|a| a.state.is_active())
        .filter_map(|a| {
            let end = a.ends?;
            if !a.warned.1 && now.plus(DAY) >= end {
                Some((a.id, true))
            } else if !a.warned.0 && now.plus(14 * DAY) >= end {
                Some((a.id, false))
            } else {
                None
            }
        })
        .collect();
    for (id, one_day) in due {
        let Some(a) = state.assignments.get_mut(&id) else {
            continue;
        };
        // Reaching the one-day mark also settles the fourteen-day one.
        a.warned = (true, a.warned.1 || one_day);
        if one_day {
            a.status = "NearExpiry1DayNotificationTriggered".into();
        }
        let (package, policy, target) = (a.access_package_id, a.policy_id, a.target);
        let may_extend = policy
            .and_then(|p| state.policies.get(&p))
            .is_some_and(|p| p.requestor.self_update);
        let (kind, stage) = if one_day {
            ("assignmentExpiring1Day", "assignmentOneDayBeforeExpiration")
        } else {
            (
                "assignmentExpiring14Days",
                "assignmentFourteenDaysBeforeExpiration",
            )
        };
        if may_extend {
            notify(
                state,
                now,
                kind,
                package,
                policy,
                None,
                Some(id),
                vec![target],
            );
        }
        callout(state, now, stage, package, policy, None, Some(id));
    }
}

// ---- governed guests ----

/// When a governed guest's last assignment ends, the tenant's `settings` decide what happens:
/// block sign-in, and with `blockSignInAndDelete` delete the user after
/// `durationUntilExternalUserDeletedAfterBlocked` on the clock (issue decision;
/// https://learn.microsoft.com/graph/api/resources/entitlementmanagementsettings?view=graph-rest-1.0).
fn retire_guest(state: &mut TenantState, user: &Uuid, now: Timestamp) {
    use crate::model::org::ExternalUserLifecycleAction as Action;
    let governed_guest = state.directory.users.get(user).is_some_and(|u| {
        u.user_type == UserType::Guest
            && state
                .subject_lifecycle
                .get(user)
                .is_none_or(|l| *l == "governed")
    });
    // Only a governed guest needs the scan of every assignment (members never retire), so a
    // removal or expiry of a member's assignment costs nothing here.
    if !governed_guest
        || state
            .assignments
            .iter()
            .any(|a| a.target == *user && a.state != AssignmentState::Expired)
    {
        return;
    }
    let action = state.settings.external_user_lifecycle_action;
    if action == Action::None {
        return;
    }
    if let Some(u) = state.directory.users.get_mut(user) {
        u.account_enabled = false;
    }
    if action == Action::BlockSignInAndDelete {
        let days = state
            .settings
            .days_until_external_user_deleted
            .clamp(0, i64::from(u32::MAX)) as u32;
        state
            .guest_deletions
            .insert(*user, now.plus(DAY.saturating_mul(days)));
    }
}

/// A guest who gets access again signs in again and is no longer due for deletion [inf].
fn restore_guest(state: &mut TenantState, user: &Uuid) {
    if state.guest_deletions.remove(user).is_some()
        || state
            .directory
            .users
            .get(user)
            .is_some_and(|u| u.user_type == UserType::Guest && !u.account_enabled)
    {
        if let Some(u) = state.directory.users.get_mut(user) {
            u.account_enabled = true;
        }
    }
}

fn delete_due_guests(state: &mut TenantState, now: Timestamp) {
    let mut due: Vec<Uuid> = state
        .guest_deletions
        .iter()
        .filter(|(_, at)| **at <= now)
        .map(|(u, _)| *u)
        .collect();
    if due.is_empty() {
        return;
    }
    due.sort();
    for user in due {
        state.guest_deletions.remove(&user);
        state.directory.users.remove(&user);
    }
    state.directory.reindex();
}

// ---- subjects ----

/// The subject behind a user, if entitlement management knows them: they have requested or been
/// assigned something [inf]. Returns the user and their `subjectLifecycle`.
pub fn subject<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    user: &Uuid,
    access: Access,
) -> Result<(&'s User, &'static str), GraphError> {
    let op = match access {
        Access::Read => Operation::ReadTenantObjects,
        _ => Operation::ManageTenantObjects,
    };
    authz::authorize(ctx.caller, op, state)?;
    let known = state.assignments.iter().any(|a| a.target == *user)
        || state.requests.iter().any(|r| r.target == *user);
    let u = state
        .directory
        .users
        .get(user)
        .filter(|_| known)
        .ok_or(GraphError::ResourceNotFound)?;
    // Guests brought in by entitlement management are governed by it
    // (https://learn.microsoft.com/graph/api/accesspackagesubject-get?view=graph-rest-1.0)
    // [inf default].
    let default = if u.user_type == UserType::Guest {
        "governed"
    } else {
        "notDefined"
    };
    Ok((
        u,
        state
            .subject_lifecycle
            .get(user)
            .copied()
            .unwrap_or(default),
    ))
}

/// `PATCH subjects(objectId=…)`: only `subjectLifecycle`
/// (https://learn.microsoft.com/graph/api/accesspackagesubject-update?view=graph-rest-1.0).
pub fn set_subject_lifecycle(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    user: &Uuid,
    value: &str,
) -> Result<(), GraphError> {
    subject(state, ctx, user, Access::Write)?;
    let value = ["notDefined", "notGoverned", "governed"]
        .into_iter()
        .find(|v| v.eq_ignore_ascii_case(value))
        .ok_or_else(|| GraphError::invalid_model(format!("'{value}' is not a subjectLifecycle")))?;
    state.subject_lifecycle.insert(*user, value);
    Ok(())
}

/// An assignment a fixture declares.
#[derive(Debug, Clone)]
pub struct SeededAssignment {
    pub id: Uuid,
    pub access_package_id: Uuid,
    pub target: Uuid,
    pub policy_id: Option<Uuid>,
    pub expired: bool,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

/// Places a fixture's assignment as if a request had delivered it at `start`; its expiry is
/// due on the clock like any other (an end already past expires on the first call).
pub fn seed_assignment(state: &mut TenantState, seed: SeededAssignment) {
    let Some(catalog) = state
        .access_package(&seed.access_package_id)
        .map(|p| p.catalog_id)
    else {
        return;
    };
    let policy_id = seed.policy_id.or_else(|| {
        crate::ops::policy::of_package(state, &seed.access_package_id)
            .next()
            .map(|p| p.id)
    });
    let policy = policy_id.and_then(|p| state.policies.get(&p));
    let requested = seed.end.map(|end| Schedule {
        start: Some(seed.start),
        expiration: Expiration {
            kind: ExpirationKind::AfterDateTime,
            duration: None,
            end: Some(end),
        },
    });
    let schedule = schedule_for(policy, requested.as_ref(), seed.start);
    let (assignment_state, status) = if seed.expired {
        (AssignmentState::Expired, "ExpiredNotificationTriggered")
    } else {
        (AssignmentState::Delivered, "Delivered")
    };
    state.insert_assignment(Assignment {
        id: seed.id,
        access_package_id: seed.access_package_id,
        catalog_id: catalog,
        policy_id,
        target: seed.target,
        state: assignment_state,
        status: status.into(),
        ends: ends(&schedule),
        expired: seed.expired.then(|| ends(&schedule).unwrap_or(seed.start)),
        schedule,
        created: seed.start,
        extended: false,
        warned: (false, false),
    });
    if !seed.expired {
        let end = state.assignments.get(&seed.id).and_then(|a| a.ends);
        state.note_assignment_end(end);
    }
    state.next_due = next_deadline(state);
}

/// A request a fixture declares (adds only).
#[derive(Debug, Clone)]
pub struct SeededRequest {
    pub id: Uuid,
    /// `adminAdd` (made by an administrator, who skips approval [inf]) or `userAdd`.
    pub admin: bool,
    pub request_type_text: String,
    pub access_package_id: Uuid,
    pub target: Uuid,
    pub requestor: Option<Uuid>,
    pub policy_id: Option<Uuid>,
    pub justification: Option<String>,
    /// `denied` or `canceled`: a finished request kept as history.
    pub finished: Option<String>,
    pub created: Timestamp,
    pub start: Option<Timestamp>,
}

/// Places a fixture's request as if submitted at `created` and processed then, so its
/// approval deadlines and scheduled start count from that moment like any other.
pub fn seed_request(state: &mut TenantState, seed: SeededRequest) {
    let policy_id = seed.policy_id.or_else(|| {
        crate::ops::policy::of_package(state, &seed.access_package_id)
            .next()
            .map(|p| p.id)
    });
    let stages = match policy_id.and_then(|p| state.policies.get(&p)) {
        Some(p) if !seed.admin && p.approval.for_add => p.approval.stages.len(),
        _ => 0,
    };
    let created_by = seed
        .requestor
        .and_then(|u| state.directory.users.get(&u))
        .map(|u| u.user_principal_name.clone());
    let mut request = Request {
        id: seed.id,
        access_package_id: seed.access_package_id,
        policy_id,
        request_type: if seed.admin {
            RequestType::AdminAdd
        } else {
            RequestType::UserAdd
        },
        request_type_text: seed.request_type_text,
        state: RequestState::Submitted,
        status: "Accepted".into(),
        target: seed.target,
        requestor: seed.requestor,
        justification: seed.justification,
        answers: Vec::new(),
        schedule: Schedule {
            start: seed.start,
            expiration: Expiration {
                kind: ExpirationKind::NotSpecified,
                duration: None,
                end: None,
            },
        },
        created: seed.created,
        completed: None,
        assignment_id: None,
        stages: Vec::new(),
        created_by,
        callouts: Vec::new(),
        waiting: None,
        reads: 0,
        delivering_since: None,
    };
    for _ in 0..stages {
        request.stages.push(StageState {
            id: state.next_id(),
            approvers: Vec::new(),
            status: "NotStarted",
            review_result: "NotReviewed",
            reviewed_by: None,
            reviewed_at: None,
            justification: None,
            deadline: None,
            escalate_at: None,
        });
    }
    match seed.finished.as_deref() {
        Some("denied") => {
            request.state = RequestState::Denied;
            request.status = "Denied".into();
            request.completed = Some(seed.created);
        }
        Some("canceled") => {
            request.state = RequestState::Canceled;
            request.status = "Canceled".into();
            request.completed = Some(seed.created);
        }
        _ => {}
    }
    state.put_request(request);
    process_due(state, seed.created);
    state.next_due = next_deadline(state);
}

/// Whether the configured outcome still holds this addition in `delivering` now.
fn held_in_delivery(state: &TenantState, request: &Request, now: Timestamp) -> bool {
    match delivery_of(state, &request.access_package_id) {
        DeliveryOutcome::Delivering => true,
        DeliveryOutcome::AfterReads(n) => request.reads < n,
        DeliveryOutcome::AfterDuration(delay) => request
            .delivering_since
            .is_none_or(|since| now < since.plus(delay.0)),
        _ => false,
    }
}

/// A read by id of a request held by the `afterReads` outcome: the first N reads see it
/// `delivering`; the read after them finds it delivered (so it is processed here, before
/// that read is answered).
pub fn count_read(tenant: &crate::store::Tenant, ctx: &OpCtx<'_>, id: &Uuid) {
    let now = ctx.now;
    // Only reads the caller may make count.
    let held = tenant.read(|s| {
        get_request(s, ctx, id).is_ok_and(|r| {
            r.state == RequestState::Delivering
                && matches!(
                    delivery_of(s, &r.access_package_id),
                    DeliveryOutcome::AfterReads(_)
                )
        })
    });
    if held {
        tenant.write(|s| note_read(s, id, now));
    }
}

fn note_read(state: &mut TenantState, id: &Uuid, now: Timestamp) {
    let Some(request) = state.requests.get(id) else {
        return;
    };
    if request.state != RequestState::Delivering {
        return;
    }
    let DeliveryOutcome::AfterReads(n) = delivery_of(state, &request.access_package_id) else {
        return;
    };
    let Some(request) = state.requests.get_mut(id) else {
        return;
    };
    if request.reads < n {
        request.reads += 1;
        return;
    }
    process_due(state, now);
    state.next_due = next_deadline(state);
}

/// How additions to `package` are delivered: its override, else the tenant's setting.
fn delivery_of(state: &TenantState, package: &Uuid) -> DeliveryOutcome {
    state
        .delivery_by_package
        .get(package)
        .copied()
        .unwrap_or(state.delivery)
}

/// Ends an assignment; with `system_type`, records the service's own removal request.
/// Why an assignment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Its schedule ran out on the clock.
    Expired,
    /// A removal request (admin, user or approver) was delivered.
    Removed,
}

/// Ends an assignment. Either way the service records its own `systemRemove` request ("created
/// automatically when access expires/is removed",
/// https://learn.microsoft.com/graph/api/resources/accesspackageassignmentrequest?view=graph-rest-1.0)
/// and the assignment reads `expired` / `ExpiredNotificationTriggered`, the only ended status
/// documented
/// (https://learn.microsoft.com/graph/api/accesspackageassignment-get?view=graph-rest-1.0,
/// https://learn.microsoft.com/graph/api/entitlementmanagement-list-accesspackageassignments?view=graph-rest-beta).
fn expire(state: &mut TenantState, id: &Uuid, now: Timestamp, ending: Ending) {
    let Some(a) = state.assignments.get_mut(id) else {
        return;
    };
    a.state = AssignmentState::Expired;
    a.status = "ExpiredNotificationTriggered".into();
    a.expired = Some(now);
    let (package, policy, target) = (a.access_package_id, a.policy_id, a.target);
    retire_guest(state, &target, now);
    let kind = match ending {
        Ending::Removed => "assignmentRemoved",
        Ending::Expired => "assignmentExpired",
    };
    notify(
        state,
        now,
        kind,
        package,
        policy,
        None,
        Some(*id),
        vec![target],
    );
    callout(
        state,
        now,
        "assignmentRequestRemoved",
        package,
        policy,
        None,
        Some(*id),
    );
    let request = Request {
        id: state.next_id(),
        access_package_id: package,
        policy_id: policy,
        request_type: RequestType::SystemRemove,
        request_type_text: "systemRemove".into(),
        state: RequestState::Delivered,
        status: "Delivered".into(),
        target,
        requestor: None,
        justification: None,
        answers: Vec::new(),
        schedule: Schedule {
            start: None,
            expiration: Expiration {
                kind: ExpirationKind::NotSpecified,
                duration: None,
                end: None,
            },
        },
        created: now,
        completed: Some(now),
        assignment_id: Some(*id),
        stages: Vec::new(),
        created_by: None,
        callouts: Vec::new(),
        waiting: None,
        reads: 0,
        delivering_since: None,
    };
    state.put_request(request);
}

// ---- reading ----

/// Catalog-scoped callers must filter by `accessPackage/id`
/// (https://learn.microsoft.com/graph/api/entitlementmanagement-list-assignments?view=graph-rest-1.0).
fn scoped_listing(
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

fn catalog_of(state: &TenantState, package: &Uuid) -> Uuid {
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

/// Runs due work if any: called before every Graph call to the tenant and after clock changes.
/// The check is O(1); the work runs under the write lock.
pub fn settle(tenant: &crate::store::Tenant, now: Timestamp) {
    let due = tenant.read(|s| s.work_pending || s.next_due.is_some_and(|d| d <= now));
    if due {
        tenant.write(|s| {
            process_due(s, now);
            s.next_due = next_deadline(s);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Caller;
    use crate::fixtures::FixtureSource;
    use crate::ids::IdSource;

    const CAMPAIGN: &str = "60000000-0000-4000-8000-000000000001";
    const REQUESTOR1: &str = "20000000-0000-4000-8000-000000000005";
    const MARKETING: &str = "30000000-0000-4000-8000-000000000001";

    fn setup() -> (TenantState, Caller, Timestamp) {
        let now = Timestamp::parse("2026-03-01T09:00:00Z").unwrap();
        let state = FixtureSource::EmbeddedDefault
            .load()
            .unwrap()
            .build_state(IdSource::Seeded(5).generator(1), now);
        let tenant = state.info.id;
        (state, Caller::unauthenticated(tenant), now)
    }

    fn admin_add(target: &str) -> NewRequest {
        NewRequest {
            request_type: RequestType::AdminAdd,
            request_type_text: "adminAdd".into(),
            package_id: Some(CAMPAIGN.parse().unwrap()),
            policy_id: None,
            target_id: Some(target.parse().unwrap()),
            target_email: None,
            assignment_id: None,
            justification: None,
            answers: Vec::new(),
            schedule: None,
            validation_only: false,
        }
    }

    #[test]
    fn a_request_is_delivered_by_the_next_pass_and_expires_with_the_clock() {
        let (mut s, caller, now) = setup();
        let ctx = OpCtx {
            caller: &caller,
            now,
        };
        let request = submit(&mut s, &ctx, admin_add(REQUESTOR1)).unwrap();
        assert_eq!(request.state, RequestState::Submitted);
        let user: Uuid = REQUESTOR1.parse().unwrap();
        let group: Uuid = MARKETING.parse().unwrap();
        assert!(
            !granted(&s, &group, "Member_").contains(&user),
            "nothing is granted before processing"
        );
        process_due(&mut s, now);
        let delivered = s.requests.get(&request.id).unwrap();
        assert_eq!(delivered.state, RequestState::Delivered);
        assert!(granted(&s, &group, "Member_").contains(&user));
        // The campaign policy grants P30D: the deadline is the next due item, and passing it expires.
        // The near-expiry warnings come first; the end itself is the last thing due.
        let warning = next_deadline(&s).expect("an expiring assignment has a deadline");
        process_due(&mut s, warning);
        assert!(
            s.assignments
                .iter()
                .all(|a| a.state == AssignmentState::Delivered)
        );
        let due = s.assignments.iter().find_map(|a| a.ends).expect("it ends");
        process_due(&mut s, due.plus(std::time::Duration::from_secs(1)));
        assert!(
            s.assignments
                .iter()
                .all(|a| a.state == AssignmentState::Expired)
        );
        assert!(!granted(&s, &group, "Member_").contains(&user));
    }

    #[test]
    fn the_outbox_keeps_the_most_recent_notices() {
        let (mut s, _, now) = setup();
        let package: Uuid = CAMPAIGN.parse().unwrap();
        for _ in 0..OUTBOX_CAPACITY + 5 {
            notify(
                &mut s,
                now,
                "requestSubmitted",
                package,
                None,
                None,
                None,
                Vec::new(),
            );
        }
        assert_eq!(s.outbox.len(), OUTBOX_CAPACITY);
        let first = s.outbox.front().map(|n| n.sequence);
        let last = s.outbox.back().map(|n| n.sequence);
        assert_eq!((first, last), (Some(6), Some(OUTBOX_CAPACITY as u64 + 5)));
    }

    /// Issue 19: a notice names every approver of its stage, so under a count cap alone 10,000
    /// notices to a large group were gigabytes.
    #[test]
    fn the_outbox_stays_within_its_byte_cap_however_many_approvers_a_notice_names() {
        let (mut s, _, now) = setup();
        let package: Uuid = CAMPAIGN.parse().unwrap();
        let approvers = vec![Uuid::nil(); 2_000];
        for _ in 0..1_000 {
            notify(
                &mut s,
                now,
                "approvalRequired",
                package,
                None,
                None,
                None,
                approvers.clone(),
            );
            assert!(s.outbox.bytes() <= OUTBOX_BYTES);
        }
        let kept = s.outbox.len();
        assert!(kept > 100 && kept < 1_000, "{kept} kept");
        assert_eq!(s.outbox.back().map(|n| n.sequence), Some(1_000));
        assert_eq!(s.outbox.back().map(|n| n.recipients.len()), Some(2_000));
    }

    #[test]
    fn a_second_add_for_the_same_target_is_refused_and_validation_stores_nothing() {
        let (mut s, caller, now) = setup();
        let ctx = OpCtx {
            caller: &caller,
            now,
        };
        let mut dry = admin_add(REQUESTOR1);
        dry.validation_only = true;
        submit(&mut s, &ctx, dry).unwrap();
        assert_eq!(
            s.requests.iter().count(),
            0,
            "isValidationOnly stores nothing"
        );
        submit(&mut s, &ctx, admin_add(REQUESTOR1)).unwrap();
        process_due(&mut s, now);
        let again = submit(&mut s, &ctx, admin_add(REQUESTOR1)).unwrap_err();
        assert_eq!(again.code(), "ExistingAssignment");
    }
}
