/**
 * A small Upstash REST bridge for tests: speaks the Upstash Redis REST
 * protocol over HTTP on a loopback port and forwards every command to a real
 * redis-server over RESP. The real `@upstash/redis` (or `@vercel/kv`) client
 * can then be pointed at it.
 *
 * Protocol (the subset clients use): `POST /` with a JSON array command,
 * `POST /pipeline` and `POST /multi-exec` with an array of commands;
 * `Authorization: Bearer <token>`; replies `{result}` or `{error}` (arrays of
 * those for pipelines). With `Upstash-Encoding: base64`, string results are
 * base64 (UTF-8 bytes) except the status reply `"OK"`.
 *
 * @module
 */
import { RespConnection, RespError } from "./resp.ts";
import type { RespValue } from "./resp.ts";

/** Options for {@link startUpstashBridge}. */
export interface UpstashBridgeOptions {
  /** Port of the redis-server to forward to (on 127.0.0.1). */
  redisPort: number;
  /** Bearer token clients must send (default: a random one). */
  token?: string;
  /** Fail a request with an error reply if Redis has not answered within this many ms (default 2000). */
  timeoutMs?: number;
}

/** A running bridge. */
export interface UpstashBridge {
  /** Base URL to give the client, e.g. `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The bearer token it accepts. */
  readonly token: string;
  /** Number of HTTP requests served (for tests that count round trips). */
  readonly requests: number;
  /** Stop serving and close the Redis connection. */
  close(): Promise<void>;
}

type Json = string | number | null | Json[];

function toJson(value: RespValue, base64: boolean): Json {
  if (value instanceof Uint8Array) {
    if (!base64) return new TextDecoder().decode(value);
    let bin = "";
    for (const b of value) bin += String.fromCharCode(b);
    return btoa(bin);
  }
  if (typeof value === "string") {
    return !base64 || value === "OK" ? value : btoa(
      Array.from(new TextEncoder().encode(value), (b) => String.fromCharCode(b)).join(""),
    );
  }
  if (Array.isArray(value)) return value.map((v) => toJson(v, base64));
  if (value instanceof RespError) throw value;
  return value;
}

function reply(value: RespValue, base64: boolean): { result: Json } | { error: string } {
  if (value instanceof RespError) return { error: value.message };
  try {
    return { result: toJson(value, base64) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function isCommand(x: unknown): x is (string | number | boolean)[] {
  return Array.isArray(x) && x.length > 0 &&
    x.every((a) => ["string", "number", "boolean"].includes(typeof a));
}

/** Start the bridge on a free loopback port. */
export function startUpstashBridge(options: UpstashBridgeOptions): Promise<UpstashBridge> {
  const token = options.token ?? crypto.randomUUID();
  const timeoutMs = options.timeoutMs ?? 2000;
  let conn: Promise<RespConnection> | undefined;
  let requests = 0;
  const connection = async (): Promise<RespConnection> => {
    const current = conn;
    if (current) {
      const c = await current.catch(() => undefined);
      if (c && !c.closed) return c;
      if (conn !== current) return connection();
    }
    conn = RespConnection.connect(options.redisPort);
    return conn;
  };

  const send = async (commands: (string | number | boolean)[][]): Promise<RespValue[]> => {
    const c = await connection();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // The connection's reply order can no longer be trusted: drop it.
        c.close().catch(() => {});
        reject(new Error(`redis did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([c.send(commands), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json" },
    });

  const handler = async (req: Request): Promise<Response> => {
    requests++;
    if (req.method !== "POST") return json({ error: "method not allowed" }, 405);
    if (req.headers.get("authorization") !== `Bearer ${token}`) {
      return json({ error: "Unauthorized" }, 401);
    }
    const base64 = req.headers.get("upstash-encoding")?.toLowerCase() === "base64";
    const path = new URL(req.url).pathname.replace(/\/+$/, "") || "/";
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return json({ error: "ERR request body is not JSON" }, 400);
    }
    try {
      if (path === "/") {
        if (!isCommand(body)) return json({ error: "ERR expected a command array" }, 400);
        const [value] = await send([body]);
        const r = reply(value, base64);
        return json(r, "error" in r ? 400 : 200);
      }
      if (path === "/pipeline" || path === "/multi-exec") {
        if (!Array.isArray(body) || !body.every(isCommand)) {
          return json({ error: "ERR expected an array of command arrays" }, 400);
        }
        if (path === "/pipeline") {
          return json((await send(body)).map((v) => reply(v, base64)));
        }
        const replies = await send([["MULTI"], ...body, ["EXEC"]]);
        const exec = replies[replies.length - 1];
        if (exec instanceof RespError) return json({ error: exec.message }, 400);
        if (!Array.isArray(exec)) return json({ error: "ERR transaction aborted" }, 400);
        return json(exec.map((v) => reply(v, base64)));
      }
      return json({ error: `ERR unknown path ${path}` }, 404);
    } catch (err) {
      // Redis unreachable, closed or too slow: the real service answers 5xx too.
      return json({ error: `ERR redis unavailable: ${(err as Error).message}` }, 503);
    }
  };

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
    }, handler);
    const port = server.addr.port;
    resolve({
      url: `http://127.0.0.1:${port}`,
      token,
      get requests() {
        return requests;
      },
      async close() {
        await server.shutdown();
        const c = await conn?.catch(() => undefined);
        await c?.close();
      },
    });
  });
}
