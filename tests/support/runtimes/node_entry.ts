/**
 * Node runner (bundled to ESM by esbuild, run with plain `node`): serves the
 * demo app in-process on memory storage, runs the e2e scenario against it
 * and prints one line `RESULT <json>` (or `FAILED <message>` and exit 1).
 *
 * @module
 */
import { runScenario } from "../../e2e/scenario.ts";
import { memoryStorage } from "../../../storage/memory.ts";
import { generateSigningKey } from "../../../mod.ts";
import { demoHandler } from "./app_factory.ts";

const origin = "http://localhost:8787";
try {
  const key = await generateSigningKey();
  const handler = demoHandler(() => memoryStorage(), () => key);
  const started = performance.now();
  const result = await runScenario(handler, origin);
  const ms = Math.round(performance.now() - started);
  const events = await (await handler(new Request(origin + "/__events"))).json();
  console.log(
    "RESULT " + JSON.stringify({ ...result, ms, events, node: process.versions.node }),
  );
} catch (e) {
  console.log("FAILED " + ((e as Error)?.stack ?? String(e)));
  process.exitCode = 1;
}
