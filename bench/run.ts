/**
 * Gatehouse benchmarks, one runner: `npm run bench` (= `deno run --allow-all bench/run.ts`).
 *
 * Every figure is a ratio against a baseline measured in the same run (the Web Crypto floor, an
 * empty Worker, the Cloudflare provider…), never a timed assertion. Prints markdown to stdout
 * and writes nothing to the repository; `--out FILE` also writes the report to FILE.
 *
 * Groups, one file each (run a subset with `--only a,b`):
 * - `workerd` (bench/workerd.ts): against `@cloudflare/workers-oauth-provider` in Miniflare —
 *   cold start, storage calls per flow, flows/s, bundle sizes;
 * - `runtimes` (bench/runtimes.ts): fresh-token verify / `crypto.subtle.verify` on Deno, Node,
 *   workerd, edge-runtime;
 * - `verify` (bench/verify.ts): verify latency in Deno, and oauth4webapi on the same token;
 * - `token` (bench/token.ts): the token endpoint in process, with a CPU profile;
 * - `cold` (bench/cold.ts): cold import under Deno and Node, bundle sizes of the entries.
 *
 * `--quick`: few iterations per case (the test suite runs every group this way so the bench
 * cannot rot; figures from a quick run mean nothing).
 *
 * @module
 */
import { coldGroup } from "./cold.ts";
import { runtimesGroup } from "./runtimes.ts";
import { tokenGroup } from "./token.ts";
import { verifyGroup } from "./verify.ts";
import { workerdGroup } from "./workerd.ts";

/** What each group receives. */
export interface BenchContext {
  /** Few iterations (smoke run). */
  quick: boolean;
  /** Append a markdown line to the report (and print it). */
  emit(line?: string): void;
  /** Headline figures by name, for the summary and for tests. */
  results: Record<string, number>;
  /** Repository root. */
  root: URL;
}

/** The groups, in run order. */
export const GROUPS: Record<string, (b: BenchContext) => Promise<void>> = {
  workerd: workerdGroup,
  runtimes: runtimesGroup,
  verify: verifyGroup,
  token: tokenGroup,
  cold: coldGroup,
};

/** Parsed command line. */
export interface BenchArgs {
  quick: boolean;
  out?: string;
  only: string[];
}

/** Parse `--quick`, `--out FILE` (or `--out=FILE`), `--only a,b`. */
export function parseArgs(args: string[]): BenchArgs {
  const out: BenchArgs = { quick: false, only: Object.keys(GROUPS) };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => (a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i]);
    if (a === "--quick") out.quick = true;
    else if (a === "--out" || a.startsWith("--out=")) out.out = value();
    else if (a === "--only" || a.startsWith("--only=")) out.only = value().split(",");
    else throw new Error(`bench: unknown argument ${a}`);
  }
  for (const g of out.only) if (!GROUPS[g]) throw new Error(`bench: unknown group ${g}`);
  if (out.out === "") throw new Error("bench: --out needs a file name");
  return out;
}

/** Run the selected groups; returns the report and the headline figures. */
export async function runBench(
  args: BenchArgs,
  print: (line: string) => void = console.log,
): Promise<{ report: string; results: Record<string, number> }> {
  const lines: string[] = [];
  const emit = (s = "") => {
    print(s);
    lines.push(s);
  };
  const started = performance.now();
  const cpu = (() => {
    try {
      const info = Deno.readTextFileSync("/proc/cpuinfo");
      return `${
        /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? "unknown"
      } (${navigator.hardwareConcurrency} logical CPUs)`;
    } catch {
      return `unknown (${navigator.hardwareConcurrency} logical CPUs)`;
    }
  })();
  emit("# Gatehouse benchmarks");
  emit();
  emit(
    `- date: ${new Date().toISOString()}${args.quick ? " (--quick: figures are meaningless)" : ""}`,
  );
  emit(`- deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.os}/${Deno.build.arch}`);
  emit(`- CPU: ${cpu}`);
  emit(
    "- method: one process; cases within a table are sampled round-robin; figures are medians " +
      "of per-sample means, ratios against a baseline timed in the same table.",
  );
  emit();
  const b: BenchContext = {
    quick: args.quick,
    emit,
    results: {},
    root: new URL("../", import.meta.url),
  };
  for (const g of args.only) await GROUPS[g](b);
  emit(`_Bench wall time: ${((performance.now() - started) / 1000).toFixed(1)} s._`);
  return { report: lines.join("\n") + "\n", results: b.results };
}

if (import.meta.main) {
  const args = parseArgs(Deno.args);
  const { report } = await runBench(args);
  if (args.out) {
    await Deno.writeTextFile(args.out, report);
    console.error(`bench: report written to ${args.out}`);
  }
}
