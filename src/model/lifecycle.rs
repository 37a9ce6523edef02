//! The governance lifecycle's entities: assignment requests, their approval stages, and
//! assignments (the accessPackageAssignmentRequest, accessPackageAssignment,
//! accessPackageSubject and approval resource types, v1.0 and beta, e.g.
//! https://learn.microsoft.com/graph/api/resources/accesspackageassignmentrequest?view=graph-rest-1.0).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::ApiVersion;
use super::em::{Actor, WireEnum};
use super::policy::Expiration;
use super::table::Keyed;
use crate::clock::Timestamp;

/// `accessPackageRequestState` (requests never become `expired`: an approval timeout ends
/// `denied` with status `Expired` [inf, issue decision]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RequestState {
    Submitted,
    PendingApproval,
    Delivering,
    Delivered,
    DeliveryFailed,
    Denied,
    Scheduled,
    Canceled,
    PartiallyDelivered,
}

impl WireEnum for RequestState {
    const VARIANTS: &'static [(Self, &'static str)] = &[
        (RequestState::Submitted, "submitted"),
        (RequestState::PendingApproval, "pendingApproval"),
        (RequestState::Delivering, "delivering"),
        (RequestState::Delivered, "delivered"),
        (RequestState::DeliveryFailed, "deliveryFailed"),
        (RequestState::Denied, "denied"),
        (RequestState::Scheduled, "scheduled"),
        (RequestState::Canceled, "canceled"),
        (RequestState::PartiallyDelivered, "partiallyDelivered"),
    ];
    fn v1_name(self) -> &'static str {
        Self::VARIANTS
            .iter()
            .find(|(v, _)| *v == self)
            .map_or("submitted", |(_, n)| n)
    }
}

impl RequestState {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RequestState::Delivered
                | RequestState::DeliveryFailed
                | RequestState::Denied
                | RequestState::Canceled
                | RequestState::PartiallyDelivered
        )
    }
}

/// `accessPackageRequestType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RequestType {
    AdminAdd,
    AdminUpdate,
    AdminRemove,
    UserAdd,
    UserUpdate,
    UserRemove,
    UserExtend,
    SystemAdd,
    SystemUpdate,
    SystemRemove,
    /// An approver of the assignment's policy removes it (a member of the `requestType` enum,
    /// https://learn.microsoft.com/graph/api/resources/accesspackageassignmentrequest?view=graph-rest-1.0;
    /// an end-user call).
    ApproverRemove,
}

impl WireEnum for RequestType {
    const VARIANTS: &'static [(Self, &'static str)] = &[
        (RequestType::AdminAdd, "adminAdd"),
        (RequestType::AdminUpdate, "adminUpdate"),
        (RequestType::AdminRemove, "adminRemove"),
        (RequestType::UserAdd, "userAdd"),
        (RequestType::UserUpdate, "userUpdate"),
        (RequestType::UserRemove, "userRemove"),
        (RequestType::UserExtend, "userExtend"),
        (RequestType::SystemAdd, "systemAdd"),
        (RequestType::SystemUpdate, "systemUpdate"),
        (RequestType::SystemRemove, "systemRemove"),
        (RequestType::ApproverRemove, "approverRemove"),
    ];
    fn v1_name(self) -> &'static str {
        Self::VARIANTS
            .iter()
            .find(|(v, _)| *v == self)
            .map_or("adminAdd", |(_, n)| n)
    }
}

impl RequestType {
    pub fn is_admin(self) -> bool {
        matches!(
            self,
            RequestType::AdminAdd | RequestType::AdminUpdate | RequestType::AdminRemove
        )
    }
}

/// A notification (or custom-extension callout) Graph would send, kept in the tenant's outbox
/// for tests to read (`GET /_emulator/outbox`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    pub sequence: u64,
    pub time: Timestamp,
    /// `requestSubmitted`, `approvalRequired`, `approvalEscalated`, `requestApproved`, `requestDenied`,
    /// `requestTimedOut`, `assignmentDelivered`, `assignmentExpiring14Days`,
    /// `assignmentExpiring1Day`, `assignmentRemoved`, `assignmentExpired`, `customExtensionCallout`,
    /// `customExtensionCalloutFailed` (a loopback callout refused or not answered 2xx).
    #[serde(with = "crate::model::interned")]
    pub kind: crate::model::interned::StaticStr,
    pub access_package_id: Uuid,
    pub request_id: Option<Uuid>,
    pub assignment_id: Option<Uuid>,
    /// Users the notice goes to (object ids).
    pub recipients: Vec<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_extension_id: Option<Uuid>,
    /// What a callout would POST to the extension's endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Why a callout failed: refused before connecting, or what the endpoint answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A callout to a loopback endpoint, waiting for the HTTP layer to send it (after the call
/// that caused it has released the tenant), with what a failure notice names.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCallout {
    pub url: String,
    pub body: Value,
    pub custom_extension_id: Uuid,
    pub access_package_id: Uuid,
    pub request_id: Option<Uuid>,
    pub assignment_id: Option<Uuid>,
}

impl Notice {
    /// What a notice holds, from lengths at hand: the struct, its recipients, a callout's
    /// payload (a few ids; walked only for callouts) and a failed callout's reason.
    fn bytes(&self) -> usize {
        std::mem::size_of::<Notice>()
            + self.recipients.len() * std::mem::size_of::<Uuid>()
            + self.payload.as_ref().map_or(0, crate::sizes::value_bytes)
            + self.reason.as_ref().map_or(0, String::len)
    }
}

/// The most notices an outbox keeps, so a long-running emulator under steady traffic does not
/// grow without bound (issue 8: a documented cap).
pub const OUTBOX_CAPACITY: usize = 10_000;

/// The most bytes an outbox's notices may hold (issue 19). A notice names every approver of a
/// stage, and a stage may name a group of any size, so a count alone bounds nothing.
pub const OUTBOX_BYTES: usize = 16 * 1024 * 1024;

/// A tenant's outbox: notices oldest first, at most `OUTBOX_CAPACITY` of them and
/// `OUTBOX_BYTES` by `Notice::bytes`, the oldest dropped first. It reads as the list of notices
/// and serializes as that list (snapshots are unchanged); only `push` and `clear` change it,
/// so its running total stays true.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    notices: std::collections::VecDeque<Notice>,
    bytes: usize,
}

impl Outbox {
    pub fn push(&mut self, notice: Notice) {
        self.push_within(notice, OUTBOX_CAPACITY, OUTBOX_BYTES);
    }

    /// The newest notice is always kept, even alone over the budget: its recipients are the
    /// tenant's users, so its size is bounded by the directory, and a test expects to see it.
    fn push_within(&mut self, notice: Notice, max_count: usize, max_bytes: usize) {
        let bytes = notice.bytes();
        while self.notices.len() >= max_count || self.bytes + bytes > max_bytes {
            let Some(oldest) = self.notices.pop_front() else {
                break;
            };
            self.bytes -= oldest.bytes();
        }
        self.bytes += bytes;
        self.notices.push_back(notice);
    }

    pub fn clear(&mut self) {
        self.notices.clear();
        self.bytes = 0;
    }

    /// What the kept notices hold, by `Notice::bytes`.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl std::ops::Deref for Outbox {
    type Target = std::collections::VecDeque<Notice>;

    fn deref(&self) -> &Self::Target {
        &self.notices
    }
}

impl serde::Serialize for Outbox {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.notices.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Outbox {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let notices = std::collections::VecDeque::<Notice>::deserialize(deserializer)?;
        let bytes = notices.iter().map(Notice::bytes).sum();
        Ok(Outbox { notices, bytes })
    }
}

/// How deliveries end, per tenant: the real service's observed failure modes (an `adminAdd`
/// left in `delivering`, microsoftgraph/microsoft-graph-docs#15230), so a test can exercise
/// "my code handles a failed/stuck delivery".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DeliveryOutcome {
    /// Delivered by the next call to the tenant (the default).
    #[default]
    Delivered,
    /// The request ends `deliveryFailed`; `reprocess` retries it under the then-current outcome.
    DeliveryFailed,
    /// The request ends `partiallyDelivered` with an assignment in the same state that grants
    /// only the package's first resource role [inf]; `reprocess` completes it under the
    /// then-current outcome.
    PartiallyDelivered,
    /// The request stays `delivering` until the outcome is changed.
    Delivering,
    /// `{"afterReads": N}`: the first N reads of the request by id see it `delivering`; the
    /// next read sees it delivered (issue decision: reads of *that* request).
    AfterReads(u32),
    /// `{"afterDuration": "PT5M"}`: held in `delivering` until that much virtual time has
    /// passed since delivery began; moving the clock past it delivers.
    AfterDuration(VirtualDelay),
}

/// A span of virtual time written as an ISO 8601 duration in settings and fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtualDelay(pub std::time::Duration);

impl serde::Serialize for VirtualDelay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let secs = self.0.as_secs();
        let text = match secs {
            s if s > 0 && s % 86_400 == 0 => format!("P{}D", s / 86_400),
            s if s > 0 && s % 3_600 == 0 => format!("PT{}H", s / 3_600),
            s if s > 0 && s % 60 == 0 => format!("PT{}M", s / 60),
            s => format!("PT{s}S"),
        };
        s.serialize_str(&text)
    }
}

impl<'de> serde::Deserialize<'de> for VirtualDelay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = iso8601::duration(&text).map_err(|_| {
            serde::de::Error::custom(format!("'{text}' is not an ISO 8601 duration"))
        })?;
        Ok(VirtualDelay(parsed.into()))
    }
}

/// One approval stage of a request in flight.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StageState {
    pub id: Uuid,
    /// Who may decide (resolved from the policy when the stage starts).
    pub approvers: Vec<Uuid>,
    /// `NotStarted`, `InProgress`, `Completed`, `Expired`.
    #[serde(with = "crate::model::interned")]
    pub status: crate::model::interned::StaticStr,
    /// `NotReviewed`, `Approve`, `Deny`.
    #[serde(with = "crate::model::interned")]
    pub review_result: crate::model::interned::StaticStr,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<Timestamp>,
    pub justification: Option<String>,
    pub deadline: Option<Timestamp>,
    /// When the escalation approvers join, if the stage escalates and has not yet.
    pub escalate_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    pub start: Option<Timestamp>,
    pub expiration: Expiration,
}

impl Schedule {
    pub fn to_json(&self) -> Value {
        json!({
            "startDateTime": self.start,
            "recurrence": null,
            "expiration": {
                "endDateTime": self.expiration.end,
                "duration": self.expiration.duration,
                "type": self.expiration.kind.v1_name(),
            },
        })
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Request {
    pub id: Uuid,
    pub access_package_id: Uuid,
    pub policy_id: Option<Uuid>,
    pub request_type: RequestType,
    /// Graph echoes the casing the client sent (`UserAdd` vs `userAdd`,
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-post-assignmentrequests?view=graph-rest-1.0).
    pub request_type_text: String,
    pub state: RequestState,
    /// `Accepted`, `PendingApproval`, `Delivered`, `Denied`, `Expired`, `Canceled`, …
    pub status: String,
    pub target: Uuid,
    pub requestor: Option<Uuid>,
    pub justification: Option<String>,
    pub answers: Vec<Value>,
    pub schedule: Schedule,
    pub created: Timestamp,
    pub completed: Option<Timestamp>,
    pub assignment_id: Option<Uuid>,
    pub stages: Vec<StageState>,
    pub created_by: Actor,
    /// Custom-extension calls made for this request (`customExtensionCalloutInstances`).
    pub callouts: Vec<CalloutInstance>,
    /// The callout the request is paused on, if any (status `WaitingForCallback`,
    /// https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-resume?view=graph-rest-1.0).
    pub waiting: Option<Waiting>,
    /// Reads by id while held in `delivering` (the `afterReads` outcome).
    pub reads: u32,
    /// When delivery began (the `afterDuration` outcome).
    pub delivering_since: Option<Timestamp>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CalloutInstance {
    pub id: Uuid,
    pub extension: Uuid,
    pub stage: String,
    /// `calloutSent`, `waitingForCallback`, `callbackReceived`, `callbackTimedOut`.
    #[serde(with = "crate::model::interned")]
    pub status: crate::model::interned::StaticStr,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Waiting {
    pub instance: Uuid,
    pub stage: String,
    /// The extension's `durationBeforeTimeout` from the callout; then the request moves on.
    pub until: Option<Timestamp>,
    /// The status to return to when the wait ends.
    pub resume_status: String,
}

impl Request {
    /// Still able to move: not finished and not canceled.
    pub fn is_open(&self) -> bool {
        !self.state.is_final() && self.state != RequestState::Canceled
    }
}

impl Keyed for Request {
    fn key(&self) -> Uuid {
        self.id
    }
}

impl Request {
    /// v1.0 per Example 3 of
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-post-assignmentrequests?view=graph-rest-1.0;
    /// beta with the names of
    /// https://learn.microsoft.com/graph/api/entitlementmanagement-post-accesspackageassignmentrequests?view=graph-rest-beta.
    pub fn to_json(&self, version: ApiVersion) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("requestType".into(), json!(self.request_type_text));
        match version {
            ApiVersion::V1 => {
                m.insert("state".into(), json!(self.state.v1_name()));
                m.insert("status".into(), json!(self.status));
                m.insert("createdDateTime".into(), json!(self.created));
                m.insert("completedDateTime".into(), json!(self.completed));
            }
            ApiVersion::Beta => {
                m.insert("requestState".into(), json!(self.state.beta_name()));
                // beta reports a delivered request as "Fulfilled"
                // (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-filterbycurrentuser?view=graph-rest-beta).
                let status = match self.status.as_str() {
                    "Delivered" => "Fulfilled",
                    other => other,
                };
                m.insert("requestStatus".into(), json!(status));
                m.insert("createdDateTime".into(), json!(self.created));
                m.insert("completedDate".into(), json!(self.completed));
                m.insert("isValidationOnly".into(), json!(false));
                // The beta request type has no package id
                // (https://learn.microsoft.com/graph/api/resources/accesspackageassignmentrequest?view=graph-rest-beta);
                // the beta filterByCurrentUser example shows this key.
                m.insert("expirationDateTime".into(), Value::Null);
            }
        }
        m.insert("justification".into(), json!(self.justification));
        m.insert("schedule".into(), self.schedule.to_json());
        m.insert("answers".into(), Value::Array(self.answers.clone()));
        if version == ApiVersion::Beta {
            m.insert("verifiedCredentialsData".into(), json!([]));
            m.insert("customExtensionHandlerInstances".into(), json!([]));
        }
        let callouts: Vec<Value> = self
            .callouts
            .iter()
            .map(|c| {
                json!({"id": c.id, "customExtensionId": c.extension, "externalCorrelationId": null,
                       "detail": format!("{} callout", c.stage), "status": c.status})
            })
            .collect();
        m.insert(
            "customExtensionCalloutInstances".into(),
            Value::Array(callouts),
        );
        Value::Object(m)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AssignmentState {
    Delivering,
    Delivered,
    PartiallyDelivered,
    Expired,
}

impl AssignmentState {
    /// Holds access (whole or in part): what removal, expiry and extension act on.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AssignmentState::Delivered | AssignmentState::PartiallyDelivered
        )
    }
}

impl WireEnum for AssignmentState {
    const VARIANTS: &'static [(Self, &'static str)] = &[
        (AssignmentState::Delivering, "delivering"),
        (AssignmentState::Delivered, "delivered"),
        (AssignmentState::PartiallyDelivered, "partiallyDelivered"),
        (AssignmentState::Expired, "expired"),
    ];
    fn v1_name(self) -> &'static str {
        match self {
            AssignmentState::Delivering => "delivering",
            AssignmentState::Delivered => "delivered",
            AssignmentState::PartiallyDelivered => "partiallyDelivered",
            AssignmentState::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Assignment {
    pub id: Uuid,
    pub access_package_id: Uuid,
    pub catalog_id: Uuid,
    pub policy_id: Option<Uuid>,
    pub target: Uuid,
    pub state: AssignmentState,
    pub status: String,
    pub schedule: Schedule,
    /// When it stops (from the schedule), for the clock.
    pub ends: Option<Timestamp>,
    pub expired: Option<Timestamp>,
    pub created: Timestamp,
    /// Whether an update or extension has changed its end (beta `isExtended`).
    pub extended: bool,
    /// Near-expiry notices already sent (14 days, 1 day before the end).
    pub warned: (bool, bool),
}

impl Keyed for Assignment {
    fn key(&self) -> Uuid {
        self.id
    }
}

impl Assignment {
    /// v1.0 per the list example
    /// (https://learn.microsoft.com/graph/api/entitlementmanagement-list-assignments?view=graph-rest-1.0)
    /// and the capture in microsoftgraph/microsoft-graph-docs#15230; beta adds the id columns
    /// (https://learn.microsoft.com/graph/api/resources/accesspackageassignment?view=graph-rest-beta).
    pub fn to_json(&self, version: ApiVersion) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        match version {
            ApiVersion::V1 => {
                m.insert("state".into(), json!(self.state.v1_name()));
                m.insert("status".into(), json!(self.status));
                m.insert("expiredDateTime".into(), json!(self.expired));
            }
            ApiVersion::Beta => {
                m.insert("catalogId".into(), json!(self.catalog_id));
                m.insert("accessPackageId".into(), json!(self.access_package_id));
                m.insert("assignmentPolicyId".into(), json!(self.policy_id));
                m.insert("targetId".into(), json!(subject_id(self.target)));
                m.insert("assignmentStatus".into(), json!(self.status));
                m.insert("assignmentState".into(), json!(self.state.beta_name()));
                m.insert("isExtended".into(), json!(self.extended));
                m.insert("expiredDateTime".into(), json!(self.expired));
            }
        }
        m.insert("schedule".into(), self.schedule.to_json());
        Value::Object(m)
    }
}

/// `accessPackageSubject.id` is its own GUID, distinct from the user's object id
/// (https://learn.microsoft.com/graph/api/resources/accesspackagesubject?view=graph-rest-1.0);
/// derived so it is stable.
pub fn subject_id(object_id: Uuid) -> Uuid {
    super::resources::derived_id(object_id, "subject", "")
}

/// beta `accessPackageAssignmentResourceRole`: one resource role a subject holds in one scope
/// through one or more active assignments. Derived from assignments on each read (so role-scope
/// changes on a live package show at once), with an id stable for the same subject, role and
/// scope [inf].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AssignmentResourceRole {
    pub id: Uuid,
    pub target: Uuid,
    pub role_id: Uuid,
    pub scope_id: Uuid,
    /// The assignments that grant it, oldest first.
    pub assignments: Vec<Uuid>,
}

impl AssignmentResourceRole {
    pub fn id_for(target: &Uuid, role: &Uuid, scope: &Uuid) -> Uuid {
        Uuid::new_v5(role, format!("{target}:{scope}").as_bytes())
    }
}

/// Which administrators' `adminAdd` requests skip the policy's approval (an access package
/// assignment manager "will no longer be able to bypass approval settings",
/// https://learn.microsoft.com/entra/id-governance/entitlement-management-delegate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AdminApprovalBypass {
    /// IGA administrators, catalog owners and access package managers skip it; an access
    /// package assignment manager alone does not (issue decision) [inf].
    #[default]
    Managers,
    /// Every caller allowed to make `adminAdd` requests skips it.
    All,
    /// Administrators' requests wait for approval like anyone's.
    None,
}

/// Which assignments keep an access package from being deleted
/// (https://learn.microsoft.com/graph/api/accesspackage-delete?view=graph-rest-1.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PackageDeletionGuard {
    /// Only assignments that have not ended [inf].
    #[default]
    LiveAssignments,
    /// Any assignment, ended ones included (the delete page's literal wording).
    AnyAssignment,
}

/// Replica lag for eventual consistency: an ISO 8601 duration up to one hour [inf: Graph's
/// replicas catch up within seconds; longer only slows tests].
pub fn parse_lag(text: &str) -> Result<std::time::Duration, String> {
    let lag: std::time::Duration = iso8601::duration(text)
        .map_err(|_| format!("'{text}' is not an ISO 8601 duration (e.g. PT2S)"))?
        .into();
    if lag > std::time::Duration::from_secs(3600) {
        return Err(format!("'{text}' is longer than the one-hour maximum"));
    }
    Ok(lag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(sequence: u64, recipients: usize) -> Notice {
        Notice {
            sequence,
            time: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            kind: "approvalRequired",
            access_package_id: Uuid::nil(),
            request_id: None,
            assignment_id: None,
            recipients: vec![Uuid::nil(); recipients],
            custom_extension_id: None,
            payload: None,
            reason: None,
        }
    }

    #[test]
    fn the_outbox_is_capped_in_bytes_and_keeps_the_newest() {
        let mut outbox = Outbox::default();
        let budget = 100 * 1024;
        for i in 0..100 {
            outbox.push_within(notice(i, 1000), 50, budget);
            assert!(outbox.bytes() <= budget, "{} bytes", outbox.bytes());
        }
        // 16 KB of recipients each: six fit, well under the count cap.
        assert_eq!(outbox.len(), 6);
        assert_eq!(outbox.front().map(|n| n.sequence), Some(94));
        assert_eq!(outbox.back().map(|n| n.sequence), Some(99));
        // One notice over the whole budget is still kept, alone.
        outbox.push_within(notice(100, 10_000), 50, budget);
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox.bytes(), outbox[0].bytes());
        outbox.clear();
        assert_eq!((outbox.len(), outbox.bytes()), (0, 0));
    }

    #[test]
    fn the_outbox_serializes_as_its_list_and_recounts_when_read_back() {
        let mut outbox = Outbox::default();
        outbox.push(notice(1, 3));
        outbox.push(notice(2, 0));
        let json = serde_json::to_value(&outbox).unwrap();
        assert_eq!(json.as_array().map(Vec::len), Some(2));
        assert_eq!(json[0]["recipients"].as_array().map(Vec::len), Some(3));
        let back: Outbox = serde_json::from_value(json).unwrap();
        assert_eq!(back.bytes(), outbox.bytes());
        assert_eq!(back.len(), 2);
    }
}
