"""Sign in the way real applications do, over https, and drive Graph with the signed-in SDKs:
azure-identity's async ClientSecretCredential (one token call, authority = the emulator),
MSAL with a certificate, MSAL's password flow with a silent refresh, and the errors each
surfaces (docs/CLIENTS.md;
https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc).

Usage: EMULATOR_HTTPS=https://127.0.0.1:PORT EMULATOR_URL=http://127.0.0.1:PORT \
       SSL_CERT_FILE=<bundle> REQUESTS_CA_BUNDLE=<bundle> python python_signin.py
Prints one line per check and closes with 'N passed, M failed'; exits non-zero on any failure.
Each failure prints the exchange that broke (the request, status and body the client saw).
"""

import asyncio
import json
import os
import sys
import traceback
import urllib.request

HTTPS = os.environ["EMULATOR_HTTPS"].rstrip("/")
HTTP = os.environ["EMULATOR_URL"].rstrip("/")
HERE = os.path.dirname(os.path.abspath(__file__))
TENANT = "10000000-0000-4000-8000-000000000000"
AUTOMATION = "41000000-0000-4000-8000-000000000001"
AUTOMATION_SECRET = "provisioning-automation-secret"
REPORTER = "41000000-0000-4000-8000-000000000003"
REPORTER_SECRET = "access-reporter-secret"
PUBLIC_CLIENT = "e0000000-0000-4000-8000-0000000000e1"
ADMIN = "admin@contoso.onmicrosoft.com"
PASSWORD = "Emulator-Password-1"
GENERAL = "50000000-0000-4000-8000-000000000001"
SCOPES = ["https://graph.microsoft.com/.default"]
RESULTS = []


async def check(name, coro):
    try:
        await coro
        RESULTS.append((name, None))
        print(f"ok   {name}")
    except Exception as exc:  # report every failure with its cause and the exchange, keep going
        RESULTS.append((name, exc))
        print(f"FAIL {name}: {exc!r}")
        # The exchange that broke, as the SDK surfaced it.
        if getattr(exc, "response_status_code", None) is not None:
            error = getattr(exc, "error", None)
            print(f"     exchange: status {exc.response_status_code}, code {getattr(error, 'code', None)!r}, "
                  f"message {getattr(error, 'message', None)!r}, headers {getattr(exc, 'response_headers', None)}")
        response = getattr(exc, "response", None)
        if response is not None:
            print(f"     exchange: {getattr(response, 'status_code', '?')} {getattr(response, 'text', '')}")
        traceback.print_exc()


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def set_page_size(n):
    req = urllib.request.Request(f"{HTTP}/_emulator/settings", data=json.dumps({"pageSize": n}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).close()


async def expect_odata_error(coro, status, code):
    from kiota_abstractions.api_error import APIError
    try:
        await coro
    except APIError as err:
        got = getattr(getattr(err, "error", None), "code", None)
        expect(err.response_status_code == status and got == code,
               f"expected {status} {code}, got {err.response_status_code} {got}: {err}")
        return err
    raise AssertionError(f"expected {status} {code}, the call succeeded")


def graph_client(module, version, credential):
    """The SDK's own Azure-identity provider, with the emulator as an allowed host."""
    from msgraph_core.authentication import AzureIdentityAuthenticationProvider
    auth = AzureIdentityAuthenticationProvider(credential, scopes=SCOPES,
                                               allowed_hosts=[HTTPS.split("://", 1)[1].split(":")[0]])
    adapter = module.GraphRequestAdapter(auth)
    adapter.base_url = f"{HTTPS}/{version}"
    return module.GraphServiceClient(request_adapter=adapter)


def secret_credential(client_id, secret):
    from azure.identity.aio import ClientSecretCredential
    return ClientSecretCredential(TENANT, client_id, secret, authority=HTTPS)


async def v1_scenario_with_client_secret():
    import msgraph
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.identity_governance.entitlement_management.access_packages.access_packages_request_builder import AccessPackagesRequestBuilder
    from msgraph.generated.models.access_package import AccessPackage
    from msgraph.generated.models.access_package_catalog import AccessPackageCatalog
    from msgraph_core import PageIterator

    async with secret_credential(AUTOMATION, AUTOMATION_SECRET) as credential:
        graph = graph_client(msgraph, "v1.0", credential)
        em = graph.identity_governance.entitlement_management
        catalog = await em.catalogs.post(AccessPackageCatalog(display_name="signed-in catalog", description="https"))
        package = await em.access_packages.post(AccessPackage(
            display_name="signed-in package", description="https", catalog=AccessPackageCatalog(id=catalog.id)))
        got = await em.access_packages.by_access_package_id(package.id).get()
        expect(got.display_name == "signed-in package" and got.is_hidden is False, f"read back: {got}")
        query = AccessPackagesRequestBuilder.AccessPackagesRequestBuilderGetQueryParameters(
            filter="displayName eq 'signed-in package'")
        found = await em.access_packages.get(RequestConfiguration(query_parameters=query))
        expect([p.id for p in found.value] == [package.id], f"filtered: {found.value}")
        extra = [(await em.access_packages.post(AccessPackage(
            display_name=f"signed-in page {i}", catalog=AccessPackageCatalog(id=catalog.id)))).id for i in range(5)]
        set_page_size(2)
        try:
            first = await em.access_packages.get()
            expect(first.odata_next_link and first.odata_next_link.startswith(HTTPS),
                   f"https nextLink: {first.odata_next_link}")
            seen = []
            await PageIterator(first, graph.request_adapter).iterate(lambda item: seen.append(item.id) or True)
            expect(set(extra + [package.id]) <= set(seen) and len(seen) == len(set(seen)),
                   f"PageIterator reached every package once: {len(seen)}")
        finally:
            set_page_size(100)
        for pid in extra + [package.id]:
            await em.access_packages.by_access_package_id(pid).delete()
        err = await expect_odata_error(em.access_packages.by_access_package_id(package.id).get(), 404,
                                       "ResourceNotFound")
        expect(err.error.message == "The resource was not found.", err.error.message)
        await em.catalogs.by_access_package_catalog_id(catalog.id).delete()

    # An app with only EntitlementManagement.Read.All may read, not write.
    async with secret_credential(REPORTER, REPORTER_SECRET) as credential:
        em = graph_client(msgraph, "v1.0", credential).identity_governance.entitlement_management
        catalogs = await em.catalogs.get()
        expect(any(c.id == GENERAL for c in catalogs.value), "reader lists catalogs")
        err = await expect_odata_error(em.catalogs.post(AccessPackageCatalog(display_name="nope")), 403,
                                       "UnAuthorized")
        expect(err.error.message.startswith("User is not authorized"), err.error.message)


async def beta_scenario_with_client_secret():
    import msgraph_beta
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph_beta.generated.identity_governance.entitlement_management.access_packages.access_packages_request_builder import AccessPackagesRequestBuilder
    from msgraph_beta.generated.models.access_package import AccessPackage

    async with secret_credential(AUTOMATION, AUTOMATION_SECRET) as credential:
        em = graph_client(msgraph_beta, "beta", credential).identity_governance.entitlement_management
        package = await em.access_packages.post(
            AccessPackage(display_name="signed-in beta", description="https", catalog_id=GENERAL))
        expect(package.is_role_scopes_visible is False and package.created_by == "Provisioning Automation",
               f"beta defaults: {package}")
        query = AccessPackagesRequestBuilder.AccessPackagesRequestBuilderGetQueryParameters(
            filter=f"catalogId eq '{GENERAL}' and displayName eq 'signed-in beta'")
        found = await em.access_packages.get(RequestConfiguration(query_parameters=query))
        expect([p.id for p in found.value] == [package.id], f"beta filter: {found.value}")
        await em.access_packages.by_access_package_id(package.id).delete()
        await expect_odata_error(em.access_packages.by_access_package_id(package.id).get(), 404, "ResourceNotFound")


async def wrong_secret_is_refused():
    from azure.core.exceptions import ClientAuthenticationError
    async with secret_credential(AUTOMATION, "not-the-secret") as credential:
        try:
            await credential.get_token(*SCOPES)
        except ClientAuthenticationError as err:
            expect("AADSTS7000215" in str(err), f"Entra's code in the error: {err}")
            return
    raise AssertionError("a wrong secret got a token")


def graph_get(token, path):
    req = urllib.request.Request(f"{HTTPS}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as resp:
        return resp.status, json.load(resp)


async def msal_certificate():
    import msal
    with open(os.path.join(HERE, "certs", "provisioning-automation-key.pem")) as f:
        key = f.read()
    with open(os.path.join(HERE, "certs", "provisioning-automation.pem")) as f:
        cert = f.read()
    app = msal.ConfidentialClientApplication(
        AUTOMATION, authority=f"{HTTPS}/{TENANT}", instance_discovery=False,
        client_credential={"private_key": key, "public_certificate": cert})
    result = app.acquire_token_for_client(scopes=SCOPES)
    expect("access_token" in result, f"token: {result}")
    status, body = graph_get(result["access_token"], "/v1.0/identityGovernance/entitlementManagement/catalogs")
    expect(status == 200 and any(c["id"] == GENERAL for c in body["value"]), f"catalogs: {status}")


async def msal_password_and_refresh():
    import msal
    # MSAL asks https://<host>/common/userrealm/... on port 443 whatever the authority's port
    # (it keeps only the host name). The emulator answers that route, but not on 443 here, so
    # tell MSAL the realm is managed, as docs/CLIENTS.md shows.
    msal.authority.Authority._domains_without_user_realm_discovery.add(HTTPS.split("://")[1].split(":")[0])
    app = msal.PublicClientApplication(PUBLIC_CLIENT, authority=f"{HTTPS}/organizations", instance_discovery=False)
    result = app.acquire_token_by_username_password(ADMIN, PASSWORD, scopes=SCOPES)
    expect("access_token" in result, f"password sign-in: {result}")
    accounts = app.get_accounts(username=ADMIN)
    expect(len(accounts) == 1, f"the signed-in account is cached: {accounts}")
    silent = app.acquire_token_silent(SCOPES, account=accounts[0], force_refresh=True)
    expect(silent and "access_token" in silent and silent.get("token_source") == "identity_provider",
           f"refreshed through the token endpoint: {silent}")
    status, body = graph_get(silent["access_token"], "/v1.0/identityGovernance/entitlementManagement/catalogs")
    expect(status == 200, f"refreshed token works: {status} {body}")
    wrong = app.acquire_token_by_username_password(ADMIN, "wrong", scopes=SCOPES)
    expect(wrong.get("error") == "invalid_grant" and 50126 in wrong.get("error_codes", []), f"wrong password: {wrong}")


async def main():
    await check("v1.0 scenario signed in with azure-identity ClientSecretCredential over https (msgraph-sdk)",
                v1_scenario_with_client_secret())
    await check("beta scenario signed in with ClientSecretCredential over https (msgraph-beta-sdk)",
                beta_scenario_with_client_secret())
    await check("a wrong client secret surfaces AADSTS7000215 (azure-identity)", wrong_secret_is_refused())
    await check("client credentials with a certificate assertion (msal)", msal_certificate())
    await check("password sign-in and silent refresh (msal)", msal_password_and_refresh())
    failed = sum(1 for _, e in RESULTS if e is not None)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
