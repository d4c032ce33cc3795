/**
 * Small things a new user trips over, kept from coming back: a test file that
 * registers no tests, a comment pointing at a README section that does not
 * exist, a link to a README heading that does not exist, references to a
 * design document that is not in the repository, and the license files.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

async function files(dir: string, pattern: RegExp): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(ROOT + dir)) {
    const p = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory) {
      if (!["node_modules", ".git", ".tmp", "bench"].includes(e.name)) {
        out.push(...await files(p, pattern));
      }
    } else if (pattern.test(e.name)) out.push(p);
  }
  return out.sort();
}

/** GitHub's heading anchor: lowercase, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s-]/gu, "").replace(/\s/g, "-");
}

async function readmeHeadings(): Promise<string[]> {
  const text = await Deno.readTextFile(ROOT + "README.md");
  return [...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1].trim());
}

test("every *_test.ts file registers tests (helpers live in tests/support/)", async () => {
  const tests = await files("tests", /_test\.ts$/);
  assert.ok(tests.length > 20);
  for (const f of tests) {
    const src = await Deno.readTextFile(ROOT + f);
    assert.match(src, /\b(test|it|describe|Deno\.test|storageContract)\(/, `${f} runs no tests`);
  }
});

test("README sections named in comments and docs exist", async () => {
  const headings = new Set(await readmeHeadings());
  const sources = [
    ...await files("", /\.(ts|md)$/),
  ].filter((f) => !f.startsWith("node_modules/"));
  let refs = 0;
  for (const f of sources) {
    const src = await Deno.readTextFile(ROOT + f);
    for (const m of src.matchAll(/README(?:'s|,)? "([^"]+)"/g)) {
      refs++;
      assert.ok(
        headings.has(m[1]),
        `${f} refers to README section "${m[1]}", which does not exist`,
      );
    }
  }
  assert.ok(refs >= 1, 'the demo\'s pointer to "Plugging in your sign-in" is checked');
});

test("README links to its own headings resolve", async () => {
  const text = await Deno.readTextFile(ROOT + "README.md");
  const anchors = new Set((await readmeHeadings()).map(slug));
  const links = [...text.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]);
  assert.ok(links.length > 0);
  for (const a of links) assert.ok(anchors.has(a), `README link #${a} has no heading`);
});

test("no references to a design document that is not in the repository", async () => {
  // bench/ is excluded from the scan (owned separately); the name is built so this file
  // does not match itself.
  const name = ["DESIGN", "md"].join(".");
  const sources = (await files("", /\.(ts|md|json|toml)$/)).filter((f) =>
    f !== "tests/repo_hygiene_test.ts"
  );
  for (const f of sources) {
    const src = await Deno.readTextFile(ROOT + f);
    const m = src.includes(name);
    if (m) {
      const exists = await Deno.stat(ROOT + name).then(() => true, () => false);
      assert.ok(exists, `${f} refers to ${name}, which is not in the repository`);
    }
  }
});

test("LICENSE is the MIT text, matching deno.json; CHANGELOG and CONTRIBUTING exist", async () => {
  const license = await Deno.readTextFile(ROOT + "LICENSE");
  assert.match(license, /^MIT License/);
  assert.match(license, /Permission is hereby granted, free of charge/);
  assert.match(license, /THE SOFTWARE IS PROVIDED "AS IS"/);
  assert.equal(JSON.parse(await Deno.readTextFile(ROOT + "deno.json")).license, "MIT");
  assert.match(await Deno.readTextFile(ROOT + "CHANGELOG.md"), /^# Changelog/);
  assert.match(await Deno.readTextFile(ROOT + "CONTRIBUTING.md"), /^# Contributing/);
});
