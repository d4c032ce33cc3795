/**
 * The verifier's key lookup and signature step for a JWT access token (RFC 9068 §4, RFC 7515):
 * the protected header rules (accepted `alg` from the verifier's list — never from the token —,
 * `typ` at+jwt, no `crit`), the key by `kid`/`alg` from the {@linkcode KeyStore}, the signature,
 * then the claims check.
 *
 * @module
 */

import { type JwtAlgorithm, JwtError, parseCompactJws, verifySignature } from "./_jwt.ts";
import { badClaim, Failure } from "./verifier_challenge.ts";
import type { ClaimsCheck } from "./verifier_claims.ts";
import type { KeyStore } from "./verifier_jwks.ts";
import type { VerifiedToken } from "./verifier_types.ts";

const ACCEPTED_TYP = new Set(["at+jwt", "application/at+jwt"]);

/** Why a protected header is refused (a description), or "" when it is acceptable. */
export function headerFailure(
  header: Record<string, unknown>,
  algorithms: readonly string[],
): string {
  return typeof header.alg !== "string" || !algorithms.includes(header.alg)
    ? "token algorithm is not accepted"
    : typeof header.typ !== "string" || !ACCEPTED_TYP.has(header.typ.toLowerCase())
    ? "token is not an at+jwt access token"
    : header.crit !== undefined
    ? "unsupported critical header"
    : header.kid !== undefined && typeof header.kid !== "string"
    ? "malformed kid"
    : "";
}

/** Verifies a token with local or remote keys at time `at` (ms): the token, or why not. */
export type LocalCheck = (token: string, at: number) => Promise<VerifiedToken | Failure>;

/** The local check for one verifier; `counters.signatureChecks` counts signature checks. */
export function createLocalCheck(
  keys: KeyStore,
  algorithms: readonly string[],
  validateClaims: ClaimsCheck,
  counters: { signatureChecks: number },
): LocalCheck {
  return async (token, at) => {
    let jws;
    try {
      jws = parseCompactJws(token);
    } catch (e) {
      return new Failure(
        401,
        "invalid_token",
        e instanceof JwtError ? e.message : "malformed token",
      );
    }
    const { header } = jws;
    const alg = header.alg;
    const refused = headerFailure(header, algorithms);
    if (refused) return badClaim(refused);
    const kid = header.kid as string | undefined;
    const known = keys.cached(kid, alg as JwtAlgorithm);
    const found = known ? { status: "found" as const, key: known } : await keys.lookup(
      kid,
      alg as JwtAlgorithm,
    );
    if (found.status === "unavailable") {
      return new Failure(503, "invalid_token", "verification keys are unavailable");
    }
    if (found.status === "unknown") {
      return new Failure(401, "invalid_token", "no key matches the token");
    }
    counters.signatureChecks++;
    let valid = false;
    try {
      valid = await verifySignature(found.key, jws);
    } catch {
      valid = false;
    }
    if (!valid) return new Failure(401, "invalid_token", "invalid token signature");
    return validateClaims(jws.payload, token, at);
  };
}
