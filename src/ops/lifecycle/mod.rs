//! The governance lifecycle as a state machine driven by requests and by the clock
//! (https://learn.microsoft.com/graph/api/resources/accesspackageassignmentrequest?view=graph-rest-1.0
//! and https://learn.microsoft.com/entra/id-governance/entitlement-management-process):
//! assignment requests, approvals, assignments, and their effect on the emulated directory.
//!
//! Progression: a request is answered `submitted`/`Accepted` and processed by the next call to
//! the tenant (`process_due`), so "my code requests access and then reads it delivered" works
//! without sleeps. Approval deadlines and assignment expirations fire when the clock passes them,
//! checked on every call and on every clock change — never by a background timer.
//!
//! One file per concept: `refusals`, `eligibility`, `submit`, `processing`, `held`, `outbox`, `guests`, `subjects`, `seeding`, `expiry`, `reads`, `writes`, `approvals`.

use serde_json::Value;
use uuid::Uuid;

use super::{OpCtx, Rows};
use crate::auth::CallerKind;
use crate::authz::{self, Access, Grant, Operation};
use crate::clock::Timestamp;
use crate::error::GraphError;
use crate::model::directory::{User, UserType};
use crate::model::lifecycle::{
    Assignment, AssignmentState, DeliveryOutcome, Request, RequestState, RequestType, Schedule,
    StageState,
};
use crate::model::policy::{
    Expiration, ExpirationKind, Policy, SubjectKind, SubjectSet, TargetScope, duration_days,
};
use crate::store::TenantState;

mod approvals;
mod eligibility;
mod expiry;
mod guests;
mod held;
mod outbox;
mod processing;
mod reads;
mod refusals;
mod seeding;
mod subjects;
mod submit;
#[cfg(test)]
mod tests;
mod writes;

pub use approvals::*;
pub use eligibility::*;
pub use expiry::*;
use guests::*;
pub use held::*;
pub use outbox::*;
pub use processing::*;
pub use reads::*;
pub use refusals::*;
pub use seeding::*;
pub use subjects::*;
pub use submit::*;
pub use writes::*;

/// Runs due work if any: called before every Graph call to the tenant and after clock changes.
/// The check is O(1); the work runs under the write lock.
pub fn settle(tenant: &crate::store::Tenant, now: Timestamp) {
    let due = tenant.read(|s| s.work_pending || s.next_due.is_some_and(|d| d <= now));
    if due {
        tenant.write(|s| {
            process_due(s, now);
            s.next_due = next_deadline(s);
        });
    }
}
