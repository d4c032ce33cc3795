/**
 * What a user copies must compile: every TypeScript/JavaScript block in the
 * top-level Markdown docs (README.md, CONTRIBUTING.md, …) and every JSDoc example in the
 * published modules is type-checked with `deno check --doc-only` /
 * `deno check --doc`, and `deno doc --lint` is clean for every entry point
 * in deno.json `exports`. Blocks that are not code use another fence language
 * (`sh`, `json`, `toml`, `text`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

async function deno(args: string[]): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout) + dec.decode(stderr) };
}

/** The module files named in deno.json `exports`. */
async function exportedFiles(): Promise<string[]> {
  const cfg = JSON.parse(await Deno.readTextFile(ROOT + "deno.json"));
  return [...new Set(Object.values(cfg.exports as Record<string, string>))].map((p) =>
    p.replace(/^\.\//, "")
  );
}

/** Every .ts file under a folder (no tests). */
async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(ROOT + dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await tsFiles(p));
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) out.push(p);
  }
  return out.sort();
}

const CODE_FENCE = /^```(ts|typescript|tsx|js|javascript|jsx)\s*$/gm;

/** The Markdown files at the top level that contain code blocks (README.md, CONTRIBUTING.md, …). */
const DOCS = [...Deno.readDirSync(ROOT)]
  .filter((e) => e.isFile && e.name.endsWith(".md"))
  .map((e) => e.name)
  .filter((name) => new RegExp(CODE_FENCE.source, "m").test(Deno.readTextFileSync(ROOT + name)))
  .sort();

test("README.md is among the Markdown docs with code blocks", () => {
  assert.ok(DOCS.includes("README.md"), DOCS.join(" "));
});

for (const doc of DOCS) {
  test(`${doc}: every TypeScript/JavaScript block type-checks`, async () => {
    const text = await Deno.readTextFile(ROOT + doc);
    const blocks = [...text.matchAll(CODE_FENCE)].length;
    assert.ok(blocks > 0);
    const { code, out } = await deno(["check", "--doc-only", doc]);
    assert.equal(code, 0, out);
    const checked = out.split("\n").filter((l) => l.startsWith(`Check ${doc}#`)).length;
    assert.equal(checked, blocks, `deno checked ${checked} of the ${blocks} code blocks\n${out}`);
  });
}

test("every JSDoc example in the published modules type-checks (deno check --doc)", async () => {
  const files = [...await exportedFiles(), ...await tsFiles("src"), ...await tsFiles("storage")];
  const { code, out } = await deno(["check", "--doc", ...new Set(files)]);
  assert.equal(code, 0, out);
});

test("deno doc --lint is clean for every export in deno.json", async () => {
  const files = await exportedFiles();
  assert.ok(files.length >= 9, files.join(" "));
  const { code, out } = await deno(["doc", "--lint", ...files]);
  assert.equal(code, 0, out);
});
