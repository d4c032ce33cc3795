/**
 * `verify_probe.ts` under plain `node`: reads the cases from the JSON file
 * named on the command line and prints `RESULT <json>`.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { probe } from "./verify_probe.ts";

try {
  const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
  console.log("RESULT " + JSON.stringify(await probe(cases)));
} catch (e) {
  console.log("FAILED " + ((e as Error)?.stack ?? String(e)));
  process.exitCode = 1;
}
