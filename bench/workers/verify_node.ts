/**
 * The verify probe under plain `node` (bundled by bench/runtimes.ts): reads a ProbeSetup from
 * the JSON file named first, measures with the in-process clock, prints the medians as JSON.
 * Also reports its own cold `import` of the verifier when asked (`--cold`).
 */
import { readFileSync } from "node:fs";
import { measureProbe, probeHandler } from "../_verify_probe.ts";

const [file, samples, n] = process.argv.slice(2);
const handle = probeHandler();
await handle(
  new Request("http://probe/setup", { method: "POST", body: readFileSync(file, "utf8") }),
);
const r = await measureProbe(async (which, k) => {
  const res = await handle(new Request(`http://probe/run?case=${which}&n=${k}`));
  return (await res.json()).ms;
}, { samples: Number(samples), n: Number(n) });
console.log(JSON.stringify(r));
