/**
 * A workerd harness for Deno tests: bundles `storage_worker.ts` with esbuild,
 * runs it in Miniflare (real workerd, local KV and Durable Objects) and gives
 * back {@link Storage} objects whose every operation is forwarded with
 * `dispatchFetch` to the real driver running inside the Worker.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { Miniflare } from "miniflare";
import type { Envelope, Storage, StorageEntry, StorageKey } from "../../storage/mod.ts";
import { StorageError } from "../../storage/mod.ts";

/** Drivers the worker exposes. */
export type WorkerdDriver = "kv" | "do" | "do-sqlite" | "do-fetch" | "do-plain";

/** A running workerd with the storage worker loaded. */
export interface WorkerdHarness {
  /** The Miniflare instance (for direct `dispatchFetch` or bindings). */
  readonly mf: Miniflare;
  /** A Storage whose ops run `driver` inside workerd, isolated by `namespace`. */
  storage(driver: WorkerdDriver, namespace: string): Storage;
  /** POST a JSON body to the worker at `path` and return the parsed reply. */
  post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Stop workerd. */
  dispose(): Promise<void>;
}

/** Bundle `storage_worker.ts` (and the drivers it imports) into one ES module. */
export async function bundleStorageWorker(): Promise<string> {
  try {
    const result = await esbuild.build({
      entryPoints: [fileURLToPath(new URL("./storage_worker.ts", import.meta.url))],
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      write: false,
      logLevel: "silent",
    });
    return result.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
}

/** Start workerd with the storage worker, a KV namespace and three Durable Object classes. */
export async function startWorkerd(): Promise<WorkerdHarness> {
  const script = await bundleStorageWorker();
  const mf = new Miniflare({
    modules: true,
    script,
    compatibilityDate: "2026-04-01",
    kvNamespaces: ["KV"],
    durableObjects: {
      STORE: "GatehouseStorageObject",
      STORE_SQL: { className: "SmallPageStorageObject", useSQLite: true },
      STORE_PLAIN: "PlainStorageObject",
    },
  });
  await mf.ready;
  const post = async (path: string, body: unknown) => {
    const res = await mf.dispatchFetch(`http://storage.test${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() as Record<string, unknown> };
  };
  const storage = (driver: WorkerdDriver, namespace: string): Storage => {
    const path = `/${driver}/${encodeURIComponent(namespace)}`;
    const call = async (body: unknown): Promise<Record<string, unknown>> => {
      const reply = await post(path, body);
      const error = reply.body.error as { name: string; message: string } | undefined;
      if (error) {
        throw error.name === "StorageError" ? new StorageError(error.message) : new Error(
          `${error.name}: ${error.message}`,
        );
      }
      return reply.body;
    };
    return {
      name: `workerd:${driver}`,
      consistency: driver === "kv" ? "eventual" : "strong",
      get: async (key: StorageKey) =>
        ((await call({ op: "get", key })).value as Envelope | null) ?? undefined,
      set: async (key: StorageKey, value: Envelope) => {
        await call({ op: "set", key, value });
      },
      delete: async (key: StorageKey) => {
        await call({ op: "delete", key });
      },
      swap: async (key: StorageKey, value: Envelope) =>
        ((await call({ op: "swap", key, value })).value as Envelope | null) ?? undefined,
      compareAndSwap: async (key: StorageKey, expected: Envelope | undefined, value: Envelope) =>
        (await call({ op: "cas", key, expected: expected ?? null, value })).ok === true,
      list: async (prefix: StorageKey, options = {}) =>
        (await call({ op: "list", prefix, limit: options.limit })).entries as StorageEntry[],
      // Workers KV has no atomic increment (the limiter falls back to get + compareAndSwap).
      ...(driver === "kv" ? {} : {
        increment: async (key: StorageKey, exp: number) =>
          (await call({ op: "increment", key, exp })).count as number,
      }),
    };
  };
  return { mf, storage, post, dispose: () => mf.dispose() };
}
