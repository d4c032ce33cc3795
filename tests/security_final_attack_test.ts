/**
 * The last attack pass: what the earlier passes (token state, perf changes, client auth,
 * identity, SSRF) left — the newest changes first. Each test names the attack and asserts
 * what must hold. Findings were written here as failing tests before their fix.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createToolGate, type ToolHookFailure } from "../mcp.ts";
import { memoryStorage } from "../storage/memory.ts";
import type { ToolCallEvent } from "../src/mcp/types.ts";
import { ConfirmationStore } from "../src/mcp/_confirm.ts";
import { createAuthServer } from "../mod.ts";
import { denoKvStorage } from "../storage/deno_kv.ts";
import { Store } from "../src/_store.ts";
import {
  findApproval,
  listApprovals,
  rememberApproval,
  revokeApprovals,
} from "../src/approvals.ts";
import {
  authorize,
  ISSUER as AS_ISSUER,
  pkce,
  register,
  RESOURCE as AS_RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";
import { createVerifier } from "../verify.ts";
import {
  ISSUER as V_ISSUER,
  makeKey,
  RESOURCE as V_RESOURCE,
  signToken,
  T0,
} from "./support/verify_fixtures.ts";

const event = (tool: string): ToolCallEvent => ({
  tool,
  subject: "alice",
  clientId: "c",
  grantId: undefined,
  scopesRequired: [],
  outcome: "ok",
  durationMs: 0,
  time: 0,
});

/** Unhandled rejections seen while `f` runs and the event loop turns twice after it. */
async function unhandledDuring(f: () => void): Promise<unknown[]> {
  const seen: unknown[] = [];
  const on = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    seen.push(e.reason);
  };
  globalThis.addEventListener("unhandledrejection", on);
  try {
    f();
    for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
  } finally {
    globalThis.removeEventListener("unhandledrejection", on);
  }
  return seen;
}

test("tool gate: an async onHookError that rejects (audit sink down) is reported, not an unhandled rejection that ends the process", async () => {
  const logged: string[] = [];
  const original = console.error;
  console.error = (...a: unknown[]) => void logged.push(a.join(" "));
  const failures: ToolHookFailure[] = [];
  try {
    const gate = createToolGate({
      storage: memoryStorage(),
      tools: [],
      limits: false,
      quiet: true,
      // The same sink for both hooks, both down: each call rejects.
      onToolCall: () => Promise.reject(new Error("audit sink down")),
      onHookError: async (f) => {
        failures.push(f);
        await Promise.resolve();
        throw new Error("audit sink down too");
      },
    });
    const unhandled = await unhandledDuring(() => gate.report(event("read")));
    assert.deepEqual(unhandled, [], "no unhandled rejection");
    const sync = await unhandledDuring(() => {
      createToolGate({
        storage: memoryStorage(),
        tools: [],
        limits: false,
        onToolCall: () => {
          throw new Error("x");
        },
        onHookError: () => Promise.reject(new Error("y")),
      }).report(event("write"));
    });
    assert.deepEqual(sync, [], "no unhandled rejection (synchronous hook throw)");
  } finally {
    console.error = original;
  }
  assert.deepEqual(failures.map((f) => f.error), ["Error: audit sink down"]);
  assert.ok(logged.some((l) => l.includes("onHookError threw: Error: audit sink down too")));
  assert.ok(logged.every((l) => !l.includes("    at ")), "no stack trace");
});

test("verifier cached revocation: a slow isRevoked answer started before the revoke does not undo the revoked answer that landed first", async () => {
  const key = await makeKey("EdDSA", "k1");
  const token = await signToken(key, { at: T0 });
  let clock = T0;
  const answers: Array<(revoked: boolean) => void> = [];
  let wake = () => {};
  const asked = (n: number) =>
    new Promise<void>((resolve) => {
      wake = () => answers.length >= n && resolve();
      wake();
    });
  const v = createVerifier({
    issuer: V_ISSUER,
    audience: V_RESOURCE,
    jwks: { keys: [key.publicJwk as never] },
    now: () => clock,
    // The application's revocation lookup, its answers handed out by the test in any order
    // (a store read that started earlier can end later).
    revocation: {
      mode: "cached",
      ttlMs: 10_000,
      isRevoked: () =>
        new Promise<boolean>((resolve) => {
          answers.push(resolve);
          wake();
        }),
    },
  });
  const first = v.verify(token);
  await asked(1);
  answers.shift()!(false);
  assert.equal((await first).ok, true);
  clock += 10_001; // the cached answer is stale: the next calls ask again
  const slow = v.verify(token); // its lookup read the grant before the revoke
  const fast = v.verify(token); // its lookup read it after
  await asked(2);
  answers[1](true);
  const refused = await fast;
  assert.equal(refused.ok ? 200 : refused.status, 401);
  answers[0](false);
  await slow;
  const after = await v.verify(token);
  assert.equal(after.ok ? 200 : after.status, 401, "revoked stays revoked");
});

test("loopback rule: spellings the URL parser makes loopback are loopback; localhost. and ::ffff:127.0.0.1 are refused; the any-port match never leaves the host", async () => {
  const kv = await Deno.openKv(":memory:");
  for (const storage of [memoryStorage(), denoKvStorage(kv)]) {
    const s = await testServer({ storage });
    for (
      const bad of [
        "http://localhost./cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://localhost.evil.example/cb",
      ]
    ) {
      const res = await s.call("/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ redirect_uris: [bad], token_endpoint_auth_method: "none" }),
      });
      assert.equal(res.status, 400, bad);
      assert.equal((await res.json()).error, "invalid_redirect_uri");
    }
    for (
      const [registered, requested, lands] of [
        ["http://LOCALHOST/cb", "http://localhost:5001/cb", "localhost:5001"],
        ["http://127.1/cb", "http://127.0.0.1:5002/cb", "127.0.0.1:5002"],
        ["http://[0:0:0:0:0:0:0:1]/cb", "http://[::1]:5003/cb", "[::1]:5003"],
      ]
    ) {
      const c = await register(s, { redirect_uris: [registered] });
      const { challenge } = await pkce();
      const to = await authorize(s, c.client_id, { challenge, redirectUri: requested });
      assert.equal(to.host, lands);
      assert.ok(to.searchParams.get("code"));
      // Another host on the same port: refused with an error page, no redirect.
      const other = requested.replace(/\/\/[^/]+:/, "//127.0.0.2:");
      const { challenge: c2 } = await pkce();
      const page = await s.call(
        "/authorize?" + new URLSearchParams({
          response_type: "code",
          client_id: c.client_id,
          redirect_uri: other,
          code_challenge: c2,
          code_challenge_method: "S256",
        }),
      );
      await page.body?.cancel();
      assert.equal(page.status, 400, other);
      assert.equal(page.headers.get("location"), null);
    }
  }
  kv.close();
  const config = (issuer: string) => ({
    issuer,
    resources: [{ resource: "https://mcp.example.com/mcp", name: "r" }],
    scopes: ["mcp:read"],
    authenticate: () => "alice",
    storage: memoryStorage(),
    quiet: true,
  });
  for (const issuer of ["http://localhost.:8787", "http://[::ffff:127.0.0.1]:8787"]) {
    assert.throws(() => createAuthServer(config(issuer)), /issuer/, issuer);
  }
  assert.doesNotThrow(() => createAuthServer(config("http://LOCALHOST:8787")));
});

test("verifier introspection cache: an active answer that started before the revoke is not cached over the inactive one that landed first", async () => {
  const introspector = { clientId: "rs-notes", clientSecret: "rs-notes-secret-0123456789" };
  const s = await testServer({ introspectionClients: [introspector] });
  const t = await tokensFor(s);
  let hold: Promise<void> | undefined;
  let answered = () => {};
  const asAnswered = new Promise<void>((r) => answered = r);
  const v = createVerifier({
    issuer: AS_ISSUER,
    audience: AS_RESOURCE,
    introspection: { endpoint: AS_ISSUER + "/introspect", ...introspector, cacheTtlMs: 60_000 },
    // The real /introspect; a held answer is one that is slow on the way back.
    fetch: async (input, init) => {
      const gate = hold;
      const res = await s.auth.handle(new Request(input, init));
      if (gate) {
        answered();
        await gate;
      }
      return res;
    },
  });
  let release = () => {};
  hold = new Promise<void>((r) => release = r);
  const slow = v.verify(t.access_token); // introspected while active, answer held
  hold = undefined;
  await asAnswered; // the AS answered "active" before the revoke
  const revoked = await s.form("/revoke", { token: t.access_token, client_id: t.client_id });
  assert.equal(revoked.status, 200);
  const refused = await v.verify(t.access_token);
  assert.equal(refused.ok ? 200 : refused.status, 401);
  release();
  await slow;
  const after = await v.verify(t.access_token);
  assert.equal(after.ok ? 200 : after.status, 401, "the older active answer was cached");
});

test("tool gate on Deno KV: a Client ID Metadata Document URL of 2 KB as client_id (its owner picks it) counts and confirms like any other, no storage error", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const gate = createToolGate({
      storage: denoKvStorage(kv),
      tools: [],
      limits: {
        perSubject: { limit: 2, windowSeconds: 60 },
        perClient: { limit: 2, windowSeconds: 60 },
      },
    });
    // The longest client_id Gatehouse accepts (MAX_CIMD_URL, 2048 characters).
    const clientId = "https://app.example.org/" + "a".repeat(2048 - 29) + ".json";
    assert.equal(clientId.length, 2048);
    const authInfo = { token: "t", clientId, scopes: [], extra: { subject: "alice" } };
    assert.deepEqual(
      [
        (await gate.checkLimits(authInfo, "x")).ok,
        (await gate.checkLimits(authInfo, "x")).ok,
        (await gate.checkLimits(authInfo, "x")).ok,
      ],
      [true, true, false],
    );
    // The confirmation flow's idempotency record is keyed by the client too.
    const store = new ConfirmationStore(denoKvStorage(kv));
    const who = { subject: "alice", clientId };
    const { token } = await store.issue({
      ...who,
      tool: "add_note",
      args: {},
      argsHash: "",
      preview: "add a note",
    });
    const ran = await store.run(token, "key-1", who, () => Promise.resolve("done"));
    assert.deepEqual([ran.result, ran.executed], ["done", true]);
  } finally {
    kv.close();
  }
});

test("remembered consent on Deno KV: a 2 KB client id is remembered, found and revoked (its key holds a hash)", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new Store(denoKvStorage(kv), Date.now);
    const clientId = "https://client.example/" + "c".repeat(2000);
    const resource = "https://mcp.example.com/mcp";
    const now = Date.now();
    await rememberApproval(
      store,
      { subject: "alice", clientId, resource, scopes: ["mcp:read"] },
      now,
      3600,
    );
    const found = await findApproval(store, "alice", clientId, resource);
    assert.deepEqual(found?.scopes, ["mcp:read"]);
    assert.equal(await findApproval(store, "alice", clientId + "x", resource), undefined);
    assert.equal((await listApprovals(store, "alice")).length, 1);
    assert.equal(await revokeApprovals(store, { clientId }), 1);
    assert.equal(await findApproval(store, "alice", clientId, resource), undefined);
  } finally {
    kv.close();
  }
});
