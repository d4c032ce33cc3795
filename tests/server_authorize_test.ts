import { test } from "node:test";
import assert from "node:assert/strict";
import {
  authorize,
  authorizeQuery,
  consentFields,
  ISSUER,
  pkce,
  REDIRECT,
  register,
  RESOURCE,
  testServer,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

const RESOURCE_B = "https://files.example.com/mcp";

async function setup(overrides = {}) {
  const s = await testServer(overrides);
  const client = await register(s);
  const { challenge } = await pkce();
  const params = (extra: Record<string, string | undefined> = {}) =>
    authorizeQuery({
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: "S256",
      state: "st-9",
      ...extra,
    });
  return { s, client, challenge, params };
}

/** An HTML error page: status, no redirect, security headers. */
async function expectErrorPage(res: Response, status: number): Promise<string> {
  const body = await res.text();
  assert.equal(res.status, status, body);
  assert.equal(res.headers.get("location"), null, "must not redirect");
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.doesNotMatch(body, /\n\s+at \S/);
  return body;
}

/**
 * The error for a self-registered client before the user acted (RFC 9700 §4.11.2): an HTML
 * 400 page, never a redirect, with one plain link whose text is the client's host and whose
 * target is the RFC 6749 §4.1.2.1 error response (error, state, iss).
 */
async function expectLinkedErrorPage(
  res: Response,
  error: string,
  state: string | null = "st-9",
): Promise<URL> {
  const body = await expectErrorPage(res, 400);
  const links = [...body.matchAll(/<a [^>]*href="([^"]*)"[^>]*>([^<]*)<\/a>/g)];
  assert.equal(links.length, 1, body);
  const loc = new URL(links[0][1].replaceAll("&amp;", "&"));
  assert.equal(links[0][2], "127.0.0.1 (this computer)", "the link shows the destination host");
  assert.equal(loc.origin + loc.pathname, new URL(REDIRECT).origin + new URL(REDIRECT).pathname);
  assert.equal(loc.searchParams.get("error"), error, loc.href);
  assert.equal(typeof loc.searchParams.get("error_description"), "string");
  assert.equal(loc.searchParams.get("state"), state);
  assert.equal(loc.searchParams.get("iss"), ISSUER);
  assert.equal(loc.searchParams.get("code"), null);
  return loc;
}

test("unknown client, missing client_id, unregistered redirect_uri → HTML 400, not a redirect", async () => {
  const { s, params } = await setup();
  await expectErrorPage(await s.call(params({ client_id: "no-such-client" })), 400);
  await expectErrorPage(await s.call(params({ client_id: undefined })), 400);
  await expectErrorPage(await s.call(params({ client_id: "" })), 400);
  await expectErrorPage(
    await s.call(params({ redirect_uri: "https://evil.example.com/cb" })),
    400,
  );
  await expectErrorPage(
    await s.call(params({ redirect_uri: "http://127.0.0.1:33418/other" })),
    400,
  );
  await expectErrorPage(
    await s.call(params({ redirect_uri: "http://localhost:33418/callback" })),
    400,
  );
  await expectErrorPage(
    await s.call(params({ redirect_uri: REDIRECT + "#x" })),
    400,
  );
  await expectErrorPage(await s.call(params({ redirect_uri: REDIRECT + "?x=1" })), 400);
  // Even an otherwise invalid request never redirects to an unregistered URI.
  await expectErrorPage(
    await s.call(params({ redirect_uri: "https://evil.example.com/cb", response_type: "token" })),
    400,
  );
});

test("redirect_uri may be omitted only when exactly one is registered", async () => {
  const s = await testServer();
  const two = await register(s, { redirect_uris: [REDIRECT, "https://app.example.com/cb"] });
  const { challenge } = await pkce();
  const q = {
    response_type: "code",
    client_id: two.client_id,
    code_challenge: challenge,
    code_challenge_method: "S256",
  };
  await expectErrorPage(await s.call(authorizeQuery(q)), 400);
  const one = await register(s);
  const ok = await s.call(authorizeQuery({ ...q, client_id: one.client_id }));
  assert.equal(ok.status, 200);
});

test("loopback redirect with another port matches (RFC 8252 §7.3); non-loopback port does not", async () => {
  const s = await testServer();
  const c = await register(s, {
    redirect_uris: [REDIRECT, "https://app.example.com/cb", "http://[::1]:1/cb"],
  });
  const { challenge } = await pkce();
  const loc = await authorize(s, c.client_id, {
    challenge,
    redirectUri: "http://127.0.0.1:51234/callback",
  });
  assert.equal(loc.host, "127.0.0.1:51234");
  assert.ok(loc.searchParams.get("code"));
  const v6 = await authorize(s, c.client_id, { challenge, redirectUri: "http://[::1]:9999/cb" });
  assert.equal(v6.host, "[::1]:9999");
  const q = (redirect_uri: string) =>
    authorizeQuery({
      response_type: "code",
      client_id: c.client_id,
      redirect_uri,
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
  await expectErrorPage(await s.call(q("https://app.example.com:8443/cb")), 400);
  await expectErrorPage(await s.call(q("https://app.example.com/cb2")), 400);
  // Loopback matching is by host and path; userinfo is refused.
  await expectErrorPage(await s.call(q("http://u:p@127.0.0.1:4000/callback")), 400);
  await expectErrorPage(await s.call(q("https://127.0.0.1:33418/callback")), 400);
});

test("response_type missing or other → error page linking to the client (error, state, iss)", async () => {
  const { s, params } = await setup();
  await expectLinkedErrorPage(
    await s.call(params({ response_type: undefined })),
    "invalid_request",
  );
  await expectLinkedErrorPage(
    await s.call(params({ response_type: "token" })),
    "unsupported_response_type",
  );
  await expectLinkedErrorPage(
    await s.call(params({ response_type: "code id_token" })),
    "unsupported_response_type",
  );
  // Without state, the redirect simply has none.
  await expectLinkedErrorPage(
    await s.call(params({ response_type: "token", state: undefined })),
    "unsupported_response_type",
    null,
  );
});

test("PKCE: missing, plain, unknown method, malformed challenge → invalid_request (page, no redirect)", async () => {
  const { s, params, challenge } = await setup();
  await expectLinkedErrorPage(
    await s.call(params({ code_challenge: undefined })),
    "invalid_request",
  );
  await expectLinkedErrorPage(
    await s.call(params({ code_challenge_method: undefined })),
    "invalid_request",
  );
  await expectLinkedErrorPage(
    await s.call(params({ code_challenge_method: "plain" })),
    "invalid_request",
  );
  await expectLinkedErrorPage(
    await s.call(params({ code_challenge_method: "s256" })),
    "invalid_request",
  );
  await expectLinkedErrorPage(
    await s.call(params({ code_challenge: challenge.slice(0, 42) })),
    "invalid_request",
  );
  await expectLinkedErrorPage(
    await s.call(params({ code_challenge: challenge.slice(0, 42) + "=" })),
    "invalid_request",
  );
  await expectLinkedErrorPage(
    await s.call(params({ code_challenge: challenge + "A" })),
    "invalid_request",
  );
});

test("resource: unknown → invalid_target; absent with one resource → defaulted", async () => {
  const { s, params, client } = await setup();
  await expectLinkedErrorPage(
    await s.call(params({ resource: "https://other.example.com/mcp" })),
    "invalid_target",
  );
  await expectLinkedErrorPage(await s.call(params({ resource: "not a url" })), "invalid_target");
  // RFC 8707 §2: a resource with a fragment is invalid, even if it is otherwise known.
  await expectLinkedErrorPage(
    await s.call(params({ resource: RESOURCE + "#frag" })),
    "invalid_target",
  );
  const twice = params({}) + "&resource=" + encodeURIComponent(RESOURCE) + "&resource=" +
    encodeURIComponent(RESOURCE);
  await expectLinkedErrorPage(await s.call(twice), "invalid_target");
  const page = await s.call(params({}));
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.ok(html.includes(RESOURCE));
  const res = await s.form("/authorize", { ...consentFields(html), decision: "approve" });
  assert.equal(res.status, 302);
  const grants = await s.auth.admin.listGrants({ clientId: client.client_id });
  assert.deepEqual(grants[0].resources, [RESOURCE]);
});

test("two resources configured and resource absent → invalid_target; each can be named", async () => {
  const { s, params } = await setup({
    resources: [{ resource: RESOURCE, name: "Notes" }, { resource: RESOURCE_B, name: "Files" }],
  });
  await expectLinkedErrorPage(await s.call(params({})), "invalid_target");
  const a = await s.call(params({ resource: RESOURCE_B }));
  assert.equal(a.status, 200);
  assert.ok((await a.text()).includes("Files"));
});

test("scope outside the resource's scopes → invalid_scope", async () => {
  const { s, params } = await setup({
    resources: [{ resource: RESOURCE, scopes: ["mcp:read"] }],
  });
  await expectLinkedErrorPage(await s.call(params({ scope: "mcp:write" })), "invalid_scope");
  await expectLinkedErrorPage(await s.call(params({ scope: "mcp:read unknown" })), "invalid_scope");
  // Unconfigured offline_access is ignored (offline_access_test.ts), never invalid_scope.
  assert.equal((await s.call(params({ scope: "offline_access" }))).status, 200);
  assert.equal((await s.call(params({ scope: "mcp:read" }))).status, 200);
});

test("client registered with a scope: step-up within the resource's scopes, nothing beyond", async () => {
  // Since 51849b1 a client's registered `scope` is deliberately not a ceiling (MCP step-up).
  const s = await testServer({
    resources: [{ resource: RESOURCE, scopes: ["mcp:read", "mcp:write"] }],
  });
  const c = await register(s, { scope: "mcp:read" });
  const { challenge } = await pkce();
  const q = (scope?: string) =>
    authorizeQuery({
      response_type: "code",
      client_id: c.client_id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: "S256",
      scope,
      state: "st-9",
    });
  await expectLinkedErrorPage(await s.call(q("mcp:read mcp:admin")), "invalid_scope");
  await expectLinkedErrorPage(await s.call(q("mcp:admin")), "invalid_scope");
  const page = await s.call(q("mcp:read mcp:write"));
  assert.equal(page.status, 200);
  assert.ok((await page.text()).includes("mcp:write"));
});

test("defaultScopes outside what the resource offers → invalid_scope", async () => {
  const s = await testServer({
    defaultScopes: ["mcp:admin"],
    resources: [{ resource: RESOURCE, scopes: ["mcp:read"] }],
  });
  const c = await register(s);
  const { challenge } = await pkce();
  const res = await s.call(authorizeQuery({
    response_type: "code",
    client_id: c.client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "st-9",
  }));
  await expectLinkedErrorPage(res, "invalid_scope");
});

test("authenticate hook returning a Response is passed through; a throwing hook → error page", async () => {
  const login = new Response("please sign in", {
    status: 302,
    headers: { location: "/login?next=x", "x-app": "1" },
  });
  const { s, params } = await setup({ authenticate: () => login });
  const res = await s.call(params({}));
  assert.equal(res.status, 302);
  assert.equal(res.headers.get("location"), "/login?next=x");
  assert.equal(res.headers.get("x-app"), "1");

  const t = await setup({
    authenticate: () => {
      throw new Error("db down: secret-connection-string");
    },
  });
  const page = await expectErrorPage(await t.s.call(t.params({})), 500);
  assert.ok(!page.includes("secret-connection-string"));
  assert.ok(!page.includes("db down"));
  const r = await setup({ authenticate: () => Promise.reject(new TypeError("boom")) });
  const rp = await expectErrorPage(await r.s.call(r.params({})), 500);
  assert.ok(!rp.includes("TypeError"));
  assert.ok(!rp.includes('"error"'), "not a JSON error");
  // A hook that yields no subject → access_denied, as a page (the user has not acted yet).
  const none = await setup({ authenticate: () => "" });
  await expectLinkedErrorPage(await none.s.call(none.params({})), "access_denied");
});

test("consent page: client name, redirect host, scopes, resource; CSP + X-Frame-Options; XSS escaped", async () => {
  const s = await testServer();
  const xss = `<script>alert("x")</script><img src=x onerror=alert(1)>`;
  const c = await register(s, {
    client_name: xss,
    redirect_uris: ["https://app.example.com/cb"],
  });
  const { challenge } = await pkce();
  const res = await s.call(authorizeQuery({
    response_type: "code",
    client_id: c.client_id,
    redirect_uri: "https://app.example.com/cb",
    code_challenge: challenge,
    code_challenge_method: "S256",
    scope: "mcp:read mcp:write",
  }));
  assert.equal(res.status, 200);
  const csp = res.headers.get("content-security-policy") ?? "";
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.equal(res.headers.get("cache-control"), "no-store");
  const html = await res.text();
  assert.ok(!html.includes("<script>"), "client_name is escaped");
  assert.ok(!html.includes("<img src=x"), "client_name is escaped");
  assert.ok(html.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
  assert.ok(html.includes("app.example.com"));
  assert.ok(html.includes("mcp:read") && html.includes("mcp:write"));
  assert.ok(html.includes(RESOURCE));
  assert.ok(html.includes("Notes MCP"));
  assert.ok(html.includes("alice"));
});

async function consent(s: TestServer, clientId: string, state = "st-9") {
  const { challenge } = await pkce();
  const page = await s.call(authorizeQuery({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
  }));
  assert.equal(page.status, 200);
  return consentFields(await page.text());
}

test("consent POST: wrong csrf → 403; reused consent_id → 400", async () => {
  const { s, client } = await setup();
  const f = await consent(s, client.client_id);
  const bad = await s.form("/authorize", { ...f, csrf: "x".repeat(43), decision: "approve" });
  await expectErrorPage(bad, 403);
  assert.ok(!s.events.some((e) => e.type === "authorization.granted"));

  const g = await consent(s, client.client_id);
  const ok = await s.form("/authorize", { ...g, decision: "approve" });
  assert.equal(ok.status, 302);
  const again = await s.form("/authorize", { ...g, decision: "approve" });
  await expectErrorPage(again, 400);
  const unknown = await s.form("/authorize", {
    consent_id: "nope",
    csrf: g.csrf,
    decision: "approve",
  });
  await expectErrorPage(unknown, 400);
  // Incomplete form or bad decision.
  const h = await consent(s, client.client_id);
  await expectErrorPage(await s.form("/authorize", { ...h, decision: "maybe" }), 400);
  await expectErrorPage(await s.form("/authorize", { consent_id: h.consent_id }), 400);
  await expectErrorPage(
    await s.call("/authorize", { method: "POST", body: "consent_id=1", headers: {} }),
    400,
  );
  // The pending request was not consumed by the malformed submissions.
  assert.equal((await s.form("/authorize", { ...h, decision: "approve" })).status, 302);
  assert.equal(s.events.filter((e) => e.type === "authorization.granted").length, 2);
});

test("consent POST by a different signed-in subject → 403", async () => {
  let user = "alice";
  const { s, client } = await setup({ authenticate: () => user });
  const f = await consent(s, client.client_id);
  user = "mallory";
  const res = await s.form("/authorize", { ...f, decision: "approve" });
  await expectErrorPage(res, 403);
  assert.equal((await s.auth.admin.listGrants()).length, 0);
});

test("consent POST where the user is no longer signed in → 403", async () => {
  let user: string | Response = "alice";
  const { s, client } = await setup({ authenticate: () => user });
  const f = await consent(s, client.client_id);
  user = new Response("login", { status: 401 });
  await expectErrorPage(await s.form("/authorize", { ...f, decision: "approve" }), 403);
});

test("deny → redirect error=access_denied with state and iss, and an authorization.denied event", async () => {
  const { s, client } = await setup();
  const f = await consent(s, client.client_id, "deny-state");
  const res = await s.form("/authorize", { ...f, decision: "deny" });
  // After the user acted, the access_denied redirect is right (RFC 6749 §4.1.2.1).
  assert.equal(res.status, 302);
  const loc = new URL(res.headers.get("location")!);
  assert.equal(loc.origin + loc.pathname, new URL(REDIRECT).origin + new URL(REDIRECT).pathname);
  assert.equal(loc.searchParams.get("error"), "access_denied");
  assert.equal(loc.searchParams.get("state"), "deny-state");
  assert.equal(loc.searchParams.get("iss"), ISSUER);
  assert.equal(loc.searchParams.get("code"), null);
  const ev = s.events.find((e) => e.type === "authorization.denied");
  assert.ok(ev);
  assert.equal(ev.subject, "alice");
  assert.equal(ev.clientId, client.client_id);
  assert.deepEqual(ev.scopes, ["mcp:read"]);
  assert.equal(ev.resource, RESOURCE);
  assert.equal(typeof ev.at, "number");
  assert.equal((await s.auth.admin.listGrants()).length, 0, "no grant on deny");
});

test("repeated query parameter → error (page before the redirect URI is trusted)", async () => {
  const { s, params } = await setup();
  await expectErrorPage(await s.call(params({}) + "&client_id=other"), 400);
  await expectErrorPage(
    await s.call(params({}) + "&redirect_uri=" + encodeURIComponent(REDIRECT)),
    400,
  );
  await expectErrorPage(await s.call(params({}) + "&state=again"), 400);
  await expectErrorPage(await s.call(params({}) + "&code_challenge=again"), 400);
});

test("unsupported methods on /authorize → 405", async () => {
  const { s } = await setup();
  const res = await s.call("/authorize", { method: "PUT", body: "x" });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "GET, POST");
});

test("a consent answered after it expired (10 min) → 400, no grant", async () => {
  const { s, client } = await setup();
  const f = await consent(s, client.client_id);
  s.advance(10 * 60 * 1000 + 1000);
  await expectErrorPage(await s.form("/authorize", { ...f, decision: "approve" }), 400);
  assert.equal((await s.auth.admin.listGrants()).length, 0);
});

test("a consent_id not of the issued shape never reaches storage: 400", async () => {
  const { s, client } = await setup();
  const f = await consent(s, client.client_id);
  for (const id of ["x".repeat(5000), f.consent_id + "A", "../" + f.consent_id.slice(3)]) {
    await expectErrorPage(
      await s.form("/authorize", { consent_id: id, csrf: f.csrf, decision: "approve" }),
      400,
    );
  }
  // The real one is still pending.
  assert.equal((await s.form("/authorize", { ...f, decision: "approve" })).status, 302);
});

test("authenticate may return { subject }", async () => {
  const { s, client } = await setup({ authenticate: () => ({ subject: "carol" }) });
  const { challenge } = await pkce();
  await authorize(s, client.client_id, { challenge });
  assert.equal((await s.auth.admin.listGrants({ subject: "carol" })).length, 1);
});

test("consent page shows configured scope descriptions, escaped", async () => {
  const s = await testServer({
    scopeDescriptions: { "mcp:read": "Read <your> notes" },
  });
  const client = await register(s);
  const { challenge } = await pkce();
  const res = await s.call(authorizeQuery({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    scope: "mcp:read mcp:write",
  }));
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /<code>mcp:read<\/code> — Read &lt;your&gt; notes/);
  assert.match(html, /<code>mcp:write<\/code><\/li>/);
});
