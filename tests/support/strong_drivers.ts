/**
 * The storage drivers, each on its real backend, for tests that must hold on
 * every one: memory, Deno KV (in-memory database), Upstash (`@upstash/redis` →
 * REST bridge → redis-server) and a Durable Object inside workerd (Miniflare),
 * plus Workers KV (eventually consistent: measured, not held to single use).
 * Call {@link openStrongDrivers} in `before`, `close` in `after`; describe
 * blocks loop over {@link STRONG_DRIVERS} / {@link ALL_DRIVERS} and take the
 * driver with `byName` inside the test.
 *
 * @module
 */
import { Redis } from "@upstash/redis";
import { memoryStorage } from "../../storage/memory.ts";
import { denoKvStorage } from "../../storage/deno_kv.ts";
import { upstashStorage } from "../../storage/upstash.ts";
import type { Storage } from "../../storage/mod.ts";
import { type RedisServer, startRedis } from "./redis.ts";
import { startUpstashBridge, type UpstashBridge } from "./upstash_bridge.ts";
import { startWorkerd } from "./workerd.ts";

/** One driver: a factory giving a fresh, isolated store on each call. */
export interface DriverUnderTest {
  name: string;
  /** Atomic single use holds (every driver but Workers KV). */
  strong: boolean;
  make: () => Storage;
}

/** Names in the order {@link openStrongDrivers} returns them in `drivers`. */
export const STRONG_DRIVERS = ["memory", "deno-kv", "upstash+redis", "workerd durable object"];

/** {@link STRONG_DRIVERS} then Workers KV: the order of `all`. */
export const ALL_DRIVERS = [...STRONG_DRIVERS, "workerd workers kv"];

/** The opened backends; see {@link openStrongDrivers}. */
export interface OpenDrivers {
  /** The strong drivers, in {@link STRONG_DRIVERS} order. */
  drivers: DriverUnderTest[];
  /** Eventual consistency: for measuring what can happen, not for asserting single use. */
  workersKv: DriverUnderTest;
  /** `drivers` then `workersKv`, in {@link ALL_DRIVERS} order. */
  all: DriverUnderTest[];
  /** The driver called `name` (one of {@link ALL_DRIVERS}); throws on an unknown name. */
  byName: (name: string) => DriverUnderTest;
  /** A fresh Upstash store (own key prefix) on the shared bridge. */
  upstash: () => Storage;
  /** The redis-server behind the Upstash bridge (stop/restart it for fault tests). */
  redis: RedisServer;
  bridge: UpstashBridge;
  close: () => Promise<void>;
}

/**
 * Start every backend; `close` stops them.
 * `bridgeTimeoutMs`: the Upstash bridge's per-request timeout in ms (default 2000).
 */
export async function openStrongDrivers(
  options: { bridgeTimeoutMs?: number } = {},
): Promise<OpenDrivers> {
  const kv = await Deno.openKv(":memory:");
  const redis = await startRedis();
  const bridge = await startUpstashBridge({
    redisPort: redis.port,
    timeoutMs: options.bridgeTimeoutMs ?? 2000,
  });
  const workerd = await startWorkerd();
  let n = 0;
  const upstash = (): Storage =>
    upstashStorage(new Redis({ url: bridge.url, token: bridge.token, retry: false }), {
      prefix: `s${++n}:`,
    });
  const drivers: DriverUnderTest[] = [
    { name: "memory", strong: true, make: () => memoryStorage() },
    {
      name: "deno-kv",
      strong: true,
      make: () => denoKvStorage(kv, { prefix: ["s", String(++n)] }),
    },
    { name: "upstash+redis", strong: true, make: upstash },
    {
      name: "workerd durable object",
      strong: true,
      make: () => workerd.storage("do", `race-${++n}`),
    },
  ];
  const workersKv: DriverUnderTest = {
    name: "workerd workers kv",
    strong: false,
    make: () => workerd.storage("kv", `race-${++n}`),
  };
  const all = [...drivers, workersKv];
  return {
    drivers,
    workersKv,
    all,
    byName: (name) => {
      const d = all.find((x) => x.name === name);
      if (!d) throw new Error(`no driver ${name}`);
      return d;
    },
    upstash,
    redis,
    bridge,
    close: async () => {
      kv.close();
      await bridge.close();
      await redis.stop();
      await workerd.dispose();
    },
  };
}
