//! Issue 19 (items 2, 7 and part of 8): the control plane against DNS rebinding (`Host`
//! allow-list), `Host` echoes, secret-file modes, the fixture-path probe, and control-plane
//! limits. Requests whose `Host` matters are written by hand over TCP, as a browser sends them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

const TID: &str = "10000000-0000-4000-8000-000000000000";
const PUBLIC_CLIENT: &str = "e0000000-0000-4000-8000-0000000000e1";

/// A response read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn message(&self) -> String {
        let body = self.json();
        body["error"]["message"]
            .as_str()
            .or(body["error_description"].as_str())
            .unwrap_or("")
            .to_string()
    }
}

/// One HTTP/1.1 request with exactly the `Host` (and other headers) given.
async fn raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    let framed = headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("transfer-encoding") || k.eq_ignore_ascii_case("content-length")
    });
    if framed {
        request.push_str(&format!("\r\n{body}"));
    } else {
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    }
    // A refusal may come before the whole body is read, and the connection close after it:
    // what was answered is read either way.
    // A server still waiting for a body never sent answers nothing: that is a failure here,
    // not a hang (the bound is generous, not a timing assertion).
    let exchange = async {
        let _ = stream.write_all(request.as_bytes()).await;
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes).await;
        bytes
    };
    let bytes = tokio::time::timeout(std::time::Duration::from_secs(20), exchange)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut raw = Raw {
        status,
        head: head.to_string(),
        body: body.to_string(),
    };
    if raw
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        raw.body = dechunk(&raw.body);
    }
    raw
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        text = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Every control route family, as (method, path, body).
fn control_calls() -> Vec<(&'static str, String, String)> {
    let tokens = json!({"as": ADMIN}).to_string();
    vec![
        ("POST", "/_emulator/tokens".into(), tokens),
        ("GET", "/_emulator/state".into(), String::new()),
        ("POST", "/_emulator/reset".into(), String::new()),
        ("GET", "/_emulator/health".into(), String::new()),
        ("GET", "/_emulator/snapshot".into(), String::new()),
        ("PUT", "/_emulator/snapshot".into(), "{}".into()),
        ("GET", "/_emulator/tenants".into(), String::new()),
        ("POST", "/_emulator/tenants".into(), String::new()),
        (
            "DELETE",
            "/_emulator/tenants/00000000-0000-4000-8000-000000000009".into(),
            String::new(),
        ),
        ("GET", "/_emulator/faults".into(), String::new()),
        (
            "POST",
            "/_emulator/faults".into(),
            json!({"schedule": {"next": 1}}).to_string(),
        ),
        ("DELETE", "/_emulator/faults".into(), String::new()),
        ("GET", "/_emulator/journal".into(), String::new()),
        ("DELETE", "/_emulator/journal".into(), String::new()),
        ("GET", "/_emulator/outbox".into(), String::new()),
        ("GET", "/_emulator/access".into(), String::new()),
        ("GET", "/_emulator/least-privilege".into(), String::new()),
        (
            "POST",
            "/_emulator/clock".into(),
            json!({"advance": "P30D"}).to_string(),
        ),
        ("GET", "/_emulator/settings".into(), String::new()),
        (
            "POST",
            "/_emulator/approvals/00000000-0000-4000-8000-000000000009".into(),
            "{}".into(),
        ),
    ]
}

const CONSOLE: [&str; 3] = ["/_emulator", "/_emulator/", "/_emulator/openapi.json"];

#[tokio::test]
async fn a_rebinding_host_is_refused_by_every_control_route_and_the_console() {
    let t = TestTenant::start().await;
    let addr = t.emu.address();
    let made = t
        .post(
            &format!("{EM_V1}/catalogs"),
            json!({"displayName": "Kept", "description": "survives a rebinding reset"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let before = t.state().await;
    let journal_before = t
        .send(Method::GET, "/_emulator/journal", None, &[], None)
        .await
        .body["count"]
        .clone();
    let evil = format!("evil.example:{}", addr.port());
    let origin = format!("http://{evil}");
    for (method, path, body) in control_calls() {
        // What a rebinding page sends: its own name as Host, with a matching Origin on a
        // POST, and no Origin at all on a same-origin GET.
        for headers in [
            vec![
                ("Origin", origin.as_str()),
                ("Content-Type", "application/json"),
            ],
            vec![("Content-Type", "application/json")],
        ] {
            let resp = raw(addr, method, &path, &evil, &headers, &body).await;
            assert_eq!(resp.status, 403, "{method} {path}: {}", resp.body);
            let message = resp.message();
            assert!(
                message.contains("--allowed-host evil.example") && message.contains("Host"),
                "{method} {path}: {message}"
            );
            assert_eq!(resp.json()["error"]["code"], "Forbidden");
        }
    }
    for path in CONSOLE {
        let resp = raw(addr, "GET", path, &evil, &[], "").await;
        assert_eq!(resp.status, 403, "{path}: {}", resp.body);
        assert!(resp.message().contains("--allowed-host evil.example"));
    }
    // A Host that is no name at all is refused too, as is a missing one.
    for host in ["", "evil.example:80:1", "127.0.0.1@evil.example"] {
        let resp = raw(addr, "GET", "/_emulator/state", host, &[], "").await;
        assert!(
            resp.status == 403 || resp.status == 400,
            "{host:?}: {} {}",
            resp.status,
            resp.body
        );
    }
    // Nothing changed: no reset, no clock move, no new tenant or fault rule, no journal wipe.
    assert_eq!(t.state().await, before);
    let tenants = t
        .send(Method::GET, "/_emulator/tenants", None, &[], None)
        .await;
    assert_eq!(tenants.body["value"].as_array().unwrap().len(), 1);
    let faults = t
        .send(Method::GET, "/_emulator/faults", None, &[], None)
        .await;
    assert_eq!(faults.body["value"], json!([]));
    let clock = t
        .send(Method::GET, "/_emulator/clock", None, &[], None)
        .await;
    assert!(
        clock.body["now"]
            .as_str()
            .unwrap()
            .starts_with("2026-03-01")
    );
    let journal = t
        .send(Method::GET, "/_emulator/journal", None, &[], None)
        .await;
    assert_eq!(journal.body["count"], journal_before);
    // Graph itself answers any host, as Graph does.
    let token = t.token.clone().unwrap();
    let auth = format!("Bearer {token}");
    let graph = raw(
        addr,
        "GET",
        &format!("{EM_V1}/catalogs"),
        &evil,
        &[("Authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(graph.status, 200, "{}", graph.body);
}

#[tokio::test]
async fn loopback_spellings_and_allowed_hosts_are_admitted() {
    let t = TestTenant::with(builder().allowed_host("emulator.test")).await;
    let addr = t.emu.address();
    let port = addr.port();
    for host in [
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_string(),
        format!("emulator.test:{port}"),
        "EMULATOR.test".to_string(),
    ] {
        let origin = format!("http://{host}");
        let health = raw(
            addr,
            "GET",
            "/_emulator/health",
            &host,
            &[("Origin", &origin)],
            "",
        )
        .await;
        assert_eq!(health.status, 200, "{host}: {}", health.body);
        let minted = raw(
            addr,
            "POST",
            "/_emulator/tokens",
            &host,
            &[("Content-Type", "application/json")],
            &json!({"as": ADMIN}).to_string(),
        )
        .await;
        assert_eq!(minted.status, 200, "{host}: {}", minted.body);
        assert!(minted.json()["access_token"].is_string());
        for path in CONSOLE {
            let page = raw(addr, "GET", path, &host, &[], "").await;
            assert_eq!(page.status, 200, "{host} {path}");
        }
    }
    // A name merely containing an admitted one is not it.
    for host in [
        format!("emulator.test.evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
    ] {
        let resp = raw(addr, "GET", "/_emulator/health", &host, &[], "").await;
        assert_eq!(resp.status, 403, "{host}");
    }
    // An address the emulator is bound to is its own name too.
    let bound = TestTenant::with(builder().bind("127.0.0.2:0".parse().unwrap())).await;
    let addr = bound.emu.address();
    let resp = raw(addr, "GET", "/_emulator/health", &addr.to_string(), &[], "").await;
    assert_eq!(resp.status, 200, "{}", resp.body);
}

#[tokio::test]
async fn the_admin_token_admits_any_host_and_nothing_else_does() {
    let t = TestTenant::with(builder().admin_token("s3cret-admin")).await;
    let addr = t.emu.address();
    let evil = format!("evil.example:{}", addr.port());
    let with_token = raw(
        addr,
        "GET",
        "/_emulator/state",
        &evil,
        &[("x-emulator-admin-token", "s3cret-admin")],
        "",
    )
    .await;
    assert_eq!(with_token.status, 200, "{}", with_token.body);
    let bearer = raw(
        addr,
        "POST",
        "/_emulator/tokens",
        &evil,
        &[
            ("Authorization", "Bearer s3cret-admin"),
            ("Content-Type", "application/json"),
        ],
        &json!({"as": ADMIN}).to_string(),
    )
    .await;
    assert_eq!(bearer.status, 200, "{}", bearer.body);
    let without = raw(addr, "POST", "/_emulator/reset", &evil, &[], "").await;
    assert_eq!(without.status, 401, "{}", without.body);
    // The console holds no data; with an admin token it is what asks for it.
    let page = raw(addr, "GET", "/_emulator/", &evil, &[], "").await;
    assert_eq!(page.status, 200);
}

fn authorize_query(hint: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", PUBLIC_CLIENT),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:8400"),
            (
                "scope",
                "https://graph.microsoft.com/EntitlementManagement.Read.All openid",
            ),
            ("login_hint", hint),
        ])
        .finish()
}

#[tokio::test]
async fn authorize_with_login_hint_refuses_a_rebinding_host() {
    for admin in [None, Some("s3cret-admin")] {
        let mut b = builder().allowed_host("emulator.test");
        if let Some(token) = admin {
            b = b.admin_token(token);
        }
        let t = TestTenant::with(b).await;
        let addr = t.emu.address();
        let port = addr.port();
        let target = format!("/{TID}/oauth2/v2.0/authorize?{}", authorize_query(ADMIN));
        let evil = raw(
            addr,
            "GET",
            &target,
            &format!("evil.example:{port}"),
            &[],
            "",
        )
        .await;
        assert_eq!(evil.status, 403, "{}", evil.body);
        assert_eq!(evil.header("location"), None, "no code is handed out");
        assert!(
            evil.message().contains("--allowed-host evil.example"),
            "{}",
            evil.body
        );
        for host in [format!("127.0.0.1:{port}"), format!("emulator.test:{port}")] {
            let ok = raw(addr, "GET", &target, &host, &[], "").await;
            assert_eq!(ok.status, 302, "{host}: {}", ok.body);
            let location = ok.header("location").unwrap_or("");
            assert!(
                location.starts_with("http://localhost:8400?code="),
                "{location}"
            );
        }
    }
}

#[tokio::test]
async fn a_foreign_host_is_not_echoed_as_the_emulators_address() {
    let t = TestTenant::start().await;
    let addr = t.emu.address();
    let own = format!("http://{addr}");
    let evil = format!("evil.example:{}", addr.port());
    let auth = format!("Bearer {}", t.token.clone().unwrap());
    let list = raw(
        addr,
        "GET",
        &format!("{EM_V1}/catalogs?$top=1"),
        &evil,
        &[("Authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let body = list.json();
    let context = body["@odata.context"].as_str().unwrap();
    assert!(
        context.starts_with(&format!("{own}/v1.0/$metadata#")),
        "{context}"
    );
    // The link the client follows keeps the host it called.
    let next = body["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(&format!("http://{evil}/v1.0/")), "{next}");

    let created = raw(
        addr,
        "POST",
        &format!("{EM_V1}/catalogs"),
        &evil,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &json!({"displayName": "Echo", "description": "d"}).to_string(),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let location = created.header("location").unwrap();
    assert!(location.starts_with(&format!("{own}/v1.0/")), "{location}");
    assert!(!created.body.contains("evil.example"), "{}", created.body);

    for path in [
        format!("/{TID}/v2.0/.well-known/openid-configuration"),
        "/common/discovery/instance".to_string(),
        "/metadata/endpoints".to_string(),
        format!("/{TID}/discovery/v2.0/keys"),
    ] {
        let doc = raw(addr, "GET", &path, &evil, &[], "").await;
        assert_eq!(doc.status, 200, "{path}: {}", doc.body);
        assert!(!doc.body.contains("evil.example"), "{path}: {}", doc.body);
        assert!(doc.body.contains(&addr.to_string()), "{path}: {}", doc.body);
    }
    let config = raw(
        addr,
        "GET",
        &format!("/{TID}/v2.0/.well-known/openid-configuration"),
        &evil,
        &[],
        "",
    )
    .await
    .json();
    assert_eq!(config["issuer"], format!("{own}/{TID}/v2.0"));
    assert_eq!(
        config["token_endpoint"],
        format!("{own}/{TID}/oauth2/v2.0/token")
    );

    // An admitted name is echoed, as the client called it.
    let named = TestTenant::with(builder().allowed_host("emulator.test")).await;
    let addr = named.emu.address();
    let host = format!("emulator.test:{}", addr.port());
    let config = raw(
        addr,
        "GET",
        &format!("/{TID}/v2.0/.well-known/openid-configuration"),
        &host,
        &[],
        "",
    )
    .await
    .json();
    assert_eq!(config["issuer"], format!("http://{host}/{TID}/v2.0"));
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ee-hardening-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(unix)]
#[tokio::test]
async fn key_files_the_emulator_writes_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("keys");
    let signing = dir.join("signing/key.pem");
    let (cert, key) = (dir.join("tls/cert.pem"), dir.join("tls/key.pem"));
    let emu = builder()
        .key_file(&signing)
        .https("127.0.0.1:0".parse().unwrap())
        .tls(entitlement_emulator::tls::TlsOptions {
            cert: Some(cert.clone()),
            key: Some(key.clone()),
            extra_names: vec!["emulator.test".into()],
        })
        .start()
        .await
        .unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&signing), 0o600, "the signing key");
    assert_eq!(mode(&key), 0o600, "the TLS key");
    assert!(
        std::fs::read_to_string(&cert)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_fixtures_path_answers_one_message_whatever_it_names() {
    let t = TestTenant::start().await;
    let dir = scratch("fixtures");
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/default");
    // A file, a missing path, a directory without tenant.json, one with a stray .json file.
    let file = dir.join("plain.txt");
    std::fs::write(&file, "x").unwrap();
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let stray = dir.join("stray");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::copy(default.join("tenant.json"), stray.join("tenant.json")).unwrap();
    std::fs::write(stray.join("secrets.json"), "{}").unwrap();
    let mut probes = vec![
        dir.join("missing"),
        file.clone(),
        empty.clone(),
        stray.clone(),
    ];
    #[cfg(unix)]
    {
        // A fixture directory whose files link out of it: tenant.json, or users.json.
        let outside = scratch("outside");
        for name in ["tenant.json", "users.json"] {
            std::fs::copy(default.join(name), outside.join(name)).unwrap();
        }
        let linked = dir.join("linked");
        std::fs::create_dir_all(&linked).unwrap();
        std::os::unix::fs::symlink(outside.join("tenant.json"), linked.join("tenant.json"))
            .unwrap();
        let linked_users = dir.join("linked-users");
        std::fs::create_dir_all(&linked_users).unwrap();
        std::fs::copy(
            default.join("tenant.json"),
            linked_users.join("tenant.json"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.join("users.json"), linked_users.join("users.json"))
            .unwrap();
        probes.push(linked);
        probes.push(linked_users);
    }
    let mut messages = std::collections::BTreeSet::new();
    for path in &probes {
        let resp = t
            .json_as(
                Method::POST,
                "/_emulator/tenants",
                None,
                Some(json!({"fixtures": path})),
            )
            .await;
        assert_eq!(
            resp.status,
            StatusCode::BAD_REQUEST,
            "{path:?}: {}",
            resp.text
        );
        assert!(
            !resp.message().contains(&*dir.to_string_lossy()),
            "{}",
            resp.text
        );
        messages.insert(resp.message().to_string());
    }
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        messages
            .iter()
            .all(|m| m.contains("not a fixture directory")),
        "{messages:?}"
    );
    let tenants = t
        .send(Method::GET, "/_emulator/tenants", None, &[], None)
        .await;
    assert_eq!(tenants.body["value"].as_array().unwrap().len(), 1);
    // A real fixture directory still makes a tenant.
    let ok = t
        .json_as(
            Method::POST,
            "/_emulator/tenants",
            None,
            Some(json!({"fixtures": default})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_tenant_limit_refuses_with_409_and_changes_nothing() {
    let t = TestTenant::with(builder().max_tenants(3)).await;
    let snapshot = t
        .send(Method::GET, "/_emulator/snapshot", None, &[], None)
        .await;
    assert_eq!(snapshot.status, StatusCode::OK);
    let mut made = Vec::new();
    for _ in 0..2 {
        let resp = t
            .send(Method::POST, "/_emulator/tenants", None, &[], None)
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
        made.push(resp.body["id"].as_str().unwrap().to_string());
    }
    let before = t
        .send(Method::GET, "/_emulator/tenants", None, &[], None)
        .await
        .text;
    let bodies = [
        None,
        Some(json!({"from": made[0]})),
        Some(json!({"snapshot": snapshot.body, "id": "00000000-0000-4000-8000-0000000000aa"})),
        Some(json!({"fixtures": Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/default")})),
    ];
    for body in bodies {
        let resp = t
            .json_as(Method::POST, "/_emulator/tenants", None, body.clone())
            .await;
        assert_eq!(resp.status, StatusCode::CONFLICT, "{body:?}: {}", resp.text);
        assert!(
            resp.message().contains("3 tenants") && resp.message().contains("--max-tenants"),
            "{}",
            resp.message()
        );
        assert_eq!(resp.code(), "Conflict");
    }
    assert_eq!(
        t.send(Method::GET, "/_emulator/tenants", None, &[], None)
            .await
            .text,
        before
    );
    // Room again after a delete; the refused attempts drew no ids from the seeded stream.
    let gone = t
        .send(
            Method::DELETE,
            &format!("/_emulator/tenants/{}", made[1]),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let again = t
        .send(Method::POST, "/_emulator/tenants", None, &[], None)
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    let fresh = TestTenant::start().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let resp = fresh
            .send(Method::POST, "/_emulator/tenants", None, &[], None)
            .await;
        ids.push(resp.body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(again.body["id"], ids[2], "the third id of the stream");
}

#[tokio::test]
async fn the_fault_rule_limit_refuses_with_409_and_changes_nothing() {
    let t = TestTenant::with(builder().max_fault_rules(2)).await;
    let rule = json!({"path": "/catalogs", "schedule": {"next": 1}});
    for _ in 0..2 {
        let resp = t
            .json_as(Method::POST, "/_emulator/faults", None, Some(rule.clone()))
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    }
    let before = t
        .send(Method::GET, "/_emulator/faults", None, &[], None)
        .await;
    let refused = t
        .json_as(Method::POST, "/_emulator/faults", None, Some(rule.clone()))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert!(
        refused.message().contains("2 fault rules")
            && refused.message().contains("--max-fault-rules"),
        "{}",
        refused.message()
    );
    let after = t
        .send(Method::GET, "/_emulator/faults", None, &[], None)
        .await;
    assert_eq!(after.text, before.text);
    // A deleted rule makes room, and its successor takes the next id (the refusal used none).
    let cleared = t
        .send(Method::DELETE, "/_emulator/faults/2", None, &[], None)
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    let next = t
        .json_as(Method::POST, "/_emulator/faults", None, Some(rule))
        .await;
    assert_eq!(next.status, StatusCode::CREATED, "{}", next.text);
    assert_eq!(next.body["id"], 3);
}

#[tokio::test]
async fn the_control_body_limit_refuses_with_413_and_changes_nothing() {
    let t = TestTenant::with(builder().control_body_limit(256 * 1024)).await;
    let snapshot = t
        .send(Method::GET, "/_emulator/snapshot", None, &[], None)
        .await;
    assert!(snapshot.text.len() < 256 * 1024, "{}", snapshot.text.len());
    let made = t
        .post(
            &format!("{EM_V1}/catalogs"),
            json!({"displayName": "After", "description": "made after the snapshot"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let before = t.state().await;
    // The same snapshot padded past the limit: refused, declared length or not.
    let mut padded: Value = serde_json::from_str(&snapshot.text).unwrap();
    padded["padding"] = json!("x".repeat(300 * 1024));
    let padded = serde_json::to_vec(&padded).unwrap();
    // Declared too large: refused from the headers, before any of the body is read.
    let too_long = (padded.len()).to_string();
    let declared = raw(
        t.emu.address(),
        "PUT",
        "/_emulator/snapshot",
        "localhost",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &too_long),
        ],
        "",
    )
    .await;
    assert_eq!(declared.status, 413, "{}", declared.body);
    assert_eq!(declared.json()["error"]["code"], "RequestEntityTooLarge");
    assert!(
        declared.message().contains("--control-body-limit-mib"),
        "{}",
        declared.message()
    );
    let made_tenant = raw(
        t.emu.address(),
        "POST",
        "/_emulator/tenants",
        "localhost",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &too_long),
        ],
        "",
    )
    .await;
    assert_eq!(made_tenant.status, 413, "{}", made_tenant.body);
    // Not declared (chunked): refused once the limit is passed.
    let mut chunked = String::new();
    let ascii = json!({"padding": "x".repeat(300 * 1024)}).to_string();
    for piece in ascii.as_bytes().chunks(16 * 1024) {
        let piece = std::str::from_utf8(piece).unwrap();
        chunked.push_str(&format!("{:x}\r\n{piece}\r\n", piece.len()));
    }
    chunked.push_str("0\r\n\r\n");
    let streamed = raw(
        t.emu.address(),
        "PUT",
        "/_emulator/snapshot",
        "localhost",
        &[
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked,
    )
    .await;
    assert_eq!(streamed.status, 413, "{}", streamed.body);
    assert_eq!(t.state().await, before);
    // Within the limit, the snapshot restores (the catalog made after it is gone).
    let restored = t
        .send(
            Method::PUT,
            "/_emulator/snapshot",
            None,
            &[("Content-Type", "application/json")],
            Some(snapshot.text.into_bytes()),
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.text);
    assert_ne!(t.state().await, before);
}

#[tokio::test]
async fn concurrent_snapshot_restores_all_complete() {
    let t = std::sync::Arc::new(TestTenant::start().await);
    let snapshot = t
        .send(Method::GET, "/_emulator/snapshot", None, &[], None)
        .await
        .text;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (t, snapshot) = (t.clone(), snapshot.clone());
        tasks.push(tokio::spawn(async move {
            t.send(
                Method::PUT,
                "/_emulator/snapshot",
                None,
                &[("Content-Type", "application/json")],
                Some(snapshot.into_bytes()),
            )
            .await
            .status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    let after = t
        .send(Method::GET, "/_emulator/snapshot", None, &[], None)
        .await
        .text;
    assert_eq!(after, snapshot);
}
