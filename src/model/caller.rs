//! The `Caller`: who a request acts as and with which rights — the value every permission check
//! reads. It lives in the core so that authorization depends on nothing above it; how a bearer
//! token becomes a `Caller` is `crate::auth`'s business.

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    /// A user signed in through a client app (`scp`).
    Delegated,
    /// An app acting as itself (`roles`, or no Graph permission at all).
    Application,
    /// `--auth off`: the tenant's all-powerful stand-in.
    Unauthenticated,
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub kind: CallerKind,
    /// `oid`: the user's or service principal's object id.
    pub object_id: Option<Uuid>,
    /// `appid`: the client application (Graph's throttling scope names it).
    pub app_id: Option<Uuid>,
    /// UPN for users, app display name for apps: what beta shows as `createdBy`/`modifiedBy`.
    pub actor: Option<String>,
    /// Delegated scopes (`scp`) or application permissions (`roles`).
    pub permissions: Vec<String>,
    /// Directory-role template ids (`wids`).
    pub directory_roles: Vec<Uuid>,
}

impl Caller {
    /// The caller `--auth off` substitutes for every request.
    pub fn unauthenticated(tenant_id: Uuid) -> Self {
        Caller {
            tenant_id,
            kind: CallerKind::Unauthenticated,
            object_id: None,
            app_id: None,
            actor: None,
            permissions: Vec::new(),
            directory_roles: Vec::new(),
        }
    }

    pub fn has_permission(&self, value: &str) -> bool {
        self.permissions
            .iter()
            .any(|p| p.eq_ignore_ascii_case(value))
    }
}

/// Delegated and application permission values used by entitlement management
/// (https://learn.microsoft.com/graph/permissions-reference).
pub mod permissions {
    pub const READ_ALL: &str = "EntitlementManagement.Read.All";
    pub const READ_WRITE_ALL: &str = "EntitlementManagement.ReadWrite.All";
    pub const SUBJECT_ACCESS: &str = "EntitlementMgmt-SubjectAccess.ReadWrite";
}
