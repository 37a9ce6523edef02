//! The emulated directory a tenant's fixtures describe: users, groups, service principals,
//! SharePoint sites and directory-role assignments. Field names follow Graph's own
//! (`userPrincipalName`, `appRoles`, …) so fixture files read like Graph payloads.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::table::{Keyed, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum UserType {
    #[default]
    Member,
    Guest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    pub id: Uuid,
    pub display_name: String,
    pub user_principal_name: String,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub user_type: UserType,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// The user's manager (`GET /users/{id}/manager` in Graph).
    #[serde(default)]
    pub manager: Option<Uuid>,
    /// The sign-in password (resource-owner password flow). A user without one cannot sign in
    /// with a password; the authorize endpoint still signs them in by `login_hint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_profile: Option<PasswordProfile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordProfile {
    pub password: String,
}

/// A client secret of an app (Graph's `passwordCredential`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordCredential {
    pub secret_text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A certificate an app signs client assertions with (Graph's `keyCredential`): `key` is the
/// certificate as PEM, or as base64 DER the way Graph stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyCredential {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

impl KeyCredential {
    /// The certificate as PEM, whichever way the fixture wrote it.
    pub fn pem(&self) -> String {
        let key = self.key.trim();
        if key.starts_with("-----BEGIN") {
            return key.to_string();
        }
        let body: String = key.split_whitespace().collect();
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Group {
    pub id: Uuid,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub mail_nickname: Option<String>,
    /// `["Unified"]` for Microsoft 365 groups, `["DynamicMembership"]` for dynamic ones.
    #[serde(default)]
    pub group_types: Vec<String>,
    #[serde(default)]
    pub membership_rule: Option<String>,
    #[serde(default = "yes")]
    pub security_enabled: bool,
    #[serde(default)]
    pub mail_enabled: bool,
    #[serde(default)]
    pub is_assignable_to_role: bool,
    /// Direct members (users, groups or service principals).
    #[serde(default)]
    pub members: Vec<Uuid>,
    #[serde(default)]
    pub owners: Vec<Uuid>,
}

impl Group {
    pub fn is_dynamic(&self) -> bool {
        self.group_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("DynamicMembership"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppRole {
    pub id: Uuid,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
    #[serde(default = "yes")]
    pub is_enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePrincipal {
    /// The service principal's object id (the token's `oid`).
    pub id: Uuid,
    /// The application (client) id (the token's `appid`).
    pub app_id: Uuid,
    pub display_name: String,
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
    #[serde(default)]
    pub owners: Vec<Uuid>,
    /// Microsoft Graph application permissions granted to this app (admin-consented), by value,
    /// e.g. `EntitlementManagement.ReadWrite.All`. They become the token's `roles` claim.
    #[serde(default)]
    pub graph_application_permissions: Vec<String>,
    /// Delegated Graph permissions admin-consented for this client: the `scp` of a user token
    /// it gets for `.default`. Absent = the emulator's default delegated set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_delegated_permissions: Option<Vec<String>>,
    /// Client secrets the token endpoint accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub password_credentials: Vec<PasswordCredential>,
    /// Certificates whose keys may sign client assertions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_credentials: Vec<KeyCredential>,
    /// "Allow public client flows": password and code grants without a client credential.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_fallback_public_client: bool,
    /// Where `/authorize` may send the code. `http://localhost` matches any port, as Entra
    /// allows for native clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Site {
    pub id: String,
    pub display_name: String,
    pub web_url: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Site administrators (may add the site to a catalog).
    #[serde(default)]
    pub owners: Vec<Uuid>,
}

/// A directory (Entra) role held by a principal, tenant-wide. `roleDefinitionId` is the role
/// template id, which is also what the token's `wids` carries
/// (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectoryRoleAssignment {
    pub principal_id: Uuid,
    pub role_definition_id: Uuid,
}

fn yes() -> bool {
    true
}

impl Keyed for User {
    fn key(&self) -> Uuid {
        self.id
    }
}
impl Keyed for Group {
    fn key(&self) -> Uuid {
        self.id
    }
}
impl Keyed for ServicePrincipal {
    fn key(&self) -> Uuid {
        self.id
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Directory {
    pub users: Table<User>,
    pub groups: Table<Group>,
    pub service_principals: Table<ServicePrincipal>,
    pub sites: Vec<Site>,
    pub role_assignments: Vec<DirectoryRoleAssignment>,
    /// Transitive group membership per principal, so permission checks never scan groups.
    member_of: HashMap<Uuid, Vec<Uuid>>,
    upn_index: HashMap<String, Uuid>,
    app_id_index: HashMap<Uuid, Uuid>,
}

impl Directory {
    /// Rebuilds the derived indexes; call after any change to users, groups or apps.
    pub fn reindex(&mut self) {
        self.upn_index = self
            .users
            .iter()
            .map(|u| (u.user_principal_name.to_ascii_lowercase(), u.id))
            .collect();
        self.app_id_index = self
            .service_principals
            .iter()
            .map(|sp| (sp.app_id, sp.id))
            .collect();
        let mut direct: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for group in self.groups.iter() {
            for member in &group.members {
                direct.entry(*member).or_default().push(group.id);
            }
        }
        let mut member_of = HashMap::new();
        for principal in direct.keys() {
            let mut seen = HashSet::new();
            let mut stack = vec![*principal];
            let mut all = Vec::new();
            while let Some(p) = stack.pop() {
                for g in direct.get(&p).into_iter().flatten() {
                    if seen.insert(*g) {
                        all.push(*g);
                        stack.push(*g);
                    }
                }
            }
            member_of.insert(*principal, all);
        }
        self.member_of = member_of;
    }

    pub fn user_by_upn(&self, upn: &str) -> Option<&User> {
        self.upn_index
            .get(&upn.to_ascii_lowercase())
            .and_then(|id| self.users.get(id))
    }

    pub fn service_principal_by_app_id(&self, app_id: &Uuid) -> Option<&ServicePrincipal> {
        self.app_id_index
            .get(app_id)
            .and_then(|id| self.service_principals.get(id))
    }

    /// Groups the principal belongs to, directly or through nested groups.
    pub fn groups_of(&self, principal: &Uuid) -> &[Uuid] {
        self.member_of
            .get(principal)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn principal_exists(&self, id: &Uuid) -> bool {
        self.users.contains(id) || self.groups.contains(id) || self.service_principals.contains(id)
    }

    /// Directory-role template ids held by the principal (the token's `wids`).
    pub fn directory_roles_of(&self, principal: &Uuid) -> Vec<Uuid> {
        self.role_assignments
            .iter()
            .filter(|a| a.principal_id == *principal)
            .map(|a| a.role_definition_id)
            .collect()
    }
}
