"""Drive the emulator with the real Python Graph SDKs (msgraph-sdk for v1.0, msgraph-beta-sdk for
beta), unmodified apart from the base URL and a static-token provider (docs/CLIENTS.md).

Usage: EMULATOR_URL=http://127.0.0.1:PORT python python_sdk.py
Prints one line per check and closes with 'N passed, M failed'; exits non-zero on any failure.
"""

import asyncio
import json
import os
import sys
import traceback
import urllib.request

from kiota_abstractions.authentication import (AccessTokenProvider, AllowedHostsValidator,
                                               BaseBearerTokenAuthenticationProvider)

BASE = os.environ.get("EMULATOR_URL", "http://127.0.0.1:5055").rstrip("/")
GENERAL = "50000000-0000-4000-8000-000000000001"
MARKETING = "50000000-0000-4000-8000-000000000002"
RESULTS = []


def mint(persona):
    req = urllib.request.Request(f"{BASE}/_emulator/tokens", data=json.dumps({"as": persona}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)["access_token"]


class StaticToken(AccessTokenProvider):
    def __init__(self, token):
        self.token = token

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


def client(module, version, persona):
    adapter = module.GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(mint(persona))))
    adapter.base_url = f"{BASE}/{version}"
    return module.GraphServiceClient(request_adapter=adapter)


async def check(name, coro):
    try:
        await coro
        RESULTS.append((name, None))
        print(f"ok   {name}")
    except Exception as exc:  # report every failure with its cause, keep going
        RESULTS.append((name, exc))
        print(f"FAIL {name}: {exc!r}")
        # The exchange that broke, as the SDK surfaced it.
        if getattr(exc, "response_status_code", None) is not None:
            error = getattr(exc, "error", None)
            print(f"     exchange: status {exc.response_status_code}, code {getattr(error, 'code', None)!r}, "
                  f"message {getattr(error, 'message', None)!r}, headers {getattr(exc, 'response_headers', None)}")
        traceback.print_exc()


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


async def expect_odata_error(coro, status, code):
    from kiota_abstractions.api_error import APIError
    try:
        await coro
    except APIError as err:
        got_code = getattr(getattr(err, "error", None), "code", None)
        expect(err.response_status_code == status and got_code == code,
               f"expected {status} {code}, got {err.response_status_code} {got_code}: {err}")
        return err
    raise AssertionError(f"expected {status} {code}, the call succeeded")


async def v1_lifecycle():
    import msgraph
    from msgraph.generated.models.access_package import AccessPackage
    from msgraph.generated.models.access_package_catalog import AccessPackageCatalog
    from msgraph.generated.models.access_package_catalog_state import AccessPackageCatalogState

    em = client(msgraph, "v1.0", "admin@contoso.onmicrosoft.com").identity_governance.entitlement_management
    catalog = await em.catalogs.post(AccessPackageCatalog(display_name="py sdk", description="from msgraph-sdk"))
    expect(catalog.id and catalog.state == AccessPackageCatalogState.Published, f"catalog defaults: {catalog}")
    package = await em.access_packages.post(
        AccessPackage(display_name="py package", description="y", catalog=AccessPackageCatalog(id=catalog.id)))
    expect(package.id and package.is_hidden is False, f"package defaults: {package}")
    got = await em.access_packages.by_access_package_id(package.id).get()
    expect(got.display_name == "py package" and got.created_date_time is not None, f"get: {got}")
    page = await em.access_packages.get()
    expect(any(p.id == package.id for p in page.value), "list contains the new package")
    await em.access_packages.by_access_package_id(package.id).patch(AccessPackage(display_name="renamed"))
    got = await em.access_packages.by_access_package_id(package.id).get()
    expect(got.display_name == "renamed", f"patched name: {got.display_name}")
    catalogs = await em.catalogs.get()
    expect(any(c.id == catalog.id for c in catalogs.value), "catalog listed")
    err = await expect_odata_error(em.catalogs.by_access_package_catalog_id(catalog.id).delete(), 400,
                                   "InvalidDeleteCatalogHasAccessPackages")
    expect("contains access packages" in err.error.message, err.error.message)
    await em.access_packages.by_access_package_id(package.id).delete()
    err = await expect_odata_error(em.access_packages.by_access_package_id(package.id).get(), 404, "ResourceNotFound")
    expect(err.error.message == "The resource was not found.", err.error.message)
    expect(err.error.inner_error is not None and err.error.inner_error.request_id, "innerError parsed")
    await em.catalogs.by_access_package_catalog_id(catalog.id).delete()


async def v1_forbidden():
    import msgraph
    from msgraph.generated.models.access_package_catalog import AccessPackageCatalog
    em = client(msgraph, "v1.0", "requestor1@contoso.onmicrosoft.com").identity_governance.entitlement_management
    err = await expect_odata_error(em.catalogs.post(AccessPackageCatalog(display_name="nope")), 403, "UnAuthorized")
    expect(err.error.message.startswith("User is not authorized to perform the operation."), err.error.message)


async def beta_lifecycle():
    import msgraph_beta
    from msgraph_beta.generated.models.access_package import AccessPackage
    from msgraph_beta.generated.identity_governance.entitlement_management.access_packages.item.move_to_catalog.move_to_catalog_post_request_body import MoveToCatalogPostRequestBody

    em = client(msgraph_beta, "beta", "Provisioning Automation").identity_governance.entitlement_management
    package = await em.access_packages.post(
        AccessPackage(display_name="sales reps", description="outside sales representatives", catalog_id=GENERAL))
    expect(package.catalog_id == GENERAL and package.is_role_scopes_visible is False, f"beta defaults: {package}")
    expect(package.created_by == "Provisioning Automation", f"createdBy: {package.created_by}")
    await em.access_packages.by_access_package_id(package.id).move_to_catalog.post(
        MoveToCatalogPostRequestBody(catalog_id=MARKETING))
    moved = await em.access_packages.by_access_package_id(package.id).get()
    expect(moved.catalog_id == MARKETING, f"moved: {moved.catalog_id}")
    catalogs = await em.access_package_catalogs.get()
    expect({c.display_name for c in catalogs.value} >= {"General", "Marketing"}, "beta catalogs listed")
    await em.access_packages.by_access_package_id(package.id).delete()


def set_page_size(n):
    req = urllib.request.Request(f"{BASE}/_emulator/settings", data=json.dumps({"pageSize": n}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).close()


async def v1_paging_and_filter():
    import msgraph
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.identity_governance.entitlement_management.access_packages.access_packages_request_builder import AccessPackagesRequestBuilder
    from msgraph.generated.models.access_package import AccessPackage
    from msgraph.generated.models.access_package_catalog import AccessPackageCatalog
    from msgraph_core import PageIterator

    graph = client(msgraph, "v1.0", "admin@contoso.onmicrosoft.com")
    em = graph.identity_governance.entitlement_management
    created = []
    for i in range(7):
        p = await em.access_packages.post(AccessPackage(display_name=f"paged {i}", catalog=AccessPackageCatalog(id=GENERAL)))
        created.append(p.id)
    set_page_size(3)
    try:
        first = await em.access_packages.get()
        expect(len(first.value) == 3 and first.odata_next_link, f"first page: {len(first.value)} {first.odata_next_link}")
        seen = []
        iterator = PageIterator(first, graph.request_adapter)

        def collect(item):
            seen.append(item.id)
            return True

        await iterator.iterate(collect)
        expect(len(seen) == 9 and len(set(seen)) == 9, f"PageIterator saw {len(seen)} items")
        expect(all(i in seen for i in created), "every created package was reached")
        query = AccessPackagesRequestBuilder.AccessPackagesRequestBuilderGetQueryParameters(
            filter="startswith(displayName,'paged')", select=["id", "displayName"], top=2, orderby=["displayName desc"])
        page = await em.access_packages.get(RequestConfiguration(query_parameters=query))
        expect([p.display_name for p in page.value] == ["paged 6", "paged 5"], f"filtered page: {[p.display_name for p in page.value]}")
        err = await expect_odata_error(em.access_packages.get(RequestConfiguration(
            query_parameters=AccessPackagesRequestBuilder.AccessPackagesRequestBuilderGetQueryParameters(filter="catalog/id eq 'x'"))),
            400, "InvalidFilter")
        expect(err.error.message == "OData query is invalid: Unrecognized Guid format", err.error.message)
    finally:
        set_page_size(100)
        for pid in created:
            await em.access_packages.by_access_package_id(pid).delete()


CAMPAIGN = "60000000-0000-4000-8000-000000000001"
REQUESTOR1 = "20000000-0000-4000-8000-000000000005"


async def v1_access_requests():
    import msgraph
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.identity_governance.entitlement_management.assignments.assignments_request_builder import AssignmentsRequestBuilder
    from msgraph.generated.models.access_package_assignment import AccessPackageAssignment
    from msgraph.generated.models.access_package_assignment_request import AccessPackageAssignmentRequest
    from msgraph.generated.models.access_package_assignment_state import AccessPackageAssignmentState
    from msgraph.generated.models.access_package_request_state import AccessPackageRequestState
    from msgraph.generated.models.access_package_request_type import AccessPackageRequestType

    em = client(msgraph, "v1.0", "admin@contoso.onmicrosoft.com").identity_governance.entitlement_management
    request = await em.assignment_requests.post(AccessPackageAssignmentRequest(
        request_type=AccessPackageRequestType.AdminAdd,
        # v1.0's model lacks these ids; the SDK sends them as additional data, as the docs do.
        assignment=AccessPackageAssignment(additional_data={
            "accessPackageId": CAMPAIGN, "targetId": REQUESTOR1,
            "assignmentPolicyId": "90000000-0000-4000-8000-000000000001"})))
    expect(request.state == AccessPackageRequestState.Submitted, f"answered submitted: {request.state}")
    got = await em.assignment_requests.by_access_package_assignment_request_id(request.id).get()
    expect(got.state == AccessPackageRequestState.Delivered and got.completed_date_time is not None,
           f"delivered on the next read: {got.state}")
    query = AssignmentsRequestBuilder.AssignmentsRequestBuilderGetQueryParameters(
        filter=f"accessPackage/id eq '{CAMPAIGN}'", expand=["target"])
    page = await em.assignments.get(RequestConfiguration(query_parameters=query))
    mine = [a for a in page.value if a.target and a.target.object_id == REQUESTOR1]
    expect(len(mine) == 1 and mine[0].state == AccessPackageAssignmentState.Delivered, f"assignment: {page.value}")
    me = client(msgraph, "v1.0", "requestor1@contoso.onmicrosoft.com").identity_governance.entitlement_management
    own = await me.assignments.filter_by_current_user_with_on("target").get()
    expect([a.id for a in own.value] == [mine[0].id], f"filterByCurrentUser: {own.value}")
    await em.assignment_requests.post(AccessPackageAssignmentRequest(
        request_type=AccessPackageRequestType.AdminRemove, assignment=AccessPackageAssignment(id=mine[0].id)))
    gone = await em.assignments.by_access_package_assignment_id(mine[0].id).get()
    expect(gone.state == AccessPackageAssignmentState.Expired, f"removed: {gone.state}")


ANALYTICS = "60000000-0000-4000-8000-000000000002"


def admin_post(path, body):
    req = urllib.request.Request(f"{BASE}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {mint('admin@contoso.onmicrosoft.com')}"})
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


async def beta_access_requests():
    import msgraph_beta
    from msgraph_beta.generated.models.access_package_assignment import AccessPackageAssignment
    from msgraph_beta.generated.models.access_package_assignment_request import AccessPackageAssignmentRequest

    # Setup through plain HTTP: a policy that lets any member request Analytics.
    admin_post("/v1.0/identityGovernance/entitlementManagement/assignmentPolicies", {
        "displayName": "members", "accessPackage": {"id": ANALYTICS}, "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": True}})
    me = client(msgraph_beta, "beta", "requestor2@contoso.onmicrosoft.com").identity_governance.entitlement_management
    request = await me.access_package_assignment_requests.post(AccessPackageAssignmentRequest(
        request_type="UserAdd", justification="from msgraph-beta-sdk",
        access_package_assignment=AccessPackageAssignment(access_package_id=ANALYTICS)))
    expect(request.request_state == "Submitted" and request.request_status == "Accepted", f"submitted: {request}")
    em = client(msgraph_beta, "beta", "admin@contoso.onmicrosoft.com").identity_governance.entitlement_management
    got = await em.access_package_assignment_requests.by_access_package_assignment_request_id(request.id).get()
    expect(got.request_state == "Delivered" and got.request_status == "Fulfilled" and got.completed_date is not None,
           f"delivered: {got.request_state} {got.request_status}")
    expect(got.schedule is not None and got.schedule.start_date_time is not None, f"schedule: {got.schedule}")
    mine = await me.access_package_assignments.filter_by_current_user_with_on("target").get()
    expect(len(mine.value) == 1 and mine.value[0].assignment_state == "Delivered"
           and mine.value[0].access_package_id == ANALYTICS and mine.value[0].is_extended is False,
           f"my assignments: {mine.value}")


def control(method, path, body=None):
    req = urllib.request.Request(f"{BASE}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        text = resp.read()
        return json.loads(text) if text else None


async def retries_honour_retry_after():
    import time
    import msgraph
    em = client(msgraph, "v1.0", "admin@contoso.onmicrosoft.com").identity_governance.entitlement_management
    path = "/v1.0/identityGovernance/entitlementManagement/catalogs"
    control("DELETE", "/_emulator/journal")
    rule = control("POST", "/_emulator/faults", {"method": "GET", "path": path,
                                                 "schedule": {"next": 2},
                                                 "effect": {"status": 429, "retryAfter": 1}})
    try:
        started = time.monotonic()
        catalogs = await em.catalogs.get()
        waited = time.monotonic() - started
        expect(any(c.display_name == "General" for c in catalogs.value), "answered after the throttling")
        expect(waited >= 1.9, f"Retry-After: 1 honoured twice, waited {waited:.2f}s")
        journal = control("GET", f"/_emulator/journal?method=GET&path={path}")
        entries = journal["value"]
        expect([e["status"] for e in entries] == [429, 429, 200], f"statuses {[e['status'] for e in entries]}")
        attempts = [e["requestHeaders"].get("retry-attempt")
                    for e in entries]
        expect(attempts == [None, "1", "2"], f"Retry-Attempt headers {attempts}")
    finally:
        control("DELETE", f"/_emulator/faults/{rule['id']}")


async def main():
    await check("v1.0 catalog and access package lifecycle (msgraph-sdk)", v1_lifecycle())
    await check("v1.0 403 surfaces as ODataError UnAuthorized", v1_forbidden())
    await check("beta access package lifecycle (msgraph-beta-sdk)", beta_lifecycle())
    await check("v1.0 paging with PageIterator, $filter/$select/$top/$orderby (msgraph-sdk)", v1_paging_and_filter())
    await check("v1.0 request, delivery, filterByCurrentUser, removal (msgraph-sdk)", v1_access_requests())
    await check("beta request, delivery, filterByCurrentUser (msgraph-beta-sdk)", beta_access_requests())
    await check("429 with Retry-After is retried by the SDK, honouring the wait (msgraph-sdk)",
                retries_honour_retry_after())
    failed = sum(1 for _, e in RESULTS if e is not None)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
