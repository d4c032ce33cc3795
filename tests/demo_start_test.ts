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

async function runStart(
  port: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: await startArgs(),
    cwd: ROOT,
    env: { PORT: port, NO_COLOR: "1", ...env },
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

test("npm start with GATEHOUSE_UPSTREAM_* incomplete or unusable: one line naming them, exit 1, no stack trace", async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [
      { GATEHOUSE_UPSTREAM_ISSUER: "http://127.0.0.1:9" },
      /^GATEHOUSE_UPSTREAM_\*: set GATEHOUSE_UPSTREAM_CLIENT_ID and GATEHOUSE_UPSTREAM_CLIENT_SECRET too/,
    ],
    [
      {
        GATEHOUSE_UPSTREAM_ISSUER: "http://idp.example.com",
        GATEHOUSE_UPSTREAM_CLIENT_ID: "id",
        GATEHOUSE_UPSTREAM_CLIENT_SECRET: "secret",
      },
      /^GATEHOUSE_UPSTREAM_\*: oidc: issuer must be https \(http only on a loopback host\)$/,
    ],
  ];
  // A taken port: were the variables accepted, the demo would stop at the port instead.
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String((busy.addr as Deno.NetAddr).port);
    for (const [env, line] of cases) {
      const { code, stderr } = await runStart(port, env);
      assert.equal(code, 1, stderr);
      const lines = stderr.trim().split("\n");
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0], line);
      assert.ok(!/\bat \S+:\d+/.test(stderr), "no stack trace");
    }
  } finally {
    busy.close();
  }
});

test("package.json scripts never run npm install (a fresh clone stays clean: npm ci once)", async () => {
  const pkg = JSON.parse(await Deno.readTextFile(ROOT + "package.json"));
  for (const [name, script] of Object.entries(pkg.scripts as Record<string, string>)) {
    assert.ok(!/\bnpm (install|i)\b/.test(script), `${name}: ${script}`);
  }
});
