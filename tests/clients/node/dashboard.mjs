// The control API's read-only page (/_emulator/) in a real headless Chromium (Debian's
// /usr/bin/chromium, installed by .ci/run): it must list the tenant's catalogs and packages,
// a request made through Graph, its assignment, the journal entry and the outbox notice, all
// rendered as text, and work with an admin token passed in the URL fragment.
// Usage: EMULATOR_URL=http://127.0.0.1:PORT node dashboard.mjs
// Prints one line per check, then 'N passed, M failed'.

import { chromium } from "playwright-core";

const BASE = process.env.EMULATOR_URL.replace(/\/$/, "");
const EM = "/v1.0/identityGovernance/entitlementManagement";
const results = [];

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

async function control(method, path, body) {
  const resp = await fetch(`${BASE}/_emulator${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  expect(resp.ok, `${method} /_emulator${path}: ${resp.status}`);
  return resp.json();
}

// A tenant of its own, so the other suites' traffic does not matter.
const tenant = (await control("POST", "/tenants", {})).id;

async function token() {
  return (await control("POST", "/tokens", { as: "admin@contoso.onmicrosoft.com", tenant })).access_token;
}

async function graph(method, path, body) {
  const resp = await fetch(`${BASE}${EM}${path}`, {
    method,
    headers: { authorization: `Bearer ${await token()}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  expect(resp.ok, `${method} ${path}: ${resp.status} ${await resp.clone().text()}`);
  return resp.json();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic"],
});

async function check(name, fn) {
  try {
    await fn();
    results.push([name, null]);
    console.log(`ok   ${name}`);
  } catch (err) {
    results.push([name, err]);
    console.log(`FAIL ${name}: ${err?.message ?? err}`);
  }
}

await check("the dashboard shows catalogs, packages, requests, assignments, journal and outbox", async () => {
  const marker = `<b>dashboard ${Date.now()}</b>`;
  await graph("POST", "/catalogs", { displayName: marker, description: "rendered as text" });
  const request = await graph("POST", "/assignmentRequests", {
    requestType: "adminAdd",
    assignment: {
      accessPackageId: "60000000-0000-4000-8000-000000000001",
      targetId: "20000000-0000-4000-8000-000000000005",
      assignmentPolicyId: "90000000-0000-4000-8000-000000000001",
    },
  });
  await graph("GET", `/assignmentRequests/${request.id}`);
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${BASE}/_emulator/#tenant=${tenant}`);
  await page.waitForSelector("body[data-loaded=true]", { timeout: 10000 });
  const text = (id) => page.locator(`#${id}`).innerText();
  expect((await text("catalogs")).includes(marker), "the new catalog is listed, its name as text");
  expect((await page.locator("#catalogs b").count()) === 0, "no markup was injected");
  expect((await text("packages")).includes("Marketing Campaign"), "packages listed");
  expect((await text("requests")).includes(request.id), "the request is listed");
  const assignments = await text("assignments");
  expect(assignments.includes("60000000-0000-4000-8000-000000000001") && assignments.includes("Delivered"),
    `its assignment is listed: ${assignments}`);
  expect((await page.locator("#tenant").inputValue()) === tenant, "the linked tenant is shown");
  expect((await text("journal")).includes(`${EM}/assignmentRequests`), "the journal shows the call");
  expect((await text("outbox")).includes("assignmentDelivered"), "the outbox shows the notice");
  expect((await page.locator("#tenant option").count()) >= 1, "tenants offered");
  expect(errors.length === 0, `page errors: ${errors.join("; ")}`);
  await page.close();
});

await browser.close();
const failed = results.filter(([, e]) => e).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
