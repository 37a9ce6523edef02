//! Subjects (`accessPackageSubject`): reading one and setting its lifecycle.

use super::*;

// ---- subjects ----

/// The subject behind a user, if entitlement management knows them: they have requested or been
/// assigned something [inf]. Returns the user and their `subjectLifecycle`.
pub fn subject<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    user: &Uuid,
    access: Access,
) -> Result<(&'s User, &'static str), GraphError> {
    let op = match access {
        Access::Read => Operation::ReadTenantObjects,
        _ => Operation::ManageTenantObjects,
    };
    authz::authorize(ctx.caller, op, state)?;
    let known = state.assignments.iter().any(|a| a.target == *user)
        || state.requests.iter().any(|r| r.target == *user);
    let u = state
        .directory
        .users
        .get(user)
        .filter(|_| known)
        .ok_or(GraphError::ResourceNotFound)?;
    // Guests brought in by entitlement management are governed by it
    // (https://learn.microsoft.com/graph/api/accesspackagesubject-get?view=graph-rest-1.0)
    // [inf default].
    let default = if u.user_type == UserType::Guest {
        "governed"
    } else {
        "notDefined"
    };
    Ok((
        u,
        state
            .subject_lifecycle
            .get(user)
            .copied()
            .unwrap_or(default),
    ))
}

/// `PATCH subjects(objectId=…)`: only `subjectLifecycle`
/// (https://learn.microsoft.com/graph/api/accesspackagesubject-update?view=graph-rest-1.0).
pub fn set_subject_lifecycle(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    user: &Uuid,
    value: &str,
) -> Result<(), GraphError> {
    subject(state, ctx, user, Access::Write)?;
    let value = ["notDefined", "notGoverned", "governed"]
        .into_iter()
        .find(|v| v.eq_ignore_ascii_case(value))
        .ok_or_else(|| GraphError::invalid_model(format!("'{value}' is not a subjectLifecycle")))?;
    state.subject_lifecycle.insert(*user, value);
    Ok(())
}
