//! Processing what is due: accepted requests through approval to delivery, reprocessing, and the next deadline.

use super::*;

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
pub(super) fn assignment_deadline(state: &TenantState) -> Option<Timestamp> {
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

pub(super) fn is_add(t: RequestType) -> bool {
    matches!(t, RequestType::AdminAdd | RequestType::UserAdd)
}

pub(super) fn deliver(
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
