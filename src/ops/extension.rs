//! Custom workflow extensions of a catalog: create, read, replace, delete
//! (https://learn.microsoft.com/graph/api/accesspackagecatalog-post-accesspackagecustomworkflowextensions?view=graph-rest-1.0
//! and the pages it links).
//!
//! Rules: `@odata.type` names the kind; `endpointConfiguration` is a Logic App trigger
//! (`subscriptionId`, `resourceGroupName`, `logicAppWorkflowName`; the service computes its `url`)
//! or an HTTP endpoint (`targetUrl`); `authenticationConfiguration` is Entra token or PoP;
//! `clientConfiguration.timeoutInMilliseconds` 200–2000 (default 1000) and `maximumRetries` 0–1
//! (https://learn.microsoft.com/graph/api/resources/customextensionclientconfiguration?view=graph-rest-1.0);
//! only request extensions take a `callbackConfiguration`. An extension a policy uses
//! cannot be deleted.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{OpCtx, Rows};
use crate::authz::{self, Access, Operation};
use crate::error::GraphError;
use crate::model::extension::{CustomExtension, ExtensionKind};
use crate::store::TenantState;

fn bad(detail: impl Into<String>) -> GraphError {
    GraphError::invalid_model(detail)
}

/// An extension body, already checked for shape.
#[derive(Debug, Clone)]
pub struct ExtensionInput {
    pub kind: Option<ExtensionKind>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub endpoint: Option<Map<String, Value>>,
    pub authentication: Option<Map<String, Value>>,
    pub client: Option<Map<String, Value>>,
    pub callback: Option<Map<String, Value>>,
}

fn typed(m: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<String, GraphError> {
    let t = m.get("@odata.type").and_then(Value::as_str).unwrap_or("");
    let name = t
        .trim_start_matches('#')
        .trim_start_matches("microsoft.graph.");
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(name))
        .map(|a| a.to_string())
        .ok_or_else(|| {
            bad(format!(
                "{what} needs @odata.type one of {}",
                allowed.join(", ")
            ))
        })
}

fn endpoint(mut m: Map<String, Value>, id: Uuid) -> Result<Map<String, Value>, GraphError> {
    let kind = typed(
        &m,
        &[
            "logicAppTriggerEndpointConfiguration",
            "httpRequestEndpoint",
        ],
        "endpointConfiguration",
    )?;
    m.insert(
        "@odata.type".into(),
        json!(format!("#microsoft.graph.{kind}")),
    );
    if kind == "httpRequestEndpoint" {
        let url = m.get("targetUrl").and_then(Value::as_str).unwrap_or("");
        url::Url::parse(url).map_err(|_| bad("httpRequestEndpoint needs an absolute targetUrl"))?;
    } else {
        for key in [
            "subscriptionId",
            "resourceGroupName",
            "logicAppWorkflowName",
        ] {
            if m.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(bad(format!(
                    "logicAppTriggerEndpointConfiguration needs {key}"
                )));
            }
        }
        // The service resolves the Logic App's trigger URL (the v1.0 create example,
        // https://learn.microsoft.com/graph/api/accesspackagecatalog-post-accesspackagecustomworkflowextensions?view=graph-rest-1.0);
        // a stable stand-in.
        let url = format!(
            "https://prod-00.eastus.logic.azure.com:443/workflows/{}/triggers/manual/paths/invoke?api-version=2016-10-01",
            id.simple()
        );
        m.insert("url".into(), json!(url));
    }
    Ok(m)
}

fn client(m: Map<String, Value>) -> Result<Map<String, Value>, GraphError> {
    let timeout = m
        .get("timeoutInMilliseconds")
        .map(|v| {
            v.as_i64()
                .ok_or_else(|| bad("timeoutInMilliseconds must be an integer"))
        })
        .transpose()?
        .unwrap_or(1000);
    let retries = m
        .get("maximumRetries")
        .map(|v| {
            v.as_i64()
                .ok_or_else(|| bad("maximumRetries must be an integer"))
        })
        .transpose()?
        .unwrap_or(0);
    if !(200..=2000).contains(&timeout) {
        return Err(bad(
            "clientConfiguration.timeoutInMilliseconds must be between 200 and 2000",
        ));
    }
    if !(0..=1).contains(&retries) {
        return Err(bad("clientConfiguration.maximumRetries must be 0 or 1"));
    }
    let mut out = Map::new();
    out.insert(
        "@odata.type".into(),
        json!("#microsoft.graph.customExtensionClientConfiguration"),
    );
    out.insert("maximumRetries".into(), json!(retries));
    out.insert("timeoutInMilliseconds".into(), json!(timeout));
    Ok(out)
}

fn build(
    id: Uuid,
    catalog: Uuid,
    input: ExtensionInput,
    ctx: &OpCtx<'_>,
    previous: Option<&CustomExtension>,
) -> Result<CustomExtension, GraphError> {
    let kind = input
        .kind
        .or(previous.map(|p| p.kind))
        .ok_or_else(|| bad("@odata.type is required"))?;
    let display_name = input
        .display_name
        .or_else(|| previous.map(|p| p.display_name.clone()))
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| bad("'displayName' is required"))?;
    let endpoint = match input.endpoint {
        Some(e) => endpoint(e, id)?,
        None => previous
            .map(|p| p.endpoint.clone())
            .ok_or_else(|| bad("'endpointConfiguration' is required"))?,
    };
    let authentication = match input.authentication {
        Some(mut a) => {
            let t = typed(
                &a,
                &[
                    "azureAdTokenAuthentication",
                    "azureAdPopTokenAuthentication",
                ],
                "authenticationConfiguration",
            )?;
            a.insert("@odata.type".into(), json!(format!("#microsoft.graph.{t}")));
            a
        }
        None => previous
            .map(|p| p.authentication.clone())
            .ok_or_else(|| bad("'authenticationConfiguration' is required"))?,
    };
    if input.callback.is_some() && kind != ExtensionKind::Request {
        return Err(bad(
            "only request workflow extensions take a callbackConfiguration",
        ));
    }
    Ok(CustomExtension {
        id,
        catalog_id: catalog,
        kind,
        display_name,
        description: input
            .description
            .or_else(|| previous.and_then(|p| p.description.clone())),
        endpoint,
        authentication,
        client: match input.client {
            Some(c) => Some(client(c)?),
            None => previous.and_then(|p| p.client.clone()),
        },
        callback: input
            .callback
            .or_else(|| previous.and_then(|p| p.callback.clone())),
        created: previous.map_or(ctx.now, |p| p.created),
        modified: ctx.now,
    })
}

pub fn list<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
    legacy: bool,
) -> Result<Rows<'s, CustomExtension>, GraphError> {
    super::catalog::get(state, ctx, catalog)?;
    let catalog = *catalog;
    Ok(Box::new(state.extensions.range_after(None).filter(
        move |(_, x)| x.catalog_id == catalog && (x.kind == ExtensionKind::Legacy) == legacy,
    )))
}

pub fn get<'s>(
    state: &'s TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
    id: &Uuid,
) -> Result<&'s CustomExtension, GraphError> {
    super::catalog::get(state, ctx, catalog)?;
    state
        .extensions
        .get(id)
        .filter(|x| x.catalog_id == *catalog)
        .ok_or(GraphError::ResourceNotFound)
}

fn manage(state: &TenantState, ctx: &OpCtx<'_>, catalog: &Uuid) -> Result<(), GraphError> {
    if !state.catalogs.contains(catalog) {
        return Err(authz::missing(ctx.caller, Access::Write, state));
    }
    authz::authorize(
        ctx.caller,
        Operation::UpdateCatalog { catalog: *catalog },
        state,
    )
    .map(|_| ())
}

pub fn create(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
    input: ExtensionInput,
    legacy: bool,
) -> Result<CustomExtension, GraphError> {
    manage(state, ctx, catalog)?;
    let kind_ok = match input.kind {
        Some(ExtensionKind::Legacy) => legacy,
        Some(_) => !legacy,
        None => false,
    };
    if !kind_ok {
        return Err(bad(if legacy {
            "@odata.type must be #microsoft.graph.customAccessPackageWorkflowExtension here"
        } else {
            "@odata.type must be accessPackageAssignmentRequestWorkflowExtension or accessPackageAssignmentWorkflowExtension"
        }));
    }
    let extension = build(state.next_id(), *catalog, input, ctx, None)?;
    state.extensions.insert(extension.clone());
    Ok(extension)
}

/// PUT or PATCH: 200 with the extension
/// (https://learn.microsoft.com/graph/api/accesspackageassignmentrequestworkflowextension-update?view=graph-rest-1.0).
/// Fields not sent are kept.
pub fn update(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
    id: &Uuid,
    input: ExtensionInput,
) -> Result<CustomExtension, GraphError> {
    manage(state, ctx, catalog)?;
    let current = state
        .extensions
        .get(id)
        .filter(|x| x.catalog_id == *catalog)
        .ok_or(GraphError::ResourceNotFound)?;
    if input.kind.is_some_and(|k| k != current.kind) {
        return Err(bad("an extension's type cannot change"));
    }
    let extension = build(*id, *catalog, input, ctx, Some(current))?;
    state.extensions.insert(extension.clone());
    Ok(extension)
}

pub fn delete(
    state: &mut TenantState,
    ctx: &OpCtx<'_>,
    catalog: &Uuid,
    id: &Uuid,
) -> Result<(), GraphError> {
    manage(state, ctx, catalog)?;
    state
        .extensions
        .get(id)
        .filter(|x| x.catalog_id == *catalog)
        .ok_or(GraphError::ResourceNotFound)?;
    // "must first be removed from any associated policies"
    // (https://learn.microsoft.com/graph/api/accesspackageassignmentrequestworkflowextension-delete?view=graph-rest-1.0)
    // [inf code].
    if state
        .policies
        .iter()
        .any(|p| p.extension_stages.iter().any(|(_, x)| x == id))
    {
        return Err(bad(
            "the custom extension is used by an assignment policy; remove it from the policy first",
        ));
    }
    state.extensions.remove(id);
    Ok(())
}
