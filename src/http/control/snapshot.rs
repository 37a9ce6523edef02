//! The canonical state export, and whole-tenant snapshots: save and restore.

use super::*;

/// `GET /_emulator/state[?tenant=ID]`: the canonical export.
pub(in crate::http) async fn state(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match tenant_param(query.as_deref()) {
        Ok(t) => t,
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    match pick_tenant(&shared, tenant) {
        Some(t) => {
            // Reading the tenant settles what is due, as any Graph call would, so the export
            // shows the state the next call will see.
            crate::ops::lifecycle::settle(&t, shared.clock.now());
            Json(t.read(|s| s.export())).into_response()
        }
        None => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
    }
}

/// `GET /_emulator/snapshot[?tenant=ID]`: the tenant's whole state, canonical and complete
/// (in-flight requests, approvals, outbox, settings, id stream), for `PUT` here or
/// `POST /_emulator/tenants {"snapshot"}`.
pub(in crate::http) async fn snapshot(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match tenant_param(query.as_deref()) {
        Ok(t) => t,
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    let Some(tenant) = pick_tenant(&shared, tenant) else {
        return control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        );
    };
    // As for the export: what is due happens first, so the snapshot is what the next call sees.
    crate::ops::lifecycle::settle(&tenant, shared.clock.now());
    match tenant.read(|s| s.snapshot()) {
        Ok(value) => Json(value).into_response(),
        Err(message) => control_error(
            &shared,
            &headers,
            StatusCode::INTERNAL_SERVER_ERROR,
            message,
        ),
    }
}

/// `PUT /_emulator/snapshot[?tenant=ID]`: the tenant takes the snapshot's state (keeping its
/// own id); its resets return to the snapshot. Nothing changes when the snapshot is refused.
pub(in crate::http) async fn restore_snapshot(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let tenant = match tenant_param(query.as_deref()) {
        Ok(t) => t,
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    let Some(tenant) = pick_tenant(&shared, tenant) else {
        return control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        );
    };
    let snapshot: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let message = format!("invalid snapshot: {e}");
            return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
        }
    };
    match Tenant::from_snapshot(&tenant, snapshot, Some(tenant.id())) {
        Ok(restored) => Json(tenant_json(&shared.tenants.replace(restored))).into_response(),
        Err(message) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    }
}
