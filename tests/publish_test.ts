/**
 * The package stays publishable to JSR: `deno publish --dry-run` (offline)
 * checks the exports in deno.json, "no slow types" on every public entry, and
 * that every published import resolves.
 */
import { test } from "node:test";
import assert from "node:assert/strict";

test("deno publish --dry-run succeeds for @gatehouse/oauth", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  assert.match(text, /Simulating publish of @gatehouse\/oauth@0\.1\.0/);
  assert.match(text, /Dry run complete/);
  for (
    const entry of ["mod.ts", "verify.ts", "mcp.ts", "storage/deno_kv.ts", "storage/upstash.ts"]
  ) {
    assert.ok(text.includes(entry), `${entry} is published`);
  }
  assert.ok(!text.includes("tests/"), "tests are not published");
});
