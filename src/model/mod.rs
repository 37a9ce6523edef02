//! The emulator's data: storage primitive, directory, and entitlement-management entities.

pub mod cache;
pub mod caller;
pub mod directory;
pub mod em;
pub mod extension;
pub mod interned;
pub mod lifecycle;
pub mod org;
pub mod policy;
pub mod queryable;
pub mod resources;
pub mod table;

pub use em::ApiVersion;
