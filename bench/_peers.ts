/**
 * Bench peers (internal): oauth4webapi's resource-server JWT validation set up to serve its
 * JWKS locally, and the authorization-server comparison against
 * `@cloudflare/workers-oauth-provider` inside workerd (Miniflare), both driven from bench/run.ts.
 */
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { Miniflare } from "miniflare";
import * as oauth from "oauth4webapi";
import type { JWK } from "jose";
import { generateSigningKey } from "../mod.ts";
import { type Case, runGroup, type Timing } from "./_harness.ts";
import { flow, type Handler, must, REDIRECT, steps } from "./workers/_flows.ts";

// ---------------------------------------------------------------------------------------------
// oauth4webapi: validateJwtAccessToken with a local JWKS
// ---------------------------------------------------------------------------------------------

/** oauth4webapi's RS-side validator for one issuer, its JWKS served by a local `customFetch`. */
export function oauth4webapiValidator(issuer: string, pub: JWK, alg: string) {
  const as: oauth.AuthorizationServer = { issuer, jwks_uri: `${issuer}/jwks` };
  let fetches = 0;
  const options: oauth.ValidateJWTAccessTokenOptions = {
    signingAlgorithms: [alg],
    [oauth.customFetch]: (url: string) => {
      fetches++;
      if (url !== as.jwks_uri) throw new Error(`unexpected fetch ${url}`);
      return Promise.resolve(Response.json({ keys: [pub] }, {
        headers: { "content-type": "application/jwk-set+json" },
      }));
    },
  };
  return {
    /** Validate; throws when oauth4webapi rejects. */
    validate: (req: Request, audience: string) =>
      oauth.validateJwtAccessToken(as, req, audience, options),
    /** How many times the JWKS was fetched (1 once warm: the cache is keyed by `as`). */
    fetches: () => fetches,
  };
}

// ---------------------------------------------------------------------------------------------
// Authorization servers in workerd
// ---------------------------------------------------------------------------------------------

/** Which authorization server: the CF provider, Gatehouse on Workers KV, Gatehouse on the DO driver. */
export type Target = "cf" | "kv" | "do";

/** esbuild options for a workerd ES module bundle (shared by the bench's bundling steps). */
export const WORKERD_BUILD = {
  bundle: true,
  format: "esm" as const,
  platform: "neutral" as const,
  mainFields: ["module", "main"],
  conditions: ["workerd", "worker", "browser"],
  external: ["cloudflare:workers"],
  target: "es2022",
  write: false as const,
  logLevel: "silent" as const,
};

/** Bundle a Worker entry (a path under bench/workers/) for workerd; `minify` as a deploy would. */
export async function bundleWorker(entry = "all.ts", minify = false): Promise<string> {
  const root = fileURLToPath(new URL("../", import.meta.url));
  try {
    const r = await esbuild.build({
      entryPoints: [fileURLToPath(new URL(`./workers/${entry}`, import.meta.url))],
      minify,
      absWorkingDir: root,
      ...WORKERD_BUILD,
    });
    return r.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
}

/** A Miniflare-driven client for the bench worker. */
export interface PeerWorld {
  /** A fresh authorization code at `t` for `clientId`. */
  code(t: Target, clientId: string): Promise<{ code: string; verifier: string }>;
  /** Register a public client at `t`. */
  register(t: Target): Promise<string>;
  /** POST /token; throws unless 200; returns the JSON. */
  token(t: Target, fields: Record<string, string>): Promise<Record<string, string>>;
  /** An empty round trip. */
  noop(): Promise<void>;
  /**
   * One full flow at `t`: register → authorize (→ consent approve) → code exchange → `/mcp`
   * with the access token → refresh. Throws unless every step succeeds.
   */
  flow(t: Target): Promise<void>;
  /**
   * Flows per second at `t` with the flows issued inside the Worker (bench/workers/_flows.ts):
   * `n` full flows, `inFlight` at a time, in one `dispatchFetch` timed from here.
   */
  inWorker(t: Target, n: number, inFlight: number): Promise<number>;
  /** `OAUTH_KV` calls by method since the last call, then reset. */
  kvCalls(): Promise<Record<string, number>>;
  /** The resource (audience) at `t`. */
  resource(t: Target): string;
  dispose(): Promise<void>;
}

export async function startPeerWorld(): Promise<PeerWorld> {
  const script = await bundleWorker();
  const key = await generateSigningKey("EdDSA");
  const mf = new Miniflare({
    modules: true,
    script,
    compatibilityDate: "2026-04-01",
    // global_fetch_strictly_public: what the CF provider asks for (it enables CIMD there).
    compatibilityFlags: ["nodejs_compat", "global_fetch_strictly_public"],
    kvNamespaces: ["OAUTH_KV"],
    durableObjects: { STORE: "GatehouseStorageObject" },
    bindings: { SIGNING_JWK: JSON.stringify(key) },
  });
  await mf.ready;
  // Miniflare's undici Response, used through the Web `Response` surface only.
  const fetch = async (url: string, init?: RequestInit): Promise<Response> =>
    (await mf.dispatchFetch(url, { redirect: "manual", ...init } as never)) as unknown as Response;
  // The flow's steps are bench/workers/_flows.ts's, sent here through dispatchFetch.
  const handler: Handler = async (req) =>
    fetch(req.url, {
      method: req.method,
      headers: Object.fromEntries(req.headers),
      body: req.method === "GET" ? undefined : await req.text(),
    });
  const at = (t: Target) => steps(handler, t);
  return {
    resource: (t) => at(t).resource,
    register: (t) => at(t).register(),
    code: (t, clientId) => at(t).code(clientId),
    token: (t, fields) => at(t).token(fields),
    flow: (t) => flow(handler, t),
    async inWorker(t, n, inFlight) {
      const t0 = performance.now();
      const res = await fetch(`https://noop.test/flows?t=${t}&n=${n}&c=${inFlight}`);
      await must(res, 204, `in-Worker flows ${t}`);
      await res.arrayBuffer();
      return n / ((performance.now() - t0) / 1000);
    },
    async noop() {
      const res = await fetch("https://noop.test/");
      await res.arrayBuffer();
    },
    kvCalls: async () =>
      await (await fetch("https://noop.test/kv")).json() as Record<string, number>,
    dispose: () => mf.dispose(),
  };
}

/** Time code exchange and refresh rotation at each target, interleaved. */
export async function runPeerTokenGroup(
  world: PeerWorld,
  opts: { samples: number; batch: number },
): Promise<{
  rows: Timing[];
  targets: Target[];
  sanity: Record<Target, Record<string, string>>;
  kv: Record<Target, { code: Record<string, number>; refresh: Record<string, number> }>;
}> {
  const targets: Target[] = ["cf", "kv", "do"];
  const label: Record<Target, string> = {
    cf: "CF `workers-oauth-provider` (KV)",
    kv: "Gatehouse, `workersKvStorage` (same KV)",
    do: "Gatehouse, `durableObjectStorage`",
  };
  const clients = {} as Record<Target, string>;
  const refresh = {} as Record<Target, string>;
  const sanity = {} as Record<Target, Record<string, string>>;
  const codes = {} as Record<Target, { code: string; verifier: string }[]>;
  const exchange = (t: Target, c: { code: string; verifier: string }) =>
    world.token(t, {
      grant_type: "authorization_code",
      code: c.code,
      code_verifier: c.verifier,
      redirect_uri: REDIRECT,
      client_id: clients[t],
      resource: world.resource(t),
    });
  for (const t of targets) {
    clients[t] = await world.register(t);
    const first = await exchange(t, await world.code(t, clients[t]));
    if (!first.access_token || !first.refresh_token) throw new Error(`${t}: no tokens`);
    sanity[t] = first;
    refresh[t] = first.refresh_token;
  }
  const cases: Case[] = [{ name: "floor: `dispatchFetch` round trip, empty 204", op: world.noop }];
  for (const t of targets) {
    cases.push({
      name: `code exchange: ${label[t]}`,
      batch: opts.batch,
      prepare: async (n) => {
        codes[t] = [];
        for (let i = 0; i < n; i++) codes[t].push(await world.code(t, clients[t]));
      },
      op: () => exchange(t, codes[t].shift()!),
    });
  }
  for (const t of targets) {
    cases.push({
      name: `refresh rotation: ${label[t]}`,
      batch: opts.batch,
      op: async () => {
        const r = await world.token(t, {
          grant_type: "refresh_token",
          refresh_token: refresh[t],
          client_id: clients[t],
        });
        refresh[t] = r.refresh_token;
      },
    });
  }
  const rows = await runGroup(cases, { samples: opts.samples });
  // KV calls per operation, one of each at a time.
  const kv = {} as Record<
    Target,
    { code: Record<string, number>; refresh: Record<string, number> }
  >;
  for (const t of targets) {
    const c = await world.code(t, clients[t]);
    await world.kvCalls();
    await exchange(t, c);
    const code = await world.kvCalls();
    await cases.find((k) => k.name === `refresh rotation: ${label[t]}`)!.op(0);
    kv[t] = { code, refresh: await world.kvCalls() };
  }
  return { rows, targets, sanity, kv };
}
