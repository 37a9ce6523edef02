//! Entitlement-management entities as the emulator stores them, version-neutral, and their
//! v1.0 and beta wire shapes (the accessPackageCatalog and accessPackage resource types,
//! https://learn.microsoft.com/graph/api/resources/accesspackagecatalog?view=graph-rest-1.0,
//! https://learn.microsoft.com/graph/api/resources/accesspackage?view=graph-rest-1.0,
//! and their `view=graph-rest-beta` pages).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::table::Keyed;
use crate::clock::Timestamp;

/// The two Graph API versions; they differ in names and shapes, never in rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ApiVersion {
    V1,
    Beta,
}

impl ApiVersion {
    pub fn segment(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }

    /// The version's choice between two names or shapes.
    pub fn pick<T>(self, v1: T, beta: T) -> T {
        match self {
            ApiVersion::V1 => v1,
            ApiVersion::Beta => beta,
        }
    }

    pub fn from_segment(segment: &str) -> Option<Self> {
        if segment.eq_ignore_ascii_case("v1.0") {
            Some(ApiVersion::V1)
        } else if segment.eq_ignore_ascii_case("beta") {
            Some(ApiVersion::Beta)
        } else {
            None
        }
    }
}

/// An enum whose wire text is lower camel in v1.0 and PascalCase in beta.
pub trait WireEnum: Sized + Copy + 'static {
    const VARIANTS: &'static [(Self, &'static str)];

    fn v1_name(self) -> &'static str;

    fn beta_name(self) -> String {
        let v1 = self.v1_name();
        let mut chars = v1.chars();
        match chars.next() {
            Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
            None => String::new(),
        }
    }

    fn wire(self, version: ApiVersion) -> Value {
        match version {
            ApiVersion::V1 => Value::from(self.v1_name()),
            ApiVersion::Beta => Value::from(self.beta_name()),
        }
    }

    /// Graph accepts enum input in either casing: the v1.0 examples send `"UserAdd"` and
    /// `"AdminAdd"` where responses say `userAdd`
    /// (https://learn.microsoft.com/graph/api/entitlementmanagement-post-assignmentrequests?view=graph-rest-1.0).
    fn parse_any_case(text: &str) -> Option<Self> {
        Self::VARIANTS
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(text))
            .map(|(v, _)| *v)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CatalogType {
    UserManaged,
    ServiceDefault,
    ServiceManaged,
}

impl WireEnum for CatalogType {
    const VARIANTS: &'static [(Self, &'static str)] = &[
        (CatalogType::UserManaged, "userManaged"),
        (CatalogType::ServiceDefault, "serviceDefault"),
        (CatalogType::ServiceManaged, "serviceManaged"),
    ];
    fn v1_name(self) -> &'static str {
        match self {
            CatalogType::UserManaged => "userManaged",
            CatalogType::ServiceDefault => "serviceDefault",
            CatalogType::ServiceManaged => "serviceManaged",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CatalogState {
    Published,
    Unpublished,
}

impl WireEnum for CatalogState {
    const VARIANTS: &'static [(Self, &'static str)] = &[
        (CatalogState::Published, "published"),
        (CatalogState::Unpublished, "unpublished"),
    ];
    fn v1_name(self) -> &'static str {
        match self {
            CatalogState::Published => "published",
            CatalogState::Unpublished => "unpublished",
        }
    }
}

/// Who created or last changed an object: beta shows it as `createdBy`/`modifiedBy` (a UPN for
/// users; for apps the display name [inf]).
pub type Actor = Option<String>;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Catalog {
    pub id: Uuid,
    pub display_name: String,
    pub description: Option<String>,
    pub catalog_type: CatalogType,
    pub state: CatalogState,
    pub is_externally_visible: bool,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub created_by: Actor,
    pub modified_by: Actor,
}

impl Keyed for Catalog {
    fn key(&self) -> Uuid {
        self.id
    }
}

impl Catalog {
    pub fn is_default(&self) -> bool {
        self.catalog_type == CatalogType::ServiceDefault
    }

    /// Key order follows the documented examples: v1.0
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-post-catalogs?view=graph-rest-1.0;
    /// beta
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-post-accesspackagecatalogs?view=graph-rest-beta
    /// and
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-list-accesspackagecatalogs?view=graph-rest-beta.
    pub fn to_json(&self, version: ApiVersion) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("displayName".into(), json!(self.display_name));
        m.insert("description".into(), json!(self.description));
        m.insert("catalogType".into(), self.catalog_type.wire(version));
        match version {
            ApiVersion::V1 => {
                m.insert("state".into(), self.state.wire(version));
                m.insert(
                    "isExternallyVisible".into(),
                    json!(self.is_externally_visible),
                );
                m.insert("createdDateTime".into(), json!(self.created));
                m.insert("modifiedDateTime".into(), json!(self.modified));
            }
            ApiVersion::Beta => {
                m.insert("catalogStatus".into(), self.state.wire(version));
                m.insert(
                    "isExternallyVisible".into(),
                    json!(self.is_externally_visible),
                );
                m.insert("createdBy".into(), json!(self.created_by));
                m.insert("createdDateTime".into(), json!(self.created));
                m.insert("modifiedBy".into(), json!(self.modified_by));
                m.insert("modifiedDateTime".into(), json!(self.modified));
            }
        }
        Value::Object(m)
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AccessPackage {
    pub id: Uuid,
    pub catalog_id: Uuid,
    /// The resource roles this package grants, in the order they were added.
    pub role_scopes: Vec<crate::model::resources::RoleScope>,
    /// Packages whose assignees may not request this one, and groups whose members may not.
    pub incompatible_packages: Vec<Uuid>,
    pub incompatible_groups: Vec<Uuid>,
    pub display_name: String,
    pub description: Option<String>,
    pub is_hidden: bool,
    pub is_role_scopes_visible: bool,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub created_by: Actor,
    pub modified_by: Actor,
    /// Its rendered listing item; the store clears it whenever the package is borrowed mutably.
    #[serde(skip)]
    pub listing_json: crate::model::cache::ListingCache,
}

impl Keyed for AccessPackage {
    fn key(&self) -> Uuid {
        self.id
    }
}

impl AccessPackage {
    /// v1.0 per the create and get examples (no catalog id: `catalog` is a navigation):
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-post-accesspackages?view=graph-rest-1.0,
    /// https://learn.microsoft.com/graph/api/accesspackage-get?view=graph-rest-1.0; beta per
    /// https://learn.microsoft.com/graph/api/accesspackage-post?view=graph-rest-beta and
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-list-accesspackages?view=graph-rest-beta.
    pub fn to_json(&self, version: ApiVersion) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        if version == ApiVersion::Beta {
            m.insert("catalogId".into(), json!(self.catalog_id));
        }
        m.insert("displayName".into(), json!(self.display_name));
        m.insert("description".into(), json!(self.description));
        m.insert("isHidden".into(), json!(self.is_hidden));
        match version {
            ApiVersion::V1 => {
                m.insert("createdDateTime".into(), json!(self.created));
                m.insert("modifiedDateTime".into(), json!(self.modified));
            }
            ApiVersion::Beta => {
                m.insert(
                    "isRoleScopesVisible".into(),
                    json!(self.is_role_scopes_visible),
                );
                m.insert("createdBy".into(), json!(self.created_by));
                m.insert("createdDateTime".into(), json!(self.created));
                m.insert("modifiedBy".into(), json!(self.modified_by));
                m.insert("modifiedDateTime".into(), json!(self.modified));
            }
        }
        Value::Object(m)
    }
}

/// An entitlement-management role assignment (`unifiedRoleAssignment` under
/// `/roleManagement/entitlementManagement`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EmRoleAssignment {
    pub id: Uuid,
    pub principal_id: Uuid,
    pub role_definition_id: Uuid,
    /// `appScopeId`: `/` (tenant-wide) or `/AccessPackageCatalog/{id}`, kept parsed because
    /// every permission check reads it.
    pub scope: AppScope,
}

impl Keyed for EmRoleAssignment {
    fn key(&self) -> Uuid {
        self.id
    }
}

/// Where an EM role applies: the whole tenant (`/`) or one catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AppScope {
    Tenant,
    Catalog(Uuid),
}

impl AppScope {
    pub const CATALOG_PREFIX: &'static str = "/AccessPackageCatalog/";

    pub fn parse(text: &str) -> Option<Self> {
        if text == "/" {
            return Some(AppScope::Tenant);
        }
        let rest = text
            .get(..Self::CATALOG_PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(Self::CATALOG_PREFIX))?;
        Uuid::parse_str(&text[rest.len()..])
            .ok()
            .map(AppScope::Catalog)
    }

    pub fn render(self) -> String {
        match self {
            AppScope::Tenant => "/".to_string(),
            AppScope::Catalog(id) => format!("{}{id}", Self::CATALOG_PREFIX),
        }
    }
}

impl EmRoleAssignment {
    /// A catalog-scoped assignment has no directory scope; a tenant-wide one is `/` in both
    /// (`rbacapplication-post-roleassignments`: "for entitlement management provider, / for
    /// tenant-wide scope") [inf].
    pub fn to_json(&self) -> Value {
        let directory_scope = match self.scope {
            AppScope::Tenant => json!("/"),
            AppScope::Catalog(_) => Value::Null,
        };
        json!({
            "id": self.id,
            "principalId": self.principal_id,
            "roleDefinitionId": self.role_definition_id,
            "directoryScopeId": directory_scope,
            "appScopeId": self.scope.render(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_per_version() {
        assert_eq!(CatalogType::ServiceDefault.beta_name(), "ServiceDefault");
        assert_eq!(
            CatalogState::parse_any_case("PUBLISHED"),
            Some(CatalogState::Published)
        );
        assert_eq!(CatalogType::parse_any_case("nope"), None);
    }

    #[test]
    fn app_scope_round_trip() {
        let id = Uuid::from_u128(5);
        let s = AppScope::Catalog(id).render();
        assert_eq!(AppScope::parse(&s), Some(AppScope::Catalog(id)));
        assert_eq!(AppScope::parse("/"), Some(AppScope::Tenant));
        assert_eq!(AppScope::parse("/accesspackagecatalog/nope"), None);
        assert_eq!(AppScope::parse("/Other/x"), None);
    }
}
