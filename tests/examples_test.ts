/**
 * The storage examples in `examples/`, each run for real in its runtime and
 * driven through a whole authorization-code flow: metadata → /register →
 * /authorize (signed-out 401, then the consent page as the example's user) →
 * approve → /token, with the access token checked against /jwks.
 *
 * - `examples/workers/worker.ts`: bundled for workerd, run in Miniflare with a
 *   Durable Object binding and again with a Workers KV binding.
 * - `examples/vercel-edge/route.ts`: bundled for edge-runtime with a small
 *   `addEventListener("fetch")` entry, `process.env` injected, talking to a
 *   real redis-server through the Upstash REST bridge.
 * - `examples/deno/main.ts`: a `deno run` child process on Deno KV (a temp
 *   file), on a free loopback port, driven over HTTP.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { EdgeRuntime } from "edge-runtime";
import { createLocalJWKSet, decodeJwt, jwtVerify } from "jose";
import { generateSigningKey } from "../mod.ts";
import { bundle, entryPath } from "./support/runtimes/bundle.ts";
import { authorizeQuery, consentFields, pkce, REDIRECT } from "./support/flow.ts";
import { startRedis } from "./support/redis.ts";
import { startUpstashBridge } from "./support/upstash_bridge.ts";
import { RespConnection } from "./support/resp.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** `fetch`-shaped access to a running example (never follows redirects). */
type Call = (path: string, init?: RequestInit) => Promise<Response>;

/** What the flow saw, for the per-test checks and the log line. */
interface FlowResult {
  accessToken: string;
  ms: number;
}

/**
 * Run the authorization-code flow against an example. `issuer` is what the
 * example was configured with (the token's audience is `${issuer}/mcp`);
 * `user` is the header the example's `authenticate` reads.
 */
async function runFlow(
  call: Call,
  issuer: string,
  user: Record<string, string>,
): Promise<FlowResult> {
  const t0 = performance.now();
  const resource = `${issuer}/mcp`;

  const meta = await call("/.well-known/oauth-authorization-server");
  const metaBody = await meta.text();
  assert.equal(meta.status, 200, metaBody);
  assert.equal(JSON.parse(metaBody).issuer, issuer);

  const reg = await call("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      client_name: "Examples Test",
    }),
  });
  const regBody = await reg.text();
  assert.equal(reg.status, 201, regBody);
  const clientId = JSON.parse(regBody).client_id as string;
  assert.match(clientId, /\S/);

  const { verifier, challenge } = await pkce();
  const authorizePath = authorizeQuery({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource,
    state: "examples-1",
  });

  // Signed out: the example's authenticate answers with its own 401.
  const signedOut = await call(authorizePath);
  assert.equal(signedOut.status, 401);
  assert.equal(await signedOut.text(), "sign in first");

  const page = await call(authorizePath, { headers: user });
  const html = await page.text();
  assert.equal(page.status, 200, html);
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);

  const approve = await call("/authorize", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...user },
    body: new URLSearchParams({ ...consentFields(html), decision: "approve" }).toString(),
    redirect: "manual",
  });
  await approve.text();
  assert.equal(approve.status, 302);
  const location = new URL(approve.headers.get("location")!);
  assert.equal(location.origin + location.pathname, REDIRECT);
  assert.equal(location.searchParams.get("state"), "examples-1");
  const code = location.searchParams.get("code");
  assert.ok(code, `expected a code in ${location.href}`);

  const token = await call("/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      redirect_uri: REDIRECT,
      client_id: clientId,
      resource,
    }).toString(),
  });
  const tokenBody = await token.text();
  assert.equal(token.status, 200, tokenBody);
  const tokens = JSON.parse(tokenBody) as { access_token: string; token_type: string };
  assert.equal(tokens.token_type, "Bearer");
  const claims = decodeJwt(tokens.access_token);
  assert.deepEqual([claims.aud].flat(), [resource]);
  assert.equal(claims.iss, issuer);
  assert.equal(claims.client_id, clientId);

  // Signed with the example's key, published at /jwks.
  const jwks = await call("/jwks");
  const jwksBody = await jwks.text();
  assert.equal(jwks.status, 200, jwksBody);
  await jwtVerify(tokens.access_token, createLocalJWKSet(JSON.parse(jwksBody)), {
    issuer,
    audience: resource,
  });

  return { accessToken: tokens.access_token, ms: Math.round(performance.now() - t0) };
}

// ---- Cloudflare Workers ----------------------------------------------------------------------

const WORKER_ISSUER = "https://auth.workers.example";

for (const binding of ["durable-object", "kv"] as const) {
  test(`examples/workers/worker.ts in workerd (Miniflare, ${binding} binding)`, async () => {
    const built = await bundle("examples/workers/worker.ts", "workerd");
    const key = await generateSigningKey();
    const t0 = performance.now();
    const mf = new Miniflare({
      modules: true,
      script: built.code,
      compatibilityDate: "2026-04-01",
      ...(binding === "kv"
        ? { kvNamespaces: ["OAUTH_KV"] }
        : { durableObjects: { GATEHOUSE: "GatehouseStorageObject" } }),
      bindings: {
        GATEHOUSE_ISSUER: WORKER_ISSUER,
        GATEHOUSE_STORAGE: binding,
        GATEHOUSE_SIGNING_KEYS: JSON.stringify([key]),
      },
    });
    try {
      await mf.ready;
      const started = Math.round(performance.now() - t0);
      const call: Call = (path, init) =>
        mf.dispatchFetch(
          WORKER_ISSUER + path,
          { redirect: "manual", ...init } as never,
        ) as unknown as Promise<Response>;
      const { ms } = await runFlow(call, WORKER_ISSUER, {
        "cf-access-authenticated-user-email": "alice@example.com",
      });
      if (binding === "kv") {
        // State went to the bound namespace, under the example's prefix.
        const kv = await mf.getKVNamespace("OAUTH_KV") as unknown as {
          list(options: { prefix: string }): Promise<{ keys: unknown[] }>;
        };
        const { keys } = await kv.list({ prefix: "gatehouse:" });
        assert.ok(keys.length > 0, "no gatehouse: keys in OAUTH_KV");
      }
      console.log(
        `workers/${binding}: bundle ${built.bytes} bytes, start ${started} ms, flow ${ms} ms`,
      );
    } finally {
      await mf.dispose();
    }
  });
}

// ---- Vercel Edge (edge-runtime) + Upstash Redis ---------------------------------------------

const EDGE_ISSUER = "https://auth.vercel.example";

test("examples/vercel-edge/route.ts in edge-runtime (Upstash REST → redis-server)", async () => {
  const redis = await startRedis();
  try {
    const bridge = await startUpstashBridge({ redisPort: redis.port });
    try {
      const built = await bundle("example_vercel_entry.ts", "edge");
      const key = await generateSigningKey();
      const t0 = performance.now();
      const runtime = new EdgeRuntime({
        initialCode: built.code,
        // What Vercel gives an edge function: process.env with the project's variables.
        extend: (context) =>
          Object.assign(context, {
            process: {
              env: {
                GATEHOUSE_ISSUER: EDGE_ISSUER,
                GATEHOUSE_SIGNING_KEYS: JSON.stringify([key]),
                UPSTASH_REDIS_REST_URL: bridge.url,
                UPSTASH_REDIS_REST_TOKEN: bridge.token,
              },
            },
          }),
      });
      const started = Math.round(performance.now() - t0);
      // The route runs in edge-runtime's own context, not Deno's.
      assert.equal(runtime.evaluate("typeof Deno"), "undefined");
      const call: Call = (path, init) =>
        runtime.dispatchFetch(EDGE_ISSUER + path, init as never) as unknown as Promise<Response>;
      const { ms } = await runFlow(call, EDGE_ISSUER, { "x-user-id": "alice" });

      // State went through the bridge to redis, under the example's prefix.
      assert.ok(bridge.requests > 0, "the route never called the Upstash REST API");
      const conn = await RespConnection.connect(redis.port);
      try {
        const keys = await conn.command("KEYS", "gatehouse:*");
        assert.ok(Array.isArray(keys) && keys.length > 0, `no gatehouse:* keys: ${keys}`);
      } finally {
        await conn.close();
      }
      console.log(
        `vercel-edge: bundle ${built.bytes} bytes, start ${started} ms, flow ${ms} ms, ${bridge.requests} Upstash requests`,
      );
    } finally {
      await bridge.close();
    }
  } finally {
    await redis.stop();
  }
});

// ---- Deno + Deno KV --------------------------------------------------------------------------

const DENO_ISSUER = "http://localhost:8787";

/** Read `stream` until `pattern` matches the text so far; keep draining it afterwards. */
async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  pattern: RegExp,
): Promise<{ match: RegExpExecArray; log: () => string; drained: Promise<void> }> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let match: RegExpExecArray | null = null;
  while (!match) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`output ended before ${pattern}:\n${text}`);
    text += value;
    match = pattern.exec(text);
  }
  const drained = (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
  })();
  return { match, log: () => text, drained };
}

/**
 * Run the example with its documented command line, plus a preload that moves
 * its fixed port 8787 to a free loopback port and reports it (the readiness
 * signal); drive the flow over HTTP, then stop it and wait for it to exit.
 */
async function runDenoExample(kvPath: string): Promise<void> {
  const key = await generateSigningKey();
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-kv",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--preload",
      entryPath("example_deno_serve.ts"),
      "examples/deno/main.ts",
    ],
    cwd: ROOT,
    env: {
      GATEHOUSE_KV_PATH: kvPath,
      GATEHOUSE_SIGNING_KEYS: JSON.stringify([key]),
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Safety net only: a child that never reports gets killed, which ends its output.
  const watchdog = setTimeout(() => child.kill("SIGKILL"), 20_000);
  let stdoutText = "";
  const stdout = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      stdoutText += chunk;
    }
  })();
  let stderr: Awaited<ReturnType<typeof waitForLine>> | undefined;
  try {
    stderr = await waitForLine(child.stderr, /EXAMPLE_LISTENING (\d+)/);
    clearTimeout(watchdog);
    const started = Math.round(performance.now() - t0);
    const origin = `http://127.0.0.1:${stderr.match[1]}`;
    const call: Call = (path, init) => fetch(origin + path, { redirect: "manual", ...init });
    const { ms } = await runFlow(call, DENO_ISSUER, { "x-demo-user": "alice" });
    console.log(`deno: start ${started} ms (child process), flow ${ms} ms over HTTP`);
  } catch (err) {
    const output = `${stdoutText}${stderr?.log() ?? ""}`;
    throw new Error(`${(err as Error).message}\n--- example output ---\n${output}`, {
      cause: err,
    });
  } finally {
    clearTimeout(watchdog);
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    await child.status;
    await stdout;
    await stderr?.drained;
  }
}

test("examples/deno/main.ts as a deno run child process (Deno KV file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse-example-" });
  try {
    const kvPath = `${dir}/example.kv`;
    await runDenoExample(kvPath);
    // State went to the KV file the example was pointed at, under its prefix.
    const kv = await Deno.openKv(kvPath);
    try {
      let entries = 0;
      for await (const _ of kv.list({ prefix: ["gatehouse"] })) entries++;
      assert.ok(entries > 0, `no ["gatehouse", …] entries in ${kvPath}`);
    } finally {
      kv.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
