/**
 * Start a throwaway `redis-server` on a free loopback port (no persistence),
 * for tests. Needs the `redis-server` binary (Debian: `apt-get install -y
 * redis-server`); set `REDIS_SERVER` to use another path.
 *
 * @module
 */
import { RespConnection } from "./resp.ts";

/** A running (or stopped, restartable) redis-server. */
export interface RedisServer {
  /** The loopback TCP port it listens on (stable across restarts). */
  readonly port: number;
  /** True while the process is running. */
  readonly running: boolean;
  /** Stop the process (SIGTERM) and wait for it to exit. */
  stop(): Promise<void>;
  /** Start it again on the same port (empty: nothing is persisted). */
  restart(): Promise<void>;
  /** Freeze the process (SIGSTOP): connections stay open but nothing answers. */
  pause(): void;
  /** Resume a paused process (SIGCONT). */
  resume(): void;
}

/** Ask the OS for a free loopback TCP port. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

interface Running {
  child: Deno.ChildProcess;
  drained: Promise<void>;
}

async function launch(binary: string, port: number): Promise<Running> {
  const child = new Deno.Command(binary, {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "no",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // redis logs "Ready to accept connections" once it listens: wait for that
  // line rather than polling the port, then keep draining its log.
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  let ready = false;
  while (!ready) {
    const { value, done } = await lines.read();
    if (done) {
      const status = await child.status;
      throw new Error(`redis-server exited (${status.code}) before it was ready:\n${log}`);
    }
    log += value;
    ready = log.includes("Ready to accept connections");
  }
  const drained = (async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })();
  return { child, drained };
}

/** Start redis-server on a free loopback port and wait until it answers PING. */
export async function startRedis(options: { binary?: string } = {}): Promise<RedisServer> {
  const binary = options.binary ?? Deno.env.get("REDIS_SERVER") ?? "redis-server";
  const port = freePort();
  let current: Running | undefined = await launch(binary, port);
  const ping = async () => {
    const conn = await RespConnection.connect(port);
    try {
      const reply = await conn.command("PING");
      if (reply !== "PONG") throw new Error(`redis answered PING with ${String(reply)}`);
    } finally {
      await conn.close();
    }
  };
  await ping();
  return {
    port,
    get running() {
      return current !== undefined;
    },
    async stop() {
      if (!current) return;
      const { child, drained } = current;
      current = undefined;
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      await child.status;
      await drained;
    },
    async restart() {
      if (current) return;
      current = await launch(binary, port);
      await ping();
    },
    pause() {
      current?.child.kill("SIGSTOP");
    },
    resume() {
      current?.child.kill("SIGCONT");
    },
  };
}
