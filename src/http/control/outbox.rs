//! The outbox (notifications and callouts) and the access deliveries gave (`/_emulator/access`).

use super::*;

/// `GET /_emulator/outbox[?tenant=ID]`: the notifications and custom-extension callouts Graph
/// would have sent, oldest first.
pub(in crate::http) async fn outbox(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => {
            // What the last call made due (a delivery, say) is noticed before it is read.
            crate::ops::lifecycle::settle(&t, shared.clock.now());
            Json(t.read(|s| json!({"value": s.outbox}))).into_response()
        }
        Ok(None) => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
        Err(message) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    }
}

/// `GET /_emulator/access[?tenant=ID][&user=ID]`: every resource role delivered access gives
/// (groups, app roles, SharePoint site roles), for one user or all, after due work has run.
pub(in crate::http) async fn access(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut user = None;
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        if key == "user" {
            match Uuid::parse_str(&value) {
                Ok(u) => user = Some(u),
                Err(_) => {
                    let message = format!("'{value}' is not a user id");
                    return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
                }
            }
        }
    }
    match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => {
            crate::ops::lifecycle::settle(&t, shared.clock.now());
            let value: Vec<Value> = t.read(|s| {
                crate::ops::lifecycle::held_roles(s, user.as_ref())
                    .into_iter()
                    .map(|h| {
                        json!({"userId": h.assignment.target, "originSystem": h.resource.origin_system.name(),
                               "resourceOriginId": h.resource.origin_id, "resourceDisplayName": h.resource.display_name,
                               "role": h.role.display_name, "roleOriginId": h.role.origin_id,
                               "accessPackageId": h.assignment.access_package_id, "assignmentId": h.assignment.id})
                    })
                    .collect()
            });
            Json(json!({"value": value})).into_response()
        }
        Ok(None) => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
        Err(message) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    }
}

/// `DELETE /_emulator/outbox[?tenant=ID]`: empties it (sequence numbers start again).
pub(in crate::http) async fn clear_outbox(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => {
            t.write(|s| s.outbox.clear());
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(None) => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
        Err(message) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    }
}
