/**
 * The consent step: state sealed in the form (nothing stored to show the page), single use
 * under concurrency on the strong drivers, and remembered consent (config `consent`).
 * CIMD cases inject `fetch` as the stand-in for a public https host (none can exist here).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, createAuthServer, memoryStorage } from "../mod.ts";
import type { Storage } from "../mod.ts";
import { denoKvStorage } from "../storage/deno_kv.ts";
import {
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

const DAY = 86400;
/** An https redirect: a public client's identity is assured only there (RFC 8252 §8.6). */
const WEB = "https://app.example.org/cb";

/** A driver wrapper counting calls by method. */
function counting(inner: Storage): { storage: Storage; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const storage = new Proxy(inner, {
    get(t, p, r) {
      const v = Reflect.get(t, p, r);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        calls[String(p)] = (calls[String(p)] ?? 0) + 1;
        return v.apply(t, args);
      };
    },
  });
  return { storage, calls };
}

async function page(
  s: TestServer,
  clientId: string,
  scope?: string,
  resource = RESOURCE,
  redirect = REDIRECT,
) {
  const { challenge, verifier } = await pkce();
  const res = await s.call(authorizeQuery({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirect,
    code_challenge: challenge,
    code_challenge_method: "S256",
    scope,
    resource,
    state: "st",
  }));
  return { res, verifier };
}

async function approve(
  s: TestServer,
  clientId: string,
  scope?: string,
  redirect = REDIRECT,
): Promise<URL> {
  const { res } = await page(s, clientId, scope, RESOURCE, redirect);
  assert.equal(res.status, 200, "consent page");
  const f = consentFields(await res.text());
  const ok = await s.form("/authorize", { ...f, decision: "approve" });
  assert.equal(ok.status, 302);
  return new URL(ok.headers.get("location")!);
}

test("showing the consent page writes nothing; the form carries the sealed state", async () => {
  const { storage, calls } = counting(memoryStorage());
  let user = "alice";
  const s = await testServer({
    storage,
    rateLimits: false, // storage calls are counted: no rate-limit counters
    authenticate: () => ({ subject: user, props: { upstreamToken: "up-secret-123" } }) as never,
  });
  const c = await register(s);
  for (const k of Object.keys(calls)) delete calls[k];
  const { res } = await page(s, c.client_id, "mcp:read mcp:write");
  assert.equal(res.status, 200);
  assert.deepEqual(Object.entries(calls), [["get", 1]], "only the client record is read");
  const html = await res.text();
  const f = consentFields(html);
  // Sealed: neither the subject's props nor the PKCE/redirect state is readable in the form.
  assert.ok(!f.consent_id.includes("up-secret") && !atobSafe(f.consent_id).includes("up-secret"));
  assert.ok(!atobSafe(f.consent_id).includes("alice"));
  // One flipped character → refused, and still nothing written.
  const flipped = f.consent_id.slice(0, 20) + (f.consent_id[20] === "A" ? "B" : "A") +
    f.consent_id.slice(21);
  const bad = await s.form("/authorize", {
    consent_id: flipped,
    csrf: f.csrf,
    decision: "approve",
  });
  assert.equal(bad.status, 400);
  assert.equal(calls.set ?? 0, 0);
  assert.equal(calls.swap ?? 0, 0);
  // A blob sealed by another server (another key) does not open here.
  const other = await testServer({ keys: undefined });
  const c2 = await register(other);
  const p2 = consentFields(await (await page(other, c2.client_id)).res.text());
  assert.equal((await s.form("/authorize", { ...p2, decision: "approve" })).status, 400);
  // The genuine form works, once; the second submission is refused.
  user = "alice";
  const ok = await s.form("/authorize", { ...f, decision: "approve" });
  assert.equal(ok.status, 302);
  assert.equal((await s.form("/authorize", { ...f, decision: "approve" })).status, 400);
  assert.equal((await s.form("/authorize", { ...f, decision: "deny" })).status, 400);
});

function atobSafe(b64u: string): string {
  try {
    return atob(b64u.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return "";
  }
}

for (
  const [name, make] of [
    ["memory", () => Promise.resolve({ storage: memoryStorage(), close: () => {} })],
    ["deno-kv", async () => {
      const kv = await Deno.openKv(":memory:");
      return { storage: denoKvStorage(kv), close: () => kv.close() };
    }],
  ] as const
) {
  test(`single use under concurrency (${name}): 40 submissions of one form → one code, one grant`, async () => {
    const { storage, close } = await make();
    try {
      const s = await testServer({ storage });
      const c = await register(s);
      const f = consentFields(await (await page(s, c.client_id)).res.text());
      const results = await Promise.all(
        Array.from(
          { length: 40 },
          (_, i) => s.form("/authorize", { ...f, decision: i % 5 === 4 ? "deny" : "approve" }),
        ),
      );
      const statuses = results.map((r) => r.status);
      assert.equal(statuses.filter((x) => x === 302).length, 1, statuses.join(","));
      assert.equal(statuses.filter((x) => x === 400).length, 39);
      const granted = s.events.filter((e) => e.type === "authorization.granted").length;
      const denied = s.events.filter((e) => e.type === "authorization.denied").length;
      assert.equal(granted + denied, 1);
      assert.equal((await s.auth.admin.listGrants()).length, granted, "no orphan grants");
      for (const r of results) await r.body?.cancel();
    } finally {
      close();
    }
  });
}

test("the code from a consent still expires after codeTtl, and a late replay of the form is refused", async () => {
  const s = await testServer({ codeTtl: 30 });
  const c = await register(s);
  const { res, verifier } = await page(s, c.client_id);
  const f = consentFields(await res.text());
  const ok = await s.form("/authorize", { ...f, decision: "approve" });
  const code = new URL(ok.headers.get("location")!).searchParams.get("code")!;
  s.advance(31_000);
  const tok = await s.form("/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: c.client_id,
  });
  assert.equal(tok.status, 400);
  assert.equal((await tok.json()).error, "invalid_grant");
  // 31 s on: the code is dead, but the form (valid 10 min) still may not be answered again.
  assert.equal((await s.form("/authorize", { ...f, decision: "approve" })).status, 400);
});

test('consent "always" (the default): the page is shown on every authorization', async () => {
  const s = await testServer();
  const c = await register(s);
  await approve(s, c.client_id);
  await approve(s, c.client_id);
  assert.equal((await s.auth.admin.listApprovals("alice")).length, 0);
});

test("remembered consent: same or fewer scopes skip the page; wider scope, other resource, other user do not", async () => {
  const OTHER = "https://mcp.example.com/other";
  let user = "alice";
  const s = await testServer({
    consent: { rememberFor: 7 * DAY },
    resources: [{ resource: RESOURCE, name: "Notes" }, { resource: OTHER }],
    authenticate: () => user,
  });
  const c = await register(s, { redirect_uris: [WEB] });
  await approve(s, c.client_id, "mcp:read mcp:write", WEB);
  const [a] = await s.auth.admin.listApprovals("alice");
  assert.deepEqual(
    { ...a, createdAt: 0, expiresAt: a.expiresAt - a.createdAt },
    {
      subject: "alice",
      clientId: c.client_id,
      resource: RESOURCE,
      scopes: ["mcp:read", "mcp:write"],
      createdAt: 0,
      expiresAt: 7 * DAY * 1000,
    },
  );
  // Same scopes, and fewer: straight back with a code that works.
  for (const scope of ["mcp:read mcp:write", "mcp:read"]) {
    const { res, verifier } = await page(s, c.client_id, scope, RESOURCE, WEB);
    assert.equal(res.status, 302, `skip for ${scope}`);
    const loc = new URL(res.headers.get("location")!);
    assert.equal(loc.searchParams.get("state"), "st");
    const tok = await s.form("/token", {
      grant_type: "authorization_code",
      code: loc.searchParams.get("code")!,
      code_verifier: verifier,
      redirect_uri: WEB,
      client_id: c.client_id,
    });
    assert.equal(tok.status, 200);
    assert.equal((await tok.json()).scope, scope);
  }
  // Wider scope → the page; approving it widens the remembered set.
  assert.equal((await page(s, c.client_id, "mcp:read mcp:admin", RESOURCE, WEB)).res.status, 200);
  await approve(s, c.client_id, "mcp:admin", WEB);
  assert.deepEqual((await s.auth.admin.listApprovals("alice"))[0].scopes.sort(), [
    "mcp:admin",
    "mcp:read",
    "mcp:write",
  ]);
  // Another resource, another user: the page.
  assert.equal((await page(s, c.client_id, "mcp:read", OTHER, WEB)).res.status, 200);
  user = "bob";
  assert.equal((await page(s, c.client_id, "mcp:read", RESOURCE, WEB)).res.status, 200);
  assert.equal((await s.auth.admin.listApprovals("bob")).length, 0);
});

test("remembered consent ends when it expires, or when the admin revokes it", async () => {
  const s = await testServer({ consent: { rememberFor: 3600 } });
  const c = await register(s, { redirect_uris: [WEB] });
  const c2 = await register(s, { redirect_uris: [WEB] });
  await approve(s, c.client_id, undefined, WEB);
  await approve(s, c2.client_id, undefined, WEB);
  assert.equal((await page(s, c.client_id, undefined, RESOURCE, WEB)).res.status, 302);
  s.advance(3600_000 + 1);
  assert.equal((await page(s, c.client_id, undefined, RESOURCE, WEB)).res.status, 200, "expired");
  assert.equal((await s.auth.admin.listApprovals("alice")).length, 0);

  await approve(s, c.client_id, undefined, WEB);
  await approve(s, c2.client_id, undefined, WEB);
  assert.equal((await s.auth.admin.listApprovals()).length, 2);
  assert.equal(await s.auth.admin.revokeApprovals({ subject: "alice", clientId: c.client_id }), 1);
  assert.equal((await page(s, c.client_id, undefined, RESOURCE, WEB)).res.status, 200, "revoked");
  assert.equal(
    (await page(s, c2.client_id, undefined, RESOURCE, WEB)).res.status,
    302,
    "the other client stays remembered",
  );
  // Revoking a client forgets its approvals too.
  assert.equal(await s.auth.admin.revokeClient(c2.client_id), true);
  assert.equal((await s.auth.admin.listApprovals("alice")).length, 0);
});

test("a denial is not remembered", async () => {
  const s = await testServer({ consent: { rememberFor: 3600 } });
  const c = await register(s);
  const f = consentFields(await (await page(s, c.client_id)).res.text());
  assert.equal((await s.form("/authorize", { ...f, decision: "deny" })).status, 302);
  assert.equal((await s.auth.admin.listApprovals("alice")).length, 0);
  assert.equal((await page(s, c.client_id)).res.status, 200);
});

function cimdFetch(doc: Record<string, unknown>): typeof fetch {
  return (input) => {
    const url = input instanceof Request ? input.url : String(input);
    return Promise.resolve(
      url === doc.client_id
        ? Response.json(doc, { headers: { "cache-control": "max-age=60" } })
        : new Response("not found", { status: 404 }),
    );
  };
}

test("remembered consent is never used for a metadata-document client with only loopback redirects", async () => {
  const id = "https://app.example.org/loopback-client.json";
  const s = await testServer({
    consent: { rememberFor: 3600 },
    // The stand-in document host does not resolve here: allow-listed (no DNS check).
    outbound: { allow: ["app.example.org"] },
    fetch: cimdFetch({
      client_id: id,
      client_name: "Loopback App",
      redirect_uris: [REDIRECT, "http://localhost:9999/cb"],
      token_endpoint_auth_method: "none",
    }),
  });
  await approve(s, id);
  await approve(s, id);
  assert.equal((await s.auth.admin.listApprovals("alice")).length, 0);
});

test("a metadata-document client with an https redirect is remembered", async () => {
  const id = "https://app.example.org/web-client.json";
  const s = await testServer({
    consent: { rememberFor: 3600 },
    // The stand-in document host does not resolve here: allow-listed (no DNS check).
    outbound: { allow: ["app.example.org"] },
    fetch: cimdFetch({
      client_id: id,
      client_name: "Web App",
      redirect_uris: [REDIRECT, WEB],
      token_endpoint_auth_method: "none",
    }),
  });
  await approve(s, id, undefined, WEB);
  assert.equal((await page(s, id, undefined, RESOURCE, WEB)).res.status, 302);
  // Its loopback redirect does not skip the page: any local program could receive the code.
  assert.equal((await page(s, id)).res.status, 200);
});

test("remembered consent never skips the page for a public client's loopback redirect (RFC 8252 §8.6)", async () => {
  const s = await testServer({ consent: { rememberFor: 3600 } });
  const pub = await register(s, { redirect_uris: [REDIRECT, WEB] });
  await approve(s, pub.client_id, undefined, WEB);
  // A local program knowing the public client_id picks any loopback port (RFC 8252 §7.3) and
  // brings its own PKCE pair: without the page it would get a code it can redeem.
  const otherPort = REDIRECT.replace(/:\d+\//, ":45871/");
  for (const redirect of [REDIRECT, otherPort]) {
    assert.equal((await page(s, pub.client_id, undefined, RESOURCE, redirect)).res.status, 200);
  }
  // Approving through the loopback redirect is not remembered either.
  const loop = await register(s);
  await approve(s, loop.client_id);
  assert.equal((await page(s, loop.client_id)).res.status, 200);
  // A confidential client authenticates at /token, so its loopback redirect may skip the page.
  const conf = await register(s, { token_endpoint_auth_method: "client_secret_basic" });
  await approve(s, conf.client_id);
  assert.equal((await page(s, conf.client_id)).res.status, 302);
});

test('config: consent must be "always" or { rememberFor: 60 s … 400 days }', () => {
  const base = {
    issuer: ISSUER,
    resources: [RESOURCE],
    authenticate: () => "alice",
    quiet: true,
  };
  for (const consent of [{ rememberFor: 0 }, { rememberFor: 1.5 }, "never", { ttl: 60 }]) {
    assert.throws(
      () => createAuthServer({ ...base, consent: consent as never }),
      (e) => e instanceof ConfigError && /consent/.test(e.message),
    );
  }
  createAuthServer({ ...base, consent: "always" });
  createAuthServer({ ...base, consent: { rememberFor: 30 * DAY } });
});
