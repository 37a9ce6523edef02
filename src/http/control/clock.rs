//! The governance clock: read it, move it.

use super::*;

/// `GET /_emulator/clock`: governance time.
pub(in crate::http) async fn clock(State(shared): State<AppState>) -> Json<Value> {
    Json(json!({"now": shared.clock.now()}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ClockBody {
    /// An ISO 8601 duration (`P30D`, `PT1H`).
    #[serde(default)]
    advance: Option<String>,
    /// An RFC 3339 time, not earlier than now.
    #[serde(default)]
    set: Option<String>,
}

/// `POST /_emulator/clock {"advance": "P30D"} | {"set": "…"}`: move governance time, then run
/// everything that became due (approval timeouts, expirations) in every tenant.
pub(in crate::http) async fn move_clock(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: ClockBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return control_error(
                &shared,
                &headers,
                StatusCode::BAD_REQUEST,
                format!("invalid clock request: {e}"),
            );
        }
    };
    let result = match (req.advance, req.set) {
        (Some(iso), None) => match iso8601::duration(&iso) {
            Ok(d) => {
                shared.clock.advance(d.into());
                Ok(())
            }
            Err(_) => Err(format!("'{iso}' is not an ISO 8601 duration")),
        },
        (None, Some(t)) => match crate::clock::Timestamp::parse(&t) {
            Ok(ts) => shared.clock.set(ts),
            Err(_) => Err(format!("'{t}' is not an RFC 3339 time")),
        },
        _ => Err("give exactly one of 'advance' or 'set'".into()),
    };
    if let Err(message) = result {
        return control_error(&shared, &headers, StatusCode::BAD_REQUEST, message);
    }
    let now = shared.clock.now();
    for tenant in shared.tenants.all() {
        crate::ops::lifecycle::settle(&tenant, now);
        super::super::callouts::dispatch(&shared, &tenant);
    }
    Json(json!({"now": now})).into_response()
}
