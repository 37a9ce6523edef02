//! Shared harness: `TestTenant` (an isolated emulator plus a client) and snapshot settings.

#![allow(dead_code)]

use std::time::Duration;

use entitlement_emulator::auth::AuthMode;
use entitlement_emulator::auth::token::TokenRequest;
use entitlement_emulator::{Emulator, EmulatorBuilder};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const T0: &str = "2026-03-01T09:00:00Z";
pub const EM_V1: &str = "/v1.0/identityGovernance/entitlementManagement";
pub const EM_BETA: &str = "/beta/identityGovernance/entitlementManagement";
pub const RBAC_V1: &str = "/v1.0/roleManagement/entitlementManagement";

pub const GENERAL: &str = "50000000-0000-4000-8000-000000000001";
pub const MARKETING: &str = "50000000-0000-4000-8000-000000000002";
pub const CAMPAIGN_PACKAGE: &str = "60000000-0000-4000-8000-000000000001";
pub const ANALYTICS_PACKAGE: &str = "60000000-0000-4000-8000-000000000002";

pub const ADMIN: &str = "admin@contoso.onmicrosoft.com";
pub const IGA: &str = "iga@contoso.onmicrosoft.com";
pub const CATALOG_OWNER: &str = "catalog.owner@contoso.onmicrosoft.com";
pub const AP_MANAGER: &str = "ap.manager@contoso.onmicrosoft.com";
pub const ASSIGNMENT_MANAGER: &str = "assignment.manager@contoso.onmicrosoft.com";
pub const CATALOG_CREATOR: &str = "catalog.creator@contoso.onmicrosoft.com";
pub const REQUESTOR1: &str = "requestor1@contoso.onmicrosoft.com";
pub const REQUESTOR2: &str = "requestor2@contoso.onmicrosoft.com";
pub const READER: &str = "reader@contoso.onmicrosoft.com";
pub const AUTOMATION_APP: &str = "Provisioning Automation";
pub const CATALOG_BOT_APP: &str = "Marketing Catalog Bot";
pub const REPORTER_APP: &str = "Access Reporter";

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no code>")
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or("<no message>")
    }

    /// Status and body together, the shape every snapshot uses.
    pub fn snapshot(&self) -> Value {
        serde_json::json!({"status": self.status.as_u16(), "body": self.body})
    }
}

pub struct TestTenant {
    pub emu: Emulator,
    client: reqwest::Client,
    /// The bearer token sent by default (the Global Administrator persona).
    pub token: Option<String>,
}

pub fn builder() -> EmulatorBuilder {
    Emulator::builder()
        .seed(1)
        .fixed_clock(T0)
        .expect("T0 parses")
        .clock_step(Duration::from_millis(1))
}

impl TestTenant {
    pub async fn start() -> Self {
        Self::with(builder()).await
    }

    pub async fn with(builder: EmulatorBuilder) -> Self {
        let emu = builder.start().await.expect("emulator starts");
        let token = emu.token(ADMIN).ok();
        TestTenant {
            emu,
            client: reqwest::Client::new(),
            token,
        }
    }

    pub async fn auth_off() -> Self {
        let mut t = Self::with(builder().auth(AuthMode::Off)).await;
        t.token = None;
        t
    }

    /// A token for another persona with its default rights.
    pub fn token_for(&self, persona: &str) -> String {
        self.emu.token(persona).expect("persona exists")
    }

    pub fn token_with(&self, req: TokenRequest) -> String {
        self.emu.token_with(req).expect("token mints")
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.emu.uri(), path));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("request completes");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body reads");
        let html = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/html"));
        let body = if text.is_empty() || html {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("body is JSON")
        };
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn json_as(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let bytes = body.map(|b| serde_json::to_vec(&b).expect("serializes"));
        let headers: &[(&str, &str)] = if bytes.is_some() {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        };
        self.send(method, path, token, headers, bytes).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.json_as(Method::GET, path, self.token.as_deref(), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.json_as(Method::POST, path, self.token.as_deref(), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.json_as(Method::PATCH, path, self.token.as_deref(), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.json_as(Method::DELETE, path, self.token.as_deref(), None)
            .await
    }

    /// The canonical state export, to prove a refused request changed nothing.
    pub async fn state(&self) -> String {
        let resp = self
            .send(Method::GET, "/_emulator/state", None, &[], None)
            .await;
        assert_eq!(resp.status, StatusCode::OK);
        resp.text
    }
}

pub fn snapshot_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.add_filter(r"http://127\.0\.0\.1:\d+", "[emulator]");
    s
}

/// `snap!("name", resp)`: snapshot status and body under the shared settings.
#[macro_export]
macro_rules! snap {
    ($name:expr, $resp:expr) => {
        $crate::common::snapshot_settings().bind(|| {
            insta::assert_json_snapshot!($name, $resp.snapshot());
        })
    };
}
