/**
 * Attacks on the grant-centric token state (issue 12), from the outside: nothing but HTTP
 * requests and open registration, plus an insider resource server that sees access tokens
 * and so knows every grant id (`gid`). Each test names the attack and asserts what must
 * hold: forged or mutated codes and refresh tokens open and revoke nothing, a consent form
 * is answered once for as long as it can be answered (so a revocation is never undone by a
 * replayed approval re-creating the grant under the same id), concurrent answers and
 * exchanges make one grant and one set of tokens, and nothing secret is stored in clear.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { memoryStorage } from "../storage/memory.ts";
import { denoKvStorage } from "../storage/deno_kv.ts";
import type { Envelope, Storage, StorageKey } from "../storage/mod.ts";
import {
  authorizeQuery,
  codeFor,
  confidentialTokens,
  consentFields,
  expectError,
  pkce,
  REDIRECT,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

/**
 * A driver that drops a value once its `exp` has passed on the server's clock, as Redis
 * (Upstash, `PX`) and a Durable Object's alarm do. A stand-in for real time passing: no
 * backend here can be made to expire keys on a test clock. Wraps the real memory driver.
 */
function expiring(inner: Storage, now: () => number): Storage {
  const live = async (key: StorageKey): Promise<Envelope | undefined> => {
    const v = await inner.get(key);
    if (v && v.exp !== null && v.exp <= now()) {
      await inner.delete(key);
      return undefined;
    }
    return v;
  };
  return {
    ...inner,
    get: live,
    swap: async (k, v) => (await live(k), await inner.swap(k, v)),
    compareAndSwap: async (k, e, v) => (await live(k), await inner.compareAndSwap(k, e, v)),
  };
}

/** A consent page for a public client; its form fields (consent_id, csrf) and PKCE verifier. */
async function consentForm(s: TestServer, clientId: string) {
  const { verifier, challenge } = await pkce();
  const page = await s.call(authorizeQuery({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: RESOURCE,
    state: "st",
  }));
  assert.equal(page.status, 200);
  return { fields: consentFields(await page.text()), verifier };
}

const codeOf = (res: Response) => {
  const at = res.headers.get("location");
  return at ? new URL(at).searchParams.get("code") : null;
};

function exchange(s: TestServer, clientId: string, code: string, verifier: string) {
  return s.form("/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: clientId,
  });
}

const count = (s: TestServer, type: string) => s.events.filter((e) => e.type === type).length;

/** A well-formed secret nobody issued: 32 random bytes, base64url. */
function garbage(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

test("replaying an approved consent form after its revoked grant's record expired is refused: the revocation stays", async () => {
  // Shortest refresh lifetime (60 s) with longer access tokens: a revoked grant is kept only
  // `refreshTokenTtl`, but the form can be answered for 10 minutes. Re-creating the grant
  // under the same derived id would make the revoked access token valid again.
  let offset = 0;
  const now = () => Date.now() + offset;
  const s = await testServer({
    storage: expiring(memoryStorage(), now),
    now,
    refreshTokenTtl: 60,
    accessTokenTtl: 900,
  });
  const c = await register(s);
  const { fields, verifier } = await consentForm(s, c.client_id);
  const approved = await s.form("/authorize", { ...fields, decision: "approve" });
  assert.equal(approved.status, 302);
  const res = await exchange(s, c.client_id, codeOf(approved)!, verifier);
  assert.equal(res.status, 200);
  const tokens = await res.json();
  const gid = decodeJwt(tokens.access_token).gid as string;
  assert.equal(await s.auth.admin.revokeGrant(gid), true);
  assert.equal((await s.auth.verify(tokens.access_token)).ok, false);
  for (const later of [61_000, 300_000, 599_000]) {
    offset = later;
    const replay = await s.form("/authorize", { ...fields, decision: "approve" });
    assert.equal(replay.status, 400, `replay ${later / 1000} s later`);
    assert.equal(codeOf(replay), null);
    assert.equal((await s.auth.verify(tokens.access_token)).ok, false, `${later / 1000} s`);
    assert.equal((await s.auth.admin.listGrants()).length, 0);
  }
});

test("replaying a consent form after its grant expired (short lifetimes) is refused: one grant per form", async () => {
  // codeTtl 1 s, refresh 60 s, access 1 s: the grant's own lifetime (122 s) is shorter
  // than the form's 10 minutes.
  let offset = 0;
  const now = () => Date.now() + offset;
  const s = await testServer({
    storage: expiring(memoryStorage(), now),
    now,
    codeTtl: 1,
    refreshTokenTtl: 60,
    accessTokenTtl: 1,
  });
  const c = await register(s);
  const { fields } = await consentForm(s, c.client_id);
  assert.equal((await s.form("/authorize", { ...fields, decision: "approve" })).status, 302);
  offset = 130_000;
  const replay = await s.form("/authorize", { ...fields, decision: "approve" });
  assert.equal(replay.status, 400);
  assert.equal(count(s, "authorization.granted"), 1);
  // A denied form likewise cannot be approved later (the denial is kept as long as the form).
  const d = await consentForm(s, c.client_id);
  assert.equal((await s.form("/authorize", { ...d.fields, decision: "deny" })).status, 302);
  offset = 700_000;
  assert.equal((await s.form("/authorize", { ...d.fields, decision: "approve" })).status, 400);
  assert.equal(count(s, "authorization.granted"), 1);
});

test("forged and mutated codes and refresh tokens (the insider knows every gid) open and revoke nothing", async () => {
  const s = await testServer();
  const a = await tokensFor(s);
  const b = await tokensFor(s);
  const gidA = decodeJwt(a.access_token).gid as string;
  const secretA = a.refresh_token.slice(gidA.length + 1);
  const gidB = decodeJwt(b.access_token).gid as string;
  const secretB = b.refresh_token.slice(gidB.length + 1);
  // An unused code of client A's (a second grant) to misuse as a refresh token.
  const { code, verifier } = await codeFor(s, a.client_id);
  const forged = [
    `${gidA}.${garbage()}`,
    `${gidA}.${secretB}`, // another grant's real secret under A's id
    `${gidB}.${secretA}`, // A's real secret under B's id
    `${gidA}.`,
    `${gidA}`,
    `.${secretA}`,
    `${gidA}..${secretA}`,
    `${a.refresh_token}.`,
    `${a.refresh_token}.${secretA}`,
    `${gidA}.${secretA.slice(0, 42)}`,
    `${gidA}.${secretA}A`,
    `${gidA}.${secretA.slice(0, 42)}é`,
    `${gidA}\u0000.${secretA}`,
    `${gidA}.${"A".repeat(60_000)}`,
    "\u{1F512}".repeat(1000),
    a.refresh_token.toUpperCase(),
    code, // a code is not a refresh token
    a.access_token,
  ];
  for (const t of forged) {
    await expectError(await refreshWith(s, t, a.client_id), 400, "invalid_grant");
  }
  // The same values, and A's refresh token, as a code.
  for (const t of [...forged.filter((f) => f !== code), a.refresh_token]) {
    await expectError(await exchange(s, a.client_id, t, verifier), 400, "invalid_grant");
  }
  // Over the body limit: a JSON 413, not a 500.
  await expectError(
    await refreshWith(s, `${gidA}.${"A".repeat(70_000)}`, a.client_id),
    413,
    "invalid_request",
  );
  assert.equal(count(s, "refresh.reuse_detected"), 0);
  assert.equal(count(s, "code.replay_detected"), 0);
  assert.equal((await s.auth.admin.listGrants()).length, 3);
  // Nothing was consumed: the real code exchanges, the real refresh tokens rotate.
  assert.equal((await exchange(s, a.client_id, code, verifier)).status, 200);
  assert.equal((await refreshWith(s, a.refresh_token, a.client_id)).status, 200);
  assert.equal((await refreshWith(s, b.refresh_token, b.client_id)).status, 200);
});

test("another client's refresh token or code at /revoke and /introspect: 200 / inactive, nothing revoked", async () => {
  const s = await testServer();
  const victim = await confidentialTokens(s);
  const attacker = await confidentialTokens(s);
  const { code } = await codeFor(s, victim.id);
  const gid = decodeJwt(victim.access_token).gid as string;
  for (const token of [victim.refresh_token, victim.access_token, code, `${gid}.${garbage()}`]) {
    const r = await s.form("/revoke", { token }, attacker.auth);
    assert.equal(r.status, 200);
    await r.body?.cancel();
    const i = await (await s.form("/introspect", { token }, attacker.auth)).json();
    assert.deepEqual(i, { active: false });
  }
  // The victim's own code at /revoke or /introspect is not a token either: nothing happens.
  assert.equal((await s.form("/revoke", { token: code }, victim.auth)).status, 200);
  assert.deepEqual(
    await (await s.form("/introspect", { token: code }, victim.auth)).json(),
    { active: false },
  );
  assert.equal((await s.auth.admin.listGrants({ clientId: victim.id })).length, 2);
  assert.equal((await s.auth.verify(victim.access_token)).ok, true);
  const live = await (await s.form("/introspect", { token: victim.refresh_token }, victim.auth))
    .json();
  assert.equal(live.active, true);
});

test("one consent form approved 10× in parallel (memory, Deno KV): one code, one grant", async () => {
  for (const open of [() => Promise.resolve(null), () => Deno.openKv(":memory:")]) {
    const kv = await open();
    try {
      const s = await testServer({ storage: kv ? denoKvStorage(kv) : memoryStorage() });
      const c = await register(s);
      const { fields, verifier } = await consentForm(s, c.client_id);
      const answers = await Promise.all(
        Array.from(
          { length: 10 },
          (_, i) => s.form("/authorize", { ...fields, decision: i === 5 ? "deny" : "approve" }),
        ),
      );
      const codes = answers.map(codeOf).filter((x) => x !== null);
      const redirects = answers.filter((r) => r.status === 302).length;
      assert.equal(redirects, 1, answers.map((r) => r.status).join(","));
      assert.equal(answers.filter((r) => r.status === 400).length, 9);
      assert.ok(codes.length <= 1);
      assert.equal((await s.auth.admin.listGrants({ includeRevoked: true })).length, 1);
      if (codes.length) {
        assert.equal((await exchange(s, c.client_id, codes[0]!, verifier)).status, 200);
      }
    } finally {
      kv?.close();
    }
  }
});

test("20 parallel exchanges of one code (memory, Deno KV): one token set, the replays revoke the grant", async () => {
  for (const open of [() => Promise.resolve(null), () => Deno.openKv(":memory:")]) {
    const kv = await open();
    try {
      const s = await testServer({ storage: kv ? denoKvStorage(kv) : memoryStorage() });
      const c = await register(s);
      const { code, verifier } = await codeFor(s, c.client_id);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => exchange(s, c.client_id, code, verifier)),
      );
      const ok = results.filter((r) => r.status === 200);
      assert.equal(ok.length, 1);
      const tokens = await ok[0].json();
      for (const r of results.filter((r) => r.status !== 200)) {
        await expectError(r, 400, "invalid_grant");
      }
      assert.equal((await s.auth.verify(tokens.access_token)).ok, false);
      await expectError(
        await refreshWith(s, tokens.refresh_token, c.client_id),
        400,
        "invalid_grant",
      );
    } finally {
      kv?.close();
    }
  }
});

test("refresh → /revoke → retry inside the window: the sealed successor is not handed out", async () => {
  const s = await testServer();
  const t = await confidentialTokens(s);
  const rotate = (token: string) =>
    s.form("/token", { grant_type: "refresh_token", refresh_token: token }, t.auth);
  const next = await (await rotate(t.refresh_token)).json();
  assert.equal((await s.form("/revoke", { token: next.refresh_token }, t.auth)).status, 200);
  s.advance(1_000);
  const retry = await expectError(await rotate(t.refresh_token), 400, "invalid_grant");
  assert.equal("refresh_token" in retry, false);
  await expectError(await rotate(next.refresh_token), 400, "invalid_grant");
  assert.equal((await s.auth.verify(next.access_token)).ok, false);
});

test("an admin revocation before the code is exchanged holds; the code then opens nothing", async () => {
  const s = await testServer();
  const c = await register(s);
  const { code, verifier } = await codeFor(s, c.client_id);
  const gid = code.slice(0, code.indexOf("."));
  assert.equal(await s.auth.admin.revokeGrant(gid), true);
  await expectError(await exchange(s, c.client_id, code, verifier), 400, "invalid_grant");
  const [g] = await s.auth.admin.listGrants({ includeRevoked: true });
  assert.equal(g.revokedReason, "revoked by admin");
});

test("at rest: no code, refresh token, access token or client secret appears in storage", async () => {
  const storage = memoryStorage();
  const s = await testServer({ storage });
  const t = await confidentialTokens(s);
  const { code } = await codeFor(s, t.id);
  const rotated = await (await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: t.refresh_token,
  }, t.auth)).json();
  const again = await (await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: rotated.refresh_token,
  }, t.auth)).json();
  const dump = JSON.stringify(await storage.list([]));
  const secrets = [t.secret, t.refresh_token, rotated.refresh_token, again.refresh_token, code];
  for (const v of [...secrets, t.access_token, rotated.access_token, again.access_token]) {
    const secretPart = v.includes(".") ? v.slice(v.lastIndexOf(".") + 1) : v;
    assert.equal(dump.includes(secretPart), false, "a secret is stored in clear");
  }
  // The tombstone of the token two rotations back is keyed by its hash, not the token.
  assert.equal((await storage.list(["refresh"])).length, 1);
});

/** Run `f` on the memory driver and on Deno KV (in memory): the strong drivers built in here. */
async function onStrongDrivers(f: (storage: Storage) => Promise<void>): Promise<void> {
  await f(memoryStorage());
  const kv = await Deno.openKv(":memory:");
  try {
    await f(denoKvStorage(kv));
  } finally {
    kv.close();
  }
}

/** Yield to the event loop `n` times (shuffles the interleaving of concurrent requests). */
async function yields(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

test("admin revocation racing the code exchange (memory, Deno KV, 30 rounds each): the revocation always stays", async () => {
  await onStrongDrivers(async (storage) => {
    const s = await testServer({ storage });
    const c = await register(s);
    for (let round = 0; round < 30; round++) {
      const { code, verifier } = await codeFor(s, c.client_id);
      const gid = code.slice(0, code.indexOf("."));
      const [res] = await Promise.all([
        (async () => (await yields(round % 7), await exchange(s, c.client_id, code, verifier)))(),
        (async () => (await yields((round * 3) % 5), await s.auth.admin.revokeGrant(gid)))(),
      ]);
      const [g] = await s.auth.admin.listGrants({ includeRevoked: true, clientId: c.client_id })
        .then((all) => all.filter((x) => x.id === gid));
      assert.ok(g?.revokedAt, `round ${round} (${storage.name}): the grant is revoked`);
      if (res.status === 200) {
        const t = await res.json();
        assert.equal((await s.auth.verify(t.access_token)).ok, false);
        await expectError(await refreshWith(s, t.refresh_token, c.client_id), 400, "invalid_grant");
      } else {
        await expectError(res, 400, "invalid_grant");
      }
    }
  });
});

test("parallel refresh bursts across rotations (memory, Deno KV): one successor per token, a stale use only ever revokes", async () => {
  await onStrongDrivers(async (storage) => {
    const s = await testServer({ storage });
    const t = await tokensFor(s);
    let current = t.refresh_token;
    let before: string | undefined;
    for (let round = 0; round < 6; round++) {
      // 8 uses of the current token and (from round 1) one of the token before it, together.
      const batch = [...Array(8).fill(current), ...(before ? [before] : [])];
      const results = await Promise.all(batch.map((tok) => refreshWith(s, tok, t.client_id)));
      const bodies = await Promise.all(results.map((r) => r.json()));
      for (const [i, r] of results.entries()) {
        if (r.status !== 200) {
          assert.equal(bodies[i].error, "invalid_grant", JSON.stringify(bodies[i]));
        }
      }
      const issued = new Set(
        bodies.slice(0, 8).filter((b) => b.refresh_token).map((b) => b.refresh_token),
      );
      assert.ok(
        issued.size <= 1,
        `${storage.name} round ${round}: one successor, not ${issued.size}`,
      );
      if (before) {
        // The older token: a retry (its successor, the current token) if it came before the
        // rotation, else (now two rotations back) reuse, which revokes everything.
        const old = bodies[8];
        if (results[8].status === 200) assert.equal(old.refresh_token, current);
        else {
          assert.equal(count(s, "refresh.reuse_detected"), 1);
          assert.equal((await s.auth.admin.listGrants({ clientId: t.client_id })).length, 0);
          for (const tok of [current, ...issued]) {
            await expectError(await refreshWith(s, tok, t.client_id), 400, "invalid_grant");
          }
          return;
        }
      }
      assert.equal(issued.size, 1);
      assert.equal(count(s, "refresh.reuse_detected"), 0);
      before = current;
      current = [...issued][0];
    }
    // No stale use came late: the chain continues; a token two rotations back is theft.
    assert.equal((await refreshWith(s, current, t.client_id)).status, 200);
    await expectError(await refreshWith(s, before!, t.client_id), 400, "invalid_grant");
    assert.equal(count(s, "refresh.reuse_detected"), 1);
    await expectError(await refreshWith(s, current, t.client_id), 400, "invalid_grant");
  });
});

test("a public client's id with a forged `gid.garbage` at /revoke revokes nothing", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const gid = decodeJwt(t.access_token).gid as string;
  for (const token of [`${gid}.${garbage()}`, `${gid}.`, gid, `${gid}.${garbage()}.x`]) {
    const r = await s.form("/revoke", { token, client_id: t.client_id });
    assert.equal(r.status, 200);
    await r.body?.cancel();
  }
  assert.equal((await s.auth.verify(t.access_token)).ok, true);
  assert.equal((await refreshWith(s, t.refresh_token, t.client_id)).status, 200);
});

test("a refused consent answer (replayed, or approve after deny) remembers nothing: the next request asks again", async () => {
  const s = await testServer({ consent: { rememberFor: 3600 } });
  const c = await register(s, { token_endpoint_auth_method: "client_secret_basic" });
  const page = async () => {
    const { challenge } = await pkce();
    return await s.call(authorizeQuery({
      response_type: "code",
      client_id: c.client_id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: "S256",
      resource: RESOURCE,
    }));
  };
  // The user denies; the same form is then submitted as an approval (back button, double
  // click): refused — and it must not leave a remembered approval behind.
  const first = await page();
  assert.equal(first.status, 200);
  const fields = consentFields(await first.text());
  assert.equal((await s.form("/authorize", { ...fields, decision: "deny" })).status, 302);
  assert.equal((await s.form("/authorize", { ...fields, decision: "approve" })).status, 400);
  assert.deepEqual(await s.auth.admin.listApprovals("alice"), []);
  const next = await page();
  assert.equal(next.status, 200, "the consent page again, not a silent code");
  // Approve (remembered), the operator forgets the approval, the form is replayed: refused,
  // and the approval stays forgotten.
  const again = consentFields(await next.text());
  assert.equal((await s.form("/authorize", { ...again, decision: "approve" })).status, 302);
  assert.equal((await s.auth.admin.listApprovals("alice")).length, 1);
  assert.equal(await s.auth.admin.revokeApprovals({ clientId: c.client_id }), 1);
  assert.equal((await s.form("/authorize", { ...again, decision: "approve" })).status, 400);
  assert.deepEqual(await s.auth.admin.listApprovals("alice"), []);
  const last = await page();
  assert.equal(last.status, 200);
  await last.body?.cancel();
});

test("after the grant expired: its current and rotated refresh tokens and its code are invalid_grant, nothing else happens", async () => {
  const s = await testServer({ refreshTokenTtl: 60, accessTokenTtl: 900 });
  const c = await register(s);
  const { code, verifier } = await codeFor(s, c.client_id);
  const t = await (await exchange(s, c.client_id, code, verifier)).json();
  const next = await (await refreshWith(s, t.refresh_token, c.client_id)).json();
  s.advance(2 * 3600_000);
  for (const token of [t.refresh_token, next.refresh_token]) {
    await expectError(await refreshWith(s, token, c.client_id), 400, "invalid_grant");
  }
  await expectError(await exchange(s, c.client_id, code, verifier), 400, "invalid_grant");
  assert.equal(count(s, "refresh.reuse_detected"), 0);
  assert.equal(count(s, "code.replay_detected"), 0);
  assert.equal((await s.auth.admin.listGrants({ includeRevoked: true })).length, 0);
});
