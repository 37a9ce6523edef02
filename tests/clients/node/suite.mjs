// Drive the emulator over https with the pinned Node Graph clients, signed in through
// @azure/identity's ClientSecretCredential against the emulator's authority:
//   - @microsoft/msgraph-sdk (Kiota TS): the identityGovernance package is not published, so the
//     requests are built as the generated builders would and sent through GraphRequestAdapter,
//     with the SDK's models and error mapping (@microsoft/msgraph-sdk-identitygovernance is not
//     published on npm; docs/CLIENTS.md);
//   - @microsoft/microsoft-graph-client (classic), which sends Authorization only over https to a
//     custom host (its AuthenticationHandler acts only on https Graph or customHosts URLs;
//     docs/CLIENTS.md).
// Usage: EMULATOR_HTTPS=https://127.0.0.1:PORT EMULATOR_URL=http://127.0.0.1:PORT \
//        NODE_EXTRA_CA_CERTS=<bundle> node suite.mjs
// Prints one line per check, then 'N passed, M failed'; each failure prints the exchange.

import { ClientSecretCredential } from "@azure/identity";
import { HttpMethod, RequestInformation } from "@microsoft/kiota-abstractions";
import { AzureIdentityAuthenticationProvider } from "@microsoft/kiota-authentication-azure";
import graphClient from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";
import { GraphRequestAdapter } from "@microsoft/msgraph-sdk";
import { PageIterator } from "@microsoft/msgraph-sdk-core";
import {
  createAccessPackageCatalogFromDiscriminatorValue,
  createAccessPackageCollectionResponseFromDiscriminatorValue,
  createAccessPackageFromDiscriminatorValue,
  serializeAccessPackage,
  serializeAccessPackageCatalog,
} from "@microsoft/msgraph-sdk/models/index.js";
import { createODataErrorFromDiscriminatorValue } from "@microsoft/msgraph-sdk/models/oDataErrors/index.js";

const { Client, PageIterator: ClassicPageIterator } = graphClient;
const HTTPS = process.env.EMULATOR_HTTPS.replace(/\/$/, "");
const HTTP = process.env.EMULATOR_URL.replace(/\/$/, "");
const HOST = new URL(HTTPS).hostname;
const TENANT = "10000000-0000-4000-8000-000000000000";
const AUTOMATION = ["41000000-0000-4000-8000-000000000001", "provisioning-automation-secret"];
const REPORTER = ["41000000-0000-4000-8000-000000000003", "access-reporter-secret"];
const SCOPES = ["https://graph.microsoft.com/.default"];
const EM = "/identityGovernance/entitlementManagement";
const ERRORS = { XXX: createODataErrorFromDiscriminatorValue };
const results = [];

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

async function check(name, fn) {
  try {
    await fn();
    results.push([name, null]);
    console.log(`ok   ${name}`);
  } catch (err) {
    results.push([name, err]);
    console.log(`FAIL ${name}: ${err?.message ?? err}`);
    // The exchange that broke, as the client saw it.
    const seen = {
      status: err?.responseStatusCode ?? err?.statusCode,
      error: err?.errorEscaped ?? err?.body,
      headers: err?.responseHeaders,
    };
    console.log(`     exchange: ${JSON.stringify(seen)}`);
    if (err?.stack) console.log(err.stack);
  }
}

async function setPageSize(n) {
  const resp = await fetch(`${HTTP}/_emulator/settings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ pageSize: n }),
  });
  expect(resp.ok, `page size: ${resp.status}`);
}

function credential([clientId, secret]) {
  return new ClientSecretCredential(TENANT, clientId, secret, {
    authorityHost: HTTPS,
    disableInstanceDiscovery: true,
  });
}

function kiotaAdapter(creds) {
  const auth = new AzureIdentityAuthenticationProvider(credential(creds), SCOPES, undefined, new Set([HOST]));
  const adapter = new GraphRequestAdapter(auth);
  adapter.baseUrl = `${HTTPS}/v1.0`;
  return adapter;
}

/** A request built as the generated identityGovernance builders would build it. */
function request(method, path, query) {
  const info = new RequestInformation(method, `{+baseurl}${EM}${path}{?%24filter,%24top}`);
  info.pathParameters.baseurl = undefined;
  // The generated builders map `filter` to the template's `%24filter` the same way.
  for (const [name, value] of Object.entries(query ?? {})) info.queryParameters[`%24${name}`] = value;
  info.headers.tryAdd("Accept", "application/json");
  return info;
}

function withBody(info, adapter, serializer, body) {
  info.setContentFromParsable(adapter, "application/json", body, serializer);
  return info;
}

async function expectError(promise, status, code) {
  try {
    await promise;
  } catch (err) {
    const got = err?.errorEscaped?.code ?? err?.code;
    const gotStatus = err?.responseStatusCode ?? err?.statusCode;
    expect(gotStatus === status && got === code, `expected ${status} ${code}, got ${gotStatus} ${got}`);
    return err;
  }
  throw new Error(`expected ${status} ${code}, the call succeeded`);
}

async function kiotaScenario() {
  const adapter = kiotaAdapter(AUTOMATION);
  const send = (info, factory) => adapter.send(info, factory, ERRORS);
  const catalog = await send(
    withBody(request(HttpMethod.POST, "/catalogs"), adapter, serializeAccessPackageCatalog, {
      displayName: "kiota-ts catalog",
      description: "https",
    }),
    createAccessPackageCatalogFromDiscriminatorValue,
  );
  expect(catalog?.id && catalog.state === "published", `catalog: ${JSON.stringify(catalog)}`);
  const created = [];
  for (let i = 0; i < 5; i++) {
    const p = await send(
      withBody(request(HttpMethod.POST, "/accessPackages"), adapter, serializeAccessPackage, {
        displayName: `kiota-ts package ${i}`,
        description: "https",
        catalog: { id: catalog.id },
      }),
      createAccessPackageFromDiscriminatorValue,
    );
    expect(p?.id && p.isHidden === false, `package defaults: ${JSON.stringify(p)}`);
    created.push(p.id);
  }
  const read = await send(request(HttpMethod.GET, `/accessPackages/${created[0]}`), createAccessPackageFromDiscriminatorValue);
  expect(read.displayName === "kiota-ts package 0", `read back: ${read.displayName}`);
  const filtered = await send(
    request(HttpMethod.GET, "/accessPackages", { filter: "displayName eq 'kiota-ts package 3'" }),
    createAccessPackageCollectionResponseFromDiscriminatorValue,
  );
  expect(filtered.value.length === 1 && filtered.value[0].id === created[3], `filter: ${filtered.value.length}`);
  await setPageSize(2);
  try {
    const first = await send(request(HttpMethod.GET, "/accessPackages"), createAccessPackageCollectionResponseFromDiscriminatorValue);
    expect(first.odataNextLink?.startsWith(HTTPS), `https nextLink: ${first.odataNextLink}`);
    const seen = [];
    const iterator = new PageIterator(
      adapter,
      first,
      (item) => {
        seen.push(item.id);
        return true;
      },
      createAccessPackageCollectionResponseFromDiscriminatorValue,
      ERRORS,
    );
    await iterator.iterate();
    expect(created.every((id) => seen.includes(id)) && new Set(seen).size === seen.length, `PageIterator saw ${seen.length}`);
  } finally {
    await setPageSize(100);
  }
  for (const id of created) await adapter.sendNoResponseContent(request(HttpMethod.DELETE, `/accessPackages/${id}`), ERRORS);
  const gone = await expectError(
    send(request(HttpMethod.GET, `/accessPackages/${created[0]}`), createAccessPackageFromDiscriminatorValue),
    404,
    "ResourceNotFound",
  );
  expect(gone.errorEscaped.message === "The resource was not found.", gone.errorEscaped.message);
  await adapter.sendNoResponseContent(request(HttpMethod.DELETE, `/catalogs/${catalog.id}`), ERRORS);

  const reader = kiotaAdapter(REPORTER);
  const denied = await expectError(
    reader.send(
      withBody(request(HttpMethod.POST, "/catalogs"), reader, serializeAccessPackageCatalog, { displayName: "nope" }),
      createAccessPackageCatalogFromDiscriminatorValue,
      ERRORS,
    ),
    403,
    "UnAuthorized",
  );
  expect(denied.errorEscaped.message.startsWith("User is not authorized"), denied.errorEscaped.message);
}

function classicClient(creds) {
  return Client.initWithMiddleware({
    baseUrl: HTTPS,
    defaultVersion: "v1.0",
    customHosts: new Set([HOST]),
    authProvider: new TokenCredentialAuthenticationProvider(credential(creds), { scopes: SCOPES }),
  });
}

async function classicScenario() {
  const client = classicClient(AUTOMATION);
  const catalog = await client.api(`${EM}/catalogs`).post({ displayName: "classic catalog", description: "https" });
  const created = [];
  for (let i = 0; i < 5; i++) {
    const p = await client
      .api(`${EM}/accessPackages`)
      .post({ displayName: `classic package ${i}`, description: "https", catalog: { id: catalog.id } });
    created.push(p.id);
  }
  const read = await client.api(`${EM}/accessPackages/${created[1]}`).get();
  expect(read.displayName === "classic package 1" && read.isHidden === false, `read back: ${JSON.stringify(read)}`);
  const filtered = await client.api(`${EM}/accessPackages`).filter("displayName eq 'classic package 4'").get();
  expect(filtered.value.length === 1 && filtered.value[0].id === created[4], `filter: ${filtered.value.length}`);
  await setPageSize(2);
  try {
    const first = await client.api(`${EM}/accessPackages`).get();
    const seen = [];
    await new ClassicPageIterator(client, first, (item) => {
      seen.push(item.id);
      return true;
    }).iterate();
    expect(created.every((id) => seen.includes(id)) && new Set(seen).size === seen.length, `PageIterator saw ${seen.length}`);
  } finally {
    await setPageSize(100);
  }
  for (const id of created) await client.api(`${EM}/accessPackages/${id}`).delete();
  const gone = await expectError(client.api(`${EM}/accessPackages/${created[0]}`).get(), 404, "ResourceNotFound");
  expect(gone.message === "The resource was not found." && gone.requestId, `GraphError: ${gone.message} ${gone.requestId}`);
  await client.api(`${EM}/catalogs/${catalog.id}`).delete();
  const denied = await expectError(
    classicClient(REPORTER).api(`${EM}/catalogs`).post({ displayName: "nope" }),
    403,
    "UnAuthorized",
  );
  expect(denied.message.startsWith("User is not authorized"), denied.message);
}

async function wrongSecret() {
  try {
    await credential([AUTOMATION[0], "not-the-secret"]).getToken(SCOPES);
  } catch (err) {
    expect(String(err?.message).includes("AADSTS7000215"), `Entra's code in the error: ${err?.message}`);
    return;
  }
  throw new Error("a wrong secret got a token");
}

await check("v1.0 scenario signed in with @azure/identity over https (@microsoft/msgraph-sdk, Kiota TS)", kiotaScenario);
await check("v1.0 scenario signed in with @azure/identity over https (@microsoft/microsoft-graph-client)", classicScenario);
await check("a wrong client secret surfaces AADSTS7000215 (@azure/identity)", wrongSecret);
const failed = results.filter(([, e]) => e).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
