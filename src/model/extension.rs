//! Custom workflow extensions of a catalog (the accessPackageAssignmentRequestWorkflowExtension
//! and accessPackageAssignmentWorkflowExtension resource types, v1.0 and beta, e.g.
//! https://learn.microsoft.com/graph/api/resources/accesspackageassignmentrequestworkflowextension?view=graph-rest-1.0).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::ApiVersion;
use super::table::Keyed;
use crate::clock::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExtensionKind {
    /// Runs at request stages; may hold a request until called back.
    Request,
    /// Runs at assignment stages.
    Assignment,
    /// beta's deprecated `customAccessPackageWorkflowExtension`.
    Legacy,
}

impl ExtensionKind {
    pub fn odata_type(self) -> &'static str {
        match self {
            ExtensionKind::Request => {
                "#microsoft.graph.accessPackageAssignmentRequestWorkflowExtension"
            }
            ExtensionKind::Assignment => {
                "#microsoft.graph.accessPackageAssignmentWorkflowExtension"
            }
            ExtensionKind::Legacy => "#microsoft.graph.customAccessPackageWorkflowExtension",
        }
    }

    pub fn parse(odata_type: &str) -> Option<Self> {
        let name = odata_type
            .trim_start_matches('#')
            .trim_start_matches("microsoft.graph.");
        [
            ExtensionKind::Request,
            ExtensionKind::Assignment,
            ExtensionKind::Legacy,
        ]
        .into_iter()
        .find(|k| {
            k.odata_type()
                .trim_start_matches("#microsoft.graph.")
                .eq_ignore_ascii_case(name)
        })
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CustomExtension {
    pub id: Uuid,
    pub catalog_id: Uuid,
    pub kind: ExtensionKind,
    pub display_name: String,
    pub description: Option<String>,
    pub endpoint: Map<String, Value>,
    pub authentication: Map<String, Value>,
    pub client: Option<Map<String, Value>>,
    pub callback: Option<Map<String, Value>>,
    pub created: Timestamp,
    pub modified: Timestamp,
}

impl Keyed for CustomExtension {
    fn key(&self) -> Uuid {
        self.id
    }
}

impl CustomExtension {
    /// Key order per the v1.0 list example
    /// (https://learn.microsoft.com/graph/api/accesspackagecatalog-list-accesspackagecustomworkflowextensions?view=graph-rest-1.0).
    pub fn to_json(&self, _version: ApiVersion) -> Value {
        let mut m = Map::new();
        m.insert("@odata.type".into(), json!(self.kind.odata_type()));
        m.insert("id".into(), json!(self.id));
        m.insert("displayName".into(), json!(self.display_name));
        m.insert("description".into(), json!(self.description));
        m.insert("createdDateTime".into(), json!(self.created));
        m.insert("lastModifiedDateTime".into(), json!(self.modified));
        m.insert(
            "clientConfiguration".into(),
            self.client.clone().map_or(Value::Null, Value::Object),
        );
        m.insert(
            "endpointConfiguration".into(),
            Value::Object(self.endpoint.clone()),
        );
        m.insert(
            "authenticationConfiguration".into(),
            Value::Object(self.authentication.clone()),
        );
        if self.kind == ExtensionKind::Request {
            m.insert(
                "callbackConfiguration".into(),
                self.callback.clone().map_or(Value::Null, Value::Object),
            );
        }
        Value::Object(m)
    }
}

/// The stages a policy can attach an extension to
/// (https://learn.microsoft.com/graph/api/resources/customextensionstagesetting?view=graph-rest-1.0).
pub const EXTENSION_STAGES: [&str; 6] = [
    "assignmentRequestCreated",
    "assignmentRequestApproved",
    "assignmentRequestGranted",
    "assignmentRequestRemoved",
    "assignmentFourteenDaysBeforeExpiration",
    "assignmentOneDayBeforeExpiration",
];
