//! Domain operations: plain Rust over `TenantState`, never HTTP types. Each operation finds what
//! it acts on, applies the authorization table, validates, and changes state only once every
//! check has passed, so a refused request leaves the tenant untouched.

pub mod access_package;
pub mod catalog;
pub mod extension;
pub mod lifecycle;
pub mod my_access;
pub mod org;
pub mod policy;
pub mod resource;
pub mod role;

use crate::auth::Caller;
use crate::clock::Timestamp;

/// What every operation knows about the request besides its input.
#[derive(Debug, Clone, Copy)]
pub struct OpCtx<'a> {
    pub caller: &'a Caller,
    pub now: Timestamp,
}

/// A listing's rows with their insertion sequence numbers (for paging), in order.
pub type Rows<'s, T> = Box<dyn Iterator<Item = (u64, &'s T)> + 's>;

/// A value a PATCH may set, clear (JSON `null`), or leave alone (absent).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Set(T),
}
