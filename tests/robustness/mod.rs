//! Robustness, one file per attack class: the fuzzer (its generators in `strategies`), parallel
//! writers, and exact limits and fatal inputs. Random well-formed requests never crash the
//! emulator, never answer 5xx (501 aside), answer every error in Graph's envelope and leave the
//! store unchanged when refused; parallel writers keep the store consistent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entitlement_emulator::http::DEFAULT_BODY_LIMIT;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::common::*;

mod fuzz;
mod limits;
mod strategies;
mod writers;

use fuzz::*;
use strategies::*;
