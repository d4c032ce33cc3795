/**
 * Attacks on the upstream-identity and grant-props features (issue 9) and on the retry-safe
 * refresh rotation (issue 7 item 5 / issue 8 item 8), each found by a review and kept as a
 * regression test: parallel password guessing past the loginForm lockout, a malformed
 * `return_to`, and grant props written back after their grant was revoked.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { base64url, decodeJwt, generateKeyPair, SignJWT } from "jose";
import { createAuthServer, generateSigningKey, memoryStorage } from "../mod.ts";
import { loginForm, oidc } from "../src/identity/mod.ts";
import type { LoginFormOptions } from "../src/identity/mod.ts";
import {
  authorizeQuery,
  pkce,
  REDIRECT,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";
import { Browser } from "./support/browser.ts";
import { CLIENT_REDIRECT } from "./support/mcp_client.ts";
import {
  failureTarget,
  signInThroughUpstream,
  startUpstreamOidc,
} from "./support/upstream_oidc.ts";

const encryptionKeys = () => [{
  kid: "t",
  key: base64url.encode(crypto.getRandomValues(new Uint8Array(32))),
}];

/** A server with loginForm, and one rendered sign-in form (its hidden fields + CSRF cookie). */
async function loginServer(verify: LoginFormOptions["verify"], maxFailures = 3) {
  const s = await testServer({
    authenticate: loginForm({ verify, maxFailures }),
    encryptionKeys: encryptionKeys(),
  });
  const client = await register(s);
  const { challenge } = await pkce();
  const page = await s.call(authorizeQuery({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: RESOURCE,
    state: "st",
  }));
  assert.equal(page.status, 200);
  const setCookie = page.headers.get("set-cookie") ?? "";
  assert.match(setCookie, /; Secure/, "an https issuer's cookies are Secure");
  const cookie = /gatehouse_login_csrf=([^;]+)/.exec(setCookie)![1];
  const fields: Record<string, string> = {};
  for (const m of (await page.text()).matchAll(/name="(csrf|return_to)" value="([^"]*)"/g)) {
    fields[m[1]] = m[2].replaceAll("&amp;", "&");
  }
  const submit = (extra: Record<string, string>) =>
    s.form("/login", { ...fields, ...extra }, { cookie: `gatehouse_login_csrf=${cookie}` });
  return { s, fields, submit };
}

test("loginForm: 20 parallel wrong passwords get at most maxFailures checks (lockout not raced past)", async () => {
  const N = 20;
  const MAX = 3;
  let checks = 0;
  let settled = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  // Every request that reached verify waits until each of the N has either reached verify
  // or been answered: so all N overlap, without any timing.
  const maybeRelease = () => {
    if (checks + settled >= N) release();
  };
  const { submit } = await loginServer(async () => {
    checks++;
    maybeRelease();
    await gate;
    return null;
  }, MAX);
  const statuses = await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      const res = await submit({ username: "alice", password: `guess-${i}` });
      await res.body?.cancel();
      settled++;
      maybeRelease();
      return res.status;
    }),
  );
  assert.ok(checks <= MAX, `verify ran ${checks} times for ${N} parallel guesses (max ${MAX})`);
  assert.equal(statuses.filter((x) => x === 401).length, checks);
  assert.equal(statuses.filter((x) => x === 429).length, N - checks);
});

test("loginForm: a right password after the wrong ones still resets the counter (no lockout leak)", async () => {
  const { submit } = await loginServer((f) => f.password === "right" ? "user-alice" : null, 3);
  for (let i = 0; i < 2; i++) {
    const r = await submit({ username: "alice", password: "wrong" });
    assert.equal(r.status, 401);
    await r.body?.cancel();
  }
  const ok = await submit({ username: "alice", password: "right" });
  assert.equal(ok.status, 303);
  for (let i = 0; i < 3; i++) {
    const r = await submit({ username: "alice", password: "wrong" });
    assert.equal(r.status, 401, "the success cleared the earlier failures");
    await r.body?.cancel();
  }
  const locked = await submit({ username: "alice", password: "right" });
  assert.equal(locked.status, 429);
  await locked.body?.cancel();
});

test("loginForm: a return_to with CR/LF or a non-authorize target → 400 page, never a 500 or a redirect elsewhere", async () => {
  const { submit, fields } = await loginServer(() => "user-alice");
  for (
    const returnTo of [
      fields.return_to + "\r\nset-cookie: x=1",
      fields.return_to + "\n",
      "/authorize?x=\u0000",
      "//evil.example/authorize?x",
      "/authorize/../evil?x",
    ]
  ) {
    const res = await submit({ username: "alice", password: "p", return_to: returnTo });
    assert.equal(res.status, 400, JSON.stringify(returnTo));
    assert.equal(res.headers.get("location"), null);
    await res.body?.cancel();
  }
});

async function propsServer(hook?: (s: TestServer, grantId: string) => Promise<void>) {
  const storage = memoryStorage();
  const ref: { s?: TestServer } = {};
  const s = ref.s = await testServer({
    storage,
    encryptionKeys: encryptionKeys(),
    authenticate: () => ({ subject: "alice", props: { upstreamToken: "secret-up" } }),
    refreshProps: async ({ grant, props }) => {
      await hook?.(ref.s!, grant.id);
      return { ...props, n: 2 };
    },
  });
  return { s, storage };
}

test("props: a revocation that lands while refreshProps runs is not undone (props stay deleted)", async () => {
  const { s, storage } = await propsServer(async (s, gid) => {
    assert.ok(await s.auth.admin.revokeGrant(gid), "revoked while the refresh is finishing");
  });
  const t = await tokensFor(s);
  const gid = decodeJwt(t.access_token).gid as string;
  const r = await refreshWith(s, t.refresh_token, t.client_id);
  await r.body?.cancel();
  assert.equal(
    await storage.get(["props", gid]),
    undefined,
    "the revoked grant's props (its upstream tokens) are not written back",
  );
  const v = await s.auth.verify(t.access_token);
  assert.equal(v.ok, false);
});

test("refresh retry: the rotated token revoked at /revoke (RFC 7009) yields nothing afterwards, not the sealed successor", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const first = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(first.status, 200);
  const successor = await first.json();
  // The client lost that response and signs out with the token it still holds.
  const rv = await s.form("/revoke", { token: t.refresh_token, client_id: t.client_id });
  assert.equal(rv.status, 200);
  await rv.body?.cancel();
  const retry = await refreshWith(s, t.refresh_token, t.client_id);
  const text = await retry.text();
  assert.equal(retry.status, 400, `a revoked token still refreshed: ${text}`);
  assert.equal(JSON.parse(text).error, "invalid_grant");
  const next = await refreshWith(s, successor.refresh_token, t.client_id);
  assert.equal(next.status, 400, "the successor it would have opened is dead too");
  await next.body?.cancel();
  assert.equal((await s.auth.verify(successor.access_token)).ok, false);
});

test("refresh retry: a revoked grant gives nothing through the sealed successor, whoever retries", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const first = await refreshWith(s, t.refresh_token, t.client_id);
  const successor = await first.json();
  const gid = decodeJwt(t.access_token).gid as string;
  assert.ok(await s.auth.admin.revokeGrant(gid));
  for (const scope of [undefined, "mcp:read"]) {
    const retry = await s.form("/token", {
      grant_type: "refresh_token",
      refresh_token: t.refresh_token,
      client_id: t.client_id,
      ...(scope ? { scope } : {}),
    });
    assert.equal(retry.status, 400);
    assert.equal((await retry.json()).error, "invalid_grant");
  }
  assert.equal((await s.auth.verify(successor.access_token)).ok, false);
  const other = await register(s);
  const stolen = await refreshWith(s, t.refresh_token, other.client_id);
  assert.equal(stolen.status, 400);
  await stolen.body?.cancel();
});

/**
 * Gatehouse with oidc() against oidc-provider; `forge` rewrites the ID token its token endpoint
 * returns (same `sub`, so the userinfo `sub` check cannot catch it; an extra `groups` claim an
 * app would map to roles). Returns where the browser ended and the profiles the app was given.
 */
async function forgedIdTokenSignIn(
  forge: (
    claims: Record<string, unknown>,
    kid: string,
    secret: string,
    original: string,
  ) => Promise<string>,
) {
  let handler: (req: Request) => Response | Promise<Response> = () => new Response(null);
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (r) => handler(r),
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  const upstream = await startUpstreamOidc([origin + "/callback/oidc"]);
  const profiles: Record<string, unknown>[] = [];
  const up = oidc({
    issuer: upstream.issuer,
    clientId: upstream.clientId,
    clientSecret: upstream.clientSecret,
    props: (identity) => {
      profiles.push(identity.profile);
      return {};
    },
    // On the wire between Gatehouse and the provider's token endpoint (OIDC Core §3.1.3.7
    // lets a client rely on the provider's TLS instead of the signature; a TLS-terminating
    // proxy, a stand-in issuer or a misrouted `fetch` breaks that).
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      if (!url.endsWith("/token") || res.status !== 200) return res;
      const body = await res.json();
      const claims = { ...decodeJwt(body.id_token), groups: ["admin"] };
      body.id_token = await forge(
        claims,
        upstream.signingKey.kid!,
        upstream.clientSecret,
        body.id_token,
      );
      return Response.json(body);
    },
  });
  const auth = createAuthServer({
    issuer: origin,
    resources: [origin + "/mcp"],
    authenticate: up,
    storage: memoryStorage(),
    encryptionKeys: encryptionKeys(),
    keys: [await generateSigningKey()],
    quiet: true,
  });
  handler = (req) => auth.handle(req);
  const reg = await auth.handle(
    new Request(origin + "/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: [CLIENT_REDIRECT],
        token_endpoint_auth_method: "none",
      }),
    }),
  );
  const { client_id } = await reg.json();
  const { challenge } = await pkce();
  const start = `${origin}/authorize?${new URLSearchParams({
    response_type: "code",
    client_id,
    redirect_uri: CLIENT_REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "s",
    resource: origin + "/mcp",
  })}`;
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => void errors.push(m);
  try {
    const r = await signInThroughUpstream(new Browser(), start, {
      issuer: upstream.issuer,
      clientRedirect: CLIENT_REDIRECT,
    });
    return { r, errors, profiles };
  } finally {
    console.error = orig;
    await server.shutdown();
    await upstream.close();
  }
}

test("upstream OIDC: a forged ID token (another key under the provider's kid, alg none, HS256 with the client secret) → refused, no code", async () => {
  const { privateKey } = await generateKeyPair("RS256");
  const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
  const forgeries = {
    "another key": (c: Record<string, unknown>, kid: string) =>
      new SignJWT(c).setProtectedHeader({ alg: "RS256", kid }).sign(privateKey),
    "alg none": (c: Record<string, unknown>) =>
      Promise.resolve(`${enc({ alg: "none" })}.${enc(c)}.`),
    "HS256 with the client secret": (c: Record<string, unknown>, _k: string, secret: string) =>
      new SignJWT(c).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(secret)),
  };
  for (const [what, forge] of Object.entries(forgeries)) {
    const { r, errors, profiles } = await forgedIdTokenSignIn(forge);
    assert.deepEqual(profiles, [], `${what}: the app was handed ${JSON.stringify(profiles)}`);
    assert.equal(r.res?.status, 403, `${what}: ended at ${r.url.href}`);
    const url = await failureTarget(r);
    assert.equal(url.searchParams.get("error"), "access_denied");
    assert.equal(url.searchParams.get("code"), null);
    assert.ok(errors.some((e) => /sign-in failed/.test(e)), what);
  }
});

test("upstream OIDC: the provider's own ID token still signs in (its signature checks out)", async () => {
  const { r, profiles } = await forgedIdTokenSignIn((_c, _k, _s, original) =>
    Promise.resolve(original)
  );
  assert.ok(r.url.searchParams.get("code"), `ended at ${r.url.href}`);
  assert.equal(profiles.length, 1);
  assert.equal(profiles[0].groups, undefined);
});

test("loginForm: a tampered session cookie, or another sealed value (the form's CSRF token) as one, signs no one in", async () => {
  const { s, fields, submit } = await loginServer(() => "user-alice");
  const ok = await submit({ username: "alice", password: "p" });
  assert.equal(ok.status, 303);
  const session = /gatehouse_session=([^;]+)/.exec(ok.headers.get("set-cookie") ?? "")![1];
  const flip = (v: string) => v.slice(0, -2) + (v.at(-2) === "A" ? "B" : "A") + v.at(-1);
  const authorize = new URL(fields.return_to, "https://as.example.com").pathname +
    new URL(fields.return_to, "https://as.example.com").search;
  for (const cookie of [session, flip(session), fields.csrf]) {
    const res = await s.call(authorize, { headers: { cookie: `gatehouse_session=${cookie}` } });
    const html = await res.text();
    const signedIn = html.includes('name="decision"');
    assert.equal(signedIn, cookie === session, `cookie ${cookie.slice(0, 12)}…`);
    if (!signedIn) assert.match(html, /name="password"/);
  }
});

test("loginForm: Unicode look-alike spellings of a user name (NFKC: fullwidth forms) share one failure count", async () => {
  // An app that compares user names NFKC-normalised and case-folded (common for e-mail-like ids).
  const { submit } = await loginServer(
    (f) =>
      f.username.normalize("NFKC").trim().toLowerCase() === "alice" && f.password === "right"
        ? "user-alice"
        : null,
    3,
  );
  const spellings = ["alice", "ａｌｉｃｅ", "ＡＬＩＣＥ", "Ａlice", " Alice "];
  const statuses: number[] = [];
  for (const username of spellings) {
    const r = await submit({ username, password: "wrong" });
    statuses.push(r.status);
    await r.body?.cancel();
  }
  assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
  const locked = await submit({ username: "ａlice", password: "right" });
  assert.equal(locked.status, 429);
  await locked.body?.cancel();
});

test("refresh retry: refreshReuseWindow 0 means no retry even in the same millisecond (reuse revokes)", async () => {
  const at = Date.now();
  const s = await testServer({ refreshReuseWindow: 0, now: () => at });
  const t = await tokensFor(s);
  const first = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(first.status, 200);
  const successor = await first.json();
  const again = await refreshWith(s, t.refresh_token, t.client_id);
  const text = await again.text();
  assert.equal(again.status, 400, `reuse with the window off got tokens: ${text}`);
  assert.ok(s.events.some((e) => e.type === "refresh.reuse_detected"));
  assert.equal((await s.auth.verify(successor.access_token)).ok, false, "the grant is revoked");
});
