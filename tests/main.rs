//! Integration tests: each test starts its own emulator over TCP (seed 1, fixed clock) and drives
//! it with a real HTTP client. Response shapes are insta snapshots in the top-level `snapshots/`.

#![allow(unreachable_pub, clippy::unwrap_used)]

mod common;

mod access_packages;
mod architecture;
mod auth;
mod batch;
mod cassettes;
mod catalogs;
mod connections;
mod control;
mod determinism;
mod errors;
mod extensions;
mod fixtures;
mod hardening_control;
mod identity;
mod lifecycle;
mod my_access;
mod odata;
mod organizations;
mod policies;
mod resources;
mod robustness;
mod roles;
