/**
 * `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, RFC 7521
 * §4.2): a JWT the client signs with a key from its registered `jwks` or
 * `jwks_uri`. Every failure is a 401 `invalid_client` whose description
 * names the rule the assertion broke.
 *
 * Rules: algorithm from our allowlist (RS256, ES256, EdDSA; never `none` or
 * HMAC; narrowed to the client's `token_endpoint_auth_signing_alg` when it
 * pinned one) — never from the token; `iss` = `sub` = client_id; `aud` one
 * value, the token endpoint URL or the issuer; `exp` required and at most
 * {@link MAX_ASSERTION_LIFETIME} seconds ahead; `jti` required and single
 * use (an atomic storage swap keeps it until the assertion expires).
 * Verified with Web Crypto (the server bundle carries no JOSE library).
 *
 * @module
 */
import {
  decodeBase64Url,
  importVerificationKey,
  parseCompactJws,
  verifySignature,
} from "./_jwt.ts";
import type { JwtAlgorithm, ParsedJws, PublicJwk } from "./_jwt.ts";
import { OAuthError } from "./errors.ts";
import { sha256 } from "./_crypto.ts";
import { ASSERTION_ALGS, cacheSeconds } from "./_assertion_rules.ts";
import type { ClientLookup, ClientRecord } from "./clients.ts";
import type { Ctx } from "./_context.ts";

/** Longest accepted distance between now and an assertion's `exp`, seconds. */
export const MAX_ASSERTION_LIFETIME = 300;
/** Clock skew tolerated on `exp`, `nbf` and `iat`, seconds. */
export const ASSERTION_CLOCK_SKEW = 30;
/** A fetched `jwks_uri` is cached for this many seconds at least / at most (Cache-Control between). */
const JWKS_CACHE_MIN = 60;
const JWKS_CACHE_MAX = 3600;
const JWKS_MAX_BYTES = 64 * 1024;

const fail = (message: string) => new OAuthError("invalid_client", message);

/** A JWK Set as fetched or registered (members checked on use). */
interface JwkKeys {
  keys: PublicJwk[];
}

interface CachedJwks {
  jwks: JwkKeys;
  fetchedAt: number;
}

/** A failed fetch, remembered for {@link JWKS_CACHE_MIN} seconds (no refetch per assertion). */
interface CachedFailure {
  failed: string;
}

/** The client's key set: inline `jwks`, or `jwks_uri` through the SSRF-safe fetch, cached. */
async function keySet(ctx: Ctx, client: ClientRecord, refetch: boolean): Promise<JwkKeys> {
  if (client.jwks) return client.jwks as unknown as JwkKeys;
  if (!client.jwks_uri) throw fail("the client has no jwks or jwks_uri for private_key_jwt");
  const key = ["jwks", await sha256(client.jwks_uri)];
  const now = ctx.config.now();
  const entry = await ctx.store.get<CachedJwks | CachedFailure>(key);
  if (entry && "failed" in entry) throw fail(`the client's jwks_uri was refused: ${entry.failed}`);
  const cached = entry;
  // A kid we do not know triggers one refetch, at most once a minute (key rotation).
  if (cached && !(refetch && now - cached.fetchedAt > JWKS_CACHE_MIN * 1000)) return cached.jwks;
  let jwks: JwkKeys;
  let cacheControl: string;
  try {
    // The same SSRF-safe bounded fetch as metadata documents (src/_outbound.ts).
    const res = await ctx.fetchOutbound(client.jwks_uri, {
      maxBytes: JWKS_MAX_BYTES,
      accept: "application/json",
      contentTypes: ["application/json", "application/jwk-set+json"],
    });
    jwks = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(res.body));
    cacheControl = res.headers.get("cache-control") ?? "";
  } catch (e) {
    if (cached) return cached.jwks;
    const why = e instanceof Error && e.name === "OutboundError"
      ? `${(e as Error & { reason: string }).reason}: ${e.message}`
      : "is not valid JSON";
    await ctx.store.put(key, { failed: why }, now + JWKS_CACHE_MIN * 1000);
    throw fail(`the client's jwks_uri was refused: ${why}`);
  }
  if (typeof jwks !== "object" || jwks === null || !Array.isArray(jwks.keys)) {
    if (cached) return cached.jwks;
    const why = "it did not return a JWK Set";
    await ctx.store.put(key, { failed: why }, now + JWKS_CACHE_MIN * 1000);
    throw fail(`the client's jwks_uri was refused: ${why}`);
  }
  const ttl = cacheSeconds(cacheControl, JWKS_CACHE_MIN, JWKS_CACHE_MAX);
  await ctx.store.put(key, { jwks, fetchedAt: now }, now + ttl * 1000);
  return jwks;
}

/**
 * Authenticate a client by its `client_assertion` (RFC 7523 §2.2).
 *
 * @param assertion the compact JWT from the `client_assertion` parameter
 * @param bodyClientId the `client_id` parameter, if sent (must name the same client)
 * @param lookup resolves a client id to the client or the rule it broke
 * @returns the authenticated client
 * @throws {OAuthError} 401 invalid_client naming the rule broken
 */
export async function authenticateAssertion(
  ctx: Ctx,
  assertion: string,
  bodyClientId: string | undefined,
  lookup: (id: string) => Promise<ClientLookup>,
): Promise<ClientRecord> {
  if (assertion.length > 8192) throw fail("client_assertion is longer than 8 KiB");
  let jws: ParsedJws;
  try {
    jws = parseCompactJws(assertion);
  } catch {
    throw fail("client_assertion is not a JWT");
  }
  const iss = jws.payload.iss;
  if (typeof iss !== "string" || !iss) throw fail("client_assertion has no iss (the client_id)");
  if (bodyClientId !== undefined && bodyClientId !== iss) {
    throw fail("client_id does not match the client_assertion's iss");
  }
  const found = await lookup(iss);
  if (!found.client) throw fail(found.problem);
  const client = found.client;
  if (client.token_endpoint_auth_method !== "private_key_jwt") {
    throw fail(
      `client is registered for ${client.token_endpoint_auth_method}, not private_key_jwt`,
    );
  }
  const algorithms = client.token_endpoint_auth_signing_alg
    ? [client.token_endpoint_auth_signing_alg]
    : [...ASSERTION_ALGS];
  const alg = jws.header.alg;
  if (typeof alg !== "string" || !algorithms.includes(alg)) {
    throw fail(
      "client_assertion rejected: its alg is not allowed (RS256, ES256 or EdDSA, or the client's registered alg)",
    );
  }
  if (jws.header.crit !== undefined) {
    throw fail("client_assertion rejected: crit header parameters are not supported");
  }
  const kid = typeof jws.header.kid === "string" ? jws.header.kid : undefined;
  let verdict = await verifyWithKeys(await keySet(ctx, client, false), jws, alg as Alg, kid);
  if (verdict === "no-key" && client.jwks_uri) {
    verdict = await verifyWithKeys(await keySet(ctx, client, true), jws, alg as Alg, kid);
  }
  if (verdict === "no-key") {
    throw fail("client_assertion rejected: no key in the client's JWKS matches it");
  }
  if (verdict === "bad-signature") {
    throw fail("client_assertion rejected: the signature is invalid");
  }
  const payload = jws.payload;
  const now = ctx.config.now();
  const skew = ASSERTION_CLOCK_SKEW * 1000;
  for (const claim of ["iss", "sub"] as const) {
    if (payload[claim] !== client.client_id) {
      throw fail(`client_assertion rejected: ${claim} must equal the client_id`);
    }
  }
  if (typeof payload.exp !== "number") throw fail("client_assertion rejected: exp is required");
  if (payload.jti === undefined) throw fail("client_assertion rejected: jti is required");
  if (payload.exp * 1000 <= now - skew) throw fail("client_assertion rejected: it has expired");
  if (typeof payload.nbf === "number" && payload.nbf * 1000 > now + skew) {
    throw fail("client_assertion rejected: it is not yet valid (nbf)");
  }
  const aud = Array.isArray(payload.aud) && payload.aud.length === 1 ? payload.aud[0] : payload.aud;
  if (aud !== ctx.endpoints.token && aud !== ctx.config.issuer) {
    throw fail(
      "client_assertion aud must be one value: the token endpoint URL or the issuer (RFC 7523 §3)",
    );
  }
  const exp = payload.exp;
  if (exp * 1000 > now + (MAX_ASSERTION_LIFETIME + ASSERTION_CLOCK_SKEW) * 1000) {
    throw fail(`client_assertion exp is more than ${MAX_ASSERTION_LIFETIME} s ahead`);
  }
  if (typeof payload.iat === "number" && payload.iat * 1000 > now + ASSERTION_CLOCK_SKEW * 1000) {
    throw fail("client_assertion iat is in the future");
  }
  const jti = payload.jti;
  if (typeof jti !== "string" || !jti || jti.length > 256) {
    throw fail("client_assertion jti must be a string of 1–256 characters");
  }
  // Single use, atomically: exactly one of N concurrent swaps sees no previous value.
  const prev = await ctx.store.swap<{ used: true }, { used: true }>(
    ["jti", await sha256(client.client_id + "\n" + jti)],
    { used: true },
    (exp + ASSERTION_CLOCK_SKEW) * 1000,
  );
  if (prev) throw fail("client_assertion jti was already used (replay)");
  return client;
}

type Alg = "RS256" | "ES256" | "EdDSA";
const RS256: RsaHashedImportParams = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };

/** Bit length of a big-endian unsigned integer (leading zero bytes ignored). */
function bitLength(b: Uint8Array): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return i === b.length ? 0 : (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]));
}

/**
 * An RS256 public key, or undefined when the JWK is not one. Refused (401): a
 * modulus under 2048 bits, counted from its value, not its encoded length (zero
 * bytes in front change nothing); a public exponent that is even, below 65537
 * or 2^256 and above (FIPS 186-5 §5.4) — with e = 1 anyone holding the public
 * JWK can compute a valid signature (Node's Web Crypto verifies it).
 */
async function importRsa(jwk: PublicJwk): Promise<CryptoKey | undefined> {
  if (jwk.kty !== "RSA" || typeof jwk.n !== "string" || typeof jwk.e !== "string") return undefined;
  let n: Uint8Array;
  let e: Uint8Array;
  try {
    n = decodeBase64Url(jwk.n);
    e = decodeBase64Url(jwk.e);
  } catch {
    return undefined;
  }
  if (bitLength(n) < 2048) {
    throw fail("client_assertion rejected: RSA keys must be 2048 bits or larger");
  }
  const eBits = bitLength(e);
  if (eBits < 17 || eBits > 256 || (e[e.length - 1] & 1) === 0) {
    throw fail(
      "client_assertion rejected: the RSA public exponent must be odd, at least 65537 and below 2^256",
    );
  }
  try {
    return await crypto.subtle.importKey("jwk", { kty: "RSA", n: jwk.n, e: jwk.e }, RS256, false, [
      "verify",
    ]);
  } catch {
    return undefined;
  }
}

/**
 * Ed25519 public keys of small order (libsodium's list, compared without the
 * sign bit): for these, Web Crypto (Deno, Node) verifies R = identity, S = 0
 * as a signature of any message.
 */
const SMALL_ORDER_ED25519 = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

function smallOrderEd25519(x: unknown): boolean {
  if (typeof x !== "string") return false;
  let b: Uint8Array;
  try {
    b = decodeBase64Url(x);
  } catch {
    return false;
  }
  if (b.length !== 32) return false;
  const hex = Array.from(b, (v, i) => (i === 31 ? v & 0x7f : v).toString(16).padStart(2, "0"))
    .join("");
  return SMALL_ORDER_ED25519.includes(hex);
}

/** The usable keys of `set` for `alg` (and `kid`, when the header names one). */
async function candidates(set: JwkKeys, alg: Alg, kid: string | undefined): Promise<CryptoKey[]> {
  const out: CryptoKey[] = [];
  for (const jwk of Array.isArray(set.keys) ? set.keys.slice(0, 20) : []) {
    if (typeof jwk !== "object" || jwk === null) continue;
    if (kid !== undefined && jwk.kid !== kid) continue;
    if (jwk.alg !== undefined && jwk.alg !== alg) continue;
    if (jwk.use !== undefined && jwk.use !== "sig") continue;
    if (alg === "RS256") {
      const key = await importRsa(jwk);
      if (key) out.push(key);
    } else {
      if (alg === "EdDSA" && jwk.kty === "OKP" && smallOrderEd25519(jwk.x)) {
        throw fail("client_assertion rejected: the Ed25519 key is a small-order point");
      }
      const key = await importVerificationKey(jwk, [alg as JwtAlgorithm]);
      if (key) out.push(key.key);
    }
  }
  return out;
}

/** Verify the signature with any matching key of the client's set. */
async function verifyWithKeys(
  set: JwkKeys,
  jws: ParsedJws,
  alg: Alg,
  kid: string | undefined,
): Promise<"ok" | "no-key" | "bad-signature"> {
  const keys = await candidates(set, alg, kid);
  if (!keys.length) return "no-key";
  for (const key of keys) {
    let ok = false;
    try {
      ok = alg === "RS256"
        ? await crypto.subtle.verify(RS256, key, jws.signature, jws.signingInput)
        : await verifySignature({ alg, key }, jws);
    } catch {
      // A key the runtime imported but cannot use (Deno defers some RSA checks to verify).
      ok = false;
    }
    if (ok) return "ok";
  }
  return "bad-signature";
}
