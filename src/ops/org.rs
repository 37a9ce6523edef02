//! Connected organizations (with their sponsors) and the settings singleton
//! (https://learn.microsoft.com/graph/api/resources/connectedorganization?view=graph-rest-1.0,
//! https://learn.microsoft.com/graph/api/resources/entitlementmanagementsettings?view=graph-rest-1.0).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{OpCtx, Patch, Rows};
use crate::authz::{self, Operation};
use crate::error::GraphError;
use crate::model::org::{
    ConnectedOrganization, ExternalUserLifecycleAction, IDENTITY_SOURCE_TYPES, OrgState, Settings,
};
use crate::store::TenantState;

/// Checks and normalises identity sources: each needs a known `@odata.type`; Entra tenants a
/// GUID `tenantId`; domains a `domainName` [inf].
pub fn identity_sources(list: &[Value]) -> Result<Vec<Value>, GraphError> {
    let mut out = Vec::new();
    for v in list {
        let mut m: Map<String, Value> = v
            .as_object()
            .cloned()
            .ok_or_else(|| GraphError::invalid_model("an identity source must be an object"))?;
        let t = m.get("@odata.type").and_then(Value::as_str).unwrap_or("");
        let name = t
            .trim_start_matches('#')
            .trim_start_matches("microsoft.graph.");
        let kind = IDENTITY_SOURCE_TYPES
            .iter()
            .find(|k| k.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                GraphError::invalid_model(format!("'{t}' is not an identity source type"))
            })?;
        match *kind {
            "azureActiveDirectoryTenant" | "crossCloudAzureActiveDirectoryTenant" => {
                let tid = m.get("tenantId").and_then(Value::as_str).unwrap_or("");
                if uuid::Uuid::parse_str(tid).is_err() {
                    return Err(GraphError::invalid_model(
                        "an Entra tenant identity source needs a GUID tenantId",
                    ));
                }
            }
            "domainIdentitySource" | "externalDomainFederation"
                if m.get("domainName")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty) =>
            {
                return Err(GraphError::invalid_model(
                    "a domain identity source needs a domainName",
                ));
            }
            _ => {}
        }
        m.insert(
            "@odata.type".into(),
            json!(format!("#microsoft.graph.{kind}")),
        );
        out.push(Value::Object(m));
    }
    Ok(out)
}

#[derive(Debug, Clone, Default)]
pub struct NewOrganization {
    pub display_name: String,
    pub description: Option<String>,
    pub identity_sources: Vec<Value>,
    pub state: Option<OrgState>,
}

#[derive(Debug, Clone, Default)]
pub struct OrganizationPatch {
    pub display_name: Patch<String>,
    pub description: Patch<Option<String>>,
    pub identity_sources: Patch<Vec<Value>>,
    pub state: Patch<OrgState>,
}

pub fn list<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
) -> Result<Rows<'s, ConnectedOrganization>, GraphError> {
    authz::authorize(ctx.caller, Operation::ReadTenantObjects, state)?;
    Ok(Box::new(state.connected_organizations.range_after(None)))
}

pub fn get<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
) -> Result<&'s ConnectedOrganization, GraphError> {
    authz::authorize(ctx.caller, Operation::ReadTenantObjects, state)?;
    state
        .connected_organizations
        .get(id)
        .ok_or(GraphError::ResourceNotFound)
}

pub fn create(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    new: NewOrganization,
) -> Result<ConnectedOrganization, GraphError> {
    authz::authorize(ctx.caller, Operation::ManageTenantObjects, state)?;
    let org = ConnectedOrganization {
        id: state.next_id(),
        display_name: new.display_name,
        description: new.description,
        identity_sources: identity_sources(&new.identity_sources)?,
        // API-created organizations are configured unless proposed [inf].
        state: new.state.unwrap_or(OrgState::Configured),
        internal_sponsors: Vec::new(),
        external_sponsors: Vec::new(),
        created: ctx.now,
        modified: ctx.now,
        created_by: ctx.caller.actor.clone(),
        modified_by: ctx.caller.actor.clone(),
    };
    state.connected_organizations.insert(org.clone());
    Ok(org)
}

pub fn update(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    patch: OrganizationPatch,
) -> Result<ConnectedOrganization, GraphError> {
    authz::authorize(ctx.caller, Operation::ManageTenantObjects, state)?;
    let sources = match patch.identity_sources {
        Patch::Set(list) => Some(identity_sources(&list)?),
        Patch::Keep => None,
    };
    let org = state
        .connected_organizations
        .get_mut(id)
        .ok_or(GraphError::ResourceNotFound)?;
    if let Patch::Set(v) = patch.display_name {
        org.display_name = v;
    }
    if let Patch::Set(v) = patch.description {
        org.description = v;
    }
    if let Some(v) = sources {
        org.identity_sources = v;
    }
    if let Patch::Set(v) = patch.state {
        org.state = v;
    }
    org.modified = ctx.now;
    org.modified_by = ctx.caller.actor.clone();
    Ok(org.clone())
}

/// Deleting an organization a policy names is refused [inf].
pub fn delete(state: &mut TenantState, ctx: &OpCtx<'_>, id: &Uuid) -> Result<(), GraphError> {
    authz::authorize(ctx.caller, Operation::ManageTenantObjects, state)?;
    if !state.connected_organizations.contains(id) {
        return Err(GraphError::ResourceNotFound);
    }
    let used = state.policies.iter().any(|p| {
        p.allowed_targets.iter().any(|s| {
            s.kind == crate::model::policy::SubjectKind::ConnectedOrganizationMembers
                && s.id == Some(*id)
        })
    });
    if used {
        return Err(GraphError::invalid_model(
            "the connected organization is used by an assignment policy",
        ));
    }
    state.connected_organizations.remove(id);
    Ok(())
}

/// Which sponsor list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sponsors {
    Internal,
    External,
}

pub fn sponsors<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    which: Sponsors,
) -> Result<&'s [Uuid], GraphError> {
    let org = get(state, ctx, id)?;
    Ok(match which {
        Sponsors::Internal => &org.internal_sponsors,
        Sponsors::External => &org.external_sponsors,
    })
}

/// `POST …/{internal|external}Sponsors/$ref`: a user or group of the directory.
pub fn add_sponsor(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    which: Sponsors,
    sponsor: Uuid,
) -> Result<(), GraphError> {
    authz::authorize(ctx.caller, Operation::ManageTenantObjects, state)?;
    if !state.directory.users.contains(&sponsor) && !state.directory.groups.contains(&sponsor) {
        return Err(GraphError::ResourceNotFound);
    }
    let org = state
        .connected_organizations
        .get_mut(id)
        .ok_or(GraphError::ResourceNotFound)?;
    let list = match which {
        Sponsors::Internal => &mut org.internal_sponsors,
        Sponsors::External => &mut org.external_sponsors,
    };
    if !list.contains(&sponsor) {
        list.push(sponsor);
    }
    Ok(())
}

pub fn remove_sponsor(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    id: &Uuid,
    which: Sponsors,
    sponsor: &Uuid,
) -> Result<(), GraphError> {
    authz::authorize(ctx.caller, Operation::ManageTenantObjects, state)?;
    let org = state
        .connected_organizations
        .get_mut(id)
        .ok_or(GraphError::ResourceNotFound)?;
    let list = match which {
        Sponsors::Internal => &mut org.internal_sponsors,
        Sponsors::External => &mut org.external_sponsors,
    };
    let before = list.len();
    list.retain(|s| s != sponsor);
    if list.len() == before {
        return Err(GraphError::ResourceNotFound);
    }
    Ok(())
}

pub fn settings<'s>(state: &'s TenantState, ctx: &OpCtx<'_>) -> Result<&'s Settings, GraphError> {
    authz::authorize(ctx.caller, Operation::ReadTenantObjects, state)?;
    Ok(&state.settings)
}

pub fn update_settings(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    action: Option<ExternalUserLifecycleAction>,
    days: Option<i64>,
) -> Result<(), GraphError> {
    authz::authorize(ctx.caller, Operation::ManageTenantObjects, state)?;
    if days.is_some_and(|d| !(0..=3650).contains(&d)) {
        return Err(GraphError::invalid_model(
            "the deletion delay must be between 0 and 3650 days",
        ));
    }
    if let Some(a) = action {
        state.settings.external_user_lifecycle_action = a;
    }
    if let Some(d) = days {
        state.settings.days_until_external_user_deleted = d;
    }
    Ok(())
}

/// A directory object as sponsor listings show it
/// (https://learn.microsoft.com/graph/api/connectedorganization-list-internalsponsors?view=graph-rest-1.0).
pub fn directory_object(state: &TenantState, id: &Uuid) -> Value {
    if let Some(u) = state.directory.users.get(id) {
        return json!({"@odata.type": "#microsoft.graph.user", "id": u.id, "displayName": u.display_name, "userPrincipalName": u.user_principal_name});
    }
    if let Some(g) = state.directory.groups.get(id) {
        return json!({"@odata.type": "#microsoft.graph.group", "id": g.id, "displayName": g.display_name});
    }
    json!({"@odata.type": "#microsoft.graph.directoryObject", "id": id})
}
