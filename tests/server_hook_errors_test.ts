/**
 * App hooks that throw are reported, never swallowed: an `error` audit event
 * naming the hook, the endpoint and the error, plus one console line unless
 * `quiet`; the user still gets a generic page. Also runs the `mod.ts` landing
 * example (what JSR shows first) for real.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { AuditEvent, AuthServerConfig } from "../mod.ts";
import {
  authorizeQuery,
  consentFields,
  pkce,
  REDIRECT,
  register,
  testServer,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Run `fn` with console.error captured. */
async function captureConsole<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const orig = console.error;
  console.error = (...args: unknown[]) => {
    lines.push(args.map(String).join(" "));
  };
  try {
    return { value: await fn(), lines };
  } finally {
    console.error = orig;
  }
}

async function authorizeGet(s: TestServer): Promise<Response> {
  const c = await register(s);
  const { challenge } = await pkce();
  return s.call(authorizeQuery({
    response_type: "code",
    client_id: c.client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }));
}

const errors = (s: TestServer) => s.events.filter((e) => e.type === "error");

test("mod.ts landing example: the signed-out user is redirected to /login (absolute), no 500", async () => {
  const src = await Deno.readTextFile(ROOT + "mod.ts");
  const block = /```ts\n([\s\S]*?)```/.exec(src)?.[1];
  assert.ok(block, "mod.ts has a ts example");
  const code = block.split("\n").map((l) => l.replace(/^ \* ?/, "")).join("\n")
    .replace(/Deno\.serve\(/, "export const handler = (");
  assert.match(code, /export const handler/);
  await Deno.mkdir(ROOT + ".tmp", { recursive: true });
  const file = ROOT + `.tmp/mod_example_${crypto.randomUUID()}.ts`;
  await Deno.writeTextFile(file, code);
  try {
    const { value: mod, lines } = await captureConsole(() => import(file));
    const handler = mod.handler as (req: Request) => Promise<Response> | Response;
    const reg = await handler(
      new Request("https://mcp.example.com/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
      }),
    );
    assert.equal(reg.status, 201);
    const { client_id } = await reg.json();
    const { challenge } = await pkce();
    const url = "https://mcp.example.com" + authorizeQuery({
      response_type: "code",
      client_id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    const res = await handler(new Request(url));
    assert.equal(res.status, 302);
    const loc = new URL(res.headers.get("location")!);
    assert.equal(loc.origin + loc.pathname, "https://mcp.example.com/login");
    assert.equal(loc.searchParams.get("next"), url);
    // Signed in (the example's cookie) → the consent page.
    const page = await handler(new Request(url, { headers: { cookie: "uid=alice" } }));
    assert.equal(page.status, 200);
    assert.match(await page.text(), /alice/);
    assert.ok(!lines.some((l) => l.includes("hook threw")), lines.join("\n"));
  } finally {
    await Deno.remove(file);
  }
});

test("authenticate throwing on GET /authorize → error event + console line; generic page", async () => {
  // The mistake the old landing example made: a relative Response.redirect throws.
  const cfg: Partial<AuthServerConfig> = {
    authenticate: () => Response.redirect("/login"),
    quiet: false,
  };
  const { value: [s, res], lines } = await captureConsole(async () => {
    const s = await testServer(cfg);
    return [s, await authorizeGet(s)] as const;
  });
  assert.equal(res.status, 500);
  const page = await res.text();
  assert.match(page, /Sign-in failed/);
  assert.ok(
    !page.includes("TypeError") && !page.includes("/login"),
    "no error details to the user",
  );
  const [ev, ...more] = errors(s);
  assert.equal(more.length, 0);
  assert.equal(ev.hook, "authenticate");
  assert.equal(ev.endpoint, "/authorize");
  assert.match(ev.error!, /^TypeError: /);
  assert.equal(typeof ev.at, "number");
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0], /^\[gatehouse\] authenticate hook threw on \/authorize: TypeError: /);
  assert.ok(!lines[0].includes("\n    at "), "no stack trace");
});

test("quiet: the event is still delivered, the console stays silent", async () => {
  const { value: s, lines } = await captureConsole(async () => {
    const s = await testServer({
      quiet: true,
      authenticate: () => Promise.reject(new RangeError("session store offline")),
    });
    assert.equal((await authorizeGet(s)).status, 500);
    return s;
  });
  assert.deepEqual(lines, []);
  assert.equal(errors(s)[0]?.error, "RangeError: session store offline");
});

test("authenticate throwing on the consent POST is reported too (not a silent 403)", async () => {
  let calls = 0;
  const s = await testServer({
    authenticate: () => {
      if (++calls > 1) throw new Error("cookie decode failed");
      return "alice";
    },
  });
  const page = await authorizeGet(s);
  assert.equal(page.status, 200);
  const res = await s.form("/authorize", {
    ...consentFields(await page.text()),
    decision: "approve",
  });
  assert.equal(res.status, 500);
  assert.equal(res.headers.get("location"), null);
  const ev = errors(s)[0];
  assert.deepEqual([ev.hook, ev.endpoint, ev.error], [
    "authenticate",
    "/authorize",
    "Error: cookie decode failed",
  ]);
  assert.equal(s.events.filter((e) => e.type === "authorization.granted").length, 0);
});

test("renderConsent throwing → error event naming renderConsent; generic 500 page", async () => {
  const s = await testServer({
    renderConsent: () => {
      throw new Error("template missing");
    },
  });
  const res = await authorizeGet(s);
  assert.equal(res.status, 500);
  assert.match(res.headers.get("content-type")!, /text\/html/);
  assert.ok(!(await res.text()).includes("template missing"));
  const ev = errors(s)[0];
  assert.deepEqual([ev.hook, ev.endpoint, ev.error], [
    "renderConsent",
    "/authorize",
    "Error: template missing",
  ]);
});

test("onEvent throwing or rejecting → reported as an error event for hook onEvent; request unaffected", async () => {
  for (const mode of ["throw", "reject"] as const) {
    const seen: AuditEvent[] = [];
    const { value: res, lines } = await captureConsole(async () => {
      const s = await testServer({
        quiet: false,
        onEvent: (e) => {
          seen.push(e);
          if (e.type === "client.registered") {
            if (mode === "throw") throw new Error("audit sink down");
            return Promise.reject(new Error("audit sink down"));
          }
        },
      });
      const r = await s.call("/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
      });
      await Promise.resolve(); // the rejection handler is a microtask
      return r;
    });
    assert.equal(res.status, 201, mode);
    const err = seen.find((e) => e.type === "error");
    assert.ok(err, mode);
    assert.deepEqual([err.hook, err.endpoint, err.error], [
      "onEvent",
      "/register",
      "Error: audit sink down",
    ]);
    assert.equal(
      lines.filter((l) => l.includes("onEvent hook threw on /register")).length,
      1,
      mode,
    );
  }
});

test("an onEvent that also throws on the error event is not called in a loop", async () => {
  let calls = 0;
  const { value: res, lines } = await captureConsole(async () => {
    const s = await testServer({
      quiet: false,
      onEvent: () => {
        calls++;
        throw new Error("always broken");
      },
    });
    return s.call("/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
    });
  });
  assert.equal(res.status, 201);
  assert.equal(calls, 2, "the event, then the error event, then nothing more");
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(lines[1], /while reporting an error/);
});

test("a registration policy that throws is reported and refuses (403)", async () => {
  const s = await testServer({
    registration: () => {
      throw new Error("policy db down");
    },
  });
  const res = await s.call("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
  });
  assert.equal(res.status, 403);
  const ev = errors(s)[0];
  assert.deepEqual([ev.hook, ev.endpoint], ["registration", "/register"]);
});
