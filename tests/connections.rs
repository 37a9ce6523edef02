//! Connection limits (issue 19): idle and half-sent connections are closed, a connection over
//! the cap is answered 503 at once, and kept-alive connections still serve request after request.
//! The limits are set short here; a test waits a generous multiple of them, never a tight bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// Far longer than any limit set below: a connection still open then was never closed.
const PATIENCE: Duration = Duration::from_secs(10);

const HEALTH: &str = "GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Reads until the server closes the stream (EOF or reset); `None` if it is still open after
/// `PATIENCE`. Returns what arrived before the close.
async fn until_closed(io: &mut (impl AsyncRead + Unpin)) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read_all).await.ok()?;
    Some(got)
}

/// Reads one whole HTTP/1.1 answer with a `content-length` (what the emulator sends).
async fn one_answer(io: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(PATIENCE, io.read(&mut buf))
            .await
            .expect("an answer arrives")
            .expect("the stream reads");
        assert!(n > 0, "closed before the answer ended: {got:?}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            if body.len() >= length {
                return text;
            }
        }
    }
}

fn short(idle: Duration, head: Duration) -> entitlement_emulator::EmulatorBuilder {
    builder().idle_timeout(idle).header_read_timeout(head)
}

#[tokio::test]
async fn a_socket_that_never_sends_is_closed() {
    // Either limit alone closes it: the head's deadline (the idle timeout far away), and the
    // idle timeout (the head's deadline far away).
    let short_ms = Duration::from_millis(300);
    let long = Duration::from_secs(60);
    for (idle, head) in [(long, short_ms), (short_ms, long)] {
        let t = TestTenant::with(short(idle, head)).await;
        let mut silent = TcpStream::connect(t.emu.address()).await.unwrap();
        assert_eq!(
            until_closed(&mut silent).await,
            Some(Vec::new()),
            "idle {idle:?}, head {head:?}: closed without an answer"
        );
    }
}

#[tokio::test]
async fn a_trickled_request_head_is_closed_by_the_header_deadline() {
    // The idle timeout is long and every write moves bytes: only the head's deadline can end it.
    let t = TestTenant::with(short(Duration::from_secs(60), Duration::from_millis(500))).await;
    let stream = TcpStream::connect(t.emu.address()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let closed = tokio::spawn(async move { until_closed(&mut reader).await });
    let trickle = async {
        writer
            .write_all(b"GET /_emulator/health HTTP/1.1\r\n")
            .await?;
        for i in 0..200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer
                .write_all(format!("x-slow-{i}: 1\r\n").as_bytes())
                .await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let trickled = trickle.await;
    assert_eq!(
        closed.await.unwrap(),
        Some(Vec::new()),
        "the server closed the half-sent request without serving it"
    );
    assert!(
        trickled.is_err(),
        "the server stopped accepting the trickle before it ended (10 s)"
    );
}

#[tokio::test]
async fn a_stalled_body_is_closed_by_the_idle_timeout() {
    let t = TestTenant::with(short(Duration::from_millis(300), Duration::from_secs(60))).await;
    let mut stream = TcpStream::connect(t.emu.address()).await.unwrap();
    stream
        .write_all(
            format!(
                "POST {EM_V1}/catalogs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"displayName\""
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // Whatever answer the handler gives a body that failed mid-read, the connection ends.
    assert!(
        until_closed(&mut stream).await.is_some(),
        "still open after 10 s"
    );
}

#[tokio::test]
async fn kept_alive_connections_serve_request_after_request_until_idle() {
    let t = TestTenant::with(short(
        Duration::from_millis(400),
        Duration::from_millis(400),
    ))
    .await;
    let mut stream = TcpStream::connect(t.emu.address()).await.unwrap();
    for _ in 0..3 {
        stream.write_all(HEALTH.as_bytes()).await.unwrap();
        let answer = one_answer(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // Less than either timeout between requests: the connection stays up.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        until_closed(&mut stream).await,
        Some(Vec::new()),
        "an idle kept-alive connection is closed"
    );
}

#[tokio::test]
async fn a_connection_over_the_cap_is_answered_503_and_closed() {
    let t = TestTenant::with(
        short(Duration::from_secs(60), Duration::from_secs(60)).max_connections(2),
    )
    .await;
    let addr = t.emu.address();
    // Two held connections fill the cap; each proves it is being served.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(HEALTH.as_bytes()).await.unwrap();
        assert!(one_answer(&mut s).await.starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(HEALTH.as_bytes()).await.unwrap();
    let answer = until_closed(&mut third).await.expect("answered and closed");
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 503"), "{answer}");
    assert!(head.contains("\r\nretry-after: "), "{answer}");
    assert!(head.contains("\r\nconnection: close"), "{answer}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"]["code"], "ServiceUnavailable", "{body}");
    // A freed place serves again.
    drop(held.pop());
    let mut served = false;
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(HEALTH.as_bytes()).await.unwrap();
        let answer = one_answer(&mut s).await;
        if answer.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "a place freed by a closed connection is used again");
}

/// One idle connection to the HTTPS listener after a finished handshake.
async fn tls_connection(
    addr: SocketAddr,
    ca_pem: &str,
) -> tokio_rustls::client::TlsStream<TcpStream> {
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
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

#[tokio::test]
async fn https_connections_follow_the_same_rules() {
    let t = TestTenant::with(
        short(Duration::from_millis(300), Duration::from_millis(300))
            .https("127.0.0.1:0".parse().unwrap()),
    )
    .await;
    let https = t.emu.https_uri().unwrap();
    let addr: SocketAddr = https.trim_start_matches("https://").parse().unwrap();
    // No handshake at all.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert_eq!(until_closed(&mut silent).await, Some(Vec::new()));
    // A finished handshake, then nothing: closed like a plain connection.
    let ca = t.emu.tls_trust_pem().unwrap().to_string();
    let mut idle = tls_connection(addr, &ca).await;
    assert_eq!(until_closed(&mut idle).await, Some(Vec::new()));
    // And a request in time is served.
    let mut live = tls_connection(addr, &ca).await;
    live.write_all(
        b"GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = until_closed(&mut live).await.expect("answered");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn a_handler_slower_than_the_idle_timeout_still_answers() {
    // The client waits quietly while the emulator works: that is not an idle connection.
    let t = TestTenant::with(short(Duration::from_millis(200), Duration::from_secs(60))).await;
    let rule = t
        .send(
            reqwest::Method::POST,
            "/_emulator/faults",
            None,
            &[("Content-Type", "application/json")],
            Some(
                br#"{"path": "/catalogs", "schedule": {"next": 1}, "effect": {"status": 0, "latencyMs": 1200}}"#
                    .to_vec(),
            ),
        )
        .await;
    assert!(rule.status.is_success(), "{}", rule.text);
    let slow = t.get(&format!("{EM_V1}/catalogs")).await;
    assert_eq!(slow.status, reqwest::StatusCode::OK, "{}", slow.text);
}

#[tokio::test]
async fn shutdown_waits_for_the_request_in_flight_and_then_refuses_connections() {
    let emu = builder().start().await.unwrap();
    let base = emu.uri();
    let token = emu.token(ADMIN).unwrap();
    let client = reqwest::Client::new();
    let rule = client
        .post(format!("{base}/_emulator/faults"))
        .body(r#"{"path": "/catalogs", "schedule": {"next": 1}, "effect": {"status": 0, "latencyMs": 500}}"#)
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert!(rule.status().is_success());
    let slow = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}{EM_V1}/catalogs");
        async move { client.get(url).bearer_auth(token).send().await }
    });
    // Shut down once the request is in its handler (its fault rule has fired).
    let mut in_flight = false;
    for _ in 0..500 {
        let rules: serde_json::Value = client
            .get(format!("{base}/_emulator/faults"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if rules.to_string().contains("\"fired\":1") {
            in_flight = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(in_flight, "the slow request reached its handler");
    emu.shutdown().await;
    let answered = slow
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(answered.status(), reqwest::StatusCode::OK);
    assert!(
        TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .is_err(),
        "the listener is closed after shutdown"
    );
}
