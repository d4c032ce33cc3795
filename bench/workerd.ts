/**
 * Bench group "workerd": Gatehouse against `@cloudflare/workers-oauth-provider` ("CF") on its
 * own ground, inside workerd (Miniflare), every figure a ratio to CF from the same run:
 *
 * - cold start: a fresh Miniflare per sample running only that server (bench/workers/*.ts),
 *   wall time and the CPU time of the workerd process,
 *   spawn → first 200 of the authorization-server metadata, minus the same for an empty Worker with the same bindings;
 * - storage calls per full flow (register → authorize → approve → token → `/mcp` → refresh),
 *   counted by wrapping the KV binding / the Durable Object stub;
 * - full flows per second at 1 and 8 in flight, the three servers in one Worker, interleaved;
 * - bundle size (esbuild, minified, gzip) of each library and of each bench Worker;
 * - per-operation `/token` rows (code exchange, refresh rotation).
 *
 * @module
 */
import { Miniflare } from "miniflare";
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import { generateSigningKey } from "../mod.ts";
import { median, ratio, table, us } from "./_harness.ts";
import { bundleWorker, runPeerTokenGroup, startPeerWorld, WORKERD_BUILD } from "./_peers.ts";
import type { PeerWorld, Target } from "./_peers.ts";
import type { BenchContext } from "./run.ts";

const TARGETS: Target[] = ["cf", "kv", "do"];
const ROOT = fileURLToPath(new URL("../", import.meta.url));

const gzip = async (code: string | Uint8Array): Promise<number> =>
  (await new Response(
    new Blob([code as BlobPart]).stream().pipeThrough(new CompressionStream("gzip")),
  ).arrayBuffer()).byteLength;

/** Minified + gzip size of `source` (an ES module text importing from the repo), workerd flavour. */
async function libSize(source: string): Promise<{ min: number; gz: number }> {
  try {
    const r = await esbuild.build({
      stdin: { contents: source, resolveDir: ROOT, loader: "ts" },
      minify: true,
      ...WORKERD_BUILD,
    });
    const code = r.outputFiles[0].contents;
    return { min: code.byteLength, gz: await gzip(code) };
  } finally {
    await esbuild.stop();
  }
}

const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;

/** CPU ms used so far by every thread of process `pid` (Linux `schedstat`; NaN elsewhere). */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/schedstat`).split(" ")[0]);
  }
  return ns / 1e6;
}

/** CPU ms of the workerd processes this process started (NaN where /proc cannot tell). */
function workerdCpuMs(): number {
  try {
    let total = 0;
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      let stat: string;
      try {
        stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      } catch {
        continue; // exited meanwhile
      }
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === Deno.pid && stat.includes("(workerd")) total += cpuMs(Number(e.name));
    }
    return total || NaN;
  } catch {
    return NaN;
  }
}

type Kind = "empty" | "emptyDo" | Target;

/**
 * Cold start: ms from `new Miniflare` to the first 200 of the metadata document (wall), and the
 * CPU ms the workerd process spent by then (`cpu`: workerd's own work — module compile and
 * evaluation, the first request — without this process's share, e.g. Miniflare parsing the
 * script with acorn to find its imports, which is most of the wall difference between bundles
 * of similar size). Medians.
 */
async function coldStart(
  scripts: Record<Kind, string>,
  jwk: string,
  rounds: number,
): Promise<{ wall: Record<Kind, number>; cpu: Record<Kind, number> }> {
  const kinds = ["empty", "emptyDo", ...TARGETS] as const;
  const times: Record<string, number[]> = { empty: [], emptyDo: [], cf: [], kv: [], do: [] };
  const cpu: Record<string, number[]> = { empty: [], emptyDo: [], cf: [], kv: [], do: [] };
  const once = async (k: (typeof kinds)[number]) => {
    const t0 = performance.now();
    const mf = new Miniflare({
      // The module given by name and type, so Miniflare doesn't parse the script (acorn, in
      // this process) to find its imports: the time is workerd's, as on Cloudflare.
      modules: [{ type: "ESModule", path: "worker.mjs", contents: scripts[k] }],
      compatibilityDate: "2026-04-01",
      compatibilityFlags: ["nodejs_compat", "global_fetch_strictly_public"],
      kvNamespaces: ["OAUTH_KV"],
      ...(k === "do" || k === "emptyDo"
        ? { durableObjects: { STORE: "GatehouseStorageObject" } }
        : {}),
      bindings: { SIGNING_JWK: jwk },
    });
    try {
      const res = await mf.dispatchFetch(
        `https://${k}.test/.well-known/oauth-authorization-server`,
      );
      const text = await res.text();
      if (res.status !== 200) throw new Error(`cold ${k}: ${res.status} ${text.slice(0, 200)}`);
      return { wall: performance.now() - t0, cpu: workerdCpuMs() };
    } finally {
      await mf.dispose();
    }
  };
  for (const k of kinds) await once(k); // workerd binary + disk caches warm
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < kinds.length; j++) {
      const k = kinds[(j + r) % kinds.length];
      const m = await once(k);
      times[k].push(m.wall);
      cpu[k].push(m.cpu);
    }
  }
  const med = (x: Record<string, number[]>) =>
    Object.fromEntries(kinds.map((k) => [k, median(x[k])])) as Record<Kind, number>;
  return { wall: med(times), cpu: med(cpu) };
}

/** Flows per second at `inFlight`, `n` flows, for one target. */
async function flowsPerSecond(world: PeerWorld, t: Target, n: number, inFlight: number) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < n) {
      next++;
      await world.flow(t);
    }
  }));
  return n / ((performance.now() - t0) / 1000);
}

/** Run the group. */
export async function workerdGroup(b: BenchContext): Promise<void> {
  const jwk = JSON.stringify(await generateSigningKey("EdDSA"));
  const emit = b.emit;

  // Bundles (also the scripts for the cold start).
  const scripts = {
    empty: await bundleWorker("empty.ts"),
    emptyDo: await bundleWorker("empty_do.ts"),
    cf: await bundleWorker("cf_only.ts"),
    kv: await bundleWorker("gatehouse_kv.ts"),
    do: await bundleWorker("gatehouse_do.ts"),
  };
  const { wall: cold, cpu: coldCpu } = await coldStart(scripts, jwk, b.quick ? 1 : 15);
  // Each server over the empty Worker with the same bindings (the DO one declares a Durable
  // Object class: the binding's own cost in workerd is not the library's).
  const base = (t: Target) => (t === "do" ? "emptyDo" : "empty");
  const over = (t: Target) => cold[t] - cold[base(t)];
  const overCpu = (t: Target) => coldCpu[t] - coldCpu[base(t)];
  // "+12.3 ms (0.80×)"; a ratio only where both differences are positive (a noisy or quick run
  // can put a server below its empty Worker, and a ratio of signed noise means nothing).
  const signed = (ms: number) => `${ms < 0 ? "−" : "+"}${Math.abs(ms).toFixed(1)} ms`;
  const overText = (ms: number, cfMs?: number) =>
    Number.isNaN(ms) ? "n/a" : signed(ms) +
      (cfMs === undefined ? "" : ` (${ms > 0 && cfMs > 0 ? ratio(ms / cfMs) : "n/a"})`);
  const cpuText = (t: Target) => overText(overCpu(t), t === "cf" ? undefined : overCpu("cf"));

  // Storage calls per flow and throughput, one Miniflare, interleaved.
  const world = await startPeerWorld();
  const calls: Record<Target, Record<string, number>> = {} as never;
  const fps: Record<Target, { one: number[]; eight: number[] }> = {
    cf: { one: [], eight: [] },
    kv: { one: [], eight: [] },
    do: { one: [], eight: [] },
  };
  // The same flows issued inside the Worker: no Node ↔ workerd hop per request.
  const inWorker: Record<Target, { one: number[]; eight: number[] }> = {
    cf: { one: [], eight: [] },
    kv: { one: [], eight: [] },
    do: { one: [], eight: [] },
  };
  let tokenRows;
  try {
    for (const t of TARGETS) {
      await world.flow(t); // warm-up and sanity
      await world.kvCalls();
      await world.flow(t);
      calls[t] = await world.kvCalls();
    }
    const samples = b.quick ? 1 : 9;
    const n1 = b.quick ? 2 : 12;
    const n8 = b.quick ? 8 : 48;
    for (let s = 0; s < samples; s++) {
      for (let j = 0; j < TARGETS.length; j++) {
        const t = TARGETS[(j + s) % TARGETS.length];
        fps[t].one.push(await flowsPerSecond(world, t, n1, 1));
        fps[t].eight.push(await flowsPerSecond(world, t, n8, 8));
        inWorker[t].one.push(await world.inWorker(t, n1, 1));
        inWorker[t].eight.push(await world.inWorker(t, n8, 8));
      }
    }
    tokenRows = await runPeerTokenGroup(world, {
      samples: b.quick ? 2 : 15,
      batch: b.quick ? 3 : 10,
    });
  } finally {
    await world.dispose();
  }

  const libs = {
    cf: await libSize('export * from "@cloudflare/workers-oauth-provider";'),
    core: await libSize('export * from "./mod.ts";'),
    kv: await libSize('export * from "./mod.ts"; export * from "./storage/workers_kv.ts";'),
    do: await libSize('export * from "./mod.ts"; export * from "./storage/durable_object.ts";'),
    verify: await libSize('export * from "./verify.ts";'),
  };
  const workerGz = {
    cf: await gzip(await bundleWorker("cf_only.ts", true)),
    kv: await gzip(await bundleWorker("gatehouse_kv.ts", true)),
    do: await gzip(await bundleWorker("gatehouse_do.ts", true)),
  };

  const total = (c: Record<string, number>) => Object.values(c).reduce((a, x) => a + x, 0);
  const fmtCalls = (c: Record<string, number>) =>
    `${total(c)} (${Object.entries(c).map(([k, n]) => `${n} ${k}`).join(", ")})`;
  const fpsOf = (t: Target) => ({ one: median(fps[t].one), eight: median(fps[t].eight) });
  const cf = fpsOf("cf");
  // Ratios to CF are medians of paired ratios: each sample over the CF sample of the same
  // interleaved round (load drifts between rounds on a shared machine; a round's pair shares it).
  const paired = (x: Record<Target, { one: number[]; eight: number[] }>, t: Target) => ({
    one: median(x[t].one.map((v, i) => v / x.cf.one[i])),
    eight: median(x[t].eight.map((v, i) => v / x.cf.eight[i])),
  });
  const fpsRatio = (t: Target) => paired(fps, t);
  const inRatio = (t: Target) => paired(inWorker, t);
  const goal = (ok: boolean) => (ok ? "met" : "missed");

  b.results["workerd.cold.cf"] = over("cf");
  b.results["workerd.cold.kv"] = over("kv");
  b.results["workerd.cold.do"] = over("do");
  b.results["workerd.coldcpu.cf"] = overCpu("cf");
  b.results["workerd.coldcpu.kv"] = overCpu("kv");
  b.results["workerd.coldcpu.do"] = overCpu("do");
  b.results["workerd.calls.cf"] = total(calls.cf);
  b.results["workerd.calls.kv"] = total(calls.kv);
  b.results["workerd.calls.do"] = total(calls.do);
  const inOf = (t: Target) => ({
    one: median(inWorker[t].one),
    eight: median(inWorker[t].eight),
  });
  for (const t of TARGETS) {
    b.results[`workerd.fps1.${t}`] = fpsOf(t).one;
    b.results[`workerd.fps8.${t}`] = fpsOf(t).eight;
    b.results[`workerd.fps1.inWorker.${t}`] = inOf(t).one;
    b.results[`workerd.fps8.inWorker.${t}`] = inOf(t).eight;
  }
  b.results["bundle.gz.cf"] = libs.cf.gz;
  b.results["bundle.gz.gatehouse"] = libs.core.gz;

  emit("## Against `@cloudflare/workers-oauth-provider` inside workerd");
  emit();
  emit(
    "Miniflare (workerd), same options for every server. Cold start: a fresh Miniflare per " +
      `sample running only that server, spawn → first metadata 200, median of ${
        b.quick ? 1 : 15
      } interleaved rounds, minus an empty Worker with the same bindings (${
        cold.empty.toFixed(0)
      } ms; ${
        cold.emptyDo.toFixed(0)
      } ms with a Durable Object class for the DO row), the module handed to Miniflare by name ` +
      "and type so the figure is workerd's own (no parse of the script in the bench process). " +
      "Storage " +
      "calls: one full flow (register → authorize → approve → token → `/mcp` → refresh), " +
      "counted by wrapping the KV binding / the Durable Object stub. Flows/s: the three " +
      "servers in one Worker, interleaved, a fresh client per flow. The CF provider has no " +
      "consent page (its app signs in and completes the request at once); Gatehouse shows its " +
      "page and takes the approval, one request more per flow.",
  );
  emit();
  emit(table(["measure (workerd)", "CF", "Gatehouse, KV", "Gatehouse, DO", "goal", "status"], [
    [
      "cold start over an empty worker, to the first metadata 200",
      overText(over("cf")),
      overText(over("kv"), over("cf")),
      overText(over("do"), over("cf")),
      "≤ ½ of CF's, both drivers",
      goal(over("kv") <= over("cf") / 2 && over("do") <= over("cf") / 2),
    ],
    [
      "the same, CPU of the workerd process only (module compile + evaluation, first request)",
      cpuText("cf"),
      cpuText("kv"),
      cpuText("do"),
      "",
      "",
    ],
    [
      "storage calls per full flow",
      fmtCalls(calls.cf),
      fmtCalls(calls.kv),
      fmtCalls(calls.do),
      "≤ 12 on KV",
      goal(total(calls.kv) <= 12),
    ],
    [
      "full flows/s, 1 / 8 in flight",
      `${cf.one.toFixed(1)} / ${cf.eight.toFixed(1)}`,
      `${fpsOf("kv").one.toFixed(1)} / ${fpsOf("kv").eight.toFixed(1)} (${
        ratio(fpsRatio("kv").one)
      } / ${ratio(fpsRatio("kv").eight)})`,
      `${fpsOf("do").one.toFixed(1)} / ${fpsOf("do").eight.toFixed(1)} (${
        ratio(fpsRatio("do").one)
      } / ${ratio(fpsRatio("do").eight)})`,
      "≥ 1.25× CF on KV, ≥ 2.5× on DO",
      `KV ${goal(Math.min(fpsRatio("kv").one, fpsRatio("kv").eight) >= 1.25)}, DO ${
        goal(Math.min(fpsRatio("do").one, fpsRatio("do").eight) >= 2.5)
      } (with Miniflare's hop per request)`,
    ],
    [
      "whole library, minified / gzip",
      `${kib(libs.cf.min)} / ${kib(libs.cf.gz)}`,
      `${kib(libs.kv.min)} / ${kib(libs.kv.gz)} (${ratio(libs.kv.gz / libs.cf.gz)})`,
      `${kib(libs.do.min)} / ${kib(libs.do.gz)} (${ratio(libs.do.gz / libs.cf.gz)})`,
      "≤ CF's",
      goal(libs.kv.gz <= libs.cf.gz && libs.do.gz <= libs.cf.gz),
    ],
    [
      "the bench Worker, minified, gzip",
      kib(workerGz.cf),
      `${kib(workerGz.kv)} (${ratio(workerGz.kv / workerGz.cf)})`,
      `${kib(workerGz.do)} (${ratio(workerGz.do / workerGz.cf)})`,
      "",
      "",
    ],
  ]));
  emit();
  const inCell = (t: Target) =>
    `${inOf(t).one.toFixed(1)} / ${inOf(t).eight.toFixed(1)}` +
    (t === "cf" ? "" : ` (${ratio(inRatio(t).one)} / ${ratio(inRatio(t).eight)})`);
  emit(
    "Full flows/s issued **inside the Worker** (bench/workers/_flows.ts: the same flow, sent " +
      "to the Worker's own `fetch` handler; one `dispatchFetch` per batch, median of " +
      `${inWorker.cf.one.length} samples each, interleaved with the rows above). ` +
      "Above, every request pays Miniflare's Node ↔ workerd hop (one more per Gatehouse " +
      "flow: the consent page); here only the servers' own JS and storage calls count.",
  );
  emit();
  emit(table(["full flows/s, 1 / 8 in flight", "CF", "Gatehouse, KV", "Gatehouse, DO", "goal"], [
    [
      "issued inside the Worker",
      inCell("cf"),
      inCell("kv"),
      inCell("do"),
      `KV ${goal(Math.min(inRatio("kv").one, inRatio("kv").eight) >= 1.25)}, DO ${
        goal(Math.min(inRatio("do").one, inRatio("do").eight) >= 2.5)
      }`,
    ],
  ]));
  emit();
  emit(
    "Ratios to CF in both flows/s tables are medians of paired ratios (each sample over the CF " +
      "sample of the same interleaved round).",
  );
  emit();
  emit(
    `Library sizes: Gatehouse core (\`mod.ts\`, memory driver) ${kib(libs.core.min)} / ${
      kib(libs.core.gz)
    } gzip; \`verify.ts\` alone ${kib(libs.verify.min)} / ${kib(libs.verify.gz)} gzip. ` +
      "Cold start wall times (median ms, spawn → first 200): " +
      `empty ${cold.empty.toFixed(0)}, CF ${cold.cf.toFixed(0)}, Gatehouse KV ${
        cold.kv.toFixed(0)
      }, DO ${cold.do.toFixed(0)}.`,
  );
  emit();

  const { rows, kv } = tokenRows;
  const floor = rows[0].median;
  const cfRow = (name: string) =>
    rows.find((x) => x.name.startsWith(name.split(":")[0]) && x.name.includes("CF"))!;
  const callsOf = (name: string) => {
    const t: Target = name.includes("CF") ? "cf" : name.includes("workersKv") ||
        name.includes("Workers KV")
      ? "kv"
      : "do";
    const c = name.startsWith("code") ? kv[t].code : kv[t].refresh;
    return Object.entries(c).map(([k, n]) => `${n} ${k}`).join(", ") || "—";
  };
  emit(`### Per operation at \`/token\` (dispatch floor ${us(floor)} µs)`);
  emit();
  emit(table(
    ["case", "median µs/op", "× CF", "× CF, net of floor", "storage calls per op"],
    rows.slice(1).map((x) => [
      x.name,
      us(x.median),
      ratio(x.median / cfRow(x.name).median),
      ratio((x.median - floor) / (cfRow(x.name).median - floor)),
      callsOf(x.name),
    ]),
  ));
  emit();
}
