/**
 * edge-runtime on its own host, Node (bundled by bench/runtimes.ts for `node`): loads the
 * `edge-runtime` package from the repository named fourth, runs the edge probe bundle named
 * first in it, reads the ProbeSetup from the JSON file named second, prints the medians as JSON.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { EdgeRuntime as EdgeRuntimeType } from "edge-runtime";
import { measureProbe } from "../_verify_probe.ts";

const [code, file, samples, n, root] = process.argv.slice(2);
const { EdgeRuntime } = createRequire(`${root}/package.json`)("edge-runtime") as {
  EdgeRuntime: typeof EdgeRuntimeType;
};
const edge = new EdgeRuntime({ initialCode: readFileSync(code, "utf8") });
const dispatch = (u: string, init?: RequestInit) =>
  edge.dispatchFetch(u, init as never) as unknown as Promise<Response>;
const res = await dispatch("http://probe/setup", {
  method: "POST",
  body: readFileSync(file, "utf8"),
});
if (res.status !== 204) throw new Error(`edge setup ${res.status}: ${await res.text()}`);
const r = await measureProbe(async (which, k) => {
  const out = await dispatch(`http://probe/run?case=${which}&n=${k}`);
  return (await out.json()).ms;
}, { samples: Number(samples), n: Number(n) });
console.log(JSON.stringify(r));
