/**
 * Signing keys: the configured JWKs (or an ephemeral development key), RFC 9068 access-token
 * signing, the published JWKS, and verification of our own tokens (for `/introspect`).
 *
 * Plain Web Crypto (no JOSE library in the server bundle): the JWS is
 * `base64url(header).base64url(claims).base64url(signature)` with Ed25519 (EdDSA) or ECDSA
 * P-256 / SHA-256 (ES256, whose Web Crypto signature is already the JWS `r‖s` form).
 * Keys are imported on first use, not at start: serving metadata never pays for it.
 *
 * @module
 */
import type { JWK, JWTPayload } from "jose";
import { deriveSealKey } from "./_seal.ts";
import { base64urlEncode } from "./_crypto.ts";
import { importVerificationKey, JwtError, parseCompactJws, verifySignature } from "./_jwt.ts";
import type { PublicJwk, VerificationKey } from "./_jwt.ts";

/**
 * A signing key as a JSON Web Key (RFC 7517 §4; RFC 8037 for OKP, RFC 7518 §6.2 for EC):
 * Ed25519 (`kty: "OKP"`, `crv: "Ed25519"`) or P-256 (`kty: "EC"`, `crv: "P-256"`), base64url
 * members. A private key has `d`; a public-only one is published for rotation but never signs.
 */
export interface SigningJwk {
  /** Key type: `"OKP"` (Ed25519) or `"EC"` (P-256). */
  kty?: string;
  /** Curve: `"Ed25519"` or `"P-256"`. */
  crv?: string;
  /** Public key (x coordinate for EC). */
  x?: string;
  /** EC y coordinate. */
  y?: string;
  /** Private key; absent on a public-only (retiring or upcoming) key. */
  d?: string;
  /** Key id, required: tokens name it in their `kid` header. */
  kid?: string;
  /** `"EdDSA"` or `"ES256"`. */
  alg?: string;
  /** `"sig"`. */
  use?: string;
  /** Other JWK members are kept but not read. */
  [member: string]: unknown;
}

/** The signing side of the key set. */
export interface KeySet {
  /** Sign an access token's claims with the active key (compact JWS, `typ: at+jwt`). */
  sign(claims: JWTPayload): Promise<string>;
  /** The public JWK Set (all configured keys). */
  jwks: { keys: JWK[] };
  /** Algorithm of the active key. */
  alg: "EdDSA" | "ES256";
  /** True when the key is an ephemeral development key. */
  ephemeral: boolean;
  /**
   * Verify a token we issued: signature by one of our keys (by `kid`), `typ: at+jwt`, `iss`,
   * `exp`/`nbf` at `nowMs`. Returns the claims, or undefined for anything else.
   */
  verifyOwn(token: string, issuer: string, nowMs: number): Promise<JWTPayload | undefined>;
  /** Import the keys now; rejects when one cannot be imported (the `/jwks` route awaits it). */
  ready(): Promise<void>;
  /**
   * An AES-256-GCM key for `purpose` (e.g. `"consent"`), derived with HKDF from the active
   * signing key's private part and cached; used to seal state that travels through the browser.
   */
  sealKey(purpose: string): Promise<CryptoKey>;
}

function algOf(jwk: JWK): "EdDSA" | "ES256" {
  return jwk.kty === "OKP" ? "EdDSA" : "ES256";
}

const ED = { name: "Ed25519" };
const EC = { name: "ECDSA", namedCurve: "P-256" };
const EC_SIGN = { name: "ECDSA", hash: "SHA-256" };

function publicPart(jwk: JWK): JWK {
  const { kty, crv, x, y, kid } = jwk;
  const out: JWK = { kty, crv, x, kid, alg: algOf(jwk), use: "sig" };
  if (y) out.y = y;
  return out;
}

/** Generate an Ed25519 (default) or ES256 private JWK with a random kid. */
export async function generateSigningKey(
  alg: "EdDSA" | "ES256" = "EdDSA",
): Promise<SigningJwk> {
  const pair = await crypto.subtle.generateKey(alg === "EdDSA" ? ED : EC, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const { kty, crv, x, y, d } = await crypto.subtle.exportKey("jwk", pair.privateKey);
  const jwk: JWK = y ? { kty, crv, x, y, d } : { kty, crv, x, d };
  jwk.kid = crypto.randomUUID();
  jwk.alg = alg;
  return jwk as SigningJwk;
}

const te = new TextEncoder();

/** Build the key set from config (first key signs); nothing is imported until first use. */
export async function loadKeys(
  configured: SigningJwk[] | undefined,
  warn: (msg: string) => void,
): Promise<KeySet> {
  let ephemeral = false;
  let keys = configured as JWK[] | undefined;
  if (!keys || keys.length === 0) {
    ephemeral = true;
    keys = [await generateSigningKey()];
    warn(
      "[gatehouse] WARNING: no signing key configured; using an EPHEMERAL key. Tokens die with this process. " +
        "Set `keys` (`keys generate` from @gatehouse/oauth/cli prints GATEHOUSE_SIGNING_KEYS) for anything but local development.",
    );
  }
  const active = keys[0];
  const alg = algOf(active);
  const kid = active.kid!;
  const jwks = { keys: keys.map(publicPart) };
  const header = base64urlEncode(te.encode(JSON.stringify({ alg, typ: "at+jwt", kid })));
  let privateKey: Promise<CryptoKey> | undefined;
  const signer = () =>
    privateKey ??= crypto.subtle.importKey(
      "jwk",
      alg === "EdDSA"
        ? { kty: "OKP", crv: "Ed25519", x: active.x, d: active.d }
        : { kty: "EC", crv: "P-256", x: active.x, y: active.y, d: active.d },
      alg === "EdDSA" ? ED : EC,
      false,
      ["sign"],
    );
  let verifiers: Promise<VerificationKey[]> | undefined;
  const verificationKeys = () =>
    verifiers ??= Promise.all(
      jwks.keys.map((k) => importVerificationKey(k as PublicJwk, ["EdDSA", "ES256"])),
    ).then((ks) => ks.filter((k): k is VerificationKey => k !== undefined));
  const sealKeys = new Map<string, Promise<CryptoKey>>();
  return {
    alg,
    ephemeral,
    jwks,
    ready: async () => {
      await signer();
      if ((await verificationKeys()).length !== jwks.keys.length) {
        throw new Error("a configured public key cannot be imported");
      }
    },
    sealKey: (purpose) => {
      let k = sealKeys.get(purpose);
      if (!k) sealKeys.set(purpose, k = deriveSealKey(active.d!, purpose));
      return k;
    },
    async sign(claims) {
      const input = header + "." + base64urlEncode(te.encode(JSON.stringify(claims)));
      const sig = await crypto.subtle.sign(
        alg === "EdDSA" ? ED : EC_SIGN,
        await signer(),
        te.encode(input),
      );
      return input + "." + base64urlEncode(new Uint8Array(sig));
    },
    async verifyOwn(token, issuer, nowMs) {
      try {
        const jws = parseCompactJws(token);
        const h = jws.header;
        if (h.typ !== "at+jwt" || typeof h.kid !== "string") return undefined;
        const key = (await verificationKeys()).find((k) => k.kid === h.kid && k.alg === h.alg);
        if (!key || !(await verifySignature(key, jws))) return undefined;
        const p = jws.payload as JWTPayload;
        const now = Math.floor(nowMs / 1000);
        if (p.iss !== issuer || typeof p.exp !== "number" || p.exp <= now) return undefined;
        if (p.nbf !== undefined && (typeof p.nbf !== "number" || p.nbf > now)) return undefined;
        return p;
      } catch (e) {
        if (e instanceof JwtError) return undefined;
        throw e;
      }
    },
  };
}
