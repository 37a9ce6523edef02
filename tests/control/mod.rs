//! The control API, one file per concern: basics (health, tokens, reset, state, access), the journal,
//! tenants and snapshots, faults.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

mod basics;
mod faults;
mod journal;
mod tenants;
