//! `Emulator`: start an isolated emulator in-process (tests, embedding) or serve it from `main`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use entitlement_emulator::Emulator;
//! let emu = Emulator::builder().seed(1).fixed_clock("2026-01-01T00:00:00Z")?.start().await?;
//! let token = emu.token("admin@contoso.onmicrosoft.com")?;
//! let url = format!("{}/v1.0/identityGovernance/entitlementManagement/catalogs", emu.uri());
//! # let _ = (token, url);
//! # Ok(()) }
//! ```
//! Dropping the `Emulator` shuts its server down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::auth::AuthMode;
use crate::auth::keys::{KeyError, SigningKey};
use crate::auth::token::{self, TokenError, TokenRequest};
use crate::clock::{Clock, ManualClock, SystemClock, Timestamp};
use crate::fixtures::{FixtureError, FixtureSource};
use crate::http::{self, AppState, DEFAULT_BODY_LIMIT, Shared};
use crate::ids::{FAULT_STREAM, IdSource, REQUEST_STREAM, TENANT_STREAM};
use crate::serve::{ConnectionGate, ConnectionLimits, Plain};
use crate::store::{Tenant, Tenants};
use crate::tls::{TlsError, TlsHandshake, TlsIdentity, TlsOptions};

/// Where governance time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockChoice {
    System,
    /// Starts at `start`; moves only when advanced, plus `step` per read.
    Fixed {
        start: Timestamp,
        step: Duration,
    },
}

impl ClockChoice {
    /// Parses `system` or `fixed:<RFC 3339 time>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("system") {
            return Ok(ClockChoice::System);
        }
        let Some(rest) = text.strip_prefix("fixed:") else {
            return Err(format!(
                "expected 'system' or 'fixed:<RFC 3339 time>[,step=<ISO 8601 duration>]', got '{text}'"
            ));
        };
        // `,step=PT0.001S` moves the clock by that much on every read, so timestamps stay
        // distinct and ordered without ever depending on wall time.
        let (time, step) = match rest.split_once(",step=") {
            Some((time, step)) => {
                let step: Duration = iso8601::duration(step)
                    .map_err(|_| format!("'{step}' is not an ISO 8601 duration"))?
                    .into();
                (time, step)
            }
            None => (rest, Duration::ZERO),
        };
        Timestamp::parse(time)
            .map(|start| ClockChoice::Fixed { start, step })
            .map_err(|e| format!("'{time}' is not an RFC 3339 time: {e}"))
    }
}

/// Whether the control API (`/_emulator/…`) is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ControlApi {
    /// Served when listening on a loopback address only, so binding to a network interface
    /// never exposes reset and token minting by accident.
    #[default]
    Auto,
    On,
    Off,
}

impl ControlApi {
    /// Whether a listener on `addr` serves the control API. Off loopback it needs an admin
    /// token: `auto` then leaves it off, `on` refuses to start (issue 9, security).
    fn decide(self, addr: &SocketAddr, has_admin_token: bool) -> Result<bool, StartError> {
        let safe = addr.ip().is_loopback() || has_admin_token;
        match self {
            ControlApi::Auto => {
                if !safe {
                    tracing::warn!(
                        "control API off on {addr}: not a loopback address and no --admin-token"
                    );
                }
                Ok(safe)
            }
            ControlApi::On if !safe => Err(StartError::ControlApiExposed(*addr)),
            ControlApi::On => Ok(true),
            ControlApi::Off => Ok(false),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("fixture error: {0}")]
    Fixture(#[from] FixtureError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid clock: {0}")]
    Clock(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(
        "refusing to serve the control API on {0}, which is not a loopback address, without an \
         admin token: set --admin-token (or EMULATOR_ADMIN_TOKEN), bind to 127.0.0.1, or pass \
         --control-api off"
    )]
    ControlApiExposed(SocketAddr),
    #[error("invalid --allowed-host: {0}")]
    AllowedHost(String),
}

#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    bind: SocketAddr,
    ids: IdSource,
    clock: ClockChoice,
    fixtures: FixtureSource,
    auth: AuthMode,
    body_limit: usize,
    control_api: ControlApi,
    journal_size: usize,
    journal_bytes: usize,
    key_file: Option<PathBuf>,
    https: Option<SocketAddr>,
    tls: TlsOptions,
    admin_token: Option<String>,
    cors: http::CorsPolicy,
    allowed_hosts: Vec<String>,
    limits: http::ControlLimits,
    connection_limits: ConnectionLimits,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        EmulatorBuilder {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ids: IdSource::Random,
            clock: ClockChoice::System,
            fixtures: FixtureSource::EmbeddedDefault,
            auth: AuthMode::Enforce,
            body_limit: DEFAULT_BODY_LIMIT,
            control_api: ControlApi::Auto,
            journal_size: crate::http::journal::DEFAULT_JOURNAL_SIZE,
            journal_bytes: crate::http::journal::DEFAULT_JOURNAL_BYTES,
            key_file: None,
            https: None,
            tls: TlsOptions::default(),
            admin_token: None,
            cors: http::CorsPolicy::default(),
            allowed_hosts: Vec::new(),
            limits: http::ControlLimits::default(),
            connection_limits: ConnectionLimits::default(),
        }
    }
}

impl EmulatorBuilder {
    /// Address to listen on (default `127.0.0.1:0`, a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Reproducible ids: same seed, fixtures and requests give the same bytes.
    pub fn seed(mut self, seed: u64) -> Self {
        self.ids = IdSource::Seeded(seed);
        self
    }

    pub fn ids(mut self, ids: IdSource) -> Self {
        self.ids = ids;
        self
    }

    pub fn clock(mut self, clock: ClockChoice) -> Self {
        self.clock = clock;
        self
    }

    /// A manual clock starting at `start` (RFC 3339).
    pub fn fixed_clock(mut self, start: &str) -> Result<Self, StartError> {
        let start = Timestamp::parse(start).map_err(|e| StartError::Clock(e.to_string()))?;
        self.clock = ClockChoice::Fixed {
            start,
            step: Duration::ZERO,
        };
        Ok(self)
    }

    /// With a fixed clock: how far time moves on every read, so successive objects get distinct,
    /// ordered timestamps.
    pub fn clock_step(mut self, step: Duration) -> Self {
        if let ClockChoice::Fixed { step: s, .. } = &mut self.clock {
            *s = step;
        }
        self
    }

    pub fn fixtures(mut self, source: FixtureSource) -> Self {
        self.fixtures = source;
        self
    }

    pub fn auth(mut self, mode: AuthMode) -> Self {
        self.auth = mode;
        self
    }

    pub fn control_api(mut self, control: ControlApi) -> Self {
        self.control_api = control;
        self
    }

    /// How many exchanges the request journal keeps (0 turns it off).
    pub fn journal_size(mut self, entries: usize) -> Self {
        self.journal_size = entries;
        self
    }

    /// How many bytes the request journal's entries may hold, by its own accounting (default
    /// 64 MiB); past it the oldest are evicted. 0 turns the journal off.
    pub fn journal_bytes(mut self, bytes: usize) -> Self {
        self.journal_bytes = bytes;
        self
    }

    /// Sign and verify tokens with the key at `path`, generated there (from the seed, if one is
    /// set) when absent. Default: the built-in test key.
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// Also serve HTTPS on `addr` (port 0 picks a free port), with the certificate `tls`
    /// describes (default: the built-in `localhost` certificate of the test CA).
    pub fn https(mut self, addr: SocketAddr) -> Self {
        self.https = Some(addr);
        self
    }

    /// Require this token on every control-API call; also what allows the control API on a
    /// non-loopback address.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into()).filter(|t: &String| !t.is_empty());
        self
    }

    /// Which browser origins may call Graph and the identity endpoints (default: any).
    pub fn cors(mut self, policy: http::CorsPolicy) -> Self {
        self.cors = policy;
        self
    }

    /// Another `Host` name (or address, any port) the emulator answers as itself, beyond
    /// loopback, the bound address and the TLS names: the control API and console (without an
    /// admin token) and `/authorize` refuse other names, and `@odata.context`, `Location` and
    /// the identity documents do not echo them (a DNS-rebinding defence).
    pub fn allowed_host(mut self, name: impl Into<String>) -> Self {
        self.allowed_hosts.push(name.into());
        self
    }

    /// Most tenants the process serves (default 100); `POST /_emulator/tenants` past it is a 409.
    pub fn max_tenants(mut self, tenants: usize) -> Self {
        self.limits.max_tenants = tenants;
        self
    }

    /// Most fault rules (default 100); `POST /_emulator/faults` past it is a 409.
    pub fn max_fault_rules(mut self, rules: usize) -> Self {
        self.limits.max_fault_rules = rules;
        self
    }

    /// Largest control-API body in bytes (default 64 MiB); larger ones are a 413.
    pub fn control_body_limit(mut self, bytes: usize) -> Self {
        self.limits.control_body_limit = bytes;
        self
    }

    pub fn tls(mut self, options: TlsOptions) -> Self {
        self.tls = options;
        self
    }

    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long a client has to send a complete request head, counted from when the server
    /// starts waiting for one (so it also bounds an idle keep-alive connection). Default
    /// [`crate::serve::DEFAULT_HEADER_READ_TIMEOUT`], 30 s.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.connection_limits.header_read_timeout = timeout;
        self
    }

    /// How long a connection may move no byte at all before it is closed. Default
    /// [`crate::serve::DEFAULT_IDLE_TIMEOUT`], 30 s.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.connection_limits.idle_timeout = timeout;
        self
    }

    /// Connections served at once over the HTTP and HTTPS listeners together; one more is
    /// answered 503 and closed. Default [`crate::serve::DEFAULT_MAX_CONNECTIONS`], 512.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.connection_limits.max_connections = connections;
        self
    }

    /// Loads the fixtures and builds the shared state, without listening.
    pub fn build_state(&self) -> Result<AppState, StartError> {
        let fixture = Arc::new(self.fixtures.load()?);
        let clock: Arc<dyn Clock> = match &self.clock {
            ClockChoice::System => Arc::new(SystemClock::default()),
            ClockChoice::Fixed { start, step } => Arc::new(ManualClock::new(*start, *step)),
        };
        let faults = crate::http::faults::Faults::new(self.ids.generator(FAULT_STREAM))
            .with_max_rules(self.limits.max_fault_rules);
        for (i, raw) in fixture.tenant.faults.iter().enumerate() {
            let bad = |message: String| FixtureError {
                file: "tenant.json".into(),
                pointer: format!("/faults/{i}"),
                message,
            };
            let mut rule: crate::http::faults::NewRule =
                serde_json::from_value(raw.clone()).map_err(|e| bad(e.to_string()))?;
            rule.tenant.get_or_insert(fixture.tenant.id);
            faults.add(rule).map_err(|e| bad(e.to_string()))?;
        }
        let signing_key = match &self.key_file {
            Some(path) => Arc::new(SigningKey::load_or_generate(path, self.ids.seed())?),
            None => Arc::new(SigningKey::builtin()),
        };
        // The bound addresses (when specific) and the certificate's names are the user's own.
        let bound = [Some(self.bind), self.https]
            .into_iter()
            .flatten()
            .map(|addr| addr.ip().to_string());
        let hosts = http::hosts::HostPolicy::new(
            bound
                .chain(self.tls.extra_names.iter().cloned())
                .chain(self.allowed_hosts.iter().cloned()),
        )
        .map_err(StartError::AllowedHost)?;
        let tenants = Tenants::default();
        let tenant = tenants.insert(Tenant::new(fixture, self.ids, clock.now()));
        Ok(Arc::new(Shared {
            default_tenant: tenant.id(),
            tenants,
            clock,
            request_ids: self.ids.generator(REQUEST_STREAM),
            auth: self.auth,
            body_limit: self.body_limit,
            tokens: Default::default(),
            signing_key,
            redeemed_codes: Default::default(),
            admin_token: self.admin_token.clone(),
            cors: self.cors.clone(),
            journal: crate::http::journal::Journal::new(self.journal_size, self.journal_bytes),
            faults,
            tenant_ids: self.ids.generator(TENANT_STREAM),
            hosts,
            limits: self.limits,
            restore_gate: tokio::sync::Semaphore::new(1),
            listeners: Default::default(),
        }))
    }

    /// Listens and serves in the background; returns once the socket is bound.
    pub async fn start(self) -> Result<Emulator, StartError> {
        let state = self.build_state()?;
        let listener = TcpListener::bind(self.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: self.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: self.bind,
            source,
        })?;
        // Both listeners are bound before either serves, so the callouts of the first request
        // already know every address that is this emulator's own (`http::callouts`).
        let https_listener = match self.https {
            Some(https_bind) => {
                let bind_error = |source| StartError::Bind {
                    addr: https_bind,
                    source,
                };
                let tcp = TcpListener::bind(https_bind).await.map_err(bind_error)?;
                let https_addr = tcp.local_addr().map_err(bind_error)?;
                Some((tcp, https_addr))
            }
            None => None,
        };
        let _ = state.listeners.set(
            std::iter::once(addr)
                .chain(https_listener.as_ref().map(|(_, a)| *a))
                .collect(),
        );
        let has_token = self.admin_token.is_some();
        let control_api = self.control_api.decide(&addr, has_token)?;
        state.hosts.set_own(false, addr);
        let app = http::router(state.clone(), control_api);
        let (tx, rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let gate = ConnectionGate::new(self.connection_limits);
        let mut tasks = vec![tokio::spawn(crate::serve::serve(
            listener,
            Plain,
            app,
            gate.clone(),
            stopped(rx.clone()),
        ))];
        let mut https = None;
        if let Some((tcp, https_addr)) = https_listener {
            let identity = TlsIdentity::resolve(&self.tls)?;
            let config = identity.server_config()?;
            state.hosts.set_own(true, https_addr);
            // The control API follows the same loopback rule on either listener.
            let app = http::https_router(
                state.clone(),
                self.control_api.decide(&https_addr, has_token)? && control_api,
            );
            tasks.push(tokio::spawn(crate::serve::serve(
                tcp,
                TlsHandshake::new(config),
                app,
                gate,
                stopped(rx.clone()),
            )));
            https = Some((https_addr, identity));
        }
        Ok(Emulator {
            addr,
            https,
            state,
            shutdown: Some(tx),
            tasks,
        })
    }
}

/// A running emulator.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    https: Option<(SocketAddr, TlsIdentity)>,
    state: AppState,
    shutdown: Option<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Emulator {
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the base every Graph path goes under (`/v1.0/…`, `/beta/…`).
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://127.0.0.1:PORT` when HTTPS is on (the built-in certificate names `localhost`,
    /// `127.0.0.1` and `::1`).
    pub fn https_uri(&self) -> Option<String> {
        self.https
            .as_ref()
            .map(|(addr, _)| format!("https://{addr}"))
    }

    /// The certificate (PEM) HTTPS clients must trust: the test CA, unless the user supplied
    /// their own certificate.
    pub fn tls_trust_pem(&self) -> Option<&str> {
        self.https
            .as_ref()
            .map(|(_, identity)| identity.trust_pem.as_str())
    }

    pub fn default_tenant(&self) -> Uuid {
        self.state.default_tenant
    }

    /// A signed token for a fixture persona (user UPN, or app display name / app id) with its
    /// default scopes or permissions.
    pub fn token(&self, persona: &str) -> Result<String, TokenError> {
        self.token_with(TokenRequest {
            persona: persona.into(),
            ..Default::default()
        })
    }

    pub fn token_with(&self, req: TokenRequest) -> Result<String, TokenError> {
        let tenant = self
            .state
            .tenants
            .get(&self.state.default_tenant)
            .ok_or_else(|| {
                TokenError::UnknownPersona(req.persona.clone(), self.state.default_tenant)
            })?;
        tenant.read(|s| token::mint(s, &req, &self.state.signing_key))
    }

    /// The default tenant's canonical state export.
    pub fn state_export(&self) -> Value {
        self.state
            .tenants
            .get(&self.state.default_tenant)
            .map(|t| t.read(|s| s.export()))
            .unwrap_or(Value::Null)
    }

    /// The journaled exchanges matching `filter`, oldest first, as `GET /_emulator/journal`
    /// gives them — wiremock's `received_requests` for this emulator.
    pub fn received_requests(&self, filter: &crate::http::journal::Filter) -> Vec<Value> {
        self.state.journal.query(filter).1
    }

    /// How many journaled exchanges match `filter` ("was X called N times").
    pub fn count_requests(&self, filter: &crate::http::journal::Filter) -> usize {
        self.state.journal.query(filter).0
    }

    /// How full the journal is: entries and bytes kept, its caps, and how many were evicted.
    pub fn journal_usage(&self) -> crate::http::journal::Usage {
        self.state.journal.usage()
    }

    /// Stops accepting connections and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_may_step_on_every_read() {
        assert_eq!(
            ClockChoice::parse("fixed:2026-03-01T09:00:00Z,step=PT0.001S"),
            Ok(ClockChoice::Fixed {
                start: Timestamp::parse("2026-03-01T09:00:00Z").unwrap(),
                step: Duration::from_millis(1),
            })
        );
        assert!(ClockChoice::parse("fixed:2026-03-01T09:00:00Z,step=soon").is_err());
        assert_eq!(ClockChoice::parse("system"), Ok(ClockChoice::System));
    }
}
