import { test } from "node:test";
import assert from "node:assert/strict";
import { memoryStorage } from "../mod.ts";
import type { AuditEvent } from "../mod.ts";
import {
  authorize,
  codeFor,
  pkce,
  REDIRECT,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";

test("listClients / getClient never expose the secret or its hash", async () => {
  const storage = memoryStorage();
  const s = await testServer({ storage });
  const conf = await register(s, { token_endpoint_auth_method: "client_secret_basic" });
  const pub = await register(s);
  const list = await s.auth.admin.listClients();
  assert.equal(list.length, 2);
  assert.deepEqual(list.map((c) => c.client_id).sort(), [conf.client_id, pub.client_id].sort());
  for (const c of list) {
    assert.equal(c.client_secret_hash, undefined);
    assert.equal(c.client_secret, undefined);
  }
  const dump = JSON.stringify(list);
  assert.ok(!dump.includes(conf.client_secret!));
  assert.ok(!dump.includes("hash"));
  // The hash exists in storage, so its absence above is the filter's doing.
  assert.ok(JSON.stringify(await storage.list(["client"])).includes("client_secret_hash"));
  assert.equal((await s.auth.admin.getClient(conf.client_id))?.client_secret_hash, undefined);
  assert.equal(await s.auth.admin.getClient("nope"), undefined);
});

test("revokeClient revokes its grants and deletes it; unknown client → false", async () => {
  const s = await testServer();
  const a = await tokensFor(s);
  const b = await tokensFor(s);
  assert.equal(await s.auth.admin.revokeClient(a.client_id), true);
  assert.equal(await s.auth.admin.getClient(a.client_id), undefined);
  assert.equal((await s.auth.verify(a.access_token)).ok, false);
  assert.equal((await s.auth.verify(b.access_token)).ok, true, "other clients untouched");
  const res = await refreshWith(s, a.refresh_token, a.client_id);
  assert.equal(res.status, 401, "client no longer exists");
  assert.equal((await s.auth.admin.listGrants({ clientId: a.client_id })).length, 0);
  const revoked = await s.auth.admin.listGrants({ clientId: a.client_id, includeRevoked: true });
  assert.equal(revoked.length, 1);
  assert.equal(typeof revoked[0].revokedAt, "number");
  assert.equal(await s.auth.admin.revokeClient("no-such-client"), false);
  const ev = s.events.find((e) => e.type === "client.revoked");
  assert.equal(ev?.clientId, a.client_id);
});

test("listGrants filters by clientId and subject; revokeGrants by subject", async () => {
  let user = "alice";
  const s = await testServer({ authenticate: () => user });
  const c1 = await register(s);
  const c2 = await register(s);
  const { challenge } = await pkce();
  await authorize(s, c1.client_id, { challenge });
  await authorize(s, c2.client_id, { challenge });
  user = "bob";
  await authorize(s, c1.client_id, { challenge });
  assert.equal((await s.auth.admin.listGrants()).length, 3);
  assert.equal((await s.auth.admin.listGrants({ clientId: c1.client_id })).length, 2);
  assert.equal((await s.auth.admin.listGrants({ clientId: c2.client_id })).length, 1);
  const alice = await s.auth.admin.listGrants({ subject: "alice" });
  assert.equal(alice.length, 2);
  assert.ok(alice.every((g) => g.subject === "alice"));
  const bobC1 = await s.auth.admin.listGrants({ subject: "bob", clientId: c1.client_id });
  assert.equal(bobC1.length, 1);
  assert.deepEqual(bobC1[0].resources, [RESOURCE]);
  assert.equal((await s.auth.admin.listGrants({ subject: "carol" })).length, 0);

  assert.equal(await s.auth.admin.revokeGrants({ subject: "alice" }), 2);
  assert.equal(await s.auth.admin.revokeGrants({ subject: "alice" }), 0, "idempotent");
  assert.equal((await s.auth.admin.listGrants({ subject: "alice" })).length, 0);
  assert.equal(
    (await s.auth.admin.listGrants({ subject: "alice", includeRevoked: true })).length,
    2,
  );
  assert.equal((await s.auth.admin.listGrants({ subject: "bob" })).length, 1, "bob untouched");
  const one = (await s.auth.admin.listGrants({ subject: "bob" }))[0];
  assert.equal(await s.auth.admin.revokeGrant(one.id), true);
  assert.equal(await s.auth.admin.revokeGrant(one.id), false);
  assert.equal(await s.auth.admin.revokeGrant("nope"), false);
});

async function eventTypes(): Promise<string[]> {
  const src = await Deno.readTextFile(new URL("../src/events.ts", import.meta.url));
  const union = /export type AuditEventType =([^;]+);/.exec(src)?.[1] ?? "";
  return [...union.matchAll(/"([a-z_.]+)"/g)].map((m) => m[1]);
}

test("every event type in src/events.ts is emitted, with subject/clientId/scopes/at", async () => {
  // No refresh reuse window, so the second use below is reuse rather than a retry; one
  // /revoke per client per hour, so a second one is rate_limited.
  const s = await testServer({
    refreshReuseWindow: 0,
    rateLimits: { revoke: { client: { limit: 1, windowSeconds: 3600 } } },
  });
  // client.registered, authorization.granted, token.issued
  const t = await tokensFor(s, { scope: "mcp:read mcp:write" });
  // token.refreshed, then refresh.reuse_detected + grant.revoked
  const r1 = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(r1.status, 200);
  await refreshWith(s, t.refresh_token, t.client_id);
  // code.replay_detected
  const c = await register(s);
  const { code, verifier } = await codeFor(s, c.client_id);
  const fields = {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: c.client_id,
  };
  assert.equal((await s.form("/token", fields)).status, 200);
  assert.equal((await s.form("/token", fields)).status, 400);
  // authorization.denied
  const { challenge } = await pkce();
  await authorize(s, c.client_id, { challenge, decision: "deny" });
  // token.revoked
  const u = await tokensFor(s);
  await s.form("/revoke", { token: u.access_token, client_id: u.client_id });
  // rate_limited (once per window, with the client)
  const over = await s.form("/revoke", { token: u.access_token, client_id: u.client_id });
  assert.equal(over.status, 429);
  // client.revoked
  await s.auth.admin.revokeClient(u.client_id);

  const seen = new Set(s.events.map((e) => e.type));
  const all = await eventTypes();
  assert.ok(all.length >= 10, `parsed ${all.length} event types`);
  assert.ok(all.includes("error"));
  // `error` (a hook failing) has its own tests: tests/server_hook_errors_test.ts.
  for (const type of all.filter((t) => t !== "error")) {
    assert.ok(seen.has(type as AuditEvent["type"]), `emitted ${type}`);
  }

  const now = Date.now();
  for (const e of s.events) {
    assert.equal(typeof e.at, "number", e.type);
    assert.ok(Math.abs(e.at - now) < 60_000, `${e.type} at is the server clock`);
    assert.equal(typeof e.clientId, "string", `${e.type} clientId`);
    if (!["client.registered", "client.revoked", "rate_limited"].includes(e.type)) {
      assert.equal(e.subject, "alice", `${e.type} subject`);
      assert.ok(Array.isArray(e.scopes) && e.scopes.length > 0, `${e.type} scopes`);
      assert.equal(typeof e.grantId === "string" || e.type === "authorization.denied", true);
    }
    assert.ok(!JSON.stringify(e).includes(t.refresh_token), "no secrets in events");
  }
  const issued = s.events.find((e) => e.type === "token.issued")!;
  assert.equal(issued.resource, RESOURCE);
  assert.deepEqual(issued.scopes, ["mcp:read", "mcp:write"]);
});

test("an onEvent that throws or rejects never breaks a request", async () => {
  for (
    const onEvent of [
      (_e: AuditEvent): void => {
        throw new Error("audit sink down");
      },
      (_e: AuditEvent): Promise<void> => Promise.reject(new Error("audit sink down (async)")),
    ]
  ) {
    let calls = 0;
    const s = await testServer({
      onEvent: (e) => {
        calls++;
        return onEvent(e);
      },
    });
    const t = await tokensFor(s);
    const r = await refreshWith(s, t.refresh_token, t.client_id);
    assert.equal(r.status, 200);
    const body = await r.json();
    const rev = await s.form("/revoke", { token: body.refresh_token, client_id: t.client_id });
    assert.equal(rev.status, 200);
    assert.equal((await s.auth.verify(body.access_token)).ok, false, "revocation took effect");
    assert.equal(await s.auth.admin.revokeClient(t.client_id), true);
    assert.ok(calls >= 6, `hook was called (${calls})`);
  }
});
