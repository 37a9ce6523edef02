//! Sends the custom-extension callouts the domain recorded for loopback endpoints, after the
//! Graph call that caused them has released the tenant lock (never across `.await`).
//!
//! A callout's `targetUrl` is chosen by whoever may manage the catalog's extensions, so it is
//! checked here, after name resolution, and sent only to the one address that was checked
//! (issue 19): never to this emulator's own listeners (whose control API can reset every
//! tenant), never off this machine, and never along a redirect. What is refused, fails or is
//! answered with anything but 2xx is recorded in the tenant's outbox with the reason
//! (`customExtensionCalloutFailed`).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::model::lifecycle::PendingCallout;
use crate::store::Tenant;

use super::Shared;

const CALLOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client that goes only where it is told: no redirects, no proxy (a proxy would make the
/// connection to another address than the one checked).
fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(CALLOUT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
}

/// The shared client for targets named by an IP address (no name to resolve).
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| builder().build().unwrap_or_default())
}

/// Takes the tenant's pending callouts and posts them, in order, on a spawned task: the
/// answer to the Graph call does not wait for the extension (the service calls it
/// asynchronously too). The request's state is driven by `resume`, not by the callout's fate.
pub(crate) fn dispatch(shared: &Shared, tenant: &Arc<Tenant>) {
    if tenant.read(|s| s.pending_callouts.is_empty()) {
        return;
    }
    let pending = tenant.write(|s| std::mem::take(&mut s.pending_callouts));
    let own = shared.listeners.get().cloned();
    let clock = shared.clock.clone();
    let tenant = tenant.clone();
    tokio::spawn(async move {
        for callout in pending {
            if let Err(reason) = send(&callout, own.as_deref()).await {
                tracing::warn!(url = %callout.url, "custom extension callout failed: {reason}");
                let now = clock.now();
                tenant.write(|s| crate::ops::lifecycle::callout_failed(s, now, &callout, reason));
            }
        }
    });
}

/// Sends one callout to its checked address; `Err` says why it was not delivered.
async fn send(callout: &PendingCallout, own: Option<&[SocketAddr]>) -> Result<(), String> {
    let url = &callout.url;
    let Some(own) = own else {
        return Err(format!(
            "not sent to {url}: this emulator's listener addresses are not known (it is not \
             served by Emulator::start), so the target cannot be told apart from it"
        ));
    };
    let parsed = url::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| format!("{url} names no port"))?;
    let (client, addr) = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => (client().clone(), checked(IpAddr::V4(ip), port, own)?),
        Some(url::Host::Ipv6(ip)) => (client().clone(), checked(IpAddr::V6(ip), port, own)?),
        Some(url::Host::Domain(name)) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| format!("not sent to {url}: {name} does not resolve: {e}"))?
                .collect();
            // Every address the name has must pass: a name that also resolves elsewhere is
            // refused rather than sent to the address that happens to pass.
            let mut first = None;
            for addr in &addrs {
                let ok = checked(addr.ip(), port, own).map_err(|why| format!("{why} ({name})"))?;
                first.get_or_insert(ok);
            }
            let addr = first.ok_or_else(|| format!("not sent to {url}: {name} has no address"))?;
            // Connect to the address just checked, not to a second answer from the resolver.
            let pinned = builder()
                .resolve(name, addr)
                .build()
                .map_err(|e| format!("not sent to {url}: {e}"))?;
            (pinned, addr)
        }
        None => return Err(format!("{url} names no host")),
    };
    let resp = client
        .post(url.as_str())
        .json(&callout.body)
        .send()
        .await
        .map_err(|e| format!("sending to {url} ({addr}) failed: {}", chain(&e)))?;
    let status = resp.status();
    if status.is_redirection() {
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none)");
        return Err(format!(
            "{url} answered {status} with Location {location}: redirects are not followed (a \
             callout connects only to the address it checked)"
        ));
    }
    if !status.is_success() {
        return Err(format!("{url} answered {status}"));
    }
    tracing::debug!(%url, %status, "custom extension called");
    Ok(())
}

/// `addr:port` when a callout may connect there; else why not. Only loopback addresses (a
/// test's own server, issue decision), and none with the port of one of this emulator's
/// listeners: whatever loopback spelling names it (127.0.0.1, 127.x.y.z, `localhost`, ::1), a
/// listener bound to that port on loopback or on 0.0.0.0 / [::] would take the connection.
fn checked(ip: IpAddr, port: u16, own: &[SocketAddr]) -> Result<SocketAddr, String> {
    let ip = ip.to_canonical();
    if !ip.is_loopback() {
        return Err(format!(
            "refused: {ip} is not a loopback address (callouts are sent to this machine only)"
        ));
    }
    if own.iter().any(|listener| listener.port() == port) {
        return Err(format!(
            "refused: {} is this emulator's own listener (port {port}); a callout never \
             calls the emulator itself",
            SocketAddr::new(ip, port)
        ));
    }
    Ok(SocketAddr::new(ip, port))
}

/// An error with its causes, which is where reqwest says what went wrong.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Vec<SocketAddr> {
        vec![
            "127.0.0.1:5055".parse().unwrap(),
            "0.0.0.0:5443".parse().unwrap(),
        ]
    }

    #[test]
    fn every_loopback_spelling_of_an_own_port_is_refused() {
        for ip in ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"] {
            for port in [5055, 5443] {
                let refused = checked(ip.parse().unwrap(), port, &own());
                assert!(
                    refused
                        .as_ref()
                        .is_err_and(|why| why.contains("own listener")),
                    "{ip}:{port} -> {refused:?}"
                );
            }
        }
    }

    #[test]
    fn only_loopback_addresses_pass() {
        for ip in [
            "10.0.0.5",
            "0.0.0.0",
            "::",
            "169.254.169.254",
            "::ffff:10.0.0.5",
        ] {
            let refused = checked(ip.parse().unwrap(), 8080, &own());
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|why| why.contains("not a loopback")),
                "{ip} -> {refused:?}"
            );
        }
        assert_eq!(
            checked("127.0.0.1".parse().unwrap(), 8080, &own()),
            Ok("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            checked("::ffff:127.0.0.1".parse().unwrap(), 8080, &own()),
            Ok("127.0.0.1:8080".parse().unwrap()),
            "checked and connected as the address it is"
        );
    }

    #[tokio::test]
    async fn localhost_naming_an_own_port_is_refused_after_resolution() {
        let callout = PendingCallout {
            url: "http://localhost:5055/_emulator/reset".into(),
            body: serde_json::json!({}),
            custom_extension_id: uuid::Uuid::nil(),
            access_package_id: uuid::Uuid::nil(),
            request_id: None,
            assignment_id: None,
        };
        let refused = send(&callout, Some(&own())).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|why| why.contains("own listener")),
            "{refused:?}"
        );
        let unknown = send(&callout, None).await;
        assert!(unknown.is_err(), "no listener list, no callout");
    }
}
