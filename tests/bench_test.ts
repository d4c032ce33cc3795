/**
 * The bench cannot rot: every group runs once with few iterations (`--quick`; no timed
 * assertion: the figures of a quick run mean nothing). What is deterministic is asserted:
 * storage calls per full flow inside workerd, and that a bench run writes nowhere but the
 * `--out FILE` it is given (issue 11: `npm run bench` prints and rewrites no tracked file).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { GROUPS, parseArgs } from "../bench/run.ts";

test("bench arguments: --quick, --out FILE / --out=FILE, --only; unknown ones refused", () => {
  assert.deepEqual(parseArgs([]), { quick: false, only: Object.keys(GROUPS) });
  assert.deepEqual(parseArgs(["--quick", "--out", "r.md", "--only", "cold,token"]), {
    quick: true,
    out: "r.md",
    only: ["cold", "token"],
  });
  assert.equal(parseArgs(["--out=x.md"]).out, "x.md");
  assert.throws(() => parseArgs(["--only", "nope"]), /unknown group/);
  assert.throws(() => parseArgs(["--fast"]), /unknown argument/);
});

test("every bench group runs (quick); storage calls per flow as counted; it writes only --out", async () => {
  // A subprocess that may write only to the temporary directory: a bench that wrote a tracked
  // file (as `npm run bench` once rewrote bench/RESULTS.md) fails with PermissionDenied.
  const tmp = await Deno.makeTempDir();
  const tmpRoot = Deno.env.get("TMPDIR") ?? "/tmp";
  try {
    const out = `${tmp}/report.md`;
    const res = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-net",
        "--allow-env",
        "--allow-run",
        "--allow-sys",
        "--allow-ffi",
        `--allow-write=${tmpRoot}`,
        "bench/run.ts",
        "--quick",
        "--out",
        out,
      ],
      cwd: new URL("../", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(res.stdout);
    assert.ok(res.success, new TextDecoder().decode(res.stderr).slice(-2000));
    const report = await Deno.readTextFile(out);
    assert.ok(stdout.startsWith(report.trimEnd().split("\n")[0]), "the report is printed too");
    for (
      const heading of [
        "## Against `@cloudflare/workers-oauth-provider` inside workerd",
        "## Fresh-token verify / raw `crypto.subtle.verify`, every runtime",
        "## Verify latency, EdDSA",
        "## Token endpoint, in-process",
        "## Cold start: fresh `deno run` subprocess",
      ]
    ) assert.ok(report.includes(heading), heading);
    // Storage calls per full flow (register → authorize → approve → token → /mcp → refresh):
    // deterministic, so a regression shows here. Gatehouse on KV: register 1 put; consent page
    // 1 get (the client; nothing stored); approve: client get, the grant created only where
    // absent (get + put: the consent answer's single use, the code's hash inside), the
    // first-grant compare-and-swap making the client permanent (put only: the driver's read
    // memo holds the client just read); code exchange and refresh each 1 get + 1 put (the
    // grant: read, compare-and-swap); /mcp 1 get = 11. On the Durable Object driver the same
    // steps are 1 + 1 + 3 + 2 + 1 + 2 = 10 calls. A memo entry is trusted for 1 s: on a
    // machine so loaded that a request's read and its compare-and-swap are further apart, KV
    // pays the get again (≤ 14). CF's provider, for comparison, makes 13.
    const row = /\| storage calls per full flow \| (\d+) [^|]*\| (\d+) [^|]*\| (\d+) /.exec(report);
    assert.ok(row, "storage-call row");
    const [cf, kv, durable] = row.slice(1).map(Number);
    assert.ok(cf > 0, "the CF provider's KV calls are counted too");
    assert.ok(kv >= 11 && kv <= 14, `KV calls per flow ${kv}`);
    assert.equal(durable, 10, `DO calls per flow ${durable}`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
