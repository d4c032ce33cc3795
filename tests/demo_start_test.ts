/**
 * `npm start` failure modes a new user hits: the port is taken, or PORT is not
 * a number. Each is one line on stderr naming PORT, exit code 1, no stack
 * trace. Runs the exact command line of package.json's `start` script.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

async function startArgs(): Promise<string[]> {
  const pkg = JSON.parse(await Deno.readTextFile(ROOT + "package.json"));
  const script: string = pkg.scripts.start;
  assert.match(script, /^deno run /);
  return script.split(/\s+/).slice(1);
}

async function runStart(port: string): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: await startArgs(),
    cwd: ROOT,
    env: { PORT: port, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

test("npm start with the port taken: one line naming PORT, exit 1, no stack trace", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    const { code, stderr } = await runStart(String(port));
    assert.equal(code, 1, stderr);
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], new RegExp(`^Port ${port} is already in use`));
    assert.match(lines[0], /PORT=\d+ npm start/);
    assert.ok(!/\bat \S+:\d+/.test(stderr), "no stack trace");
  } finally {
    busy.close();
  }
});

test("npm start with a PORT that is not a number: one line naming PORT, exit 1", async () => {
  const { code, stderr } = await runStart("eighty");
  assert.equal(code, 1, stderr);
  assert.equal(stderr.trim(), "PORT=eighty is not a port number (1-65535).");
});

test("package.json scripts never run npm install (a fresh clone stays clean: npm ci once)", async () => {
  const pkg = JSON.parse(await Deno.readTextFile(ROOT + "package.json"));
  for (const [name, script] of Object.entries(pkg.scripts as Record<string, string>)) {
    assert.ok(!/\bnpm (install|i)\b/.test(script), `${name}: ${script}`);
  }
});
