/**
 * Issue 8 items 1 and 2: refresh tokens never pass as bearer tokens, every verifier mode refuses
 * a token whose audience is absent or foreign, and `/introspect` answers only resource servers
 * about their own resource's access tokens and clients about their own tokens (RFC 7662 §4,
 * RFC 8707 §2, RFC 6749 §10.4, RFC 9068 §2.1).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createVerifier } from "../verify.ts";
import type { Verifier } from "../verify.ts";
import { ConfigError } from "../mod.ts";
import {
  basic,
  confidentialTokens,
  ISSUER,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

const FILES = "https://files.example.com/mcp";
const RS_A = {
  clientId: "rs-notes",
  clientSecret: "rs-notes-secret-0123456789",
  resource: RESOURCE,
};
const RS_B = { clientId: "rs-files", clientSecret: "rs-files-secret-0123456789", resource: FILES };

async function twoResources(): Promise<TestServer> {
  return await testServer({
    resources: [{ resource: RESOURCE, name: "Notes" }, { resource: FILES, name: "Files" }],
    introspectionClients: [RS_A, RS_B],
  });
}

/** A resource server's verifier that introspects at the in-process authorization server. */
function introspectingVerifier(s: TestServer, rs: typeof RS_A): Verifier {
  return createVerifier({
    issuer: ISSUER,
    audience: rs.resource,
    introspection: {
      endpoint: ISSUER + "/introspect",
      clientId: rs.clientId,
      clientSecret: rs.clientSecret,
    },
    cache: false,
    fetch: (input, init) => s.auth.handle(new Request(input as string, init)),
  });
}

async function ask(s: TestServer, token: string, authorization: string) {
  const res = await s.form("/introspect", { token }, { authorization });
  assert.equal(res.status, 200);
  return await res.json();
}

test("refresh token for resource A at a resource-B verifier with introspection → refused", async () => {
  const s = await twoResources();
  const a = await tokensFor(s); // resource A (RESOURCE)
  const atB = introspectingVerifier(s, RS_B);
  const r = await atB.verify(a.refresh_token);
  assert.equal(r.ok, false);
  assert.equal(r.ok ? 0 : r.status, 401);
  // ... and at resource A's own verifier: a refresh token is never a bearer token.
  const atA = introspectingVerifier(s, RS_A);
  assert.equal((await atA.verify(a.refresh_token)).ok, false);
  // The access token for A: accepted by A, refused by B.
  assert.equal((await atA.verify(a.access_token)).ok, true);
  assert.equal((await atB.verify(a.access_token)).ok, false);
});

test("/introspect: resource servers get active:false for refresh tokens and other resources' tokens", async () => {
  const s = await twoResources();
  const a = await tokensFor(s);
  assert.deepEqual(await ask(s, a.refresh_token, basic(RS_A.clientId, RS_A.clientSecret)), {
    active: false,
  });
  assert.deepEqual(await ask(s, a.access_token, basic(RS_B.clientId, RS_B.clientSecret)), {
    active: false,
  });
  const own = await ask(s, a.access_token, basic(RS_A.clientId, RS_A.clientSecret));
  assert.equal(own.active, true);
  assert.equal(own.aud, RESOURCE);
  assert.equal(own.token_type, "Bearer");
});

test("/introspect: a DCR confidential client probing others' tokens gets active:false; its own are answered", async () => {
  const s = await twoResources();
  const victim = await tokensFor(s); // public client's tokens
  const other = await confidentialTokens(s, { resource: FILES }); // another confidential client's tokens
  const prober = await confidentialTokens(s);
  for (
    const token of [
      victim.access_token,
      victim.refresh_token,
      other.access_token,
      other.refresh_token,
    ]
  ) {
    const body = await ask(s, token, prober.auth.authorization);
    assert.deepEqual(body, { active: false }, "no subject, grant id or client leaked");
  }
  // A client may ask about its own tokens (RFC 7662 §4), refresh tokens included.
  const mineA = await ask(s, prober.access_token, prober.auth.authorization);
  assert.equal(mineA.active, true);
  assert.equal(mineA.client_id, prober.id);
  const mineR = await ask(s, prober.refresh_token, prober.auth.authorization);
  assert.equal(mineR.active, true);
  assert.equal(mineR.token_type, "refresh_token");
  assert.equal(mineR.aud, undefined);
  // Probing did not disturb the victims: their tokens still work.
  assert.equal((await s.auth.verify(victim.access_token, { resource: RESOURCE })).ok, true);
  assert.equal((await s.auth.verify(other.access_token, { resource: FILES })).ok, true);
});

test("introspectionClients: resource required with several resources, must be configured", async () => {
  const base = {
    issuer: ISSUER,
    resources: [RESOURCE, FILES],
    authenticate: () => "alice",
    quiet: true,
  };
  await Promise.all([
    assert.rejects(
      () =>
        testServer({
          ...base,
          introspectionClients: [{ clientId: "x", clientSecret: "0123456789abcdef" }],
        }),
      (e) =>
        e instanceof ConfigError && /introspectionClients\.0\.resource.*required/.test(e.message),
    ),
    assert.rejects(
      () =>
        testServer({
          ...base,
          introspectionClients: [{
            clientId: "x",
            clientSecret: "0123456789abcdef",
            resource: "https://elsewhere.example/mcp",
          }],
        }),
      (e) => e instanceof ConfigError && /not a configured resource/.test(e.message),
    ),
  ]);
});

test("verifier (introspection mode) refuses non-access token types and absent or foreign audiences", async () => {
  const now = Date.now();
  const answers: Record<string, Record<string, unknown>> = {
    // What /introspect used to say about a refresh token: active, no aud.
    refresh: {
      active: true,
      token_type: "refresh_token",
      iss: ISSUER,
      sub: "alice",
      client_id: "c",
      exp: now / 1000 + 600,
    },
    noAud: {
      active: true,
      token_type: "Bearer",
      iss: ISSUER,
      sub: "alice",
      client_id: "c",
      exp: now / 1000 + 600,
    },
    foreignAud: {
      active: true,
      token_type: "Bearer",
      iss: ISSUER,
      aud: FILES,
      exp: now / 1000 + 600,
    },
    idToken: {
      active: true,
      token_type: "id_token",
      iss: ISSUER,
      aud: RESOURCE,
      exp: now / 1000 + 600,
    },
    refreshWithAud: {
      active: true,
      token_type: "refresh_token",
      iss: ISSUER,
      aud: RESOURCE,
      exp: now / 1000 + 600,
    },
    good: {
      active: true,
      token_type: "Bearer",
      iss: ISSUER,
      aud: RESOURCE,
      sub: "alice",
      client_id: "c",
      exp: now / 1000 + 600,
    },
    goodNoType: {
      active: true,
      iss: ISSUER,
      aud: [FILES, RESOURCE],
      sub: "alice",
      exp: now / 1000 + 600,
    },
  };
  const v = createVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    introspection: {
      endpoint: "https://as.example.com/introspect",
      clientId: "rs",
      clientSecret: "s",
    },
    cache: false,
    // Stand-in for a third-party introspection endpoint: each test token names its answer.
    fetch: (_input, init) => {
      const token = new URLSearchParams(String(init?.body)).get("token")!;
      return Promise.resolve(Response.json(answers[token]));
    },
  });
  for (const bad of ["refresh", "noAud", "foreignAud", "idToken", "refreshWithAud"]) {
    const r = await v.verify(bad);
    assert.equal(r.ok, false, bad);
    assert.equal(r.ok ? 0 : r.status, 401, bad);
  }
  assert.equal((await v.verify("good")).ok, true);
  assert.equal((await v.verify("goodNoType")).ok, true);
});

test("verifier (local and remote JWKS) refuses a refresh token, and tokens for another resource", async () => {
  const s = await twoResources();
  const a = await tokensFor(s);
  const jwks = await (await s.call("/jwks")).json();
  const local = createVerifier({ issuer: ISSUER, audience: FILES, jwks });
  const remote = createVerifier({
    issuer: ISSUER,
    audience: FILES,
    jwksUri: ISSUER + "/jwks",
    fetch: (input, init) => s.auth.handle(new Request(input as string, init)),
  });
  for (const v of [local, remote]) {
    assert.equal((await v.verify(a.refresh_token)).ok, false, "refresh token");
    const r = await v.verify(a.access_token);
    assert.match(r.ok ? "" : r.response.headers.get("www-authenticate") ?? "", /invalid_token/);
    assert.equal(r.ok, false, "access token for resource A at resource B");
  }
  const atA = createVerifier({ issuer: ISSUER, audience: RESOURCE, jwks });
  assert.equal((await atA.verify(a.access_token)).ok, true);
});

test("introspectionClients: Basic credentials decoded as at /token (RFC 6749 §2.3.1 form encoding)", async () => {
  const rs = {
    clientId: "rs notes+1",
    clientSecret: "a secret+with:odd%chars",
    resource: RESOURCE,
  };
  const s = await testServer({ introspectionClients: [rs] });
  const t = await tokensFor(s);
  // Form-encoded before base64 (a space as "+"), as the helper and RFC 6749 §2.3.1 do it.
  const body = await ask(s, t.access_token, basic(rs.clientId, rs.clientSecret));
  assert.equal(body.active, true);
  assert.equal(body.aud, RESOURCE);
  // Percent-encoding only (a space as %20) decodes the same.
  const pct = "Basic " +
    btoa(`${encodeURIComponent(rs.clientId)}:${encodeURIComponent(rs.clientSecret)}`);
  assert.equal((await ask(s, t.access_token, pct)).active, true);
  // A wrong secret, or a malformed header, is not this resource server: a 401 for the caller.
  for (const authorization of [basic(rs.clientId, rs.clientSecret + "x"), "Basic !!", "Basic "]) {
    const res = await s.form("/introspect", { token: t.access_token }, { authorization });
    assert.equal(res.status, 401, authorization);
    assert.equal((await res.json()).error, "invalid_client");
  }
});
