//! entitlement-emulator: a local, deterministic, in-memory emulator of the Microsoft Graph
//! entitlement-management API (`/identityGovernance/entitlementManagement/**`, v1.0 and beta).
//!
//! Crate map:
//! - [`emulator`]: start one in-process ([`Emulator::builder`]) or from the binary.
//! - [`http`]: the thin HTTP layer — path resolution, Graph's envelope, the control API.
//! - [`ops`]: domain operations over a tenant's state; no HTTP types, unit-testable.
//! - [`authz`]: the one table of operations and the permissions they need.
//! - [`auth`]: bearer tokens to callers; the signing key; the token service (`auth::sts`).
//! - [`serve`]: the accept loop every listener shares: connection cap, timeouts, shutdown.
//! - [`tls`]: the HTTPS handshake and its test certificate authority.
//! - [`cassette`]: record real Graph through a redacting proxy, replay it, verify the emulator.
//! - [`store`], [`model`]: tenants, entities, and their v1.0 / beta wire shapes.
//! - [`fixtures`]: tenant descriptions in JSON; the default one is compiled in.
//! - [`error`]: the one error enum that knows each Graph code, status and message.
//! - [`files`]: writing secret files (keys) owner-only.
//! - [`clock`], [`ids`]: injectable time and identity, for byte-identical reruns.
//! - [`sizes`]: approximate sizes of what is kept between requests, for the byte caps.

pub mod auth;
pub mod authz;
pub mod cassette;
pub mod clock;
pub mod emulator;
pub mod error;
pub mod files;
pub mod fixtures;
pub mod http;
pub mod ids;
pub mod model;
pub mod odata;
pub mod ops;
pub mod serve;
pub mod sizes;
pub mod store;
pub mod tls;

pub use emulator::{ClockChoice, ControlApi, Emulator, EmulatorBuilder, StartError};
pub use error::GraphError;
