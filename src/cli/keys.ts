/**
 * `keys generate` / `keys rotate`: the key material a deployment needs, printed
 * as environment variables (internal to the CLI).
 *
 * @module
 */
import { base64urlEncode } from "../_crypto.ts";
import { generateSigningKey } from "../keys.ts";
import type { SigningJwk } from "../keys.ts";

/** The one environment variable holding the signing keys: a JSON array of JWKs, the first signs. */
export const SIGNING_KEYS_ENV = "GATEHOUSE_SIGNING_KEYS";
/** The environment variable holding the grant-data encryption key (AES-256, base64url). */
export const ENCRYPTION_KEY_ENV = "GATEHOUSE_ENCRYPTION_KEY";

/** What `keys generate` produces. */
export interface GeneratedKeys {
  /** `[private signing JWK]`: the value of `GATEHOUSE_SIGNING_KEYS`. */
  signingKeys: SigningJwk[];
  /** The public JWK Set the server will publish at `/jwks`. */
  jwks: { keys: SigningJwk[] };
  /** 32 random bytes, base64url (no padding): the value of `GATEHOUSE_ENCRYPTION_KEY`. */
  encryptionKey: string;
}

/** The public half of a signing JWK (what `/jwks` publishes). */
export function publicJwk(k: SigningJwk): SigningJwk {
  const out: SigningJwk = { kty: k.kty, crv: k.crv, x: k.x, kid: k.kid };
  if (k.y !== undefined) out.y = k.y;
  out.alg = k.alg ?? (k.kty === "OKP" ? "EdDSA" : "ES256");
  out.use = "sig";
  return out;
}

/** A fresh AES-256-GCM key for grant data, base64url; checked by importing it. */
export async function generateEncryptionKey(): Promise<string> {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  return base64urlEncode(raw);
}

/** Generate a signing key (EdDSA default, or ES256), its JWKS and an encryption key. */
export async function generateKeys(alg: "EdDSA" | "ES256"): Promise<GeneratedKeys> {
  const key = await generateSigningKey(alg);
  return {
    signingKeys: [key],
    jwks: { keys: [publicJwk(key)] },
    encryptionKey: await generateEncryptionKey(),
  };
}

/** One step of a rotation: the env value to deploy, and what to wait for before the next. */
export interface RotationStep {
  /** What this step does. */
  title: string;
  /** `GATEHOUSE_SIGNING_KEYS` for this step (JSON array, first signs). */
  signingKeys: SigningJwk[];
  /** When the next step may start. */
  wait: string;
}

/** Parse a key set: a JSON array of JWKs (or one JWK). Throws TypeError naming the problem. */
export function parseKeySet(text: string): SigningJwk[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TypeError("the key set is not valid JSON (expected a JSON array of JWKs)");
  }
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) throw new TypeError("the key set is empty");
  for (const k of list) {
    if (typeof k !== "object" || k === null || typeof (k as SigningJwk).kid !== "string") {
      throw new TypeError("every key needs a kid");
    }
    if ((k as SigningJwk).kty !== "OKP" && (k as SigningJwk).kty !== "EC") {
      throw new TypeError(`key ${(k as SigningJwk).kid}: kty must be OKP (Ed25519) or EC (P-256)`);
    }
  }
  if (typeof (list[0] as SigningJwk).d !== "string") {
    throw new TypeError("the first key must be the private key that signs today");
  }
  return list as SigningJwk[];
}

/**
 * Publish-then-retire rotation of `current` (first key signs today) to a new key:
 * 1. publish the new key (public only, never signs) next to the current ones;
 * 2. sign with the new key, keep the old one published (tokens it signed stay valid);
 * 3. retire the old key once every token it signed has expired.
 */
export async function planRotation(
  current: SigningJwk[],
  alg: "EdDSA" | "ES256",
  accessTokenTtl: number,
): Promise<{ next: SigningJwk; steps: RotationStep[] }> {
  const next = await generateSigningKey(alg);
  const [active, ...others] = current;
  const ttl = `${accessTokenTtl} s (accessTokenTtl)`;
  return {
    next,
    steps: [
      {
        title: `Publish the new key ${next.kid} (public only; ${active.kid} still signs)`,
        signingKeys: [active, ...others, publicJwk(next)],
        wait:
          "until every resource server's cached JWKS includes it (remote verifiers refetch on an unknown kid, so usually one deploy is enough; longer if you pin JWKS elsewhere)",
      },
      {
        title: `Sign with ${next.kid}; keep ${active.kid} published (public only)`,
        signingKeys: [next, publicJwk(active), ...others.map(publicJwk)],
        wait: `at least ${ttl} plus clock skew, so every token ${active.kid} signed has expired`,
      },
      {
        title: `Retire ${active.kid}`,
        signingKeys: [next, ...others.map(publicJwk)],
        wait: "",
      },
    ],
  };
}
