//! The one error type: every refusal the emulator can give, with its Graph status, code and
//! message. Messages are written once, here; where a reference captures the exact text it is
//! copied verbatim: the EM backend's from public issues (microsoftgraph/microsoft-graph-docs#18874
//! `ResourceNotFound`; hashicorp/terraform-provider-azuread#1066 `RoleNotFound` and
//! `CallerNotResourceOwner`, #1091 `InvalidDeleteResourceHasEntitlements`, #1169 and #1226
//! `UnAuthorized`; microsoftgraph/msgraph-sdk-powershell#1821 `InvalidModel`, #2505 the unrouted
//! 404; Microsoft365DSC/Microsoft365DSC#4032 `InvalidFilter`; MicrosoftDocs/entra-docs#967 the
//! policy-requirements text), the gateway's (401s, unknown segments, throttling) as public reports
//! and https://learn.microsoft.com/graph/throttling quote them. Cases no capture
//! covers are marked `[inf]` and listed in the parity table (`docs/PARITY.md`).

use axum::http::StatusCode;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum GraphError {
    // ---- Graph gateway (routing, authentication, transport) ----
    #[error("Access token is empty.")]
    TokenMissing,
    #[error("CompactToken parsing failed with error code: 80049217")]
    TokenMalformed,
    #[error("Lifetime validation failed, the token is expired.")]
    TokenExpired,
    /// `nbf` in the future. [inf: same code, .NET's wording for not-yet-valid tokens]
    #[error("Lifetime validation failed, the token is not yet valid.")]
    TokenNotYetValid,
    #[error("Access token validation failure. Invalid audience.")]
    TokenInvalidAudience,
    /// Not signed by this emulator's key (or not RS256). [inf: Graph's generic validation text]
    #[error("Access token validation failure.")]
    TokenInvalidSignature,
    /// The token's `tid` names no tenant this emulator serves. [inf]
    #[error("Access token validation failure. Invalid issuer.")]
    TokenInvalidIssuer,
    #[error("Either scp or roles claim need to be present in the token.")]
    TokenWithoutPermissions,
    #[error("Resource not found for the segment '{0}'.")]
    SegmentNotFound(String),
    /// [inf: Graph's gateway answers an unknown version segment with 400 BadRequest]
    #[error("Invalid version: {0}")]
    InvalidVersion(String),
    /// [inf: ASP.NET Web API's text; no EM capture]
    #[error("The requested resource does not support http method '{0}'.")]
    MethodNotAllowed(String),
    /// [inf: ASP.NET Web API's text for a non-JSON body]
    #[error("The request entity's media type '{0}' is not supported for this resource.")]
    UnsupportedMediaType(String),
    /// [inf]
    #[error("The request body is too large. The limit is {0} bytes.")]
    PayloadTooLarge(usize),
    /// [inf: ASP.NET OData's text for a disallowed query option]
    #[error(
        "The query specified in the URI is not valid. Query option '{0}' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings."
    )]
    QueryOptionNotAllowed(String),
    /// A query option the service rejects (bad `$top`, `$select` of an unknown property, …).
    #[error("{0}")]
    BadQuery(String),
    #[error("OData query is invalid: {0}")]
    InvalidFilter(String),
    #[error("Invalid batch payload format.")]
    BatchInvalid { detail: String },
    #[error("Request Id {0} has to be unique in a batch.")]
    BatchDuplicateId(String),
    /// [inf]
    #[error("The number of requests in a batch cannot exceed 20; this batch has {0}.")]
    BatchTooLarge(usize),
    /// [inf]
    #[error("The request depends on request {0}, which failed.")]
    FailedDependency(String),
    /// Something Graph has that this emulator does not emulate yet: an honest 501 rather than a
    /// made-up answer.
    #[error("{0} is not implemented by this emulator yet.")]
    NotImplemented(String),

    // ---- Entitlement-management backend ----
    #[error("The resource was not found.")]
    ResourceNotFound,
    #[error("User is not authorized to perform the operation. Reason: {0}")]
    UnAuthorized(&'static str),
    /// The wire message is always Graph's terse text; `detail` says what was wrong and is sent
    /// only in the emulator's own `x-emulator-detail` header.
    #[error("The model is invalid.")]
    InvalidModel { detail: String },
    #[error("No HTTP resource was found that matches the request URI '{0}'.")]
    NoHttpResource(String),
    /// [inf: named after the captured `InvalidDeleteResourceHasEntitlements`]
    #[error("The catalog: {0} can not be deleted because it contains access packages.")]
    CatalogHasAccessPackages(String),
    /// [inf]
    #[error("The default catalog '{0}' can not be deleted or renamed.")]
    DefaultCatalogImmutable(String),
    /// [inf]
    #[error("A role assignment with the same principal, role and scope already exists.")]
    RoleAssignmentExists,

    #[error("The caller is not the resource owner.")]
    CallerNotResourceOwner,
    #[error("The resource: {0} can not be deleted because there are active entitlements.")]
    ResourceHasEntitlements(String),
    #[error("The role was not found.")]
    RoleNotFound,
    /// [inf]
    #[error("The resource is already in the catalog.")]
    ResourceAlreadyInCatalog,
    /// [inf]
    #[error("The access package already grants this resource role at this scope.")]
    RoleScopeExists,
    /// A lifecycle rule refused the request: one table of codes and texts lives in
    /// `ops::lifecycle::Refusal` ([inf] except the captured policy-requirements text).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The directory's own not-found (the `/users`, `/groups` workload's text, not an EM code).
    #[error(
        "Resource '{0}' does not exist or one of its queried reference-property objects are not present."
    )]
    DirectoryNotFound(uuid::Uuid),
    /// 409: another approver of the stage already decided
    /// (https://learn.microsoft.com/graph/api/approvalstage-update?view=graph-rest-1.0) [inf code].
    #[error("The approval stage has already been decided.")]
    AlreadyDecided,
    #[error("An internal emulator error occurred.")]
    Internal(String),
}

/// The default `Reason:` texts of 403 `UnAuthorized` (both captured:
/// hashicorp/terraform-provider-azuread#1169 and #1226).
pub const REASON_NO_PERMISSION: &str = "The caller is not authorized.";
pub const REASON_NO_ROLE: &str = "Unauthorized";

impl GraphError {
    pub fn invalid_model(detail: impl Into<String>) -> Self {
        GraphError::InvalidModel {
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        use GraphError::*;
        match self {
            TokenMissing
            | TokenMalformed
            | TokenExpired
            | TokenNotYetValid
            | TokenInvalidAudience
            | TokenInvalidSignature
            | TokenInvalidIssuer
            | TokenWithoutPermissions => StatusCode::UNAUTHORIZED,
            SegmentNotFound(_)
            | InvalidVersion(_)
            | QueryOptionNotAllowed(_)
            | BadQuery(_)
            | InvalidFilter(_)
            | BatchInvalid { .. }
            | BatchDuplicateId(_)
            | BatchTooLarge(_) => StatusCode::BAD_REQUEST,
            FailedDependency(_) => StatusCode::FAILED_DEPENDENCY,
            MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ResourceNotFound | NoHttpResource(_) => StatusCode::NOT_FOUND,
            UnAuthorized(_) => StatusCode::FORBIDDEN,
            InvalidModel { .. }
            | CatalogHasAccessPackages(_)
            | DefaultCatalogImmutable(_)
            | RoleAssignmentExists => StatusCode::BAD_REQUEST,
            CallerNotResourceOwner
            | ResourceHasEntitlements(_)
            | ResourceAlreadyInCatalog
            | RoleScopeExists => StatusCode::BAD_REQUEST,
            RoleNotFound => StatusCode::NOT_FOUND,
            Refused { .. } => StatusCode::BAD_REQUEST,
            DirectoryNotFound(_) => StatusCode::NOT_FOUND,
            AlreadyDecided => StatusCode::CONFLICT,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        use GraphError::*;
        match self {
            TokenMissing
            | TokenMalformed
            | TokenExpired
            | TokenNotYetValid
            | TokenInvalidAudience
            | TokenInvalidSignature
            | TokenInvalidIssuer
            | TokenWithoutPermissions => "InvalidAuthenticationToken",
            SegmentNotFound(_)
            | InvalidVersion(_)
            | QueryOptionNotAllowed(_)
            | BadQuery(_)
            | BatchInvalid { .. }
            | BatchDuplicateId(_)
            | BatchTooLarge(_) => "BadRequest",
            FailedDependency(_) => "FailedDependency",
            InvalidFilter(_) => "InvalidFilter",
            // The ASP.NET backend sends these with an empty code
            // (microsoftgraph/msgraph-sdk-powershell#2505).
            MethodNotAllowed(_) | NoHttpResource(_) => "",
            UnsupportedMediaType(_) => "UnsupportedMediaType",
            PayloadTooLarge(_) => "RequestEntityTooLarge",
            NotImplemented(_) => "NotImplemented",
            ResourceNotFound => "ResourceNotFound",
            UnAuthorized(_) => "UnAuthorized",
            InvalidModel { .. } => "InvalidModel",
            CatalogHasAccessPackages(_) => "InvalidDeleteCatalogHasAccessPackages",
            DefaultCatalogImmutable(_) => "InvalidOperationOnDefaultCatalog",
            RoleAssignmentExists => "RoleAssignmentAlreadyExists",
            CallerNotResourceOwner => "CallerNotResourceOwner",
            ResourceHasEntitlements(_) => "InvalidDeleteResourceHasEntitlements",
            RoleNotFound => "RoleNotFound",
            Refused { code, .. } => code,
            DirectoryNotFound(_) => "Request_ResourceNotFound",
            AlreadyDecided => "Conflict",
            ResourceAlreadyInCatalog => "ResourceAlreadyOnboarded",
            RoleScopeExists => "ResourceRoleScopeAlreadyExists",
            Internal(_) => "InternalServerError",
        }
    }

    /// Extra explanation for humans, sent outside Graph's envelope.
    pub fn detail(&self) -> Option<&str> {
        match self {
            GraphError::InvalidModel { detail } | GraphError::BatchInvalid { detail } => {
                Some(detail)
            }
            GraphError::Internal(detail) => Some(detail),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_strings_are_verbatim() {
        assert_eq!(
            GraphError::ResourceNotFound.to_string(),
            "The resource was not found."
        );
        assert_eq!(
            GraphError::UnAuthorized(REASON_NO_ROLE).to_string(),
            "User is not authorized to perform the operation. Reason: Unauthorized"
        );
        assert_eq!(
            GraphError::SegmentNotFound("foo".into()).to_string(),
            "Resource not found for the segment 'foo'."
        );
        assert_eq!(
            GraphError::invalid_model("x").to_string(),
            "The model is invalid."
        );
        assert_eq!(
            GraphError::TokenMissing.code(),
            "InvalidAuthenticationToken"
        );
        assert_eq!(GraphError::TokenMissing.status(), StatusCode::UNAUTHORIZED);
    }
}
