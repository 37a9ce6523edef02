//! Deliveries the configured outcome holds, the reads that release them, and assignments ending by expiry or removal.

use super::*;

/// Whether the configured outcome still holds this addition in `delivering` now.
pub(super) fn held_in_delivery(state: &TenantState, request: &Request, now: Timestamp) -> bool {
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

pub(super) fn note_read(state: &mut TenantState, id: &Uuid, now: Timestamp) {
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
pub(super) fn delivery_of(state: &TenantState, package: &Uuid) -> DeliveryOutcome {
    state
        .delivery_by_package
        .get(package)
        .copied()
        .unwrap_or(state.delivery)
}

/// Ends an assignment; with `system_type`, records the service's own removal request.
/// Why an assignment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
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
pub(super) fn expire(state: &mut TenantState, id: &Uuid, now: Timestamp, ending: Ending) {
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
