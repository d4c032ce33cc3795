/**
 * The verifier's claims check (RFC 9068 §4): required claims and their types, issuer, audience,
 * `exp` / `iat` / `nbf` with clock tolerance, and the {@linkcode VerifiedToken} built from them;
 * also the token built from an RFC 7662 introspection answer.
 *
 * @module
 */

import { badClaim, type Failure } from "./verifier_challenge.ts";
import { canonicalResource } from "./verifier_resource.ts";
import { splitScopes } from "./verifier_scopes.ts";
import type { VerifiedToken } from "./verifier_types.ts";

const STRING_CLAIMS = ["iss", "sub", "client_id", "jti"] as const;
const NUMBER_CLAIMS = ["exp", "iat"] as const;

function isClaimString(value: unknown): boolean {
  return typeof value === "string" && value !== "";
}

// Taken once: a global lookup per call is slow in edge-runtime's `vm` context.
const isFiniteNumber = Number.isFinite;

function isClaimNumber(value: unknown): boolean {
  return typeof value === "number" && isFiniteNumber(value);
}

/** Whether `aud` (a string or an array) names `resource`, compared in canonical form. */
function audienceMatches(aud: unknown, resource: string): boolean {
  const auds = Array.isArray(aud) ? aud : [aud];
  return auds.some((a) =>
    a === resource || (typeof a === "string" && canonicalResource(a) === resource)
  );
}

/** Checks a verified JWT's payload at time `at` (ms): the token, or why it is refused. */
export type ClaimsCheck = (
  payload: Record<string, unknown>,
  token: string,
  at: number,
) => VerifiedToken | Failure;

/**
 * The claims check for one verifier: `iss` must equal `issuer` exactly, `aud` must name
 * `resource` (canonical), times are compared with `toleranceMs` of clock skew.
 */
export function createClaimsCheck(
  issuer: string,
  resource: string,
  toleranceMs: number,
): ClaimsCheck {
  return (payload, token, at) => {
    // Module-level name lists and no closure: this runs on every fresh token.
    for (const name of STRING_CLAIMS) {
      if (!isClaimString(payload[name])) return badClaim(`token is missing the ${name} claim`);
    }
    for (const name of NUMBER_CLAIMS) {
      if (!isClaimNumber(payload[name])) return badClaim(`token is missing the ${name} claim`);
    }
    const aud = payload.aud;
    if (aud === undefined) return badClaim("token is missing the aud claim");
    if (payload.iss !== issuer) return badClaim("token was issued by another issuer");
    if (aud !== resource && !audienceMatches(aud, resource)) {
      return badClaim("token audience is not this resource");
    }
    const exp = payload.exp as number;
    const iat = payload.iat as number;
    if (at >= exp * 1000 + toleranceMs) return badClaim("token expired");
    if (iat * 1000 > at + toleranceMs) return badClaim("token issued in the future");
    if (payload.nbf !== undefined) {
      if (typeof payload.nbf !== "number" || !isFiniteNumber(payload.nbf)) {
        return badClaim("malformed nbf claim");
      }
      if (payload.nbf * 1000 > at + toleranceMs) return badClaim("token not yet valid");
    }
    if (payload.scope !== undefined && typeof payload.scope !== "string") {
      return badClaim("malformed scope claim");
    }
    if (payload.gid !== undefined && typeof payload.gid !== "string") {
      return badClaim("malformed gid claim");
    }
    return {
      token,
      subject: payload.sub as string,
      clientId: payload.client_id as string,
      scopes: splitScopes(payload.scope),
      expiresAt: exp,
      issuedAt: iat,
      grantId: payload.gid as string | undefined,
      resource,
      jti: payload.jti as string,
      claims: payload,
    };
  };
}

/** The verified token for an accepted RFC 7662 answer (`info`); absent claims become empty. */
export function claimsFromIntrospection(
  info: Record<string, unknown>,
  token: string,
  resource: string,
): VerifiedToken {
  return {
    token,
    subject: typeof info.sub === "string" ? info.sub : "",
    clientId: typeof info.client_id === "string" ? info.client_id : "",
    scopes: splitScopes(info.scope),
    expiresAt: info.exp as number,
    issuedAt: typeof info.iat === "number" ? info.iat : 0,
    grantId: typeof info.gid === "string" ? info.gid : undefined,
    resource,
    jti: typeof info.jti === "string" ? info.jti : undefined,
    claims: info,
  };
}
