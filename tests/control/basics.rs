//! Health, tokens, reset, the state export, switching the API off, versions, CORS, the admin token, the API's own description and page.

use super::*;

#[tokio::test]
async fn health_reports_ready_and_the_tenant() {
    let t = TestTenant::start().await;
    let resp = t
        .send(Method::GET, "/_emulator/health", None, &[], None)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let mut body = resp.body.clone();
    body["version"] = json!("[version]");
    insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"), prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("control_health", body);
    });
}

#[tokio::test]
async fn minted_tokens_work_against_graph_routes() {
    let t = TestTenant::start().await;
    let minted = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": "Provisioning Automation"})),
        )
        .await;
    assert_eq!(minted.status, StatusCode::OK);
    assert_eq!(
        minted.body["claims"]["roles"],
        json!(["EntitlementManagement.ReadWrite.All"])
    );
    assert_eq!(minted.body["claims"]["idtyp"], "app");
    let token = minted.body["access_token"].as_str().unwrap();
    let resp = t
        .json_as(Method::GET, &format!("{EM_V1}/catalogs"), Some(token), None)
        .await;
    assert_eq!(resp.status, StatusCode::OK);

    let user = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": REQUESTOR1, "scopes": "EntitlementMgmt-SubjectAccess.ReadWrite"})),
        )
        .await;
    assert_eq!(
        user.body["claims"]["scp"],
        "EntitlementMgmt-SubjectAccess.ReadWrite"
    );
    assert_eq!(user.body["claims"]["upn"], REQUESTOR1);
    assert!(user.body["claims"].get("wids").is_none());
    let admin = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": ADMIN})),
        )
        .await;
    assert_eq!(
        admin.body["claims"]["wids"],
        json!(["62e90394-69f5-4237-9190-012177145e10"])
    );

    let unknown = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": "nobody@contoso.onmicrosoft.com"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let wrong_kind = t
        .json_as(
            Method::POST,
            "/_emulator/tokens",
            None,
            Some(json!({"as": ADMIN, "roles": ["x"]})),
        )
        .await;
    assert_eq!(wrong_kind.status, StatusCode::BAD_REQUEST);
    let garbage = t
        .send(
            Method::POST,
            "/_emulator/tokens",
            None,
            &[],
            Some(b"{".to_vec()),
        )
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn reset_returns_to_the_fixtures() {
    let t = TestTenant::start().await;
    let initial = t.state().await;
    assert_eq!(
        t.post(&format!("{EM_V1}/catalogs"), json!({"displayName": "temp"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        t.delete(&format!("{EM_V1}/accessPackages/{CAMPAIGN_PACKAGE}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_ne!(t.state().await, initial);
    let reset = t
        .send(Method::POST, "/_emulator/reset", None, &[], None)
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    assert_eq!(t.state().await, initial);
}

#[tokio::test]
async fn state_export_is_canonical() {
    let t = TestTenant::start().await;
    let text = t.state().await;
    let value: Value = serde_json::from_str(&text).unwrap();
    fn keys_sorted(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                let keys: Vec<&String> = m.keys().collect();
                keys.windows(2).all(|w| w[0] <= w[1]) && m.values().all(keys_sorted)
            }
            Value::Array(a) => a.iter().all(keys_sorted),
            _ => true,
        }
    }
    assert!(keys_sorted(&value));
    let ids: Vec<&str> = value["catalogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [GENERAL, MARKETING]);
    assert_eq!(text, t.state().await, "byte-stable");
}

#[tokio::test]
async fn the_control_api_can_be_switched_off() {
    let t = TestTenant::with(builder().control_api(entitlement_emulator::ControlApi::Off)).await;
    let resp = t
        .send(Method::POST, "/_emulator/reset", None, &[], None)
        .await;
    assert_eq!(
        resp.status,
        StatusCode::BAD_REQUEST,
        "just an unknown Graph path now"
    );
    assert_eq!(resp.message(), "Invalid version: _emulator");
}

#[tokio::test]
async fn every_response_names_the_emulator_version() {
    let t = TestTenant::start().await;
    let version = env!("CARGO_PKG_VERSION");
    for (path, token) in [
        (format!("{EM_V1}/catalogs"), t.token.clone()),
        (format!("{EM_V1}/nothingHere"), None),
        ("/_emulator/health".to_string(), None),
        ("/common/discovery/instance".to_string(), None),
    ] {
        let resp = t.json_as(Method::GET, &path, token.as_deref(), None).await;
        assert_eq!(resp.header("x-emulator-version"), Some(version), "{path}");
    }
}

#[tokio::test]
async fn browsers_may_call_graph_but_not_the_control_api() {
    let t = TestTenant::start().await;
    let app = "http://localhost:3000";
    let preflight = t
        .send(
            Method::OPTIONS,
            &format!("{EM_V1}/accessPackages"),
            None,
            &[
                ("Origin", app),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization,content-type",
                ),
            ],
            None,
        )
        .await;
    assert!(preflight.status.is_success(), "{}", preflight.status);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(
        preflight
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("authorization"))
    );
    let token = t.token.clone().unwrap();
    let get = t
        .send(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(&token),
            &[("Origin", app)],
            None,
        )
        .await;
    assert_eq!(get.status, StatusCode::OK);
    assert!(
        get.header("access-control-expose-headers")
            .is_some_and(|h| h.contains("request-id"))
    );
    // Without `Origin` it is not a CORS request (an SDK, curl): no CORS headers are built.
    let sdk = t
        .send(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(sdk.status, StatusCode::OK);
    assert_eq!(sdk.header("access-control-allow-origin"), None);
    assert_eq!(sdk.header("vary"), None);

    // The control API answers no preflight and refuses cross-site calls outright, since a
    // form-encoded POST needs no preflight.
    let control_preflight = t
        .send(
            Method::OPTIONS,
            "/_emulator/reset",
            None,
            &[("Origin", app), ("Access-Control-Request-Method", "POST")],
            None,
        )
        .await;
    assert_eq!(
        control_preflight.header("access-control-allow-origin"),
        None
    );
    let before = t.state().await;
    let csrf = t
        .send(
            Method::POST,
            "/_emulator/clock",
            None,
            &[
                ("Origin", "http://evil.example"),
                ("Content-Type", "text/plain"),
            ],
            Some(br#"{"advance":"P30D"}"#.to_vec()),
        )
        .await;
    assert_eq!(csrf.status, StatusCode::FORBIDDEN, "{}", csrf.text);
    assert_eq!(t.state().await, before);
    let host = t.emu.uri();
    let same_origin = t
        .send(
            Method::GET,
            "/_emulator/health",
            None,
            &[("Origin", &host)],
            None,
        )
        .await;
    assert_eq!(same_origin.status, StatusCode::OK);

    // Origins can be narrowed (or CORS switched off).
    let narrow = TestTenant::with(
        builder()
            .cors(entitlement_emulator::http::CorsPolicy::parse("https://app.example").unwrap()),
    )
    .await;
    let other = narrow
        .send(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            narrow.token.as_deref(),
            &[("Origin", app)],
            None,
        )
        .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    let allowed = narrow
        .send(
            Method::GET,
            &format!("{EM_V1}/catalogs"),
            narrow.token.as_deref(),
            &[("Origin", "https://app.example")],
            None,
        )
        .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(entitlement_emulator::http::CorsPolicy::parse("not an origin").is_err());
}

#[tokio::test]
async fn an_admin_token_guards_the_control_api_and_allows_it_off_loopback() {
    let t = TestTenant::with(builder().admin_token("s3cret-admin")).await;
    let without = t
        .send(Method::GET, "/_emulator/health", None, &[], None)
        .await;
    assert_eq!(without.status, StatusCode::UNAUTHORIZED);
    assert!(
        without.message().contains("admin token"),
        "{}",
        without.text
    );
    let wrong = t
        .send(
            Method::GET,
            "/_emulator/health",
            None,
            &[("x-emulator-admin-token", "guess")],
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    for header in [
        ("x-emulator-admin-token", "s3cret-admin"),
        ("Authorization", "Bearer s3cret-admin"),
    ] {
        let ok = t
            .send(Method::GET, "/_emulator/health", None, &[header], None)
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{header:?}");
    }
    // Graph routes do not take the admin token; they keep Graph's own auth.
    let graph = t.get(&format!("{EM_V1}/catalogs")).await;
    assert_eq!(graph.status, StatusCode::OK);

    let exposed = entitlement_emulator::Emulator::builder()
        .bind("0.0.0.0:0".parse().unwrap())
        .control_api(entitlement_emulator::ControlApi::On)
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        exposed.contains("not a loopback address") && exposed.contains("--admin-token"),
        "{exposed}"
    );
    let guarded = entitlement_emulator::Emulator::builder()
        .bind("0.0.0.0:0".parse().unwrap())
        .control_api(entitlement_emulator::ControlApi::On)
        .admin_token("s3cret-admin")
        .start()
        .await;
    assert!(guarded.is_ok());
}

#[tokio::test]
async fn the_control_api_describes_itself_and_serves_its_page() {
    let t = TestTenant::with(builder().admin_token("s3cret-admin")).await;
    let doc = t
        .send(Method::GET, "/_emulator/openapi.json", None, &[], None)
        .await;
    assert_eq!(
        doc.status,
        StatusCode::OK,
        "no token needed for the description"
    );
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    // Every control route the router registers is described, and nothing else.
    let router_source = include_str!("../../src/http/mod.rs");
    let mut registered: Vec<String> = router_source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .filter_map(|rest| rest.split('"').next())
        .filter(|path| path.starts_with("/_emulator"))
        .map(str::to_string)
        .collect();
    registered.sort();
    registered.dedup();
    let mut described: Vec<String> = doc.body["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    described.sort();
    assert_eq!(described, registered);

    let page = t.send(Method::GET, "/_emulator/", None, &[], None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text.contains("<title>entitlement-emulator</title>"));
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("connect-src 'self'"))
    );
    // The data behind the page still needs the token.
    let health = t
        .send(Method::GET, "/_emulator/health", None, &[], None)
        .await;
    assert_eq!(health.status, StatusCode::UNAUTHORIZED);
}
