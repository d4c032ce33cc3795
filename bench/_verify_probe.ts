/**
 * Verify-floor probe (internal), the same code in every runtime: Deno in process, Node (bundled,
 * `node file.mjs`), workerd (Miniflare) and edge-runtime. It times a fresh-token
 * `createVerifier().verify` (a pool of distinct tokens larger than the verified-token cache,
 * cycled, so every call checks a signature) against the floor: raw `crypto.subtle.verify` of the
 * same tokens' signatures (decoded ahead of time) with a pre-imported key.
 *
 * Served as a fetch handler so that runtimes reached through `dispatchFetch` run it too:
 * `POST /setup` (a {@link ProbeSetup}), `GET /run?case=floor|verify|noop&n=N` → `{ ms }` timed
 * inside (0 in workerd, whose clock stands still between I/O: there the caller times the round
 * trip and subtracts `noop`).
 *
 * @module
 */
import { createVerifier } from "../verify.ts";
import type { PublicJwk, Verifier } from "../verify.ts";

/** What the probe needs: the issuer's public key and a pool of distinct valid tokens. */
export interface ProbeSetup {
  alg: "EdDSA" | "ES256";
  jwk: PublicJwk;
  issuer: string;
  audience: string;
  tokens: string[];
}

const b64 = (s: string): Uint8Array<ArrayBuffer> => {
  const bin = atob(s.replaceAll("-", "+").replaceAll("_", "/"));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
};

/** The probe as a fetch handler. */
export function probeHandler(): (req: Request) => Promise<Response> {
  let floor: () => Promise<unknown> = () => Promise.reject(new Error("no setup"));
  let minimal: () => Promise<unknown> = floor;
  let verifier: Verifier | undefined;
  let pool: string[] = [];
  let i = 0;
  return async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/setup") {
      const s = await req.json() as ProbeSetup;
      const ed = s.alg === "EdDSA";
      const { kty, crv, x, y } = s.jwk as Record<string, string>;
      const key = await crypto.subtle.importKey(
        "jwk",
        ed ? { kty, crv, x } : { kty, crv, x, y },
        ed ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: "P-256" },
        false,
        ["verify"],
      );
      const params = ed ? { name: "Ed25519" } : { name: "ECDSA", hash: "SHA-256" };
      // The floor does the same crypto work as the verifier: each token's own signature, decoded
      // ahead of time, so only the verifier's JS around `crypto.subtle.verify` is the difference.
      const pre = s.tokens.map((t) => ({
        input: new TextEncoder().encode(t.slice(0, t.lastIndexOf("."))),
        sig: b64(t.slice(t.lastIndexOf(".") + 1)),
      }));
      if (!await crypto.subtle.verify(params, key, pre[0].sig, pre[0].input)) {
        throw new Error("floor check");
      }
      let f = 0;
      floor = () => {
        const p = pre[f++ % pre.length];
        return crypto.subtle.verify(params, key, p.sig, p.input);
      };
      // The least per-token work of any JWS verifier, as a reference between the floor and
      // `verify`: encode the signing input, decode and parse the payload, check the signature
      // (pre-decoded, as the floor's) — no header, claim or cache work at all.
      const te = new TextEncoder();
      let m = 0;
      minimal = () => {
        const j = m++ % pre.length;
        const t = s.tokens[j];
        const dot2 = t.lastIndexOf(".");
        const input = te.encode(t).subarray(0, dot2);
        const b = t.slice(t.indexOf(".") + 1, dot2).replaceAll("-", "+").replaceAll("_", "/");
        const payload = JSON.parse(atob(b));
        return crypto.subtle.verify(params, key, pre[j].sig, input).then((ok) => ({ ok, payload }));
      };
      verifier = createVerifier({
        issuer: s.issuer,
        audience: s.audience,
        jwks: { keys: [s.jwk] },
        algorithms: [s.alg],
      });
      pool = s.tokens;
      for (const tok of pool.slice(0, 3)) {
        if (!(await verifier.verify(tok)).ok) throw new Error("verify check");
      }
      return new Response(null, { status: 204 });
    }
    const which = url.searchParams.get("case");
    const n = Number(url.searchParams.get("n") ?? "1");
    const t0 = performance.now();
    if (which === "floor") {
      for (let k = 0; k < n; k++) await floor();
    } else if (which === "minimal") {
      for (let k = 0; k < n; k++) await minimal();
    } else if (which === "verify") {
      for (let k = 0; k < n; k++) {
        const r = await verifier!.verify(pool[i++ % pool.length]);
        if (!r.ok) throw new Error("verify failed");
      }
    }
    return Response.json({ ms: performance.now() - t0 });
  };
}

/**
 * Floor and verify batches alternated (the order flips every sample) so load drift on a shared
 * machine hits both alike; returns the medians (µs/op) and the median of per-pair ratios. Both
 * cases first run `warmup` batches each (default: 20, or `samples` if fewer) (so the samples see optimised code, not the first JIT
 * tiers). Many short pairs (e.g. 201 of 50 ops) keep the median stable on a loaded machine: the
 * same build measured twice moves by ≈ ±0.02×, where 41 pairs of 100 ops moved by ±0.1×.
 */
export async function measureProbe(
  run: (which: "floor" | "verify" | "minimal" | "noop", n: number) => Promise<number>,
  opts: { samples: number; n: number; warmup?: number },
): Promise<{ floor: number; verify: number; ratio: number; minimalRatio: number }> {
  for (let w = 0; w < (opts.warmup ?? Math.min(20, opts.samples)); w++) {
    await run("floor", opts.n);
    await run("verify", opts.n);
    await run("minimal", opts.n);
  }
  const floor: number[] = [];
  const verify: number[] = [];
  const ratios: number[] = [];
  const minimalRatios: number[] = [];
  for (let s = 0; s < opts.samples; s++) {
    let f: number, v: number, m = 0;
    // The reference case runs before the pair on odd samples, after it on even ones.
    if (s % 2) m = await run("minimal", opts.n);
    if (s % 2) {
      f = await run("floor", opts.n);
      v = await run("verify", opts.n);
    } else {
      v = await run("verify", opts.n);
      f = await run("floor", opts.n);
    }
    if (!(s % 2)) m = await run("minimal", opts.n);
    floor.push((f * 1000) / opts.n);
    verify.push((v * 1000) / opts.n);
    ratios.push(v / f);
    minimalRatios.push(m / f);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  return {
    floor: med(floor),
    verify: med(verify),
    ratio: med(ratios),
    minimalRatio: med(minimalRatios),
  };
}
