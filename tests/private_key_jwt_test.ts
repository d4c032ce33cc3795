/**
 * `private_key_jwt` client authentication (RFC 7523 §2.2/§3, RFC 7521 §4.2) at
 * /token, /revoke and /introspect, for registered clients (inline `jwks`) and
 * metadata-document clients (`jwks_uri`). The document and key hosts are
 * public https origins, which cannot exist here: an injected `fetch` stands in
 * for them (as in server_cimd_test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { UnsecuredJWT } from "jose";
import { memoryStorage } from "../storage/memory.ts";
import {
  codeFor,
  expectError,
  ISSUER,
  REDIRECT,
  register,
  RESOURCE,
  testServer,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";
import {
  assertionClient,
  assertionFields,
  assertionInput,
  rsaPair,
  signAssertion,
  signRs256,
} from "./support/assertion.ts";
import type { AssertionClient } from "./support/assertion.ts";

const TOKEN = ISSUER + "/token";
const DOC_ID = "https://hosted.example.net/oauth/client.json";
const JWKS_URI = "https://hosted.example.net/oauth/jwks.json";

async function registerPkj(s: TestServer, k: AssertionClient, extra: Record<string, unknown> = {}) {
  const res = await s.call("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      redirect_uris: [REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      token_endpoint_auth_method: "private_key_jwt",
      jwks: k.jwks,
      client_name: "Key Client",
      ...extra,
    }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return await res.json();
}

/** A host serving the metadata document and the JWKS; counts fetches of each. */
function keyHost(doc: Record<string, unknown>, jwks: () => unknown) {
  const calls: string[] = [];
  const f: typeof fetch = (input) => {
    const url = input instanceof Request ? input.url : String(input);
    calls.push(url);
    const body = url === DOC_ID ? doc : url === JWKS_URI ? jwks() : undefined;
    return Promise.resolve(
      body === undefined
        ? new Response("nope", { status: 404 })
        : new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } }),
    );
  };
  return { fetch: f, calls };
}

async function tokensWithAssertion(s: TestServer, clientId: string, k: AssertionClient) {
  const { code, verifier } = await codeFor(s, clientId);
  const res = await s.form("/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    resource: RESOURCE,
    ...assertionFields(await k.sign(clientId, TOKEN)),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return await res.json();
}

test("metadata lists private_key_jwt and the assertion algorithms for token, revocation, introspection", async () => {
  const s = await testServer();
  const md = await (await s.call("/.well-known/oauth-authorization-server")).json();
  for (const ep of ["token", "revocation", "introspection"]) {
    assert.ok(md[`${ep}_endpoint_auth_methods_supported`].includes("private_key_jwt"), ep);
    assert.deepEqual(md[`${ep}_endpoint_auth_signing_alg_values_supported`], [
      "RS256",
      "ES256",
      "EdDSA",
    ]);
  }
});

test("registered client with jwks: no secret issued; token, refresh, introspect, revoke with assertions", async () => {
  const k = await assertionClient("EdDSA");
  const s = await testServer();
  const client = await registerPkj(s, k);
  assert.equal(client.token_endpoint_auth_method, "private_key_jwt");
  assert.equal(client.client_secret, undefined);
  assert.deepEqual(client.jwks, k.jwks);
  const id = client.client_id;
  const t1 = await tokensWithAssertion(s, id, k);
  // Refresh with aud = the issuer (the other accepted audience) and client_id in the body.
  const r = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: t1.refresh_token,
    client_id: id,
    ...assertionFields(await k.sign(id, ISSUER)),
  });
  assert.equal(r.status, 200, await r.clone().text());
  const t2 = await r.json();
  const intro = await s.form("/introspect", {
    token: t2.access_token,
    ...assertionFields(await k.sign(id, [TOKEN])),
  });
  assert.equal(intro.status, 200);
  const info = await intro.json();
  assert.equal(info.active, true);
  assert.equal(info.client_id, id);
  const rev = await s.form("/revoke", {
    token: t2.refresh_token,
    ...assertionFields(await k.sign(id, TOKEN)),
  });
  assert.equal(rev.status, 200);
  const after = await s.form("/introspect", {
    token: t2.access_token,
    ...assertionFields(await k.sign(id, TOKEN)),
  });
  assert.equal((await after.json()).active, false);
});

test("metadata document with private_key_jwt + jwks_uri (ES256 and RS256): flow works, JWKS fetched once and cached", async () => {
  for (const alg of ["ES256", "RS256"]) {
    const k = await assertionClient(alg);
    const h = keyHost({
      client_id: DOC_ID,
      client_name: "Hosted " + alg,
      redirect_uris: [REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      token_endpoint_auth_method: "private_key_jwt",
      jwks_uri: JWKS_URI,
    }, () => k.jwks);
    const s = await testServer({ fetch: h.fetch, outbound: { allow: ["hosted.example.net"] } });
    const t = await tokensWithAssertion(s, DOC_ID, k);
    assert.equal(typeof t.refresh_token, "string");
    const r = await s.form("/token", {
      grant_type: "refresh_token",
      refresh_token: t.refresh_token,
      ...assertionFields(await k.sign(DOC_ID, TOKEN)),
    });
    assert.equal(r.status, 200, alg);
    assert.equal(h.calls.filter((c) => c === JWKS_URI).length, 1, "JWKS cached");
    assert.equal(h.calls.filter((c) => c === DOC_ID).length, 1, "document cached");
  }
});

test("jwks_uri key rotation: an unknown kid refetches the JWKS (at most once a minute)", async () => {
  const oldKey = await assertionClient("ES256", "old");
  const newKey = await assertionClient("ES256", "new");
  let published = oldKey.jwks;
  const h = keyHost({
    client_id: DOC_ID,
    client_name: "Rotating",
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "private_key_jwt",
    jwks_uri: JWKS_URI,
  }, () => published);
  const s = await testServer({ fetch: h.fetch, outbound: { allow: ["hosted.example.net"] } });
  await tokensWithAssertion(s, DOC_ID, oldKey);
  published = newKey.jwks;
  // Within the minute the cached set is used: the new kid is not known yet.
  const early = await s.form("/introspect", {
    token: "x",
    ...assertionFields(await newKey.sign(DOC_ID, TOKEN)),
  });
  const err = await expectError(early, 401, "invalid_client");
  assert.match(err.error_description as string, /no key in the client's JWKS matches/);
  s.advance(61_000);
  const later = Math.floor((Date.now() + 61_000) / 1000);
  const res = await s.form("/introspect", {
    token: "x",
    ...assertionFields(await newKey.sign(DOC_ID, TOKEN, { iat: later, exp: later + 60 })),
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(h.calls.filter((c) => c === JWKS_URI).length, 2);
});

test("bad assertions → 401 invalid_client naming the rule broken", async () => {
  const k = await assertionClient("EdDSA");
  const other = await assertionClient("EdDSA");
  const s = await testServer();
  const id = (await registerPkj(s, k)).client_id;
  const now = Math.floor(Date.now() / 1000);
  const hmac = new TextEncoder().encode("a-shared-secret-that-is-long-enough-for-hs256!!");
  const cases: [string, string, RegExp][] = [
    [
      "alg none",
      new UnsecuredJWT({ iss: id, sub: id, aud: TOKEN, exp: now + 60, jti: "n" }).encode(),
      /alg is not allowed/,
    ],
    [
      "HS256",
      await signAssertion(hmac, { alg: "HS256" }, {
        iss: id,
        sub: id,
        aud: TOKEN,
        exp: now + 60,
        jti: "h",
      }),
      /alg is not allowed/,
    ],
    ["another key", await other.sign(id, TOKEN, {}, { kid: k.kid }), /signature is invalid/],
    ["sub ≠ client_id", await k.sign(id, TOKEN, { sub: "someone" }), /sub must equal/],
    ["wrong aud", await k.sign(id, "https://other.example/token"), /aud must be one value/],
    ["two audiences", await k.sign(id, [TOKEN, ISSUER]), /aud must be one value/],
    ["revocation endpoint as aud", await k.sign(id, ISSUER + "/revoke"), /aud must be one/],
    ["no exp", await k.sign(id, TOKEN, { exp: undefined }), /exp is required/],
    ["exp 10 min ahead", await k.sign(id, TOKEN, { exp: now + 600 }), /more than 300 s ahead/],
    ["expired", await k.sign(id, TOKEN, { exp: now - 120 }), /expired/],
    ["no jti", await k.sign(id, TOKEN, { jti: undefined }), /jti is required/],
    ["iat in the future", await k.sign(id, TOKEN, { iat: now + 200 }), /iat is in the future/],
    ["nbf in the future", await k.sign(id, TOKEN, { nbf: now + 200 }), /not yet valid \(nbf\)/],
    [
      "crit header",
      await k.signRaw({ alg: "EdDSA", kid: k.kid, crit: ["x-unknown"], "x-unknown": 1 }, {
        iss: id,
        sub: id,
        aud: TOKEN,
        exp: now + 60,
        jti: "crit",
      }),
      /crit header parameters are not supported/,
    ],
    ["unknown kid", await k.sign(id, TOKEN, {}, { kid: "nope" }), /no key in the client's JWKS/],
    ["not a JWT", "garbage", /not a JWT/],
    ["unknown issuer", await k.sign("nobody-registered", TOKEN), /no client is registered/],
  ];
  for (const [name, assertion, rule] of cases) {
    const res = await s.form("/token", {
      grant_type: "refresh_token",
      refresh_token: "whatever",
      ...assertionFields(assertion),
    });
    const err = await expectError(res, 401, "invalid_client");
    assert.match(err.error_description as string, rule, name);
  }
  const wrongType = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: "x",
    client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
    client_assertion: await k.sign(id, TOKEN),
  });
  assert.match(
    (await expectError(wrongType, 401, "invalid_client")).error_description as string,
    /client_assertion_type must be/,
  );
  const mismatch = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: "x",
    client_id: "someone-else",
    ...assertionFields(await k.sign(id, TOKEN)),
  });
  assert.match(
    (await expectError(mismatch, 401, "invalid_client")).error_description as string,
    /client_id does not match/,
  );
  const mixed = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: "x",
    client_secret: "s",
    ...assertionFields(await k.sign(id, TOKEN)),
  });
  await expectError(mixed, 400, "invalid_request");
  // A private_key_jwt client cannot fall back to no authentication…
  const none = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: "x",
    client_id: id,
  });
  assert.match(
    (await expectError(none, 401, "invalid_client")).error_description as string,
    /registered for private_key_jwt but authenticated with none/,
  );
  // …and a public client cannot authenticate with an assertion.
  const pub = await s.call("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
  });
  const pubId = (await pub.json()).client_id;
  const asPub = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: "x",
    ...assertionFields(await k.sign(pubId, TOKEN)),
  });
  assert.match(
    (await expectError(asPub, 401, "invalid_client")).error_description as string,
    /registered for none, not private_key_jwt/,
  );
});

test("token_endpoint_auth_signing_alg pins the algorithm", async () => {
  const es = await assertionClient("ES256");
  const s = await testServer();
  const id = (await registerPkj(s, es, { token_endpoint_auth_signing_alg: "ES256" })).client_id;
  const ok = await s.form("/introspect", {
    token: "x",
    ...assertionFields(await es.sign(id, TOKEN)),
  });
  assert.equal(ok.status, 200);
  const ed = await assertionClient("EdDSA", es.kid);
  const res = await s.form("/introspect", {
    token: "x",
    ...assertionFields(await ed.sign(id, TOKEN)),
  });
  assert.match(
    (await expectError(res, 401, "invalid_client")).error_description as string,
    /alg is not allowed/,
  );
});

test("a jwks_uri on a private host is never fetched; the error names the rule", async () => {
  const k = await assertionClient("EdDSA");
  const calls: string[] = [];
  const s = await testServer({
    fetch: (input) => {
      calls.push(String(input));
      return Promise.resolve(new Response(JSON.stringify(k.jwks)));
    },
  });
  const res = await s.call("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: "private_key_jwt",
      jwks_uri: "https://169.254.169.254/keys",
    }),
  });
  const id = (await res.json()).client_id;
  const t = await s.form("/introspect", {
    token: "x",
    ...assertionFields(await k.sign(id, TOKEN)),
  });
  assert.match(
    (await expectError(t, 401, "invalid_client")).error_description as string,
    /jwks_uri was refused: /,
  );
  assert.deepEqual(calls, []);
});

test("jti single use under 50 concurrent presentations (memory; every driver: private_key_jwt_drivers_test.ts)", async () => {
  const k = await assertionClient("EdDSA");
  const s = await testServer({ storage: memoryStorage() });
  const id = (await registerPkj(s, k)).client_id;
  const assertion = await k.sign(id, TOKEN);
  const results = await Promise.all(
    Array.from(
      { length: 50 },
      () => s.form("/introspect", { token: "x", ...assertionFields(assertion) }),
    ),
  );
  const statuses = results.map((r) => r.status);
  assert.equal(statuses.filter((x) => x === 200).length, 1, "exactly one use of the jti");
  assert.equal(statuses.filter((x) => x === 401).length, 49);
  for (const r of results) {
    const text = await r.text();
    if (r.status === 401) assert.match(text, /jti was already used/);
  }
  const again = await s.form("/introspect", { token: "x", ...assertionFields(assertion) });
  await expectError(again, 401, "invalid_client");
});

test("refused clients are told why: /authorize error page and /token JSON", async () => {
  const s = await testServer({ clientIdMetadataDocuments: false });
  const res = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: "x",
    client_id: DOC_ID,
  });
  assert.match(
    (await expectError(res, 401, "invalid_client")).error_description as string,
    /does not accept client metadata documents/,
  );
  const unknown = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: "x",
    client_id: "nope",
  });
  assert.match(
    (await expectError(unknown, 401, "invalid_client")).error_description as string,
    /no client is registered with this client_id/,
  );
  const page = await s.call(
    "/authorize?response_type=code&client_id=nope&redirect_uri=" + encodeURIComponent(REDIRECT),
  );
  assert.equal(page.status, 400);
  assert.equal(page.headers.get("location"), null);
  const html = await page.text();
  assert.match(html, /Unknown client/);
  assert.match(html, /no client is registered with this client_id/);
  const url = await s.call("/authorize?response_type=code&client_id=" + encodeURIComponent(DOC_ID));
  assert.match(await url.text(), /does not accept client metadata documents/);
});

test("an RSA key shorter than 2048 bits is refused even when registered", async () => {
  // jose will not generate or sign with such a key, so this one is made with Web Crypto.
  const { pair, jwk: pub } = await rsaPair(1024);
  const s = await testServer();
  const { client_id: id } = await register(s, {
    token_endpoint_auth_method: "private_key_jwt",
    jwks: { keys: [{ kty: pub.kty, n: pub.n, e: pub.e, kid: "short", alg: "RS256" }] },
  });
  const input = assertionInput({ alg: "RS256", kid: "short" }, id, TOKEN, "short-key");
  const assertion = await signRs256(pair.privateKey, input);
  const r = await s.form("/introspect", { token: "x", ...assertionFields(assertion) });
  const err = await expectError(r, 401, "invalid_client");
  assert.match(err.error_description as string, /RSA keys must be 2048 bits or larger/);
});

test("a JWKS with several keys: an assertion without kid verifies with whichever key signed it", async () => {
  const a = await assertionClient("ES256", "a");
  const b = await assertionClient("ES256", "b");
  const s = await testServer();
  const { client_id: id } = await register(s, {
    token_endpoint_auth_method: "private_key_jwt",
    jwks: { keys: [a.publicJwk, b.publicJwk] },
  });
  for (const k of [a, b]) {
    const assertion = await k.sign(id, TOKEN, {}, { kid: undefined });
    const r = await s.form("/introspect", { token: "x", ...assertionFields(assertion) });
    assert.equal(r.status, 200, await r.clone().text());
  }
  const stranger = await assertionClient("ES256", "c");
  const r = await s.form("/introspect", {
    token: "x",
    ...assertionFields(await stranger.sign(id, TOKEN, {}, { kid: undefined })),
  });
  assert.match(
    (await expectError(r, 401, "invalid_client")).error_description as string,
    /signature is invalid/,
  );
});
