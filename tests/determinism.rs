//! Same seed + fixtures + sequential requests ⇒ byte-identical responses.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

/// A fixed script of requests; returns every response's status, chosen headers and raw body.
async fn script(t: &TestTenant, extra_read: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut record = |r: Resp| {
        out.push(format!(
            "{} {:?} {:?} {:?} {:?} {}",
            r.status,
            r.header("request-id"),
            r.header("date"),
            r.header("location"),
            r.header("client-request-id"),
            r.text
        ))
    };
    if extra_read {
        let _ = t.get(&format!("{EM_V1}/catalogs")).await;
    }
    record(
        t.post(&format!("{EM_V1}/catalogs"), json!({"displayName": "a"}))
            .await,
    );
    record(
        t.post(
            &format!("{EM_BETA}/accessPackages"),
            json!({"catalogId": GENERAL, "displayName": "p"}),
        )
        .await,
    );
    record(t.get(&format!("{EM_V1}/accessPackages")).await);
    record(
        t.get(&format!(
            "{EM_V1}/catalogs/5e0f0000-0000-4000-8000-000000000000"
        ))
        .await,
    );
    record(
        t.send(Method::GET, "/_emulator/state", None, &[], None)
            .await,
    );
    out
}

#[tokio::test]
async fn same_seed_same_bytes() {
    let a = TestTenant::with(builder().seed(7)).await;
    let b = TestTenant::with(builder().seed(7)).await;
    let (ra, rb) = (script(&a, false).await, script(&b, false).await);
    // Ports differ between the two servers; everything else must not.
    let strip = |v: Vec<String>, uri: String| {
        v.into_iter()
            .map(|s| s.replace(&uri, "[emulator]"))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(ra, a.emu.uri()), strip(rb, b.emu.uri()));
}

#[tokio::test]
async fn a_different_seed_gives_different_ids() {
    let a = TestTenant::with(builder().seed(7)).await;
    let b = TestTenant::with(builder().seed(8)).await;
    let ida = a
        .post(&format!("{EM_V1}/catalogs"), json!({"displayName": "a"}))
        .await
        .body["id"]
        .clone();
    let idb = b
        .post(&format!("{EM_V1}/catalogs"), json!({"displayName": "a"}))
        .await
        .body["id"]
        .clone();
    assert_ne!(ida, idb);
}

#[tokio::test]
async fn reads_do_not_shift_entity_ids() {
    let a = TestTenant::start().await;
    let b = TestTenant::start().await;
    let ida = a
        .post(&format!("{EM_V1}/catalogs"), json!({"displayName": "a"}))
        .await
        .body["id"]
        .clone();
    let _ = b.get(&format!("{EM_V1}/catalogs")).await;
    let _ = b.get(&format!("{EM_V1}/catalogs/nope")).await;
    let idb = b
        .post(&format!("{EM_V1}/catalogs"), json!({"displayName": "a"}))
        .await
        .body["id"]
        .clone();
    assert_eq!(ida, idb);
}
