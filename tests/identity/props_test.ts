/**
 * Grant props and claims from `authenticate` (issue 9 §2): props sealed at rest with AES-GCM
 * bound to the grant id, never in the JWT, returned by the same-process `auth.verify` and
 * reaching MCP tools as `extra.authInfo.extra.props`; claims added to the access token
 * without overriding registered ones; key rotation; the `refreshProps` hook; revocation
 * forgets the props.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { base64url, decodeJwt } from "jose";
import { memoryStorage } from "../../mod.ts";
import type { Storage } from "../../mod.ts";
import { toAuthInfo } from "../../mcp.ts";
import { refreshWith, testServer, tokensFor } from "../support/flow.ts";
import { loginForm } from "../../src/identity/mod.ts";

const SECRET = "upstream-secret-token-4f1b2c";
const key = () => ({
  kid: "k" + crypto.randomUUID().slice(0, 8),
  key: base64url.encode(crypto.getRandomValues(new Uint8Array(32))),
});

/** Every byte the driver holds, as one string (the memory driver keeps JSON envelopes). */
async function rawDump(storage: Storage): Promise<string> {
  const all = await storage.list([]);
  return JSON.stringify(all);
}

function withProps(extra: Record<string, unknown> = {}) {
  return () => ({
    subject: "alice",
    props: { upstreamToken: SECRET, n: 1 },
    claims: { tenant: "acme", sub: "mallory", iss: "https://evil", scope: "mcp:admin" },
    ...extra,
  });
}

test("props: sealed at rest, not in the JWT, returned by auth.verify and toAuthInfo", async () => {
  const storage = memoryStorage();
  const k1 = key();
  const s = await testServer({ storage, encryptionKeys: [k1], authenticate: withProps() });
  const t = await tokensFor(s);
  const claims = decodeJwt(t.access_token);
  assert.equal(claims.tenant, "acme");
  assert.equal(claims.sub, "alice", "registered claims cannot be overridden");
  assert.equal(claims.iss, "https://as.example.com");
  assert.equal(claims.scope, "mcp:read");
  assert.ok(!t.access_token.includes(base64url.encode(SECRET)));
  assert.ok(!JSON.stringify(claims).includes(SECRET));

  const raw = await rawDump(storage);
  assert.ok(raw.includes('"props"'), "a props record exists");
  assert.ok(!raw.includes(SECRET), "the secret is not readable in storage");
  assert.ok(!raw.includes("upstreamToken"), "nor the prop names");

  const v = await s.auth.verify(t.access_token);
  assert.ok(v.ok);
  assert.deepEqual(v.claims.props, { upstreamToken: SECRET, n: 1 });
  const info = toAuthInfo(v.claims);
  assert.deepEqual(info.extra?.props, { upstreamToken: SECRET, n: 1 });
  assert.equal(info.extra?.subject, "alice");

  // The refreshed access token carries the claims too.
  const r = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(r.status, 200);
  const again = await r.json();
  assert.equal(decodeJwt(again.access_token).tenant, "acme");
});

test("props: ciphertext is bound to its grant id and opens only with a configured key", async () => {
  const storage = memoryStorage();
  const k1 = key();
  const s = await testServer({ storage, encryptionKeys: [k1], authenticate: withProps() });
  const a = await tokensFor(s);
  const b = await tokensFor(s);
  const gidA = decodeJwt(a.access_token).gid as string;
  const gidB = decodeJwt(b.access_token).gid as string;
  // Copy A's sealed props onto B: the associated data no longer matches, B sees no props.
  const sealedA = await storage.get(["props", gidA]);
  assert.ok(sealedA);
  await storage.set(["props", gidB], sealedA);
  const vb = await s.auth.verify(b.access_token);
  assert.ok(vb.ok);
  assert.equal(vb.claims.props, undefined);

  // Rotation: a server with [k2, k1] still opens k1's ciphertext; one with only k2 does not.
  const k2 = key();
  const rotated = await testServer({
    storage,
    encryptionKeys: [k2, k1],
    authenticate: withProps(),
  });
  const va = await rotated.auth.verify(a.access_token);
  assert.ok(va.ok);
  assert.equal(va.claims.props?.upstreamToken, SECRET);
  const c = await tokensFor(rotated);
  const sealedC = (await storage.get(["props", decodeJwt(c.access_token).gid as string]))!
    .data as { sealed: string };
  assert.ok(sealedC.sealed.startsWith(k2.kid + "."), "the first key encrypts");
  const dropped = await testServer({ storage, encryptionKeys: [k2], authenticate: withProps() });
  const vd = await dropped.auth.verify(a.access_token);
  assert.ok(vd.ok, "the token stays valid");
  assert.equal(vd.claims.props, undefined, "props sealed with a dropped key do not open");
});

test("props: refreshProps hook updates them on every downstream refresh; revocation forgets them", async () => {
  const storage = memoryStorage();
  const seen: unknown[] = [];
  const s = await testServer({
    storage,
    encryptionKeys: [key()],
    authenticate: withProps(),
    refreshProps: ({ grant, props }) => {
      seen.push(props);
      assert.equal(grant.subject, "alice");
      return { ...props, n: (props?.n as number) + 1 };
    },
  });
  const t = await tokensFor(s);
  let rt = t.refresh_token;
  for (let i = 0; i < 2; i++) {
    const r = await refreshWith(s, rt, t.client_id);
    assert.equal(r.status, 200);
    rt = (await r.json()).refresh_token;
  }
  assert.deepEqual(seen.map((p) => (p as { n: number }).n), [1, 2]);
  const v = await s.auth.verify(t.access_token);
  assert.ok(v.ok);
  assert.equal(v.claims.props?.n, 3);

  const gid = decodeJwt(t.access_token).gid as string;
  assert.ok(await s.auth.admin.revokeGrant(gid));
  assert.equal(await storage.get(["props", gid]), undefined, "props are deleted with the grant");
});

test("props: a throwing refreshProps hook is reported and the refresh proceeds", async () => {
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => errors.push(m);
  try {
    const s = await testServer({
      encryptionKeys: [key()],
      authenticate: withProps(),
      quiet: false,
      refreshProps: () => {
        throw new Error("boom");
      },
    });
    const t = await tokensFor(s);
    const r = await refreshWith(s, t.refresh_token, t.client_id);
    assert.equal(r.status, 200);
    await r.body?.cancel();
    // Reported like every app hook: an `error` event naming the hook, and one console line.
    const reported = s.events.filter((e) => e.type === "error");
    assert.equal(reported.length, 1);
    assert.equal(reported[0].hook, "refreshProps");
    assert.equal(reported[0].endpoint, "/token");
    assert.match(String(reported[0].error), /boom/);
    assert.equal(errors.filter((m) => /refreshProps hook threw on \/token/.test(m)).length, 1);
    assert.ok(!errors.some((m) => m.includes(SECRET)), "no props in the log");
    const v = await s.auth.verify(t.access_token);
    assert.ok(v.ok);
    assert.equal(v.claims.props?.upstreamToken, SECRET, "props kept");
  } finally {
    console.error = orig;
  }
});

test("props: a server without props does no extra storage reads at verify", async () => {
  const storage = memoryStorage();
  let gets = 0;
  const counting: Storage = {
    ...storage,
    name: storage.name,
    consistency: storage.consistency,
    get: (k) => {
      gets++;
      return storage.get(k);
    },
  };
  const s = await testServer({ storage: counting, revocation: { mode: "stateless" } });
  const t = await tokensFor(s);
  gets = 0;
  const v = await s.auth.verify(t.access_token);
  assert.ok(v.ok);
  assert.equal(gets, 0);
  assert.equal(v.claims.props, undefined);
});

test("config: a malformed encryption key is refused at start", async () => {
  await assert.rejects(
    () => testServer({ encryptionKeys: [{ kid: "x", key: "short" }] }),
    /encryptionKeys/,
  );
});

test("generateEncryptionKey: a usable, valid key with a kid", async () => {
  const { generateEncryptionKey } = await import("../../mod.ts");
  const k = generateEncryptionKey();
  assert.match(k.key, /^[A-Za-z0-9_-]{43}$/);
  assert.match(k.kid, /^\d{4}-\d{2}-\d{2}-/);
  assert.notEqual(generateEncryptionKey().key, k.key);
  const s = await testServer({ encryptionKeys: [k], authenticate: withProps() });
  const t = await tokensFor(s);
  const v = await s.auth.verify(t.access_token);
  assert.ok(v.ok);
  assert.equal(v.claims.props?.upstreamToken, SECRET);
  assert.throws(() => generateEncryptionKey("bad kid!"), /kid/);
});

test("props: storage failing while props are updated on refresh does not fail the refresh", async () => {
  const inner = memoryStorage();
  let failProps = false;
  const storage: Storage = {
    ...inner,
    name: "flaky-props",
    consistency: "strong",
    set: (k, v) =>
      failProps && k[0] === "props" ? Promise.reject(new Error("down")) : inner.set(k, v),
  };
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => void errors.push(m);
  try {
    const s = await testServer({
      storage,
      encryptionKeys: [key()],
      authenticate: withProps(),
      refreshProps: ({ props }) => ({ ...props, n: 2 }),
    });
    const t = await tokensFor(s);
    failProps = true;
    const r = await refreshWith(s, t.refresh_token, t.client_id);
    assert.equal(r.status, 200, "the client gets its new tokens");
    const body = await r.json();
    assert.ok(body.refresh_token);
    assert.match(errors.join("\n"), /props not updated on refresh: StorageError/);
  } finally {
    console.error = orig;
  }
});

test("props: the bare key `keys generate` prints (GATEHOUSE_ENCRYPTION_KEY) seals, and survives rotation", async () => {
  const { generateKeys } = await import("../../src/cli/keys.ts");
  const oldKey = (await generateKeys("EdDSA")).encryptionKey;
  const newKey = (await generateKeys("EdDSA")).encryptionKey;
  assert.match(oldKey, /^[A-Za-z0-9_-]{43}$/);
  const storage = memoryStorage();
  const s1 = await testServer({ storage, encryptionKeys: [oldKey], authenticate: withProps() });
  const t = await tokensFor(s1);
  // Rotation: the new key first, the old one kept for what it sealed.
  const s2 = await testServer({
    storage,
    encryptionKeys: [newKey, oldKey],
    authenticate: withProps(),
  });
  const v = await s2.auth.verify(t.access_token);
  assert.ok(v.ok);
  assert.equal(v.claims.props?.upstreamToken, SECRET);
  // Without the old key the props no longer open.
  const s3 = await testServer({ storage, encryptionKeys: [newKey], authenticate: withProps() });
  const v3 = await s3.auth.verify(t.access_token);
  assert.equal(v3.ok && v3.claims.props?.upstreamToken, undefined);
});

test("props: without encryptionKeys one warning — at the first props write, or at start with an identity plugin", async () => {
  const warned: string[] = [];
  const warn = console.warn;
  console.warn = (m: string) => void warned.push(String(m));
  const ephemeral = (lines: string[]) =>
    lines.filter((m) => /no encryptionKeys configured; .*ephemeral key/.test(m));
  try {
    // authenticate returning props: nothing at start, one line at the first grant, not again.
    const s = await testServer({ authenticate: withProps(), quiet: false });
    assert.deepEqual(ephemeral(warned), []);
    await tokensFor(s);
    await tokensFor(s);
    assert.equal(ephemeral(warned).length, 1, warned.join("\n"));
    // An identity plugin (loginForm) seals its sessions with the key: warned at start.
    warned.length = 0;
    await testServer({ authenticate: loginForm({ verify: () => null }), quiet: false });
    assert.equal(ephemeral(warned).length, 1, warned.join("\n"));
    // Configured keys, or quiet: no such line.
    warned.length = 0;
    await testServer({
      authenticate: loginForm({ verify: () => null }),
      encryptionKeys: [key()],
      quiet: false,
    });
    await testServer({ authenticate: loginForm({ verify: () => null }) });
    assert.deepEqual(ephemeral(warned), []);
  } finally {
    console.warn = warn;
  }
});
