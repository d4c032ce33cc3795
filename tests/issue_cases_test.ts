/**
 * Cases of the issues that had no asserting test elsewhere.
 *
 * Issue 12 ("the features of the other issues … must not grow the core: put them behind their
 * own entry points or load them on first use"): the module graph `deno info` reports for the core
 * entry, walked along static code imports only, holds none of the rate limiter, the
 * `private_key_jwt` assertion check or the upstream identity code; the first two are still
 * reachable from it, as dynamic imports (loaded by the first request that needs them).
 */
import assert from "node:assert/strict";
import { test } from "node:test";

interface Dependency {
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface ModuleInfo {
  specifier: string;
  dependencies?: Dependency[];
}

/** `deno info --json` of `entry`: every module in its graph, by specifier. */
async function moduleGraph(entry: string): Promise<Map<string, ModuleInfo>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(out.success, `deno info ${entry}`);
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: ModuleInfo[] };
  return new Map(info.modules.map((m) => [m.specifier, m]));
}

/** The modules loaded when `root` is imported: static code imports only (no `import type`, no `import()`). */
function staticClosure(graph: Map<string, ModuleInfo>, root: string): Set<string> {
  const seen = new Set<string>();
  const todo = [root];
  while (todo.length) {
    const spec = todo.pop()!;
    if (seen.has(spec)) continue;
    seen.add(spec);
    for (const d of graph.get(spec)?.dependencies ?? []) {
      if (d.code && !d.isDynamic) todo.push(d.code.specifier);
    }
  }
  return seen;
}

/** Modules `import()`ed somewhere in the graph (and not statically by the same importer). */
function dynamicTargets(graph: Map<string, ModuleInfo>): Set<string> {
  const out = new Set<string>();
  for (const m of graph.values()) {
    for (const d of m.dependencies ?? []) if (d.code && d.isDynamic) out.add(d.code.specifier);
  }
  return out;
}

test("issue 12: mod.ts loads the rate limiter and private_key_jwt only on first use, never ./identity", async () => {
  const root = new URL("../mod.ts", import.meta.url).href;
  const graph = await moduleGraph("mod.ts");
  const loaded = [...staticClosure(graph, root)];
  assert.ok(loaded.some((m) => m.endsWith("/src/server.ts")), "the walk reaches the server");
  assert.ok(loaded.some((m) => m.endsWith("/src/token.ts")), "and the token endpoint");
  for (const lazy of ["/src/limits/", "/src/client_assertion.ts", "/src/identity/"]) {
    assert.deepEqual(loaded.filter((m) => m.includes(lazy)), [], `${lazy} is loaded at import`);
  }
  // Still part of the package's graph: the first request that needs them imports them.
  const dynamic = [...dynamicTargets(graph)];
  assert.ok(dynamic.some((m) => m.endsWith("/src/limits/_server.ts")), "limits by import()");
  assert.ok(dynamic.some((m) => m.endsWith("/src/client_assertion.ts")), "assertions by import()");
});
