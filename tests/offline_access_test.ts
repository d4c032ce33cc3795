/**
 * Unadvertised `offline_access` (issue 7 item 3): ignored when it is not a
 * configured scope (MCP 2026-07-28 leaves it to the server; refresh tokens are
 * issued to every client registered for refresh_token anyway), and never
 * listed in protected-resource metadata or challenges.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  REDIRECT,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

/** Register, authorize with `scope` and redeem the code (support/flow.ts `tokensFor`). */
async function exchange(s: TestServer, scope: string) {
  const { client_id, ...body } = await tokensFor(s, { scope });
  return { client: { client_id }, body };
}

test("scope=mcp:read offline_access → token scope mcp:read and a refresh token", async () => {
  const s = await testServer();
  const { body } = await exchange(s, "mcp:read offline_access");
  assert.equal(body.scope, "mcp:read");
  assert.equal(typeof body.refresh_token, "string");
  const granted = s.events.find((e) => e.type === "authorization.granted");
  assert.deepEqual(granted?.scopes, ["mcp:read"]);
});

test("offline_access alone → the default scopes", async () => {
  const s = await testServer({ defaultScopes: ["mcp:read", "mcp:write"] });
  const { body } = await exchange(s, "offline_access");
  assert.equal(body.scope, "mcp:read mcp:write");
  assert.equal(typeof body.refresh_token, "string");
});

test("offline_access on a refresh request is ignored too; wider scopes are still refused", async () => {
  const s = await testServer();
  const { client, body } = await exchange(s, "mcp:read mcp:write offline_access");
  const r = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: body.refresh_token,
    client_id: client.client_id,
    scope: "mcp:read offline_access",
  });
  assert.equal(r.status, 200, await r.clone().text());
  const t = await r.json();
  assert.equal(t.scope, "mcp:read");
  const wider = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: t.refresh_token,
    client_id: client.client_id,
    scope: "mcp:admin offline_access",
  });
  assert.equal(wider.status, 400);
  assert.equal((await wider.json()).error, "invalid_scope");
});

test("an unknown scope next to offline_access is still invalid_scope (only offline_access is tolerated)", async () => {
  const s = await testServer();
  const client = await register(s);
  const q = new URLSearchParams({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
    scope: "mcp:read offline_access mcp:root",
    resource: RESOURCE,
  });
  const res = await s.call("/authorize?" + q);
  // A self-registered client's errors are a page linking to its redirect URI (no open redirector).
  assert.equal(res.status, 400);
  const href = /<a [^>]*href="([^"]*)"/.exec(await res.text())?.[1];
  assert.ok(href);
  const loc = new URL(href.replaceAll("&amp;", "&"));
  assert.equal(loc.searchParams.get("error"), "invalid_scope");
  assert.match(loc.searchParams.get("error_description")!, /mcp:root/);
});

test("when offline_access IS configured it is a real scope: granted and kept", async () => {
  const s = await testServer({
    scopes: ["mcp:read", "offline_access"],
    resources: [{ resource: RESOURCE, scopes: ["mcp:read", "offline_access"] }],
  });
  const { body } = await exchange(s, "mcp:read offline_access");
  assert.equal(body.scope, "mcp:read offline_access");
  // …but never advertised to clients (MCP 2026: SHOULD NOT list it).
  const prm = await (await s.call("/.well-known/oauth-protected-resource/mcp")).json();
  assert.deepEqual(prm.scopes_supported, ["mcp:read"]);
  const challenge = await s.auth.verify(new Request(RESOURCE));
  assert.equal(challenge.ok, false);
  const header = !challenge.ok ? challenge.response.headers.get("www-authenticate") ?? "" : "";
  assert.match(header, /scope="mcp:read"/);
  assert.doesNotMatch(header, /offline_access/);
  // A refresh token is issued either way.
  assert.equal(typeof body.refresh_token, "string");
  const r = await refreshWith(
    s,
    body.refresh_token,
    (await s.auth.admin.listClients())[0].client_id as string,
  );
  assert.equal(r.status, 200);
});
