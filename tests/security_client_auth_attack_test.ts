/**
 * Attacks on `private_key_jwt` client authentication through HTTP and open
 * registration only (issue 7): RSA keys that look acceptable by their JWK
 * text but are not: a 1024-bit modulus padded with zero bytes (was accepted:
 * the size was read from the encoded length), and public exponent 1 (on Node's
 * Web Crypto the forged assertion below verified — anyone holding the public
 * JWKS could authenticate as the client; on Deno it was a 500).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { base64url } from "jose";
import { expectError, ISSUER, REDIRECT, register, testServer } from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";
import { assertionFields, assertionInput, rsaPair, signRs256 } from "./support/assertion.ts";

const TOKEN = ISSUER + "/token";
const enc = (o: unknown) => base64url.encode(JSON.stringify(o));

/** Register a `private_key_jwt` client with this one RSA key (kid "k", RS256). */
async function registerRsa(s: TestServer, key: Record<string, unknown>): Promise<string> {
  const jwks = { keys: [{ kid: "k", alg: "RS256", ...key }] };
  return (await register(s, { token_endpoint_auth_method: "private_key_jwt", jwks })).client_id;
}

const signingInput = (id: string, jti: string) =>
  assertionInput({ alg: "RS256", kid: "k" }, id, TOKEN, jti);

test("an RSA key of 1024 bits whose modulus is padded with leading zero bytes is still refused", async () => {
  const { pair, jwk } = await rsaPair(1024);
  const n = base64url.decode(jwk.n!);
  const padded = new Uint8Array(129 + n.length);
  padded.set(n, 129); // 129 zero bytes + 128 key bytes: looks like 2048 bits by length
  const s = await testServer();
  const id = await registerRsa(s, { kty: "RSA", n: base64url.encode(padded), e: jwk.e });
  const input = signingInput(id, "padded");
  const assertion = await signRs256(pair.privateKey, input);
  const r = await s.form("/introspect", { token: "x", ...assertionFields(assertion) });
  const err = await expectError(r, 401, "invalid_client");
  assert.match(err.error_description as string, /RSA keys must be 2048 bits or larger/);
});

test("an RSA key with public exponent 1: an assertion forged from the public JWK alone is refused", async () => {
  // The attacker knows only the client's public JWKS (it is public by design: the
  // registration response and any jwks_uri show it). With e = 1 the "signature" of
  // a message is its PKCS#1 v1.5 encoding, computable without any private key.
  const { jwk } = await rsaPair(2048);
  const s = await testServer();
  const id = await registerRsa(s, { kty: "RSA", n: jwk.n, e: "AQ" });
  const input = signingInput(id, "forged");
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(input)),
  );
  // DigestInfo prefix of SHA-256 (RFC 8017 §9.2 note 1).
  const digestInfo = "3031300d060960864801650304020105000420".match(/../g)!.map((h) =>
    parseInt(h, 16)
  );
  const k = base64url.decode(jwk.n!).length; // 256
  const em = new Uint8Array(k).fill(0xff);
  em[0] = 0x00;
  em[1] = 0x01;
  const t = [...digestInfo, ...hash];
  em[k - t.length - 1] = 0x00;
  em.set(t, k - t.length);
  const forged = `${input}.${base64url.encode(em)}`;
  const r = await s.form("/introspect", { token: "x", ...assertionFields(forged) });
  const err = await expectError(r, 401, "invalid_client");
  assert.match(err.error_description as string, /public exponent/);
});

test("an Ed25519 key that is a small-order point is refused: its 'signatures' verify for any message", async () => {
  // x = the identity point (0x01 then zeros). Deno's and Node's Web Crypto both accept
  // R = identity, S = 0 as a signature of any message under it, so anyone could
  // authenticate as this client. Both sign variants of each small-order encoding count.
  const s = await testServer();
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const negZero = identity.slice();
  negZero[31] = 0x80;
  for (const [name, x] of [["identity", identity], ["identity, sign bit set", negZero]] as const) {
    const { client_id: id } = await register(s, {
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [{ kty: "OKP", crv: "Ed25519", x: base64url.encode(x), kid: "k" }] },
    });
    const input = assertionInput({ alg: "EdDSA", kid: "k" }, id, TOKEN, name);
    const sig = new Uint8Array(64);
    sig[0] = 1; // R = identity, S = 0
    const r = await s.form("/introspect", {
      token: "x",
      ...assertionFields(`${input}.${base64url.encode(sig)}`),
    });
    const err = await expectError(r, 401, "invalid_client");
    assert.match(err.error_description as string, /small-order/, name);
  }
});

test("per-IP limits count an IPv6 caller by its /64: rotating the interface id does not reset the budget", async () => {
  // One host owns a whole /64 (SLAAC, any VPS): each connection can come from a new
  // address. Counted per /128, every address had its own 20 registrations a minute.
  let t = (Math.floor(Date.now() / 60_000) + 5) * 60_000 + 1000;
  const s = await testServer({ now: () => t });
  const reg = (ip: string) =>
    s.auth.handle(
      new Request(ISSUER + "/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
      }),
      { remoteAddr: { hostname: ip, port: 50000, transport: "tcp" } },
    );
  for (let i = 0; i < 20; i++) {
    assert.equal((await reg(`2001:db8:5:6:${i.toString(16)}::1`)).status, 201);
  }
  const over = await reg("2001:db8:5:6:ffff:1:2:3");
  assert.equal(over.status, 429, "the 21st registration from the same /64");
  await over.body?.cancel();
  // Another /64 (another customer) and IPv4 callers keep their own budgets.
  assert.equal((await reg("2001:db8:5:7::1")).status, 201);
  assert.equal((await reg("198.51.100.7")).status, 201);
  t += 60_000;
  assert.equal((await reg("2001:db8:5:6::9")).status, 201, "the next window");
});

test("a jwks_uri that fails is remembered for a minute: assertions can't make the server fetch it on every request", async () => {
  // Anyone can register jwks_uri = any public URL (someone else's server) and send
  // assertions: without a failure cache each one was an outbound GET to that host.
  const JWKS_URI = "https://hosted.example.net/keys/missing.json";
  let fetches = 0;
  let t = Date.now();
  const s = await testServer({
    now: () => t,
    fetch: () => {
      fetches++;
      return Promise.resolve(new Response("not here", { status: 404 }));
    },
    outbound: { allow: ["hosted.example.net"] },
  });
  const res = await s.call("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: "private_key_jwt",
      jwks_uri: JWKS_URI,
    }),
  });
  const id = (await res.json()).client_id;
  const now = Math.floor(t / 1000);
  for (let i = 0; i < 10; i++) {
    const input = `${enc({ alg: "ES256", kid: "k" + i })}.${
      enc({ iss: id, sub: id, aud: TOKEN, exp: now + 60, jti: "j" + i })
    }`;
    const r = await s.form("/introspect", {
      token: "x",
      ...assertionFields(`${input}.${base64url.encode(new Uint8Array(64))}`),
    });
    const err = await expectError(r, 401, "invalid_client");
    assert.match(err.error_description as string, /jwks_uri was refused: status: status 404/);
  }
  assert.equal(fetches, 1, "one fetch for ten assertions within the minute");
  t += 61_000;
  const later = Math.floor(t / 1000);
  const input = `${enc({ alg: "ES256" })}.${
    enc({ iss: id, sub: id, aud: TOKEN, exp: later + 60, jti: "after" })
  }`;
  await s.form("/introspect", {
    token: "x",
    ...assertionFields(`${input}.${base64url.encode(new Uint8Array(64))}`),
  });
  assert.equal(fetches, 2, "tried again after the minute");
});
