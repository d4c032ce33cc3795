/**
 * One end-to-end scenario (`tests/e2e/scenario.ts`), four runtimes: the demo
 * app (authorization server + protected MCP server) runs in Deno, Node 20,
 * workerd (Miniflare, Workers KV and Durable Object storage) and Vercel's
 * edge-runtime, and the same client+user scenario drives it over
 * Request/Response.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { EdgeRuntime } from "edge-runtime";
import { DEMO_TOOLS, runScenario, SCENARIO_STEPS } from "./e2e/scenario.ts";
import type { FetchLike, ScenarioResult } from "./e2e/scenario.ts";
import { memoryStorage } from "../storage/memory.ts";
import { generateSigningKey } from "../mod.ts";
import { demoHandler } from "./support/runtimes/app_factory.ts";
import { bundle } from "./support/runtimes/bundle.ts";
import type { ProbeCase, ProbeOutcome } from "./support/runtimes/verify_probe.ts";
import { probe } from "./support/runtimes/verify_probe.ts";
import { RESOURCE, testServer, tokensFor } from "./support/flow.ts";

const ORIGIN = "http://localhost:8787";
/** Scratch directory for the Node bundles (git-ignored). */
const TMP = fileURLToPath(new URL("../.tmp/e2e/", import.meta.url));
/** Audit events every passing run must have produced, in whatever runtime. */
const EXPECTED_EVENTS = [
  "client.registered",
  "authorization.granted",
  "authorization.denied",
  "token.issued",
  "token.refreshed",
  "code.replay_detected",
  "refresh.reuse_detected",
  "token.revoked",
];

function assertPassed(result: ScenarioResult, events: string[]): void {
  assert.equal(result.steps.length, SCENARIO_STEPS, result.steps.join("\n"));
  assert.deepEqual(result.tools, DEMO_TOOLS);
  assert.match(result.clientId, /\S/);
  for (const e of EXPECTED_EVENTS) assert.ok(events.includes(e), `audit event ${e} in ${events}`);
}

/** Run `node` on a file; resolves with exit code and output (bounded by a kill timer). */
function runNode(
  file: string,
  args: string[] = [],
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("node", [file, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Adapt a `dispatchFetch(url, init)` function to the scenario's Request → Response shape. */
function viaDispatch(
  dispatch: (url: string, init: RequestInit) => Promise<Response>,
): FetchLike {
  return async (req) => {
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.text();
    return await dispatch(req.url, {
      method: req.method,
      headers: [...req.headers],
      body,
      redirect: "manual",
    });
  };
}

test("e2e scenario: Deno (in-process, memory storage)", async () => {
  const key = await generateSigningKey();
  const handler = demoHandler(() => memoryStorage(), () => key);
  const t0 = performance.now();
  const result = await runScenario(handler, ORIGIN);
  const events = await (await handler(new Request(ORIGIN + "/__events"))).json();
  assertPassed(result, events);
  console.log(`deno: ${result.steps.length} steps in ${Math.round(performance.now() - t0)} ms`);
});

test("e2e scenario: Node 20 (esbuild ESM bundle, child process)", async () => {
  const built = await bundle("node_entry.ts", "node");
  await mkdir(TMP, { recursive: true });
  const file = TMP + "node_entry.mjs";
  await writeFile(file, built.code);
  const t0 = performance.now();
  const run = await runNode(file);
  const line = run.stdout.split("\n").find((l) =>
    l.startsWith("RESULT ") || l.startsWith("FAILED ")
  );
  assert.equal(run.code, 0, `node exited ${run.code}\n${run.stdout}\n${run.stderr}`);
  assert.ok(line && line.startsWith("RESULT "), run.stdout + run.stderr);
  const out = JSON.parse(line.slice(7));
  assertPassed(out, out.events);
  assert.match(out.node, /^\d+\./);
  console.log(
    `node ${out.node}: ${out.steps.length} steps in ${out.ms} ms (process ${
      Math.round(performance.now() - t0)
    } ms)`,
  );
});

test("e2e scenario catches a broken server (revocation that does nothing)", async () => {
  const key = await generateSigningKey();
  const handler = demoHandler(() => memoryStorage(), () => key);
  const noRevoke: FetchLike = (req) =>
    new URL(req.url).pathname === "/revoke"
      ? Promise.resolve(new Response(null, { status: 200 }))
      : handler(req);
  await assert.rejects(runScenario(noRevoke, ORIGIN), (e: Error) => {
    assert.equal(e.name, "ScenarioError");
    assert.match(e.message, /\/mcp after revoke: expected 401, got 200/);
    return true;
  });
});

for (const driver of ["kv", "do"] as const) {
  test(`e2e scenario: workerd via Miniflare (${driver === "kv" ? "Workers KV" : "Durable Object"} storage)`, async () => {
    const built = await bundle("worker_entry.ts", "workerd");
    console.log(`worker bundle: ${built.bytes} bytes`);
    const key = await generateSigningKey();
    const t0 = performance.now();
    const mf = new Miniflare({
      modules: true,
      script: built.code,
      compatibilityDate: "2026-04-01",
      kvNamespaces: ["KV"],
      durableObjects: { STORE: "GatehouseStorageObject" },
      bindings: { STORAGE: driver, SIGNING_JWK: JSON.stringify(key) },
    });
    try {
      await mf.ready;
      const started = Math.round(performance.now() - t0);
      const fetchLike = viaDispatch((url, init) =>
        mf.dispatchFetch(url, init as never) as unknown as Promise<Response>
      );
      const t1 = performance.now();
      const result = await runScenario(fetchLike, ORIGIN);
      const ms = Math.round(performance.now() - t1);
      const events = await (await fetchLike(new Request(ORIGIN + "/__events"))).json();
      assertPassed(result, events);
      console.log(
        `workerd/${driver}: start ${started} ms, ${result.steps.length} steps in ${ms} ms`,
      );
    } finally {
      await mf.dispose();
    }
  });
}

test("e2e scenario: Vercel edge-runtime (IIFE bundle, addEventListener fetch)", async () => {
  const built = await bundle("edge_entry.ts", "edge");
  const key = await generateSigningKey();
  const t0 = performance.now();
  const runtime = new EdgeRuntime({
    initialCode: built.code,
    extend: (context) => Object.assign(context, { SIGNING_JWK: JSON.stringify(key) }),
  });
  const started = Math.round(performance.now() - t0);
  // The bundle runs in edge-runtime's own context: edge primitives, no host globals.
  assert.equal(
    runtime.evaluate("[typeof Deno, typeof process, typeof require].join()"),
    "undefined,undefined,undefined",
  );
  assert.notEqual(runtime.evaluate("Response"), Response);
  const fetchLike = viaDispatch((url, init) =>
    runtime.dispatchFetch(url, init as never) as unknown as Promise<Response>
  );
  const t1 = performance.now();
  const result = await runScenario(fetchLike, ORIGIN);
  const ms = Math.round(performance.now() - t1);
  const events = await (await fetchLike(new Request(ORIGIN + "/__events"))).json();
  assertPassed(result, events);
  console.log(`edge-runtime: start ${started} ms, ${result.steps.length} steps in ${ms} ms`);
});

// ---- verify.ts alone, in every runtime -------------------------------------------------------

async function probeCases(): Promise<ProbeCase[]> {
  const cases: ProbeCase[] = [];
  for (const alg of ["EdDSA", "ES256"] as const) {
    const s = await testServer({ keys: [await generateSigningKey(alg)] });
    const { access_token } = await tokensFor(s, { scope: "mcp:read" });
    const jwks = await (await s.call("/jwks")).json();
    cases.push({ alg, issuer: s.auth.issuer, audience: RESOURCE, jwks, token: access_token });
  }
  return cases;
}

function assertProbe(outcomes: ProbeOutcome[], where: string): void {
  assert.deepEqual(
    outcomes,
    ["EdDSA", "ES256"].map((alg) => ({
      alg,
      valid: { ok: true, subject: "alice", scopes: ["mcp:read"] },
      tampered: { status: 401, error: "invalid_token" },
      missingScope: { status: 403, error: "insufficient_scope", scope: "mcp:admin" },
      wrongAudience: { status: 401, error: "invalid_token" },
    })),
    where,
  );
}

test("verify.ts alone: bundle has no server code, no zod, no npm dependency", async () => {
  const min = await bundle("./verify.ts", "workerd", { minify: true });
  const offenders = min.inputs.filter((f) =>
    f.includes("node_modules") || !/^(verify\.ts|src\/(verifier[a-z_]*|_jwt|_body)\.ts)$/.test(f)
  );
  assert.deepEqual(offenders, [], `unexpected inputs: ${min.inputs.join(", ")}`);
  assert.ok(min.bytes < 40_000, `verify bundle is ${min.bytes} bytes`);
  console.log(
    `verify.ts minified bundle: ${min.bytes} bytes (${min.inputs.length} files: ${
      min.inputs.join(", ")
    })`,
  );
});

test("verify.ts alone works in Deno, Node, workerd and edge-runtime", async () => {
  const cases = await probeCases();
  assertProbe(await probe(cases), "deno");

  await mkdir(TMP, { recursive: true });
  const input = TMP + "verify_cases.json";
  await writeFile(input, JSON.stringify(cases));
  const nodeFile = TMP + "node_verify_entry.mjs";
  await writeFile(nodeFile, (await bundle("node_verify_entry.ts", "node")).code);
  const run = await runNode(nodeFile, [input]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const line = run.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  assert.ok(line, run.stdout);
  assertProbe(JSON.parse(line.slice(7)), "node");

  const post = { method: "POST", body: JSON.stringify(cases) };
  const mf = new Miniflare({
    modules: true,
    script: (await bundle("verify_probe.ts", "workerd")).code,
    compatibilityDate: "2026-04-01",
  });
  try {
    const res = await mf.dispatchFetch("http://rs.test/", post);
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assertProbe(body as ProbeOutcome[], "workerd");
  } finally {
    await mf.dispose();
  }

  const edge = new EdgeRuntime({
    initialCode: (await bundle("edge_verify_entry.ts", "edge")).code,
  });
  const res = await edge.dispatchFetch("http://rs.test/", post);
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assertProbe(body as ProbeOutcome[], "edge-runtime");
});
