//! The identity platform the emulator plays
//! (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc): discovery documents,
//! JWKS, every grant of the v2 token endpoint with Entra's AADSTS refusals, the auto-approving
//! authorize endpoint with PKCE, and HTTPS with the built-in test CA.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

const TID: &str = "10000000-0000-4000-8000-000000000000";
const AUTOMATION_APP_ID: &str = "41000000-0000-4000-8000-000000000001";
const AUTOMATION_SECRET: &str = "provisioning-automation-secret";
const PUBLIC_CLIENT: &str = "e0000000-0000-4000-8000-0000000000e1";
const PASSWORD: &str = "Emulator-Password-1";
const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
const CLIENT_KEY: &str = include_str!("clients/certs/provisioning-automation-key.pem");

/// Form fields of a token request.
type Form<'a> = &'a [(&'a str, &'a str)];

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

async fn token_call(t: &TestTenant, tenant: &str, pairs: &[(&str, &str)]) -> Resp {
    t.send(
        Method::POST,
        &format!("/{tenant}/oauth2/v2.0/token"),
        None,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(form(pairs)),
    )
    .await
}

/// The AADSTS number of an Entra error body.
fn aadsts(resp: &Resp) -> u64 {
    resp.body["error_codes"][0].as_u64().unwrap_or(0)
}

fn claims_of(jwt: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode::<Value>(jwt)
        .unwrap()
        .claims
}

async fn catalogs_with(t: &TestTenant, token: &str) -> StatusCode {
    t.json_as(Method::GET, &format!("{EM_V1}/catalogs"), Some(token), None)
        .await
        .status
}

#[tokio::test]
async fn discovery_documents_point_back_at_the_emulator() {
    let t = TestTenant::start().await;
    let base = t.emu.uri();
    for segment in [TID, "contoso.onmicrosoft.com", "common"] {
        let conf = t
            .send(
                Method::GET,
                &format!("/{segment}/v2.0/.well-known/openid-configuration"),
                None,
                &[],
                None,
            )
            .await;
        assert_eq!(conf.status, StatusCode::OK);
        assert_eq!(
            conf.body["token_endpoint"],
            format!("{base}/{segment}/oauth2/v2.0/token")
        );
        assert_eq!(
            conf.body["authorization_endpoint"],
            format!("{base}/{segment}/oauth2/v2.0/authorize")
        );
        assert_eq!(conf.body["issuer"], format!("{base}/{TID}/v2.0"));
        assert_eq!(conf.header("access-control-allow-origin"), Some("*"));
    }
    let unknown = t
        .send(
            Method::GET,
            "/fabrikam.example/v2.0/.well-known/openid-configuration",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(aadsts(&unknown), 90002);

    let discovery = t
        .send(Method::GET, "/common/discovery/instance?api-version=1.1&authorization_endpoint=https://x/contoso.onmicrosoft.com/oauth2/v2.0/authorize", None, &[], None)
        .await;
    assert_eq!(
        discovery.body["tenant_discovery_endpoint"],
        format!("{base}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    );

    let metadata = t
        .send(
            Method::GET,
            "/metadata/endpoints?api-version=2022-09-01",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(
        metadata.body["microsoftGraphResourceId"],
        format!("{base}/")
    );
    assert_eq!(
        metadata.body["authentication"]["loginEndpoint"],
        format!("{base}/")
    );
    assert!(
        metadata.body["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert_eq!(metadata.body["resourceManager"], format!("{base}/"));
    assert_eq!(
        metadata.body["authentication"]["audiences"],
        json!([format!("{base}/")])
    );
}

#[tokio::test]
async fn the_jwks_verifies_the_tokens_it_signs() {
    let t = TestTenant::start().await;
    let keys = t
        .send(
            Method::GET,
            &format!("/{TID}/discovery/v2.0/keys"),
            None,
            &[],
            None,
        )
        .await;
    let key = &keys.body["keys"][0];
    assert_eq!(key["kty"], "RSA");
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let token = t.token_for(ADMIN);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["https://graph.microsoft.com"]);
    validation.set_issuer(&[format!("https://sts.windows.net/{TID}/")]);
    let verified = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
    assert_eq!(verified.claims["upn"], ADMIN);
}

#[tokio::test]
async fn client_credentials_with_a_secret() {
    let t = TestTenant::start().await;
    let ok = token_call(
        &t,
        TID,
        &[
            ("client_id", AUTOMATION_APP_ID),
            ("client_secret", AUTOMATION_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", GRAPH_DEFAULT),
            // MSAL's CAE request; accepted and ignored.
            (
                "claims",
                r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#,
            ),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.header("cache-control"), Some("no-store, no-cache"));
    assert_eq!(ok.body["token_type"], "Bearer");
    assert_eq!(ok.body["expires_in"], 3599);
    let access = ok.body["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["appid"], AUTOMATION_APP_ID);
    assert_eq!(
        claims["roles"],
        json!(["EntitlementManagement.ReadWrite.All"])
    );
    // What Terraform's provider reads from the token it never verifies (a three-part JWT with
    // `oid`: hashicorp/terraform-provider-azuread; docs/CLIENTS.md).
    assert_eq!(access.split('.').count(), 3);
    assert_eq!(claims["oid"], "40000000-0000-4000-8000-000000000001");
    assert_eq!(claims["tid"], TID);
    assert_eq!(catalogs_with(&t, access).await, StatusCode::OK);

    // Terraform asks for `{microsoftGraphResourceId}.default`, i.e. the emulator itself.
    let own_resource = format!("{}/.default", t.emu.uri());
    let terraform = token_call(
        &t,
        TID,
        &[
            ("client_id", AUTOMATION_APP_ID),
            ("client_secret", AUTOMATION_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", &own_resource),
        ],
    )
    .await;
    assert_eq!(terraform.status, StatusCode::OK, "{}", terraform.text);
    let terraform_token = terraform.body["access_token"].as_str().unwrap();
    assert_eq!(catalogs_with(&t, terraform_token).await, StatusCode::OK);

    // client_secret_basic, and the tenant named by its domain.
    let basic = t
        .send(
            Method::POST,
            "/contoso.onmicrosoft.com/oauth2/v2.0/token",
            None,
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                (
                    "Authorization",
                    "Basic NDEwMDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAxOnByb3Zpc2lvbmluZy1hdXRvbWF0aW9uLXNlY3JldA==",
                ),
            ],
            Some(form(&[("grant_type", "client_credentials"), ("scope", GRAPH_DEFAULT)])),
        )
        .await;
    assert_eq!(basic.status, StatusCode::OK, "{}", basic.text);

    let refusals: [(Form, u16, &str, u64); 6] = [
        (
            &[
                ("client_id", AUTOMATION_APP_ID),
                ("client_secret", "wrong"),
                ("grant_type", "client_credentials"),
                ("scope", GRAPH_DEFAULT),
            ],
            401,
            "invalid_client",
            7000215,
        ),
        (
            &[
                ("client_id", "41000000-0000-4000-8000-0000000000ff"),
                ("client_secret", "x"),
                ("grant_type", "client_credentials"),
                ("scope", GRAPH_DEFAULT),
            ],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            &[
                ("client_id", AUTOMATION_APP_ID),
                ("grant_type", "client_credentials"),
                ("scope", GRAPH_DEFAULT),
            ],
            401,
            "invalid_client",
            7000218,
        ),
        (
            &[
                ("client_id", AUTOMATION_APP_ID),
                ("client_secret", AUTOMATION_SECRET),
                ("grant_type", "client_credentials"),
            ],
            400,
            "invalid_request",
            900144,
        ),
        (
            &[
                ("client_id", AUTOMATION_APP_ID),
                ("client_secret", AUTOMATION_SECRET),
                ("grant_type", "client_credentials"),
                ("scope", "https://graph.microsoft.com/User.Read"),
            ],
            400,
            "invalid_scope",
            1002012,
        ),
        (
            &[
                ("client_id", AUTOMATION_APP_ID),
                ("client_secret", AUTOMATION_SECRET),
                ("grant_type", "client_credentials"),
                ("scope", "https://management.azure.com/.default"),
            ],
            400,
            "invalid_resource",
            500011,
        ),
    ];
    for (pairs, status, error, code) in refusals {
        let resp = token_call(&t, TID, pairs).await;
        assert_eq!(
            (
                resp.status.as_u16(),
                resp.body["error"].as_str(),
                aadsts(&resp)
            ),
            (status, Some(error), code),
            "{pairs:?}: {}",
            resp.text
        );
        let description = resp.body["error_description"].as_str().unwrap();
        assert!(
            description.starts_with(&format!("AADSTS{code}: ")),
            "{description}"
        );
        assert!(description.contains(" Trace ID: "), "{description}");
    }
    let unsupported = token_call(
        &t,
        TID,
        &[("grant_type", "urn:ietf:params:oauth:grant-type:device_code")],
    )
    .await;
    assert_eq!(
        (unsupported.body["error"].as_str(), aadsts(&unsupported)),
        (Some("unsupported_grant_type"), 70003)
    );
    let unknown_tenant = token_call(
        &t,
        "99999999-0000-4000-8000-000000000000",
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(aadsts(&unknown_tenant), 90002);
}

fn assertion(key_pem: &str, iss: &str, aud: &str, exp_in: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"aud": aud, "iss": iss, "sub": iss, "jti": "1", "nbf": now - 5, "exp": now + exp_in});
    jsonwebtoken::encode(
        &Header::new(Algorithm::PS256),
        &claims,
        &EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn client_credentials_with_a_certificate_assertion() {
    let t = TestTenant::start().await;
    let aud = format!("{}/{TID}/oauth2/v2.0/token", t.emu.uri());
    let call = |assertion: String| {
        let t = &t;
        async move {
            token_call(
                t,
                TID,
                &[
                    ("client_id", AUTOMATION_APP_ID),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                    ("grant_type", "client_credentials"),
                    ("scope", GRAPH_DEFAULT),
                ],
            )
            .await
        }
    };
    let ok = call(assertion(CLIENT_KEY, AUTOMATION_APP_ID, &aud, 600)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(
        claims_of(ok.body["access_token"].as_str().unwrap())["appid"],
        AUTOMATION_APP_ID
    );

    let builtin_key = include_str!("../src/auth/test-signing-key.pem");
    for (assertion, code) in [
        (assertion(builtin_key, AUTOMATION_APP_ID, &aud, 600), 700027),
        (assertion(CLIENT_KEY, PUBLIC_CLIENT, &aud, 600), 700021),
        (assertion(CLIENT_KEY, AUTOMATION_APP_ID, &aud, -600), 700024),
        (
            assertion(
                CLIENT_KEY,
                AUTOMATION_APP_ID,
                "https://elsewhere/token",
                600,
            ),
            700016,
        ),
        ("not-a-jwt".to_string(), 50027),
    ] {
        let resp = call(assertion).await;
        assert_eq!(
            (resp.status, aadsts(&resp)),
            (StatusCode::UNAUTHORIZED, code),
            "{}",
            resp.text
        );
    }
}

async fn password_grant(
    t: &TestTenant,
    user: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> Resp {
    let mut pairs = vec![
        ("grant_type", "password"),
        ("username", user),
        ("password", password),
        (
            "scope",
            "https://graph.microsoft.com/.default offline_access openid profile",
        ),
        ("client_info", "1"),
    ];
    pairs.extend_from_slice(extra);
    if !pairs.iter().any(|(k, _)| *k == "client_id") {
        pairs.push(("client_id", PUBLIC_CLIENT));
    }
    token_call(t, "organizations", &pairs).await
}

#[tokio::test]
async fn password_sign_in_and_refresh() {
    let t = TestTenant::start().await;
    let ok = password_grant(&t, ADMIN, PASSWORD, &[]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let access = ok.body["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(
        (claims["idtyp"].as_str(), claims["upn"].as_str()),
        (Some("user"), Some(ADMIN))
    );
    assert_eq!(claims["appid"], PUBLIC_CLIENT);
    assert_eq!(claims["appidacr"], "0");
    assert_eq!(
        claims["scp"],
        "EntitlementManagement.ReadWrite.All EntitlementMgmt-SubjectAccess.ReadWrite openid profile"
    );
    assert_eq!(
        ok.body["scope"],
        "https://graph.microsoft.com/EntitlementManagement.ReadWrite.All https://graph.microsoft.com/EntitlementMgmt-SubjectAccess.ReadWrite offline_access openid profile"
    );
    assert_eq!(catalogs_with(&t, access).await, StatusCode::OK);
    let id_token = claims_of(ok.body["id_token"].as_str().unwrap());
    assert_eq!(id_token["aud"], PUBLIC_CLIENT);
    assert_eq!(id_token["preferred_username"], ADMIN);
    assert_eq!(id_token["iss"], format!("{}/{TID}/v2.0", t.emu.uri()));
    let info: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE,
            ok.body["client_info"].as_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        info,
        json!({"uid": "20000000-0000-4000-8000-000000000001", "utid": TID})
    );

    // The refresh token is not an access token for Graph.
    let refresh_token = ok.body["refresh_token"].as_str().unwrap();
    let misuse = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(refresh_token),
            None,
        )
        .await;
    assert_eq!(
        misuse.message(),
        "Access token validation failure. Invalid audience."
    );
    let refreshed = token_call(
        &t,
        TID,
        &[
            ("client_id", PUBLIC_CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert_eq!(
        claims_of(refreshed.body["access_token"].as_str().unwrap())["upn"],
        ADMIN
    );
    let narrowed = token_call(
        &t,
        TID,
        &[
            ("client_id", PUBLIC_CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            (
                "scope",
                "https://graph.microsoft.com/EntitlementManagement.Read.All",
            ),
        ],
    )
    .await;
    assert_eq!(
        claims_of(narrowed.body["access_token"].as_str().unwrap())["scp"],
        "EntitlementManagement.Read.All"
    );
    for (pairs, code) in [
        (
            vec![
                ("client_id", PUBLIC_CLIENT),
                ("grant_type", "refresh_token"),
                ("refresh_token", "garbage"),
            ],
            9002313,
        ),
        (
            vec![
                ("client_id", AUTOMATION_APP_ID),
                ("client_secret", AUTOMATION_SECRET),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
            70000,
        ),
    ] {
        let resp = token_call(&t, TID, &pairs).await;
        assert_eq!(
            (resp.body["error"].as_str(), aadsts(&resp)),
            (Some("invalid_grant"), code),
            "{}",
            resp.text
        );
    }

    for (user, password, extra, status, code) in [
        (ADMIN, "wrong", vec![], 400, 50126),
        (
            "nobody@contoso.onmicrosoft.com",
            PASSWORD,
            vec![],
            400,
            50034,
        ),
        // A confidential client must prove itself; a public one must not try.
        (
            ADMIN,
            PASSWORD,
            vec![("client_id", AUTOMATION_APP_ID)],
            401,
            7000218,
        ),
        (ADMIN, PASSWORD, vec![("client_secret", "x")], 401, 700025),
    ] {
        let resp = password_grant(&t, user, password, &extra).await;
        assert_eq!(
            (resp.status.as_u16(), aadsts(&resp)),
            (status, code),
            "{}",
            resp.text
        );
    }
    // The confidential client with its secret gets a user token that names it.
    let confidential = password_grant(
        &t,
        READER,
        PASSWORD,
        &[
            ("client_id", AUTOMATION_APP_ID),
            ("client_secret", AUTOMATION_SECRET),
        ],
    )
    .await;
    let claims = claims_of(confidential.body["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["appid"].as_str(), claims["appidacr"].as_str()),
        (Some(AUTOMATION_APP_ID), Some("1"))
    );
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn authorization_code_with_pkce() {
    let t = TestTenant::start().await;
    let client = no_redirects();
    let verifier = "a-verifier-of-enough-length-for-pkce-0123456789abcdef";
    let challenge = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        sha2::Sha256::digest(verifier.as_bytes()),
    );
    let redirect = "http://localhost:8400";
    let authorize = |hint: &str, redirect: &str| {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", PUBLIC_CLIENT),
                ("response_type", "code"),
                ("redirect_uri", redirect),
                ("scope", "https://graph.microsoft.com/EntitlementManagement.Read.All openid offline_access"),
                ("state", "s-1"),
                ("nonce", "n-1"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("login_hint", hint),
            ])
            .finish();
        client
            .get(format!(
                "{}/{TID}/oauth2/v2.0/authorize?{query}",
                t.emu.uri()
            ))
            .send()
    };
    let resp = authorize(REQUESTOR1, redirect).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("http://localhost:8400?code="),
        "{location}"
    );
    let params = query_of(&location);
    assert_eq!(params["state"], "s-1");
    let code = params["code"].clone();

    let exchange = |code: String, verifier: &'static str| {
        let t = &t;
        async move {
            token_call(
                t,
                TID,
                &[
                    ("client_id", PUBLIC_CLIENT),
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let wrong = exchange(code.clone(), "not-the-verifier").await;
    assert_eq!(aadsts(&wrong), 501481, "{}", wrong.text);
    let ok = exchange(code.clone(), verifier).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let claims = claims_of(ok.body["access_token"].as_str().unwrap());
    assert_eq!(claims["upn"], REQUESTOR1);
    assert_eq!(claims["scp"], "EntitlementManagement.Read.All openid");
    assert_eq!(
        claims_of(ok.body["id_token"].as_str().unwrap())["nonce"],
        "n-1"
    );
    assert!(ok.body["refresh_token"].is_string());
    let again = exchange(code, verifier).await;
    assert_eq!(aadsts(&again), 54005, "a code is redeemed once");

    // Refusals the browser sees on Entra's page, and ones sent back to the client.
    let mismatch = authorize(REQUESTOR1, "https://evil.example/callback")
        .await
        .unwrap();
    assert_eq!(mismatch.status(), StatusCode::BAD_REQUEST);
    let body: Value = mismatch.json().await.unwrap();
    assert_eq!(body["error_codes"], json!([50011]));
    let no_hint = authorize("", redirect).await.unwrap();
    let params = query_of(no_hint.headers()["location"].to_str().unwrap());
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "s-1");
    let unknown = authorize("ghost@contoso.onmicrosoft.com", redirect)
        .await
        .unwrap();
    let params = query_of(unknown.headers()["location"].to_str().unwrap());
    assert!(
        params["error_description"].starts_with("AADSTS50034:"),
        "{params:?}"
    );
}

/// One HTTP/1.1 request over TLS, trusting only `ca_pem`.
async fn https_request(addr: std::net::SocketAddr, ca_pem: &str, request: String) -> (u16, String) {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    // `Connection: close` makes the server end the stream after the response.
    let _ = tls.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn https_serves_graph_and_sign_in_with_the_test_ca() {
    let t = TestTenant::with(builder().https("127.0.0.1:0".parse().unwrap())).await;
    let https = t.emu.https_uri().unwrap();
    let addr: std::net::SocketAddr = https.trim_start_matches("https://").parse().unwrap();
    let ca = t.emu.tls_trust_pem().unwrap().to_string();
    let body = String::from_utf8(form(&[
        ("client_id", AUTOMATION_APP_ID),
        ("client_secret", AUTOMATION_SECRET),
        ("grant_type", "client_credentials"),
        ("scope", GRAPH_DEFAULT),
    ]))
    .unwrap();
    let (status, text) = https_request(
        addr,
        &ca,
        format!(
            "POST /{TID}/oauth2/v2.0/token HTTP/1.1\r\nHost: localhost:{}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            addr.port(),
            body.len()
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let token: Value = serde_json::from_str(&text).unwrap();
    let token = token["access_token"].as_str().unwrap();
    let (status, text) = https_request(
        addr,
        &ca,
        format!(
            "GET {EM_V1}/accessPackages?$top=1 HTTP/1.1\r\nHost: localhost:{}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
            addr.port()
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let page: Value = serde_json::from_str(&text).unwrap();
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("https://localhost:{}/v1.0/", addr.port())),
        "links keep the https scheme: {next}"
    );
    let (status, text) = https_request(
        addr,
        &ca,
        format!(
            "GET /{TID}/v2.0/.well-known/openid-configuration HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
            addr.port()
        ),
    )
    .await;
    assert_eq!(status, 200);
    let conf: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        conf["token_endpoint"],
        format!("https://localhost:{}/{TID}/oauth2/v2.0/token", addr.port())
    );
    // Plain HTTP keeps working beside it.
    assert_eq!(
        t.get(&format!("{EM_V1}/catalogs")).await.status,
        StatusCode::OK
    );
}
