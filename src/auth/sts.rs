//! The token service of each tenant: Entra's v2 token endpoint (client credentials with a
//! secret or a certificate assertion, resource-owner password, authorization code with PKCE,
//! refresh tokens), the auto-approving `/authorize`, and the discovery documents
//! (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc,
//! https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow,
//! and what the clients of docs/CLIENTS.md ask of them). Plain Rust over a tenant's
//! state: the HTTP layer only parses forms and renders what this returns.
//!
//! Access tokens are Graph's v1 format (`token::claims_for`); codes and refresh tokens are
//! JWTs signed with the same key, so they need no server-side store and survive restarts
//! with a persisted key. Their audience is not Graph's, so Graph routes refuse them.
//! Errors carry Entra's AADSTS codes and texts; codes no reference captures are `[inf]`.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value, json};
use sha2::Digest;
use uuid::Uuid;

use super::GRAPH_APP_ID;
use super::keys::SigningKey;
use super::token::{self, ClientApp, TokenRequest};
use crate::model::directory::{ServicePrincipal, User};
use crate::store::TenantState;

/// `expires_in` of every access token (Entra's usual value, as in the responses of
/// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
pub const ACCESS_TOKEN_SECONDS: i64 = 3599;
/// Authorization codes live ten minutes, as Entra's do.
const CODE_SECONDS: i64 = 600;
/// Refresh tokens: Entra's default inactivity lifetime, 90 days.
const REFRESH_SECONDS: i64 = 90 * 24 * 3600;
/// Client assertions and the emulator's own artefacts allow this much clock skew.
const SKEW_SECONDS: i64 = 300;

const CODE_AUDIENCE: &str = "urn:entitlement-emulator:authorization-code";
const REFRESH_AUDIENCE: &str = "urn:entitlement-emulator:refresh-token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// An Entra refusal: the OAuth `error`, the AADSTS number and its text, and the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsError {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub message: String,
}

impl StsError {
    fn new(status: u16, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        StsError {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    fn invalid_client(code: u32, message: impl Into<String>) -> Self {
        Self::new(401, "invalid_client", code, message)
    }

    fn invalid_grant(code: u32, message: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", code, message)
    }

    fn missing(parameter: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    /// AADSTS90002, for a tenant segment that names no tenant of this emulator.
    pub fn unknown_tenant(segment: &str) -> Self {
        Self::new(
            400,
            "invalid_tenant",
            90002,
            format!(
                "Tenant '{segment}' not found. Check to make sure you have the correct tenant ID \
                 and are signing into the correct cloud. Check with your subscription \
                 administrator, this may happen if there are no active subscriptions for the \
                 tenant."
            ),
        )
    }

    fn malformed_grant() -> Self {
        Self::invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
    }

    fn expired_grant() -> Self {
        Self::invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. \
             Send a new interactive authorization request for this user and resource.",
        )
    }

    /// The `{"error", "error_description", "error_codes", …}` body Entra answers with.
    pub fn body(&self, trace_id: Uuid, correlation_id: &str, timestamp: &str) -> Value {
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                self.code, self.message
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

/// Where the client reached the token service.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `scheme://host[:port]` as the client called it.
    pub base_url: String,
    /// The tenant segment of the path as the client wrote it (id, domain or `common`).
    pub tenant_segment: String,
}

impl Endpoint {
    pub fn authority(&self) -> String {
        format!("{}/{}", self.base_url, self.tenant_segment)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/v2.0/token", self.authority())
    }

    /// The v2 issuer of id tokens for tenant `tid`.
    pub fn issuer(&self, tid: Uuid) -> String {
        format!("{}/{tid}/v2.0", self.base_url)
    }
}

/// What the token endpoint needs besides the form.
#[allow(missing_debug_implementations)]
pub struct Context<'a> {
    pub endpoint: &'a Endpoint,
    pub key: &'a SigningKey,
    /// Wall-clock Unix seconds: token lifetimes are not governance time (issue 7).
    pub now: i64,
    /// Called once per authorization code; `false` means it was redeemed before.
    pub first_redemption: &'a dyn Fn(&str) -> bool,
    /// `client_id:client_secret` from an `Authorization: Basic` header (client_secret_basic).
    pub basic: Option<(String, String)>,
}

type Form = HashMap<String, String>;

fn param<'f>(form: &'f Form, name: &str) -> Option<&'f str> {
    form.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn required<'f>(form: &'f Form, name: &str) -> Result<&'f str, StsError> {
    param(form, name).ok_or_else(|| StsError::missing(name))
}

/// How a client proved who it is (`appidacr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientProof {
    None,
    Secret,
    Certificate,
}

impl ClientProof {
    fn acr(self) -> &'static str {
        match self {
            ClientProof::None => "0",
            ClientProof::Secret => "1",
            ClientProof::Certificate => "2",
        }
    }
}

fn app_not_found(state: &TenantState, client_id: &str) -> StsError {
    StsError::new(
        400,
        "unauthorized_client",
        700016,
        format!(
            "Application with identifier '{client_id}' was not found in the directory '{}'. This \
             can happen if the application has not been installed by the administrator of the \
             tenant or consented to by any user in the tenant. You may have sent your \
             authentication request to the wrong tenant.",
            state.info.display_name
        ),
    )
}

fn find_client<'s>(
    state: &'s TenantState,
    client_id: &str,
) -> Result<&'s ServicePrincipal, StsError> {
    Uuid::parse_str(client_id)
        .ok()
        .and_then(|id| state.directory.service_principal_by_app_id(&id))
        .ok_or_else(|| app_not_found(state, client_id))
}

/// Authenticates the client of a token request. `confidential_only`: the grant needs a
/// credential even from an app that allows public client flows (client credentials).
fn authenticate_client<'s>(
    state: &'s TenantState,
    form: &Form,
    ctx: &Context<'_>,
    confidential_only: bool,
) -> Result<(&'s ServicePrincipal, ClientProof), StsError> {
    let client_id = param(form, "client_id")
        .or(ctx.basic.as_ref().map(|(id, _)| id.as_str()))
        .ok_or_else(|| StsError::missing("client_id"))?;
    let app = find_client(state, client_id)?;
    let secret = param(form, "client_secret").or(ctx.basic.as_ref().map(|(_, s)| s.as_str()));
    let assertion = param(form, "client_assertion");
    let public = app.is_fallback_public_client && !confidential_only;
    if public {
        if secret.is_some() || assertion.is_some() {
            return Err(StsError::invalid_client(
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be \
                 presented.",
            ));
        }
        return Ok((app, ClientProof::None));
    }
    if let Some(secret) = secret {
        let known = app
            .password_credentials
            .iter()
            .any(|c| constant_time_eq(c.secret_text.as_bytes(), secret.as_bytes()));
        if !known {
            return Err(StsError::invalid_client(
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request \
                     is the client secret value, not the client secret ID, for a secret added to \
                     app '{}'.",
                    app.app_id
                ),
            ));
        }
        return Ok((app, ClientProof::Secret));
    }
    if let Some(assertion) = assertion {
        if param(form, "client_assertion_type") != Some(JWT_BEARER) {
            return Err(StsError::missing("client_assertion_type"));
        }
        check_assertion(app, assertion, ctx)?;
        return Ok((app, ClientProof::Certificate));
    }
    Err(StsError::invalid_client(
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or \
         'client_secret'.",
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A certificate credential: a JWT the client signed with a registered certificate's key, for
/// this token endpoint, by and about itself.
fn check_assertion(
    app: &ServicePrincipal,
    assertion: &str,
    ctx: &Context<'_>,
) -> Result<(), StsError> {
    let malformed = || StsError::invalid_client(50027, "JWT token is invalid or malformed.");
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(malformed());
    }
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(assertion)
        .map_err(|_| malformed())?
        .claims;
    let (message, signature) = assertion.rsplit_once('.').ok_or_else(malformed)?;
    let signed = app.key_credentials.iter().any(|cred| {
        DecodingKey::from_rsa_pem(cred.pem().as_bytes()).is_ok_and(|key| {
            jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, header.alg)
                .unwrap_or(false)
        })
    });
    if !signed {
        return Err(StsError::invalid_client(
            700027,
            "Client assertion failed signature validation.",
        ));
    }
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
    let app_id = app.app_id.to_string();
    if !text("iss").eq_ignore_ascii_case(&app_id) || !text("sub").eq_ignore_ascii_case(&app_id) {
        return Err(StsError::invalid_client(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    // The audience is this token endpoint, whichever tenant spelling the client used [inf].
    let aud_ok = |aud: &str| {
        aud.eq_ignore_ascii_case(&ctx.endpoint.token_endpoint())
            || (aud.starts_with(&ctx.endpoint.base_url) && aud.ends_with("/oauth2/v2.0/token"))
    };
    let audience = match claims.get("aud") {
        Some(Value::String(aud)) => aud_ok(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(aud_ok),
        _ => false,
    };
    if !audience {
        return Err(StsError::invalid_client(
            700016,
            "Client assertion audience claim does not match Realm issuer.",
        ));
    }
    // NumericDate may have a fraction (MSAL Python sends `time.time() + 600`).
    let seconds = |k: &str| claims.get(k).and_then(Value::as_f64).map(|s| s as i64);
    let exp = seconds("exp").unwrap_or(0);
    let nbf = seconds("nbf").unwrap_or(i64::MIN);
    if exp + SKEW_SECONDS <= ctx.now || nbf > ctx.now + SKEW_SECONDS {
        return Err(StsError::invalid_client(
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    Ok(())
}

/// The scopes of a request, split into Graph permissions and OpenID Connect scopes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scopes {
    graph: Vec<String>,
    default: bool,
    oidc: Vec<String>,
}

impl Scopes {
    fn has(&self, oidc: &str) -> bool {
        self.oidc.iter().any(|s| s == oidc)
    }
}

/// Whether `resource` names Microsoft Graph: its URL, its app id, or this emulator's own base
/// URL (with or without the port: Kiota derives `<scheme>://<host>/.default` from the request,
/// Terraform asks for its `metadata_host`'s Graph resource).
fn is_graph_resource(resource: &str, endpoint: &Endpoint) -> bool {
    let r = resource.trim_end_matches('/');
    if r.eq_ignore_ascii_case("https://graph.microsoft.com") || r.eq_ignore_ascii_case(GRAPH_APP_ID)
    {
        return true;
    }
    let (Ok(asked), Ok(own)) = (url::Url::parse(r), url::Url::parse(&endpoint.base_url)) else {
        return false;
    };
    asked.host_str().is_some()
        && asked.host_str() == own.host_str()
        && matches!(asked.path(), "" | "/")
        && (asked.port().is_none() || asked.port() == own.port())
}

fn parse_scopes(raw: &str, state: &TenantState, endpoint: &Endpoint) -> Result<Scopes, StsError> {
    let mut scopes = Scopes::default();
    for item in raw.split_whitespace() {
        if let Some(oidc) = OIDC_SCOPES.iter().find(|s| s.eq_ignore_ascii_case(item)) {
            if !scopes.has(oidc) {
                scopes.oidc.push(oidc.to_string());
            }
            continue;
        }
        let (resource, permission) = match item.rsplit_once('/') {
            Some((resource, permission)) => (Some(resource), permission),
            None => (None, item),
        };
        if let Some(resource) = resource
            && !is_graph_resource(resource, endpoint)
        {
            return Err(StsError::new(
                400,
                "invalid_resource",
                500011,
                format!(
                    "The resource principal named {resource} was not found in the tenant named \
                     {}. This can happen if the application has not been installed by the \
                     administrator of the tenant or consented to by any user in the tenant. You \
                     might have sent your authentication request to the wrong tenant.",
                    state.info.display_name
                ),
            ));
        }
        if permission.eq_ignore_ascii_case(".default") {
            scopes.default = true;
        } else if !scopes
            .graph
            .iter()
            .any(|g| g.eq_ignore_ascii_case(permission))
        {
            scopes.graph.push(permission.to_string());
        }
    }
    Ok(scopes)
}

fn invalid_scope(message: impl Into<String>, code: u32) -> StsError {
    StsError::new(400, "invalid_scope", code, message)
}

/// Token endpoint: `POST /{tenant}/oauth2/v2.0/token`. Returns the JSON body of a 200.
pub fn token(state: &TenantState, form: &Form, ctx: &Context<'_>) -> Result<Value, StsError> {
    let grant = required(form, "grant_type")?;
    match grant {
        "client_credentials" => client_credentials(state, form, ctx),
        "password" => password(state, form, ctx),
        "authorization_code" => authorization_code(state, form, ctx),
        "refresh_token" => refresh(state, form, ctx),
        other => Err(StsError::new(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

fn client_credentials(
    state: &TenantState,
    form: &Form,
    ctx: &Context<'_>,
) -> Result<Value, StsError> {
    let raw_scope = required(form, "scope")?;
    let (app, _) = authenticate_client(state, form, ctx, true)?;
    let scopes = parse_scopes(raw_scope, state, ctx.endpoint)?;
    if !scopes.default || !scopes.graph.is_empty() || !scopes.oidc.is_empty() {
        return Err(invalid_scope(
            format!(
                "The provided value for scope {raw_scope} is not valid. Client credential flows \
                 must have a scope value with /.default suffixed to the resource identifier \
                 (application ID URI)."
            ),
            1002012,
        ));
    }
    let claims = token::claims_for(
        state,
        &TokenRequest {
            persona: app.app_id.to_string(),
            lifetime_seconds: Some(ACCESS_TOKEN_SECONDS + 1),
            ..Default::default()
        },
    )
    .map_err(|e| StsError::new(400, "invalid_request", 90000, e.to_string()))?;
    let access_token = sign(ctx, &claims)?;
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_SECONDS,
        "ext_expires_in": ACCESS_TOKEN_SECONDS,
        "access_token": access_token,
    }))
}

fn sign(ctx: &Context<'_>, claims: &Map<String, Value>) -> Result<String, StsError> {
    ctx.key
        .sign(claims)
        .map_err(|e| StsError::new(500, "server_error", 90000, e.to_string()))
}

fn user_not_found(state: &TenantState) -> StsError {
    StsError::invalid_grant(
        50034,
        format!(
            "The user account {{EmailHidden}} does not exist in the {} directory. To sign into \
             this application, the account must be added to the directory.",
            state.info.id
        ),
    )
}

/// A user may sign in only while their account is enabled (AADSTS50057).
fn enabled(user: &User) -> Result<&User, StsError> {
    if user.account_enabled {
        Ok(user)
    } else {
        Err(StsError::invalid_grant(
            50057,
            "The user account is disabled.",
        ))
    }
}

fn usable_user<'s>(state: &'s TenantState, upn: &str) -> Result<&'s User, StsError> {
    state
        .directory
        .user_by_upn(upn)
        .ok_or_else(|| user_not_found(state))
        .and_then(enabled)
}

fn password(state: &TenantState, form: &Form, ctx: &Context<'_>) -> Result<Value, StsError> {
    let username = required(form, "username")?;
    let password = required(form, "password")?;
    let raw_scope = required(form, "scope")?;
    let (app, proof) = authenticate_client(state, form, ctx, false)?;
    let scopes = parse_scopes(raw_scope, state, ctx.endpoint)?;
    let user = usable_user(state, username)?;
    let matches = user
        .password_profile
        .as_ref()
        .is_some_and(|p| constant_time_eq(p.password.as_bytes(), password.as_bytes()));
    if !matches {
        return Err(StsError::invalid_grant(
            50126,
            "Error validating credentials due to invalid username or password.",
        ));
    }
    delegated_response(state, app, proof, user, &scopes, None, form, ctx)
}

/// Claims of an authorization code: everything the token request must match.
fn code_claims(
    state: &TenantState,
    app: &ServicePrincipal,
    user: &User,
    params: &Form,
    ctx: &Context<'_>,
    code_id: Uuid,
) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("aud".into(), json!(CODE_AUDIENCE));
    c.insert("jti".into(), json!(code_id));
    c.insert("tid".into(), json!(state.info.id));
    c.insert("oid".into(), json!(user.id));
    c.insert("client_id".into(), json!(app.app_id));
    for name in [
        "redirect_uri",
        "scope",
        "code_challenge",
        "code_challenge_method",
        "nonce",
    ] {
        if let Some(v) = param(params, name) {
            c.insert(name.into(), json!(v));
        }
    }
    c.insert("exp".into(), json!(ctx.now + CODE_SECONDS));
    c
}

/// Decodes an artefact this service issued (code or refresh token) for `audience`.
fn own_artefact(
    ctx: &Context<'_>,
    jwt: &str,
    audience: &str,
) -> Result<Map<String, Value>, StsError> {
    if !ctx.key.verifies(jwt) {
        return Err(StsError::malformed_grant());
    }
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(jwt)
        .map_err(|_| StsError::malformed_grant())?
        .claims;
    let Value::Object(claims) = claims else {
        return Err(StsError::malformed_grant());
    };
    if claims.get("aud").and_then(Value::as_str) != Some(audience) {
        return Err(StsError::malformed_grant());
    }
    if claims.get("exp").and_then(Value::as_i64).unwrap_or(0) <= ctx.now {
        return Err(StsError::expired_grant());
    }
    Ok(claims)
}

fn claim<'c>(claims: &'c Map<String, Value>, name: &str) -> Option<&'c str> {
    claims.get(name).and_then(Value::as_str)
}

/// The user and client an artefact was issued to, checked against the tenant and the caller.
fn artefact_parties<'s>(
    state: &'s TenantState,
    claims: &Map<String, Value>,
    app: &ServicePrincipal,
) -> Result<&'s User, StsError> {
    if claim(claims, "tid") != Some(state.info.id.to_string().as_str()) {
        return Err(StsError::malformed_grant());
    }
    if claim(claims, "client_id") != Some(app.app_id.to_string().as_str()) {
        return Err(StsError::invalid_grant(
            70000,
            "Provided grant is invalid or malformed.",
        ));
    }
    claim(claims, "oid")
        .and_then(|id| Uuid::parse_str(id).ok())
        .and_then(|id| state.directory.users.get(&id))
        .ok_or_else(|| user_not_found(state))
        .and_then(enabled)
}

fn authorization_code(
    state: &TenantState,
    form: &Form,
    ctx: &Context<'_>,
) -> Result<Value, StsError> {
    let code = required(form, "code")?;
    let redirect_uri = required(form, "redirect_uri")?;
    let (app, proof) = authenticate_client(state, form, ctx, false)?;
    let claims = own_artefact(ctx, code, CODE_AUDIENCE)?;
    let user = artefact_parties(state, &claims, app)?;
    if claim(&claims, "redirect_uri") != Some(redirect_uri) {
        return Err(StsError::invalid_grant(
            50148,
            "The redirect_uri used in the token request does not match the redirect_uri used in \
             the authorization request.",
        ));
    }
    if let Some(challenge) = claim(&claims, "code_challenge") {
        let verifier = param(form, "code_verifier").unwrap_or("");
        let method = claim(&claims, "code_challenge_method").unwrap_or("plain");
        let computed = if method.eq_ignore_ascii_case("S256") {
            URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
        } else {
            verifier.to_string()
        };
        if verifier.is_empty() || computed != challenge {
            return Err(StsError::invalid_grant(
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the \
                 authorization request.",
            ));
        }
    }
    let jti = claim(&claims, "jti").unwrap_or("");
    if !(ctx.first_redemption)(jti) {
        return Err(StsError::invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code \
             or use an existing refresh token.",
        ));
    }
    let scopes = parse_scopes(claim(&claims, "scope").unwrap_or(""), state, ctx.endpoint)?;
    let nonce = claim(&claims, "nonce").map(str::to_string);
    delegated_response(state, app, proof, user, &scopes, nonce, form, ctx)
}

fn refresh(state: &TenantState, form: &Form, ctx: &Context<'_>) -> Result<Value, StsError> {
    let refresh_token = required(form, "refresh_token")?;
    let (app, proof) = authenticate_client(state, form, ctx, false)?;
    let claims = own_artefact(ctx, refresh_token, REFRESH_AUDIENCE)?;
    let user = artefact_parties(state, &claims, app)?;
    // A refresh may narrow the scopes; without `scope` it keeps the original grant.
    let raw_scope = param(form, "scope")
        .or(claim(&claims, "scope"))
        .unwrap_or("");
    let scopes = parse_scopes(raw_scope, state, ctx.endpoint)?;
    delegated_response(state, app, proof, user, &scopes, None, form, ctx)
}

/// Access token (+ refresh token, id token, client info) for a signed-in user.
#[allow(clippy::too_many_arguments)]
fn delegated_response(
    state: &TenantState,
    app: &ServicePrincipal,
    proof: ClientProof,
    user: &User,
    scopes: &Scopes,
    nonce: Option<String>,
    form: &Form,
    ctx: &Context<'_>,
) -> Result<Value, StsError> {
    let mut graph: Vec<String> = Vec::new();
    if scopes.default {
        graph.extend(
            app.graph_delegated_permissions
                .clone()
                .unwrap_or_else(token::default_user_scopes),
        );
    }
    for s in &scopes.graph {
        if !graph.iter().any(|g| g.eq_ignore_ascii_case(s)) {
            graph.push(s.clone());
        }
    }
    if graph.is_empty() && scopes.oidc.is_empty() {
        return Err(invalid_scope(
            "The provided request must include a 'scope' input parameter.",
            70011,
        ));
    }
    // Graph tokens carry the OpenID scopes the client asked for in `scp` too (decoded Graph
    // tokens end in `… profile openid email`; docs/PARITY.md, token endpoint).
    let scp: Vec<String> = graph
        .iter()
        .cloned()
        .chain(
            scopes
                .oidc
                .iter()
                .filter(|s| *s != "offline_access")
                .cloned(),
        )
        .collect();
    let claims = token::claims_for(
        state,
        &TokenRequest {
            persona: user.user_principal_name.clone(),
            scopes: Some(scp),
            lifetime_seconds: Some(ACCESS_TOKEN_SECONDS + 1),
            client: Some(ClientApp {
                app_id: app.app_id,
                display_name: app.display_name.clone(),
                authentication: proof.acr(),
            }),
            ..Default::default()
        },
    )
    .map_err(|e| StsError::new(400, "invalid_request", 90000, e.to_string()))?;
    let mut body = Map::new();
    body.insert("token_type".into(), json!("Bearer"));
    let granted: Vec<String> = graph
        .iter()
        .map(|g| format!("https://graph.microsoft.com/{g}"))
        .chain(scopes.oidc.iter().cloned())
        .collect();
    body.insert("scope".into(), json!(granted.join(" ")));
    body.insert("expires_in".into(), json!(ACCESS_TOKEN_SECONDS));
    body.insert("ext_expires_in".into(), json!(ACCESS_TOKEN_SECONDS));
    body.insert("access_token".into(), json!(sign(ctx, &claims)?));
    let tid = state.info.id;
    if scopes.has("offline_access") {
        let mut r = Map::new();
        r.insert("aud".into(), json!(REFRESH_AUDIENCE));
        r.insert("tid".into(), json!(tid));
        r.insert("oid".into(), json!(user.id));
        r.insert("client_id".into(), json!(app.app_id));
        r.insert("scope".into(), json!(granted.join(" ")));
        r.insert("iat".into(), json!(ctx.now));
        r.insert("exp".into(), json!(ctx.now + REFRESH_SECONDS));
        body.insert("refresh_token".into(), json!(sign(ctx, &r)?));
    }
    if scopes.has("openid") {
        let mut id = Map::new();
        id.insert("aud".into(), json!(app.app_id));
        id.insert("iss".into(), json!(ctx.endpoint.issuer(tid)));
        id.insert("iat".into(), json!(ctx.now));
        id.insert("nbf".into(), json!(ctx.now));
        id.insert("exp".into(), json!(ctx.now + ACCESS_TOKEN_SECONDS + 1));
        id.insert("name".into(), json!(user.display_name));
        if let Some(nonce) = nonce {
            id.insert("nonce".into(), json!(nonce));
        }
        id.insert("oid".into(), json!(user.id));
        id.insert("preferred_username".into(), json!(user.user_principal_name));
        id.insert("sub".into(), json!(user.id));
        id.insert("tid".into(), json!(tid));
        id.insert("ver".into(), json!("2.0"));
        body.insert("id_token".into(), json!(sign(ctx, &id)?));
    }
    if param(form, "client_info") == Some("1") {
        let info = json!({"uid": user.id, "utid": tid}).to_string();
        body.insert("client_info".into(), json!(URL_SAFE.encode(info)));
    }
    Ok(Value::Object(body))
}

/// Where `/authorize` sends the browser.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// 302 to this URL (a code, or an error the client's redirect URI receives).
    Redirect(String),
    /// An error shown on Entra's own page: the redirect URI itself could not be trusted.
    Page(StsError),
}

fn redirect_allowed(app: &ServicePrincipal, requested: &str) -> bool {
    let Ok(asked) = url::Url::parse(requested) else {
        return false;
    };
    app.redirect_uris.iter().any(|registered| {
        let Ok(reg) = url::Url::parse(registered) else {
            return false;
        };
        let loopback = matches!(reg.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        reg.scheme() == asked.scheme()
            && reg.host_str() == asked.host_str()
            && reg.path() == asked.path()
            // Native clients may use any port on the loopback address.
            && (loopback || reg.port_or_known_default() == asked.port_or_known_default())
    })
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: signs in the persona named by `login_hint` without a
/// page and redirects with a code (or an error), honouring `response_mode`.
pub fn authorize(
    state: &TenantState,
    params: &Form,
    ctx: &Context<'_>,
    code_id: Uuid,
) -> AuthorizeOutcome {
    let client_id = match required(params, "client_id") {
        Ok(id) => id,
        Err(e) => return AuthorizeOutcome::Page(e),
    };
    let app = match find_client(state, client_id) {
        Ok(app) => app,
        Err(e) => return AuthorizeOutcome::Page(e),
    };
    let redirect_uri = match required(params, "redirect_uri") {
        Ok(uri) => uri,
        Err(e) => return AuthorizeOutcome::Page(e),
    };
    if !redirect_allowed(app, redirect_uri) {
        return AuthorizeOutcome::Page(StsError::new(
            400,
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the \
                 redirect URIs configured for the application '{}'. Make sure the redirect URI \
                 sent in the request matches one added to your application in the Azure portal. \
                 Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to \
                 fix this.",
                app.app_id
            ),
        ));
    }
    let mode = param(params, "response_mode").unwrap_or("query");
    let state_param = param(params, "state");
    // The redirect URI is echoed exactly as sent (no normalisation), as Entra does.
    let back = |pairs: Vec<(&str, String)>| {
        let mut all = pairs;
        if let Some(s) = state_param {
            all.push(("state", s.to_string()));
        }
        let encoded: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(all.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let separator = if mode == "fragment" {
            '#'
        } else if redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        AuthorizeOutcome::Redirect(format!("{redirect_uri}{separator}{encoded}"))
    };
    let fail = |e: StsError| {
        back(vec![
            ("error", e.error.to_string()),
            (
                "error_description",
                format!("AADSTS{}: {}", e.code, e.message),
            ),
        ])
    };
    if param(params, "response_type") != Some("code") {
        return fail(StsError::new(
            400,
            "unsupported_response_type",
            700054,
            "response_type 'id_token' is not enabled for the application.",
        ));
    }
    if let Some(method) = param(params, "code_challenge_method")
        && !method.eq_ignore_ascii_case("S256")
        && method != "plain"
    {
        return fail(StsError::new(
            400,
            "invalid_request",
            50148,
            "The code_challenge_method is not supported.",
        ));
    }
    let Some(hint) = param(params, "login_hint") else {
        return fail(StsError::new(
            400,
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in. The emulator signs in \
             the user named by login_hint.",
        ));
    };
    let user = match usable_user(state, hint) {
        Ok(user) => user,
        Err(e) => return fail(e),
    };
    if let Err(e) = parse_scopes(param(params, "scope").unwrap_or(""), state, ctx.endpoint) {
        return fail(e);
    }
    match sign(ctx, &code_claims(state, app, user, params, ctx, code_id)) {
        Ok(code) => back(vec![("code", code), ("session_state", code_id.to_string())]),
        Err(e) => fail(e),
    }
}

/// `/{tenant}/v2.0/.well-known/openid-configuration`, pointing every endpoint back here.
pub fn openid_configuration(endpoint: &Endpoint, tid: Uuid) -> Value {
    let authority = endpoint.authority();
    let host = endpoint
        .base_url
        .split_once("://")
        .map_or(endpoint.base_url.as_str(), |(_, h)| h);
    json!({
        "token_endpoint": endpoint.token_endpoint(),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{authority}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": endpoint.issuer(tid),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{}/oidc/userinfo", endpoint.base_url),
        "authorization_endpoint": format!("{authority}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{authority}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{authority}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{authority}/kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": host,
        "cloud_graph_host_name": host,
        "msgraph_host": host,
        "rbac_url": "https://pas.windows.net",
    })
}

/// `/common/discovery/instance`: this host is its own (only) alias.
pub fn instance_discovery(base_url: &str, authorization_endpoint: Option<&str>) -> Value {
    let host = base_url.split_once("://").map_or(base_url, |(_, h)| h);
    let tenant = authorization_endpoint
        .and_then(|a| url::Url::parse(a).ok())
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next().map(str::to_string))
        })
        .unwrap_or_else(|| "common".into());
    json!({
        "tenant_discovery_endpoint": format!("{base_url}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    })
}

/// `/common/userrealm/{user}`: MSAL's password flow asks whether the user's domain is
/// federated before it sends the password. Every emulated tenant is managed.
pub fn user_realm(state: Option<&TenantState>, username: &str) -> Value {
    let domain = username.rsplit_once('@').map_or("", |(_, d)| d);
    match state {
        Some(_) => json!({
            "ver": "1.0",
            "account_type": "Managed",
            "domain_name": domain,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }),
        None => {
            json!({"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": "microsoftonline.com"})
        }
    }
}

/// Terraform's `metadata_host` document (hashicorp/terraform-provider-azuread reads
/// `https://<metadata_host>/metadata/endpoints?api-version=2022-09-01`; docs/CLIENTS.md):
/// the emulator is Graph, the
/// login endpoint and the resource manager.
pub fn metadata_endpoints(base_url: &str) -> Value {
    let slash = format!("{base_url}/");
    json!({
        "name": "EntitlementEmulator",
        "portal": slash,
        "resourceManager": slash,
        "microsoftGraphResourceId": slash,
        "graph": slash,
        "authentication": {
            "loginEndpoint": slash,
            "audiences": [slash],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "suffixes": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            base_url: "https://127.0.0.1:5443".into(),
            tenant_segment: "common".into(),
        }
    }

    #[test]
    fn graph_resources_include_the_emulator_itself() {
        let e = endpoint();
        for r in [
            "https://graph.microsoft.com",
            "https://graph.microsoft.com/",
            GRAPH_APP_ID,
            "https://127.0.0.1:5443",
            "https://127.0.0.1",
        ] {
            assert!(is_graph_resource(r, &e), "{r}");
        }
        for r in [
            "https://management.azure.com",
            "https://127.0.0.2",
            "api://x",
        ] {
            assert!(!is_graph_resource(r, &e), "{r}");
        }
    }

    #[test]
    fn error_bodies_have_entras_shape() {
        let body = StsError::missing("client_id").body(Uuid::nil(), "c", "2026-01-01 00:00:00Z");
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(body["error_codes"], json!([900144]));
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS900144: The request body must contain the following parameter: 'client_id'. Trace ID: ")
        );
    }
}
