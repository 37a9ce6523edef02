//! Test tokens: v1-format Graph access tokens
//! (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference)
//! for fixture personas,
//! signed RS256 with the built-in, documented test key (`test-signing-key.pem`; like Azurite's
//! well-known account key, it protects nothing and exists so every instance agrees).

use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::permissions;
use crate::clock::wall_clock_now;
use crate::store::TenantState;

use super::keys::SigningKey;
pub use super::keys::TEST_KEY_ID;
/// The client app that delegated test tokens claim to come from.
pub const EMULATOR_CLIENT_APP_ID: &str = "e0000000-0000-4000-8000-0000000000e1";
pub const DEFAULT_LIFETIME_SECONDS: i64 = 3600;

/// What to put in a minted token beyond the persona's identity.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// A user principal name, or a service principal's display name or app id.
    pub persona: String,
    /// Delegated scopes (users only). `None` = the default admin-consented set.
    pub scopes: Option<Vec<String>>,
    /// Application permissions (apps only). `None` = what the fixtures grant the app.
    pub roles: Option<Vec<String>>,
    pub lifetime_seconds: Option<i64>,
    /// For user tokens: the client app the user signed in through (default: the emulator's
    /// own client, `EMULATOR_CLIENT_APP_ID`).
    pub client: Option<ClientApp>,
}

/// The client app named in a delegated token (`appid`, `app_displayname`, `appidacr`).
#[derive(Debug, Clone)]
pub struct ClientApp {
    pub app_id: Uuid,
    pub display_name: String,
    /// `appidacr`: "0" public client, "1" client secret, "2" certificate.
    pub authentication: &'static str,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("no user or service principal named '{0}' in tenant {1}")]
    UnknownPersona(String, Uuid),
    #[error("scopes apply to users; '{0}' is an application (use roles)")]
    ScopesForApp(String),
    #[error("roles apply to applications; '{0}' is a user (use scopes)")]
    RolesForUser(String),
    #[error("could not sign the token: {0}")]
    Signing(String),
    #[error("token lifetime must be between 1 and {MAX_LIFETIME_SECONDS} seconds, got {0}")]
    Lifetime(i64),
}

/// The longest lifetime a test token may have (one year).
pub const MAX_LIFETIME_SECONDS: i64 = 366 * 24 * 3600;

/// The default delegated scopes of a persona token: what an admin-consented client app of the
/// tenant would hold [inf].
pub fn default_user_scopes() -> Vec<String> {
    vec![
        permissions::READ_WRITE_ALL.to_string(),
        permissions::SUBJECT_ACCESS.to_string(),
    ]
}

/// Builds the claims of a token for `req.persona` in `state`'s tenant.
pub fn claims_for(
    state: &TenantState,
    req: &TokenRequest,
) -> Result<Map<String, Value>, TokenError> {
    let tid = state.info.id;
    let now = wall_clock_now().unix_timestamp();
    let lifetime = req.lifetime_seconds.unwrap_or(DEFAULT_LIFETIME_SECONDS);
    if !(1..=MAX_LIFETIME_SECONDS).contains(&lifetime) {
        return Err(TokenError::Lifetime(lifetime));
    }
    let exp = now + lifetime;
    let mut c = Map::new();
    c.insert("aud".into(), json!("https://graph.microsoft.com"));
    c.insert(
        "iss".into(),
        json!(format!("https://sts.windows.net/{tid}/")),
    );
    c.insert("iat".into(), json!(now));
    c.insert("nbf".into(), json!(now));
    c.insert("exp".into(), json!(exp));

    let dir = &state.directory;
    if let Some(user) = dir.user_by_upn(&req.persona) {
        if req.roles.is_some() {
            return Err(TokenError::RolesForUser(req.persona.clone()));
        }
        let scopes = req.scopes.clone().unwrap_or_else(default_user_scopes);
        c.insert("acr".into(), json!("1"));
        c.insert("amr".into(), json!(["pwd"]));
        match &req.client {
            Some(client) => {
                c.insert("app_displayname".into(), json!(client.display_name));
                c.insert("appid".into(), json!(client.app_id));
                c.insert("appidacr".into(), json!(client.authentication));
            }
            None => {
                c.insert("app_displayname".into(), json!("entitlement-emulator"));
                c.insert("appid".into(), json!(EMULATOR_CLIENT_APP_ID));
                c.insert("appidacr".into(), json!("0"));
            }
        }
        c.insert("idtyp".into(), json!("user"));
        c.insert("name".into(), json!(user.display_name));
        c.insert("oid".into(), json!(user.id));
        c.insert("scp".into(), json!(scopes.join(" ")));
        c.insert("sub".into(), json!(user.id));
        c.insert("tid".into(), json!(tid));
        c.insert("unique_name".into(), json!(user.user_principal_name));
        c.insert("upn".into(), json!(user.user_principal_name));
        c.insert("ver".into(), json!("1.0"));
        let wids: Vec<String> = dir
            .directory_roles_of(&user.id)
            .iter()
            .map(Uuid::to_string)
            .collect();
        if !wids.is_empty() {
            c.insert("wids".into(), json!(wids));
        }
        return Ok(c);
    }

    let app = dir
        .service_principals
        .iter()
        .find(|sp| {
            sp.display_name.eq_ignore_ascii_case(&req.persona)
                || sp.app_id.to_string().eq_ignore_ascii_case(&req.persona)
        })
        .ok_or_else(|| TokenError::UnknownPersona(req.persona.clone(), tid))?;
    if req.scopes.is_some() {
        return Err(TokenError::ScopesForApp(req.persona.clone()));
    }
    let roles = req
        .roles
        .clone()
        .unwrap_or_else(|| app.graph_application_permissions.clone());
    c.insert("app_displayname".into(), json!(app.display_name));
    c.insert("appid".into(), json!(app.app_id));
    c.insert("appidacr".into(), json!("1"));
    c.insert("idtyp".into(), json!("app"));
    c.insert("oid".into(), json!(app.id));
    // An app with no Graph permission gets no `roles` claim at all, as Entra issues it; such an
    // app can still act through catalog-scoped EM roles (the role tip of every EM API page,
    // e.g.
    // https://learn.microsoft.com/graph/api/entitlementmanagement-list-catalogs?view=graph-rest-1.0).
    if !roles.is_empty() {
        c.insert("roles".into(), json!(roles));
    }
    c.insert("sub".into(), json!(app.id));
    c.insert("tid".into(), json!(tid));
    c.insert("ver".into(), json!("1.0"));
    let wids: Vec<String> = dir
        .directory_roles_of(&app.id)
        .iter()
        .map(Uuid::to_string)
        .collect();
    if !wids.is_empty() {
        c.insert("wids".into(), json!(wids));
    }
    Ok(c)
}

/// The built-in test key, parsed once.
pub fn builtin_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(SigningKey::builtin)
}

/// Signs claims with the built-in test key (what an emulator without `--key-file` accepts).
pub fn sign(claims: &Map<String, Value>) -> Result<String, TokenError> {
    sign_with(builtin_key(), claims)
}

pub fn sign_with(key: &SigningKey, claims: &Map<String, Value>) -> Result<String, TokenError> {
    key.sign(claims)
        .map_err(|e| TokenError::Signing(e.to_string()))
}

/// Mints a token for a persona, signed with `key`.
pub fn mint(
    state: &TenantState,
    req: &TokenRequest,
    key: &SigningKey,
) -> Result<String, TokenError> {
    sign_with(key, &claims_for(state, req)?)
}
