//! The lifecycle's refusals: one table of each refusal's status, code and message.

use super::*;

/// The lifecycle's refusals, each with its status, code and message (issue decision: one table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The only captured text (MicrosoftDocs/entra-docs#967).
    PolicyRequirementsNotMet,
    IncompatibleAccessPackage,
    IncompatibleGroup,
    RequestsDisabled,
    AlreadyAssigned,
    NoAssignment,
    MissingAnswer,
    InvalidAnswer,
    CustomScheduleNotAllowed,
    NotCancellable,
    NotDeletable,
    NotAnApprover,
    NotSelf,
    SelfServiceNotAllowed,
    ExtensionBeyondPolicy,
    NotReprocessable,
    NotWaiting,
}

impl Refusal {
    pub fn error(self) -> GraphError {
        use Refusal::*;
        let (code, message) = match self {
            PolicyRequirementsNotMet => (
                "PolicyRequirementsNotMet",
                "You don't meet policy requirements to request this entitlement.",
            ),
            IncompatibleAccessPackage => (
                "IncompatibleAccessPackage",
                "The target already has an access package that is incompatible with this one.",
            ),
            IncompatibleGroup => (
                "IncompatibleGroup",
                "The target is a member of a group that is incompatible with this access package.",
            ),
            RequestsDisabled => ("RequestsDisabled", "The policy does not accept requests."),
            AlreadyAssigned => (
                "ExistingAssignment",
                "The target already has an assignment to this access package.",
            ),
            NoAssignment => (
                "AssignmentNotFound",
                "The target has no active assignment to this access package.",
            ),
            MissingAnswer => (
                "RequiredQuestionNotAnswered",
                "A required question of the policy has not been answered.",
            ),
            InvalidAnswer => (
                "InvalidAnswer",
                "An answer is not one of the question's choices.",
            ),
            CustomScheduleNotAllowed => (
                "CustomScheduleNotAllowed",
                "The policy does not allow a custom assignment schedule.",
            ),
            NotCancellable => (
                "RequestNotCancellable",
                "The request can no longer be canceled.",
            ),
            NotDeletable => (
                "RequestNotDeletable",
                "Only denied, canceled or completed requests without assignments can be deleted.",
            ),
            NotAnApprover => (
                "UnAuthorized",
                "User is not authorized to perform the operation. Reason: Unauthorized",
            ),
            SelfServiceNotAllowed => (
                "PolicyRequirementsNotMet",
                "You don't meet policy requirements to request this entitlement.",
            ),
            NotWaiting => (
                "RequestNotWaitingForCallback",
                "The request is not waiting for a custom extension callback.",
            ),
            NotReprocessable => (
                "RequestNotReprocessable",
                "Only failed or partially delivered requests of the last 14 days, and delivered assignments, can be reprocessed.",
            ),
            ExtensionBeyondPolicy => (
                "ExtensionBeyondPolicyEnd",
                "The requested schedule ends after the policy allows.",
            ),
            NotSelf => (
                "InvalidRequest",
                "End-user requests can only be made for the signed-in user.",
            ),
        };
        crate::authz::note(
            serde_json::json!({"decision": "refused", "rule": message, "code": code}),
        );
        if self == NotAnApprover {
            return GraphError::UnAuthorized(crate::error::REASON_NO_ROLE);
        }
        GraphError::Refused {
            code,
            message: message.to_string(),
        }
    }
}
