//! Which `Host` names the emulator answers as itself (loopback, its bound address, `--tls-name`
//! and `--allowed-host` names), and the address it names itself by when a request's `Host` is
//! none of them.
//!
//! A DNS-rebinding page points its own name at 127.0.0.1, so the browser treats the emulator as
//! that page's origin and sends `Host: evil.example:5055` (with a matching `Origin`, or none at
//! all on a same-origin GET). Only the `Host` tells such a request apart, so everything that acts
//! without a credential (the control API without an admin token, the console, `/authorize` with
//! `login_hint`) requires an admitted `Host`, and nothing the emulator publishes as its own
//! address (`@odata.context`, `Location`, the OpenID configuration) echoes one that is not.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

/// The admitted names and the emulator's own addresses.
#[derive(Debug, Default)]
pub struct HostPolicy {
    ips: Vec<IpAddr>,
    /// Lower-cased DNS names.
    names: Vec<String>,
    /// `host:port` of the HTTP and HTTPS listeners, known once they are bound.
    own_http: OnceLock<String>,
    own_https: OnceLock<String>,
}

/// The flag that admits a name, for messages.
pub const ALLOWED_HOST_FLAG: &str = "--allowed-host (or EMULATOR_ALLOWED_HOSTS)";

impl HostPolicy {
    /// Admits loopback plus `extra`: names or addresses, each with an optional port (ignored),
    /// IPv6 with or without brackets. Unspecified addresses (`0.0.0.0`, `::`) admit nothing.
    pub fn new<S: AsRef<str>>(extra: impl IntoIterator<Item = S>) -> Result<Self, String> {
        let mut policy = HostPolicy::default();
        for raw in extra {
            let raw = raw.as_ref().trim();
            if raw.is_empty() {
                continue;
            }
            match parse_name(raw) {
                Some(Name::Ip(ip)) if ip.is_unspecified() => {}
                Some(Name::Ip(ip)) => policy.ips.push(ip),
                Some(Name::Dns(name)) => policy.names.push(name.to_ascii_lowercase()),
                None => {
                    return Err(format!(
                        "'{raw}' is not a host name or address (like emulator, emulator:5055 or 10.0.0.5)"
                    ));
                }
            }
        }
        Ok(policy)
    }

    /// Records where a listener is bound: what the emulator calls itself when a request's
    /// `Host` is not admitted. An unspecified bind (`0.0.0.0`) names the loopback address.
    pub fn set_own(&self, https: bool, addr: SocketAddr) {
        let ip = match addr.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let shown = SocketAddr::new(ip, addr.port()).to_string();
        let _ = if https {
            self.own_https.set(shown)
        } else {
            self.own_http.set(shown)
        };
    }

    /// `host:port` the emulator names itself by (`localhost` before a listener is bound, as
    /// when the router is driven without a socket).
    pub fn own(&self, https: bool) -> &str {
        let chosen = if https {
            self.own_https.get().or(self.own_http.get())
        } else {
            self.own_http.get()
        };
        chosen.map_or("localhost", String::as_str)
    }

    /// Whether a `Host` value (`name[:port]`, `[v6][:port]`) is one the emulator answers as
    /// itself. Any port: the name is what a rebinding page cannot choose.
    pub fn admits(&self, host: &str) -> bool {
        match parse_name(host) {
            Some(Name::Ip(ip)) => ip.is_loopback() || self.ips.contains(&ip),
            Some(Name::Dns(name)) => {
                name.eq_ignore_ascii_case("localhost")
                    || self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
            }
            None => false,
        }
    }

    /// Whether a request names an admitted host: its `Host` header (exactly one) and, in an
    /// absolute-form request line, the URI's authority, which a server must prefer (RFC 9112
    /// §3.2.2). `Err` carries the name refused (`None` when there is none to show).
    pub fn check(
        &self,
        headers: &axum::http::HeaderMap,
        uri: &axum::http::Uri,
    ) -> Result<(), Option<String>> {
        let mut named = false;
        let mut all = headers.get_all(axum::http::header::HOST).iter();
        if let Some(value) = all.next() {
            named = true;
            match value.to_str() {
                Ok(host) if all.next().is_none() && self.admits(host) => {}
                Ok(host) => return Err(Some(host.to_string())),
                Err(_) => return Err(None),
            }
        }
        if let Some(authority) = uri.authority() {
            named = true;
            if !self.admits(authority.as_str()) {
                return Err(Some(authority.as_str().to_string()));
            }
        }
        if named { Ok(()) } else { Err(None) }
    }

    /// The refusal text for a `Host` that is not admitted, naming the flag that admits it.
    pub fn refusal(&self, host: Option<&str>, what: &str, or_else: &str) -> String {
        let shown = host.and_then(parse_name).map(|n| match n {
            Name::Ip(IpAddr::V6(v6)) => format!("[{v6}]"),
            Name::Ip(ip) => ip.to_string(),
            Name::Dns(name) => name.to_string(),
        });
        match shown {
            Some(name) => format!(
                "Host '{name}' does not name this emulator, and {what} answer only to names that \
                 do: loopback (localhost, 127.0.0.1, [::1]), the address it is bound to, and \
                 names given with --tls-name or {ALLOWED_HOST_FLAG} (a page whose own name was \
                 rebound to this address sends that name). To admit it, start with \
                 --allowed-host {name}{or_else}."
            ),
            None => format!(
                "The request has no Host header naming anything, and {what} answer only to one \
                 naming this emulator (localhost, 127.0.0.1, [::1], the address it is bound to, \
                 or a name given with --tls-name or {ALLOWED_HOST_FLAG}){or_else}."
            ),
        }
    }
}

enum Name<'a> {
    Ip(IpAddr),
    Dns(&'a str),
}

/// `name[:port]` or `[v6][:port]` (or a bare IPv6 address, as a user may write one); `None`
/// for anything else, so a malformed `Host` is never admitted.
fn parse_name(text: &str) -> Option<Name<'_>> {
    let port_ok = |p: &str| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let ip: std::net::Ipv6Addr = inside.parse().ok()?;
        return match after {
            "" => Some(Name::Ip(IpAddr::V6(ip))),
            _ => after
                .strip_prefix(':')
                .filter(|p| port_ok(p))
                .map(|_| Name::Ip(IpAddr::V6(ip))),
        };
    }
    if text.bytes().filter(|b| *b == b':').count() > 1 {
        return text.parse().ok().map(|ip| Name::Ip(IpAddr::V6(ip)));
    }
    let name = match text.split_once(':') {
        Some((name, port)) if port_ok(port) => name,
        Some(_) => return None,
        None => text,
    };
    if let Ok(ip) = name.parse::<std::net::Ipv4Addr>() {
        return Some(Name::Ip(IpAddr::V4(ip)));
    }
    // A DNS name: labels of letters, digits, '-' and '_' (as some container names have).
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then_some(Name::Dns(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_spellings_are_admitted_on_any_port() {
        let policy = HostPolicy::new(Vec::<String>::new()).unwrap();
        for host in [
            "localhost",
            "LOCALHOST:5055",
            "127.0.0.1",
            "127.0.0.1:1",
            "127.8.9.10:5055",
            "[::1]",
            "[::1]:5443",
        ] {
            assert!(policy.admits(host), "{host}");
        }
        for host in [
            "evil.example:5055",
            "localhost.evil.example",
            "evil.localhost",
            "localhost:x",
            "localhost:5055:1",
            "[::1",
            "[::1]x",
            "10.0.0.5",
            "0.0.0.0:5055",
            "localhost/x",
            "",
        ] {
            assert!(!policy.admits(host), "{host}");
        }
    }

    #[test]
    fn added_names_and_addresses_are_admitted() {
        let policy = HostPolicy::new(["Emulator", "10.0.0.5:5055", "fd00::1", "0.0.0.0"]).unwrap();
        assert!(policy.admits("emulator:5055"));
        assert!(policy.admits("EMULATOR"));
        assert!(policy.admits("10.0.0.5:80"));
        assert!(policy.admits("[fd00:0::1]:5055"));
        assert!(!policy.admits("0.0.0.0:5055"));
        assert!(!policy.admits("emulator.evil"));
        assert!(HostPolicy::new(["http://x"]).is_err());
        assert!(HostPolicy::new(["a b"]).is_err());
    }

    #[test]
    fn the_own_address_replaces_an_unspecified_bind() {
        let policy = HostPolicy::default();
        assert_eq!(policy.own(false), "localhost");
        policy.set_own(false, "0.0.0.0:5055".parse().unwrap());
        assert_eq!(policy.own(true), "127.0.0.1:5055");
        policy.set_own(true, "[::]:5443".parse().unwrap());
        assert_eq!(policy.own(false), "127.0.0.1:5055");
        assert_eq!(policy.own(true), "[::1]:5443");
    }
}
