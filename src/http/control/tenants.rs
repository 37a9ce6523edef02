//! Health, reset, and the tenants one process serves: list, create (plain, copied, from a snapshot or a fixture directory), delete.

use super::*;

/// `GET /_emulator/health`: ready once the fixtures are loaded (they are before we listen).
pub(in crate::http) async fn health(State(shared): State<AppState>) -> Json<Value> {
    let tenants: Vec<Value> = shared
        .tenants
        .all()
        .iter()
        .map(|t| t.read(|s| json!({"id": s.info.id, "displayName": s.info.display_name, "defaultDomain": s.info.default_domain})))
        .collect();
    Json(json!({
        "status": "ready",
        "version": env!("CARGO_PKG_VERSION"),
        "auth": format!("{:?}", shared.auth).to_ascii_lowercase(),
        "defaultTenant": shared.default_tenant,
        "tenants": tenants,
    }))
}

/// `POST /_emulator/reset[?tenant=ID]`: back to the fixtures (all tenants by default).
pub(in crate::http) async fn reset(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let now = shared.clock.now();
    let tenant = match tenant_param(query.as_deref()) {
        Ok(t) => t,
        Err(message) => return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message),
    };
    let targets = match tenant {
        Some(id) => match shared.tenants.get(&id) {
            Some(t) => vec![t],
            None => {
                return control_error(
                    &shared,
                    &headers,
                    StatusCode::NOT_FOUND,
                    format!("no tenant {id}"),
                );
            }
        },
        None => shared.tenants.all(),
    };
    for t in &targets {
        t.reset(now);
    }
    Json(json!({"reset": targets.iter().map(|t| t.id()).collect::<Vec<_>>()})).into_response()
}

pub(super) fn tenant_json(t: &Tenant) -> Value {
    t.read(|s| {
        json!({"id": s.info.id, "displayName": s.info.display_name,
               "defaultDomain": s.info.default_domain})
    })
}

/// `GET /_emulator/tenants`: every tenant this process serves, by id.
pub(in crate::http) async fn list_tenants(State(shared): State<AppState>) -> Response {
    let value: Vec<Value> = shared
        .tenants
        .all()
        .iter()
        .map(|t| tenant_json(t))
        .collect();
    Json(json!({"value": value})).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct NewTenantBody {
    /// Default: a new id from the tenant id stream (seeded runs repeat it).
    #[serde(default)]
    id: Option<Uuid>,
    /// A fixture directory; default: the fixture the default tenant was started from.
    #[serde(default)]
    fixtures: Option<std::path::PathBuf>,
    /// A tenant whose current state the new one starts from (instead of a fixture).
    #[serde(default)]
    from: Option<Uuid>,
    /// A snapshot (`GET /_emulator/snapshot`) the new tenant starts from; without `id` it keeps
    /// the snapshot's tenant id.
    #[serde(default)]
    snapshot: Option<Value>,
}

/// `POST /_emulator/tenants {"id"?, "fixtures"?}`: a fresh tenant, so parallel tests each get
/// their own state. Tokens for it come from `POST /_emulator/tokens?tenant=ID`; with `--auth
/// off`, the `x-emulator-tenant` header picks it.
pub(in crate::http) async fn create_tenant(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: NewTenantBody = if body.is_empty() {
        NewTenantBody {
            id: None,
            fixtures: None,
            from: None,
            snapshot: None,
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                let message = format!("invalid tenant: {e}");
                return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
            }
        }
    };
    let max = shared.limits.max_tenants;
    // Checked before anything is built or an id drawn (ids are part of the seeded output), and
    // again at the insert, which is what concurrent creations race for.
    if shared.tenants.len() >= max {
        return insert_refused(&shared, &headers, InsertRefused::Full(max));
    }
    let tenant = match new_tenant(&shared, req) {
        Ok(tenant) => tenant,
        Err((status, message)) => return control_error(&shared, &headers, status, message),
    };
    match shared.tenants.try_insert_within(tenant, max) {
        Ok(t) => (StatusCode::CREATED, Json(tenant_json(&t))).into_response(),
        Err(refused) => insert_refused(&shared, &headers, refused),
    }
}

pub(super) fn insert_refused(
    shared: &AppState,
    headers: &HeaderMap,
    refused: InsertRefused,
) -> Response {
    match refused {
        InsertRefused::Taken => {
            let message = "a tenant with that id exists (give another 'id')".to_string();
            control_error(shared, headers, StatusCode::CONFLICT, message)
        }
        InsertRefused::Full(max) => {
            let message = format!(
                "this emulator already serves {max} tenants, its limit: delete one (DELETE \
                 /_emulator/tenants/{{id}}) or start it with --max-tenants N (or \
                 EMULATOR_MAX_TENANTS)"
            );
            refuse(shared, headers, StatusCode::CONFLICT, "Conflict", message)
        }
    }
}

/// The tenant a creation request describes (not yet served).
pub(super) fn new_tenant(
    shared: &AppState,
    req: NewTenantBody,
) -> Result<Tenant, (StatusCode, String)> {
    let bad = |message: &str| (StatusCode::BAD_REQUEST, message.to_string());
    let gone = || {
        (
            StatusCode::CONFLICT,
            "the default tenant is gone".to_string(),
        )
    };
    if let Some(snapshot) = req.snapshot {
        if req.fixtures.is_some() || req.from.is_some() {
            return Err(bad("give one of 'snapshot', 'from' or 'fixtures'"));
        }
        let template = pick_tenant(shared, None).ok_or_else(gone)?;
        return Tenant::from_snapshot(&template, snapshot, req.id)
            .map_err(|message| (StatusCode::BAD_REQUEST, message));
    }
    if req.from.is_some() && req.fixtures.is_some() {
        return Err(bad("give either 'from' or 'fixtures', not both"));
    }
    if let Some(source) = req.from {
        let Some(source) = shared.tenants.get(&source) else {
            return Err((StatusCode::NOT_FOUND, format!("no tenant {source} to copy")));
        };
        let id = req.id.unwrap_or_else(|| shared.tenant_ids.next_id());
        return Ok(Tenant::clone_of(&source, id));
    }
    let template = pick_tenant(shared, None).ok_or_else(gone)?;
    // Loaded before the id is drawn, so a refused directory spends none of the id stream.
    let loaded = match &req.fixtures {
        Some(dir) => match crate::fixtures::load_confined(dir) {
            Ok(f) => Some(f),
            Err(crate::fixtures::ConfinedError::NotAFixtureDirectory) => {
                let message = format!("fixtures: {}", crate::fixtures::NOT_A_FIXTURE_DIRECTORY);
                return Err((StatusCode::BAD_REQUEST, message));
            }
            Err(crate::fixtures::ConfinedError::Invalid(e)) => {
                return Err((StatusCode::BAD_REQUEST, format!("fixtures: {e}")));
            }
        },
        None => None,
    };
    let id = req.id.unwrap_or_else(|| shared.tenant_ids.next_id());
    let seed = match loaded {
        Some(fixture) => crate::store::Seed::renamed(&fixture, id),
        None => template.seed().renamed(id),
    };
    Ok(Tenant::new(seed, template.id_source(), shared.clock.now()))
}

/// `DELETE /_emulator/tenants/{id}`: gone with its state; the default tenant stays.
pub(in crate::http) async fn delete_tenant(
    State(shared): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(tenant_id): axum::extract::Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&tenant_id) else {
        let message = format!("'{tenant_id}' is not a tenant id");
        return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
    };
    if id == shared.default_tenant {
        let message = "the default tenant cannot be deleted (reset it instead)".to_string();
        return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
    }
    match shared.tenants.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        ),
    }
}
