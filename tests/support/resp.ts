/**
 * A minimal RESP2 client over `Deno.connect`, enough for the Upstash REST
 * bridge and the Redis launcher: pipelined commands on one connection,
 * replies matched to requests in order.
 *
 * @module
 */

/** An error reply from Redis (`-ERR …`). */
export class RespError extends Error {
  /** Wrap a Redis error reply. */
  constructor(message: string) {
    super(message);
    this.name = "RespError";
  }
}

/** A decoded reply: simple strings as `string`, bulk strings as bytes. */
export type RespValue = string | number | null | Uint8Array | RespError | RespValue[];

const CRLF = new Uint8Array([13, 10]);
const encoder = new TextEncoder();

/** Encode one command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly (string | number | boolean)[]): Uint8Array {
  const parts: Uint8Array[] = [encoder.encode(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = encoder.encode(String(arg));
    parts.push(encoder.encode(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Parse one reply at `at`; `undefined` when the buffer does not yet hold all of it. */
function parse(buf: Uint8Array, at: number): { value: RespValue; next: number } | undefined {
  let eol = -1;
  for (let i = at + 1; i < buf.length - 1; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10) {
      eol = i;
      break;
    }
  }
  if (eol < 0) return undefined;
  const line = new TextDecoder().decode(buf.subarray(at + 1, eol));
  const next = eol + 2;
  switch (String.fromCharCode(buf[at])) {
    case "+":
      return { value: line, next };
    case "-":
      return { value: new RespError(line), next };
    case ":":
      return { value: Number(line), next };
    case "$": {
      const len = Number(line);
      if (len < 0) return { value: null, next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.slice(next, next + len), next: next + len + 2 };
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: RespValue[] = [];
      let pos = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.next;
      }
      return { value: items, next: pos };
    }
    default:
      throw new RespError(`protocol error: unexpected reply type ${buf[at]}`);
  }
}

interface Pending {
  resolve(value: RespValue): void;
  reject(err: Error): void;
}

/** One pipelined connection to Redis. */
export class RespConnection {
  #conn: Deno.Conn;
  #pending: Pending[] = [];
  #buf: Uint8Array = new Uint8Array(0);
  #closed = false;
  #reading: Promise<void>;
  #writing: Promise<void> = Promise.resolve();

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#reading = this.#readLoop();
  }

  /** Connect to Redis on `hostname:port`. */
  static async connect(port: number, hostname = "127.0.0.1"): Promise<RespConnection> {
    return new RespConnection(await Deno.connect({ hostname, port }));
  }

  /** True once the connection failed or was closed; open a new one then. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Send `commands` back to back (nothing else interleaves on the wire) and
   * resolve with their replies, in order.
   */
  send(commands: readonly (readonly (string | number | boolean)[])[]): Promise<RespValue[]> {
    if (this.#closed) return Promise.reject(new Error("redis connection closed"));
    const replies = commands.map(() =>
      new Promise<RespValue>((resolve, reject) => this.#pending.push({ resolve, reject }))
    );
    const bytes = concat(commands.map(encodeCommand));
    this.#writing = this.#writing.then(async () => {
      let at = 0;
      while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
    }).catch((err) => this.#fail(err));
    return Promise.all(replies);
  }

  /** Send one command and resolve with its reply. */
  async command(...args: (string | number)[]): Promise<RespValue> {
    return (await this.send([args]))[0];
  }

  /** Close the connection, failing any reply still awaited. */
  async close(): Promise<void> {
    this.#fail(new Error("redis connection closed"));
    await this.#writing;
    await this.#reading;
  }

  #fail(err: unknown): void {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }
    const error = err instanceof Error ? err : new Error(String(err));
    for (const p of this.#pending.splice(0)) p.reject(error);
  }

  async #readLoop(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await this.#conn.read(chunk);
        if (n === null) throw new Error("redis closed the connection");
        this.#buf = concat([this.#buf, chunk.subarray(0, n)]);
        let at = 0;
        while (at < this.#buf.length) {
          const reply = parse(this.#buf, at);
          if (!reply) break;
          at = reply.next;
          this.#pending.shift()?.resolve(reply.value);
        }
        this.#buf = this.#buf.slice(at);
      }
    } catch (err) {
      this.#fail(err);
    }
  }
}
