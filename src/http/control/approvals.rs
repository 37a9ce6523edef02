//! Deciding an approval stage as a named approver (`POST /_emulator/approvals/{id}`).

use super::*;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DecisionBody {
    /// The approver's user principal name or object id.
    approver: String,
    review_result: String,
    #[serde(default)]
    justification: Option<String>,
}

/// `POST /_emulator/approvals/{requestId}[?tenant=ID] {"approver", "reviewResult", "justification"?}`:
/// decides the request's current stage as that approver would through Graph — same rules (only
/// a resolved approver, once per stage), without minting a token.
pub(in crate::http) async fn decide_as(
    State(shared): State<AppState>,
    axum::extract::Path(request_id): axum::extract::Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let bad = |status, message: String| control_error(&shared, &headers, status, message);
    let tenant = match tenant_param(query.as_deref()).map(|t| pick_tenant(&shared, t)) {
        Ok(Some(t)) => t,
        Ok(None) => return bad(StatusCode::NOT_FOUND, "no such tenant".into()),
        Err(message) => return bad(StatusCode::BAD_REQUEST, message),
    };
    let Ok(request_id) = Uuid::parse_str(&request_id) else {
        return bad(
            StatusCode::BAD_REQUEST,
            format!("'{request_id}' is not a request id"),
        );
    };
    let req: DecisionBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad(StatusCode::BAD_REQUEST, format!("invalid decision: {e}")),
    };
    let approve = match req.review_result.to_ascii_lowercase().as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return bad(
                StatusCode::BAD_REQUEST,
                "reviewResult must be Approve or Deny".into(),
            );
        }
    };
    let now = shared.clock.now();
    crate::ops::lifecycle::settle(&tenant, now);
    let result = tenant.write(|s| {
        let user = s
            .directory
            .users
            .iter()
            .find(|u| {
                u.user_principal_name.eq_ignore_ascii_case(&req.approver)
                    || u.id.to_string().eq_ignore_ascii_case(&req.approver)
            })
            .map(|u| (u.id, u.user_principal_name.clone()))
            .ok_or_else(|| {
                (
                    StatusCode::NOT_FOUND,
                    format!("no user '{}' in the tenant", req.approver),
                )
            })?;
        let request = s.requests.get(&request_id).ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("no request {request_id} in the tenant"),
            )
        })?;
        let stage = request
            .stages
            .iter()
            .find(|st| st.status == "InProgress")
            .map(|st| st.id)
            .ok_or_else(|| {
                (
                    StatusCode::CONFLICT,
                    "the request has no stage awaiting a decision".to_string(),
                )
            })?;
        let caller = crate::auth::Caller {
            tenant_id: s.info.id,
            kind: crate::auth::CallerKind::Delegated,
            object_id: Some(user.0),
            app_id: None,
            actor: Some(user.1),
            permissions: vec!["EntitlementManagement.ReadWrite.All".into()],
            directory_roles: Vec::new(),
        };
        let ctx = crate::ops::OpCtx {
            caller: &caller,
            now,
        };
        crate::ops::lifecycle::decide(
            s,
            &ctx,
            &request_id,
            &stage,
            approve,
            req.justification.clone(),
        )
        .map_err(|e| (e.status(), format!("{}: {e}", e.code())))
    });
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err((status, message)) => bad(status, message),
    }
}
