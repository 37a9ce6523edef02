//! Thin handlers: read the version's body shape into a domain input, call `ops`, render the
//! version's wire shape through the query engine. One `match` is the method table of every
//! routed target.

use std::sync::Arc;

use axum::http::{HeaderMap, Method, StatusCode};
use uuid::Uuid;

use super::body::{BodyReader, json_object};
use super::envelope::{Reply, RequestCtx};
use super::route::Target;
use crate::auth::Caller;
use crate::authz::{self, Access};
use crate::error::GraphError;
use crate::model::ApiVersion;
use crate::model::em::WireEnum;
use crate::model::em::{CatalogState, CatalogType};
use crate::model::org::{ExternalUserLifecycleAction, OrgState};
use crate::model::resources::{OriginSystem, ResourceRequestType};
use crate::odata::page::{self, Resource};
use crate::odata::{EvalCx, Query};
use crate::ops::access_package::Incompatible;
use crate::ops::access_package::{AccessPackagePatch, NewAccessPackage};
use crate::ops::catalog::{CatalogPatch, NewCatalog};
use crate::ops::org::{NewOrganization, OrganizationPatch};
use crate::ops::resource::{NewResourceRequest, ResourceRef, RoleScopeInput};
use crate::ops::role::NewRoleAssignment;
use crate::ops::{self, OpCtx, Patch, Rows};
use crate::store::{Tenant, TenantState};

/// One Graph call after routing and authentication.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub ctx: &'a RequestCtx,
    pub version: ApiVersion,
    pub caller: &'a Caller,
    pub tenant: Arc<Tenant>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The request path as sent, for `@odata.nextLink`.
    pub path: &'a str,
    pub raw_query: Option<&'a str>,
    pub query: Query,
}

impl Call<'_> {
    fn op(&self) -> OpCtx<'_> {
        OpCtx {
            caller: self.caller,
            now: self.ctx.now,
        }
    }

    fn cx<'s>(&self, state: &'s TenantState) -> EvalCx<'s> {
        EvalCx {
            state,
            version: self.version,
        }
    }

    fn reader(&self, allowed: &[&str]) -> Result<BodyReader, GraphError> {
        BodyReader::new(json_object(self.headers, self.body)?, self.version, allowed)
    }

    /// `…#entitySet` or, with `$select`, `…#entitySet(a,b)` (OData 4.0 context rules).
    /// Built by appending to one string: every entity read names its context, and `format!`
    /// here was ~6 % of a `$batch` of GETs.
    fn context<T: Resource>(&self, target: &Target, cx: &EvalCx<'_>, entity: bool) -> String {
        let mut url = self
            .ctx
            .context_url(self.version, &target.entity_set(self.version));
        if let Some(names) = page::selected_names::<T>(&self.query, cx) {
            url.push('(');
            url.push_str(&names.join(","));
            url.push(')');
        }
        if entity {
            url.push_str("/$entity");
        }
        url
    }

    fn entity_context(&self, target: &Target) -> String {
        let mut url = self
            .ctx
            .context_url(self.version, &target.entity_set(self.version));
        url.push_str("/$entity");
        url
    }

    /// Where a created entity lives, in the backend's OData key form (`…/accessPackages('{id}')`).
    fn location(&self, target: &Target, id: Uuid) -> String {
        let mut url = self
            .ctx
            .absolute(self.version, &target.entity_set(self.version));
        url.push_str("('");
        url.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
        url.push_str("')");
        url
    }

    /// The same request with a `$skiptoken`: the client's own options, verbatim.
    fn next_link(&self, token: &str) -> String {
        let sep = if self.query.carry.is_empty() { "" } else { "&" };
        format!(
            "{}{}?{}{sep}$skiptoken={token}",
            self.ctx.called_base(),
            self.path,
            self.query.carry
        )
    }

    /// A collection through the query engine.
    fn listing<'s, T: Resource + 's>(
        &self,
        target: &Target,
        state: &'s TenantState,
        rows: Rows<'s, T>,
    ) -> Result<Reply, GraphError> {
        let cx = self.cx(state);
        page::validate::<T>(&self.query, &cx)?;
        let page = page::page(rows, &self.query, &cx, state.page_size)?;
        Ok(Reply::Collection {
            context: self.context::<T>(target, &cx, false),
            count: page.count,
            next_link: page.skiptoken.map(|t| self.next_link(&t)),
            items: page.items,
        })
    }

    /// `/$count` of a collection: the number of rows that pass `$filter`.
    fn count<'s, T: Resource + 's>(
        &self,
        state: &'s TenantState,
        rows: Rows<'s, T>,
    ) -> Result<Reply, GraphError> {
        let cx = self.cx(state);
        page::validate::<T>(&self.query, &cx)?;
        let n = match &self.query.filter {
            Some(f) => rows
                .filter(|(_, e)| crate::odata::eval::matches(f, *e, &cx))
                .count(),
            None => rows.count(),
        };
        Ok(Reply::Text(n.to_string()))
    }

    /// One entity with `$select`/`$expand` applied.
    fn single<T: Resource>(
        &self,
        target: &Target,
        state: &TenantState,
        entity: &T,
    ) -> Result<Reply, GraphError> {
        let cx = self.cx(state);
        page::validate::<T>(&self.query, &cx)?;
        if let Some(entity) = page::cached_entity(entity, &self.query, &cx) {
            return Ok(Reply::CachedEntity {
                context: self.context::<T>(target, &cx, true),
                entity,
            });
        }
        let body = page::shape(
            entity,
            self.query.select.as_deref(),
            &self.query.expand,
            &cx,
        );
        Ok(Reply::ok(self.context::<T>(target, &cx, true), body))
    }
}

/// For the functions that take no OData beyond `$top` and one documented `$expand`
/// (https://learn.microsoft.com/graph/api/accesspackagesuggestions-filterbycurrentuser?view=graph-rest-1.0):
/// whether that expansion was asked for; anything else is refused rather than ignored.
fn simple_expand(query: &Query, allowed: &str) -> Result<bool, GraphError> {
    let others = query.filter.is_some()
        || query.select.is_some()
        || !query.orderby.is_empty()
        || query.skip.is_some()
        || query.count
        || query.skiptoken.is_some();
    if others {
        return Err(GraphError::BadQuery(
            "only $top and $expand are supported on this function".into(),
        ));
    }
    let mut wanted = false;
    for e in &query.expand {
        if allowed.is_empty() || !e.name.eq_ignore_ascii_case(allowed) {
            return Err(GraphError::BadQuery(format!(
                "Could not find a property named '{}' to expand",
                e.name
            )));
        }
        wanted = true;
    }
    Ok(wanted)
}

/// `appRoleAssignment`s for the app roles delivered access gives, filtered by user or by
/// service principal. Graph's ids are 43-character base64url keys that start with the
/// principal's id; these are that shape, stable for the same user, app role and service
/// principal [inf].
fn app_role_listing(
    call: &Call<'_>,
    target: &Target,
    state: &crate::store::TenantState,
    user: Option<&Uuid>,
    service_principal: Option<&Uuid>,
) -> Result<Reply, GraphError> {
    simple_expand(&call.query, "")?;
    let mut seen = std::collections::HashSet::new();
    let items = ops::lifecycle::held_roles(state, user)
        .into_iter()
        .filter(|h| {
            h.resource.origin_system == crate::model::resources::OriginSystem::AadApplication
        })
        .filter_map(|h| {
            let sp = Uuid::parse_str(&h.resource.origin_id).ok()?;
            if service_principal.is_some_and(|want| *want != sp) {
                return None;
            }
            let principal = h.assignment.target;
            let grant = Uuid::new_v5(&sp, format!("{principal}:{}", h.role.origin_id).as_bytes());
            if !seen.insert(grant) {
                return None;
            }
            let mut key = principal.as_bytes().to_vec();
            key.extend_from_slice(grant.as_bytes());
            let id = {
                use base64::Engine as _;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
            };
            let who = state.directory.users.get(&principal);
            Some(serde_json::json!({
                "id": id,
                "deletedDateTime": null,
                "appRoleId": h.role.origin_id,
                "createdDateTime": h.assignment.created,
                "principalDisplayName": who.map(|u| u.display_name.clone()),
                "principalId": principal,
                "principalType": "User",
                "resourceDisplayName": h.resource.display_name,
                "resourceId": sp,
            }))
        })
        .take(call.query.top.unwrap_or(usize::MAX))
        .collect();
    Ok(Reply::Collection {
        context: call
            .ctx
            .context_url(call.version, &target.entity_set(call.version)),
        count: None,
        next_link: None,
        items: crate::odata::page::PageItems::Values(items),
    })
}

fn method_not_allowed(method: &Method) -> GraphError {
    GraphError::MethodNotAllowed(method.as_str().to_string())
}

pub(crate) fn dispatch(
    call: &mut Call<'_>,
    method: &Method,
    target: Target,
) -> Result<Reply, GraphError> {
    if let Target::Unrouted(url) = &target {
        return Err(GraphError::NoHttpResource(url.clone()));
    }
    // The directory surface: any token valid for the tenant may read it (issue decision), so
    // an end user's `EntitlementMgmt-SubjectAccess.ReadWrite` token can watch its own groups.
    let directory = matches!(
        target,
        Target::DirectoryUser(_)
            | Target::DirectoryGroup(_)
            | Target::GroupMembers(_)
            | Target::GroupOwners(_)
            | Target::UserAppRoles(_)
            | Target::AppRoleAssignedTo(_)
    );
    let access = match (&target, method.clone()) {
        (Target::Requests | Target::RequestCancel(_), Method::POST) => Access::Subject,
        (
            Target::MyRequests(_)
            | Target::MyAssignments(_)
            | Target::MyPackages(_)
            | Target::PolicyRequirements(_),
            _,
        ) => Access::Subject,
        (
            Target::Suggestions(_)
            | Target::AvailablePackages
            | Target::AvailablePackage(_)
            | Target::AvailableRoleScopes(_),
            Method::GET,
        ) => Access::Subject,
        (_, Method::GET) => Access::Read,
        _ => Access::Write,
    };
    if !directory {
        authz::precheck(call.caller, access)?;
    }
    call.query = Query::parse(call.raw_query)?;
    let call = &*call;
    let op = call.op();
    let t = &target;
    match (t, method.clone()) {
        (Target::Catalogs, Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::catalog::list(s, &op)?)),
        (Target::Catalogs, Method::POST) => create_catalog(call, t),
        (Target::Catalog(id), Method::GET) => call
            .tenant
            .read(|s| call.single(t, s, ops::catalog::get(s, &op, id)?)),
        (Target::Catalog(id), Method::PATCH) => update_catalog(call, *id),
        (Target::Catalog(id), Method::DELETE) => delete_catalog(call, *id),
        (Target::CatalogAccessPackages(id), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::catalog::list_packages(s, &op, id)?)),
        (Target::CatalogAccessPackage(c, p), Method::GET) => call.tenant.read(|s| {
            // Reading the catalog authorizes the read; a package of another catalog is simply
            // not in this one (and must not reveal that it exists elsewhere).
            ops::catalog::get(s, &op, c)?;
            match s.access_package(p) {
                Some(package) if package.catalog_id == *c => call.single(t, s, package),
                _ => Err(GraphError::ResourceNotFound),
            }
        }),
        (Target::AccessPackages, Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::access_package::list(s, &op)?)),
        (Target::AccessPackages, Method::POST) => create_package(call, t),
        (Target::AccessPackage(id), Method::GET) => call
            .tenant
            .read(|s| call.single(t, s, ops::access_package::get(s, &op, id)?)),
        (Target::AccessPackage(id), Method::PATCH) => update_package(call, *id),
        (Target::AccessPackage(id), Method::DELETE) => delete_package(call, *id),
        (Target::MoveToCatalog(id), Method::POST) => move_package(call, *id),
        (Target::RoleDefinitions, Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::role::list_definitions(s, &op)?)),
        (Target::RoleDefinition(id), Method::GET) => call
            .tenant
            .read(|s| call.single(t, s, ops::role::get_definition(s, &op, id)?)),
        (Target::RoleAssignments, Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::role::list_assignments(s, &op)?)),
        (Target::RoleAssignments, Method::POST) => create_role_assignment(call, t),
        (Target::RoleAssignment(id), Method::GET) => call
            .tenant
            .read(|s| call.single(t, s, ops::role::get_assignment(s, &op, id)?)),
        (Target::RoleAssignment(id), Method::DELETE) => delete_role_assignment(call, *id),
        (Target::ResourceRequests, Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::resource::list_requests(s, &op)?)),
        (Target::ResourceRequests, Method::POST) => create_resource_request(call, t),
        (Target::ResourceRequest(id), Method::GET) => call
            .tenant
            .read(|s| call.single(t, s, ops::resource::get_request(s, &op, id)?)),
        (Target::CatalogResources(c), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::resource::list_resources(s, &op, c)?)),
        (Target::CatalogResource(c, r), Method::GET) => call
            .tenant
            .read(|s| call.single(t, s, ops::resource::get_resource(s, &op, c, r)?)),
        (Target::CatalogResourceRoles(c, r), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::resource::roles_of_resource(s, &op, c, r)?)),
        (Target::CatalogResourceScopes(c, r), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::resource::scopes_of_resource(s, &op, c, r)?)),
        (Target::CatalogRoles(c), Method::GET) => {
            require_origin_system(&call.query)?;
            call.tenant
                .read(|s| call.listing(t, s, ops::resource::list_roles(s, &op, c)?))
        }
        (Target::CatalogScopes(c), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::resource::list_scopes(s, &op, c)?)),
        (Target::RoleScopes(p), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::resource::list_role_scopes(s, &op, p)?)),
        (Target::RoleScopes(p), Method::POST) => create_role_scope(call, t, *p),
        (Target::RoleScope(p, id), Method::GET) => call.tenant.read(|s| {
            let mut rows = ops::resource::list_role_scopes(s, &op, p)?;
            match rows.find(|(_, rs)| rs.id().eq_ignore_ascii_case(id)) {
                Some((_, rs)) => call.single(t, s, rs),
                None => Err(GraphError::ResourceNotFound),
            }
        }),
        (Target::RoleScope(p, id), Method::DELETE) => {
            call.tenant
                .write(|s| ops::resource::remove_role_scope(s, &op, p, id))?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (Target::Policies, Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::policy::list(s, &op)?)),
        (Target::Policies, Method::POST) => write_policy(call, t, None),
        (Target::Policy(id), Method::GET) => call
            .tenant
            .read(|s| call.single(t, s, ops::policy::get(s, &op, id)?)),
        (Target::Policy(id), Method::PUT) => write_policy(call, t, Some(*id)),
        (Target::Policy(id), Method::DELETE) => {
            call.tenant.write(|s| ops::policy::delete(s, &op, id))?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (Target::Incompatible(p, which), Method::GET) => call.tenant.read(|s| match which {
            Incompatible::Packages => {
                call.listing(t, s, ops::access_package::incompatible_packages(s, &op, p)?)
            }
            Incompatible::Groups => {
                call.listing(t, s, ops::access_package::incompatible_groups(s, &op, p)?)
            }
        }),
        (Target::IncompatibleWith(p), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::access_package::incompatible_with(s, &op, p)?)),
        (Target::IncompatibleRef(p, which, None), Method::POST) => {
            let other = ref_target(call)?;
            call.tenant
                .write(|s| ops::access_package::add_incompatible(s, &op, p, *which, other))?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (Target::IncompatibleRef(p, which, Some(other)), Method::DELETE) => {
            call.tenant
                .write(|s| ops::access_package::remove_incompatible(s, &op, p, *which, other))?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (Target::Organizations, Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::org::list(s, &op)?)),
        (Target::Organizations, Method::POST) => create_organization(call, t),
        (Target::Organization(id), Method::GET) => call
            .tenant
            .read(|s| call.single(t, s, ops::org::get(s, &op, id)?)),
        (Target::Organization(id), Method::PATCH) => update_organization(call, t, *id),
        (Target::Organization(id), Method::DELETE) => {
            call.tenant.write(|s| ops::org::delete(s, &op, id))?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (Target::Sponsors(id, which), Method::GET) => call.tenant.read(|s| {
            let items = ops::org::sponsors(s, &op, id, *which)?
                .iter()
                .map(|sp| ops::org::directory_object(s, sp))
                .collect();
            Ok(Reply::Collection {
                context: call.ctx.context_url(call.version, "directoryObjects"),
                count: None,
                next_link: None,
                items: crate::odata::page::PageItems::Values(items),
            })
        }),
        (Target::SponsorRef(id, which, None), Method::POST) => {
            let sponsor = ref_target(call)?;
            call.tenant
                .write(|s| ops::org::add_sponsor(s, &op, id, *which, sponsor))?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (Target::SponsorRef(id, which, Some(sponsor)), Method::DELETE) => {
            call.tenant
                .write(|s| ops::org::remove_sponsor(s, &op, id, *which, sponsor))?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (Target::Settings, Method::GET) => {
            // "settings supports no query options"
            // (https://learn.microsoft.com/graph/api/entitlementmanagementsettings-get?view=graph-rest-1.0).
            if let Some((name, _)) = call
                .raw_query
                .and_then(|q| q.split('&').next())
                .and_then(|p| p.split_once('='))
            {
                if name.starts_with('$') || name.starts_with("%24") {
                    return Err(GraphError::QueryOptionNotAllowed(
                        name.trim_start_matches('$')
                            .trim_start_matches("%24")
                            .to_string(),
                    ));
                }
            }
            let v = call.version;
            let body = call
                .tenant
                .read(|s| ops::org::settings(s, &op).map(|x| x.to_json(v)))?;
            Ok(Reply::ok(
                call.entity_context(t).replace("/$entity", ""),
                body,
            ))
        }
        (Target::Settings, Method::PATCH) => update_settings(call),
        (Target::Requests, Method::GET) => call.tenant.read(|s| {
            let rows = ops::lifecycle::list_requests(s, &op, filters_by_package(&call.query))?;
            call.listing(t, s, rows)
        }),
        (Target::Requests, Method::POST) => create_request(call, t),
        (Target::Request(id), Method::GET) => {
            ops::lifecycle::count_read(&call.tenant, &op, id);
            call.tenant
                .read(|s| call.single(t, s, ops::lifecycle::get_request(s, &op, id)?))
        }
        (Target::Request(id), Method::DELETE) => {
            call.tenant
                .write(|s| ops::lifecycle::delete_request(s, &op, id))?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (Target::RequestCancel(id), Method::POST) => {
            call.tenant.write(|s| ops::lifecycle::cancel(s, &op, id))?;
            // The page prints "200 Status OK" with no body
            // (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-cancel?view=graph-rest-1.0).
            Ok(Reply::Empty(StatusCode::OK))
        }
        (Target::MyRequests(on), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::lifecycle::my_requests(s, &op, on)?)),
        (Target::Assignments, Method::GET) => call.tenant.read(|s| {
            let rows = ops::lifecycle::list_assignments(s, &op, filters_by_package(&call.query))?;
            call.listing(t, s, rows)
        }),
        (Target::Assignment(id), Method::GET) => call
            .tenant
            .read(|s| call.single(t, s, ops::lifecycle::get_assignment(s, &op, id)?)),
        (Target::Subject(id), Method::GET) => call.tenant.read(|s| {
            let (u, lifecycle) = ops::lifecycle::subject(s, &op, id, Access::Read)?;
            let body = match call.version {
                ApiVersion::V1 => serde_json::json!({
                    "id": crate::model::lifecycle::subject_id(u.id), "objectId": u.id,
                    "displayName": u.display_name, "principalName": u.user_principal_name,
                    "email": u.mail, "onPremisesSecurityIdentifier": null,
                    "subjectType": "user", "subjectLifecycle": lifecycle,
                }),
                ApiVersion::Beta => serde_json::json!({
                    "id": crate::model::lifecycle::subject_id(u.id), "objectId": u.id,
                    "displayName": u.display_name, "principalName": u.user_principal_name,
                    "email": u.mail, "onPremisesSecurityIdentifier": null, "type": "User",
                    "altSecId": null, "connectedOrganizationId": null, "subjectLifecycle": lifecycle,
                }),
            };
            Ok(Reply::ok(call.entity_context(t), body))
        }),
        (Target::Subject(id), Method::PATCH) => {
            let r = call.reader(&["subjectLifecycle"])?;
            let value = r
                .opt_string("subjectLifecycle")?
                .ok_or_else(|| GraphError::invalid_model("'subjectLifecycle' is required"))?;
            call.tenant
                .write(|s| ops::lifecycle::set_subject_lifecycle(s, &op, id, &value))?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (Target::RequestResume(id), Method::POST) => {
            // `{source, type, data: {stage, customExtensionStageInstanceId, …, state?}}`
            // (https://learn.microsoft.com/graph/api/accesspackageassignmentrequest-resume?view=graph-rest-1.0).
            let r = call.reader(&["source", "type", "data"])?;
            let data = match r.get("data") {
                Some(serde_json::Value::Object(d)) => d.clone(),
                _ => return Err(GraphError::invalid_model("'data' is required")),
            };
            let instance = guid_of(&data, "customExtensionStageInstanceId")?;
            let deny = match data.get("state") {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("denied"),
                Some(_) => return Err(GraphError::invalid_model("'data.state' must be a string")),
            };
            call.tenant
                .write(|s| ops::lifecycle::resume(s, &op, id, instance, deny))?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (Target::RequestReprocess(id), Method::POST) => {
            call.tenant
                .write(|s| ops::lifecycle::reprocess_request(s, &op, id))?;
            Ok(Reply::Empty(StatusCode::ACCEPTED))
        }
        (Target::AssignmentReprocess(id), Method::POST) => {
            call.tenant
                .read(|s| ops::lifecycle::reprocess_assignment(s, &op, id))?;
            Ok(Reply::Empty(StatusCode::ACCEPTED))
        }
        (Target::AdditionalAccess(p, i), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::lifecycle::additional_access(s, &op, *p, *i)?)),
        (Target::MyPackages(on), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::lifecycle::requestable_packages(s, &op, on)?)),
        (Target::PolicyRequirements(id), Method::POST) => call.tenant.read(|s| {
            let policies = ops::lifecycle::applicable_policies(s, &op, id)?;
            let items = policies
                .iter()
                .map(|p| policy_requirements_json(call.version, p))
                .collect();
            Ok(Reply::Collection {
                context: call.ctx.context_url(
                    call.version,
                    "Collection(microsoft.graph.accessPackageAssignmentRequestRequirements)",
                ),
                count: None,
                next_link: None,
                items: crate::odata::page::PageItems::Values(items),
            })
        }),
        (Target::MyAssignments(on), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::lifecycle::my_assignments(s, &op, on)?)),
        (Target::Approval(id), Method::GET) => call.tenant.read(|s| {
            let r = ops::lifecycle::approval(s, &op, id)?;
            Ok(Reply::ok(call.entity_context(t), approval_json(call, s, r)))
        }),
        (Target::ApprovalStages(id), Method::GET) => call.tenant.read(|s| {
            let r = ops::lifecycle::approval(s, &op, id)?;
            let items = r.stages.iter().map(|st| stage_json(call, s, st)).collect();
            Ok(Reply::Collection {
                context: call
                    .ctx
                    .context_url(call.version, &t.entity_set(call.version)),
                count: None,
                next_link: None,
                items: crate::odata::page::PageItems::Values(items),
            })
        }),
        (Target::ApprovalStage(id, sid), Method::GET) => call.tenant.read(|s| {
            let r = ops::lifecycle::approval(s, &op, id)?;
            let st = r
                .stages
                .iter()
                .find(|x| x.id == *sid)
                .ok_or(GraphError::ResourceNotFound)?;
            Ok(Reply::ok(call.entity_context(t), stage_json(call, s, st)))
        }),
        (Target::ApprovalStage(id, sid), Method::PATCH) => decide(call, *id, *sid),
        (Target::Suggestions(on), Method::GET) => call.tenant.read(|s| {
            let expand = simple_expand(&call.query, "accessPackage")?;
            let items = ops::my_access::suggestions(s, &op, on)?
                .iter()
                .take(call.query.top.unwrap_or(usize::MAX))
                .map(|x| x.to_json(expand))
                .collect();
            Ok(Reply::Collection {
                context: call
                    .ctx
                    .context_url(call.version, &t.entity_set(call.version)),
                count: None,
                next_link: None,
                items: crate::odata::page::PageItems::Values(items),
            })
        }),
        (Target::AvailablePackages, Method::GET) => call.tenant.read(|s| {
            simple_expand(&call.query, "")?;
            let items = ops::my_access::available_packages(s, &op)?
                .into_iter()
                .take(call.query.top.unwrap_or(usize::MAX))
                .map(ops::my_access::available_json)
                .collect();
            Ok(Reply::Collection {
                context: call
                    .ctx
                    .context_url(call.version, &t.entity_set(call.version)),
                count: None,
                next_link: None,
                items: crate::odata::page::PageItems::Values(items),
            })
        }),
        (Target::AvailablePackage(id), Method::GET) => call.tenant.read(|s| {
            simple_expand(&call.query, "")?;
            let p = ops::my_access::available_package(s, &op, id)?;
            Ok(Reply::ok(
                call.entity_context(t),
                ops::my_access::available_json(p),
            ))
        }),
        (Target::AvailableRoleScopes(id), Method::GET) => call.tenant.read(|s| {
            call.listing(t, s, ops::my_access::available_role_scopes(s, &op, id)?)
        }),
        (Target::AssignmentResourceRoles, Method::GET) => call.tenant.read(|s| {
            let rows = ops::lifecycle::assignment_resource_roles(s, &op)?;
            call.listing(
                t,
                s,
                Box::new(rows.iter().enumerate().map(|(i, r)| (i as u64, r))),
            )
        }),
        (Target::AssignmentResourceRole(id), Method::GET) => call.tenant.read(|s| {
            let rows = ops::lifecycle::assignment_resource_roles(s, &op)?;
            let found = rows
                .iter()
                .find(|r| r.id == *id)
                .ok_or(GraphError::ResourceNotFound)?;
            call.single(t, s, found)
        }),
        (Target::Approvals, Method::GET) => call.tenant.read(|s| {
            let items = ops::lifecycle::list_approvals(s, &op)?
                .map(|r| approval_json(call, s, r))
                .collect();
            Ok(Reply::Collection {
                context: call
                    .ctx
                    .context_url(call.version, &t.entity_set(call.version)),
                count: None,
                next_link: None,
                items: crate::odata::page::PageItems::Values(items),
            })
        }),
        (Target::MyApprovals, Method::GET) => call.tenant.read(|s| {
            let rows = ops::lifecycle::my_requests(s, &op, "approver")?;
            let items = rows.map(|(_, r)| approval_json(call, s, r)).collect();
            Ok(Reply::Collection {
                context: call
                    .ctx
                    .context_url(call.version, &t.entity_set(call.version)),
                count: None,
                next_link: None,
                items: crate::odata::page::PageItems::Values(items),
            })
        }),
        (Target::UserAppRoles(id), Method::GET) => call.tenant.read(|s| {
            if !s.directory.users.contains(id) {
                return Err(GraphError::DirectoryNotFound(*id));
            }
            app_role_listing(call, t, s, Some(id), None)
        }),
        (Target::AppRoleAssignedTo(id), Method::GET) => call.tenant.read(|s| {
            if s.directory.service_principals.get(id).is_none() {
                return Err(GraphError::DirectoryNotFound(*id));
            }
            app_role_listing(call, t, s, None, Some(id))
        }),
        (Target::DirectoryUser(id), Method::GET) => call.tenant.read(|s| {
            let u = s
                .directory
                .users
                .get(id)
                .ok_or(GraphError::DirectoryNotFound(*id))?;
            Ok(Reply::ok(
                call.ctx.context_url(call.version, "users/$entity"),
                user_json(u),
            ))
        }),
        (Target::DirectoryGroup(id), Method::GET) => call.tenant.read(|s| {
            let g = s
                .directory
                .groups
                .get(id)
                .ok_or(GraphError::DirectoryNotFound(*id))?;
            let cx = call.cx(s);
            Ok(Reply::ok(
                call.ctx.context_url(call.version, "groups/$entity"),
                g.render(&cx),
            ))
        }),
        (Target::GroupMembers(id) | Target::GroupOwners(id), Method::GET) => {
            call.tenant.read(|s| {
                let g = s
                    .directory
                    .groups
                    .get(id)
                    .ok_or(GraphError::DirectoryNotFound(*id))?;
                let owners = matches!(t, Target::GroupOwners(_));
                let (base, prefix) = if owners {
                    (&g.owners, "Owner_")
                } else {
                    (&g.members, "Member_")
                };
                let mut ids: Vec<Uuid> = base.clone();
                for u in ops::lifecycle::granted(s, id, prefix) {
                    if !ids.contains(&u) {
                        ids.push(u);
                    }
                }
                let items = ids
                    .iter()
                    .map(|u| ops::org::directory_object(s, u))
                    .collect();
                Ok(Reply::Collection {
                    context: call.ctx.context_url(call.version, "directoryObjects"),
                    count: None,
                    next_link: None,
                    items: crate::odata::page::PageItems::Values(items),
                })
            })
        }
        (Target::AllResources, Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::resource::list_all_resources(s, &op)?)),
        (Target::AnyResource(id), Method::GET) => call
            .tenant
            .read(|s| call.single(t, s, ops::resource::get_any_resource(s, &op, id)?)),
        (Target::AnyResourceRoles(id), Method::GET) => call.tenant.read(|s| {
            let r = ops::resource::get_any_resource(s, &op, id)?;
            call.listing(
                t,
                s,
                ops::resource::roles_of_resource(s, &op, &r.catalog_id, id)?,
            )
        }),
        (Target::AnyResourceScopes(id), Method::GET) => call.tenant.read(|s| {
            let r = ops::resource::get_any_resource(s, &op, id)?;
            call.listing(
                t,
                s,
                ops::resource::scopes_of_resource(s, &op, &r.catalog_id, id)?,
            )
        }),
        (Target::Environments, Method::GET) => {
            require_origin_system(&call.query)?;
            call.tenant
                .read(|s| call.listing(t, s, ops::resource::environments(s, &op)?))
        }
        (Target::Extensions(c, legacy), Method::GET) => call
            .tenant
            .read(|s| call.listing(t, s, ops::extension::list(s, &op, c, *legacy)?)),
        (Target::Extensions(c, legacy), Method::POST) => {
            write_extension(call, t, *c, *legacy, None)
        }
        (Target::Extension(c, _, x), Method::GET) => call
            .tenant
            .read(|s| call.single(t, s, ops::extension::get(s, &op, c, x)?)),
        (Target::Extension(c, legacy, x), Method::PUT | Method::PATCH) => {
            write_extension(call, t, *c, *legacy, Some(*x))
        }
        (Target::Extension(c, _, x), Method::DELETE) => {
            call.tenant
                .write(|s| ops::extension::delete(s, &op, c, x))?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (Target::Count(inner), Method::GET) => call.tenant.read(|s| match &**inner {
            Target::Policies => call.count(s, ops::policy::list(s, &op)?),
            Target::Organizations => call.count(s, ops::org::list(s, &op)?),
            Target::Incompatible(p, Incompatible::Packages) => {
                call.count(s, ops::access_package::incompatible_packages(s, &op, p)?)
            }
            Target::Incompatible(p, Incompatible::Groups) => {
                call.count(s, ops::access_package::incompatible_groups(s, &op, p)?)
            }
            Target::ResourceRequests => call.count(s, ops::resource::list_requests(s, &op)?),
            Target::CatalogResources(c) => call.count(s, ops::resource::list_resources(s, &op, c)?),
            Target::CatalogRoles(c) => call.count(s, ops::resource::list_roles(s, &op, c)?),
            Target::CatalogScopes(c) => call.count(s, ops::resource::list_scopes(s, &op, c)?),
            Target::RoleScopes(p) => call.count(s, ops::resource::list_role_scopes(s, &op, p)?),
            Target::Catalogs => call.count(s, ops::catalog::list(s, &op)?),
            Target::CatalogAccessPackages(id) => {
                call.count(s, ops::catalog::list_packages(s, &op, id)?)
            }
            Target::AccessPackages => call.count(s, ops::access_package::list(s, &op)?),
            Target::RoleDefinitions => call.count(s, ops::role::list_definitions(s, &op)?),
            Target::RoleAssignments => call.count(s, ops::role::list_assignments(s, &op)?),
            _ => Err(GraphError::SegmentNotFound("$count".into())),
        }),
        (_, m) => Err(method_not_allowed(&m)),
    }
}

// ---- catalogs ----

fn catalog_state_key(v: ApiVersion) -> &'static str {
    v.pick("state", "catalogStatus")
}

const CATALOG_FIELDS_V1: [&str; 5] = [
    "displayName",
    "description",
    "state",
    "isExternallyVisible",
    "catalogType",
];
const CATALOG_FIELDS_BETA: [&str; 5] = [
    "displayName",
    "description",
    "catalogStatus",
    "isExternallyVisible",
    "catalogType",
];

fn catalog_fields(v: ApiVersion) -> &'static [&'static str] {
    v.pick(&CATALOG_FIELDS_V1, &CATALOG_FIELDS_BETA)
}

fn create_catalog(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let v = call.version;
    let r = call.reader(catalog_fields(v))?;
    let new = NewCatalog {
        display_name: r.required_name("displayName")?,
        description: r.opt_string("description")?,
        state: r.opt_enum(catalog_state_key(v), CatalogState::parse_any_case)?,
        is_externally_visible: r.opt_bool("isExternallyVisible")?,
        catalog_type: r.opt_enum("catalogType", CatalogType::parse_any_case)?,
    };
    let catalog = call
        .tenant
        .write(|s| ops::catalog::create(s, &call.op(), new))?;
    Ok(Reply::created(
        call.entity_context(target),
        catalog.to_json(v),
        call.location(target, catalog.id),
    ))
}

fn update_catalog(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    let v = call.version;
    let r = call.reader(catalog_fields(v))?;
    let patch = CatalogPatch {
        display_name: r.patch_name("displayName")?,
        description: r.patch_nullable_string("description")?,
        state: r
            .opt_enum(catalog_state_key(v), CatalogState::parse_any_case)?
            .map_or(Patch::Keep, Patch::Set),
        is_externally_visible: r.patch_bool("isExternallyVisible")?,
        catalog_type: r
            .opt_enum("catalogType", CatalogType::parse_any_case)?
            .map_or(Patch::Keep, Patch::Set),
    };
    call.tenant
        .write(|s| ops::catalog::update(s, &call.op(), &id, patch))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

fn delete_catalog(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    call.tenant
        .write(|s| ops::catalog::delete(s, &call.op(), &id))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

// ---- access packages ----

/// What a create or PATCH body may hold (the catalog may be named on PATCH but not changed).
const PACKAGE_FIELDS_V1: [&str; 4] = ["displayName", "description", "isHidden", "catalog"];
const PACKAGE_FIELDS_BETA: [&str; 6] = [
    "displayName",
    "description",
    "isHidden",
    "isRoleScopesVisible",
    "catalogId",
    "accessPackageCatalog",
];

/// The catalog a body names: v1.0 `catalog: {id}`; beta `catalogId` or (Terraform)
/// `accessPackageCatalog: {id}`. A non-GUID id names no catalog.
fn body_catalog(r: &BodyReader, v: ApiVersion) -> Result<Option<Result<Uuid, String>>, GraphError> {
    match v {
        ApiVersion::V1 => r.nested_id("catalog"),
        ApiVersion::Beta => {
            let flat = r.opt_guid("catalogId")?;
            let nested = r.nested_id("accessPackageCatalog")?;
            match (flat, nested) {
                (Some(a), Some(b)) if a != b => Err(GraphError::invalid_model(
                    "catalogId and accessPackageCatalog.id name different catalogs",
                )),
                (Some(a), _) => Ok(Some(a)),
                (None, b) => Ok(b),
            }
        }
    }
}

/// A catalog id that parses nowhere stands for a catalog that does not exist.
const NO_SUCH_CATALOG: Uuid = Uuid::nil();

fn create_package(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let v = call.version;
    let allowed: &[&str] = v.pick(&PACKAGE_FIELDS_V1, &PACKAGE_FIELDS_BETA);
    let r = call.reader(allowed)?;
    let catalog = body_catalog(&r, v)?.ok_or_else(|| {
        GraphError::invalid_model(v.pick(
            "'catalog' ({\"id\": …}) is required",
            "'catalogId' is required",
        ))
    })?;
    let new = NewAccessPackage {
        catalog_id: catalog.unwrap_or(NO_SUCH_CATALOG),
        display_name: r.required_name("displayName")?,
        description: r.opt_string("description")?,
        is_hidden: r.opt_bool("isHidden")?,
        is_role_scopes_visible: v.pick(None, r.opt_bool("isRoleScopesVisible")?),
    };
    let package = call
        .tenant
        .write(|s| ops::access_package::create(s, &call.op(), new))?;
    Ok(Reply::created(
        call.entity_context(target),
        package.to_json(v),
        call.location(target, package.id),
    ))
}

fn update_package(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    let v = call.version;
    let allowed: &[&str] = v.pick(&PACKAGE_FIELDS_V1, &PACKAGE_FIELDS_BETA);
    let r = call.reader(allowed)?;
    let patch = AccessPackagePatch {
        display_name: r.patch_name("displayName")?,
        description: r.patch_nullable_string("description")?,
        is_hidden: r.patch_bool("isHidden")?,
        is_role_scopes_visible: v.pick(Patch::Keep, r.patch_bool("isRoleScopesVisible")?),
        catalog: body_catalog(&r, v)?.map(|c| c.unwrap_or(NO_SUCH_CATALOG)),
    };
    call.tenant
        .write(|s| ops::access_package::update(s, &call.op(), &id, patch))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

fn delete_package(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    call.tenant
        .write(|s| ops::access_package::delete(s, &call.op(), &id))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

fn move_package(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    let r = call.reader(&["catalogId"])?;
    let target = r
        .opt_guid("catalogId")?
        .ok_or_else(|| GraphError::invalid_model("'catalogId' is required"))?
        .unwrap_or(NO_SUCH_CATALOG);
    call.tenant
        .write(|s| ops::access_package::move_to_catalog(s, &call.op(), &id, target))?;
    // The beta page answers 200 OK with no body
    // (https://learn.microsoft.com/graph/api/accesspackage-movetocatalog?view=graph-rest-beta).
    Ok(Reply::Empty(StatusCode::OK))
}

// ---- role management ----

fn create_role_assignment(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let r = call.reader(&[
        "principalId",
        "roleDefinitionId",
        "appScopeId",
        "directoryScopeId",
        "condition",
    ])?;
    let guid = |key: &str| -> Result<Uuid, GraphError> {
        match r.opt_guid(key)? {
            Some(Ok(id)) => Ok(id),
            Some(Err(text)) => Err(GraphError::invalid_model(format!(
                "'{key}' is not a GUID: '{text}'"
            ))),
            None => Err(GraphError::invalid_model(format!("'{key}' is required"))),
        }
    };
    if r.opt_string("condition")?.is_some() {
        return Err(GraphError::invalid_model(
            "conditions are not supported on entitlement-management role assignments",
        ));
    }
    let new = NewRoleAssignment {
        principal_id: guid("principalId")?,
        role_definition_id: guid("roleDefinitionId")?,
        app_scope_id: r.opt_string("appScopeId")?,
        directory_scope_id: r.opt_string("directoryScopeId")?,
    };
    let assignment = call
        .tenant
        .write(|s| ops::role::create_assignment(s, &call.op(), new))?;
    Ok(Reply::created(
        call.entity_context(target),
        assignment.to_json(),
        call.location(target, assignment.id),
    ))
}

fn delete_role_assignment(call: &Call<'_>, id: Uuid) -> Result<Reply, GraphError> {
    call.tenant
        .write(|s| ops::role::delete_assignment(s, &call.op(), &id))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

// ---- resources and role scopes ----

/// Listing a catalog's resource roles needs an `originSystem` filter
/// (https://learn.microsoft.com/graph/api/accesspackagecatalog-list-resourceroles?view=graph-rest-1.0;
/// the error text is [inf]).
fn require_origin_system(q: &Query) -> Result<(), GraphError> {
    fn mentions(e: &crate::odata::Expr) -> bool {
        use crate::odata::Expr::*;
        match e {
            Path(p) => p.len() == 1 && p[0].eq_ignore_ascii_case("originSystem"),
            Compare(_, a, b) => mentions(a) || mentions(b),
            And(terms) | Or(terms) => terms.iter().any(mentions),
            In(a, _) | Not(a) => mentions(a),
            _ => false,
        }
    }
    if q.filter.as_ref().is_some_and(mentions) {
        Ok(())
    } else {
        Err(GraphError::InvalidFilter(
            "a filter on originSystem is required to list this collection.".into(),
        ))
    }
}

/// A nested object of the body (`resource`, `role`, …), or nothing.
fn nested<'b>(
    r: &'b BodyReader,
    key: &str,
) -> Result<Option<&'b serde_json::Map<String, serde_json::Value>>, GraphError> {
    match r.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(GraphError::invalid_model(format!(
            "'{key}' must be an object"
        ))),
    }
}

fn text_of(
    m: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<Option<String>, GraphError> {
    match m.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(GraphError::invalid_model(format!(
            "'{key}' must be a string"
        ))),
    }
}

fn guid_of(
    m: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<Option<Uuid>, GraphError> {
    Ok(text_of(m, key)?.map(|t| Uuid::parse_str(&t).unwrap_or(Uuid::nil())))
}

fn origin_of(
    m: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<OriginSystem>, GraphError> {
    match text_of(m, "originSystem")? {
        None => Ok(None),
        Some(t) => OriginSystem::parse(&t).map(Some).ok_or_else(|| {
            GraphError::invalid_model(format!(
                "'{t}' is not AadGroup, AadApplication or SharePointOnline"
            ))
        }),
    }
}

fn resource_ref(
    m: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<ResourceRef, GraphError> {
    let Some(m) = m else {
        return Ok(ResourceRef::default());
    };
    Ok(ResourceRef {
        id: guid_of(m, "id")?,
        origin_system: origin_of(m)?,
        origin_id: text_of(m, "originId")?,
    })
}

fn create_resource_request(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let v = call.version;
    let allowed: &[&str] = v.pick(
        &["requestType", "resource", "catalog"],
        &[
            "requestType",
            "accessPackageResource",
            "catalogId",
            "justification",
            "executeImmediately",
            "isValidationOnly",
            "expirationDateTime",
        ],
    );
    let r = call.reader(allowed)?;
    let request_type = r
        .opt_enum("requestType", ResourceRequestType::parse_any_case)?
        .ok_or_else(|| GraphError::invalid_model("'requestType' is required"))?;
    let catalog = match v {
        ApiVersion::V1 => r.nested_id("catalog")?,
        ApiVersion::Beta => r.opt_guid("catalogId")?,
    }
    .ok_or_else(|| {
        GraphError::invalid_model(v.pick(
            "'catalog' ({\"id\": …}) is required",
            "'catalogId' is required",
        ))
    })?
    .unwrap_or(NO_SUCH_CATALOG);
    let resource = nested(&r, v.pick("resource", "accessPackageResource"))?
        .ok_or_else(|| GraphError::invalid_model("the resource is required"))?;
    let new = NewResourceRequest {
        catalog_id: catalog,
        request_type,
        resource: resource_ref(Some(resource))?,
        justification: r.opt_string("justification")?,
        is_validation_only: r.opt_bool("isValidationOnly")?.unwrap_or(false),
        execute_immediately: r.opt_bool("executeImmediately")?.unwrap_or(false),
    };
    let request = call
        .tenant
        .write(|s| ops::resource::request(s, &call.op(), new))?;
    Ok(Reply::created(
        call.entity_context(target),
        request.to_json(v),
        call.location(target, request.id),
    ))
}

fn create_role_scope(call: &Call<'_>, target: &Target, package: Uuid) -> Result<Reply, GraphError> {
    let v = call.version;
    let (role_key, scope_key, resource_key) = v.pick(
        ("role", "scope", "resource"),
        (
            "accessPackageResourceRole",
            "accessPackageResourceScope",
            "accessPackageResource",
        ),
    );
    let r = call.reader(&[role_key, scope_key])?;
    let role = nested(&r, role_key)?
        .ok_or_else(|| GraphError::invalid_model(format!("'{role_key}' is required")))?;
    let scope = nested(&r, scope_key)?;
    let resource = match role.get(resource_key) {
        Some(serde_json::Value::Object(m)) => Some(m),
        _ => None,
    };
    let input = RoleScopeInput {
        role_id: guid_of(role, "id")?,
        role_origin_id: text_of(role, "originId")?,
        role_origin_system: origin_of(role)?,
        resource: resource_ref(resource)?,
        scope_id: scope.map(|m| guid_of(m, "id")).transpose()?.flatten(),
        scope_origin_id: scope.map(|m| text_of(m, "originId")).transpose()?.flatten(),
    };
    let role_scope = call
        .tenant
        .write(|s| ops::resource::add_role_scope(s, &call.op(), &package, input))?;
    let location = call.ctx.absolute(
        v,
        &format!(
            "identityGovernance/entitlementManagement/accessPackages('{package}')/{}('{}')",
            v.pick("resourceRoleScopes", "accessPackageResourceRoleScopes"),
            role_scope.id()
        ),
    );
    Ok(Reply::created(
        call.entity_context(target),
        role_scope.to_json(v),
        location,
    ))
}

// ---- assignment policies ----

/// POST (create, 201) or PUT (full replace, 200 with the policy as the docs give it).
fn write_policy(call: &Call<'_>, target: &Target, id: Option<Uuid>) -> Result<Reply, GraphError> {
    use crate::ops::policy::{POLICY_FIELDS_BETA, POLICY_FIELDS_V1, PolicyInput};
    let v = call.version;
    let r = call.reader(v.pick(POLICY_FIELDS_V1, POLICY_FIELDS_BETA))?;
    let map = r.into_map();
    call.tenant.write(|s| {
        let mut ids = || s.next_id();
        let input = match v {
            ApiVersion::V1 => PolicyInput::from_v1(&map, &mut ids),
            ApiVersion::Beta => PolicyInput::from_beta(&map, &mut ids),
        }?;
        let policy = match id {
            None => ops::policy::create(s, &call.op(), input, v)?,
            Some(id) => ops::policy::replace(s, &call.op(), &id, input, v)?,
        };
        let body = policy.to_json(v);
        Ok(match id {
            None => Reply::created(
                call.entity_context(target),
                body,
                call.location(target, policy.id),
            ),
            Some(_) if s.policy_put_no_content => Reply::Empty(StatusCode::NO_CONTENT),
            Some(_) => Reply::ok(call.entity_context(target), body),
        })
    })
}

// ---- $ref, connected organizations, settings ----

/// The object a `$ref` body names: the last key of its `@odata.id` URL
/// (`…/accessPackages/{id}`, `…/groups('{id}')`, `…/users/{id}`); a URL naming nothing parses to
/// an id nothing has.
fn ref_target(call: &Call<'_>) -> Result<Uuid, GraphError> {
    let map = json_object(call.headers, call.body)?;
    let url = match map.get("@odata.id") {
        Some(serde_json::Value::String(u)) => u.clone(),
        _ => return Err(GraphError::invalid_model("a $ref body needs '@odata.id'")),
    };
    let last = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let key = last
        .rsplit('(')
        .next()
        .unwrap_or(last)
        .trim_end_matches(')')
        .trim_matches('\'');
    Ok(Uuid::parse_str(key).unwrap_or(Uuid::nil()))
}

fn identity_sources_of(r: &BodyReader) -> Result<Option<Vec<serde_json::Value>>, GraphError> {
    match r.get("identitySources") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Array(a)) => Ok(Some(a.clone())),
        Some(_) => Err(GraphError::invalid_model(
            "'identitySources' must be an array",
        )),
    }
}

const ORGANIZATION_FIELDS: &[&str] = &["displayName", "description", "identitySources", "state"];

fn create_organization(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    let v = call.version;
    let r = call.reader(ORGANIZATION_FIELDS)?;
    let new = NewOrganization {
        display_name: r.required_name("displayName")?,
        description: r.opt_string("description")?,
        identity_sources: identity_sources_of(&r)?.unwrap_or_default(),
        state: r.opt_enum("state", OrgState::parse_any_case)?,
    };
    let org = call
        .tenant
        .write(|s| ops::org::create(s, &call.op(), new))?;
    Ok(Reply::created(
        call.entity_context(target),
        org.to_json(v),
        call.location(target, org.id),
    ))
}

/// PATCH answers 202 Accepted with the organization
/// (https://learn.microsoft.com/graph/api/connectedorganization-update?view=graph-rest-1.0).
fn update_organization(call: &Call<'_>, target: &Target, id: Uuid) -> Result<Reply, GraphError> {
    let v = call.version;
    let r = call.reader(ORGANIZATION_FIELDS)?;
    let patch = OrganizationPatch {
        display_name: r.patch_name("displayName")?,
        description: r.patch_nullable_string("description")?,
        identity_sources: identity_sources_of(&r)?.map_or(Patch::Keep, Patch::Set),
        state: r
            .opt_enum("state", OrgState::parse_any_case)?
            .map_or(Patch::Keep, Patch::Set),
    };
    let org = call
        .tenant
        .write(|s| ops::org::update(s, &call.op(), &id, patch))?;
    Ok(Reply::Entity {
        status: StatusCode::ACCEPTED,
        context: call.entity_context(target),
        body: org.to_json(v),
        location: None,
    })
}

fn update_settings(call: &Call<'_>) -> Result<Reply, GraphError> {
    let v = call.version;
    let r = call.reader(v.pick(
        &[
            "externalUserLifecycleAction",
            "durationUntilExternalUserDeletedAfterBlocked",
        ],
        &[
            "externalUserLifecycleAction",
            "daysUntilExternalUserDeletedAfterBlocked",
        ],
    ))?;
    let action = r.opt_enum(
        "externalUserLifecycleAction",
        ExternalUserLifecycleAction::parse_any_case,
    )?;
    let days = match v {
        ApiVersion::V1 => match r.opt_string("durationUntilExternalUserDeletedAfterBlocked")? {
            Some(d) => Some(crate::model::policy::duration_days(&d).ok_or_else(|| {
                GraphError::invalid_model(format!("'{d}' is not an ISO 8601 duration"))
            })?),
            None => None,
        },
        ApiVersion::Beta => match r.get("daysUntilExternalUserDeletedAfterBlocked") {
            None | Some(serde_json::Value::Null) => None,
            Some(n) => Some(
                n.as_i64()
                    .ok_or_else(|| GraphError::invalid_model("the days must be an integer"))?,
            ),
        },
    };
    call.tenant
        .write(|s| ops::org::update_settings(s, &call.op(), action, days))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

// ---- custom workflow extensions ----

const EXTENSION_FIELDS: &[&str] = &[
    "displayName",
    "description",
    "endpointConfiguration",
    "authenticationConfiguration",
    "clientConfiguration",
    "callbackConfiguration",
];

/// POST (201) or PUT/PATCH (200 with the extension,
/// https://learn.microsoft.com/graph/api/accesspackageassignmentrequestworkflowextension-update?view=graph-rest-1.0).
fn write_extension(
    call: &Call<'_>,
    target: &Target,
    catalog: Uuid,
    legacy: bool,
    id: Option<Uuid>,
) -> Result<Reply, GraphError> {
    use crate::model::extension::ExtensionKind;
    use crate::ops::extension::ExtensionInput;
    let v = call.version;
    let map = json_object(call.headers, call.body)?;
    // The docs' examples wrap the body in "value" (a doc bug:
    // https://learn.microsoft.com/graph/api/accesspackagecatalog-post-accesspackagecustomworkflowextensions?view=graph-rest-1.0);
    // unwrap it.
    let map = match map.get("value") {
        Some(serde_json::Value::Object(inner)) if map.len() == 1 => inner.clone(),
        _ => map,
    };
    let kind = match map.get("@odata.type").and_then(serde_json::Value::as_str) {
        Some(t) => Some(ExtensionKind::parse(t).ok_or_else(|| {
            GraphError::invalid_model(format!("'{t}' is not a custom extension type"))
        })?),
        None => None,
    };
    let r = BodyReader::new(map, v, EXTENSION_FIELDS)?;
    let object =
        |key: &str| -> Result<Option<serde_json::Map<String, serde_json::Value>>, GraphError> {
            nested(&r, key).map(|o| o.cloned())
        };
    let input = ExtensionInput {
        kind,
        display_name: r.opt_string("displayName")?,
        description: r.opt_string("description")?,
        endpoint: object("endpointConfiguration")?,
        authentication: object("authenticationConfiguration")?,
        client: object("clientConfiguration")?,
        callback: object("callbackConfiguration")?,
    };
    let extension = call.tenant.write(|s| match id {
        None => ops::extension::create(s, &call.op(), &catalog, input, legacy),
        Some(id) => ops::extension::update(s, &call.op(), &catalog, &id, input),
    })?;
    let body = extension.to_json(v);
    Ok(match id {
        None => Reply::created(
            call.entity_context(target),
            body,
            call.location(target, extension.id),
        ),
        Some(_) => Reply::ok(call.entity_context(target), body),
    })
}

// ---- lifecycle ----

/// Whether a `$filter` pins `accessPackage/id` (what catalog-scoped callers must send).
fn filters_by_package(q: &Query) -> bool {
    fn is_package_id(e: &crate::odata::Expr) -> bool {
        matches!(e, crate::odata::Expr::Path(p)
            if (p.len() == 2 && p[0].eq_ignore_ascii_case("accessPackage") && p[1].eq_ignore_ascii_case("id"))
                || (p.len() == 1 && p[0].eq_ignore_ascii_case("accessPackageId")))
    }
    fn pins(e: &crate::odata::Expr) -> bool {
        use crate::odata::Expr::*;
        match e {
            Compare(crate::odata::filter::CmpOp::Eq, a, b) => is_package_id(a) || is_package_id(b),
            And(terms) => terms.iter().any(pins),
            _ => false,
        }
    }
    q.filter.as_ref().is_some_and(pins)
}

fn user_json(u: &crate::model::directory::User) -> serde_json::Value {
    let user_type = match u.user_type {
        crate::model::directory::UserType::Member => "Member",
        crate::model::directory::UserType::Guest => "Guest",
    };
    serde_json::json!({
        "id": u.id, "displayName": u.display_name, "userPrincipalName": u.user_principal_name,
        "mail": u.mail, "userType": user_type, "accountEnabled": u.account_enabled,
    })
}

/// `approvalStage` (v1.0) / `approvalStep` (beta) as the caller sees it
/// (https://learn.microsoft.com/graph/api/resources/approvalstage?view=graph-rest-1.0,
/// https://learn.microsoft.com/graph/api/resources/approvalstep?view=graph-rest-beta).
fn stage_json(
    call: &Call<'_>,
    s: &TenantState,
    st: &crate::model::lifecycle::StageState,
) -> serde_json::Value {
    let reviewer = st
        .reviewed_by
        .map(|r| serde_json::json!({"id": r, "displayName": s.directory.users.get(&r).map(|u| u.display_name.clone())}));
    let result = match st.review_result {
        "Approve" => "Approved",
        "Deny" => "Denied",
        other => other,
    };
    serde_json::json!({
        "id": st.id,
        "displayName": null,
        "reviewedDateTime": st.reviewed_at,
        "reviewResult": result,
        "status": st.status,
        "assignedToMe": call.caller.object_id.is_some_and(|me| st.approvers.contains(&me)),
        // Key order and the empty-string justification of an undecided stage follow
        // https://learn.microsoft.com/graph/api/approval-get?view=graph-rest-1.0.
        "justification": st.justification.clone().unwrap_or_default(),
        "reviewedBy": reviewer,
    })
}

/// One `accessPackageAssignmentRequestRequirements`
/// (https://learn.microsoft.com/graph/api/accesspackage-getapplicablepolicyrequirements?view=graph-rest-1.0;
/// the beta type's names differ).
fn policy_requirements_json(
    version: ApiVersion,
    p: &crate::model::policy::Policy,
) -> serde_json::Value {
    let schedule = crate::model::lifecycle::Schedule {
        start: None,
        expiration: p.expiration.clone(),
    }
    .to_json();
    match version {
        ApiVersion::V1 => serde_json::json!({
            "@odata.type": "#microsoft.graph.accessPackageAssignmentRequestRequirements",
            "policyId": p.id,
            "policyDisplayName": p.display_name,
            "policyDescription": p.description,
            "isApprovalRequiredForAdd": p.approval.for_add,
            "isApprovalRequiredForUpdate": p.approval.for_update,
            "isRequestorJustificationRequired": p.approval.justification_required,
            "allowCustomAssignmentSchedule": p.requestor.custom_schedule,
            "schedule": schedule,
            "questions": p.questions.iter().map(|q| q.to_v1()).collect::<Vec<_>>(),
        }),
        ApiVersion::Beta => serde_json::json!({
            "@odata.type": "#microsoft.graph.accessPackageAssignmentRequestRequirements",
            "policyId": p.id,
            "policyDisplayName": p.display_name,
            "policyDescription": p.description,
            "isApprovalRequired": p.approval.for_add,
            "isApprovalRequiredForExtension": p.approval.for_update,
            "isRequestorJustificationRequired": p.approval.justification_required,
            "isCustomAssignmentScheduleAllowed": p.requestor.custom_schedule,
            "schedule": schedule,
            "questions": p.questions.iter().map(|q| q.to_beta()).collect::<Vec<_>>(),
            "existingAnswers": [],
        }),
    }
}

fn approval_json(
    call: &Call<'_>,
    s: &TenantState,
    r: &crate::model::lifecycle::Request,
) -> serde_json::Value {
    let stages: Vec<serde_json::Value> =
        r.stages.iter().map(|st| stage_json(call, s, st)).collect();
    let mut m = serde_json::Map::new();
    m.insert("id".into(), serde_json::json!(r.id));
    m.insert(
        call.version.pick("stages", "steps").into(),
        serde_json::Value::Array(stages),
    );
    serde_json::Value::Object(m)
}

fn decide(call: &Call<'_>, id: Uuid, stage: Uuid) -> Result<Reply, GraphError> {
    let r = call.reader(&["reviewResult", "justification"])?;
    let approve = match r
        .opt_string("reviewResult")?
        .map(|t| t.to_ascii_lowercase())
        .as_deref()
    {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return Err(GraphError::invalid_model(
                "'reviewResult' must be Approve or Deny",
            ));
        }
    };
    let justification = r.opt_string("justification")?;
    call.tenant
        .write(|s| ops::lifecycle::decide(s, &call.op(), &id, &stage, approve, justification))?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

fn create_request(call: &Call<'_>, target: &Target) -> Result<Reply, GraphError> {
    use crate::model::lifecycle::{RequestType, Schedule};
    use crate::model::policy::{Expiration, ExpirationKind};
    let v = call.version;
    let r = call.reader(&[
        "requestType",
        "assignment",
        "accessPackageAssignment",
        "justification",
        "answers",
        "schedule",
        "isValidationOnly",
    ])?;
    let type_text = r
        .opt_string("requestType")?
        .ok_or_else(|| GraphError::invalid_model("'requestType' is required"))?;
    let request_type = RequestType::parse_any_case(&type_text)
        .filter(|t| {
            !matches!(
                t,
                RequestType::SystemAdd | RequestType::SystemUpdate | RequestType::SystemRemove
            )
        })
        .ok_or_else(|| {
            GraphError::invalid_model(format!(
                "'{type_text}' is not a requestType a client may send"
            ))
        })?;
    // v1.0 also takes the beta-shaped body its own docs send (Example 4 of
    // https://learn.microsoft.com/graph/api/entitlementmanagement-post-assignmentrequests?view=graph-rest-1.0).
    let assignment = match (
        nested(&r, "assignment")?,
        nested(&r, "accessPackageAssignment")?,
    ) {
        (Some(a), _) | (None, Some(a)) => a.clone(),
        (None, None) => {
            return Err(GraphError::invalid_model(
                "the request needs its assignment",
            ));
        }
    };
    let target_email = match assignment.get("target") {
        Some(serde_json::Value::Object(t)) => text_of(t, "email")?,
        _ => None,
    };
    let parse_time = |t: String| {
        crate::clock::Timestamp::parse(&t)
            .map_err(|_| GraphError::invalid_model(format!("'{t}' is not a date-time")))
    };
    let schedule = match nested(&r, "schedule")? {
        None => None,
        Some(m) => {
            let start = text_of(m, "startDateTime")?.map(parse_time).transpose()?;
            let expiration = match m.get("expiration") {
                Some(serde_json::Value::Object(e)) => Expiration {
                    kind: text_of(e, "type")?
                        .and_then(|t| ExpirationKind::parse_any_case(&t))
                        .unwrap_or(ExpirationKind::NotSpecified),
                    duration: text_of(e, "duration")?,
                    end: text_of(e, "endDateTime")?.map(parse_time).transpose()?,
                },
                _ => Expiration {
                    kind: ExpirationKind::NotSpecified,
                    duration: None,
                    end: None,
                },
            };
            (start.is_some() || expiration.kind != ExpirationKind::NotSpecified)
                .then_some(Schedule { start, expiration })
        }
    };
    let answers = match r.get("answers") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(a)) => a.clone(),
        Some(_) => return Err(GraphError::invalid_model("'answers' must be an array")),
    };
    let new = ops::lifecycle::NewRequest {
        request_type,
        request_type_text: type_text,
        package_id: guid_of(&assignment, "accessPackageId")?,
        policy_id: guid_of(&assignment, "assignmentPolicyId")?,
        target_id: guid_of(&assignment, "targetId")?,
        target_email,
        assignment_id: guid_of(&assignment, "id")?,
        justification: r.opt_string("justification")?,
        answers,
        schedule,
        validation_only: r.opt_bool("isValidationOnly")?.unwrap_or(false),
    };
    let request = call
        .tenant
        .write(|s| ops::lifecycle::submit(s, &call.op(), new))?;
    let mut body = request.to_json(v);
    // The create response carries `createdDateTime: null`; later reads have the time
    // (Examples 4 and 5 of
    // https://learn.microsoft.com/graph/api/entitlementmanagement-post-assignmentrequests?view=graph-rest-1.0).
    if let Some(created) = body.get_mut("createdDateTime") {
        *created = serde_json::Value::Null;
    }
    Ok(Reply::created(
        call.entity_context(target),
        body,
        call.location(target, request.id),
    ))
}
