//! Assignment policies: one version-neutral model and its two wire shapes
//! (the accessPackageAssignmentPolicy resource type with its subject sets and questions,
//! https://learn.microsoft.com/graph/api/resources/accesspackageassignmentpolicy?view=graph-rest-1.0,
//! and its beta view).
//!
//! v1.0 says who may request with `allowedTargetScope` + `specificAllowedTargets` and how long
//! with `expiration`; beta says it with `requestorSettings.scopeType` + `allowedRequestors`,
//! `durationInDays`/`expirationDateTime`, and folds fallback approvers into `primaryApprovers`
//! with `isBackup`. Both are kept in one model so a policy written through one version reads
//! correctly through the other. Where the versions do not correspond one to one the mapping is
//! [inf] and listed in `docs/PARITY.md`.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::ApiVersion;
use super::em::{Actor, WireEnum};
use super::table::Keyed;
use crate::clock::Timestamp;

/// v1.0 `allowedTargetScope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TargetScope {
    NotSpecified,
    SpecificDirectoryUsers,
    SpecificConnectedOrganizationUsers,
    SpecificDirectoryServicePrincipals,
    AllMemberUsers,
    AllDirectoryUsers,
    AllDirectoryServicePrincipals,
    AllConfiguredConnectedOrganizationUsers,
    AllExternalUsers,
    AllDirectoryAgentIdentities,
}

impl WireEnum for TargetScope {
    const VARIANTS: &'static [(Self, &'static str)] = &[
        (TargetScope::NotSpecified, "notSpecified"),
        (
            TargetScope::SpecificDirectoryUsers,
            "specificDirectoryUsers",
        ),
        (
            TargetScope::SpecificConnectedOrganizationUsers,
            "specificConnectedOrganizationUsers",
        ),
        (
            TargetScope::SpecificDirectoryServicePrincipals,
            "specificDirectoryServicePrincipals",
        ),
        (TargetScope::AllMemberUsers, "allMemberUsers"),
        (TargetScope::AllDirectoryUsers, "allDirectoryUsers"),
        (
            TargetScope::AllDirectoryServicePrincipals,
            "allDirectoryServicePrincipals",
        ),
        (
            TargetScope::AllConfiguredConnectedOrganizationUsers,
            "allConfiguredConnectedOrganizationUsers",
        ),
        (TargetScope::AllExternalUsers, "allExternalUsers"),
        (
            TargetScope::AllDirectoryAgentIdentities,
            "allDirectoryAgentIdentities",
        ),
    ];
    fn v1_name(self) -> &'static str {
        Self::VARIANTS
            .iter()
            .find(|(v, _)| *v == self)
            .map_or("notSpecified", |(_, n)| n)
    }
}

impl TargetScope {
    /// beta `requestorSettings.scopeType` [inf for the service-principal and agent scopes].
    pub fn beta_scope_type(self) -> &'static str {
        match self {
            TargetScope::NotSpecified => "NoSubjects",
            TargetScope::SpecificDirectoryUsers
            | TargetScope::SpecificDirectoryServicePrincipals => "SpecificDirectorySubjects",
            TargetScope::SpecificConnectedOrganizationUsers => {
                "SpecificConnectedOrganizationSubjects"
            }
            TargetScope::AllConfiguredConnectedOrganizationUsers => {
                "AllConfiguredConnectedOrganizationSubjects"
            }
            TargetScope::AllMemberUsers => "AllExistingDirectoryMemberUsers",
            TargetScope::AllDirectoryUsers
            | TargetScope::AllDirectoryServicePrincipals
            | TargetScope::AllDirectoryAgentIdentities => "AllExistingDirectorySubjects",
            TargetScope::AllExternalUsers => "AllExternalSubjects",
        }
    }

    pub fn from_beta_scope_type(text: &str) -> Option<Self> {
        let t = text.to_ascii_lowercase();
        Some(match t.as_str() {
            "nosubjects" => TargetScope::NotSpecified,
            "specificdirectorysubjects" => TargetScope::SpecificDirectoryUsers,
            "specificconnectedorganizationsubjects" => {
                TargetScope::SpecificConnectedOrganizationUsers
            }
            "allconfiguredconnectedorganizationsubjects"
            | "allexistingconnectedorganizationsubjects" => {
                TargetScope::AllConfiguredConnectedOrganizationUsers
            }
            "allexistingdirectorymemberusers" => TargetScope::AllMemberUsers,
            "allexistingdirectorysubjects" => TargetScope::AllDirectoryUsers,
            "allexternalsubjects" => TargetScope::AllExternalUsers,
            _ => return None,
        })
    }
}

/// The kinds of `subjectSet` (v1.0) / `userSet` (beta).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SubjectKind {
    SingleUser,
    GroupMembers,
    ConnectedOrganizationMembers,
    RequestorManager,
    InternalSponsors,
    ExternalSponsors,
    TargetUserSponsors,
    AttributeRuleMembers,
    SingleServicePrincipal,
    TargetApplicationOwners,
    TargetManager,
    TargetAgentIdentitySponsorsOrOwners,
}

const SUBJECT_KINDS: [(SubjectKind, &str, Option<&str>); 12] = [
    (SubjectKind::SingleUser, "singleUser", Some("userId")),
    (SubjectKind::GroupMembers, "groupMembers", Some("groupId")),
    (
        SubjectKind::ConnectedOrganizationMembers,
        "connectedOrganizationMembers",
        Some("connectedOrganizationId"),
    ),
    (SubjectKind::RequestorManager, "requestorManager", None),
    (SubjectKind::InternalSponsors, "internalSponsors", None),
    (SubjectKind::ExternalSponsors, "externalSponsors", None),
    (SubjectKind::TargetUserSponsors, "targetUserSponsors", None),
    (
        SubjectKind::AttributeRuleMembers,
        "attributeRuleMembers",
        None,
    ),
    (
        SubjectKind::SingleServicePrincipal,
        "singleServicePrincipal",
        Some("servicePrincipalId"),
    ),
    (
        SubjectKind::TargetApplicationOwners,
        "targetApplicationOwners",
        None,
    ),
    (SubjectKind::TargetManager, "targetManager", None),
    (
        SubjectKind::TargetAgentIdentitySponsorsOrOwners,
        "targetAgentIdentitySponsorsOrOwners",
        None,
    ),
];

impl SubjectKind {
    pub fn name(self) -> &'static str {
        SUBJECT_KINDS
            .iter()
            .find(|k| k.0 == self)
            .map_or("singleUser", |k| k.1)
    }

    /// The v1.0 property that names the principal (`userId`, `groupId`, …).
    fn v1_id_key(self) -> Option<&'static str> {
        SUBJECT_KINDS.iter().find(|k| k.0 == self).and_then(|k| k.2)
    }

    pub fn from_odata_type(text: &str) -> Option<Self> {
        let name = text
            .trim_start_matches('#')
            .trim_start_matches("microsoft.graph.");
        SUBJECT_KINDS
            .iter()
            .find(|k| k.1.eq_ignore_ascii_case(name))
            .map(|k| k.0)
    }
}

/// One entry of an approver, requestor or reviewer list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubjectSet {
    pub kind: SubjectKind,
    pub id: Option<Uuid>,
    pub description: Option<String>,
    pub manager_level: Option<i64>,
    pub membership_rule: Option<String>,
}

impl SubjectSet {
    pub fn to_v1(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "@odata.type".into(),
            json!(format!("#microsoft.graph.{}", self.kind.name())),
        );
        if let Some(key) = self.kind.v1_id_key() {
            m.insert(key.into(), json!(self.id));
        }
        match self.kind {
            SubjectKind::RequestorManager | SubjectKind::TargetManager => {
                m.insert(
                    "managerLevel".into(),
                    json!(self.manager_level.unwrap_or(1)),
                );
            }
            SubjectKind::AttributeRuleMembers => {
                m.insert("membershipRule".into(), json!(self.membership_rule));
            }
            _ => {}
        }
        if self.kind.v1_id_key().is_some() || self.kind == SubjectKind::AttributeRuleMembers {
            m.insert("description".into(), json!(self.description));
        }
        Value::Object(m)
    }

    pub fn to_beta(&self, is_backup: bool) -> Value {
        let mut m = Map::new();
        m.insert(
            "@odata.type".into(),
            json!(format!("#microsoft.graph.{}", self.kind.name())),
        );
        m.insert("isBackup".into(), json!(is_backup));
        if self.kind.v1_id_key().is_some() {
            m.insert("id".into(), json!(self.id));
            m.insert("description".into(), json!(self.description));
        }
        if matches!(
            self.kind,
            SubjectKind::RequestorManager | SubjectKind::TargetManager
        ) {
            m.insert(
                "managerLevel".into(),
                json!(self.manager_level.unwrap_or(1)),
            );
        }
        Value::Object(m)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExpirationKind {
    NotSpecified,
    NoExpiration,
    AfterDateTime,
    AfterDuration,
}

impl WireEnum for ExpirationKind {
    const VARIANTS: &'static [(Self, &'static str)] = &[
        (ExpirationKind::NotSpecified, "notSpecified"),
        (ExpirationKind::NoExpiration, "noExpiration"),
        (ExpirationKind::AfterDateTime, "afterDateTime"),
        (ExpirationKind::AfterDuration, "afterDuration"),
    ];
    fn v1_name(self) -> &'static str {
        match self {
            ExpirationKind::NotSpecified => "notSpecified",
            ExpirationKind::NoExpiration => "noExpiration",
            ExpirationKind::AfterDateTime => "afterDateTime",
            ExpirationKind::AfterDuration => "afterDuration",
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Expiration {
    pub kind: ExpirationKind,
    /// ISO 8601 duration as given (`P365D`).
    pub duration: Option<String>,
    pub end: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RequestorFlags {
    pub self_add: bool,
    pub self_update: bool,
    pub self_remove: bool,
    pub custom_schedule: bool,
    pub obo_add: bool,
    pub obo_update: bool,
    pub obo_remove: bool,
    pub on_behalf: Vec<SubjectSet>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stage {
    /// ISO 8601 (`P14D`).
    pub deny_after: String,
    pub approver_justification: bool,
    pub escalation_enabled: bool,
    pub escalate_after: String,
    pub primary: Vec<SubjectSet>,
    pub fallback_primary: Vec<SubjectSet>,
    pub escalation: Vec<SubjectSet>,
    pub fallback_escalation: Vec<SubjectSet>,
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Approval {
    pub for_add: bool,
    pub for_update: bool,
    pub justification_required: bool,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Choice {
    pub value: String,
    pub text: String,
    pub localizations: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Question {
    pub id: Uuid,
    pub multiple_choice: bool,
    pub sequence: i64,
    pub required: bool,
    pub answer_editable: bool,
    pub text: String,
    pub localizations: Vec<(String, String)>,
    pub choices: Vec<Choice>,
    pub multiple_selection: bool,
    pub single_line: bool,
    pub regex: Option<String>,
}

impl Question {
    pub fn to_v1(&self) -> Value {
        let mut m = Map::new();
        let kind = if self.multiple_choice {
            "accessPackageMultipleChoiceQuestion"
        } else {
            "accessPackageTextInputQuestion"
        };
        m.insert(
            "@odata.type".into(),
            json!(format!("#microsoft.graph.{kind}")),
        );
        m.insert("id".into(), json!(self.id));
        m.insert("sequence".into(), json!(self.sequence));
        m.insert("isRequired".into(), json!(self.required));
        m.insert("isAnswerEditable".into(), json!(self.answer_editable));
        m.insert("text".into(), json!(self.text));
        m.insert("localizations".into(), localized(&self.localizations));
        if self.multiple_choice {
            m.insert(
                "isMultipleSelectionAllowed".into(),
                json!(self.multiple_selection),
            );
            let choices: Vec<Value> = self
                .choices
                .iter()
                .map(|c| json!({"actualValue": c.value, "text": c.text, "localizations": localized(&c.localizations)}))
                .collect();
            m.insert("choices".into(), Value::Array(choices));
        } else {
            m.insert("isSingleLineQuestion".into(), json!(self.single_line));
            m.insert("regexPattern".into(), json!(self.regex));
        }
        Value::Object(m)
    }

    /// beta ids are upper-case (Example 3 of
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-post-accesspackageassignmentpolicies?view=graph-rest-beta).
    pub fn to_beta(&self) -> Value {
        let mut m = Map::new();
        let kind = if self.multiple_choice {
            "accessPackageMultipleChoiceQuestion"
        } else {
            "accessPackageTextInputQuestion"
        };
        m.insert(
            "@odata.type".into(),
            json!(format!("#microsoft.graph.{kind}")),
        );
        m.insert("id".into(), json!(self.id.to_string().to_ascii_uppercase()));
        m.insert("isRequired".into(), json!(self.required));
        m.insert("sequence".into(), json!(self.sequence));
        m.insert("isAnswerEditable".into(), json!(self.answer_editable));
        m.insert(
            "text".into(),
            json!({"defaultText": self.text, "localizedTexts": localized(&self.localizations)}),
        );
        if self.multiple_choice {
            let choices: Vec<Value> = self
                .choices
                .iter()
                .map(|c| json!({"actualValue": c.value, "displayValue": {"defaultText": c.text, "localizedTexts": localized(&c.localizations)}}))
                .collect();
            m.insert("choices".into(), Value::Array(choices));
            m.insert(
                "allowsMultipleSelection".into(),
                json!(self.multiple_selection),
            );
        } else {
            m.insert("isSingleLineQuestion".into(), json!(self.single_line));
            m.insert("regexPattern".into(), json!(self.regex));
        }
        Value::Object(m)
    }
}

fn localized(items: &[(String, String)]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|(lang, text)| json!({"text": text, "languageCode": lang}))
            .collect(),
    )
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    pub id: Uuid,
    pub access_package_id: Uuid,
    pub display_name: String,
    pub description: Option<String>,
    pub target_scope: TargetScope,
    pub allowed_targets: Vec<SubjectSet>,
    /// v1.0 `automaticRequestSettings`, as given (present ⇒ an auto-assignment policy).
    pub automatic: Option<Value>,
    pub expiration: Expiration,
    pub requestor: RequestorFlags,
    pub approval: Approval,
    /// v1.0 `reviewSettings` / beta `accessReviewSettings`, each kept as its version sent it.
    pub review_v1: Option<Value>,
    pub review_beta: Option<Value>,
    pub questions: Vec<Question>,
    pub notification: Option<Value>,
    /// `customExtensionStageSettings` (beta also `customExtensionHandlers`): stage → extension.
    pub extension_stages: Vec<(String, Uuid)>,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub created_by: Actor,
    pub modified_by: Actor,
}

impl Keyed for Policy {
    fn key(&self) -> Uuid {
        self.id
    }
}

/// Whole days of an ISO 8601 duration, when it is one.
pub fn duration_days(iso: &str) -> Option<i64> {
    let d: std::time::Duration = iso8601::duration(iso).ok()?.into();
    Some((d.as_secs() / 86_400) as i64)
}

pub fn duration_minutes(iso: &str) -> Option<i64> {
    let d: std::time::Duration = iso8601::duration(iso).ok()?.into();
    Some((d.as_secs() / 60) as i64)
}

impl Policy {
    pub fn to_json(&self, version: ApiVersion) -> Value {
        match version {
            ApiVersion::V1 => self.to_v1(),
            ApiVersion::Beta => self.to_beta(),
        }
    }

    /// Key order per the v1.0 get example
    /// (https://learn.microsoft.com/graph/api/accesspackageassignmentpolicy-get?view=graph-rest-1.0)
    /// and the China-cloud capture in microsoftgraph/msgraph-sdk-powershell#3018.
    fn to_v1(&self) -> Value {
        let stages: Vec<Value> = self
            .approval
            .stages
            .iter()
            .map(|s| {
                json!({
                    "durationBeforeAutomaticDenial": s.deny_after,
                    "isApproverJustificationRequired": s.approver_justification,
                    "isEscalationEnabled": s.escalation_enabled,
                    "durationBeforeEscalation": s.escalate_after,
                    "primaryApprovers": s.primary.iter().map(SubjectSet::to_v1).collect::<Vec<_>>(),
                    "fallbackPrimaryApprovers": s.fallback_primary.iter().map(SubjectSet::to_v1).collect::<Vec<_>>(),
                    "escalationApprovers": s.escalation.iter().map(SubjectSet::to_v1).collect::<Vec<_>>(),
                    "fallbackEscalationApprovers": s.fallback_escalation.iter().map(SubjectSet::to_v1).collect::<Vec<_>>(),
                })
            })
            .collect();
        let r = &self.requestor;
        json!({
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "allowedTargetScope": self.target_scope.v1_name(),
            "createdDateTime": self.created,
            "modifiedDateTime": self.modified,
            "automaticRequestSettings": self.automatic,
            "reviewSettings": self.review_v1,
            "specificAllowedTargets": self.allowed_targets.iter().map(SubjectSet::to_v1).collect::<Vec<_>>(),
            "expiration": {
                "endDateTime": self.expiration.end,
                "duration": self.expiration.duration,
                "type": self.expiration.kind.v1_name(),
            },
            "requestorSettings": {
                "enableTargetsToSelfAddAccess": r.self_add,
                "enableTargetsToSelfUpdateAccess": r.self_update,
                "enableTargetsToSelfRemoveAccess": r.self_remove,
                "allowCustomAssignmentSchedule": r.custom_schedule,
                "enableOnBehalfRequestorsToAddAccess": r.obo_add,
                "enableOnBehalfRequestorsToUpdateAccess": r.obo_update,
                "enableOnBehalfRequestorsToRemoveAccess": r.obo_remove,
                "onBehalfRequestors": r.on_behalf.iter().map(SubjectSet::to_v1).collect::<Vec<_>>(),
            },
            "requestApprovalSettings": {
                "isApprovalRequiredForAdd": self.approval.for_add,
                "isApprovalRequiredForUpdate": self.approval.for_update,
                "isRequestorJustificationRequired": self.approval.justification_required,
                "stages": stages,
            },
            "notificationSettings": self.notification,
        })
    }

    /// Key order per Example 4's response of
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-post-accesspackageassignmentpolicies?view=graph-rest-beta.
    fn to_beta(&self) -> Value {
        let (duration_in_days, expiration_date) = match self.expiration.kind {
            ExpirationKind::AfterDuration => (
                self.expiration
                    .duration
                    .as_deref()
                    .and_then(duration_days)
                    .unwrap_or(0),
                None,
            ),
            ExpirationKind::AfterDateTime => (0, self.expiration.end),
            _ => (0, None),
        };
        let mode = match (self.approval.for_add, self.approval.stages.len()) {
            (false, _) | (_, 0) => "NoApproval",
            (true, 1) => "SingleStage",
            (true, _) => "Serial",
        };
        let stages: Vec<Value> = self
            .approval
            .stages
            .iter()
            .map(|s| {
                let mut primary: Vec<Value> = s.primary.iter().map(|x| x.to_beta(false)).collect();
                primary.extend(s.fallback_primary.iter().map(|x| x.to_beta(true)));
                let mut escalation: Vec<Value> =
                    s.escalation.iter().map(|x| x.to_beta(false)).collect();
                escalation.extend(s.fallback_escalation.iter().map(|x| x.to_beta(true)));
                json!({
                    "approvalStageTimeOutInDays": duration_days(&s.deny_after).unwrap_or(0),
                    "isApproverJustificationRequired": s.approver_justification,
                    "isEscalationEnabled": s.escalation_enabled,
                    "escalationTimeInMinutes": duration_minutes(&s.escalate_after).unwrap_or(0),
                    "primaryApprovers": primary,
                    "escalationApprovers": escalation,
                })
            })
            .collect();
        json!({
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "canExtend": self.requestor.self_update,
            "durationInDays": duration_in_days,
            "expirationDateTime": expiration_date,
            "accessPackageId": self.access_package_id,
            "accessReviewSettings": self.review_beta,
            "questions": self.questions.iter().map(Question::to_beta).collect::<Vec<_>>(),
            "requestorSettings": {
                "scopeType": self.target_scope.beta_scope_type(),
                "acceptRequests": self.requestor.self_add,
                "allowedRequestors": self.allowed_targets.iter().map(|x| x.to_beta(false)).collect::<Vec<_>>(),
            },
            "requestApprovalSettings": {
                "isApprovalRequired": self.approval.for_add,
                "isApprovalRequiredForExtension": self.approval.for_update,
                "isRequestorJustificationRequired": self.approval.justification_required,
                "approvalMode": mode,
                "approvalStages": stages,
            },
            "createdBy": self.created_by,
            "createdDateTime": self.created,
            "modifiedBy": self.modified_by,
            "modifiedDateTime": self.modified,
        })
    }
}
