/**
 * Example (copy it into your app; not part of the published API): a small
 * bridge between `node:http` and Web-standard `Request`/`Response`, so a
 * fetch-style handler such as `auth.handle` runs on plain Node 20+.
 *
 * - Request bodies are streamed, not buffered (Gatehouse bounds what it reads).
 * - Response bodies are streamed with backpressure; every `Set-Cookie` is kept.
 * - A client that disconnects aborts `request.signal`.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The request body as a Web stream, with backpressure. Cancelling it (a handler that stops
 * reading, e.g. at its size cap) discards the rest instead of destroying the socket, so the
 * response can still be written.
 */
function requestBody(req: IncomingMessage): ReadableStream<Uint8Array> {
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.pause();
      req.on("data", (chunk: Uint8Array) => {
        if (done) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) req.pause();
      });
      req.once("end", () => {
        if (done) return;
        done = true;
        controller.close();
      });
      req.once("error", (e) => {
        if (done) return;
        done = true;
        controller.error(e);
      });
    },
    pull() {
      req.resume();
    },
    cancel() {
      done = true;
      req.resume();
    },
  });
}

/** Build a `Request` from a Node request. `origin` is your public origin (proxy-safe). */
export function toWebRequest(req: IncomingMessage, origin: string, signal?: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(":")) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(new URL(req.url ?? "/", origin), {
    method,
    headers,
    signal,
    body: hasBody ? requestBody(req) : undefined,
    // Node's fetch needs this for a streamed request body.
    ...(hasBody ? { duplex: "half" } : {}),
  } as RequestInit);
}

/** Write a `Response` to a Node response, streaming the body. */
export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers["set-cookie"] = cookies;
  res.writeHead(response.status, response.statusText || undefined, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          res.once("drain", resolve);
          res.once("close", resolve);
        });
      }
      if (res.destroyed) {
        await reader.cancel();
        return;
      }
    }
    res.end();
  } catch {
    res.destroy();
  }
}

/** Connection info handed to the handler, in `Deno.serve`'s shape (the client IP for rate limits). */
export interface NodeConnInfo {
  /** The socket's peer address. */
  remoteAddr: { hostname: string | undefined };
}

/**
 * A `node:http` request listener that runs `handler`. A handler that throws
 * gets a plain 500 (the error is logged); never a stack trace to the client.
 * The second argument is the socket address (`auth.handle(req, info)` uses it
 * for per-IP rate limits).
 */
export function nodeListener(
  handler: (req: Request, info: NodeConnInfo) => Response | Promise<Response>,
  origin: () => string,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const aborted = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) aborted.abort();
    });
    (async () => {
      let response: Response;
      try {
        response = await handler(toWebRequest(req, origin(), aborted.signal), {
          remoteAddr: { hostname: req.socket.remoteAddress },
        });
      } catch (e) {
        console.error(`[node bridge] handler failed on ${req.url}: ${(e as Error)?.name}`);
        response = new Response("Internal Server Error", { status: 500 });
      }
      // A handler may answer without reading the body (e.g. 413 on its declared size): close
      // the connection after this response rather than reuse one with an unread body on it.
      if (!req.complete) res.setHeader("connection", "close");
      await sendWebResponse(res, response);
    })();
  };
}
