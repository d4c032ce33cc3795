/**
 * Deploy recipes checked for real:
 * - `examples/workers/wrangler.toml`: `wrangler deploy --dry-run` (wrangler from npm, offline)
 *   bundles the Worker and validates its Durable Object + KV bindings and vars; the bundle
 *   wrangler produced then runs in workerd (Miniflare) and serves discovery.
 * - `examples/vercel-edge/route.ts` in edge-runtime: CORS preflight (`OPTIONS`) answered,
 *   `/.well-known/*` routed to Gatehouse, other paths a plain 404.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { EdgeRuntime } from "edge-runtime";
import { generateSigningKey } from "../mod.ts";
import { bundle } from "./support/runtimes/bundle.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

test("examples/workers: wrangler deploy --dry-run passes; its bundle serves discovery in workerd", async () => {
  const outdir = await Deno.makeTempDir({ prefix: "gatehouse-wrangler-" });
  try {
    const { code, stdout, stderr } = await new Deno.Command(
      ROOT + "node_modules/.bin/wrangler",
      {
        args: ["deploy", "--dry-run", "--outdir", outdir],
        cwd: ROOT + "examples/workers",
        env: { WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", CI: "1" },
        stdout: "piped",
        stderr: "piped",
      },
    ).output();
    const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(code, 0, out);
    assert.match(out, /env\.GATEHOUSE \(GatehouseStorageObject\)\s+Durable Object/);
    assert.match(out, /env\.OAUTH_KV \(\w+\)\s+KV Namespace/);
    assert.match(out, /env\.GATEHOUSE_ISSUER/);
    assert.match(out, /--dry-run: exiting now/);
    const script = await Deno.readTextFile(`${outdir}/worker.js`);
    assert.match(script, /GatehouseStorageObject/);

    const issuer = "https://auth.example.com";
    const mf = new Miniflare({
      modules: true,
      script,
      compatibilityDate: "2026-04-01",
      durableObjects: { GATEHOUSE: "GatehouseStorageObject" },
      kvNamespaces: ["OAUTH_KV"],
      bindings: {
        GATEHOUSE_ISSUER: issuer,
        GATEHOUSE_STORAGE: "durable-object",
        GATEHOUSE_SIGNING_KEYS: JSON.stringify([await generateSigningKey()]),
      },
    });
    try {
      const res = await mf.dispatchFetch(`${issuer}/.well-known/oauth-authorization-server`);
      const body = await res.json() as { issuer: string; registration_endpoint: string };
      assert.equal(res.status, 200);
      assert.equal(body.issuer, issuer);
      assert.equal(body.registration_endpoint, `${issuer}/register`);
      const reg = await mf.dispatchFetch(`${issuer}/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          redirect_uris: ["http://127.0.0.1:3000/cb"],
          token_endpoint_auth_method: "none",
        }),
      });
      assert.equal(reg.status, 201, await reg.text());
    } finally {
      await mf.dispose();
    }
  } finally {
    await Deno.remove(outdir, { recursive: true });
  }
});

test("examples/vercel-edge: OPTIONS preflight, /.well-known/* routed, other paths 404", async () => {
  const built = await bundle("example_vercel_entry.ts", "edge");
  const issuer = "https://auth.vercel.example";
  const key = await generateSigningKey();
  const runtime = new EdgeRuntime({
    initialCode: built.code,
    extend: (context) =>
      Object.assign(context, {
        process: {
          env: {
            GATEHOUSE_ISSUER: issuer,
            GATEHOUSE_SIGNING_KEYS: JSON.stringify([key]),
            // Never called by these requests (no storage access).
            UPSTASH_REDIS_REST_URL: "https://upstash.invalid",
            UPSTASH_REDIS_REST_TOKEN: "unused",
          },
        },
      }),
  });
  const call = (path: string, init?: RequestInit) =>
    runtime.dispatchFetch(issuer + path, init as never) as unknown as Promise<Response>;

  const pre = await call("/token", {
    method: "OPTIONS",
    headers: {
      origin: "https://inspector.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "*");
  assert.match(pre.headers.get("access-control-allow-methods") ?? "", /POST/);

  for (
    const path of [
      "/.well-known/oauth-authorization-server",
      "/.well-known/openid-configuration",
      "/.well-known/oauth-protected-resource/mcp",
    ]
  ) {
    const res = await call(path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("access-control-allow-origin"), "*", path);
    await res.body?.cancel();
  }
  const prm = await (await call("/.well-known/oauth-protected-resource/mcp")).json();
  assert.equal(prm.resource, `${issuer}/mcp`);
  const other = await call("/dashboard");
  assert.equal(other.status, 404);
  assert.equal(await other.text(), "Not found");
});
