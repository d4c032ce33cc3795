/**
 * `examples/node`: the demo app on plain `node:http` (Node 20, no TypeScript
 * loader: bundled with esbuild like the README says), driven over real HTTP
 * through the whole e2e scenario (discovery → registration → sign-in →
 * consent → PKCE → MCP tools with step-up → refresh rotation and reuse →
 * revocation). Also the Hono recipe (`examples/node/hono.ts`) and the README's Express
 * recipe (real express 5) served through the same bridge, and the bridge's edge cases: a streamed request body, an
 * oversized one, HEAD, a busy port.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DEMO_TOOLS, runScenario, SCENARIO_STEPS } from "./e2e/scenario.ts";
import { bundle } from "./support/runtimes/bundle.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

interface NodeDemo {
  origin: string;
  /** Forward a Request to the server over HTTP (127.0.0.1, the listening address). */
  fetch: (req: Request, client?: Deno.HttpClient) => Promise<Response>;
  stderr: () => string;
  stop: () => Promise<number | null>;
}

async function startNodeDemo(env: Record<string, string> = {}): Promise<NodeDemo> {
  const built = await bundle("examples/node/main.ts", "node");
  await Deno.mkdir(ROOT + ".tmp", { recursive: true });
  const file = ROOT + `.tmp/node_demo_${crypto.randomUUID()}.mjs`;
  await Deno.writeTextFile(file, built.code);
  const child = spawn("node", [file], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: Deno.env.get("PATH") ?? "", PORT: "0", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const origin = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      stdout += d;
      const m = /Gatehouse demo on Node [\d.]+: (\S+)/.exec(stdout);
      if (m) resolve(m[1]);
    });
    exited.then((code) => reject(new Error(`node exited ${code}\n${stdout}\n${stderr}`)));
  });
  const port = new URL(origin).port;
  return {
    origin,
    fetch: (req, client) => {
      const u = new URL(req.url);
      u.hostname = "127.0.0.1";
      u.port = port;
      return fetch(new Request(u, req), client ? { client } : {});
    },
    stderr: () => stderr,
    stop: async () => {
      child.kill("SIGTERM");
      const code = await exited;
      await Deno.remove(file);
      return code;
    },
  };
}

test("examples/node: the demo on node:http passes the e2e scenario over real HTTP", async () => {
  const demo = await startNodeDemo();
  try {
    assert.match(demo.origin, /^http:\/\/localhost:\d+$/);
    const result = await runScenario(demo.fetch, demo.origin);
    assert.equal(result.steps.length, SCENARIO_STEPS, result.steps.join("\n"));
    assert.deepEqual(result.tools, DEMO_TOOLS);
  } finally {
    await demo.stop();
  }
});

test("examples/node bridge: streamed request body, 413 on an oversized one, HEAD", async () => {
  const demo = await startNodeDemo();
  try {
    // A registration sent as a stream of chunks (no content-length).
    const json = JSON.stringify({
      redirect_uris: ["http://127.0.0.1:9/cb"],
      token_endpoint_auth_method: "none",
    });
    const chunks = [json.slice(0, 10), json.slice(10)].map((s) => new TextEncoder().encode(s));
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = chunks.shift();
        if (next) c.enqueue(next);
        else c.close();
      },
    });
    const reg = await demo.fetch(
      new Request(demo.origin + "/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      }),
    );
    assert.equal(reg.status, 201, await reg.clone().text());
    assert.match((await reg.json()).client_id, /\S/);

    // Its own connection: the server answers before reading the body and then closes it.
    const own = Deno.createHttpClient({});
    const big = await demo.fetch(
      new Request(demo.origin + "/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "x".repeat(200 * 1024),
      }),
      own,
    );
    assert.equal(big.status, 413);
    assert.equal(big.headers.get("connection"), "close");
    await big.body?.cancel();
    own.close();

    const head = await demo.fetch(
      new Request(demo.origin + "/.well-known/oauth-authorization-server", { method: "HEAD" }),
    );
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    const meta = await demo.fetch(
      new Request(demo.origin + "/.well-known/oauth-authorization-server"),
    );
    assert.equal((await meta.json()).issuer, demo.origin);
  } finally {
    await demo.stop();
  }
});

test("examples/node: a busy PORT is one line on stderr and exit 1", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String((busy.addr as Deno.NetAddr).port);
    const err = await startNodeDemo({ PORT: port }).then(
      () => assert.fail("started on a busy port"),
      (e: Error) => e.message,
    );
    assert.match(err, /^node exited 1/);
    assert.match(err, new RegExp(`Port ${port} is already in use. Pick another one with PORT=`));
  } finally {
    busy.close();
  }
});

test("examples/node/hono.ts: Gatehouse paths answered inside a Hono app served by the bridge", async () => {
  const { createServer } = await import("node:http");
  const { nodeListener } = await import("../examples/node/bridge.ts");
  const { createHonoApp } = await import("../examples/node/hono.ts");
  const origin = "http://localhost:8799";
  const { app } = createHonoApp(origin);
  const server = createServer(nodeListener((req) => app.fetch(req), () => origin));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const meta = await fetch(base + "/.well-known/oauth-authorization-server");
    assert.equal(meta.status, 200);
    assert.equal((await meta.json()).token_endpoint, `${origin}/token`);
    const prm = await fetch(base + "/.well-known/oauth-protected-resource/mcp");
    assert.equal((await prm.json()).resource, `${origin}/mcp`);
    const pre = await fetch(base + "/token", { method: "OPTIONS" });
    assert.equal(pre.status, 204);
    await pre.body?.cancel();
    const reg = await fetch(base + "/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: ["http://127.0.0.1:9/cb"],
        token_endpoint_auth_method: "none",
      }),
    });
    assert.equal(reg.status, 201);
    await reg.body?.cancel();
    const home = await fetch(base + "/");
    assert.equal(await home.text(), "your app", "other paths reach the app's routes");
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

/** The part of express 5's API the README's recipe and this test use. */
interface ExpressLike {
  (): {
    use(
      fn: (
        req: import("node:http").IncomingMessage,
        res: import("node:http").ServerResponse,
        next: (error?: unknown) => void,
      ) => void,
    ): void;
    use(middleware: unknown): void;
    post(path: string, fn: (req: { body: unknown }, res: { json(v: unknown): void }) => void): void;
    listen(port: number, host: string): import("node:http").Server;
  };
  json(): unknown;
}

test("README's Express recipe with the real express 5: Gatehouse answers its paths before any body parser; the rest reach the app", async () => {
  // express is not a dependency of this package: it is in node_modules as a dependency of the
  // MCP SDK 1.x (`@modelcontextprotocol/sdk`), which the tests use anyway.
  // No @types/express here: typed by the little of it this recipe uses.
  const express = (await import("express" as string)).default as ExpressLike;
  const { createAuthServer } = await import("../mod.ts");
  const { sendWebResponse, toWebRequest } = await import("../examples/node/bridge.ts");
  const origin = "https://mcp.example.com";
  const auth = createAuthServer({
    issuer: origin,
    resources: [`${origin}/mcp`],
    authenticate: (req) => req.headers.get("x-user") ?? new Response("sign in", { status: 401 }),
    quiet: true,
  });
  const app = express();
  // The recipe, as the README writes it.
  app.use((req, res, next) => {
    const request = toWebRequest(req, origin);
    if (!auth.owns(request)) return next();
    auth.handle(request).then((response) => sendWebResponse(res, response), next);
  });
  app.use(express.json());
  app.post("/notes", (req, res) => void res.json({ got: req.body }));
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((r) => server.once("listening", () => r()));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const meta = await fetch(base + "/.well-known/oauth-authorization-server");
    assert.equal(meta.status, 200);
    assert.equal((await meta.json()).token_endpoint, `${origin}/token`);
    // A JSON body reaches Gatehouse unread by express.json() (mounted after it).
    const reg = await fetch(base + "/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: ["http://127.0.0.1:9/cb"],
        token_endpoint_auth_method: "none",
      }),
    });
    assert.equal(reg.status, 201);
    const client = await reg.json();
    assert.equal(client.token_endpoint_auth_method, "none");
    // A form body too: a bad code is Gatehouse's own RFC 6749 error, not express's.
    const tok = await fetch(base + "/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: "nope",
        code_verifier: "v".repeat(43),
        redirect_uri: "http://127.0.0.1:9/cb",
        client_id: client.client_id,
      }),
    });
    assert.equal(tok.status, 400);
    assert.equal((await tok.json()).error, "invalid_grant");
    // Everything else is the app's: its body parser still works for its routes.
    const notes = await fetch(base + "/notes", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "milk" }),
    });
    assert.deepEqual(await notes.json(), { got: { text: "milk" } });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
