//! How each entity type meets the query engine: its schema per version (for `$filter`,
//! `$select`, `$orderby`), typed property access, rendering and `$expand`.

use std::borrow::Cow;

use serde_json::{Value, json};
use uuid::Uuid;

use super::ApiVersion;
use super::em::{AccessPackage, AppScope, Catalog, EmRoleAssignment, WireEnum};
use crate::authz::{EmRoleDefinition, role_definition};
use crate::odata::eval::{Field, Ty, field};
use crate::odata::page::{Resource, shape};
use crate::odata::{EvalCx, Expand, Prop, Queryable};

fn s(text: &str) -> Prop<'_> {
    Prop::Str(Cow::Borrowed(text))
}

fn opt(text: &Option<String>) -> Prop<'_> {
    text.as_deref().map_or(Prop::Null, s)
}

/// Navigations whose targets are not emulated yet expand to an empty collection: true of the
/// emulated tenant, where nothing can have been added to them.
fn not_emulated_yet() -> Option<Value> {
    Some(json!([]))
}

const CATALOG_V1: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("catalogType", Ty::Enum),
    field("state", Ty::Enum),
    field("isExternallyVisible", Ty::Bool),
    field("createdDateTime", Ty::Date),
    field("modifiedDateTime", Ty::Date),
    field("accessPackages", Ty::NavMany("accessPackage")),
    field("resources", Ty::NavMany("accessPackageResource")),
    field("resourceRoles", Ty::NavMany("accessPackageResourceRole")),
    field("resourceScopes", Ty::NavMany("accessPackageResourceScope")),
    field(
        "customWorkflowExtensions",
        Ty::NavMany("customCalloutExtension"),
    ),
];
const CATALOG_BETA: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("catalogType", Ty::Enum),
    field("catalogStatus", Ty::Enum),
    field("isExternallyVisible", Ty::Bool),
    field("createdBy", Ty::Str),
    field("createdDateTime", Ty::Date),
    field("modifiedBy", Ty::Str),
    field("modifiedDateTime", Ty::Date),
    field("accessPackages", Ty::NavMany("accessPackage")),
    field(
        "accessPackageResources",
        Ty::NavMany("accessPackageResource"),
    ),
    field(
        "accessPackageResourceRoles",
        Ty::NavMany("accessPackageResourceRole"),
    ),
    field(
        "accessPackageResourceScopes",
        Ty::NavMany("accessPackageResourceScope"),
    ),
    field(
        "accessPackageCustomWorkflowExtensions",
        Ty::NavMany("customCalloutExtension"),
    ),
    field(
        "customAccessPackageWorkflowExtensions",
        Ty::NavMany("customCalloutExtension"),
    ),
];

impl Queryable for Catalog {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackageCatalog";

    fn fields(version: ApiVersion) -> &'static [Field] {
        version.pick(CATALOG_V1, CATALOG_BETA)
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "displayName" => s(&self.display_name),
            "description" => opt(&self.description),
            "catalogType" => Prop::Enum(Cow::Borrowed(self.catalog_type.v1_name())),
            "state" | "catalogStatus" => Prop::Enum(Cow::Borrowed(self.state.v1_name())),
            "isExternallyVisible" => Prop::Bool(self.is_externally_visible),
            "createdBy" => opt(&self.created_by),
            "modifiedBy" => opt(&self.modified_by),
            "createdDateTime" => Prop::Date(self.created),
            "modifiedDateTime" => Prop::Date(self.modified),
            "accessPackages" => {
                let items: Vec<Value> = cx
                    .state
                    .packages_in_catalog(&self.id)
                    .map(|p| p.to_json(cx.version))
                    .collect();
                Prop::Json(Cow::Owned(Value::Array(items)))
            }
            _ => Prop::Json(Cow::Owned(json!([]))),
        }
    }
}

impl Resource for Catalog {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        match field {
            "accessPackages" => Some(Value::Array(
                cx.state
                    .packages_in_catalog(&self.id)
                    .map(|p| shape(p, item.select.as_deref(), &item.expand, cx))
                    .collect(),
            )),
            "resources" | "accessPackageResources" => Some(Value::Array(
                cx.state
                    .resources()
                    .iter()
                    .filter(|r| r.catalog_id == self.id)
                    .map(|r| shape(r, item.select.as_deref(), &item.expand, cx))
                    .collect(),
            )),
            _ => not_emulated_yet(),
        }
    }
}

const PACKAGE_V1: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("isHidden", Ty::Bool),
    field("createdDateTime", Ty::Date),
    field("modifiedDateTime", Ty::Date),
    field("catalog", Ty::Nav("accessPackageCatalog")),
    field(
        "assignmentPolicies",
        Ty::NavMany("accessPackageAssignmentPolicy"),
    ),
    field(
        "resourceRoleScopes",
        Ty::NavMany("accessPackageResourceRoleScope"),
    ),
    field("incompatibleAccessPackages", Ty::NavMany("accessPackage")),
    field(
        "accessPackagesIncompatibleWith",
        Ty::NavMany("accessPackage"),
    ),
    field("incompatibleGroups", Ty::NavMany("group")),
];
const PACKAGE_BETA: &[Field] = &[
    field("id", Ty::Guid),
    field("catalogId", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("isHidden", Ty::Bool),
    field("isRoleScopesVisible", Ty::Bool),
    field("createdBy", Ty::Str),
    field("createdDateTime", Ty::Date),
    field("modifiedBy", Ty::Str),
    field("modifiedDateTime", Ty::Date),
    field("accessPackageCatalog", Ty::Nav("accessPackageCatalog")),
    field(
        "accessPackageAssignmentPolicies",
        Ty::NavMany("accessPackageAssignmentPolicy"),
    ),
    field(
        "accessPackageResourceRoleScopes",
        Ty::NavMany("accessPackageResourceRoleScope"),
    ),
    field("incompatibleAccessPackages", Ty::NavMany("accessPackage")),
    field(
        "accessPackagesIncompatibleWith",
        Ty::NavMany("accessPackage"),
    ),
    field("incompatibleGroups", Ty::NavMany("group")),
];

impl Queryable for AccessPackage {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackage";

    fn fields(version: ApiVersion) -> &'static [Field] {
        version.pick(PACKAGE_V1, PACKAGE_BETA)
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "catalogId" => Prop::Guid(self.catalog_id),
            "displayName" => s(&self.display_name),
            "description" => opt(&self.description),
            "isHidden" => Prop::Bool(self.is_hidden),
            "isRoleScopesVisible" => Prop::Bool(self.is_role_scopes_visible),
            "createdBy" => opt(&self.created_by),
            "modifiedBy" => opt(&self.modified_by),
            "createdDateTime" => Prop::Date(self.created),
            "modifiedDateTime" => Prop::Date(self.modified),
            "catalog" | "accessPackageCatalog" => cx
                .state
                .catalogs
                .get(&self.catalog_id)
                .map_or(Prop::Null, |c| {
                    Prop::Json(Cow::Owned(c.to_json(cx.version)))
                }),
            _ => Prop::Json(Cow::Owned(json!([]))),
        }
    }

    fn nav_id(&self, field: &str) -> Option<Uuid> {
        matches!(field, "catalog" | "accessPackageCatalog").then_some(self.catalog_id)
    }
}

impl Resource for AccessPackage {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    // `to_json` reads nothing but the package and the version.
    fn listing_cache(&self) -> Option<&crate::odata::page::ListingCache> {
        Some(&self.listing_json)
    }

    fn list_item_type(version: ApiVersion) -> Option<&'static str> {
        version.pick(Some("#microsoft.graph.accessPackage"), None)
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        match field {
            "catalog" | "accessPackageCatalog" => Some(
                cx.state
                    .catalogs
                    .get(&self.catalog_id)
                    .map_or(Value::Null, |c| {
                        shape(c, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            "resourceRoleScopes" | "accessPackageResourceRoleScopes" => Some(Value::Array(
                self.role_scopes
                    .iter()
                    .map(|rs| shape(rs, item.select.as_deref(), &item.expand, cx))
                    .collect(),
            )),
            "assignmentPolicies" | "accessPackageAssignmentPolicies" => Some(Value::Array(
                crate::ops::policy::of_package(cx.state, &self.id)
                    .map(|p| shape(p, item.select.as_deref(), &item.expand, cx))
                    .collect(),
            )),
            "incompatibleAccessPackages" => Some(Value::Array(
                self.incompatible_packages
                    .iter()
                    .filter_map(|p| cx.state.access_package(p))
                    .map(|p| shape(p, item.select.as_deref(), &item.expand, cx))
                    .collect(),
            )),
            "accessPackagesIncompatibleWith" => Some(Value::Array(
                cx.state
                    .access_packages()
                    .iter()
                    .filter(|p| p.incompatible_packages.contains(&self.id))
                    .map(|p| shape(p, item.select.as_deref(), &item.expand, cx))
                    .collect(),
            )),
            "incompatibleGroups" => Some(Value::Array(
                self.incompatible_groups
                    .iter()
                    .filter_map(|g| cx.state.directory.groups.get(g))
                    .map(|g| shape(g, item.select.as_deref(), &item.expand, cx))
                    .collect(),
            )),
            _ => not_emulated_yet(),
        }
    }
}

const ROLE_ASSIGNMENT: &[Field] = &[
    field("id", Ty::Guid),
    field("principalId", Ty::Guid),
    field("roleDefinitionId", Ty::Guid),
    field("directoryScopeId", Ty::Str),
    field("appScopeId", Ty::Str),
    field("roleDefinition", Ty::Nav("unifiedRoleDefinition")),
    field("principal", Ty::Nav("directoryObject")),
];

impl Queryable for EmRoleAssignment {
    const TYPE_NAME: &'static str = "microsoft.graph.unifiedRoleAssignment";

    fn fields(_: ApiVersion) -> &'static [Field] {
        ROLE_ASSIGNMENT
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "principalId" => Prop::Guid(self.principal_id),
            "roleDefinitionId" => Prop::Guid(self.role_definition_id),
            "appScopeId" => Prop::Str(Cow::Owned(self.scope.render())),
            "directoryScopeId" => match self.scope {
                AppScope::Tenant => s("/"),
                AppScope::Catalog(_) => Prop::Null,
            },
            "roleDefinition" => role_definition(&self.role_definition_id)
                .map_or(Prop::Null, |d| Prop::Json(Cow::Owned(d.render(cx)))),
            "principal" => Prop::Json(Cow::Owned(principal_json(cx, &self.principal_id))),
            _ => Prop::Null,
        }
    }

    fn nav_id(&self, field: &str) -> Option<Uuid> {
        match field {
            "roleDefinition" => Some(self.role_definition_id),
            "principal" => Some(self.principal_id),
            _ => None,
        }
    }
}

/// A directory object as `$expand=principal` shows it.
fn principal_json(cx: &EvalCx<'_>, id: &Uuid) -> Value {
    let dir = &cx.state.directory;
    if let Some(u) = dir.users.get(id) {
        return json!({"@odata.type": "#microsoft.graph.user", "id": u.id, "displayName": u.display_name, "userPrincipalName": u.user_principal_name, "mail": u.mail});
    }
    if let Some(g) = dir.groups.get(id) {
        return json!({"@odata.type": "#microsoft.graph.group", "id": g.id, "displayName": g.display_name, "description": g.description});
    }
    if let Some(sp) = dir.service_principals.get(id) {
        return json!({"@odata.type": "#microsoft.graph.servicePrincipal", "id": sp.id, "appId": sp.app_id, "displayName": sp.display_name});
    }
    Value::Null
}

impl Resource for EmRoleAssignment {
    fn render(&self, _: &EvalCx<'_>) -> Value {
        self.to_json()
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        match field {
            "roleDefinition" => Some(
                role_definition(&self.role_definition_id).map_or(Value::Null, |d| {
                    shape(d, item.select.as_deref(), &item.expand, cx)
                }),
            ),
            "principal" => Some(crate::odata::page::project(
                principal_json(cx, &self.principal_id),
                item.select.as_deref(),
            )),
            _ => None,
        }
    }
}

const ROLE_DEFINITION: &[Field] = &[
    field("id", Ty::Guid),
    field("description", Ty::Str),
    field("displayName", Ty::Str),
    field("isBuiltIn", Ty::Bool),
    field("isEnabled", Ty::Bool),
    field("templateId", Ty::Str),
    field("version", Ty::Str),
    field("rolePermissions", Ty::Json),
];

impl Queryable for EmRoleDefinition {
    const TYPE_NAME: &'static str = "microsoft.graph.unifiedRoleDefinition";

    fn fields(_: ApiVersion) -> &'static [Field] {
        ROLE_DEFINITION
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "description" | "displayName" => s(self.display_name),
            "isBuiltIn" | "isEnabled" => Prop::Bool(true),
            "templateId" => Prop::Str(Cow::Owned(self.id.to_string())),
            "version" => s("1.0"),
            "rolePermissions" => Prop::Json(Cow::Owned(self.render(cx)["rolePermissions"].take())),
            _ => Prop::Null,
        }
    }
}

impl Resource for EmRoleDefinition {
    /// As the v1.0 "List roleDefinitions" example shows them
    /// (https://learn.microsoft.com/graph/api/rbacapplication-list-roledefinitions?view=graph-rest-1.0).
    fn render(&self, _: &EvalCx<'_>) -> Value {
        json!({
            "id": self.id,
            "description": self.display_name,
            "displayName": self.display_name,
            "isBuiltIn": true,
            "isEnabled": true,
            "templateId": self.id,
            "version": "1.0",
            "rolePermissions": [{"allowedResourceActions": self.allowed_resource_actions, "condition": null}],
        })
    }

    fn expand(&self, _: &str, _: &Expand, _: &EvalCx<'_>) -> Option<Value> {
        None
    }
}

// ---- catalog resources ----

use super::resources::{CatalogResource, ResourceRequest, ResourceRole, ResourceScope, RoleScope};

const RESOURCE_V1: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("createdDateTime", Ty::Date),
    field("modifiedDateTime", Ty::Date),
    field("originId", Ty::Str),
    field("originSystem", Ty::Str),
    field("attributes", Ty::Json),
    field("roles", Ty::NavMany("accessPackageResourceRole")),
    field("scopes", Ty::NavMany("accessPackageResourceScope")),
    field("environment", Ty::Nav("accessPackageResourceEnvironment")),
];
const RESOURCE_BETA: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("url", Ty::Str),
    field("resourceType", Ty::Str),
    field("originId", Ty::Str),
    field("originSystem", Ty::Str),
    field("isPendingOnboarding", Ty::Bool),
    field("addedBy", Ty::Str),
    field("addedOn", Ty::Date),
    field("attributes", Ty::Json),
    field(
        "accessPackageResourceRoles",
        Ty::NavMany("accessPackageResourceRole"),
    ),
    field(
        "accessPackageResourceScopes",
        Ty::NavMany("accessPackageResourceScope"),
    ),
    field(
        "accessPackageResourceEnvironment",
        Ty::Nav("accessPackageResourceEnvironment"),
    ),
];

impl Queryable for CatalogResource {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackageResource";

    fn fields(version: ApiVersion) -> &'static [Field] {
        version.pick(RESOURCE_V1, RESOURCE_BETA)
    }

    fn value<'a>(&'a self, field: &str, _cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "displayName" => s(&self.display_name),
            "description" => opt(&self.description),
            "url" => opt(&self.url),
            "resourceType" => s(self.resource_type),
            "originId" => s(&self.origin_id),
            "originSystem" => s(self.origin_system.name()),
            "isPendingOnboarding" => Prop::Bool(false),
            "addedBy" => opt(&self.added_by),
            "addedOn" | "createdDateTime" | "modifiedDateTime" => Prop::Date(self.added),
            "attributes" => Prop::Json(Cow::Owned(json!([]))),
            _ => Prop::Null,
        }
    }
}

impl Resource for CatalogResource {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        match field {
            "roles" | "accessPackageResourceRoles" => Some(Value::Array(
                cx.state
                    .roles_of(&self.id)
                    .map(|r| shape(r, item.select.as_deref(), &item.expand, cx))
                    .collect(),
            )),
            "scopes" | "accessPackageResourceScopes" => Some(Value::Array(
                cx.state
                    .scopes_of(&self.id)
                    .map(|r| shape(r, item.select.as_deref(), &item.expand, cx))
                    .collect(),
            )),
            // One environment per tenant is all the emulator models [inf].
            _ => Some(Value::Null),
        }
    }
}

const ROLE_V1: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("originId", Ty::Str),
    field("originSystem", Ty::Str),
    field("resource", Ty::Nav("accessPackageResource")),
];
const ROLE_BETA: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("originId", Ty::Str),
    field("originSystem", Ty::Str),
    field("accessPackageResource", Ty::Nav("accessPackageResource")),
];

impl Queryable for ResourceRole {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackageResourceRole";

    fn fields(version: ApiVersion) -> &'static [Field] {
        version.pick(ROLE_V1, ROLE_BETA)
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "displayName" => s(&self.display_name),
            "description" => opt(&self.description),
            "originId" => s(&self.origin_id),
            "originSystem" => s(self.origin_system.name()),
            "resource" | "accessPackageResource" => cx
                .state
                .resource(&self.resource_id)
                .map_or(Prop::Null, |r| {
                    Prop::Json(Cow::Owned(r.to_json(cx.version)))
                }),
            _ => Prop::Null,
        }
    }

    fn nav_id(&self, field: &str) -> Option<Uuid> {
        matches!(field, "resource" | "accessPackageResource").then_some(self.resource_id)
    }
}

impl Resource for ResourceRole {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        match field {
            "resource" | "accessPackageResource" => Some(
                cx.state
                    .resource(&self.resource_id)
                    .map_or(Value::Null, |r| {
                        shape(r, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            _ => None,
        }
    }
}

const SCOPE_V1: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("originId", Ty::Str),
    field("originSystem", Ty::Str),
    field("isRootScope", Ty::Bool),
    field("resource", Ty::Nav("accessPackageResource")),
];
const SCOPE_BETA: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("originId", Ty::Str),
    field("originSystem", Ty::Str),
    field("isRootScope", Ty::Bool),
    field("accessPackageResource", Ty::Nav("accessPackageResource")),
];

impl Queryable for ResourceScope {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackageResourceScope";

    fn fields(version: ApiVersion) -> &'static [Field] {
        version.pick(SCOPE_V1, SCOPE_BETA)
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "displayName" => s(&self.display_name),
            "description" => s(&self.description),
            "originId" => s(&self.origin_id),
            "originSystem" => s(self.origin_system.name()),
            "isRootScope" => Prop::Bool(self.is_root_scope),
            "resource" | "accessPackageResource" => cx
                .state
                .resource(&self.resource_id)
                .map_or(Prop::Null, |r| {
                    Prop::Json(Cow::Owned(r.to_json(cx.version)))
                }),
            _ => Prop::Null,
        }
    }

    fn nav_id(&self, field: &str) -> Option<Uuid> {
        matches!(field, "resource" | "accessPackageResource").then_some(self.resource_id)
    }
}

impl Resource for ResourceScope {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        match field {
            "resource" | "accessPackageResource" => Some(
                cx.state
                    .resource(&self.resource_id)
                    .map_or(Value::Null, |r| {
                        shape(r, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            _ => None,
        }
    }
}

const REQUEST_V1: &[Field] = &[
    field("id", Ty::Guid),
    field("requestType", Ty::Enum),
    field("state", Ty::Enum),
    field("createdDateTime", Ty::Date),
    field("catalog", Ty::Nav("accessPackageCatalog")),
    field("resource", Ty::Nav("accessPackageResource")),
];
const REQUEST_BETA: &[Field] = &[
    field("id", Ty::Guid),
    field("catalogId", Ty::Guid),
    field("requestType", Ty::Enum),
    field("requestState", Ty::Enum),
    field("requestStatus", Ty::Str),
    field("justification", Ty::Str),
    field("isValidationOnly", Ty::Bool),
    field("executeImmediately", Ty::Bool),
    field("expirationDateTime", Ty::Date),
    field("accessPackageResource", Ty::Nav("accessPackageResource")),
];

impl Queryable for ResourceRequest {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackageResourceRequest";

    fn fields(version: ApiVersion) -> &'static [Field] {
        version.pick(REQUEST_V1, REQUEST_BETA)
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "catalogId" => Prop::Guid(self.catalog_id),
            "requestType" => Prop::Enum(Cow::Borrowed(self.request_type.v1_name())),
            "state" | "requestState" => Prop::Enum(Cow::Borrowed("delivered")),
            "requestStatus" => s("Fulfilled"),
            "justification" => opt(&self.justification),
            "isValidationOnly" => Prop::Bool(self.is_validation_only),
            "executeImmediately" => Prop::Bool(self.execute_immediately),
            "createdDateTime" => Prop::Date(self.created),
            "catalog" => cx
                .state
                .catalogs
                .get(&self.catalog_id)
                .map_or(Prop::Null, |c| {
                    Prop::Json(Cow::Owned(c.to_json(cx.version)))
                }),
            _ => Prop::Null,
        }
    }

    fn nav_id(&self, field: &str) -> Option<Uuid> {
        match field {
            "catalog" => Some(self.catalog_id),
            "resource" | "accessPackageResource" => self.resource_id,
            _ => None,
        }
    }
}

impl Resource for ResourceRequest {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        match field {
            "catalog" => Some(
                cx.state
                    .catalogs
                    .get(&self.catalog_id)
                    .map_or(Value::Null, |c| {
                        shape(c, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            _ => Some(
                self.resource_id
                    .and_then(|r| cx.state.resource(&r))
                    .map_or(Value::Null, |r| {
                        shape(r, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
        }
    }
}

const ROLE_SCOPE_V1: &[Field] = &[
    field("id", Ty::Str),
    field("createdDateTime", Ty::Date),
    field("role", Ty::Nav("accessPackageResourceRole")),
    field("scope", Ty::Nav("accessPackageResourceScope")),
];
const ROLE_SCOPE_BETA: &[Field] = &[
    field("id", Ty::Str),
    field("createdBy", Ty::Str),
    field("createdDateTime", Ty::Date),
    field("modifiedBy", Ty::Str),
    field("modifiedDateTime", Ty::Date),
    field(
        "accessPackageResourceRole",
        Ty::Nav("accessPackageResourceRole"),
    ),
    field(
        "accessPackageResourceScope",
        Ty::Nav("accessPackageResourceScope"),
    ),
];

impl Queryable for RoleScope {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackageResourceRoleScope";

    fn fields(version: ApiVersion) -> &'static [Field] {
        version.pick(ROLE_SCOPE_V1, ROLE_SCOPE_BETA)
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Str(Cow::Owned(self.id())),
            "createdBy" | "modifiedBy" => opt(&self.created_by),
            "createdDateTime" | "modifiedDateTime" => Prop::Date(self.created),
            "role" | "accessPackageResourceRole" => cx
                .state
                .resource_role(&self.role_id)
                .map_or(Prop::Null, |r| {
                    Prop::Json(Cow::Owned(r.to_json(cx.version)))
                }),
            "scope" | "accessPackageResourceScope" => cx
                .state
                .resource_scope(&self.scope_id)
                .map_or(Prop::Null, |r| {
                    Prop::Json(Cow::Owned(r.to_json(cx.version)))
                }),
            _ => Prop::Null,
        }
    }

    fn nav_id(&self, field: &str) -> Option<Uuid> {
        match field {
            "role" | "accessPackageResourceRole" => Some(self.role_id),
            "scope" | "accessPackageResourceScope" => Some(self.scope_id),
            _ => None,
        }
    }
}

impl Resource for RoleScope {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        match field {
            "role" | "accessPackageResourceRole" => Some(
                cx.state
                    .resource_role(&self.role_id)
                    .map_or(Value::Null, |r| {
                        shape(r, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            "scope" | "accessPackageResourceScope" => Some(
                cx.state
                    .resource_scope(&self.scope_id)
                    .map_or(Value::Null, |r| {
                        shape(r, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            _ => None,
        }
    }
}

// ---- assignment policies ----

use super::policy::Policy;

const POLICY_V1: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("allowedTargetScope", Ty::Enum),
    field("createdDateTime", Ty::Date),
    field("modifiedDateTime", Ty::Date),
    field("automaticRequestSettings", Ty::Json),
    field("reviewSettings", Ty::Json),
    field("specificAllowedTargets", Ty::Json),
    field("expiration", Ty::Json),
    field("requestorSettings", Ty::Json),
    field("requestApprovalSettings", Ty::Json),
    field("notificationSettings", Ty::Json),
    field("accessPackage", Ty::Nav("accessPackage")),
    field("catalog", Ty::Nav("accessPackageCatalog")),
    field("questions", Ty::NavMany("accessPackageQuestion")),
    field(
        "customExtensionStageSettings",
        Ty::NavMany("customExtensionStageSetting"),
    ),
];
const POLICY_BETA: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("canExtend", Ty::Bool),
    field("durationInDays", Ty::Int),
    field("expirationDateTime", Ty::Date),
    field("accessPackageId", Ty::Guid),
    field("accessReviewSettings", Ty::Json),
    field("questions", Ty::Json),
    field("requestorSettings", Ty::Json),
    field("requestApprovalSettings", Ty::Json),
    field("createdBy", Ty::Str),
    field("createdDateTime", Ty::Date),
    field("modifiedBy", Ty::Str),
    field("modifiedDateTime", Ty::Date),
    field("accessPackage", Ty::Nav("accessPackage")),
    field("accessPackageCatalog", Ty::Nav("accessPackageCatalog")),
    field(
        "customExtensionHandlers",
        Ty::NavMany("customExtensionHandler"),
    ),
    field(
        "customExtensionStageSettings",
        Ty::NavMany("customExtensionStageSetting"),
    ),
];

impl Queryable for Policy {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackageAssignmentPolicy";

    fn fields(version: ApiVersion) -> &'static [Field] {
        version.pick(POLICY_V1, POLICY_BETA)
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "accessPackageId" => Prop::Guid(self.access_package_id),
            "displayName" => s(&self.display_name),
            "description" => opt(&self.description),
            "allowedTargetScope" => Prop::Enum(Cow::Borrowed(self.target_scope.v1_name())),
            "canExtend" => Prop::Bool(self.requestor.self_update),
            "createdBy" => opt(&self.created_by),
            "modifiedBy" => opt(&self.modified_by),
            "createdDateTime" => Prop::Date(self.created),
            "modifiedDateTime" => Prop::Date(self.modified),
            "accessPackage" => cx
                .state
                .access_package(&self.access_package_id)
                .map_or(Prop::Null, |p| {
                    Prop::Json(Cow::Owned(p.to_json(cx.version)))
                }),
            other => {
                let rendered = self.to_json(cx.version);
                Prop::Json(Cow::Owned(
                    rendered.get(other).cloned().unwrap_or(Value::Null),
                ))
            }
        }
    }

    fn nav_id(&self, field: &str) -> Option<Uuid> {
        (field == "accessPackage").then_some(self.access_package_id)
    }
}

impl Resource for Policy {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        let package = cx.state.access_package(&self.access_package_id);
        match field {
            "accessPackage" => Some(package.map_or(Value::Null, |p| {
                shape(p, item.select.as_deref(), &item.expand, cx)
            })),
            "catalog" | "accessPackageCatalog" => Some(
                package
                    .and_then(|p| cx.state.catalogs.get(&p.catalog_id))
                    .map_or(Value::Null, |c| {
                        shape(c, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            "questions" => Some(Value::Array(
                self.questions
                    .iter()
                    .map(|q| crate::odata::page::project(q.to_v1(), item.select.as_deref()))
                    .collect(),
            )),
            "customExtensionStageSettings" | "customExtensionHandlers" => Some(Value::Array(
                self.extension_stages
                    .iter()
                    .map(|(stage, ext)| {
                        json!({
                            "id": crate::model::resources::derived_id(self.id, "stage", &format!("{stage}:{ext}")),
                            "stage": stage,
                            "customExtension": cx.state.extensions.get(ext).map_or(Value::Null, |x| shape(x, item.select.as_deref(), &item.expand, cx)),
                        })
                    })
                    .collect(),
            )),
            _ => not_emulated_yet(),
        }
    }
}

// ---- directory groups (incompatible groups) and connected organizations ----

use super::directory::Group;
use super::org::ConnectedOrganization;

const GROUP: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("mailNickname", Ty::Str),
    field("securityEnabled", Ty::Bool),
    field("mailEnabled", Ty::Bool),
    field("groupTypes", Ty::Json),
];

impl Queryable for Group {
    const TYPE_NAME: &'static str = "microsoft.graph.group";

    fn fields(_: ApiVersion) -> &'static [Field] {
        GROUP
    }

    fn value<'a>(&'a self, field: &str, _cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "displayName" => s(&self.display_name),
            "description" => opt(&self.description),
            "mailNickname" => opt(&self.mail_nickname),
            "securityEnabled" => Prop::Bool(self.security_enabled),
            "mailEnabled" => Prop::Bool(self.mail_enabled),
            "groupTypes" => Prop::Json(Cow::Owned(json!(self.group_types))),
            _ => Prop::Null,
        }
    }
}

impl Resource for Group {
    /// The v1.0 "List incompatibleGroups" example shows `id` and `displayName`
    /// (https://learn.microsoft.com/graph/api/accesspackage-list-incompatiblegroups?view=graph-rest-1.0);
    /// the directory's usual group fields follow.
    fn render(&self, _: &EvalCx<'_>) -> Value {
        json!({
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "mailNickname": self.mail_nickname,
            "securityEnabled": self.security_enabled,
            "mailEnabled": self.mail_enabled,
            "groupTypes": self.group_types,
        })
    }

    fn expand(&self, _: &str, _: &Expand, _: &EvalCx<'_>) -> Option<Value> {
        None
    }
}

const ORGANIZATION_V1: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("createdDateTime", Ty::Date),
    field("modifiedDateTime", Ty::Date),
    field("identitySources", Ty::Json),
    field("state", Ty::Enum),
    field("internalSponsors", Ty::NavMany("directoryObject")),
    field("externalSponsors", Ty::NavMany("directoryObject")),
];
const ORGANIZATION_BETA: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("createdDateTime", Ty::Date),
    field("modifiedDateTime", Ty::Date),
    field("createdBy", Ty::Str),
    field("modifiedBy", Ty::Str),
    field("identitySources", Ty::Json),
    field("state", Ty::Enum),
    field("internalSponsors", Ty::NavMany("directoryObject")),
    field("externalSponsors", Ty::NavMany("directoryObject")),
];

impl Queryable for ConnectedOrganization {
    const TYPE_NAME: &'static str = "microsoft.graph.connectedOrganization";

    fn fields(version: ApiVersion) -> &'static [Field] {
        version.pick(ORGANIZATION_V1, ORGANIZATION_BETA)
    }

    fn value<'a>(&'a self, field: &str, _cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "displayName" => s(&self.display_name),
            "description" => opt(&self.description),
            "createdDateTime" => Prop::Date(self.created),
            "modifiedDateTime" => Prop::Date(self.modified),
            "createdBy" => opt(&self.created_by),
            "modifiedBy" => opt(&self.modified_by),
            "identitySources" => Prop::Json(Cow::Owned(json!(self.identity_sources))),
            "state" => Prop::Enum(Cow::Borrowed(self.state.v1_name())),
            _ => Prop::Null,
        }
    }
}

impl Resource for ConnectedOrganization {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        let list = match field {
            "internalSponsors" => &self.internal_sponsors,
            _ => &self.external_sponsors,
        };
        Some(Value::Array(
            list.iter()
                .map(|id| {
                    crate::odata::page::project(
                        crate::ops::org::directory_object(cx.state, id),
                        item.select.as_deref(),
                    )
                })
                .collect(),
        ))
    }
}

// ---- custom workflow extensions ----

use super::extension::CustomExtension;

const EXTENSION: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("createdDateTime", Ty::Date),
    field("lastModifiedDateTime", Ty::Date),
    field("clientConfiguration", Ty::Json),
    field("endpointConfiguration", Ty::Json),
    field("authenticationConfiguration", Ty::Json),
    field("callbackConfiguration", Ty::Json),
];

impl Queryable for CustomExtension {
    const TYPE_NAME: &'static str = "microsoft.graph.customCalloutExtension";

    fn fields(_: ApiVersion) -> &'static [Field] {
        EXTENSION
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "displayName" => s(&self.display_name),
            "description" => opt(&self.description),
            "createdDateTime" => Prop::Date(self.created),
            "lastModifiedDateTime" => Prop::Date(self.modified),
            other => Prop::Json(Cow::Owned(
                self.to_json(cx.version)
                    .get(other)
                    .cloned()
                    .unwrap_or(Value::Null),
            )),
        }
    }
}

impl Resource for CustomExtension {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, _: &str, _: &Expand, _: &EvalCx<'_>) -> Option<Value> {
        None
    }
}

// ---- resource environments ----

use super::resources::ResourceEnvironment;

const ENVIRONMENT: &[Field] = &[
    field("id", Ty::Guid),
    field("displayName", Ty::Str),
    field("description", Ty::Str),
    field("originSystem", Ty::Str),
    field("originId", Ty::Str),
    field("isDefaultEnvironment", Ty::Bool),
    field("connectionInfo", Ty::Json),
];

impl Queryable for ResourceEnvironment {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackageResourceEnvironment";

    fn fields(_: ApiVersion) -> &'static [Field] {
        ENVIRONMENT
    }

    fn value<'a>(&'a self, field: &str, _cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "displayName" | "description" => s(&self.display_name),
            "originSystem" => s("SharePointOnline"),
            "originId" => s(&self.origin_id),
            "isDefaultEnvironment" => Prop::Bool(true),
            _ => Prop::Json(Cow::Owned(json!({"url": self.origin_id}))),
        }
    }
}

impl Resource for ResourceEnvironment {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, _: &str, _: &Expand, _: &EvalCx<'_>) -> Option<Value> {
        None
    }
}

// ---- lifecycle: requests, assignments, subjects ----

use super::lifecycle::{Assignment, Request, subject_id};

/// An `accessPackageSubject` for a user of the directory
/// (https://learn.microsoft.com/graph/api/resources/accesspackagesubject?view=graph-rest-1.0,
/// and its beta view).
pub fn subject_json(cx: &EvalCx<'_>, user: &Uuid) -> Value {
    let u = cx.state.directory.users.get(user);
    let name = u.map(|u| u.display_name.clone());
    let email = u.and_then(|u| u.mail.clone());
    let upn = u.map(|u| u.user_principal_name.clone());
    match cx.version {
        ApiVersion::V1 => json!({
            "id": subject_id(*user), "displayName": name, "email": email, "objectId": user,
            "onPremisesSecurityIdentifier": null, "principalName": upn, "subjectType": "user",
        }),
        ApiVersion::Beta => json!({
            "id": subject_id(*user), "displayName": name, "email": email, "objectId": user,
            "principalName": upn, "type": "User", "connectedOrganizationId": null, "altSecId": null,
            "onPremisesSecurityIdentifier": null,
        }),
    }
}

const ASSIGNMENT_REQUEST_V1: &[Field] = &[
    field("id", Ty::Guid),
    field("requestType", Ty::Enum),
    field("state", Ty::Enum),
    field("status", Ty::Str),
    field("createdDateTime", Ty::Date),
    field("completedDateTime", Ty::Date),
    field("justification", Ty::Str),
    field("schedule", Ty::Json),
    field("answers", Ty::Json),
    field("customExtensionCalloutInstances", Ty::Json),
    field("accessPackage", Ty::Nav("accessPackage")),
    field("assignment", Ty::Nav("accessPackageAssignment")),
    field("requestor", Ty::Nav("accessPackageSubject")),
];
const ASSIGNMENT_REQUEST_BETA: &[Field] = &[
    field("id", Ty::Guid),
    field("requestType", Ty::Enum),
    field("requestState", Ty::Enum),
    field("requestStatus", Ty::Str),
    field("createdDateTime", Ty::Date),
    field("completedDate", Ty::Date),
    field("justification", Ty::Str),
    field("isValidationOnly", Ty::Bool),
    field("accessPackageId", Ty::Guid),
    field("schedule", Ty::Json),
    field("answers", Ty::Json),
    field("accessPackage", Ty::Nav("accessPackage")),
    field(
        "accessPackageAssignment",
        Ty::Nav("accessPackageAssignment"),
    ),
    field("requestor", Ty::Nav("accessPackageSubject")),
];

impl Queryable for Request {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackageAssignmentRequest";

    fn fields(version: ApiVersion) -> &'static [Field] {
        version.pick(ASSIGNMENT_REQUEST_V1, ASSIGNMENT_REQUEST_BETA)
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "accessPackageId" => Prop::Guid(self.access_package_id),
            "requestType" => Prop::Enum(Cow::Borrowed(self.request_type.v1_name())),
            "state" | "requestState" => Prop::Enum(Cow::Borrowed(self.state.v1_name())),
            "status" | "requestStatus" => s(&self.status),
            "createdDateTime" => Prop::Date(self.created),
            "completedDateTime" | "completedDate" => self.completed.map_or(Prop::Null, Prop::Date),
            "justification" => opt(&self.justification),
            "isValidationOnly" => Prop::Bool(false),
            "accessPackage" => cx
                .state
                .access_package(&self.access_package_id)
                .map_or(Prop::Null, |p| {
                    Prop::Json(Cow::Owned(p.to_json(cx.version)))
                }),
            "requestor" => Prop::Json(Cow::Owned(
                self.requestor.map_or(Value::Null, |r| subject_json(cx, &r)),
            )),
            other => Prop::Json(Cow::Owned(
                self.to_json(cx.version)
                    .get(other)
                    .cloned()
                    .unwrap_or(Value::Null),
            )),
        }
    }

    fn nav_id(&self, field: &str) -> Option<Uuid> {
        match field {
            "accessPackage" => Some(self.access_package_id),
            "assignment" | "accessPackageAssignment" => self.assignment_id,
            "requestor" => self.requestor.map(subject_id),
            _ => None,
        }
    }
}

impl Resource for Request {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        match field {
            "accessPackage" => Some(
                cx.state
                    .access_package(&self.access_package_id)
                    .map_or(Value::Null, |p| {
                        shape(p, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            "assignment" | "accessPackageAssignment" => Some(
                self.assignment_id
                    .and_then(|a| cx.state.assignments.get(&a))
                    .map_or(Value::Null, |a| {
                        shape(a, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            "requestor" => Some(self.requestor.map_or(Value::Null, |r| {
                crate::odata::page::project(subject_json(cx, &r), item.select.as_deref())
            })),
            _ => None,
        }
    }
}

const ASSIGNMENT_V1: &[Field] = &[
    field("id", Ty::Guid),
    field("state", Ty::Enum),
    field("status", Ty::Str),
    field("expiredDateTime", Ty::Date),
    field("schedule", Ty::Json),
    field("accessPackage", Ty::Nav("accessPackage")),
    field("assignmentPolicy", Ty::Nav("accessPackageAssignmentPolicy")),
    field("target", Ty::Nav("accessPackageSubject")),
];
const ASSIGNMENT_BETA: &[Field] = &[
    field("id", Ty::Guid),
    field("catalogId", Ty::Guid),
    field("accessPackageId", Ty::Guid),
    field("assignmentPolicyId", Ty::Guid),
    field("targetId", Ty::Guid),
    field("assignmentStatus", Ty::Str),
    field("assignmentState", Ty::Enum),
    field("isExtended", Ty::Bool),
    field("expiredDateTime", Ty::Date),
    field("schedule", Ty::Json),
    field("accessPackage", Ty::Nav("accessPackage")),
    field(
        "accessPackageAssignmentPolicy",
        Ty::Nav("accessPackageAssignmentPolicy"),
    ),
    field("target", Ty::Nav("accessPackageSubject")),
];

impl Queryable for Assignment {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackageAssignment";

    fn fields(version: ApiVersion) -> &'static [Field] {
        version.pick(ASSIGNMENT_V1, ASSIGNMENT_BETA)
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        match field {
            "id" => Prop::Guid(self.id),
            "catalogId" => Prop::Guid(self.catalog_id),
            "accessPackageId" => Prop::Guid(self.access_package_id),
            "assignmentPolicyId" => self.policy_id.map_or(Prop::Null, Prop::Guid),
            "targetId" => Prop::Guid(subject_id(self.target)),
            "state" | "assignmentState" => Prop::Enum(Cow::Borrowed(self.state.v1_name())),
            "status" | "assignmentStatus" => s(&self.status),
            "isExtended" => Prop::Bool(false),
            "expiredDateTime" => self.expired.map_or(Prop::Null, Prop::Date),
            "schedule" => Prop::Json(Cow::Owned(self.schedule.to_json())),
            "target" => Prop::Json(Cow::Owned(subject_json(cx, &self.target))),
            "accessPackage" => cx
                .state
                .access_package(&self.access_package_id)
                .map_or(Prop::Null, |p| {
                    Prop::Json(Cow::Owned(p.to_json(cx.version)))
                }),
            _ => Prop::Null,
        }
    }

    fn nav_id(&self, field: &str) -> Option<Uuid> {
        match field {
            "accessPackage" => Some(self.access_package_id),
            "assignmentPolicy" | "accessPackageAssignmentPolicy" => self.policy_id,
            "target" => Some(subject_id(self.target)),
            _ => None,
        }
    }
}

impl Resource for Assignment {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        self.to_json(cx.version)
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        match field {
            "accessPackage" => Some(
                cx.state
                    .access_package(&self.access_package_id)
                    .map_or(Value::Null, |p| {
                        shape(p, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            "assignmentPolicy" | "accessPackageAssignmentPolicy" => Some(
                self.policy_id
                    .and_then(|p| cx.state.policies.get(&p))
                    .map_or(Value::Null, |p| {
                        shape(p, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            "target" => Some(crate::odata::page::project(
                subject_json(cx, &self.target),
                item.select.as_deref(),
            )),
            _ => None,
        }
    }
}

// ---- beta assignment resource roles ----

use super::lifecycle::AssignmentResourceRole;

const ASSIGNMENT_RESOURCE_ROLE: &[Field] = &[
    field("id", Ty::Guid),
    field("originId", Ty::Str),
    field("originSystem", Ty::Str),
    field("status", Ty::Str),
    field("accessPackageSubject", Ty::Nav("accessPackageSubject")),
    field(
        "accessPackageResourceRole",
        Ty::Nav("accessPackageResourceRole"),
    ),
    field(
        "accessPackageResourceScope",
        Ty::Nav("accessPackageResourceScope"),
    ),
    field(
        "accessPackageAssignments",
        Ty::NavMany("accessPackageAssignment"),
    ),
];

impl Queryable for AssignmentResourceRole {
    const TYPE_NAME: &'static str = "microsoft.graph.accessPackageAssignmentResourceRole";

    fn fields(_version: ApiVersion) -> &'static [Field] {
        ASSIGNMENT_RESOURCE_ROLE
    }

    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a> {
        let role = cx.state.resource_role(&self.role_id);
        match field {
            "id" => Prop::Guid(self.id),
            "originId" => role.map_or(Prop::Null, |r| Prop::Str(Cow::Owned(r.origin_id.clone()))),
            "originSystem" => role.map_or(Prop::Null, |r| {
                Prop::Str(Cow::Borrowed(r.origin_system.name()))
            }),
            // Only delivered grants are listed (the beta list example shows "Fulfilled":
            // https://learn.microsoft.com/graph/api/entitlementmanagement-list-accesspackageassignmentresourceroles?view=graph-rest-beta).
            "status" => Prop::Str(Cow::Borrowed("Fulfilled")),
            "accessPackageSubject" => Prop::Json(Cow::Owned(subject_json(cx, &self.target))),
            "accessPackageResourceRole" => role.map_or(Prop::Null, |r| {
                Prop::Json(Cow::Owned(r.to_json(cx.version)))
            }),
            "accessPackageResourceScope" => cx
                .state
                .resource_scope(&self.scope_id)
                .map_or(Prop::Null, |r| {
                    Prop::Json(Cow::Owned(r.to_json(cx.version)))
                }),
            _ => Prop::Null,
        }
    }

    fn nav_id(&self, field: &str) -> Option<Uuid> {
        match field {
            "accessPackageSubject" => Some(subject_id(self.target)),
            "accessPackageResourceRole" => Some(self.role_id),
            "accessPackageResourceScope" => Some(self.scope_id),
            _ => None,
        }
    }
}

impl Resource for AssignmentResourceRole {
    fn render(&self, cx: &EvalCx<'_>) -> Value {
        let role = cx.state.resource_role(&self.role_id);
        json!({
            "id": self.id,
            "originId": role.map(|r| r.origin_id.clone()),
            "originSystem": role.map(|r| r.origin_system.name()),
            "status": "Fulfilled",
        })
    }

    fn expand(&self, field: &str, item: &Expand, cx: &EvalCx<'_>) -> Option<Value> {
        match field {
            "accessPackageSubject" => Some(crate::odata::page::project(
                subject_json(cx, &self.target),
                item.select.as_deref(),
            )),
            "accessPackageResourceRole" => Some(
                cx.state
                    .resource_role(&self.role_id)
                    .map_or(Value::Null, |r| {
                        shape(r, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            "accessPackageResourceScope" => Some(
                cx.state
                    .resource_scope(&self.scope_id)
                    .map_or(Value::Null, |r| {
                        shape(r, item.select.as_deref(), &item.expand, cx)
                    }),
            ),
            "accessPackageAssignments" => Some(Value::Array(
                self.assignments
                    .iter()
                    .filter_map(|a| cx.state.assignments.get(a))
                    .map(|a| shape(a, item.select.as_deref(), &item.expand, cx))
                    .collect(),
            )),
            _ => None,
        }
    }
}
