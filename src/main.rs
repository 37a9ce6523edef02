//! The `entitlement-emulator` binary: serve the emulator, or mint a persona token.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use entitlement_emulator::auth::AuthMode;
use entitlement_emulator::auth::keys::SigningKey;
use entitlement_emulator::auth::token::{self, TokenRequest};
use entitlement_emulator::fixtures::FixtureSource;
use entitlement_emulator::http::CorsPolicy;
use entitlement_emulator::tls::{self, TlsIdentity, TlsOptions};
use entitlement_emulator::{ClockChoice, ControlApi, Emulator};

#[derive(Debug, Parser)]
#[command(
    name = "entitlement-emulator",
    version,
    about = "A local emulator of the Microsoft Graph entitlement-management API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:5055")]
    bind: SocketAddr,
    /// Seed for reproducible ids (default: random).
    #[arg(long)]
    seed: Option<u64>,
    /// `system`, or `fixed:<RFC 3339 time>` for a clock that only moves when told.
    #[arg(long, default_value = "system", value_parser = ClockChoice::parse)]
    clock: ClockChoice,
    /// A fixture directory (default: the embedded default tenant).
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// `enforce` checks tokens and permissions; `off` treats every caller as a Global Administrator app.
    #[arg(long, value_enum, default_value_t = AuthMode::Enforce)]
    auth: AuthMode,
    /// Serve `/_emulator/…`: `auto` = on loopback addresses, or anywhere with --admin-token.
    #[arg(long, value_enum, default_value_t = ControlApi::Auto)]
    control_api: ControlApi,
    /// Require this token on every control-API call (`x-emulator-admin-token` or
    /// `Authorization: Bearer`); needed to serve the control API off loopback.
    #[arg(long, env = "EMULATOR_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Browser origins allowed to call Graph and the identity endpoints: `*` (as Graph),
    /// `none`, or a comma-separated list.
    #[arg(long, default_value = "*", value_parser = CorsPolicy::parse)]
    cors_origins: CorsPolicy,
    /// Exchanges the request journal keeps (`GET /_emulator/journal`); 0 turns it off.
    #[arg(
        long,
        env = "EMULATOR_JOURNAL_SIZE",
        default_value_t = entitlement_emulator::http::journal::DEFAULT_JOURNAL_SIZE
    )]
    journal_size: usize,
    /// Bytes the request journal's entries may hold by its own accounting (`512KiB`, `64MiB`,
    /// or a number); past it the oldest are evicted. 0 turns the journal off.
    #[arg(
        long,
        env = "EMULATOR_JOURNAL_BYTES",
        default_value = "64MiB",
        value_parser = entitlement_emulator::http::journal::parse_bytes
    )]
    journal_bytes: usize,
    /// Sign and verify tokens with this RSA key (PKCS#8 PEM), generated and saved there if
    /// absent (from --seed when given). Default: the built-in, documented test key.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Another name (or address) this emulator answers as itself, beyond localhost, 127.0.0.1,
    /// [::1], the bound address and --tls-name names; repeatable or comma-separated. Without
    /// --admin-token the control API and console refuse other `Host` names (DNS rebinding),
    /// `/authorize` always does, and `@odata.context`, `Location` and the identity documents
    /// name the listener's own address instead of echoing them. In a container, add the name
    /// clients use (`--allowed-host emulator`).
    #[arg(
        long = "allowed-host",
        env = "EMULATOR_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// Most tenants served at once (the default one included); more is a 409.
    #[arg(long, env = "EMULATOR_MAX_TENANTS", default_value_t = entitlement_emulator::http::DEFAULT_MAX_TENANTS)]
    max_tenants: usize,
    /// Most fault rules at once (every Graph call is matched against each); more is a 409.
    #[arg(long, env = "EMULATOR_MAX_FAULT_RULES", default_value_t = entitlement_emulator::http::DEFAULT_MAX_FAULT_RULES)]
    max_fault_rules: usize,
    /// Largest control-API body (a snapshot to restore), in MiB; larger is a 413.
    #[arg(long, env = "EMULATOR_CONTROL_BODY_LIMIT_MIB", default_value_t = entitlement_emulator::http::CONTROL_BODY_LIMIT / (1024 * 1024))]
    control_body_limit_mib: usize,
    /// Also serve HTTPS (needed by azure-identity, MSAL, Terraform and the classic JS client).
    /// `--https` alone listens on 127.0.0.1:5443.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:5443")]
    https: Option<SocketAddr>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    connections: ConnectionArgs,
}

/// What every listener enforces on its connections (`entitlement_emulator::serve`).
#[derive(Debug, Clone, clap::Args)]
struct ConnectionArgs {
    /// Seconds a client has to send a complete request head, counted from when the server
    /// starts waiting for one (a new connection, or after each answer on a kept-alive one).
    #[arg(long, env = "EMULATOR_HEADER_READ_TIMEOUT", value_name = "SECONDS",
          default_value = "30", value_parser = seconds)]
    header_read_timeout: std::time::Duration,
    /// Seconds a connection may move no byte at all (idle keep-alive, a stalled upload, a
    /// client that stops reading) before it is closed.
    #[arg(long, env = "EMULATOR_IDLE_TIMEOUT", value_name = "SECONDS",
          default_value = "30", value_parser = seconds)]
    idle_timeout: std::time::Duration,
    /// Connections served at once (HTTP and HTTPS together); one more is answered 503
    /// `ServiceUnavailable` with `Retry-After` and closed. Keep it below `ulimit -n`.
    #[arg(long, env = "EMULATOR_MAX_CONNECTIONS",
          default_value_t = entitlement_emulator::serve::DEFAULT_MAX_CONNECTIONS,
          value_parser = at_least_one)]
    max_connections: usize,
}

impl ConnectionArgs {
    fn limits(&self) -> entitlement_emulator::serve::ConnectionLimits {
        entitlement_emulator::serve::ConnectionLimits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
        }
    }
}

/// A positive number of seconds (`30`, `0.5`).
fn seconds(text: &str) -> Result<std::time::Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("'{text}' is not a positive number of seconds"))
}

/// A count of one or more.
fn at_least_one(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{text}' is not a whole number of at least 1"))
}

#[derive(Debug, Clone, clap::Args)]
struct TlsArgs {
    /// HTTPS certificate chain (PEM): used when it exists, else the generated one is saved here.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM), with the same use-or-save rule.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Extra host names or addresses for the certificate (beyond localhost, 127.0.0.1, ::1);
    /// repeatable. The certificate is then issued at start by the built-in test CA.
    #[arg(long = "tls-name")]
    tls_names: Vec<String>,
}

impl TlsArgs {
    fn options(&self) -> TlsOptions {
        TlsOptions {
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            extra_names: self.tls_names.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record: a forwarding proxy to a real Graph that writes every exchange, redacted, to a
    /// cassette. Point clients at it as at the emulator.
    Record {
        /// Where requests go, e.g. https://graph.microsoft.com (or its login host).
        #[arg(long)]
        upstream: String,
        /// The cassette to write (rewritten after every exchange).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "127.0.0.1:5056")]
        bind: SocketAddr,
        /// Keep e-mail addresses and UPNs (default: replaced by user{N}@contoso.example).
        #[arg(long)]
        keep_emails: bool,
        /// Keep people's names: users' display names, `givenName`, `surname` (default: replaced
        /// by "User {N}", "Given {N}", "Surname {N}"). Credentials are always removed.
        #[arg(long)]
        keep_names: bool,
        /// Keep GUIDs as recorded (default: remapped consistently).
        #[arg(long)]
        keep_ids: bool,
    },
    /// Replay: answer requests with a cassette's recorded responses (501 for anything
    /// unrecorded, naming the closest recorded request).
    Replay {
        cassette: PathBuf,
        #[arg(long, default_value = "127.0.0.1:5056")]
        bind: SocketAddr,
    },
    /// Import: a cassette's catalogs and access packages as a fixture directory (redacted and
    /// remapped, over a base fixture that supplies the directory and personas).
    Import {
        cassette: PathBuf,
        /// The fixture directory to write.
        #[arg(long)]
        out: PathBuf,
        /// The base fixture (default: the embedded default tenant).
        #[arg(long)]
        base_fixtures: Option<PathBuf>,
        /// Keep the cassette as it is (already redacted, or ids must stay).
        #[arg(long)]
        no_redact: bool,
    },
    /// Verify: send a cassette's requests to a fresh emulator and report every divergence from
    /// the recorded answers (status / JSON path / expected / actual). Exits 1 on new ones.
    Verify {
        cassette: PathBuf,
        /// Known, accepted divergences (JSON: [{"path", "request"?, "reason"}]).
        #[arg(long)]
        register: Option<PathBuf>,
        /// Fixture directory for the fresh emulator (default: the embedded default tenant).
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// Send requests as this persona (default: auth off, the tenant's administrator app).
        #[arg(long = "as")]
        persona: Option<String>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write the certificate HTTPS clients must trust (`emulator-ca.pem`) and a bundle of the
    /// system's roots plus it (`ca-bundle.pem`) for SSL_CERT_FILE / REQUESTS_CA_BUNDLE /
    /// NODE_EXTRA_CA_CERTS, then print the exports.
    Cert {
        /// Directory to write into.
        #[arg(long, default_value = ".emulator-tls")]
        out: PathBuf,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Print a signed access token for a fixture persona.
    Token {
        /// A user principal name, or a service principal's display name or app id.
        #[arg(long = "as")]
        persona: String,
        /// Delegated scopes for a user, space- or comma-separated.
        #[arg(long)]
        scopes: Option<String>,
        /// Application permissions for an app, space- or comma-separated ('' for none).
        #[arg(long)]
        roles: Option<String>,
        /// Token lifetime in seconds.
        #[arg(long, default_value_t = token::DEFAULT_LIFETIME_SECONDS)]
        lifetime: i64,
        /// A fixture directory (default: the embedded default tenant).
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// The emulator's --key-file, if it uses one.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
}

/// Serves `app` on `bind` until Ctrl-C (the recorder's and the replayer's loop), under the same
/// connection limits as the emulator.
async fn serve_until_ctrl_c(
    bind: SocketAddr,
    app: axum::Router,
    what: &str,
    limits: entitlement_emulator::serve::ConnectionLimits,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    println!(
        "entitlement-emulator {what}, listening on http://{}",
        listener.local_addr()?
    );
    let gate = entitlement_emulator::serve::ConnectionGate::new(limits);
    entitlement_emulator::serve::serve(
        listener,
        entitlement_emulator::serve::Plain,
        app,
        gate,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await;
    Ok(())
}

fn source(dir: Option<PathBuf>) -> FixtureSource {
    dir.map_or(FixtureSource::EmbeddedDefault, FixtureSource::Dir)
}

fn split(list: Option<String>) -> Option<Vec<String>> {
    list.map(|l| {
        l.split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
}

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Hands the pages freed since start-up back to the system. Loading fixtures builds short-lived
/// JSON trees several times the size of what is kept; jemalloc holds freed pages for reuse for
/// ~10 s of allocation activity, which at start-up would read as ~40 % more memory per stored
/// package than is in use (issue 8's per-object budget).
#[allow(unsafe_code)]
fn return_freed_pages() {
    // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena; a command with no input or output.
    const PURGE_ALL: &[u8] = b"arena.4096.purge\0";
    // SAFETY: the name is NUL-terminated and this control takes no pointers, so passing null
    // for all of them is its documented calling convention (jemalloc(3), `arena.<i>.purge`).
    let _ = unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Record {
            upstream,
            out,
            bind,
            keep_emails,
            keep_names,
            keep_ids,
        }) => {
            let pii = entitlement_emulator::cassette::redact::PiiOptions {
                emails: !keep_emails,
                people: !keep_names,
                remap_ids: !keep_ids,
            };
            let recorder =
                entitlement_emulator::cassette::record::Recorder::new(upstream, out.clone(), pii)
                    .map_err(anyhow::Error::msg)?;
            let app = axum::Router::new()
                .fallback(entitlement_emulator::cassette::record::forward)
                .with_state(std::sync::Arc::new(recorder));
            return serve_until_ctrl_c(
                *bind,
                app,
                &format!("recording {upstream} to {}", out.display()),
                cli.serve.connections.limits(),
            )
            .await;
        }
        Some(Command::Import {
            cassette,
            out,
            base_fixtures,
            no_redact,
        }) => {
            let cassette = entitlement_emulator::cassette::Cassette::load(cassette)?;
            let base = source(base_fixtures.clone())
                .raw_files()
                .map_err(anyhow::Error::msg)?;
            let imported =
                entitlement_emulator::cassette::import::to_fixture(&cassette, &base, !no_redact)
                    .map_err(anyhow::Error::msg)?;
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            for (name, text) in &imported.files {
                std::fs::write(out.join(name), text)
                    .with_context(|| format!("writing {}", out.join(name).display()))?;
            }
            // Prove it loads before saying it worked.
            source(Some(out.clone())).load()?;
            for note in &imported.notes {
                println!("note: {note}");
            }
            println!(
                "imported {} catalogs and {} access packages into {}",
                imported.catalogs,
                imported.access_packages,
                out.display()
            );
            return Ok(());
        }
        Some(Command::Replay { cassette, bind }) => {
            let cassette = entitlement_emulator::cassette::Cassette::load(cassette)?;
            let player = entitlement_emulator::cassette::replay::Player::new(cassette);
            let app = axum::Router::new()
                .fallback(entitlement_emulator::cassette::replay::serve)
                .with_state(std::sync::Arc::new(player));
            return serve_until_ctrl_c(*bind, app, "replaying", cli.serve.connections.limits())
                .await;
        }
        Some(Command::Verify {
            cassette,
            register,
            fixtures,
            persona,
            seed,
        }) => {
            let cassette = entitlement_emulator::cassette::Cassette::load(cassette)?;
            let register: Vec<entitlement_emulator::cassette::normalize::KnownDivergence> =
                match register {
                    Some(path) => serde_json::from_str(
                        &std::fs::read_to_string(path)
                            .with_context(|| format!("reading {}", path.display()))?,
                    )
                    .with_context(|| format!("{} is not a divergence register", path.display()))?,
                    None => Vec::new(),
                };
            let mut builder = Emulator::builder()
                .seed(*seed)
                .fixtures(source(fixtures.clone()));
            if persona.is_none() {
                builder = builder.auth(AuthMode::Off);
            }
            let emulator = builder.start().await.context("starting the emulator")?;
            let token = match persona {
                Some(p) => Some(emulator.token(p)?),
                None => None,
            };
            let report = entitlement_emulator::cassette::verify::verify(
                &cassette,
                &emulator.uri(),
                token.as_deref(),
                &register,
            )
            .await
            .map_err(anyhow::Error::msg)?;
            print!("{}", report.render());
            if report.new_divergences().next().is_some() {
                std::process::exit(1);
            }
            return Ok(());
        }
        _ => {}
    }
    if let Some(Command::Cert { out, tls }) = &cli.command {
        let identity = TlsIdentity::resolve(&tls.options())?;
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let ca = out.join("emulator-ca.pem");
        let bundle = out.join("ca-bundle.pem");
        std::fs::write(&ca, &identity.trust_pem)
            .with_context(|| format!("writing {}", ca.display()))?;
        std::fs::write(&bundle, tls::ca_bundle(&identity.trust_pem))
            .with_context(|| format!("writing {}", bundle.display()))?;
        let bundle = std::fs::canonicalize(&bundle).unwrap_or(bundle);
        for var in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"] {
            println!("export {var}={}", bundle.display());
        }
        return Ok(());
    }
    if let Some(Command::Token {
        persona,
        scopes,
        roles,
        lifetime,
        fixtures,
        key_file,
    }) = cli.command
    {
        let fixture = source(fixtures).load()?;
        let state = fixture.build_state(
            entitlement_emulator::ids::IdSource::Random.generator(1),
            entitlement_emulator::clock::Timestamp::from_datetime(
                entitlement_emulator::clock::wall_clock_now(),
            ),
        );
        let req = TokenRequest {
            persona,
            scopes: split(scopes),
            roles: split(roles),
            lifetime_seconds: Some(lifetime),
            client: None,
        };
        let key = match key_file {
            Some(path) => SigningKey::load_or_generate(&path, None)?,
            None => SigningKey::builtin(),
        };
        println!("{}", token::mint(&state, &req, &key)?);
        return Ok(());
    }
    let args = cli.serve;
    let mut builder = Emulator::builder()
        .bind(args.bind)
        .clock(args.clock)
        .fixtures(source(args.fixtures))
        .auth(args.auth)
        .control_api(args.control_api)
        .journal_size(args.journal_size)
        .journal_bytes(args.journal_bytes)
        .cors(args.cors_origins)
        .max_tenants(args.max_tenants)
        .max_fault_rules(args.max_fault_rules)
        .control_body_limit(args.control_body_limit_mib.saturating_mul(1024 * 1024))
        .header_read_timeout(args.connections.header_read_timeout)
        .idle_timeout(args.connections.idle_timeout)
        .max_connections(args.connections.max_connections);
    for name in args.allowed_hosts.iter().chain(&args.tls.tls_names) {
        builder = builder.allowed_host(name.clone());
    }
    if let Some(token) = args.admin_token {
        builder = builder.admin_token(token);
    }
    if let Some(path) = args.key_file {
        builder = builder.key_file(path);
    }
    if let Some(addr) = args.https {
        builder = builder.https(addr).tls(args.tls.options());
    }
    if let Some(seed) = args.seed {
        builder = builder.seed(seed);
    }
    let emulator = builder.start().await.context("starting the emulator")?;
    return_freed_pages();
    println!("entitlement-emulator listening on {}", emulator.uri());
    if let Some(https) = emulator.https_uri() {
        println!("entitlement-emulator listening on {https}");
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    emulator.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_is_bounded_by_default_and_its_byte_cap_takes_units() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["entitlement-emulator"], args].concat()).map(|c| c.serve)
        };
        let default = parse(&[]).expect("no flags parse");
        assert_eq!(
            (default.journal_size, default.journal_bytes),
            (1000, 64 * 1024 * 1024)
        );
        let set = parse(&["--journal-bytes", "512KiB", "--journal-size", "10"]).expect("parses");
        assert_eq!((set.journal_size, set.journal_bytes), (10, 512 * 1024));
        assert!(parse(&["--journal-bytes", "lots"]).is_err());
    }
}
