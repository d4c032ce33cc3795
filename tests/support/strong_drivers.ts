/**
 * The strong storage drivers, each on its real backend, for tests that must
 * hold on every one: memory, Deno KV (in-memory database), Upstash
 * (`@upstash/redis` → REST bridge → redis-server) and a Durable Object inside
 * workerd (Miniflare). Call {@link openStrongDrivers} in `before`, `close` in `after`.
 *
 * @module
 */
import { Redis } from "@upstash/redis";
import { memoryStorage } from "../../storage/memory.ts";
import { denoKvStorage } from "../../storage/deno_kv.ts";
import { upstashStorage } from "../../storage/upstash.ts";
import type { Storage } from "../../storage/mod.ts";
import { startRedis } from "./redis.ts";
import { startUpstashBridge } from "./upstash_bridge.ts";
import { startWorkerd } from "./workerd.ts";

/** One driver: a factory giving a fresh, isolated store on each call. */
export interface DriverUnderTest {
  name: string;
  make: () => Storage;
}

/** Names in the order {@link openStrongDrivers} returns them. */
export const STRONG_DRIVERS = ["memory", "deno-kv", "upstash+redis", "workerd durable object"];

/** Start every backend; `close` stops them. */
export async function openStrongDrivers(): Promise<
  { drivers: DriverUnderTest[]; workersKv: DriverUnderTest; close: () => Promise<void> }
> {
  const kv = await Deno.openKv(":memory:");
  const redis = await startRedis();
  const bridge = await startUpstashBridge({ redisPort: redis.port, timeoutMs: 2000 });
  const workerd = await startWorkerd();
  let n = 0;
  const drivers: DriverUnderTest[] = [
    { name: "memory", make: () => memoryStorage() },
    { name: "deno-kv", make: () => denoKvStorage(kv, { prefix: ["s", String(++n)] }) },
    {
      name: "upstash+redis",
      make: () =>
        upstashStorage(new Redis({ url: bridge.url, token: bridge.token, retry: false }), {
          prefix: `s${++n}:`,
        }),
    },
    { name: "workerd durable object", make: () => workerd.storage("do", `race-${++n}`) },
  ];
  return {
    drivers,
    // Eventual consistency: for measuring what can happen, not for asserting single use.
    workersKv: { name: "workerd workers kv", make: () => workerd.storage("kv", `race-${++n}`) },
    close: async () => {
      kv.close();
      await bridge.close();
      await redis.stop();
      await workerd.dispose();
    },
  };
}
