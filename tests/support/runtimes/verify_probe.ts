/**
 * A resource server that imports nothing but `verify.ts` (the
 * `@gatehouse/oauth/verify` entry): given real Gatehouse tokens and the
 * issuer's JWKS, it checks a valid token, a tampered one, a missing scope and
 * a wrong audience, and reports what it saw. Bundled into workerd (as is, a
 * module Worker), edge-runtime (`edge_verify_entry.ts`) and Node
 * (`node_verify_entry.ts`).
 *
 * @module
 */
import { createVerifier } from "../../../verify.ts";
import type { JwkSet } from "../../../verify.ts";

/** One token to check. */
export interface ProbeCase {
  /** Label (the signing algorithm). */
  alg: string;
  /** Expected issuer. */
  issuer: string;
  /** The resource (expected `aud`). */
  audience: string;
  /** The issuer's public keys. */
  jwks: JwkSet;
  /** An access token the issuer minted for `audience` with scope `mcp:read`. */
  token: string;
}

/** What the probe saw for one case. */
export interface ProbeOutcome {
  alg: string;
  valid: { ok: boolean; subject?: string; scopes?: string[] };
  tampered: { status?: number; error?: string };
  missingScope: { status?: number; error?: string; scope?: string };
  wrongAudience: { status?: number; error?: string };
}

const param = (h: string | null, name: string) =>
  h ? new RegExp(`${name}="([^"]*)"`).exec(h)?.[1] : undefined;

/** Run the checks for each case. */
export async function probe(cases: ProbeCase[]): Promise<ProbeOutcome[]> {
  const out: ProbeOutcome[] = [];
  for (const c of cases) {
    const verifier = createVerifier({ issuer: c.issuer, audience: c.audience, jwks: c.jwks });
    const bearer = (t: string) =>
      new Request(c.audience, { headers: { authorization: `Bearer ${t}` } });
    const valid = await verifier.verify(bearer(c.token), { scopes: ["mcp:read"] });
    const [h, p, s] = c.token.split(".");
    const flipped = (s[0] === "A" ? "B" : "A") + s.slice(1);
    const tampered = await verifier.verify(bearer(`${h}.${p}.${flipped}`));
    const scoped = await verifier.verify(bearer(c.token), { scopes: ["mcp:admin"] });
    const other = createVerifier({
      issuer: c.issuer,
      audience: c.audience + "-other",
      jwks: c.jwks,
    });
    const wrongAud = await other.verify(bearer(c.token));
    const fail = (r: Awaited<ReturnType<typeof verifier.verify>>) =>
      r.ok ? {} : {
        status: r.response.status,
        error: param(r.response.headers.get("www-authenticate"), "error"),
      };
    out.push({
      alg: c.alg,
      valid: valid.ok
        ? { ok: true, subject: valid.claims.subject, scopes: [...valid.claims.scopes] }
        : { ok: false },
      tampered: fail(tampered),
      missingScope: {
        ...fail(scoped),
        scope: scoped.ok
          ? undefined
          : param(scoped.response.headers.get("www-authenticate"), "scope"),
      },
      wrongAudience: fail(wrongAud),
    });
  }
  return out;
}

/** `POST` a JSON array of {@link ProbeCase}s; the reply is the outcomes. */
export async function handleProbe(req: Request): Promise<Response> {
  try {
    return Response.json(await probe(await req.json()));
  } catch (e) {
    return Response.json({ error: String((e as Error)?.stack ?? e) }, { status: 500 });
  }
}

export default {
  /** Module-Worker entry (workerd). */
  fetch: handleProbe,
};
