/**
 * Sign-in through a real OpenID Connect provider (issue 9 §5): `oidc-provider` from npm runs
 * in this process on loopback; a browser is driven over HTTP through its real login and
 * consent pages. Covers the full MCP flow with the real MCP SDK client, a tool calling the
 * provider's userinfo with the stored upstream token, one upstream refresh for 50 concurrent
 * tool calls (two Gatehouse instances sharing storage), permanent refresh failure, upstream
 * revocation, denial, and refused callbacks (tampered state, wrong issuer, wrong nonce,
 * another browser, provider down, the token endpoint refusing the code exchange).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { base64url, decodeJwt, importJWK, SignJWT } from "jose";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/auth"
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { createAuthServer, generateSigningKey, memoryStorage } from "../../mod.ts";
import type { AuthServer, Storage } from "../../mod.ts";
import { protectMcp, toAuthInfo } from "../../mcp.ts";
import { oidc, UpstreamError } from "../../src/identity/mod.ts";
import type { Upstream } from "../../src/identity/mod.ts";
import { Browser } from "../support/browser.ts";
import { CLIENT_REDIRECT, TestProvider } from "../support/mcp_client.ts";
import {
  failureTarget,
  signInThroughUpstream,
  startUpstreamOidc,
} from "../support/upstream_oidc.ts";
import type { UpstreamOidc } from "../support/upstream_oidc.ts";
import { pkce } from "../support/flow.ts";
import { createSealer } from "../../src/props.ts";
import { envelope } from "../../storage/mod.ts";

const signingKey = generateSigningKey();
const encryptionKeys = [{
  kid: "t1",
  key: base64url.encode(crypto.getRandomValues(new Uint8Array(32))),
}];

interface Gatehouse {
  origin: string;
  mcpUrl: string;
  auth: AuthServer;
  up: Upstream;
  storage: Storage;
  advance(ms: number): void;
  close(): Promise<void>;
}

/** Serve Gatehouse (+ an MCP server whose tools use the upstream token) on a loopback port. */
async function serveGatehouse(
  makeUpstream: (origin: string) => Promise<{ up: Upstream; upstream?: UpstreamOidc }>,
  shared?: { storage: Storage; clock: { offset: number } },
): Promise<Gatehouse & { upstream?: UpstreamOidc }> {
  let handler: (req: Request) => Promise<Response> = () =>
    Promise.resolve(new Response("starting", { status: 503 }));
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (r) => handler(r),
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  const storage = shared?.storage ?? memoryStorage();
  const clock = shared?.clock ?? { offset: 0 };
  const { up, upstream } = await makeUpstream(origin);
  const auth = createAuthServer({
    issuer: origin,
    resources: [origin + "/mcp"],
    scopes: ["mcp:read"],
    authenticate: up,
    storage,
    encryptionKeys,
    keys: [await signingKey],
    accessTokenTtl: 86400,
    now: () => Date.now() + clock.offset,
    quiet: true,
  });
  const mcp = protectMcp(() => {
    const s = new McpServer({ name: "upstream-test", version: "1.0.0" });
    s.registerTool("whoami", { description: "subject" }, (extra) => ({
      content: [{ type: "text", text: String(extra.authInfo?.extra?.subject) }],
    }));
    s.registerTool("upstream_userinfo", { description: "userinfo" }, async (extra) => ({
      content: [{ type: "text", text: JSON.stringify(await up.userinfo(extra.authInfo)) }],
    }));
    return s;
  }, { verify: (req, o) => auth.verify(req, o) });
  handler = (req) => auth.owns(req) ? auth.handle(req) : mcp(req);
  return {
    origin,
    mcpUrl: origin + "/mcp",
    auth,
    up,
    upstream,
    storage,
    advance: (ms) => void (clock.offset += ms),
    close: async () => {
      await server.shutdown();
      await upstream?.close();
    },
  };
}

const SCOPES = ["openid", "email", "profile", "offline_access"];

function withOidc(fetchWrap?: (u: UpstreamOidc) => typeof fetch) {
  return async (origin: string) => {
    const upstream = await startUpstreamOidc([origin + "/callback/oidc"]);
    const up = oidc({
      issuer: upstream.issuer,
      clientId: upstream.clientId,
      clientSecret: upstream.clientSecret,
      scopes: SCOPES,
      fetch: fetchWrap?.(upstream),
    });
    return { up, upstream };
  };
}

/** An MCP SDK OAuth client provider that signs in through the upstream provider. */
class UpstreamClient extends TestProvider {
  browser = new Browser();
  constructor(readonly issuer: string) {
    super("alice");
  }
  override async redirectToAuthorization(url: URL): Promise<void> {
    this.lastAuthorizationUrl = url;
    const { url: end } = await signInThroughUpstream(this.browser, url.href, {
      issuer: this.issuer,
      clientRedirect: CLIENT_REDIRECT,
    });
    const code = end.searchParams.get("code");
    if (!code) throw new Error("authorization failed: " + end.href);
    this.lastCode = code;
  }
}

async function connectMcp(g: Gatehouse, provider: UpstreamClient): Promise<Client> {
  const first = new StreamableHTTPClientTransport(new URL(g.mcpUrl), { authProvider: provider });
  await assert.rejects(new Client({ name: "t", version: "1" }).connect(first), UnauthorizedError);
  await first.finishAuth(provider.lastCode!);
  const client = new Client({ name: "t", version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(g.mcpUrl), { authProvider: provider }),
  );
  return client;
}

/** Register a public client and return a ready /authorize URL. */
async function authorizeUrl(g: Gatehouse, state = "client-state-1"): Promise<string> {
  const reg = await fetch(g.origin + "/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      redirect_uris: [CLIENT_REDIRECT],
      token_endpoint_auth_method: "none",
      client_name: "Upstream test client",
    }),
  });
  const { client_id } = await reg.json();
  const { challenge } = await pkce();
  const q = new URLSearchParams({
    response_type: "code",
    client_id,
    redirect_uri: CLIENT_REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    resource: g.mcpUrl,
  });
  return `${g.origin}/authorize?${q}`;
}

test("upstream OIDC: full MCP flow through oidc-provider's login and consent; tool calls its userinfo; props unreadable in storage", async () => {
  const g = await serveGatehouse(withOidc());
  try {
    const provider = new UpstreamClient(g.upstream!.issuer);
    const client = await connectMcp(g, provider);
    const who = await client.callTool({ name: "whoami", arguments: {} });
    assert.equal((who.content as { text: string }[])[0].text, "oidc:alice");
    const info = await client.callTool({ name: "upstream_userinfo", arguments: {} });
    const userinfo = JSON.parse((info.content as { text: string }[])[0].text);
    assert.equal(userinfo.sub, "alice");
    assert.equal(userinfo.email, "alice@example.test");
    assert.ok(g.upstream!.counts.userinfo >= 2, "sign-in and the tool both called userinfo");

    // The MCP client's token carries no upstream secret; the server-side props hold them.
    const at = provider.saved!.access_token;
    const v = await g.auth.verify(at);
    assert.ok(v.ok);
    const up = v.claims.props?.upstream as Record<string, string>;
    assert.equal(up.provider, "oidc");
    assert.equal(up.subject, "alice");
    assert.ok(up.access_token && up.refresh_token);
    assert.ok(!JSON.stringify(decodeJwt(at)).includes(up.access_token));
    const raw = JSON.stringify(await g.storage.list([]));
    for (const secret of [up.access_token, up.refresh_token]) {
      assert.ok(!raw.includes(secret), "upstream tokens are not readable in storage");
    }
    await client.close();
  } finally {
    await g.close();
  }
});

test("upstream OIDC: expired upstream token → exactly one refresh for 50 concurrent tool calls on two instances; rotated pair stored", async () => {
  const shared = { storage: memoryStorage(), clock: { offset: 0 } };
  const a = await serveGatehouse(withOidc(), shared);
  const upstream = a.upstream!;
  // A second Gatehouse instance (same issuer, same storage), with its own provider object.
  const bUp = oidc({
    issuer: upstream.issuer,
    clientId: upstream.clientId,
    clientSecret: upstream.clientSecret,
    scopes: SCOPES,
  });
  const b = {
    up: bUp,
    auth: createAuthServer({
      issuer: a.origin,
      resources: [a.mcpUrl],
      scopes: ["mcp:read"],
      authenticate: bUp,
      storage: shared.storage,
      encryptionKeys,
      keys: [await signingKey],
      accessTokenTtl: 86400,
      now: () => Date.now() + shared.clock.offset,
      quiet: true,
    }),
  };
  try {
    const provider = new UpstreamClient(upstream.issuer);
    const client = await connectMcp(a, provider);
    const at = provider.saved!.access_token;
    const before = await a.auth.verify(at);
    assert.ok(before.ok);
    const old = before.claims.props!.upstream as Record<string, string>;
    assert.equal(upstream.counts.refresh, 0);

    a.advance(3700 * 1000); // the upstream access token (1 h) is now past its expiry
    const viaA = Array.from(
      { length: 25 },
      () => client.callTool({ name: "upstream_userinfo", arguments: {} }),
    );
    const viaB = Array.from({ length: 25 }, async () => {
      const v = await b.auth.verify(at);
      assert.ok(v.ok);
      return await b.up.accessToken(toAuthInfo(v.claims));
    });
    const [resA, resB] = await Promise.all([Promise.all(viaA), Promise.all(viaB)]);
    assert.equal(upstream.counts.refresh, 1, "one upstream refresh for 50 calls");
    for (const r of resA) {
      assert.equal(JSON.parse((r.content as { text: string }[])[0].text).sub, "alice");
    }
    const after = await a.auth.verify(at);
    assert.ok(after.ok);
    const rotated = after.claims.props!.upstream as Record<string, string>;
    assert.notEqual(rotated.refresh_token, old.refresh_token, "rotated refresh token stored");
    assert.notEqual(rotated.access_token, old.access_token);
    assert.ok(resB.every((t) => t === rotated.access_token), "instance B got the new token");
    await client.close();
  } finally {
    await a.close();
  }
});

test("upstream OIDC: refresh refused for good → grant revoked; revoking a grant revokes the upstream tokens (RFC 7009)", async () => {
  const g = await serveGatehouse(withOidc());
  const upstream = g.upstream!;
  try {
    const browser = new Browser();
    const signIn = async () => {
      const { url } = await signInThroughUpstream(browser, await authorizeUrl(g), {
        issuer: upstream.issuer,
        clientRedirect: CLIENT_REDIRECT,
      });
      assert.ok(url.searchParams.get("code"), url.href);
      // The grant exists once consent is given; find it through the admin API.
      const grants = await g.auth.admin.listGrants({ subject: "oidc:alice" });
      return grants.at(-1)!;
    };
    // 1. Revoking the Gatehouse grant revokes the upstream tokens at the provider.
    const g1 = await signIn();
    const props1 = await propsOf(g, g1.id);
    assert.ok(await g.auth.admin.revokeGrant(g1.id));
    assert.equal(upstream.counts.revocation, 2, "refresh and access token revoked upstream");
    const ui = await fetch(upstream.issuer + "/me", {
      headers: { authorization: `Bearer ${props1.access_token}` },
    });
    await ui.body?.cancel();
    assert.equal(ui.status, 401, "the upstream access token no longer works");

    // 2. The provider refuses the refresh (its refresh token was revoked out of band).
    const g2 = await signIn();
    const props2 = await propsOf(g, g2.id);
    const revoke = await fetch(upstream.issuer + "/token/revocation", {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: "Basic " + btoa(`${upstream.clientId}:${upstream.clientSecret}`),
      },
      body: new URLSearchParams({ token: props2.refresh_token }),
    });
    assert.equal(revoke.status, 200);
    await revoke.body?.cancel();
    g.advance(3700 * 1000);
    const errors: string[] = [];
    const orig = console.error;
    console.error = (m: string) => void errors.push(m);
    try {
      const authInfo = { extra: { grantId: g2.id, props: { upstream: props2 } } };
      await assert.rejects(
        g.up.accessToken(authInfo),
        (e) => e instanceof UpstreamError && e.code === "upstream_revoked",
      );
    } finally {
      console.error = orig;
    }
    assert.ok(errors.some((m) => /refresh refused \(invalid_grant\)/.test(m)));
    assert.ok(errors.every((m) => !m.includes(props2.refresh_token)), "no token in logs");
    const [after] = await g.auth.admin.listGrants({ includeRevoked: true }).then((l) =>
      l.filter((x) => x.id === g2.id)
    );
    assert.ok(after.revokedAt, "the Gatehouse grant is revoked");
  } finally {
    await g.close();
  }
});

async function propsOf(g: Gatehouse, grantId: string): Promise<Record<string, string>> {
  // Open the sealed record with the test's key (what a tool sees as props.upstream).
  const rec = await g.storage.get(["props", grantId]);
  assert.ok(rec, "props stored");
  const props = await createSealer(encryptionKeys).open<Record<string, unknown>>(
    (rec.data as { sealed: string }).sealed,
    `gatehouse/props/${grantId}`,
  );
  return props!.upstream as Record<string, string>;
}

test("upstream OIDC: the user denies at the provider → access_denied to the MCP client", async () => {
  const g = await serveGatehouse(withOidc());
  try {
    const { url } = await signInThroughUpstream(new Browser(), await authorizeUrl(g, "s-deny"), {
      issuer: g.upstream!.issuer,
      clientRedirect: CLIENT_REDIRECT,
      upstream: "deny",
    });
    assert.equal(url.searchParams.get("error"), "access_denied");
    assert.equal(url.searchParams.get("state"), "s-deny");
    assert.equal(url.searchParams.get("iss"), g.origin);
    assert.equal(url.searchParams.get("code"), null);
  } finally {
    await g.close();
  }
});

test("upstream OIDC: tampered state, replayed callback, another browser → refused with a page", async () => {
  const g = await serveGatehouse(withOidc());
  try {
    const opts = { issuer: g.upstream!.issuer, clientRedirect: CLIENT_REDIRECT };
    let captured: URL | undefined;
    const tampered = await signInThroughUpstream(new Browser(), await authorizeUrl(g), {
      ...opts,
      beforeCallback: (u) => {
        captured = new URL(u);
        const t = new URL(u);
        t.searchParams.set("state", t.searchParams.get("state")!.slice(0, -2) + "xx");
        return t;
      },
    });
    assert.equal(tampered.res?.status, 400);
    assert.match(await tampered.res!.text(), /Sign-in expired/);
    assert.ok(captured);

    // The genuine callback, but from a browser that did not start the sign-in.
    const other = await fetch(captured.href, { redirect: "manual" });
    assert.equal(other.status, 403);
    assert.match(await other.text(), /another browser/);
    // ...which spent it: the same callback again is refused too.
    const again = await fetch(captured.href, { redirect: "manual" });
    assert.equal(again.status, 400);
    await again.body?.cancel();
  } finally {
    await g.close();
  }
});

test("upstream OIDC: wrong issuer in the callback → refused (access_denied link), no code", async () => {
  const g = await serveGatehouse(withOidc());
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => void errors.push(m);
  try {
    const r = await signInThroughUpstream(new Browser(), await authorizeUrl(g, "s-iss"), {
      issuer: g.upstream!.issuer,
      clientRedirect: CLIENT_REDIRECT,
      beforeCallback: (u) => {
        const t = new URL(u);
        t.searchParams.set("iss", "https://evil.example");
        return t;
      },
    });
    assert.equal(r.res?.status, 403, "self-registered client: a page, no automatic redirect");
    const url = await failureTarget(r);
    assert.equal(url.searchParams.get("error"), "access_denied");
    assert.equal(url.searchParams.get("state"), "s-iss");
    assert.equal(url.searchParams.get("code"), null);
    assert.match(errors.join("\n"), /sign-in failed/);
  } finally {
    console.error = orig;
    await g.close();
  }
});

test("upstream OIDC: an ID token with the wrong nonce (validly signed by the provider) → refused (access_denied link)", async () => {
  // The provider's own key re-signs its ID token with another nonce on the way back.
  const rewrite = (u: UpstreamOidc): typeof fetch => async (input, init) => {
    const res = await fetch(input, init);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.endsWith("/token") || res.status !== 200) return res;
    const body = await res.json();
    if (!body.id_token) return Response.json(body);
    const claims = decodeJwt(body.id_token);
    body.id_token = await new SignJWT({ ...claims, nonce: "not-the-nonce" })
      .setProtectedHeader({ alg: "RS256", kid: u.signingKey.kid })
      .sign(await importJWK(u.signingKey, "RS256"));
    return Response.json(body);
  };
  const g = await serveGatehouse(withOidc(rewrite));
  const orig = console.error;
  const errors: string[] = [];
  console.error = (m: string) => void errors.push(m);
  try {
    const r = await signInThroughUpstream(new Browser(), await authorizeUrl(g), {
      issuer: g.upstream!.issuer,
      clientRedirect: CLIENT_REDIRECT,
    });
    assert.equal(r.res?.status, 403);
    const url = await failureTarget(r);
    assert.equal(url.searchParams.get("error"), "access_denied");
    assert.equal(url.searchParams.get("code"), null);
    assert.match(errors.join("\n"), /OAUTH_JWT_CLAIM_COMPARISON_FAILED/);
  } finally {
    console.error = orig;
    await g.close();
  }
});

test("upstream OIDC: provider down → a clear 502 page, never a 500", async () => {
  const dead = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (dead.addr as Deno.NetAddr).port;
  dead.close();
  const g = await serveGatehouse(() =>
    Promise.resolve({
      up: oidc({ issuer: `http://127.0.0.1:${port}`, clientId: "x", clientSecret: "y" }),
    })
  );
  const orig = console.error;
  console.error = () => {};
  try {
    const res = await fetch(await authorizeUrl(g), { redirect: "manual" });
    assert.equal(res.status, 502);
    const html = await res.text();
    assert.match(html, /unavailable/);
    assert.doesNotMatch(html, /Error:|at /);
  } finally {
    console.error = orig;
    await g.close();
  }
});

test("upstream OIDC: the provider's token endpoint refuses the code exchange (wrong client secret) → access_denied link, no 500, no secret shown", async () => {
  // The real provider answers the exchange with 401 invalid_client and a WWW-Authenticate
  // challenge (logged as OAUTH_WWW_AUTHENTICATE_CHALLENGE), as it does for a
  // misconfigured deployment.
  const wrongSecret = "gatehouse-wrong-secret-" + crypto.randomUUID();
  const g = await serveGatehouse(async (origin) => {
    const upstream = await startUpstreamOidc([origin + "/callback/oidc"]);
    const up = oidc({
      issuer: upstream.issuer,
      clientId: upstream.clientId,
      clientSecret: wrongSecret,
      scopes: SCOPES,
    });
    return { up, upstream };
  });
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => void errors.push(m);
  try {
    const r = await signInThroughUpstream(new Browser(), await authorizeUrl(g, "s-tok"), {
      issuer: g.upstream!.issuer,
      clientRedirect: CLIENT_REDIRECT,
    });
    assert.equal(r.res?.status, 403, "a page for the self-registered client, not a 500");
    const page = await r.res!.clone().text();
    const url = await failureTarget(r);
    assert.equal(url.searchParams.get("error"), "access_denied");
    assert.equal(url.searchParams.get("state"), "s-tok");
    assert.equal(url.searchParams.get("code"), null);
    for (const secret of [wrongSecret, g.upstream!.clientSecret]) {
      assert.ok(!page.includes(secret), "no client secret on the page");
      assert.ok(!errors.join("\n").includes(secret), "no client secret in the log");
    }
    assert.doesNotMatch(page, /Error:|\bat \S+:\d+/, "no stack on the page");
    assert.match(errors.join("\n"), /sign-in failed/, "the failure is logged");
    assert.equal((await g.auth.admin.listGrants()).length, 0, "no grant");
  } finally {
    console.error = orig;
    await g.close();
  }
});

test("upstream OIDC: an instance that finds the refresh lock held waits for the winner's rotated pair and sends no refresh itself", async () => {
  const g = await serveGatehouse(withOidc());
  const upstream = g.upstream!;
  try {
    const { url } = await signInThroughUpstream(new Browser(), await authorizeUrl(g), {
      issuer: upstream.issuer,
      clientRedirect: CLIENT_REDIRECT,
    });
    assert.ok(url.searchParams.get("code"));
    const [grant] = await g.auth.admin.listGrants();
    const current = await propsOf(g, grant.id);
    g.advance(3700 * 1000);
    // Another instance holds the lock for this refresh token (it is mid-refresh).
    const lockKey = ["upstream", "refresh", grant.id, await sha256b64(current.refresh_token)];
    await g.storage.set(lockKey, envelope({ at: Date.now() }, null));
    const waiting = g.up.accessToken({
      extra: { grantId: grant.id, props: { upstream: current } },
    });
    // ...and finishes: it refreshes at the provider and stores the rotated pair.
    const res = await fetch(upstream.issuer + "/token", {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: "Basic " + btoa(`${upstream.clientId}:${upstream.clientSecret}`),
      },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: current.refresh_token,
      }),
    });
    assert.equal(res.status, 200);
    const fresh = await res.json();
    const sealer = createSealer(encryptionKeys);
    const sealed = await sealer.seal({
      upstream: {
        ...current,
        access_token: fresh.access_token,
        refresh_token: fresh.refresh_token,
        expires_at: Math.floor(Date.now() / 1000) + 7200 + fresh.expires_in,
      },
    }, `gatehouse/props/${grant.id}`);
    await g.storage.set(["props", grant.id], envelope({ sealed, exp: null }, null));
    assert.equal(await waiting, fresh.access_token, "the waiter got the winner's token");
    assert.equal(upstream.counts.refresh, 1, "only the winner refreshed");
  } finally {
    await g.close();
  }
});

async function sha256b64(s: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return base64url.encode(new Uint8Array(d));
}

test("upstream OIDC: a finished sign-in serves only its own authorization request, once; claims/props hooks", async () => {
  const g = await serveGatehouse(async (origin) => {
    const upstream = await startUpstreamOidc([origin + "/callback/oidc"]);
    const up = oidc({
      issuer: upstream.issuer,
      clientId: upstream.clientId,
      clientSecret: upstream.clientSecret,
      scopes: SCOPES,
      claims: (id) => ({ email: id.profile.email, sub: "not-allowed" }),
      props: (id) => ({ displayName: id.profile.name }),
    });
    return { up, upstream };
  });
  const upstream = g.upstream!;
  try {
    const browser = new Browser();
    const { url } = await signInThroughUpstream(browser, await authorizeUrl(g), {
      issuer: upstream.issuer,
      clientRedirect: CLIENT_REDIRECT,
    });
    assert.ok(url.searchParams.get("code"));
    const [grant] = await g.auth.admin.listGrants();
    assert.deepEqual(grant.claims, { email: "alice@example.test" }, "registered claims dropped");
    const props = await g.storage.get(["props", grant.id]);
    const opened = await createSealer(encryptionKeys).open<Record<string, unknown>>(
      (props!.data as { sealed: string }).sealed,
      `gatehouse/props/${grant.id}`,
    );
    assert.equal(opened?.displayName, "User alice");

    // Same browser, a new authorization request: the used sign-in does not carry over; the
    // browser is sent to the provider again.
    const again = await browser.request(await authorizeUrl(g));
    assert.equal(again.status, 302);
    assert.ok(again.headers.get("location")!.startsWith(upstream.issuer + "/auth"));
    await again.body?.cancel();
  } finally {
    await g.close();
  }
});
