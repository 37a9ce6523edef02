//! Thin handlers: read the version's body shape into a domain input, call `ops`, render the
//! version's wire shape. One `match` is the method table of every routed target.

use std::sync::Arc;

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::body::{BodyReader, json_object};
use super::envelope::{Reply, RequestCtx};
use super::query::QueryOptions;
use super::route::Target;
use crate::auth::Caller;
use crate::authz::{self, Access, EmRoleDefinition};
use crate::error::GraphError;
use crate::model::ApiVersion;
use crate::model::em::{CatalogState, CatalogType, WireEnum};
use crate::ops::access_package::{AccessPackagePatch, NewAccessPackage};
use crate::ops::catalog::{CatalogPatch, NewCatalog};
use crate::ops::role::NewRoleAssignment;
use crate::ops::{self, OpCtx, Patch};
use crate::store::Tenant;

/// One Graph call after routing and authentication.
#[derive(Debug)]
pub(super) struct Call<'a> {
    pub ctx: &'a RequestCtx,
    pub version: ApiVersion,
    pub caller: &'a Caller,
    pub tenant: Arc<Tenant>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub query: QueryOptions,
}

impl Call<'_> {
    fn op(&self) -> OpCtx<'_> {
        OpCtx {
            caller: self.caller,
            now: self.ctx.now,
        }
    }

    fn reader(&self, allowed: &[&str]) -> Result<BodyReader, GraphError> {
        BodyReader::new(json_object(self.headers, self.body)?, self.version, allowed)
    }

    fn entity_context(&self, target: &Target) -> String {
        self.ctx.context_url(
            self.version,
            &format!("{}/$entity", target.entity_set(self.version)),
        )
    }

    fn collection_context(&self, target: &Target) -> String {
        self.ctx
            .context_url(self.version, &target.entity_set(self.version))
    }

    /// Where a created entity lives, in the backend's OData key form (`…/accessPackages('{id}')`).
    fn location(&self, target: &Target, id: Uuid) -> String {
        self.ctx.absolute(
            self.version,
            &format!("{}('{id}')", target.entity_set(self.version)),
        )
    }
}

fn method_not_allowed(method: &Method) -> GraphError {
    GraphError::MethodNotAllowed(method.as_str().to_string())
}

pub(super) fn dispatch(
    call: &mut Call<'_>,
    method: &Method,
    target: Target,
) -> Result<Reply, GraphError> {
    if let Target::Unrouted(url) = &target {
        return Err(GraphError::NoHttpResource(url.clone()));
    }
    let access = if *method == Method::GET {
        Access::Read
    } else {
        Access::Write
    };
    authz::precheck(call.caller, access)?;
    call.query.reject_unsupported()?;
    match (&target, method.clone()) {
        (Target::Catalogs, Method::GET) => list_catalogs(call, &target),
        (Target::Catalogs, Method::POST) => create_catalog(call, &target),
        (Target::Catalog(id), Method::GET) => get_catalog(call, &target, *id),
        (Target::Catalog(id), Method::PATCH) => update_catalog(call, *id),
        (Target::Catalog(id), Method::DELETE) => delete_catalog(call, *id),
        (Target::CatalogAccessPackages(id), Method::GET) => {
            list_catalog_packages(call, &target, *id)
        }
        (Target::CatalogAccessPackage(c, p), Method::GET) => {
            get_catalog_package(call, &target, *c, *p)
        }
        (Target::AccessPackages, Method::GET) => list_packages(call, &target),
        (Target::AccessPackages, Method::POST) => create_package(call, &target),
        (Target::AccessPackage(id), Method::GET) => get_package(call, &target, *id),
        (Target::AccessPackage(id), Method::PATCH) => update_package(call, *id),
        (Target::AccessPackage(id), Method::DELETE) => delete_package(call, *id),
        (Target::MoveToCatalog(id), Method::POST) => move_package(call, *id),
        (Target::RoleDefinitions, Method::GET) => list_role_definitions(call, &target),
        (Target::RoleDefinition(id), Method::GET) => get_role_definition(call, &target, *id),
        (Target::RoleAssignments, Method::GET) => list_role_assignments(call, &target),
        (Target::RoleAssignments, Method::POST) => create_role_assignment(call, &target),
        (Target::RoleAssignment(id), Method::GET) => get_role_assignment(call, &target, *id),
        (Target::RoleAssignment(id), Method::DELETE) => delete_role_assignment(call, *id),
        (_, m) => Err(method_not_allowed(&m)),
    }
}

// ---- catalogs ----

fn catalog_state_key(v: ApiVersion) -> &'static str {
    v.pick("state", "catalogStatus")
}

const CATALOG_FIELDS_V1: [&str; 5] = [
    "displayName",
    "description",
    "state",
    "isExternallyVisible",
    "catalogType",
];
const CATALOG_FIELDS_BETA: [&str; 5] = [
    "displayName",
    "description",
    "catalogStatus",
    "isExternallyVisible",
    "catalogType",
];

fn catalog_fields(v: ApiVersion) -> &'static [&'static str] {
    v.pick(&CATALOG_FIELDS_V1, &CATALOG_FIELDS_BETA)
}

fn list_catalogs(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let v = call.version;
    let items = call.tenant.read(|s| {
        ops::catalog::list(s, &call.op()).map(|cs| cs.iter().map(|c| c.to_json(v)).collect())
    })?;
    Ok(Reply::Collection {
        context: call.collection_context(target),
        items,
    })
}

fn get_catalog(call: &Call<'_>, target: &Target, id: Uuid) -> Result<Reply, GraphError> {
    let v = call.version;
    let body = call
        .tenant
        .read(|s| ops::catalog::get(s, &call.op(), &id).map(|c| c.to_json(v)))?;
    Ok(Reply::ok(call.entity_context(target), body))
}

fn create_catalog(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let v = call.version;
    let r = call.reader(catalog_fields(v))?;
    let new = NewCatalog {
        display_name: r.required_name("displayName")?,
        description: r.opt_string("description")?,
        state: r.opt_enum(catalog_state_key(v), CatalogState::parse_any_case)?,
        is_externally_visible: r.opt_bool("isExternallyVisible")?,
        catalog_type: r.opt_enum("catalogType", CatalogType::parse_any_case)?,
    };
    let catalog = call
        .tenant
        .write(|s| ops::catalog::create(s, &call.op(), new))?;
    Ok(Reply::created(
        call.entity_context(target),
        catalog.to_json(v),
        call.location(target, catalog.id),
    ))
}

fn update_catalog(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    let v = call.version;
    let r = call.reader(catalog_fields(v))?;
    let patch = CatalogPatch {
        display_name: r.patch_name("displayName")?,
        description: r.patch_nullable_string("description")?,
        state: r
            .opt_enum(catalog_state_key(v), CatalogState::parse_any_case)?
            .map_or(Patch::Keep, Patch::Set),
        is_externally_visible: r.patch_bool("isExternallyVisible")?,
        catalog_type: r
            .opt_enum("catalogType", CatalogType::parse_any_case)?
            .map_or(Patch::Keep, Patch::Set),
    };
    call.tenant
        .write(|s| ops::catalog::update(s, &call.op(), &id, patch))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

fn delete_catalog(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    call.tenant
        .write(|s| ops::catalog::delete(s, &call.op(), &id))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

fn list_catalog_packages(call: &Call<'_>, target: &Target, id: Uuid) -> Result<Reply, GraphError> {
    let v = call.version;
    let items = call.tenant.read(|s| {
        ops::catalog::list_packages(s, &call.op(), &id)
            .map(|ps| ps.iter().map(|p| p.to_json(v)).collect())
    })?;
    Ok(Reply::Collection {
        context: call.collection_context(target),
        items,
    })
}

fn get_catalog_package(
    call: &Call<'_>,
    target: &Target,
    catalog: Uuid,
    id: Uuid,
) -> Result<Reply, GraphError> {
    let v = call.version;
    let body = call.tenant.read(|s| {
        // Reading the catalog authorizes the read; a package of another catalog is simply not
        // in this one (and must not reveal that it exists elsewhere).
        ops::catalog::get(s, &call.op(), &catalog)?;
        match s.access_package(&id) {
            Some(p) if p.catalog_id == catalog => Ok(p.to_json(v)),
            _ => Err(GraphError::ResourceNotFound),
        }
    })?;
    Ok(Reply::ok(call.entity_context(target), body))
}

// ---- access packages ----

/// What a create or PATCH body may hold (the catalog may be named on PATCH but not changed).
const PACKAGE_FIELDS_V1: [&str; 4] = ["displayName", "description", "isHidden", "catalog"];
const PACKAGE_FIELDS_BETA: [&str; 6] = [
    "displayName",
    "description",
    "isHidden",
    "isRoleScopesVisible",
    "catalogId",
    "accessPackageCatalog",
];

/// The catalog a body names: v1.0 `catalog: {id}`; beta `catalogId` or (Terraform)
/// `accessPackageCatalog: {id}`. A non-GUID id names no catalog.
fn body_catalog(r: &BodyReader, v: ApiVersion) -> Result<Option<Result<Uuid, String>>, GraphError> {
    match v {
        ApiVersion::V1 => r.nested_id("catalog"),
        ApiVersion::Beta => {
            let flat = r.opt_guid("catalogId")?;
            let nested = r.nested_id("accessPackageCatalog")?;
            match (flat, nested) {
                (Some(a), Some(b)) if a != b => Err(GraphError::invalid_model(
                    "catalogId and accessPackageCatalog.id name different catalogs",
                )),
                (Some(a), _) => Ok(Some(a)),
                (None, b) => Ok(b),
            }
        }
    }
}

/// A catalog id that parses nowhere stands for a catalog that does not exist.
const NO_SUCH_CATALOG: Uuid = Uuid::nil();

fn list_packages(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let v = call.version;
    let items = call.tenant.read(|s| {
        ops::access_package::list(s, &call.op()).map(|ps| {
            ps.iter()
                .map(|p| {
                    let body = p.to_json(v);
                    // The v1.0 list example carries @odata.type on each item (A2.1).
                    if v == ApiVersion::V1 {
                        typed("#microsoft.graph.accessPackage", body)
                    } else {
                        body
                    }
                })
                .collect()
        })
    })?;
    Ok(Reply::Collection {
        context: call.collection_context(target),
        items,
    })
}

fn typed(odata_type: &str, body: Value) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("@odata.type".into(), json!(odata_type));
    if let Value::Object(fields) = body {
        m.extend(fields);
    }
    Value::Object(m)
}

fn get_package(call: &Call<'_>, target: &Target, id: Uuid) -> Result<Reply, GraphError> {
    let v = call.version;
    let body = call
        .tenant
        .read(|s| ops::access_package::get(s, &call.op(), &id).map(|p| p.to_json(v)))?;
    Ok(Reply::ok(call.entity_context(target), body))
}

fn create_package(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let v = call.version;
    let allowed: &[&str] = v.pick(&PACKAGE_FIELDS_V1, &PACKAGE_FIELDS_BETA);
    let r = call.reader(allowed)?;
    let catalog = body_catalog(&r, v)?.ok_or_else(|| {
        GraphError::invalid_model(v.pick(
            "'catalog' ({\"id\": …}) is required",
            "'catalogId' is required",
        ))
    })?;
    let new = NewAccessPackage {
        catalog_id: catalog.unwrap_or(NO_SUCH_CATALOG),
        display_name: r.required_name("displayName")?,
        description: r.opt_string("description")?,
        is_hidden: r.opt_bool("isHidden")?,
        is_role_scopes_visible: v.pick(None, r.opt_bool("isRoleScopesVisible")?),
    };
    let package = call
        .tenant
        .write(|s| ops::access_package::create(s, &call.op(), new))?;
    Ok(Reply::created(
        call.entity_context(target),
        package.to_json(v),
        call.location(target, package.id),
    ))
}

fn update_package(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    let v = call.version;
    let allowed: &[&str] = v.pick(&PACKAGE_FIELDS_V1, &PACKAGE_FIELDS_BETA);
    let r = call.reader(allowed)?;
    let patch = AccessPackagePatch {
        display_name: r.patch_name("displayName")?,
        description: r.patch_nullable_string("description")?,
        is_hidden: r.patch_bool("isHidden")?,
        is_role_scopes_visible: v.pick(Patch::Keep, r.patch_bool("isRoleScopesVisible")?),
        catalog: body_catalog(&r, v)?.map(|c| c.unwrap_or(NO_SUCH_CATALOG)),
    };
    call.tenant
        .write(|s| ops::access_package::update(s, &call.op(), &id, patch))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

fn delete_package(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    call.tenant
        .write(|s| ops::access_package::delete(s, &call.op(), &id))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

fn move_package(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    let r = call.reader(&["catalogId"])?;
    let target = r
        .opt_guid("catalogId")?
        .ok_or_else(|| GraphError::invalid_model("'catalogId' is required"))?
        .unwrap_or(NO_SUCH_CATALOG);
    call.tenant
        .write(|s| ops::access_package::move_to_catalog(s, &call.op(), &id, target))?;
    // The beta page answers 200 OK with no body (B2.5).
    Ok(Reply::Empty(StatusCode::OK))
}

// ---- role management ----

fn role_definition_json(d: &EmRoleDefinition) -> Value {
    json!({
        "id": d.id,
        "description": d.display_name,
        "displayName": d.display_name,
        "isBuiltIn": true,
        "isEnabled": true,
        "templateId": d.id,
        "version": "1.0",
        "rolePermissions": [{"allowedResourceActions": d.allowed_resource_actions, "condition": null}],
    })
}

fn list_role_definitions(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let defs = call
        .tenant
        .read(|s| ops::role::list_definitions(s, &call.op()))?;
    Ok(Reply::Collection {
        context: call.collection_context(target),
        items: defs.iter().map(role_definition_json).collect(),
    })
}

fn get_role_definition(call: &Call<'_>, target: &Target, id: Uuid) -> Result<Reply, GraphError> {
    let def = call
        .tenant
        .read(|s| ops::role::get_definition(s, &call.op(), &id))?;
    Ok(Reply::ok(
        call.entity_context(target),
        role_definition_json(def),
    ))
}

fn list_role_assignments(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let items = call.tenant.read(|s| {
        ops::role::list_assignments(s, &call.op())
            .map(|as_| as_.iter().map(|a| a.to_json()).collect())
    })?;
    Ok(Reply::Collection {
        context: call.collection_context(target),
        items,
    })
}

fn get_role_assignment(call: &Call<'_>, target: &Target, id: Uuid) -> Result<Reply, GraphError> {
    let body = call
        .tenant
        .read(|s| ops::role::get_assignment(s, &call.op(), &id).map(|a| a.to_json()))?;
    Ok(Reply::ok(call.entity_context(target), body))
}

fn create_role_assignment(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let r = call.reader(&[
        "principalId",
        "roleDefinitionId",
        "appScopeId",
        "directoryScopeId",
        "condition",
    ])?;
    let guid = |key: &str| -> Result<Uuid, GraphError> {
        match r.opt_guid(key)? {
            Some(Ok(id)) => Ok(id),
            Some(Err(text)) => Err(GraphError::invalid_model(format!(
                "'{key}' is not a GUID: '{text}'"
            ))),
            None => Err(GraphError::invalid_model(format!("'{key}' is required"))),
        }
    };
    if r.opt_string("condition")?.is_some() {
        return Err(GraphError::invalid_model(
            "conditions are not supported on entitlement-management role assignments",
        ));
    }
    let new = NewRoleAssignment {
        principal_id: guid("principalId")?,
        role_definition_id: guid("roleDefinitionId")?,
        app_scope_id: r.opt_string("appScopeId")?,
        directory_scope_id: r.opt_string("directoryScopeId")?,
    };
    let assignment = call
        .tenant
        .write(|s| ops::role::create_assignment(s, &call.op(), new))?;
    Ok(Reply::created(
        call.entity_context(target),
        assignment.to_json(),
        call.location(target, assignment.id),
    ))
}

fn delete_role_assignment(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    call.tenant
        .write(|s| ops::role::delete_assignment(s, &call.op(), &id))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}
