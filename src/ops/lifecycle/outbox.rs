//! The outbox: notifications, custom-extension callouts (and resuming a request that waits for one), near-expiry notices.

use super::*;

// ---- the outbox ----

pub(super) const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

/// Records a notice unless the package's policy turned assignment notifications off
/// (`notificationSettings.isAssignmentNotificationDisabled`, issue decision).
#[allow(clippy::too_many_arguments)]
pub(super) fn notify(
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

pub(super) fn post(state: &mut TenantState, mut notice: crate::model::lifecycle::Notice) {
    notice.sequence = state.outbox.back().map_or(1, |n| n.sequence + 1);
    state.outbox.push(notice);
}

/// Records the callout a policy's custom extension would receive at `stage`
/// (https://learn.microsoft.com/graph/api/resources/customextensionstagesetting?view=graph-rest-1.0).
/// The payload follows the documented callout body [approximated: fields Logic Apps read].
pub(super) fn callout(
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
pub(super) fn loopback_target(state: &TenantState, extension: &Uuid) -> Option<String> {
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
pub(super) fn request_callouts(
    state: &mut TenantState,
    request: &mut Request,
    stage: &str,
    now: Timestamp,
) {
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
pub(super) fn end_wait(request: &mut Request, callout_status: &'static str) {
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
pub(super) fn warn_expiring(state: &mut TenantState, now: Timestamp) {
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
