//! Entitlement-management RBAC: the built-in role definitions and role assignments
//! (`/roleManagement/entitlementManagement`,
//! https://learn.microsoft.com/graph/api/rbacapplication-list-roledefinitions?view=graph-rest-1.0,
//! https://learn.microsoft.com/entra/id-governance/entitlement-management-delegate).

use uuid::Uuid;

use super::{OpCtx, Rows};
use crate::authz::{
    self, Access, EM_ROLE_DEFINITIONS, EmRoleDefinition, Operation, role_definition,
};
use crate::error::GraphError;
use crate::model::em::{AppScope, EmRoleAssignment};
use crate::store::TenantState;

pub fn list_definitions<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
) -> Result<Rows<'s, EmRoleDefinition>, GraphError> {
    authz::authorize(ctx.caller, Operation::ReadRoleDefinitions, state)?;
    Ok(Box::new(EM_ROLE_DEFINITIONS.iter().enumerate().map(
        |(i, d): (usize, &'s EmRoleDefinition)| (i as u64, d),
    )))
}

pub fn get_definition(
    state: &TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<&'static EmRoleDefinition, GraphError> {
    authz::authorize(ctx.caller, Operation::ReadRoleDefinitions, state)?;
    role_definition(id).ok_or(GraphError::ResourceNotFound)
}

/// Explicit assignments only: rights through directory roles are not listed
/// (https://learn.microsoft.com/graph/api/rbacapplication-list-roleassignments?view=graph-rest-1.0).
pub fn list_assignments<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
) -> Result<Rows<'s, EmRoleAssignment>, GraphError> {
    let grant = authz::authorize(ctx.caller, Operation::ListRoleAssignments, state)?;
    Ok(Box::new(state.role_assignments().range_after(None).filter(
        move |(_, a)| match (a.scope, &grant) {
            (_, authz::Grant::Tenant) => true,
            (AppScope::Catalog(c), g) => g.covers(&c),
            (AppScope::Tenant, _) => false,
        },
    )))
}

pub fn get_assignment<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<&'s EmRoleAssignment, GraphError> {
    let assignment = state
        .role_assignments()
        .get(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Read, state))?;
    let scope = assignment.scope;
    authz::authorize(ctx.caller, Operation::ReadRoleAssignment { scope }, state)?;
    Ok(assignment)
}

#[derive(Debug, Clone)]
pub struct NewRoleAssignment {
    pub principal_id: Uuid,
    pub role_definition_id: Uuid,
    /// `appScopeId` as sent; `None` when only `directoryScopeId: "/"` was given.
    pub app_scope_id: Option<String>,
    pub directory_scope_id: Option<String>,
}

pub fn create_assignment(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    new: NewRoleAssignment,
) -> Result<EmRoleAssignment, GraphError> {
    let scope = match (&new.app_scope_id, &new.directory_scope_id) {
        (Some(app), _) => AppScope::parse(app).ok_or_else(|| {
            GraphError::invalid_model(format!(
                "appScopeId '{app}' is neither '/' nor '/AccessPackageCatalog/{{id}}'"
            ))
        })?,
        (None, Some(dir)) if dir == "/" => AppScope::Tenant,
        (None, Some(dir)) => {
            return Err(GraphError::invalid_model(format!(
                "directoryScopeId '{dir}' is not supported by the entitlementManagement provider; use '/'"
            )));
        }
        (None, None) => {
            return Err(GraphError::invalid_model(
                "either appScopeId or directoryScopeId is required",
            ));
        }
    };
    // Rights first, so a caller who may not assign learns nothing about what exists.
    authz::authorize(ctx.caller, Operation::CreateRoleAssignment { scope }, state)?;
    // Reference checks come back as model errors: the one capture of this endpoint failing on a
    // doc example's made-up principal was 400 InvalidModel
    // (microsoftgraph/microsoft-graph-docs-contrib#2906).
    let def = role_definition(&new.role_definition_id).ok_or_else(|| {
        GraphError::invalid_model(format!(
            "roleDefinitionId {} is not an entitlement-management role",
            new.role_definition_id
        ))
    })?;
    if !state.directory.principal_exists(&new.principal_id) {
        return Err(GraphError::invalid_model(format!(
            "principalId {} is not a user, group or service principal of this tenant",
            new.principal_id
        )));
    }
    match scope {
        AppScope::Catalog(c) if !state.catalogs.contains(&c) => {
            return Err(GraphError::invalid_model(format!(
                "appScopeId names catalog {c}, which does not exist"
            )));
        }
        AppScope::Catalog(_) if def.tenant_scoped => {
            return Err(GraphError::invalid_model(format!(
                "'{}' is assigned tenant-wide (appScopeId '/')",
                def.display_name
            )));
        }
        AppScope::Tenant if !def.tenant_scoped => {
            return Err(GraphError::invalid_model(format!(
                "'{}' is assigned on a catalog (appScopeId '/AccessPackageCatalog/{{id}}')",
                def.display_name
            )));
        }
        _ => {}
    }
    let duplicate = state
        .direct_role_assignments_of(&new.principal_id)
        .any(|a| a.role_definition_id == def.id && a.scope == scope);
    if duplicate {
        return Err(GraphError::RoleAssignmentExists);
    }
    let assignment = EmRoleAssignment {
        id: state.next_id(),
        principal_id: new.principal_id,
        role_definition_id: def.id,
        scope,
    };
    state.insert_role_assignment(assignment.clone());
    Ok(assignment)
}

pub fn delete_assignment(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<(), GraphError> {
    let assignment = state
        .role_assignments()
        .get(id)
        .ok_or_else(|| authz::missing(ctx.caller, Access::Write, state))?;
    let scope = assignment.scope;
    authz::authorize(ctx.caller, Operation::DeleteRoleAssignment { scope }, state)?;
    state.remove_role_assignment(id);
    Ok(())
}
