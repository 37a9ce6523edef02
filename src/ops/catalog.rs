//! Catalogs: list, read, create, update, delete
//! (https://learn.microsoft.com/graph/api/resources/accesspackagecatalog?view=graph-rest-1.0).

use uuid::Uuid;

use super::{OpCtx, Patch, Rows};
use crate::authz::{self, Access, CATALOG_OWNER, Grant, Operation};
use crate::error::GraphError;
use crate::model::em::{
    AccessPackage, AppScope, Catalog, CatalogState, CatalogType, EmRoleAssignment,
};
use crate::store::TenantState;

#[derive(Debug, Clone, Default)]
pub struct NewCatalog {
    pub display_name: String,
    pub description: Option<String>,
    pub state: Option<CatalogState>,
    pub is_externally_visible: Option<bool>,
    pub catalog_type: Option<CatalogType>,
}

#[derive(Debug, Clone, Default)]
pub struct CatalogPatch {
    pub display_name: Patch<String>,
    pub description: Patch<Option<String>>,
    pub state: Patch<CatalogState>,
    pub is_externally_visible: Patch<bool>,
    pub catalog_type: Patch<CatalogType>,
}

/// Whether API-created catalogs are visible to external users when the body does not say.
/// Not documented; the portal's default is "Yes" [inf].
pub const DEFAULT_EXTERNALLY_VISIBLE: bool = true;

pub fn list<'s>(state: &'s TenantState, ctx: &OpCtx<'_>) -> Result<Rows<'s, Catalog>, GraphError> {
    Ok(
        match authz::authorize(ctx.caller, Operation::ListCatalogs, state)? {
            Grant::Tenant => Box::new(state.catalogs.range_after(None)),
            Grant::Catalogs(ids) => {
                let mut seqs: Vec<u64> = ids
                    .iter()
                    .filter_map(|id| state.catalogs.seq_of(id))
                    .collect();
                seqs.sort_unstable();
                Box::new(
                    seqs.into_iter()
                        .filter_map(|seq| state.catalogs.get_by_seq(seq).map(|c| (seq, c))),
                )
            }
        },
    )
}

/// Finds a catalog the caller may read.
pub fn get<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<&'s Catalog, GraphError> {
    let catalog = state
        .catalogs
        .get(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Read, state))?;
    authz::authorize(ctx.caller, Operation::ReadCatalog { catalog: *id }, state)?;
    Ok(catalog)
}

/// The packages of one catalog (the contained `accessPackages` navigation).
pub fn list_packages<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<Rows<'s, AccessPackage>, GraphError> {
    get(state, ctx, id)?;
    Ok(Box::new(state.packages_in_catalog_seq(id)))
}

fn user_managed_only(t: CatalogType) -> Result<CatalogType, GraphError> {
    match t {
        CatalogType::UserManaged => Ok(t),
        // Service-owned catalog types are the service's to set [inf].
        other => Err(GraphError::invalid_model(format!(
            "catalogType '{other:?}' can not be set by a client; only userManaged catalogs can be created"
        ))),
    }
}

pub fn create(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    new: NewCatalog,
) -> Result<Catalog, GraphError> {
    authz::authorize(ctx.caller, Operation::CreateCatalog, state)?;
    let catalog_type = user_managed_only(new.catalog_type.unwrap_or(CatalogType::UserManaged))?;
    let catalog = Catalog {
        id: state.next_id(),
        display_name: new.display_name,
        description: new.description,
        catalog_type,
        state: new.state.unwrap_or(CatalogState::Published),
        is_externally_visible: new
            .is_externally_visible
            .unwrap_or(DEFAULT_EXTERNALLY_VISIBLE),
        created: ctx.now,
        modified: ctx.now,
        created_by: ctx.caller.actor.clone(),
        modified_by: ctx.caller.actor.clone(),
    };
    state.catalogs.insert(catalog.clone());
    // "The creating user becomes the first Catalog owner"
    // (https://learn.microsoft.com/entra/id-governance/entitlement-management-catalog-create).
    if let Some(principal) = ctx
        .caller
        .object_id
        .filter(|p| state.directory.principal_exists(p))
    {
        let assignment = EmRoleAssignment {
            id: state.next_id(),
            principal_id: principal,
            role_definition_id: CATALOG_OWNER,
            scope: AppScope::Catalog(catalog.id),
        };
        state.insert_role_assignment(assignment);
    }
    Ok(catalog)
}

pub fn update(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    patch: CatalogPatch,
) -> Result<(), GraphError> {
    let current = state
        .catalogs
        .get(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Write, state))?;
    authz::authorize(ctx.caller, Operation::UpdateCatalog { catalog: *id }, state)?;
    if current.is_default() {
        if let Patch::Set(name) = &patch.display_name {
            if *name != current.display_name {
                return Err(GraphError::DefaultCatalogImmutable(
                    current.display_name.clone(),
                ));
            }
        }
    }
    if let Patch::Set(t) = patch.catalog_type {
        if t != current.catalog_type {
            user_managed_only(t)?;
            if current.is_default() {
                return Err(GraphError::DefaultCatalogImmutable(
                    current.display_name.clone(),
                ));
            }
        }
    }
    let Some(catalog) = state.catalogs.get_mut(id) else {
        return Err(GraphError::ResourceNotFound);
    };
    if let Patch::Set(v) = patch.display_name {
        catalog.display_name = v;
    }
    if let Patch::Set(v) = patch.description {
        catalog.description = v;
    }
    if let Patch::Set(v) = patch.state {
        catalog.state = v;
    }
    if let Patch::Set(v) = patch.is_externally_visible {
        catalog.is_externally_visible = v;
    }
    if let Patch::Set(v) = patch.catalog_type {
        catalog.catalog_type = v;
    }
    catalog.modified = ctx.now;
    catalog.modified_by = ctx.caller.actor.clone();
    Ok(())
}

pub fn delete(state: &mut TenantState, ctx: &OpCtx<'_>, id: &Uuid) -> Result<(), GraphError> {
    let current = state
        .catalogs
        .get(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Write, state))?;
    authz::authorize(ctx.caller, Operation::DeleteCatalog { catalog: *id }, state)?;
    if current.is_default() {
        return Err(GraphError::DefaultCatalogImmutable(
            current.display_name.clone(),
        ));
    }
    // "A catalog can be deleted only if it doesn't have any access packages"
    // (https://learn.microsoft.com/entra/id-governance/entitlement-management-catalog-create).
    if state.catalog_package_count(id) > 0 {
        return Err(GraphError::CatalogHasAccessPackages(
            current.display_name.clone(),
        ));
    }
    state.catalogs.remove(id);
    // Its resources and extensions go with it: nothing else can reference them once no package
    // remains.
    let resources: Vec<Uuid> = state
        .resources()
        .iter()
        .filter(|r| r.catalog_id == *id)
        .map(|r| r.id)
        .collect();
    for r in resources {
        state.remove_resource(&r);
    }
    let extensions: Vec<Uuid> = state
        .extensions
        .iter()
        .filter(|x| x.catalog_id == *id)
        .map(|x| x.id)
        .collect();
    for x in extensions {
        state.extensions.remove(&x);
    }
    state.remove_role_assignments_for(AppScope::Catalog(*id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Caller;
    use crate::clock::Timestamp;
    use crate::fixtures::FixtureSource;
    use crate::ids::IdSource;

    fn setup() -> (TenantState, Caller, Timestamp) {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let state = FixtureSource::EmbeddedDefault
            .load()
            .unwrap()
            .build_state(IdSource::Seeded(3).generator(1), now);
        let tenant = state.info.id;
        (state, Caller::unauthenticated(tenant), now)
    }

    #[test]
    fn create_applies_defaults_and_refuses_service_types() {
        let (mut s, caller, now) = setup();
        let ctx = OpCtx {
            caller: &caller,
            now,
        };
        let c = create(
            &mut s,
            &ctx,
            NewCatalog {
                display_name: "x".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (c.catalog_type, c.state, c.is_externally_visible),
            (CatalogType::UserManaged, CatalogState::Published, true)
        );
        let refused = create(
            &mut s,
            &ctx,
            NewCatalog {
                display_name: "y".into(),
                catalog_type: Some(CatalogType::ServiceManaged),
                ..Default::default()
            },
        );
        assert!(matches!(refused, Err(GraphError::InvalidModel { .. })));
        assert_eq!(s.catalogs.len(), 3, "the refused create added nothing");
    }

    #[test]
    fn delete_requires_an_empty_non_default_catalog() {
        let (mut s, caller, now) = setup();
        let ctx = OpCtx {
            caller: &caller,
            now,
        };
        let marketing = Uuid::parse_str("50000000-0000-4000-8000-000000000002").unwrap();
        let general = s.default_catalog().unwrap().id;
        assert!(matches!(
            delete(&mut s, &ctx, &marketing),
            Err(GraphError::CatalogHasAccessPackages(_))
        ));
        assert!(matches!(
            delete(&mut s, &ctx, &general),
            Err(GraphError::DefaultCatalogImmutable(_))
        ));
        let package = Uuid::parse_str("60000000-0000-4000-8000-000000000002").unwrap();
        s.remove_access_package(&package);
        delete(&mut s, &ctx, &marketing).unwrap();
        assert!(s.catalogs.get(&marketing).is_none());
        assert!(
            s.role_assignments()
                .iter()
                .all(|a| a.scope != AppScope::Catalog(marketing)),
            "its role assignments went with it"
        );
    }
}
