/**
 * Bounded body reading (internal, dependency-free leaf module): every request
 * body the server reads and every response body Gatehouse fetches (JWKS,
 * introspection, Client ID Metadata Documents) goes through
 * {@linkcode readBounded}, which checks `Content-Length` first, reads the
 * stream chunk by chunk and abandons it (cancels the stream) as soon as the
 * cap is passed — at most `maxBytes` plus one chunk is ever held in memory.
 *
 * @module
 */

/** Why a body could not be read: over the cap, a broken/aborted stream, or too slow. */
export type BodyErrorReason = "too_large" | "unreadable" | "timeout";

/** The typed error {@linkcode readBounded} throws. */
export class BodyError extends Error {
  /** What went wrong. */
  readonly reason: BodyErrorReason;
  /** Create a body error. */
  constructor(reason: BodyErrorReason, message: string) {
    super(message);
    this.name = "BodyError";
    this.reason = reason;
  }
}

/** Options for {@linkcode readBounded}. */
export interface ReadBoundedOptions {
  /** Give up after this many ms (throws `BodyError("timeout")` and cancels the stream). */
  timeoutMs?: number;
  /** Abort reading when this signal fires (throws `BodyError("timeout")`). */
  signal?: AbortSignal;
}

type Source = ReadableStream<Uint8Array> | Request | Response | null | undefined;

function declaredLength(source: Source): number | undefined {
  if (!(source instanceof Request) && !(source instanceof Response)) return undefined;
  const h = source.headers.get("content-length");
  if (h === null) return undefined;
  return /^\s*\d+\s*$/.test(h) ? Number(h) : undefined;
}

/**
 * Read a body into memory, never more than `maxBytes` bytes.
 *
 * - `Request`/`Response`: a `Content-Length` above `maxBytes` is refused before
 *   any byte is read (the body is cancelled); then the stream is read with the
 *   same cap (a lying or absent `Content-Length` changes nothing).
 * - A `null`/absent body reads as an empty array.
 * - The stream is cancelled whenever reading stops early (cap, timeout, abort).
 *
 * @param source A stream, a Request or a Response (its body is consumed).
 * @param maxBytes The cap in bytes (inclusive: exactly `maxBytes` is accepted).
 * @param options Optional `timeoutMs` (ms) / `signal`.
 * @returns The body bytes.
 * @throws {BodyError} `too_large` over the cap, `timeout` when the time limit or
 *   signal fired first, `unreadable` when the stream errored or was already used.
 */
export async function readBounded(
  source: Source,
  maxBytes: number,
  options: ReadBoundedOptions = {},
): Promise<Uint8Array> {
  const stream = source instanceof Request || source instanceof Response ? source.body : source;
  const len = declaredLength(source);
  if (len !== undefined && len > maxBytes) {
    await stream?.cancel().catch(() => {});
    throw new BodyError("too_large", `body of ${len} bytes exceeds the ${maxBytes}-byte limit`);
  }
  if (!stream) {
    if ((source instanceof Request || source instanceof Response) && source.bodyUsed) {
      throw new BodyError("unreadable", "body was already read");
    }
    return new Uint8Array(0);
  }
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    reader = stream.getReader();
  } catch {
    throw new BodyError("unreadable", "body was already read");
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  let stop: ((e: BodyError) => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    stop = reject;
  });
  stopped.catch(() => {});
  const onAbort = () => stop!(new BodyError("timeout", "body read timed out"));
  const timer = options.timeoutMs !== undefined
    ? setTimeout(onAbort, Math.max(0, options.timeoutMs))
    : undefined;
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    while (true) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await Promise.race([reader.read(), stopped]);
      } catch (e) {
        throw e instanceof BodyError ? e : new BodyError("unreadable", "body could not be read");
      }
      if (r.done) break;
      const chunk = r.value;
      if (!(chunk instanceof Uint8Array)) {
        throw new BodyError("unreadable", "body stream yielded a non-byte chunk");
      }
      total += chunk.byteLength;
      if (total > maxBytes) {
        throw new BodyError("too_large", `body exceeds the ${maxBytes}-byte limit`);
      }
      chunks.push(chunk);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    try {
      reader.releaseLock();
    } catch {
      // a pending read keeps the lock until the cancel settles; nothing to do
    }
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** {@linkcode readBounded}, then strict UTF-8 decoding (invalid UTF-8 → `BodyError("unreadable")`). */
export async function readBoundedText(
  source: Source,
  maxBytes: number,
  options: ReadBoundedOptions = {},
): Promise<string> {
  const bytes = await readBounded(source, maxBytes, options);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new BodyError("unreadable", "body is not valid UTF-8");
  }
}

/** {@linkcode readBoundedText}, then `JSON.parse` (invalid JSON → `BodyError("unreadable")`). */
export async function readBoundedJson(
  source: Source,
  maxBytes: number,
  options: ReadBoundedOptions = {},
): Promise<unknown> {
  const text = await readBoundedText(source, maxBytes, options);
  try {
    return JSON.parse(text);
  } catch {
    throw new BodyError("unreadable", "body is not valid JSON");
  }
}

/**
 * Settle with `promise`, or reject with `BodyError("timeout")` when `signal`
 * fires first — for an injected `fetch` that ignores its `signal`.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(new BodyError("timeout", "timed out"));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new BodyError("timeout", "timed out"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
