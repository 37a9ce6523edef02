//! Who is calling: bearer-token verification into a `Caller` (signature, lifetime, audience,
//! issuer and tenant:
//! https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference;
//! the 401s are listed in docs/PARITY.md), the signing key, and minting tokens
//! for fixture personas.

mod caller;
pub mod keys;
pub mod sts;
pub mod token;

pub use crate::model::caller::{Caller, CallerKind};
pub use caller::{TokenCache, authenticate};

/// How strictly Graph routes check callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuthMode {
    /// Every Graph route needs a bearer token whose claims pass Graph's checks.
    #[default]
    Enforce,
    /// No token needed; the caller is treated as a Global Administrator app of the tenant.
    Off,
    /// Checked as `enforce`, but every refusal of the token or of the permission/role table
    /// is only recorded (journal `decisions`, log) and the call goes through.
    Soft,
}

pub use crate::model::caller::permissions;

/// Graph's application id, one of the audiences Graph accepts.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
