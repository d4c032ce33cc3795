import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, createAuthServer, generateSigningKey, memoryStorage } from "../mod.ts";
import type { AuthServerConfig } from "../mod.ts";

const base: AuthServerConfig = {
  issuer: "https://as.example.com",
  resources: ["https://mcp.example.com/mcp"],
  authenticate: () => "alice",
  quiet: true,
};

/** createAuthServer(config) throws a ConfigError whose message names `field`. */
function rejects(config: unknown, field: string) {
  assert.throws(
    () => createAuthServer(config as AuthServerConfig),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `ConfigError, got ${e}`);
      assert.equal(e.name, "ConfigError");
      assert.ok(e.message.includes(`"${field}`), `message names ${field}: ${e.message}`);
      return true;
    },
  );
}

test("a valid minimal config is accepted", () => {
  const auth = createAuthServer(base);
  assert.equal(auth.issuer, "https://as.example.com");
});

test("bad issuer → ConfigError naming issuer", () => {
  for (
    const issuer of [
      "not a url",
      "http://as.example.com",
      "https://as.example.com?x=1",
      "https://as.example.com#frag",
      "ftp://as.example.com",
      "",
      42,
      undefined,
    ]
  ) {
    rejects({ ...base, issuer }, "issuer");
  }
  // http is fine on loopback (development).
  assert.equal(
    createAuthServer({ ...base, issuer: "http://localhost:8787" }).issuer,
    "http://localhost:8787",
  );
});

test("missing, empty or invalid resources → ConfigError naming resources", () => {
  const { resources: _r, ...noResources } = base;
  rejects(noResources, "resources");
  rejects({ ...base, resources: [] }, "resources");
  rejects({ ...base, resources: ["http://mcp.example.com/mcp"] }, "resources");
  rejects({ ...base, resources: ["https://mcp.example.com/mcp#x"] }, "resources");
  rejects({ ...base, resources: [{ resource: "relative" }] }, "resources");
  rejects({ ...base, resources: [{ resource: "https://a.example/mcp", extra: 1 }] }, "resources");
});

test("duplicate resource (after canonicalisation) → ConfigError naming resources", () => {
  rejects(
    { ...base, resources: ["https://mcp.example.com/mcp", "https://mcp.example.com/mcp"] },
    "resources",
  );
  rejects(
    { ...base, resources: ["https://mcp.example.com/mcp", "https://MCP.example.com/mcp/"] },
    "resources",
  );
});

test("non-function authenticate → ConfigError naming authenticate", () => {
  const { authenticate: _a, ...noAuth } = base;
  rejects(noAuth, "authenticate");
  rejects({ ...base, authenticate: "alice" }, "authenticate");
  rejects({ ...base, authenticate: { subject: "alice" } }, "authenticate");
});

test("bad keys → ConfigError naming keys", async () => {
  const priv = await generateSigningKey();
  const { d: _d, ...pub } = priv;
  rejects({ ...base, keys: [{ kty: "RSA", kid: "k", n: "x", e: "AQAB" }] }, "keys");
  rejects({ ...base, keys: [{ ...priv, kid: undefined }] }, "keys");
  rejects({ ...base, keys: [pub] }, "keys");
  rejects({ ...base, keys: [] }, "keys");
  rejects({ ...base, keys: ["not a key"] }, "keys");
  rejects(
    { ...base, keys: [{ kty: "EC", crv: "P-384", kid: "k", x: "a", y: "b", d: "c" }] },
    "keys",
  );
  // A private key first, public keys after (rotation) is fine.
  const other = await generateSigningKey("ES256");
  const { d: _d2, ...otherPub } = other;
  const auth = createAuthServer({ ...base, keys: [priv, otherPub] });
  const md = await auth.metadata();
  assert.deepEqual(md.access_token_signing_alg_values_supported, ["EdDSA"]);
});

test("a key with short members is refused at start, naming keys", () => {
  rejects(
    { ...base, keys: [{ kty: "OKP", crv: "Ed25519", kid: "k", x: "AAAA", d: "AAAA" }] },
    "keys",
  );
});

test("a key that passes the schema but cannot be imported fails requests with a clean server_error", async () => {
  // Right shape, but (0, 0) is not a point on P-256: only the import can tell.
  const zero = "A".repeat(43);
  const broken = { kty: "EC", crv: "P-256", kid: "k", x: zero, y: zero, d: zero };
  const auth = createAuthServer({ ...base, keys: [broken] });
  const res = await auth.handle(new Request("https://as.example.com/jwks"));
  assert.ok(res.status >= 500, `got ${res.status}`);
  const body = await res.text();
  assert.doesNotMatch(body, /\n\s+at \S/);
  assert.equal(JSON.parse(body).error, "server_error");
});

test("defaultScopes / resource scopes not in scopes → ConfigError naming the field", () => {
  rejects({ ...base, scopes: ["mcp:read"], defaultScopes: ["mcp:write"] }, "defaultScopes");
  rejects({ ...base, defaultScopes: ["nope"] }, "defaultScopes");
  rejects({ ...base, defaultScopes: ["bad scope"] }, "defaultScopes");
  rejects(
    {
      ...base,
      scopes: ["mcp:read"],
      resources: [{ resource: "https://mcp.example.com/mcp", scopes: ["mcp:admin"] }],
    },
    "resources",
  );
  rejects({ ...base, scopes: ["has space"] }, "scopes");
  rejects({ ...base, scopes: ['quote"'] }, "scopes");
});

test("other fields: storage, registration, lifetimes, revocation, introspectionClients, unknown keys", () => {
  rejects({ ...base, storage: {} }, "storage");
  rejects({ ...base, storage: { ...memoryStorage(), swap: undefined } }, "storage");
  rejects({ ...base, registration: "sometimes" }, "registration");
  rejects({ ...base, accessTokenTtl: 0 }, "accessTokenTtl");
  rejects({ ...base, accessTokenTtl: 1.5 }, "accessTokenTtl");
  rejects({ ...base, accessTokenTtl: 86401 }, "accessTokenTtl");
  rejects({ ...base, refreshTokenTtl: 10 }, "refreshTokenTtl");
  rejects({ ...base, codeTtl: 601 }, "codeTtl");
  rejects({ ...base, refreshReuseWindow: 301 }, "refreshReuseWindow");
  // The message says the allowed range (not zod's bare "Invalid input").
  assert.throws(
    () => createAuthServer({ ...base, refreshReuseWindow: 301 }),
    /"refreshReuseWindow": must be a whole number from 0 to 300/,
  );
  assert.throws(
    () => createAuthServer({ ...base, accessTokenTtl: "900" as never }),
    /"accessTokenTtl": must be a whole number from 1 to 86400/,
  );
  assert.throws(
    () => createAuthServer({ ...base, refreshTokenTtl: 10 }),
    /"refreshTokenTtl": must be a whole number ≥ 60/,
  );
  rejects({ ...base, revocation: { mode: "eventual" } }, "revocation");
  rejects(
    { ...base, introspectionClients: [{ clientId: "rs", clientSecret: "short" }] },
    "introspectionClients",
  );
  rejects({ ...base, onEvent: "log" }, "onEvent");
  rejects({ ...base, issuerr: "typo" }, "(config)");
  assert.throws(
    () => createAuthServer({ ...base, issuerr: "x" } as never),
    /unknown field "issuerr"/,
  );
});

test("scope maps, rate limits: the same values accepted and refused, the rule named", () => {
  const ok = (c: Partial<AuthServerConfig>) => createAuthServer({ ...base, ...c });
  ok({ scopeHierarchy: { "mcp:write": ["mcp:read"] }, scopeDescriptions: { "mcp:read": "Read" } });
  ok({ rateLimits: { token: { ip: false, client: { limit: 5, windowSeconds: 60 } } } });
  ok({ revocation: { mode: "cached", ttlMs: 1000 } });
  assert.throws(
    () => ok({ scopeHierarchy: { "mcp:write": ["mcp:read", 1 as never] } }),
    /"scopeHierarchy": must be an object mapping each scope to an array of the scopes it includes/,
  );
  rejects({ ...base, scopeHierarchy: ["mcp:read"] }, "scopeHierarchy");
  assert.throws(
    () => ok({ scopeDescriptions: { "mcp:read": "x".repeat(501) } }),
    /"scopeDescriptions": must be an object mapping each scope to a description of at most 500/,
  );
  rejects({ ...base, rateLimits: { tokens: {} } }, "rateLimits");
  rejects(
    { ...base, rateLimits: { token: { ip: { limit: 1.5, windowSeconds: 60 } } } },
    "rateLimits.token.ip.limit",
  );
  rejects(
    { ...base, rateLimits: { token: { ip: { limit: 1, windowSeconds: 86401 } } } },
    "rateLimits.token.ip.windowSeconds",
  );
  rejects({ ...base, consent: { rememberFor: 59 } }, "consent.rememberFor");
});

test("verify(): several resources need options.resource; unknown resource → ConfigError", async () => {
  const auth = createAuthServer({
    ...base,
    resources: ["https://mcp.example.com/mcp", "https://files.example.com/mcp"],
  });
  await assert.rejects(auth.verify("x"), ConfigError);
  await assert.rejects(auth.verify("x", { resource: "https://other.example/mcp" }), ConfigError);
  const r = await auth.verify("x", { resource: "https://files.example.com/mcp" });
  assert.equal(r.ok, false);
});

test("verifierFor(): one verifier per resource, however the resource is spelled; a fragment never names one", async () => {
  const auth = createAuthServer({
    ...base,
    resources: ["https://mcp.example.com/mcp", "https://files.example.com/mcp"],
  });
  const files = await auth.verifierFor("https://files.example.com/mcp");
  assert.equal(await auth.verifierFor("https://files.example.com/mcp"), files);
  assert.equal(await auth.verifierFor("HTTPS://FILES.example.com:443/mcp/"), files);
  assert.notEqual(await auth.verifierFor("https://mcp.example.com/mcp"), files);
  await assert.rejects(auth.verifierFor("https://files.example.com/mcp#x"), ConfigError);
  await assert.rejects(auth.verifierFor("https://files.example.com/mcp/other"), ConfigError);
});
