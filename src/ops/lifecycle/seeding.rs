//! Assignments and requests that fixtures declare, placed as if they had happened.

use super::*;

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
