/**
 * Bench group "cold": cold start of a fresh `deno run` (and `node`) importing the entries, and
 * esbuild bundle sizes of the entries.
 *
 * @module
 */
import { median, ratio, table } from "./_harness.ts";
import type { BenchContext } from "./run.ts";

let ROOT = new URL("../", import.meta.url);
let emit: (s?: string) => void = console.log;

/** Run the group. */
export async function coldGroup(b: BenchContext): Promise<void> {
  ROOT = b.root;
  emit = b.emit;
  await coldSection(b.quick);
}

async function spawnOnce(
  args: string[],
  cmd: string = Deno.execPath(),
): Promise<{ wallMs: number; importMs?: number }> {
  const t0 = performance.now();
  const res = await new Deno.Command(cmd, {
    args,
    cwd: new URL(".", ROOT),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const wallMs = performance.now() - t0;
  if (!res.success) {
    throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(res.stderr)}`);
  }
  const text = new TextDecoder().decode(res.stdout).trim();
  return { wallMs, importMs: text ? JSON.parse(text).importMs : undefined };
}

/** Node: an ES module bundle of `entry` and a probe that times its `import()`. */
async function nodeProbe(dir: string, entry: string): Promise<string> {
  const esbuild = await import("esbuild");
  try {
    const r = await esbuild.build({
      entryPoints: [new URL(entry, ROOT).pathname],
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      write: false,
      logLevel: "silent",
    });
    const file = `${dir}/${entry.replace(/\W/g, "_")}.mjs`;
    await Deno.writeTextFile(file, r.outputFiles[0].text);
    return file;
  } finally {
    await esbuild.stop();
  }
}

async function coldSection(quick: boolean): Promise<void> {
  const N = quick ? 1 : 5;
  const dir = await Deno.makeTempDir();
  const nodeImport = `${dir}/probe.mjs`;
  await Deno.writeTextFile(
    nodeImport,
    "const t0 = performance.now();\n" +
      "if (process.argv[2]) await import(process.argv[2]);\n" +
      "console.log(JSON.stringify({ importMs: performance.now() - t0 }));\n",
  );
  const nodeVerify = await nodeProbe(dir, "verify.ts");
  const nodeMod = await nodeProbe(dir, "mod.ts");
  const probe = new URL("bench/_cold_import.ts", ROOT).pathname;
  const variants: { name: string; args: string[]; cmd?: string }[] = [
    {
      name: "`deno run` empty file (baseline)",
      args: ["run", "-A", new URL("bench/_empty.ts", ROOT).pathname],
    },
    { name: "probe, imports nothing", args: ["run", "-A", probe] },
    {
      name: '`import("verify.ts")`',
      args: ["run", "-A", probe, new URL("verify.ts", ROOT).href],
    },
    { name: '`import("mod.ts")`', args: ["run", "-A", probe, new URL("mod.ts", ROOT).href] },
    { name: 'breakdown: `import("zod")` alone', args: ["run", "-A", probe, "zod"] },
    { name: 'breakdown: `import("jose")` alone', args: ["run", "-A", probe, "jose"] },
    { name: "`node` probe, imports nothing (Node baseline)", cmd: "node", args: [nodeImport] },
    {
      name: "`node`: `import()` of the `verify.ts` bundle",
      cmd: "node",
      args: [nodeImport, nodeVerify],
    },
    { name: "`node`: `import()` of the `mod.ts` bundle", cmd: "node", args: [nodeImport, nodeMod] },
  ];
  // One untimed run each fills Deno's transpile cache: we measure a warm-cache cold process.
  for (const v of variants) await spawnOnce(v.args, v.cmd);
  const wall: number[][] = variants.map(() => []);
  const imp: number[][] = variants.map(() => []);
  for (let i = 0; i < N; i++) {
    for (const [k, v] of variants.entries()) {
      const r = await spawnOnce(v.args, v.cmd);
      wall[k].push(r.wallMs);
      if (r.importMs !== undefined) imp[k].push(r.importMs);
    }
  }
  await Deno.remove(dir, { recursive: true });
  const base = median(wall[0]);
  emit(`## Cold start: fresh \`deno run\` subprocess, N=${N} each, median (warm transpile cache)`);
  emit();
  emit(
    "Wall = spawn to exit, measured by the parent; runs interleaved, one untimed run first so " +
      "the transpile cache is warm. On this shared box wall deltas under ~5 ms are noise; the " +
      "in-process `import()` column (timed inside the child) is the steadier figure. The Δ and × " +
      "columns are against the empty `deno run`; compare the `node` rows with the Node baseline.",
  );
  emit();
  emit(
    table(
      [
        "process",
        "median wall ms",
        "min wall ms",
        "Δ vs empty ms",
        "× empty",
        "in-process `import()` ms",
      ],
      variants.map((v, k) => {
        const w = median(wall[k]);
        return [
          v.name,
          w.toFixed(1),
          Math.min(...wall[k]).toFixed(1),
          k === 0 ? "—" : (w - base).toFixed(1),
          ratio(w / base),
          imp[k].length ? median(imp[k]).toFixed(1) : "—",
        ];
      }),
    ),
  );
  emit();

  const esbuild = new URL("node_modules/.bin/esbuild", ROOT).pathname;
  const bundle = async (entry: string | undefined, stdin?: string) => {
    const dir = await Deno.makeTempDir();
    const outfile = `${dir}/out.js`;
    const meta = `${dir}/meta.json`;
    const args = [
      ...(entry ? [entry] : []),
      "--bundle",
      "--minify",
      "--format=esm",
      "--platform=neutral",
      "--main-fields=module,main",
      `--outfile=${outfile}`,
      `--metafile=${meta}`,
      "--log-level=warning",
    ];
    const child = new Deno.Command(esbuild, {
      args,
      cwd: new URL(".", ROOT),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin ?? ""));
    await w.close();
    const res = await child.output();
    if (!res.success) throw new Error(new TextDecoder().decode(res.stderr));
    const code = await Deno.readFile(outfile);
    const gz = await new Response(
      new Blob([code]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer();
    const m = JSON.parse(await Deno.readTextFile(meta));
    await Deno.remove(dir, { recursive: true });
    const byPkg: Record<string, number> = {};
    for (
      const o of Object.values(m.outputs) as { inputs: Record<string, { bytesInOutput: number }> }[]
    ) {
      for (const [path, info] of Object.entries(o.inputs)) {
        if (info.bytesInOutput === 0) continue;
        const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ??
          (path.startsWith("<") ? "(entry)" : "(gatehouse)");
        byPkg[pkg] = (byPkg[pkg] ?? 0) + info.bytesInOutput;
      }
    }
    return { min: code.length, gz: gz.byteLength, byPkg };
  };
  const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const bundles = [
    { name: "`verify.ts`", r: await bundle("verify.ts") },
    { name: "`mod.ts`", r: await bundle("mod.ts") },
    {
      name: "reference: jose `jwtVerify` + `createRemoteJWKSet` only",
      r: await bundle(undefined, 'export { jwtVerify, createRemoteJWKSet } from "jose";'),
    },
  ];
  emit("## Bundle size: `esbuild --bundle --minify --format=esm --platform=neutral`");
  emit();
  emit(
    table(
      ["entry", "minified", "gzip", "by package (minified bytes in output)"],
      bundles.map(({ name, r }) => [
        name,
        kb(r.min),
        kb(r.gz),
        Object.entries(r.byPkg).sort((a, b) => b[1] - a[1]).map(([p, b]) => `${p} ${kb(b)}`)
          .join(", "),
      ]),
    ),
  );
  emit();
}
