//! Fault rules: list, add, delete, clear.

use super::*;

/// `GET /_emulator/faults`: the rules, with how often each matched and fired.
pub(in crate::http) async fn list_faults(State(shared): State<AppState>) -> Response {
    Json(json!({"value": shared.faults.list()})).into_response()
}

/// `POST /_emulator/faults {"method"?, "path"?, "tenant"?, "schedule": {"next": N} |
/// {"everyNth": N} | {"calls": [k, m]}, "effect"?: {"status", "code"?, "message"?,
/// "retryAfter"?, "latencyMs"?}}`: 201 with the rule and its id.
pub(in crate::http) async fn add_fault(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rule: super::super::faults::NewRule = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let message = format!("invalid fault rule: {e}");
            return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
        }
    };
    match shared.faults.add(rule) {
        Ok(shown) => (StatusCode::CREATED, Json(shown)).into_response(),
        Err(full @ super::super::faults::RuleRefused::Full(_)) => refuse(
            &shared,
            &headers,
            StatusCode::CONFLICT,
            "Conflict",
            full.to_string(),
        ),
        Err(super::super::faults::RuleRefused::Invalid(message)) => {
            control_error(&shared, &headers, StatusCode::BAD_REQUEST, message)
        }
    }
}

/// `DELETE /_emulator/faults`: no more injected faults.
pub(in crate::http) async fn clear_faults(State(shared): State<AppState>) -> Response {
    shared.faults.remove(None);
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /_emulator/faults/{id}`.
pub(in crate::http) async fn delete_fault(
    State(shared): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(fault_id): axum::extract::Path<String>,
) -> Response {
    match fault_id.parse::<u64>() {
        Ok(id) if shared.faults.remove(Some(id)) => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such fault rule".into(),
        ),
        Err(_) => {
            let message = format!("'{fault_id}' is not a fault rule id");
            control_error(&shared, &headers, StatusCode::BAD_REQUEST, message)
        }
    }
}
