/**
 * esbuild bundles of the runtime entries in this folder, one flavour per
 * runtime (flags measured on Deno 2.9 / Miniflare 4 / edge-runtime 4): workerd gets a neutral ES module
 * (`workerd,worker,browser` conditions), edge-runtime an IIFE script
 * (`edge-light,worker,browser`), Node an ES module for `node file.mjs`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

/** Which runtime a bundle is for. */
export type BundleTarget = "workerd" | "edge" | "node";

/** A built bundle. */
export interface Bundle {
  /** The JavaScript. */
  code: string;
  /** Size in bytes (UTF-8). */
  bytes: number;
  /** Source files that went in, relative to the repository root. */
  inputs: string[];
}

/** Absolute path of a file in this folder. */
export function entryPath(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Bundle `entry` (a file name in this folder, or a path from the repository root) for `target`. */
export async function bundle(
  entry: string,
  target: BundleTarget,
  options: { minify?: boolean } = {},
): Promise<Bundle> {
  const common: esbuild.BuildOptions = {
    entryPoints: [entry.includes("/") ? ROOT + entry : entryPath(entry)],
    absWorkingDir: ROOT,
    bundle: true,
    write: false,
    metafile: true,
    minify: options.minify ?? false,
    target: "es2022",
    logLevel: "silent",
    legalComments: "none",
  };
  const perTarget: Record<BundleTarget, esbuild.BuildOptions> = {
    workerd: {
      platform: "neutral",
      format: "esm",
      mainFields: ["module", "main"],
      conditions: ["workerd", "worker", "browser"],
    },
    edge: {
      platform: "browser",
      format: "iife",
      mainFields: ["module", "main"],
      conditions: ["edge-light", "worker", "browser"],
    },
    node: { platform: "node", format: "esm", target: "node20" },
  };
  try {
    const result = await esbuild.build({ ...common, ...perTarget[target] });
    const code = result.outputFiles![0].text;
    return {
      code,
      bytes: new TextEncoder().encode(code).byteLength,
      inputs: Object.keys(result.metafile!.inputs),
    };
  } finally {
    await esbuild.stop();
  }
}
