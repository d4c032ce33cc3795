/**
 * Bench group "verify": `createVerifier` / `auth.verify` latency against the Web Crypto floor
 * (EdDSA, ES256) in this Deno process, and the peer oauth4webapi `validateJwtAccessToken` on the
 * same token and `Request`.
 *
 * @module
 */
import { createVerifier } from "../verify.ts";
import { generateSigningKey, memoryStorage } from "../mod.ts";
import type { AuthServer } from "../mod.ts";
import { parseCompactJws } from "../src/_jwt.ts";
import { decodeJwt, importJWK, jwtVerify, SignJWT } from "jose";
import type { JWK, JWTPayload } from "jose";
import { type Case, fmtOps, ratio, runGroup, table, type Timing, us } from "./_harness.ts";
import * as flow from "./_flow.ts";
import { oauth4webapiValidator } from "./_peers.ts";
import type { BenchContext } from "./run.ts";

let SAMPLES = 31;
let emit: (s?: string) => void = console.log;
const check = (cond: unknown, msg: string) => {
  if (!cond) throw new Error(`bench sanity check failed: ${msg}`);
};

/** Run the group. */
/** The two Gatehouse verifiers the tables time for `s`: without and with the verified-token cache. */
function verifiers(s: { alg: string; pub: unknown }) {
  const opts = {
    issuer: flow.ISSUER,
    audience: flow.RESOURCE,
    jwks: { keys: [s.pub as never] },
    algorithms: [s.alg as "EdDSA" | "ES256"],
  };
  return { uncached: createVerifier({ ...opts, cache: false }), cached: createVerifier(opts) };
}

export async function verifyGroup(b: BenchContext): Promise<void> {
  SAMPLES = b.quick ? 5 : 31;
  emit = b.emit;
  for (const alg of ["EdDSA", "ES256"] as const) {
    const s = await setupAlg(alg);
    await verifySection(s);
    const rows = verifyRows[alg];
    b.results[`deno.verify.${alg}.uncached`] = rows[2].median / rows[0].median;
  }
  emit("## Peer: resource-server verify, oauth4webapi `validateJwtAccessToken`");
  emit();
  emit(
    "The same Gatehouse-issued RFC 9068 token (`typ: at+jwt`) and `Request` " +
      "(`Authorization: Bearer …`) for every row. oauth4webapi gets authorization-server metadata " +
      "whose `jwks_uri` is served by a local `customFetch` (no network); its JWKS cache is warmed " +
      "before timing and the bench checks it fetched once. It accepts the token and rejects a " +
      "wrong audience (checked). oauth4webapi has no verified-token cache, so the cached row is " +
      "Gatehouse-only.",
  );
  emit();
  for (const alg of ["EdDSA", "ES256"] as const) await peerVerifySection(await setupAlg(alg));
}

interface AlgSetup {
  alg: "EdDSA" | "ES256";
  token: string;
  claims: JWTPayload;
  pub: JWK;
  servers: Record<"strict" | "strictMiss" | "cached" | "stateless", AuthServer>;
  signPool: (n: number) => Promise<string[]>;
}

async function setupAlg(alg: "EdDSA" | "ES256"): Promise<AlgSetup> {
  const key = await generateSigningKey(alg);
  const storage = memoryStorage();
  const servers = {
    strict: flow.server(key, "strict", storage),
    // Its own verifier (and so its own cache) for the cache-miss case, so that the miss pool
    // does not evict the hit case's token.
    strictMiss: flow.server(key, "strict", storage),
    cached: flow.server(key, "cached", storage),
    stateless: flow.server(key, "stateless", storage),
  };
  // A real token from register → authorize → consent → token; all three servers share the
  // storage and key, so it is valid (and its grant readable) at each of them.
  const t = await flow.tokens(servers.strict);
  const { d: _d, ...pub } = key;
  const claims = decodeJwt(t.access_token);
  const priv = await importJWK(key, alg);
  const signPool = async (n: number) => {
    const pool: string[] = [];
    for (let i = 0; i < n; i++) {
      pool.push(
        await new SignJWT({ ...claims, jti: `bench-${i}-${crypto.randomUUID()}` })
          .setProtectedHeader({ alg, typ: "at+jwt", kid: key.kid })
          .sign(priv),
      );
    }
    return pool;
  };
  return { alg, token: t.access_token, claims, pub, servers, signPool };
}

async function importFloorKey(s: AlgSetup) {
  const algo = s.alg === "EdDSA" ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: "P-256" };
  const params = s.alg === "EdDSA" ? { name: "Ed25519" } : { name: "ECDSA", hash: "SHA-256" };
  const { kty, crv, x, y } = s.pub;
  const rawKey = await crypto.subtle.importKey("jwk", { kty, crv, x, y }, algo, false, ["verify"]);
  return { params, rawKey };
}

const verifyRows: Record<string, Timing[]> = {};

async function verifySection(s: AlgSetup): Promise<void> {
  const { alg, token } = s;
  const { params, rawKey } = await importFloorKey(s);
  const jws = parseCompactJws(token);
  check(await crypto.subtle.verify(params, rawKey, jws.signature, jws.signingInput), "floor");

  const { uncached, cached } = verifiers(s);
  for (const v of [uncached, cached]) check((await v.verify(token)).ok, `${alg} verify ok`);
  const joseOpts = {
    issuer: flow.ISSUER,
    audience: flow.RESOURCE,
    typ: "at+jwt",
    algorithms: [alg],
  };
  check((await jwtVerify(token, rawKey, joseOpts)).payload.sub === "alice", "jose ok");
  const req = new Request(flow.RESOURCE, { headers: { authorization: `Bearer ${token}` } });
  check((await cached.verify(req)).ok, "request verify ok");

  // Miss pool: cycled in order and larger than the verified-token cache (1000 entries), so every
  // lookup misses (checked via stats below).
  const pool = await s.signPool(1501);
  const probe = pool.pop()!;
  for (const mode of ["strict", "cached", "stateless"] as const) {
    check((await s.servers[mode].verify(token)).ok, `auth.verify ${mode} ok`);
  }
  check((await s.servers.strictMiss.verify(probe)).ok, "pool token ok");
  const strictVerifier = await s.servers.strictMiss.verifierFor();
  const before = strictVerifier.stats();
  let missCalls = 0;

  const cases: Case[] = [
    {
      name: "floor: `crypto.subtle.verify`, pre-imported key",
      op: () => crypto.subtle.verify(params, rawKey, jws.signature, jws.signingInput),
    },
    { name: "jose `jwtVerify`, pre-imported key", op: () => jwtVerify(token, rawKey, joseOpts) },
    { name: "Gatehouse `createVerifier`, `cache: false`", op: () => uncached.verify(token) },
    { name: "Gatehouse `createVerifier`, cached (same token)", op: () => cached.verify(token) },
    {
      name: "Gatehouse `createVerifier`, cached, `Request` input",
      op: () => cached.verify(req),
    },
    {
      name: "`auth.verify` strict, cache hit (1 storage read)",
      op: () => s.servers.strict.verify(token),
    },
    {
      name: "`auth.verify` strict, cache miss (fresh token)",
      op: (i) => {
        missCalls++;
        return s.servers.strictMiss.verify(pool[i % pool.length]);
      },
    },
    {
      name: "`auth.verify` cached (30 s TTL), cache hit",
      op: () => s.servers.cached.verify(token),
    },
    { name: "`auth.verify` stateless, cache hit", op: () => s.servers.stateless.verify(token) },
    {
      name: "breakdown: `parseCompactJws` only (base64url + JSON)",
      op: () => parseCompactJws(token),
    },
  ];
  const rows = await runGroup(cases, { samples: SAMPLES });
  const after = strictVerifier.stats();
  const strictOps = after.revocationChecks - before.revocationChecks;
  const missOps = after.signatureChecks - before.signatureChecks;
  check(strictOps === missCalls, "strict checks revocation on every call");
  check(missOps === missCalls, `miss pool really misses (${missOps} sigs / ${missCalls} calls)`);
  const us0 = (await s.servers.cached.verifierFor()).stats();
  check(
    us0.revocationChecks <= 3,
    `cached mode reuses revocation answers (${us0.revocationChecks})`,
  );
  verifyRows[alg] = rows;
  const floor = rows[0].median;
  emit(`## Verify latency, ${alg} (floor ${us(floor)} µs/op)`);
  emit();
  emit(
    table(
      ["case", "median µs/op", "p95 µs/op", "ops/s", "× floor"],
      rows.map((r) => [r.name, us(r.median), us(r.p95), fmtOps(r.median), ratio(r.median / floor)]),
    ),
  );
  emit();
}

async function peerVerifySection(s: AlgSetup): Promise<void> {
  const { alg, token } = s;
  const { params, rawKey } = await importFloorKey(s);
  const jws = parseCompactJws(token);
  const o4w = oauth4webapiValidator(flow.ISSUER, s.pub, alg);
  const req = new Request(flow.RESOURCE, { headers: { authorization: `Bearer ${token}` } });
  // Sanity: oauth4webapi accepts Gatehouse's RFC 9068 token, and still checks the audience.
  const claims = await o4w.validate(req, flow.RESOURCE);
  check(claims.sub === "alice" && claims.client_id === s.claims.client_id, "oauth4webapi accepts");
  let wrongAud = false;
  await o4w.validate(req, "https://other.example.com/mcp").catch(() => (wrongAud = true));
  check(wrongAud, "oauth4webapi rejects a wrong audience");
  const { uncached, cached } = verifiers(s);
  for (const v of [uncached, cached]) check((await v.verify(req)).ok, `${alg} verify ok`);
  const cases: Case[] = [
    {
      name: "floor: `crypto.subtle.verify`, pre-imported key",
      op: () => crypto.subtle.verify(params, rawKey, jws.signature, jws.signingInput),
    },
    {
      name: "oauth4webapi `validateJwtAccessToken` (JWKS cache warm)",
      op: () => o4w.validate(req, flow.RESOURCE),
    },
    {
      name: "Gatehouse `createVerifier`, `cache: false`",
      op: () => uncached.verify(req),
    },
    {
      name: "Gatehouse `createVerifier`, cached (same token)",
      op: () => cached.verify(req),
    },
  ];
  const rows = await runGroup(cases, { samples: SAMPLES });
  check(o4w.fetches() === 1, `oauth4webapi fetched the JWKS once (${o4w.fetches()})`);
  const floor = rows[0].median;
  const o4 = rows[1].median;
  emit(`### ${alg} (floor ${us(floor)} µs/op)`);
  emit();
  emit(
    table(
      ["case", "median µs/op", "p95 µs/op", "ops/s", "× floor", "× oauth4webapi"],
      rows.map((r) => [
        r.name,
        us(r.median),
        us(r.p95),
        fmtOps(r.median),
        ratio(r.median / floor),
        ratio(r.median / o4),
      ]),
    ),
  );
  emit();
}
