//! Connected organizations and the tenant's entitlement-management settings
//! (https://learn.microsoft.com/graph/api/resources/connectedorganization?view=graph-rest-1.0,
//! https://learn.microsoft.com/graph/api/resources/entitlementmanagementsettings?view=graph-rest-1.0).

use serde_json::{Value, json};
use uuid::Uuid;

use super::ApiVersion;
use super::em::{Actor, WireEnum};
use super::table::Keyed;
use crate::clock::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OrgState {
    Configured,
    Proposed,
}

impl WireEnum for OrgState {
    const VARIANTS: &'static [(Self, &'static str)] = &[
        (OrgState::Configured, "configured"),
        (OrgState::Proposed, "proposed"),
    ];
    fn v1_name(self) -> &'static str {
        match self {
            OrgState::Configured => "configured",
            OrgState::Proposed => "proposed",
        }
    }
}

/// The identity-source types a connected organization may have.
pub const IDENTITY_SOURCE_TYPES: [&str; 5] = [
    "azureActiveDirectoryTenant",
    "crossCloudAzureActiveDirectoryTenant",
    "domainIdentitySource",
    "externalDomainFederation",
    "socialIdentitySource",
];

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ConnectedOrganization {
    pub id: Uuid,
    pub display_name: String,
    pub description: Option<String>,
    /// As given, each with its `@odata.type` normalised to `#microsoft.graph.<type>`.
    pub identity_sources: Vec<Value>,
    pub state: OrgState,
    pub internal_sponsors: Vec<Uuid>,
    pub external_sponsors: Vec<Uuid>,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub created_by: Actor,
    pub modified_by: Actor,
}

impl Keyed for ConnectedOrganization {
    fn key(&self) -> Uuid {
        self.id
    }
}

impl ConnectedOrganization {
    /// The v1.0 list example
    /// (https://learn.microsoft.com/graph/api/entitlementmanagement-list-connectedorganizations?view=graph-rest-1.0);
    /// beta adds `createdBy`/`modifiedBy` and PascalCase state [inf: beta examples
    /// were not captured, the catalog's conventions are followed].
    pub fn to_json(&self, version: ApiVersion) -> Value {
        let mut v = json!({
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "createdDateTime": self.created,
            "modifiedDateTime": self.modified,
            "identitySources": self.identity_sources,
            "state": self.state.wire(version),
        });
        if version == ApiVersion::Beta {
            v["createdBy"] = json!(self.created_by);
            v["modifiedBy"] = json!(self.modified_by);
        }
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExternalUserLifecycleAction {
    None,
    BlockSignIn,
    BlockSignInAndDelete,
}

impl WireEnum for ExternalUserLifecycleAction {
    const VARIANTS: &'static [(Self, &'static str)] = &[
        (ExternalUserLifecycleAction::None, "none"),
        (ExternalUserLifecycleAction::BlockSignIn, "blockSignIn"),
        (
            ExternalUserLifecycleAction::BlockSignInAndDelete,
            "blockSignInAndDelete",
        ),
    ];
    fn v1_name(self) -> &'static str {
        match self {
            ExternalUserLifecycleAction::None => "none",
            ExternalUserLifecycleAction::BlockSignIn => "blockSignIn",
            ExternalUserLifecycleAction::BlockSignInAndDelete => "blockSignInAndDelete",
        }
    }
}

/// The `settings` singleton (id `singleton`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    pub external_user_lifecycle_action: ExternalUserLifecycleAction,
    pub days_until_external_user_deleted: i64,
}

impl Default for Settings {
    /// The portal's defaults for a new tenant: block sign-in, delete after 30 days [inf].
    fn default() -> Self {
        Settings {
            external_user_lifecycle_action: ExternalUserLifecycleAction::BlockSignInAndDelete,
            days_until_external_user_deleted: 30,
        }
    }
}

impl Settings {
    /// The "Get entitlementManagementSettings" pages:
    /// https://learn.microsoft.com/graph/api/entitlementmanagementsettings-get?view=graph-rest-1.0
    /// and
    /// https://learn.microsoft.com/graph/api/entitlementmanagementsettings-get?view=graph-rest-beta.
    pub fn to_json(&self, version: ApiVersion) -> Value {
        match version {
            ApiVersion::V1 => json!({
                "id": "singleton",
                "externalUserLifecycleAction": self.external_user_lifecycle_action.v1_name(),
                "durationUntilExternalUserDeletedAfterBlocked": format!("P{}D", self.days_until_external_user_deleted),
            }),
            ApiVersion::Beta => json!({
                "id": "singleton",
                "daysUntilExternalUserDeletedAfterBlocked": self.days_until_external_user_deleted,
                "externalUserLifecycleAction": self.external_user_lifecycle_action.beta_name(),
            }),
        }
    }
}
