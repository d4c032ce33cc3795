/**
 * The demo has rate limits on; GATEHOUSE_RATE_LIMITS=off turns them off.
 * Runs the real demo entry (examples/mcp-server/main.ts) as a child process
 * in a scratch directory and registers over a real socket from 127.0.0.1
 * (the per-IP limit of /register is 20 a minute).
 */
import { test } from "node:test";
import assert from "node:assert/strict";

const MAIN = new URL("../../examples/mcp-server/main.ts", import.meta.url).pathname;
const DENO = new URL("../../node_modules/.bin/deno", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function registrations(env: Record<string, string>, n: number): Promise<number[]> {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const child = new Deno.Command(DENO, {
    args: ["run", "-A", "--unstable-kv", MAIN],
    cwd: dir,
    env: { ...env, PORT: String(port) },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    // Wait for the "Gatehouse demo on …" line.
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("Gatehouse demo on")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("demo exited: " + out);
      out += value;
    }
    reader.releaseLock();
    child.stdout.cancel().catch(() => {});
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          redirect_uris: ["http://127.0.0.1:3000/cb"],
          token_endpoint_auth_method: "none",
        }),
      });
      statuses.push(res.status);
      if (res.status === 429) assert.ok(Number(res.headers.get("retry-after")) >= 1);
      await res.body?.cancel();
    }
    return statuses;
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

test("demo: the 21st registration from one IP in a minute is 429; GATEHOUSE_RATE_LIMITS=off lifts it", async () => {
  // 41 requests in under a minute span at most two fixed windows, so one window
  // receives at least 21 of them: a 429 must appear, and never before the 21st.
  const on = await registrations({}, 41);
  assert.ok(on.includes(429), `statuses ${on.join(",")}`);
  assert.deepEqual(on.slice(0, 20), Array(20).fill(201));
  const off = await registrations({ GATEHOUSE_RATE_LIMITS: "off" }, 30);
  assert.deepEqual(off, Array(30).fill(201));
});
