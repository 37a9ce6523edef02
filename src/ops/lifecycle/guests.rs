//! Governed guests: blocked, then deleted, when their last assignment ends; restored by new access.

use super::*;

// ---- governed guests ----

/// When a governed guest's last assignment ends, the tenant's `settings` decide what happens:
/// block sign-in, and with `blockSignInAndDelete` delete the user after
/// `durationUntilExternalUserDeletedAfterBlocked` on the clock (issue decision;
/// https://learn.microsoft.com/graph/api/resources/entitlementmanagementsettings?view=graph-rest-1.0).
pub(super) fn retire_guest(state: &mut TenantState, user: &Uuid, now: Timestamp) {
    use crate::model::org::ExternalUserLifecycleAction as Action;
    let governed_guest = state.directory.users.get(user).is_some_and(|u| {
        u.user_type == UserType::Guest
            && state
                .subject_lifecycle
                .get(user)
                .is_none_or(|l| *l == "governed")
    });
    // Only a governed guest needs the scan of every assignment (members never retire), so a
    // removal or expiry of a member's assignment costs nothing here.
    if !governed_guest
        || state
            .assignments
            .iter()
            .any(|a| a.target == *user && a.state != AssignmentState::Expired)
    {
        return;
    }
    let action = state.settings.external_user_lifecycle_action;
    if action == Action::None {
        return;
    }
    if let Some(u) = state.directory.users.get_mut(user) {
        u.account_enabled = false;
    }
    if action == Action::BlockSignInAndDelete {
        let days = state
            .settings
            .days_until_external_user_deleted
            .clamp(0, i64::from(u32::MAX)) as u32;
        state
            .guest_deletions
            .insert(*user, now.plus(DAY.saturating_mul(days)));
    }
}

/// A guest who gets access again signs in again and is no longer due for deletion [inf].
pub(super) fn restore_guest(state: &mut TenantState, user: &Uuid) {
    if state.guest_deletions.remove(user).is_some()
        || state
            .directory
            .users
            .get(user)
            .is_some_and(|u| u.user_type == UserType::Guest && !u.account_enabled)
    {
        if let Some(u) = state.directory.users.get_mut(user) {
            u.account_enabled = true;
        }
    }
}

pub(super) fn delete_due_guests(state: &mut TenantState, now: Timestamp) {
    let mut due: Vec<Uuid> = state
        .guest_deletions
        .iter()
        .filter(|(_, at)| **at <= now)
        .map(|(u, _)| *u)
        .collect();
    if due.is_empty() {
        return;
    }
    due.sort();
    for user in due {
        state.guest_deletions.remove(&user);
        state.directory.users.remove(&user);
    }
    state.directory.reindex();
}
