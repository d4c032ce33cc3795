/**
 * The identity code stays out of the core's module graph (cold start): `mod.ts`, `verify.ts`
 * and `mcp.ts` never load `src/identity/` or `oauth4webapi`; `./identity` is its own export.
 */
import assert from "node:assert/strict";
import { test } from "node:test";

async function graph(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    stdout: "piped",
    stderr: "null",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  return (info.modules as { specifier: string }[]).map((m) => m.specifier);
}

test("core entries do not load src/identity/ or oauth4webapi; ./identity is exported", async () => {
  for (const entry of ["mod.ts", "verify.ts", "mcp.ts"]) {
    const mods = await graph(entry);
    assert.ok(mods.length > 0, entry);
    assert.ok(!mods.some((m) => m.includes("/src/identity/")), `${entry} loads src/identity`);
    assert.ok(!mods.some((m) => m.includes("oauth4webapi")), `${entry} loads oauth4webapi`);
  }
  const identity = await graph("src/identity/mod.ts");
  assert.ok(identity.some((m) => m.includes("oauth4webapi")));
  const denoJson = JSON.parse(await Deno.readTextFile("deno.json"));
  assert.equal(denoJson.exports["./identity"], "./src/identity/mod.ts");
});
