//! Per-tenant settings (`GET`/`POST /_emulator/settings`).

use super::*;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SettingsBody {
    /// What GET returns, so its answer can be edited and sent back; it must name the tenant
    /// the call addresses (`?tenant=`, or the default), never move settings elsewhere.
    #[serde(default)]
    tenant: Option<Uuid>,
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    policy_put_no_content: Option<bool>,
    #[serde(default)]
    admin_approval_bypass: Option<crate::model::lifecycle::AdminApprovalBypass>,
    #[serde(default)]
    package_deletion_guard: Option<crate::model::lifecycle::PackageDeletionGuard>,
    #[serde(default)]
    delivery: Option<crate::model::lifecycle::DeliveryOutcome>,
    /// Replica lag after creates (`"PT2S"`), or `null` to turn it off.
    #[serde(default, deserialize_with = "present")]
    eventual_consistency: Option<Value>,
    /// Replaces the per-package overrides.
    #[serde(default)]
    delivery_by_package:
        Option<std::collections::HashMap<Uuid, crate::model::lifecycle::DeliveryOutcome>>,
}

/// `Some(null)` for an explicit `null`, where a plain `Option<Value>` would read `None`.
pub(super) fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

pub(super) fn settings_json(t: &Tenant) -> Value {
    t.read(|s| {
        json!({"tenant": s.info.id, "pageSize": s.page_size,
               "policyPutNoContent": s.policy_put_no_content, "delivery": s.delivery,
               "adminApprovalBypass": s.admin_approval_bypass, "packageDeletionGuard": s.package_deletion_guard,
               "eventualConsistency": s.consistency_lag.map(|lag| format!("PT{}S", lag.as_secs_f64())),
               "deliveryByPackage": s.delivery_by_package.iter().collect::<std::collections::BTreeMap<_, _>>()})
    })
}

/// `GET /_emulator/settings[?tenant=ID]`: the tenant's emulator settings.
pub(in crate::http) async fn settings(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => Json(settings_json(&t)).into_response(),
        Ok(None) => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
        Err(message) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    }
}

/// `POST /_emulator/settings[?tenant=ID] {"pageSize": N}`: change them until the next reset.
pub(in crate::http) async fn update_settings(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let tenant = match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return control_error(
                &shared,
                &headers,
                StatusCode::NOT_FOUND,
                "no such tenant".into(),
            );
        }
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    let req: SettingsBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return control_error(
                &shared,
                &headers,
                StatusCode::BAD_REQUEST,
                format!("invalid settings: {e}"),
            );
        }
    };
    // Checked before anything is applied, so a refused body changes nothing.
    if let Some(named) = req.tenant.filter(|named| *named != tenant.id()) {
        let message = format!(
            "the body names tenant {named}, but the call addresses {}; use ?tenant= to choose",
            tenant.id()
        );
        return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
    }
    let lag = match &req.eventual_consistency {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(text)) => match crate::model::lifecycle::parse_lag(text) {
            Ok(lag) => Some(Some(lag)),
            Err(message) => {
                return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
            }
        },
        Some(other) => {
            let message =
                format!("eventualConsistency must be an ISO 8601 duration or null, got {other}");
            return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
        }
    };
    if let Some(size) = req.page_size {
        if !(1..=crate::odata::MAX_TOP).contains(&size) {
            let message = format!("pageSize must be between 1 and {}", crate::odata::MAX_TOP);
            return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
        }
        tenant.write(|s| s.page_size = size);
    }
    if let Some(flag) = req.policy_put_no_content {
        tenant.write(|s| s.policy_put_no_content = flag);
    }
    if let Some(choice) = req.admin_approval_bypass {
        tenant.write(|s| s.admin_approval_bypass = choice);
    }
    if let Some(choice) = req.package_deletion_guard {
        tenant.write(|s| s.package_deletion_guard = choice);
    }
    if let Some(lag) = lag {
        tenant.write(|s| {
            s.consistency_lag = lag;
            s.lagging.clear();
        });
    }
    if let Some(map) = req.delivery_by_package {
        tenant.write(|s| {
            s.delivery_by_package = map;
            s.work_pending = true;
        });
    }
    if let Some(outcome) = req.delivery {
        // Requests held in `delivering` move on under the new outcome at the next call.
        tenant.write(|s| {
            s.delivery = outcome;
            s.work_pending = true;
        });
    }
    Json(settings_json(&tenant)).into_response()
}
