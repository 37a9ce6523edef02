//! Access packages: list, read, create, update, delete, and beta `moveToCatalog`
//! (https://learn.microsoft.com/graph/api/resources/accesspackage?view=graph-rest-1.0,
//! its beta view,
//! and https://learn.microsoft.com/graph/api/accesspackage-movetocatalog?view=graph-rest-beta).

use uuid::Uuid;

use super::{OpCtx, Patch, Rows};
use crate::authz::{self, Access, Grant, Operation};
use crate::error::GraphError;
use crate::model::em::AccessPackage;
use crate::store::TenantState;

#[derive(Debug, Clone, Default)]
pub struct NewAccessPackage {
    pub catalog_id: Uuid,
    pub display_name: String,
    pub description: Option<String>,
    pub is_hidden: Option<bool>,
    pub is_role_scopes_visible: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct AccessPackagePatch {
    pub display_name: Patch<String>,
    pub description: Patch<Option<String>>,
    pub is_hidden: Patch<bool>,
    pub is_role_scopes_visible: Patch<bool>,
    /// A catalog the body names (v1.0 `catalog: {id}`, beta `catalogId`): PATCH cannot change it
    /// (the update page lists only `displayName`, `description`, `isHidden`:
    /// https://learn.microsoft.com/graph/api/accesspackage-update?view=graph-rest-1.0),
    /// but naming the current one is harmless.
    pub catalog: Option<Uuid>,
}

/// "All the access packages that the caller has access to read, across all catalogs"
/// (https://learn.microsoft.com/graph/api/entitlementmanagement-list-accesspackages?view=graph-rest-1.0).
pub fn list<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
) -> Result<Rows<'s, AccessPackage>, GraphError> {
    Ok(
        match authz::authorize(ctx.caller, Operation::ListAccessPackages, state)? {
            Grant::Tenant => Box::new(state.access_packages().range_after(None)),
            Grant::Catalogs(catalogs) => {
                Box::new(state.packages_in_catalogs(&catalogs).into_iter())
            }
        },
    )
}

fn find<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    access: Access,
) -> Result<&'s AccessPackage, GraphError> {
    state
        .access_package(id)
        .ok_or_else(|| authz::missing(ctx.caller, access, state))
}

pub fn get<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<&'s AccessPackage, GraphError> {
    let package = find(state, ctx, id, Access::Read)?;
    authz::authorize(
        ctx.caller,
        Operation::ReadAccessPackage {
            catalog: package.catalog_id,
        },
        state,
    )?;
    Ok(package)
}

pub fn create(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    new: NewAccessPackage,
) -> Result<AccessPackage, GraphError> {
    // An unknown catalog is "the resource was not found" for those who could see it [inf].
    if !state.catalogs.contains(&new.catalog_id) {
        return Err(authz::missing(ctx.caller, Access::Write, state));
    }
    authz::authorize(
        ctx.caller,
        Operation::CreateAccessPackage {
            catalog: new.catalog_id,
        },
        state,
    )?;
    let package = AccessPackage {
        id: state.next_id(),
        catalog_id: new.catalog_id,
        role_scopes: Vec::new(),
        incompatible_packages: Vec::new(),
        incompatible_groups: Vec::new(),
        display_name: new.display_name,
        description: new.description,
        // Server defaults, as the create examples show them:
        // https://learn.microsoft.com/graph/api/entitlementmanagement-post-accesspackages?view=graph-rest-1.0,
        // https://learn.microsoft.com/graph/api/accesspackage-post?view=graph-rest-beta.
        is_hidden: new.is_hidden.unwrap_or(false),
        is_role_scopes_visible: new.is_role_scopes_visible.unwrap_or(false),
        created: ctx.now,
        modified: ctx.now,
        created_by: ctx.caller.actor.clone(),
        modified_by: ctx.caller.actor.clone(),
        listing_json: Default::default(),
    };
    state.insert_access_package(package.clone());
    Ok(package)
}

pub fn update(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    patch: AccessPackagePatch,
) -> Result<(), GraphError> {
    let catalog = find(state, ctx, id, Access::Write)?.catalog_id;
    authz::authorize(
        ctx.caller,
        Operation::UpdateAccessPackage { catalog },
        state,
    )?;
    if patch.catalog.is_some_and(|named| named != catalog) {
        return Err(GraphError::invalid_model(
            "an access package's catalog cannot be changed by PATCH (beta: use moveToCatalog)",
        ));
    }
    let Some(package) = state.access_package_mut(id) else {
        return Err(GraphError::ResourceNotFound);
    };
    if let Patch::Set(v) = patch.display_name {
        package.display_name = v;
    }
    if let Patch::Set(v) = patch.description {
        package.description = v;
    }
    if let Patch::Set(v) = patch.is_hidden {
        package.is_hidden = v;
    }
    if let Patch::Set(v) = patch.is_role_scopes_visible {
        package.is_role_scopes_visible = v;
    }
    package.modified = ctx.now;
    package.modified_by = ctx.caller.actor.clone();
    Ok(())
}

pub fn delete(state: &mut TenantState, ctx: &OpCtx<'_>, id: &Uuid) -> Result<(), GraphError> {
    let catalog = find(state, ctx, id, Access::Write)?.catalog_id;
    authz::authorize(
        ctx.caller,
        Operation::DeleteAccessPackage { catalog },
        state,
    )?;
    // "You cannot delete an access package if it has any accessPackageAssignment"
    // (https://learn.microsoft.com/graph/api/accesspackage-delete?view=graph-rest-1.0); by
    // default ended ones no longer count [inf], `packageDeletionGuard` makes them count.
    let any = state.package_deletion_guard
        == crate::model::lifecycle::PackageDeletionGuard::AnyAssignment;
    let live = state.assignments.iter().any(|a| {
        a.access_package_id == *id
            && (any || a.state != crate::model::lifecycle::AssignmentState::Expired)
    });
    if live {
        return Err(GraphError::Refused {
            code: "AccessPackageHasAssignments",
            message: "The access package cannot be deleted because it has assignments.".into(),
        });
    }
    state.remove_access_package(id);
    Ok(())
}

/// beta `moveToCatalog`: "The resources in the access package must be present in the target
/// catalog" — trivially true until resources exist.
pub fn move_to_catalog(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    target: Uuid,
) -> Result<(), GraphError> {
    let from = find(state, ctx, id, Access::Write)?.catalog_id;
    if !state.catalogs.contains(&target) {
        return Err(authz::missing(ctx.caller, Access::Write, state));
    }
    authz::authorize(
        ctx.caller,
        Operation::MoveAccessPackage { from, to: target },
        state,
    )?;
    if from != target {
        state.move_access_package(id, target);
        if let Some(package) = state.access_package_mut(id) {
            package.modified = ctx.now;
            package.modified_by = ctx.caller.actor.clone();
        }
    }
    Ok(())
}

/// Which incompatibility list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incompatible {
    Packages,
    Groups,
}

/// The packages this one is incompatible with (`incompatibleAccessPackages`).
pub fn incompatible_packages<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<Rows<'s, AccessPackage>, GraphError> {
    let package = get(state, ctx, id)?;
    let mut rows: Vec<(u64, &AccessPackage)> = package
        .incompatible_packages
        .iter()
        .filter_map(|o| Some((state.access_packages().seq_of(o)?, state.access_package(o)?)))
        .collect();
    rows.sort_by_key(|r| r.0);
    Ok(Box::new(rows.into_iter()))
}

/// The packages that list this one (`accessPackagesIncompatibleWith`, read-only).
pub fn incompatible_with<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<Rows<'s, AccessPackage>, GraphError> {
    get(state, ctx, id)?;
    let mut rows: Vec<(u64, &AccessPackage)> = state
        .incompatible_referrers(id)
        .iter()
        .filter_map(|o| Some((state.access_packages().seq_of(o)?, state.access_package(o)?)))
        .collect();
    rows.sort_by_key(|r| r.0);
    Ok(Box::new(rows.into_iter()))
}

pub fn incompatible_groups<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<Rows<'s, crate::model::directory::Group>, GraphError> {
    let package = get(state, ctx, id)?;
    let groups = &state.directory.groups;
    let mut rows: Vec<_> = package
        .incompatible_groups
        .iter()
        .filter_map(|g| Some((groups.seq_of(g)?, groups.get(g)?)))
        .collect();
    rows.sort_by_key(|r| r.0);
    Ok(Box::new(rows.into_iter()))
}

/// `POST …/$ref`: an existing package (not itself) or group.
pub fn add_incompatible(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    which: Incompatible,
    other: Uuid,
) -> Result<(), GraphError> {
    let catalog = find(state, ctx, id, Access::Write)?.catalog_id;
    authz::authorize(
        ctx.caller,
        Operation::ManageIncompatibilities { catalog },
        state,
    )?;
    let exists = match which {
        Incompatible::Packages => state.access_package(&other).is_some(),
        Incompatible::Groups => state.directory.groups.contains(&other),
    };
    if !exists {
        return Err(GraphError::ResourceNotFound);
    }
    if which == Incompatible::Packages && other == *id {
        return Err(GraphError::invalid_model(
            "an access package cannot be incompatible with itself",
        ));
    }
    if which == Incompatible::Packages {
        state.mark_incompatible(id, &other);
        return Ok(());
    }
    let Some(package) = state.access_package_mut(id) else {
        return Err(GraphError::ResourceNotFound);
    };
    if !package.incompatible_groups.contains(&other) {
        package.incompatible_groups.push(other);
    }
    Ok(())
}

pub fn remove_incompatible(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    which: Incompatible,
    other: &Uuid,
) -> Result<(), GraphError> {
    let catalog = find(state, ctx, id, Access::Write)?.catalog_id;
    authz::authorize(
        ctx.caller,
        Operation::ManageIncompatibilities { catalog },
        state,
    )?;
    if which == Incompatible::Packages {
        return if state.unmark_incompatible(id, other) {
            Ok(())
        } else {
            Err(GraphError::ResourceNotFound)
        };
    }
    let Some(package) = state.access_package_mut(id) else {
        return Err(GraphError::ResourceNotFound);
    };
    let before = package.incompatible_groups.len();
    package.incompatible_groups.retain(|x| x != other);
    if package.incompatible_groups.len() == before {
        return Err(GraphError::ResourceNotFound);
    }
    Ok(())
}
