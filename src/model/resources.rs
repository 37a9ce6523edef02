//! Catalog resources (groups, applications, SharePoint sites), their roles and scopes, the
//! requests that onboard them, and access packages' resource role scopes
//! (https://learn.microsoft.com/graph/api/resources/accesspackageresource?view=graph-rest-1.0,
//! https://learn.microsoft.com/graph/api/resources/accesspackageresourcerequest?view=graph-rest-1.0,
//! https://learn.microsoft.com/graph/api/resources/accesspackageresourcerolescope?view=graph-rest-1.0,
//! and their beta views).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::ApiVersion;
use super::em::{Actor, WireEnum};
use super::table::Keyed;
use crate::clock::Timestamp;

/// Where a resource lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum OriginSystem {
    AadGroup,
    AadApplication,
    SharePointOnline,
}

impl OriginSystem {
    pub fn name(self) -> &'static str {
        match self {
            OriginSystem::AadGroup => "AadGroup",
            OriginSystem::AadApplication => "AadApplication",
            OriginSystem::SharePointOnline => "SharePointOnline",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            OriginSystem::AadGroup,
            OriginSystem::AadApplication,
            OriginSystem::SharePointOnline,
        ]
        .into_iter()
        .find(|o| o.name().eq_ignore_ascii_case(text))
    }
}

/// Ids of roles and scopes are derived from their resource and origin id, so a fixture tenant's
/// role ids are the same on every run, with or without a seed.
pub fn derived_id(resource: Uuid, kind: &str, origin_id: &str) -> Uuid {
    Uuid::new_v5(&resource, format!("{kind}:{origin_id}").as_bytes())
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CatalogResource {
    pub id: Uuid,
    pub catalog_id: Uuid,
    pub origin_system: OriginSystem,
    pub origin_id: String,
    pub display_name: String,
    pub description: Option<String>,
    /// beta `resourceType`: "Security Group", "O365 Group", "Application", "SharePoint Online Site".
    #[serde(with = "crate::model::interned")]
    pub resource_type: crate::model::interned::StaticStr,
    pub url: Option<String>,
    pub added: Timestamp,
    pub added_by: Actor,
}

impl Keyed for CatalogResource {
    fn key(&self) -> Uuid {
        self.id
    }
}

impl CatalogResource {
    pub fn to_json(&self, version: ApiVersion) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("displayName".into(), json!(self.display_name));
        m.insert("description".into(), json!(self.description));
        match version {
            ApiVersion::V1 => {
                m.insert("createdDateTime".into(), json!(self.added));
                m.insert("modifiedDateTime".into(), json!(self.added));
                m.insert("originId".into(), json!(self.origin_id));
                m.insert("originSystem".into(), json!(self.origin_system.name()));
                m.insert("attributes".into(), json!([]));
            }
            ApiVersion::Beta => {
                m.insert("url".into(), json!(self.url));
                m.insert("resourceType".into(), json!(self.resource_type));
                m.insert("originId".into(), json!(self.origin_id));
                m.insert("originSystem".into(), json!(self.origin_system.name()));
                m.insert("isPendingOnboarding".into(), json!(false));
                m.insert("addedBy".into(), json!(self.added_by));
                m.insert("addedOn".into(), json!(self.added));
                m.insert("attributes".into(), json!([]));
            }
        }
        Value::Object(m)
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ResourceRole {
    pub id: Uuid,
    pub resource_id: Uuid,
    pub catalog_id: Uuid,
    pub origin_system: OriginSystem,
    pub origin_id: String,
    pub display_name: String,
    pub description: Option<String>,
}

impl Keyed for ResourceRole {
    fn key(&self) -> Uuid {
        self.id
    }
}

impl ResourceRole {
    /// `id`, `displayName`, `description`, `originId`, `originSystem`, as the examples show:
    /// https://learn.microsoft.com/graph/api/accesspackage-list-resourcerolescopes?view=graph-rest-1.0,
    /// https://learn.microsoft.com/graph/api/accesspackagecatalog-list-accesspackageresourceroles?view=graph-rest-beta.
    pub fn to_json(&self, _version: ApiVersion) -> Value {
        json!({
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "originId": self.origin_id,
            "originSystem": self.origin_system.name(),
        })
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ResourceScope {
    pub id: Uuid,
    pub resource_id: Uuid,
    pub catalog_id: Uuid,
    pub origin_system: OriginSystem,
    pub origin_id: String,
    pub display_name: String,
    pub description: String,
    pub is_root_scope: bool,
}

impl Keyed for ResourceScope {
    fn key(&self) -> Uuid {
        self.id
    }
}

impl ResourceScope {
    pub fn to_json(&self, _version: ApiVersion) -> Value {
        json!({
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "originId": self.origin_id,
            "originSystem": self.origin_system.name(),
            "isRootScope": self.is_root_scope,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ResourceRequestType {
    AdminAdd,
    AdminUpdate,
    AdminRemove,
}

impl WireEnum for ResourceRequestType {
    const VARIANTS: &'static [(Self, &'static str)] = &[
        (ResourceRequestType::AdminAdd, "adminAdd"),
        (ResourceRequestType::AdminUpdate, "adminUpdate"),
        (ResourceRequestType::AdminRemove, "adminRemove"),
    ];
    fn v1_name(self) -> &'static str {
        match self {
            ResourceRequestType::AdminAdd => "adminAdd",
            ResourceRequestType::AdminUpdate => "adminUpdate",
            ResourceRequestType::AdminRemove => "adminRemove",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ResourceRequest {
    pub id: Uuid,
    pub catalog_id: Uuid,
    pub request_type: ResourceRequestType,
    pub resource_id: Option<Uuid>,
    pub justification: Option<String>,
    pub is_validation_only: bool,
    pub execute_immediately: bool,
    pub created: Timestamp,
}

impl Keyed for ResourceRequest {
    fn key(&self) -> Uuid {
        self.id
    }
}

impl ResourceRequest {
    /// v1.0 per the create and list examples
    /// (https://learn.microsoft.com/graph/api/entitlementmanagement-post-resourcerequests?view=graph-rest-1.0,
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-list-resourcerequests?view=graph-rest-1.0);
    /// beta per
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-post-accesspackageresourcerequests?view=graph-rest-beta
    /// (the request completes synchronously: delivered).
    pub fn to_json(&self, version: ApiVersion) -> Value {
        match version {
            ApiVersion::V1 => json!({
                "id": self.id,
                "requestType": self.request_type.v1_name(),
                "state": "delivered",
                "createdDateTime": self.created,
            }),
            ApiVersion::Beta => json!({
                "catalogId": self.catalog_id,
                "executeImmediately": self.execute_immediately,
                "id": self.id,
                "requestType": self.request_type.beta_name(),
                "requestState": "Delivered",
                "requestStatus": "Fulfilled",
                "isValidationOnly": self.is_validation_only,
                "expirationDateTime": null,
                "justification": self.justification,
            }),
        }
    }
}

/// A role of a catalog resource, at a scope, granted by an access package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoleScope {
    pub role_id: Uuid,
    pub scope_id: Uuid,
    pub created: Timestamp,
    pub created_by: Actor,
}

impl RoleScope {
    /// `{role.id}_{scope.id}` in both versions
    /// (https://learn.microsoft.com/graph/api/accesspackage-post-resourcerolescopes?view=graph-rest-1.0).
    pub fn id(&self) -> String {
        format!("{}_{}", self.role_id, self.scope_id)
    }

    /// v1.0 (`id`, `createdDateTime`):
    /// https://learn.microsoft.com/graph/api/accesspackage-post-resourcerolescopes?view=graph-rest-1.0;
    /// beta adds the audit fields:
    /// https://learn.microsoft.com/graph/api/accesspackage-post-accesspackageresourcerolescopes?view=graph-rest-beta.
    pub fn to_json(&self, version: ApiVersion) -> Value {
        match version {
            ApiVersion::V1 => json!({"id": self.id(), "createdDateTime": self.created}),
            ApiVersion::Beta => json!({
                "id": self.id(),
                "createdBy": self.created_by,
                "createdDateTime": self.created,
                "modifiedBy": self.created_by,
                "modifiedDateTime": self.created,
            }),
        }
    }
}

/// A SharePoint geography a site resource lives in (`accessPackageResourceEnvironment`). The
/// emulator models the tenant's one default environment.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ResourceEnvironment {
    pub id: Uuid,
    pub display_name: String,
    pub origin_id: String,
}

impl ResourceEnvironment {
    /// The default environment of a tenant named by its domain (`contoso.onmicrosoft.com`).
    pub fn default_for(tenant: Uuid, domain: &str) -> Self {
        let prefix = domain.split('.').next().unwrap_or("tenant");
        ResourceEnvironment {
            id: derived_id(tenant, "environment", "SharePointOnline"),
            display_name: format!("https://{prefix}.sharepoint.com/"),
            origin_id: format!("https://{prefix}-admin.sharepoint.com/"),
        }
    }

    /// As
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-list-resourceenvironments?view=graph-rest-1.0
    /// shows it.
    pub fn to_json(&self, _version: ApiVersion) -> Value {
        json!({
            "id": self.id,
            "displayName": self.display_name,
            "description": self.display_name,
            "originSystem": "SharePointOnline",
            "originId": self.origin_id,
            "isDefaultEnvironment": true,
            "connectionInfo": {"url": self.origin_id},
        })
    }
}
