//! Exact limits and fatal inputs: the body limit to the byte, keep-alive after an early refusal, a 7,000-term filter chain.

use super::*;

// ---------------------------------------------------------------------------------------------
// 3. The body limit is exact
// ---------------------------------------------------------------------------------------------

/// `prefix` + spaces + `suffix`, exactly `len` bytes: the last byte closes the JSON, so a
/// success proves the whole body was read.
pub(super) fn padded(prefix: &str, suffix: &str, len: usize) -> Vec<u8> {
    let pad = len - prefix.len() - suffix.len();
    format!("{prefix}{}{suffix}", " ".repeat(pad)).into_bytes()
}

pub(super) async fn post_raw(t: &TestTenant, path: &str, body: Vec<u8>) -> Resp {
    t.send(
        Method::POST,
        path,
        t.token.as_deref(),
        &[("Content-Type", "application/json")],
        Some(body),
    )
    .await
}

pub(super) async fn check_limit(t: &TestTenant, limit: usize) {
    let cases = [
        (
            format!("{EM_V1}/catalogs"),
            r#"{"displayName":"at the limit""#,
            "}",
            StatusCode::CREATED,
        ),
        (
            format!("{EM_BETA}/accessPackageCatalogs"),
            r#"{"displayName":"at the limit""#,
            "}",
            StatusCode::CREATED,
        ),
        (
            "/v1.0/$batch".to_string(),
            r#"{"requests":[{"id":"1","method":"GET","url":"/identityGovernance/entitlementManagement/catalogs"}]"#,
            "}",
            StatusCode::OK,
        ),
    ];
    for (path, prefix, suffix, ok) in cases {
        let before = t.state().await;
        let over = post_raw(t, &path, padded(prefix, suffix, limit + 1)).await;
        assert_eq!(
            (over.status, over.code()),
            (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
            "POST {path} with {} bytes (limit {limit}): {}",
            limit + 1,
            abbreviate(&over.text, 400)
        );
        check_envelope(&over.body).unwrap();
        assert!(is_json(over.header("content-type").unwrap_or("")));
        assert_eq!(t.state().await, before, "a 413 changed the state ({path})");
        let at = post_raw(t, &path, padded(prefix, suffix, limit)).await;
        assert_eq!(
            at.status,
            ok,
            "POST {path} with exactly {limit} bytes: {}",
            abbreviate(&at.text, 400)
        );
        if ok == StatusCode::OK {
            assert_eq!(at.body["responses"][0]["status"], 200, "{}", at.text);
        } else {
            assert_eq!(at.body["displayName"], "at the limit");
        }
    }
}

#[tokio::test]
pub(super) async fn body_limit_is_exact_to_the_byte() {
    let t = TestTenant::with(builder().body_limit(1500)).await;
    check_limit(&t, 1500).await;
    let t = TestTenant::start().await;
    check_limit(&t, DEFAULT_BODY_LIMIT).await;
}

// ---------------------------------------------------------------------------------------------
// 4. Keep-alive after an early refusal
// ---------------------------------------------------------------------------------------------

/// Reads one HTTP/1.1 response (head and `Content-Length` body); `None` if the connection ends
/// first.
pub(super) fn read_response(stream: &mut std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((head, buf[head_end..head_end + length].to_vec()))
}

/// Sends a request refused before its body is read, then a GET on the same connection; `Err`
/// says what went wrong.
pub(super) fn refusal_then_reuse(
    addr: std::net::SocketAddr,
    path: &str,
    body: &str,
) -> Result<(), String> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // No Authorization: a Graph path that routes is a 401 before its body is read.
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let (head, _) = read_response(&mut stream).ok_or("no response to the refused request")?;
    if !(head.starts_with("http/1.1 4") || head.starts_with("http/1.1 501")) {
        return Err(format!("not a refusal: {head}"));
    }
    if head.contains("\r\nconnection: close") {
        return Ok(());
    }
    let reuse = stream
        .write_all(b"GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .map_err(|e| format!("the connection was closed: {e}"));
    match reuse.map(|()| read_response(&mut stream)) {
        Ok(Some((h, _))) if h.starts_with("http/1.1 200") => Ok(()),
        other => Err(format!(
            "answered {:?} without `Connection: close`, then the connection no longer answered: {other:?}",
            head.lines().next().unwrap_or("")
        )),
    }
}

/// A refusal answered before the body is read (routing, authentication, 501) must leave the
/// keep-alive connection usable or say `Connection: close`; otherwise a client's next,
/// unrelated request on that pooled connection fails.
#[tokio::test]
pub(super) async fn early_refusals_keep_the_connection_usable() {
    let t = TestTenant::start().await;
    let addr = t.emu.address();
    let body = format!("{{\"displayName\":\"{}\"}}", "x".repeat(64 * 1024));
    for path in [
        format!("{EM_V1}/catalogz"),
        "/v1.0/roleManagement/entitlementManagement/roleAssignmentSchedules".to_string(),
        format!("{EM_V1}/catalogs"),
    ] {
        let body = body.clone();
        let p = path.clone();
        let outcome = tokio::task::spawn_blocking(move || refusal_then_reuse(addr, &p, &body))
            .await
            .unwrap();
        assert_eq!(outcome, Ok(()), "POST {path} with a 64 KiB body");
    }
}

/// The request that took the whole process down (issue 19): a `$filter` of ~7,000 `or` terms
/// overflowed a worker's stack. Now it is refused with the node-count error, directly, as a
/// `$batch` item and without authentication, and the emulator keeps serving every tenant.
#[tokio::test]
pub(super) async fn a_long_filter_chain_is_refused_and_the_emulator_lives() {
    let chain = vec!["1"; 7_000].join(" or ");
    let query = format!("$filter={}", chain.replace(' ', "%20"));
    let limit = "OData query is invalid: The node count limit of '100' has been exceeded. To increase the limit, set the 'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings.";
    let t = TestTenant::start().await;
    let reader = t.token_for(READER);
    let direct = t
        .json_as(
            Method::GET,
            &format!("{EM_V1}/catalogs?{query}"),
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(
        (direct.status, direct.code(), direct.message()),
        (StatusCode::BAD_REQUEST, "InvalidFilter", limit)
    );
    let batch = t
        .post(
            "/v1.0/$batch",
            json!({"requests": [
                {"id": "1", "method": "GET", "url": format!("/identityGovernance/entitlementManagement/accessPackages?{query}")},
                {"id": "2", "method": "GET", "url": "/identityGovernance/entitlementManagement/catalogs"},
            ]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.text);
    let items = batch.body["responses"].as_array().unwrap();
    let item = |id: &str| items.iter().find(|r| r["id"] == id).unwrap();
    assert_eq!(item("1")["status"], 400);
    assert_eq!(item("1")["body"]["error"]["message"], limit);
    assert_eq!(item("2")["status"], 200);
    let alive = t.get(&format!("{EM_V1}/catalogs")).await;
    assert_eq!(alive.status, StatusCode::OK);

    let open = TestTenant::auth_off().await;
    let unauthenticated = open.get(&format!("{EM_V1}/catalogs?{query}")).await;
    assert_eq!(unauthenticated.code(), "InvalidFilter");
    assert_eq!(
        open.get(&format!("{EM_V1}/catalogs")).await.status,
        StatusCode::OK
    );
}
