//! Catalog resources and access packages' resource role scopes
//! (https://learn.microsoft.com/graph/api/entitlementmanagement-post-resourcerequests?view=graph-rest-1.0,
//! https://learn.microsoft.com/graph/api/accesspackage-post-resourcerolescopes?view=graph-rest-1.0,
//! and their beta counterparts).

use uuid::Uuid;

use super::{OpCtx, Rows};
use crate::authz::{self, Access, Operation};
use crate::clock::Timestamp;
use crate::error::GraphError;
use crate::model::em::Actor;
use crate::model::resources::{
    CatalogResource, OriginSystem, ResourceRequest, ResourceRequestType, ResourceRole,
    ResourceScope, RoleScope, derived_id,
};
use crate::store::TenantState;

/// How a body names a resource: by its catalog id, or by its origin.
#[derive(Debug, Clone, Default)]
pub struct ResourceRef {
    pub id: Option<Uuid>,
    pub origin_system: Option<OriginSystem>,
    pub origin_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewResourceRequest {
    pub catalog_id: Uuid,
    pub request_type: ResourceRequestType,
    pub resource: ResourceRef,
    pub justification: Option<String>,
    pub is_validation_only: bool,
    pub execute_immediately: bool,
}

/// A resource ready to join a catalog, and who owns it at its origin.
#[derive(Debug, Clone)]
pub struct Onboarded {
    pub resource: CatalogResource,
    pub roles: Vec<ResourceRole>,
    pub scopes: Vec<ResourceScope>,
    pub owners: Vec<Uuid>,
}

/// A resource as entitlement management describes it when it is onboarded, with its roles and
/// root scope
/// (https://learn.microsoft.com/graph/api/accesspackagecatalog-list-resourceroles?view=graph-rest-1.0,
/// https://learn.microsoft.com/graph/api/accesspackagecatalog-list-accesspackageresourceroles?view=graph-rest-beta):
/// groups get `Member_<id>`/`Owner_<id>` (dynamic groups only the owner
/// role), applications their user-assignable app roles (or "Default Access"), sites the roles
/// 3/4/5.
pub fn describe(
    state: &TenantState,
    id: Uuid,
    catalog_id: Uuid,
    origin_system: OriginSystem,
    origin_id: &str,
    added: Timestamp,
    added_by: Actor,
) -> Result<Onboarded, GraphError> {
    let dir = &state.directory;
    let role = |origin: &str, name: &str, description: Option<String>| ResourceRole {
        id: derived_id(id, "role", origin),
        resource_id: id,
        catalog_id,
        origin_system,
        origin_id: origin.to_string(),
        display_name: name.to_string(),
        description,
    };
    let (display_name, description, resource_type, url, roles, owners) = match origin_system {
        OriginSystem::AadGroup => {
            let g = Uuid::parse_str(origin_id)
                .ok()
                .and_then(|g| dir.groups.get(&g))
                .ok_or(GraphError::ResourceNotFound)?;
            let mut roles = Vec::new();
            if !g.is_dynamic() {
                roles.push(role(&format!("Member_{}", g.id), "Member", None));
            }
            roles.push(role(&format!("Owner_{}", g.id), "Owner", None));
            let kind = if g
                .group_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case("Unified"))
            {
                "O365 Group"
            } else {
                "Security Group"
            };
            (
                g.display_name.clone(),
                g.description.clone(),
                kind,
                None,
                roles,
                g.owners.clone(),
            )
        }
        OriginSystem::AadApplication => {
            let sp = Uuid::parse_str(origin_id)
                .ok()
                .and_then(|s| dir.service_principals.get(&s))
                .ok_or(GraphError::ResourceNotFound)?;
            let mut roles: Vec<ResourceRole> = sp
                .app_roles
                .iter()
                .filter(|r| {
                    r.is_enabled
                        && r.allowed_member_types
                            .iter()
                            .any(|t| t.eq_ignore_ascii_case("User"))
                })
                .map(|r| role(&r.id.to_string(), &r.display_name, r.description.clone()))
                .collect();
            if roles.is_empty() {
                roles.push(role(&Uuid::nil().to_string(), "Default Access", None));
            }
            let url = format!(
                "https://myapps.microsoft.com/{}/signin/{}/{}/",
                state.info.default_domain,
                sp.display_name.replace(' ', "%20"),
                sp.app_id
            );
            (
                sp.display_name.clone(),
                None,
                "Application",
                Some(url),
                roles,
                sp.owners.clone(),
            )
        }
        OriginSystem::SharePointOnline => {
            let site = dir
                .sites
                .iter()
                .find(|s| {
                    s.web_url
                        .trim_end_matches('/')
                        .eq_ignore_ascii_case(origin_id.trim_end_matches('/'))
                })
                .ok_or(GraphError::ResourceNotFound)?;
            let roles = vec![
                role("3", "Creators", None),
                role("4", "Contributors", None),
                role("5", "Viewers", None),
            ];
            (
                site.display_name.clone(),
                Some(site.web_url.clone()),
                "SharePoint Online Site",
                Some(site.web_url.clone()),
                roles,
                site.owners.clone(),
            )
        }
    };
    let root_origin = match origin_system {
        OriginSystem::SharePointOnline => url.clone().unwrap_or_default(),
        _ => origin_id.to_ascii_lowercase(),
    };
    let scope = ResourceScope {
        id: derived_id(id, "scope", &root_origin),
        resource_id: id,
        catalog_id,
        origin_system,
        origin_id: root_origin,
        display_name: "Root".into(),
        description: "Root Scope".into(),
        is_root_scope: true,
    };
    let resource = CatalogResource {
        id,
        catalog_id,
        origin_system,
        origin_id: if origin_system == OriginSystem::SharePointOnline {
            scope.origin_id.clone()
        } else {
            origin_id.to_ascii_lowercase()
        },
        display_name,
        description,
        resource_type,
        url,
        added,
        added_by,
    };
    Ok(Onboarded {
        resource,
        roles,
        scopes: vec![scope],
        owners,
    })
}

fn find_in_catalog<'s>(
    state: &'s TenantState,
    catalog: Uuid,
    r: &ResourceRef,
) -> Option<&'s CatalogResource> {
    state.resources().iter().find(|res| {
        res.catalog_id == catalog
            && match (r.id, r.origin_system, &r.origin_id) {
                (Some(id), _, _) => res.id == id,
                (None, Some(sys), Some(origin)) => {
                    res.origin_system == sys
                        && res
                            .origin_id
                            .trim_end_matches('/')
                            .eq_ignore_ascii_case(origin.trim_end_matches('/'))
                }
                _ => false,
            }
    })
}

/// A resource request: completes synchronously, as the documented examples do
/// (https://learn.microsoft.com/graph/api/entitlementmanagement-post-resourcerequests?view=graph-rest-1.0,
/// https://learn.microsoft.com/graph/api/entitlementmanagement-post-accesspackageresourcerequests?view=graph-rest-beta).
pub fn request(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    new: NewResourceRequest,
) -> Result<ResourceRequest, GraphError> {
    if !state.catalogs.contains(&new.catalog_id) {
        return Err(authz::missing(ctx.caller, Access::Write, state));
    }
    authz::authorize(
        ctx.caller,
        Operation::ManageCatalogResources {
            catalog: new.catalog_id,
        },
        state,
    )?;
    let resource_id;
    match new.request_type {
        ResourceRequestType::AdminAdd => {
            let (Some(system), Some(origin)) = (
                new.resource.origin_system,
                new.resource.origin_id.as_deref(),
            ) else {
                return Err(GraphError::invalid_model(
                    "adminAdd needs the resource's originSystem and originId",
                ));
            };
            let id = state.next_id();
            let Onboarded {
                resource,
                roles,
                scopes,
                owners,
            } = describe(
                state,
                id,
                new.catalog_id,
                system,
                origin,
                ctx.now,
                ctx.caller.actor.clone(),
            )?;
            if !authz::may_onboard(ctx.caller, system, &owners) {
                return Err(GraphError::CallerNotResourceOwner);
            }
            let probe = ResourceRef {
                id: None,
                origin_system: Some(system),
                origin_id: Some(resource.origin_id.clone()),
            };
            if find_in_catalog(state, new.catalog_id, &probe).is_some() {
                return Err(GraphError::ResourceAlreadyInCatalog);
            }
            resource_id = Some(id);
            if !new.is_validation_only {
                state.insert_resource(resource, roles, scopes);
            }
        }
        ResourceRequestType::AdminUpdate | ResourceRequestType::AdminRemove => {
            let found = find_in_catalog(state, new.catalog_id, &new.resource)
                .ok_or(GraphError::ResourceNotFound)?;
            let (id, name) = (found.id, found.display_name.clone());
            resource_id = Some(id);
            if new.request_type == ResourceRequestType::AdminRemove {
                // "can be removed from a catalog only if it isn't being used in any of the
                // catalog's access packages"
                // (https://learn.microsoft.com/entra/id-governance/entitlement-management-catalog-create;
                // captured as hashicorp/terraform-provider-azuread#1091).
                if state.resource_in_use(&id) {
                    return Err(GraphError::ResourceHasEntitlements(name));
                }
                if !new.is_validation_only {
                    state.remove_resource(&id);
                }
            }
        }
    }
    let request = ResourceRequest {
        id: state.next_id(),
        catalog_id: new.catalog_id,
        request_type: new.request_type,
        resource_id,
        justification: new.justification,
        is_validation_only: new.is_validation_only,
        execute_immediately: new.execute_immediately,
        created: ctx.now,
    };
    if !new.is_validation_only {
        state.resource_requests.insert(request.clone());
    }
    Ok(request)
}

pub fn list_requests<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
) -> Result<Rows<'s, ResourceRequest>, GraphError> {
    let grant = authz::authorize(ctx.caller, Operation::ListResourceRequests, state)?;
    Ok(Box::new(
        state
            .resource_requests
            .range_after(None)
            .filter(move |(_, r)| grant.covers(&r.catalog_id)),
    ))
}

pub fn get_request<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<&'s ResourceRequest, GraphError> {
    let request = state
        .resource_requests
        .get(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Read, state))?;
    authz::authorize(
        ctx.caller,
        Operation::ReadCatalog {
            catalog: request.catalog_id,
        },
        state,
    )?;
    Ok(request)
}

fn readable_catalog(
    state: &TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
) -> Result<(), GraphError> {
    super::catalog::get(state, ctx, catalog).map(|_| ())
}

/// A catalog's resources in the order they were added.
pub fn list_resources<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
) -> Result<Rows<'s, CatalogResource>, GraphError> {
    readable_catalog(state, ctx, catalog)?;
    let catalog = *catalog;
    Ok(Box::new(
        state
            .resources()
            .range_after(None)
            .filter(move |(_, r)| r.catalog_id == catalog),
    ))
}

pub fn get_resource<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
    id: &Uuid,
) -> Result<&'s CatalogResource, GraphError> {
    readable_catalog(state, ctx, catalog)?;
    state
        .resource(id)
        .filter(|r| r.catalog_id == *catalog)
        .ok_or(GraphError::ResourceNotFound)
}

/// Rows numbered by resource, then by position within the resource.
fn numbered<'s, T: 's, I: Iterator<Item = &'s T> + 's>(
    seq: u64,
    items: I,
) -> impl Iterator<Item = (u64, &'s T)> + 's {
    items
        .enumerate()
        .map(move |(i, t)| ((seq << 16) | i as u64, t))
}

/// The roles of every resource in a catalog.
pub fn list_roles<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
) -> Result<Rows<'s, ResourceRole>, GraphError> {
    let resources = list_resources(state, ctx, catalog)?;
    Ok(Box::new(resources.flat_map(move |(seq, r)| {
        numbered(seq, state.roles_of(&r.id))
    })))
}

pub fn list_scopes<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
) -> Result<Rows<'s, ResourceScope>, GraphError> {
    let resources = list_resources(state, ctx, catalog)?;
    Ok(Box::new(resources.flat_map(move |(seq, r)| {
        numbered(seq, state.scopes_of(&r.id))
    })))
}

pub fn roles_of_resource<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
    id: &Uuid,
) -> Result<Rows<'s, ResourceRole>, GraphError> {
    let r = get_resource(state, ctx, catalog, id)?;
    Ok(Box::new(numbered(0, state.roles_of(&r.id))))
}

pub fn scopes_of_resource<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
    id: &Uuid,
) -> Result<Rows<'s, ResourceScope>, GraphError> {
    let r = get_resource(state, ctx, catalog, id)?;
    Ok(Box::new(numbered(0, state.scopes_of(&r.id))))
}

/// How a role-scope body names its role and scope: by id, or by origin.
#[derive(Debug, Clone, Default)]
pub struct RoleScopeInput {
    pub role_id: Option<Uuid>,
    pub role_origin_id: Option<String>,
    pub role_origin_system: Option<OriginSystem>,
    pub resource: ResourceRef,
    pub scope_id: Option<Uuid>,
    pub scope_origin_id: Option<String>,
}

fn resolve_role<'s>(
    state: &'s TenantState,
    catalog: Uuid,
    input: &RoleScopeInput,
) -> Result<&'s ResourceRole, GraphError> {
    if let Some(id) = input.role_id {
        return state
            .resource_role(&id)
            .filter(|r| r.catalog_id == catalog)
            .ok_or(GraphError::RoleNotFound);
    }
    let origin = input
        .role_origin_id
        .as_deref()
        .ok_or(GraphError::RoleNotFound)?;
    let resources: Vec<&CatalogResource> = match (input.resource.id, &input.resource.origin_id) {
        (Some(_), _) | (None, Some(_)) => {
            let r = ResourceRef {
                origin_system: input.resource.origin_system.or(input.role_origin_system),
                ..input.resource.clone()
            };
            find_in_catalog(state, catalog, &r).into_iter().collect()
        }
        (None, None) => state
            .resources()
            .iter()
            .filter(|r| {
                r.catalog_id == catalog
                    && input
                        .role_origin_system
                        .is_none_or(|s| s == r.origin_system)
            })
            .collect(),
    };
    resources
        .iter()
        .flat_map(|r| state.roles_of(&r.id))
        .find(|role| role.origin_id.eq_ignore_ascii_case(origin))
        .ok_or(GraphError::RoleNotFound)
}

fn resolve_scope<'s>(
    state: &'s TenantState,
    role: &ResourceRole,
    input: &RoleScopeInput,
) -> Result<&'s ResourceScope, GraphError> {
    let mut scopes = state.scopes_of(&role.resource_id);
    match (input.scope_id, &input.scope_origin_id) {
        (Some(id), _) => scopes.find(|s| s.id == id),
        (None, Some(origin)) => scopes.find(|s| {
            s.origin_id
                .trim_end_matches('/')
                .eq_ignore_ascii_case(origin.trim_end_matches('/'))
        }),
        (None, None) => scopes.find(|s| s.is_root_scope),
    }
    .ok_or(GraphError::ResourceNotFound)
}

fn package_catalog(
    state: &TenantState,
    ctx: &OpCtx<'_>,
    package: &Uuid,
    access: Access,
) -> Result<Uuid, GraphError> {
    state
        .access_package(package)
        .map(|p| p.catalog_id)
        .ok_or_else(|| authz::missing(ctx.caller, access, state))
}

/// Adds a role of a resource in the package's catalog
/// (https://learn.microsoft.com/graph/api/accesspackage-post-resourcerolescopes?view=graph-rest-1.0,
/// https://learn.microsoft.com/graph/api/accesspackage-post-accesspackageresourcerolescopes?view=graph-rest-beta).
pub fn add_role_scope(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    package: &Uuid,
    input: RoleScopeInput,
) -> Result<RoleScope, GraphError> {
    let catalog = package_catalog(state, ctx, package, Access::Write)?;
    authz::authorize(ctx.caller, Operation::ManageRoleScopes { catalog }, state)?;
    let role = resolve_role(state, catalog, &input)?;
    let scope = resolve_scope(state, role, &input)?;
    let role_scope = RoleScope {
        role_id: role.id,
        scope_id: scope.id,
        created: ctx.now,
        created_by: ctx.caller.actor.clone(),
    };
    let Some(p) = state.access_package_mut(package) else {
        return Err(GraphError::ResourceNotFound);
    };
    if p.role_scopes
        .iter()
        .any(|rs| rs.role_id == role_scope.role_id && rs.scope_id == role_scope.scope_id)
    {
        return Err(GraphError::RoleScopeExists);
    }
    p.role_scopes.push(role_scope.clone());
    Ok(role_scope)
}

pub fn remove_role_scope(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    package: &Uuid,
    id: &str,
) -> Result<(), GraphError> {
    let catalog = package_catalog(state, ctx, package, Access::Write)?;
    authz::authorize(ctx.caller, Operation::ManageRoleScopes { catalog }, state)?;
    let Some(p) = state.access_package_mut(package) else {
        return Err(GraphError::ResourceNotFound);
    };
    let before = p.role_scopes.len();
    p.role_scopes.retain(|rs| !rs.id().eq_ignore_ascii_case(id));
    if p.role_scopes.len() == before {
        return Err(GraphError::ResourceNotFound);
    }
    Ok(())
}

pub fn list_role_scopes<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    package: &Uuid,
) -> Result<Rows<'s, RoleScope>, GraphError> {
    let p = super::access_package::get(state, ctx, package)?;
    Ok(Box::new(
        p.role_scopes
            .iter()
            .enumerate()
            .map(|(i, rs)| (i as u64, rs)),
    ))
}

/// Every resource the caller may read, across catalogs (the root `resources` collection).
pub fn list_all_resources<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
) -> Result<Rows<'s, CatalogResource>, GraphError> {
    let grant = authz::authorize(ctx.caller, Operation::ListCatalogs, state)?;
    Ok(Box::new(
        state
            .resources()
            .range_after(None)
            .filter(move |(_, r)| grant.covers(&r.catalog_id)),
    ))
}

pub fn get_any_resource<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<&'s CatalogResource, GraphError> {
    let r = state
        .resource(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Read, state))?;
    authz::authorize(
        ctx.caller,
        Operation::ReadCatalog {
            catalog: r.catalog_id,
        },
        state,
    )?;
    Ok(r)
}

/// The tenant's SharePoint environments (the docs require an `originSystem` filter).
pub fn environments<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
) -> Result<Rows<'s, crate::model::resources::ResourceEnvironment>, GraphError> {
    authz::authorize(ctx.caller, Operation::ListCatalogs, state)?;
    Ok(Box::new(
        state
            .environments
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64, e)),
    ))
}
