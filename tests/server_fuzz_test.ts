/**
 * Property-based fuzzing of every endpoint, in process through `auth.handle`:
 * arbitrary methods, paths, query strings, headers and bodies (random, and
 * valid requests with each field kept, replaced, dropped or repeated). The
 * server must never answer 5xx, never leak a stack trace, answer the right
 * error shape (RFC 6749 §5.2 JSON on JSON endpoints, an HTML page on
 * /authorize — never an automatic redirect for these self-registered clients
 * before the user acted — and an RFC 6750 challenge on the resource side),
 * leave the stored state (clients, grants, codes, refresh tokens, consents)
 * unchanged after every refused request, and keep working afterwards.
 *
 * `deno test` runs 200 cases per property; `npm run fuzz` sets
 * GATEHOUSE_FUZZ_RUNS=10000.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeJwt } from "jose";
import {
  basic,
  codeFor,
  consentFields,
  ISSUER,
  pkce,
  REDIRECT,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";
import type { Storage } from "../mod.ts";
import { denoKvStorage } from "../storage/deno_kv.ts";
import { memoryStorage } from "../storage/memory.ts";
import { journaled } from "./support/state_journal.ts";

const RUNS = Number(Deno.env.get("GATEHOUSE_FUZZ_RUNS") ?? "200");
/** Cases run per property, reported at the end of a fuzz run. */
const ran = new Map<string, number>();
const RS_ID = "rs-introspector";
const RS_SECRET = "rs-introspector-secret-0123456789";

const PARAMS = [
  "grant_type",
  "code",
  "code_verifier",
  "redirect_uri",
  "client_id",
  "client_secret",
  "refresh_token",
  "scope",
  "resource",
  "token",
  "token_type_hint",
  "response_type",
  "code_challenge",
  "code_challenge_method",
  "state",
  "consent_id",
  "csrf",
  "decision",
];

const REG_FIELDS = [
  "redirect_uris",
  "token_endpoint_auth_method",
  "grant_types",
  "response_types",
  "client_name",
  "client_uri",
  "logo_uri",
  "scope",
  "contacts",
  "software_id",
  "software_version",
];

const ENDPOINTS = [
  "/.well-known/oauth-authorization-server",
  "/.well-known/openid-configuration",
  "/.well-known/oauth-protected-resource",
  "/.well-known/oauth-protected-resource/mcp",
  "/jwks",
  "/authorize",
  "/token",
  "/revoke",
  "/introspect",
  "/register",
];

interface Fixture {
  s: TestServer;
  journal: ReturnType<typeof journaled>;
  /** State changes seen on accepted requests (proves the journal sees writes at all). */
  accepted: { writes: number };
  values: string[];
  publicId: string;
  confId: string;
  confSecret: string;
  /** Valid-looking parameter sets per endpoint, which the fuzzer perturbs. */
  templates: Record<string, Record<string, string>[]>;
}

async function fixture(storage?: Storage): Promise<Fixture> {
  const journal = journaled(storage ?? memoryStorage());
  const s = await testServer({
    storage: journal.driver,
    introspectionClients: [{ clientId: RS_ID, clientSecret: RS_SECRET, resource: RESOURCE }],
    // Client ID Metadata Documents must never touch the network from a fuzz run
    // (no DNS look-ups either).
    fetch: () => Promise.resolve(new Response("not json", { status: 200 })),
    outbound: { checkAddresses: false },
    // The fuzzer hammers every endpoint with one client: rate limits off.
    rateLimits: false,
    resources: [{ resource: RESOURCE, name: "Notes" }, {
      resource: "https://files.example.com/mcp",
    }],
  });
  const pub = await register(s);
  const conf = await register(s, { token_endpoint_auth_method: "client_secret_post" });
  const t = await tokensFor(s);
  const { code, verifier } = await codeFor(s, pub.client_id, { resource: RESOURCE });
  const { challenge } = await pkce();
  const page = await s.call(
    `/authorize?response_type=code&client_id=${pub.client_id}&redirect_uri=${
      encodeURIComponent(REDIRECT)
    }&code_challenge=${challenge}&code_challenge_method=S256&resource=${
      encodeURIComponent(RESOURCE)
    }`,
  );
  const fields = consentFields(await page.text());
  const values = [
    pub.client_id,
    conf.client_id,
    conf.client_secret!,
    t.client_id,
    t.access_token,
    t.refresh_token,
    code,
    verifier,
    challenge,
    fields.consent_id,
    fields.csrf,
    REDIRECT,
    "http://127.0.0.1:9/callback",
    "https://evil.example.com/cb",
    "cursor://x/cb",
    RESOURCE,
    RESOURCE + "#f",
    "https://files.example.com/mcp",
    "https://client.example.com/metadata.json",
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "code",
    "token",
    "S256",
    "plain",
    "approve",
    "deny",
    "mcp:read",
    "mcp:read mcp:write",
    "mcp:admin offline_access",
    "access_token",
    "none",
    "client_secret_basic",
    "",
    " ",
    "%",
    "a".repeat(3000),
  ];
  const authz = {
    response_type: "code",
    client_id: pub.client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "st",
    resource: RESOURCE,
    scope: "mcp:read",
  };
  const templates: Record<string, Record<string, string>[]> = {
    "/authorize?": [authz],
    "/authorize": [{ ...fields, decision: "approve" }, { ...fields, decision: "deny" }],
    "/token": [
      {
        grant_type: "authorization_code",
        code,
        code_verifier: verifier,
        redirect_uri: REDIRECT,
        client_id: pub.client_id,
        resource: RESOURCE,
      },
      { grant_type: "refresh_token", refresh_token: t.refresh_token, client_id: t.client_id },
      {
        grant_type: "refresh_token",
        refresh_token: t.refresh_token,
        client_id: conf.client_id,
        client_secret: conf.client_secret!,
        scope: "mcp:read",
      },
    ],
    "/revoke": [
      { token: t.access_token, client_id: t.client_id },
      { token: t.refresh_token, token_type_hint: "refresh_token", client_id: t.client_id },
    ],
    "/introspect": [
      { token: t.access_token, client_id: conf.client_id, client_secret: conf.client_secret! },
      { token: t.refresh_token },
    ],
  };
  return {
    s,
    journal,
    accepted: { writes: 0 },
    values,
    publicId: pub.client_id,
    confId: conf.client_id,
    confSecret: conf.client_secret!,
    templates,
  };
}

const ascii = (max = 40) => fc.string({ unit: "grapheme-ascii", maxLength: max });
const anyText = (max = 60) => fc.string({ unit: "binary", maxLength: max });

function valueArb(values: string[]) {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...values) },
    { weight: 2, arbitrary: anyText() },
    { weight: 1, arbitrary: fc.constantFrom(...values).map((v) => v.slice(1)) },
    { weight: 1, arbitrary: fc.constantFrom(...values).map((v) => v + "x") },
  );
}

function pairsArb(values: string[]) {
  return fc.array(
    fc.tuple(
      fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...PARAMS) }, {
        weight: 1,
        arbitrary: ascii(12),
      }),
      valueArb(values),
    ),
    { maxLength: 10 },
  );
}

/** A valid-looking parameter set with each field kept, replaced or dropped, plus random extras. */
function perturbedArb(f: Fixture, endpoint: string) {
  const templates = f.templates[endpoint] ?? [];
  if (!templates.length) return pairsArb(f.values);
  return fc.constantFrom(...templates).chain((tpl) =>
    fc.tuple(
      fc.tuple(
        ...Object.entries(tpl).map(([k, v]) =>
          fc.oneof(
            { weight: 24, arbitrary: fc.constant<[string, string][]>([[k, v]]) },
            {
              weight: 1,
              arbitrary: valueArb(f.values).map((x): [string, string][] => [[k, x]]),
            },
            { weight: 1, arbitrary: fc.constant<[string, string][]>([]) },
            {
              weight: 1,
              arbitrary: valueArb(f.values).map((x): [string, string][] => [[k, v], [k, x]]),
            },
          )
        ),
      ),
      fc.array(fc.tuple(fc.constantFrom(...PARAMS), valueArb(f.values)), { maxLength: 2 }),
    ).map(([kept, extra]) => [...kept.flat(), ...extra])
  );
}

function queryArb(values: string[]) {
  return fc.oneof(
    { weight: 4, arbitrary: pairsArb(values).map((p) => new URLSearchParams(p).toString()) },
    { weight: 1, arbitrary: ascii(60).map((s) => encodeURI(s)) },
    { weight: 1, arbitrary: fc.constantFrom("", "a=%zz", "&&=&", "x=1&x=2", "%00=%00") },
  );
}

const PRIMARY: Record<string, { method: string; type: string }> = {
  "/authorize": { method: "GET", type: "application/x-www-form-urlencoded" },
  "/token": { method: "POST", type: "application/x-www-form-urlencoded" },
  "/revoke": { method: "POST", type: "application/x-www-form-urlencoded" },
  "/introspect": { method: "POST", type: "application/x-www-form-urlencoded" },
  "/register": { method: "POST", type: "application/json" },
};

function headersArb(f: Fixture, endpoint: string) {
  const ids = [f.publicId, f.confId, RS_ID, "unknown"];
  const secrets = [f.confSecret, RS_SECRET, "wrong"];
  const authz = fc.oneof(
    { weight: 16, arbitrary: fc.constant(undefined) },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.constantFrom(...ids), fc.constantFrom(...secrets)).map(([i, s]) =>
        basic(i, s)
      ),
    },
    { weight: 1, arbitrary: ascii(30).map((s) => "Basic " + btoa(s)) },
    { weight: 1, arbitrary: ascii(30).map((s) => "Basic " + s) },
    { weight: 1, arbitrary: ascii(30).map((s) => "Bearer " + s) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "Basic",
        "Basic ",
        "Basic ====",
        "Basic " + btoa(":"),
        "Basic " + btoa("%:%"),
        "Basic " + btoa("\xff\xfe:x"),
        "Digest x",
      ),
    },
    { weight: 1, arbitrary: ascii(40) },
  );
  const contentType = fc.oneof(
    { weight: 16, arbitrary: fc.constant(PRIMARY[endpoint]?.type) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "APPLICATION/JSON",
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
      ),
    },
    { weight: 1, arbitrary: ascii(30) },
  );
  return fc.record({ authorization: authz, "content-type": contentType });
}

function bodyArb(f: Fixture, endpoint: string) {
  const values = f.values;
  const validReg = {
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code", "refresh_token"],
    client_name: "Fuzz",
    scope: "mcp:read",
  };
  const regObject = fc.dictionary(
    fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...REG_FIELDS) }, {
      weight: 1,
      arbitrary: ascii(10),
    }),
    fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.array(valueArb(values), { maxLength: 3 }),
      valueArb(values),
    ),
    { maxKeys: 3 },
  ).map((o) => ({ ...validReg, ...o }));
  const form = perturbedArb(f, endpoint).map((p) => new URLSearchParams(p).toString());
  return fc.oneof(
    { weight: endpoint === "/register" ? 1 : 12, arbitrary: form },
    {
      weight: endpoint === "/register" ? 12 : 1,
      arbitrary: regObject.map((o) => JSON.stringify(o)),
    },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 1, arbitrary: anyText(200) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

function requestArb(f: Fixture, endpoint: string, path: fc.Arbitrary<string>) {
  const primary = PRIMARY[endpoint]?.method ?? "GET";
  return fc.record({
    method: fc.oneof(
      { weight: 20, arbitrary: fc.constant(primary) },
      { weight: endpoint === "/authorize" ? 6 : 1, arbitrary: fc.constant("POST") },
      { weight: 4, arbitrary: fc.constantFrom(...METHODS) },
      { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,8}$/) },
    ),
    path,
    query: endpoint === "/authorize"
      ? fc.oneof(
        {
          weight: 8,
          arbitrary: perturbedArb(f, "/authorize?").map((p) => new URLSearchParams(p).toString()),
        },
        { weight: 1, arbitrary: queryArb(f.values) },
      )
      : queryArb(f.values),
    headers: headersArb(f, endpoint),
    body: bodyArb(f, endpoint),
  });
}

type Req = {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | undefined>;
  body: string | Uint8Array | undefined;
};

function build(r: Req): Request | undefined {
  if (["CONNECT", "TRACE", "TRACK"].includes(r.method)) return undefined;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers[k] = v;
  const noBody = r.method === "GET" || r.method === "HEAD";
  try {
    return new Request(ISSUER + r.path + (r.query ? "?" + r.query : ""), {
      method: r.method,
      headers,
      body: noBody ? undefined : r.body as BodyInit | undefined,
    });
  } catch {
    return undefined;
  }
}

const STACK = /\n\s+at \S|\bat \S+ \(?(file|ext|node):|\.ts:\d+:\d+/;

/**
 * A refused request changed nothing, except the two documented security reactions: a replayed
 * code or reused refresh token revokes its grant (RFC 9700 §4.14.2), and a consent form
 * submission consumes the pending consent (single use) even when refused.
 */
async function assertStateUnchanged(f: Fixture, method: string, path: string, where: string) {
  for (const c of await f.journal.changes()) {
    const after = (c.after as { data?: Record<string, unknown> } | undefined)?.data;
    const grantRevoked = c.key[0] === "grant" && typeof after?.revokedAt === "number";
    const consentUsed = c.key[0] === "consent" && method === "POST" && path === "/authorize" &&
      after?.used === true;
    assert.ok(grantRevoked || consentUsed, `refused request changed ${c.key[0]}: ${where}`);
  }
}

async function check(f: Fixture, r: Req, name = "fuzz"): Promise<void> {
  const req = build(r);
  fc.pre(req !== undefined);
  ran.set(name, (ran.get(name) ?? 0) + 1);
  f.journal.begin();
  const res = await f.s.auth.handle(req!);
  const text = await res.text();
  const where = `${r.method} ${r.path}?${r.query.slice(0, 80)} → ${res.status} ${
    text.slice(0, 200)
  }`;
  assert.ok(res.status < 500, where);
  assert.ok(res.status >= 200, where);
  assert.doesNotMatch(text, STACK, where);
  const path = new URL(req!.url).pathname.replace(/(.)\/$/, "$1");
  const api = path !== "/authorize";
  if (res.status >= 400 && api && r.method !== "HEAD") {
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/, where);
    const body = JSON.parse(text);
    assert.equal(typeof body.error, "string", where);
    assert.equal(typeof body.error_description, "string", where);
  }
  if (res.status >= 400 && !api && r.method !== "HEAD") {
    if (res.status === 405) assert.match(res.headers.get("content-type") ?? "", /json/, where);
    else assert.match(res.headers.get("content-type") ?? "", /^text\/html/, where);
  }
  if (path === "/token" && r.method === "POST") {
    assert.equal(res.headers.get("cache-control"), "no-store", where);
  }
  let refusedRedirect = false;
  if (path === "/authorize" && res.status === 302) {
    // Every fixture client is self-registered: only the consent form's answer may redirect.
    assert.equal(r.method, "POST", `no automatic redirect before the user acted: ${where}`);
    const loc = new URL(res.headers.get("location")!);
    assert.equal(loc.searchParams.get("iss"), ISSUER, where);
    assert.ok(
      loc.href.startsWith("http://127.0.0.1:"),
      `redirect only to a registered URI: ${where}`,
    );
    assert.ok(
      loc.searchParams.has("code") || loc.searchParams.get("error") === "access_denied",
      where,
    );
    refusedRedirect = loc.searchParams.has("error");
  }
  const refused = res.status >= 400 || refusedRedirect || path === "/introspect" ||
    ["HEAD", "OPTIONS", "GET"].includes(r.method) && path !== "/authorize";
  if (refused) await assertStateUnchanged(f, r.method, path, where);
  else f.accepted.writes += (await f.journal.changes()).length;
}

/** After fuzzing, the normal flow still works on the same server and the fixture clients survive. */
async function stillWorks(f: Fixture): Promise<void> {
  const t = await tokensFor(f.s, { scope: "mcp:read mcp:write" });
  const v = await f.s.auth.verify(t.access_token, { resource: RESOURCE });
  assert.equal(v.ok, true);
  assert.equal(decodeJwt(t.access_token).sub, "alice");
  const r = await f.s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: t.refresh_token,
    client_id: t.client_id,
  });
  assert.equal(r.status, 200);
  const ids = (await f.s.auth.admin.listClients()).map((c) => c.client_id);
  assert.ok(ids.includes(f.publicId) && ids.includes(f.confId));
  const md = await f.s.call("/.well-known/oauth-authorization-server");
  assert.equal((await md.json()).issuer, ISSUER);
}

for (const endpoint of ENDPOINTS) {
  test(`fuzz ${endpoint}: never 5xx, no stack traces, right error shape, state intact`, async () => {
    const f = await fixture();
    const path = fc.oneof(
      { weight: 8, arbitrary: fc.constant(endpoint) },
      { weight: 1, arbitrary: fc.constant(endpoint + "/") },
    );
    await fc.assert(
      fc.asyncProperty(requestArb(f, endpoint, path), (r) => check(f, r, endpoint)),
      { numRuns: RUNS },
    );
    if (endpoint === "/authorize") {
      // Showing the consent page stores nothing (its state is sealed in the form); answering it
      // writes the single-use marker, the grant and the code: the journal must see those.
      f.journal.begin();
      await codeFor(f.s, f.publicId, { resource: RESOURCE });
      f.accepted.writes += (await f.journal.changes()).length;
    }
    if (["/register", "/authorize", "/token", "/revoke"].includes(endpoint)) {
      assert.ok(f.accepted.writes > 0, "the state journal saw the accepted requests' writes");
    }
    await stillWorks(f);
  });
}

test("fuzz arbitrary paths: unknown paths are 404 JSON, nothing 5xx", async () => {
  const f = await fixture();
  const path = fc.oneof(
    fc.webPath().map((p) => (p.startsWith("/") ? p : "/" + p)),
    ascii(30).map((s) => "/" + encodeURIComponent(s)),
    fc.constantFrom(...ENDPOINTS).map((e) => e + "/x"),
    fc.constantFrom(...ENDPOINTS).map((e) => e.toUpperCase()),
    fc.constantFrom("//token", "/./token", "/%2e%2e/token", "/.well-known/", "/t1/token"),
  );
  await fc.assert(fc.asyncProperty(requestArb(f, "", path), (r) => check(f, r, "(any path)")), {
    numRuns: RUNS,
  });
  await stillWorks(f);
});

test("fuzz the token endpoint with well-formed authorization_code requests", async () => {
  // Structured: all the right fields, each perturbed independently.
  const f = await fixture();
  const fresh = await codeFor(f.s, f.publicId);
  const field = (good: string) =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constant(good) },
      { weight: 1, arbitrary: fc.constantFrom(...f.values) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
  const arb = fc.record({
    grant_type: field("authorization_code"),
    code: field(fresh.code),
    code_verifier: field(fresh.verifier),
    redirect_uri: field(REDIRECT),
    client_id: field(f.publicId),
    resource: field(RESOURCE),
    client_secret: fc.option(fc.constantFrom(...f.values), { nil: undefined }),
  });
  let issued = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (fields) => {
      const form: Record<string, string> = {};
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) form[k] = v;
      const res = await f.s.form("/token", form);
      const body = await res.json();
      assert.ok(res.status < 500, JSON.stringify(body));
      assert.equal(res.headers.get("cache-control"), "no-store");
      if (res.status === 200) issued++;
      else assert.equal(typeof body.error, "string");
    }),
    { numRuns: RUNS },
  );
  // The one code can be redeemed at most once, whatever the fuzzer sent.
  assert.ok(issued <= 1, `code redeemed ${issued} times`);
  await stillWorks(f);
});

test("fuzz every endpoint on the Deno KV driver: hostile sizes never reach a storage limit (no 503)", async () => {
  // Deno KV refuses keys over 2 KiB; attacker-sized ids must be rejected before storage.
  const kv = await Deno.openKv(":memory:");
  try {
    const f = await fixture(denoKvStorage(kv));
    const huge = fc.constantFrom("a".repeat(2100), "é".repeat(1500), "%".repeat(3000));
    const arb = fc.constantFrom(...ENDPOINTS).chain((endpoint) =>
      requestArb(f, endpoint, fc.constant(endpoint))
    );
    const targeted = fc.tuple(
      fc.constantFrom("/token", "/revoke", "/introspect", "/authorize"),
      fc.constantFrom("client_id", "consent_id", "code", "refresh_token", "token"),
      huge,
      fc.boolean(),
    ).map(([path, key, value, asBasic]): Req => {
      const fields: Record<string, string> = {
        grant_type: "refresh_token",
        refresh_token: "x",
        token: "x",
        csrf: "x",
        decision: "approve",
        client_id: f.publicId,
        [key]: value,
      };
      const headers: Record<string, string | undefined> = {
        "content-type": "application/x-www-form-urlencoded",
      };
      if (asBasic && key === "client_id") {
        delete fields.client_id;
        headers.authorization = basic(value, "secret");
      }
      return {
        method: "POST",
        path,
        query: path === "/authorize" ? "" : "client_id=" + encodeURIComponent(value),
        headers,
        body: new URLSearchParams(fields).toString(),
      };
    });
    const authorizeGet = huge.map((v): Req => ({
      method: "GET",
      path: "/authorize",
      query: new URLSearchParams({ client_id: v, response_type: "code" }).toString(),
      headers: {},
      body: undefined,
    }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(arb, targeted, authorizeGet), (r) => check(f, r, "(deno kv)")),
      { numRuns: RUNS },
    );
    await stillWorks(f);
  } finally {
    kv.close();
  }
});

test("fuzz the resource side (auth.verify): ok, or an RFC 6750 challenge; never a throw or a write", async () => {
  const f = await fixture();
  const token = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...f.values) },
    { weight: 1, arbitrary: ascii(60) },
    { weight: 1, arbitrary: fc.constantFrom(...f.values).map((v) => v.slice(0, -3) + "AAA") },
  );
  const authz = fc.oneof(
    { weight: 6, arbitrary: token.map((t) => "Bearer " + t) },
    { weight: 1, arbitrary: token.map((t) => "bearer  " + t) },
    { weight: 1, arbitrary: token.map((t) => "Basic " + t) },
    { weight: 1, arbitrary: ascii(40) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  const arb = fc.record({
    authorization: authz,
    method: fc.constantFrom("GET", "POST", "DELETE"),
    query: fc.oneof(fc.constant(""), queryArb(f.values)),
    form: fc.option(pairsArb(f.values), { nil: undefined }),
    scopes: fc.subarray(["mcp:read", "mcp:write", "mcp:admin", "offline_access"]),
  });
  await fc.assert(
    fc.asyncProperty(arb, async (x) => {
      const headers: Record<string, string> = {};
      if (x.authorization !== undefined) headers.authorization = x.authorization;
      let req: Request;
      try {
        if (x.form && x.method !== "GET") {
          headers["content-type"] = "application/x-www-form-urlencoded";
        }
        req = new Request(RESOURCE + (x.query ? "?" + x.query : ""), {
          method: x.method,
          headers,
          body: x.form && x.method !== "GET" ? new URLSearchParams(x.form).toString() : undefined,
        });
      } catch {
        fc.pre(false);
        return;
      }
      ran.set("(resource side)", (ran.get("(resource side)") ?? 0) + 1);
      f.journal.begin();
      const r = await f.s.auth.verify(req, { resource: RESOURCE, scopes: x.scopes });
      assert.deepEqual(await f.journal.changes(), [], "verify never writes");
      if (r.ok) return;
      const where = `${x.method} ${x.authorization?.slice(0, 60)} → ${r.status}`;
      assert.ok([400, 401, 403].includes(r.status), where);
      const challenge = r.response.headers.get("www-authenticate") ?? "";
      assert.match(challenge, /^Bearer /, where);
      assert.match(
        challenge,
        /resource_metadata="https:\/\/mcp\.example\.com\/\.well-known\//,
        where,
      );
      assert.equal(r.response.headers.get("cache-control"), "no-store", where);
      if (r.status === 403) assert.match(challenge, /error="insufficient_scope"/, where);
      const text = await r.response.text();
      assert.doesNotMatch(text, STACK, where);
    }),
    { numRuns: RUNS },
  );
  await stillWorks(f);
});

after(() => {
  if (RUNS > 200) {
    console.log(`fuzz cases run (GATEHOUSE_FUZZ_RUNS=${RUNS}):`);
    for (const [name, n] of ran) console.log(`  ${name}: ${n}`);
  }
});
