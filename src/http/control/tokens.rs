//! Test tokens for fixture personas (`POST /_emulator/tokens`).

use super::*;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct TokenBody {
    #[serde(rename = "as")]
    persona: String,
    #[serde(default)]
    scopes: Option<StringList>,
    #[serde(default)]
    roles: Option<StringList>,
    #[serde(default)]
    tenant: Option<Uuid>,
    #[serde(default)]
    lifetime_seconds: Option<i64>,
}

/// `"a b"` or `["a","b"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum StringList {
    Text(String),
    List(Vec<String>),
}

impl StringList {
    fn into_vec(self) -> Vec<String> {
        match self {
            StringList::Text(t) => t
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            StringList::List(l) => l,
        }
    }
}

/// `POST /_emulator/tokens {"as": "<UPN or app name>", "scopes"|"roles": …}`: a persona token.
pub(in crate::http) async fn mint_token(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: TokenBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return control_error(
                &shared,
                &headers,
                StatusCode::BAD_REQUEST,
                format!("invalid token request: {e}"),
            );
        }
    };
    let Some(tenant) = pick_tenant(&shared, req.tenant) else {
        return control_error(
            &shared,
            &headers,
            StatusCode::NOT_FOUND,
            "no such tenant".into(),
        );
    };
    let lifetime = req.lifetime_seconds.unwrap_or(DEFAULT_LIFETIME_SECONDS);
    let token_req = TokenRequest {
        persona: req.persona,
        scopes: req.scopes.map(StringList::into_vec),
        roles: req.roles.map(StringList::into_vec),
        lifetime_seconds: Some(lifetime),
        client: None,
    };
    match tenant.read(|s| token::claims_for(s, &token_req)) {
        Ok(claims) => match token::sign_with(&shared.signing_key, &claims) {
            Ok(jwt) => Json(json!({
                "token_type": "Bearer",
                "expires_in": lifetime,
                "access_token": jwt,
                "claims": claims,
            }))
            .into_response(),
            Err(e) => control_error(
                &shared,
                &headers,
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ),
        },
        Err(e) => control_error(&shared, &headers, StatusCode::BAD_REQUEST, e.to_string()),
    }
}
