/**
 * Review of the issue-12 performance changes (config validation rewrite, Durable Object RPC
 * transport, Workers KV prefetch, verify fast path): each test pins a behaviour the change
 * must keep, found by comparing the new code with the previous release's on edge cases.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, createAuthServer } from "../mod.ts";
import type { AuthServerConfig } from "../mod.ts";

const base = (): Record<string, unknown> => ({
  issuer: "https://as.example.com",
  resources: ["https://mcp.example.com/mcp"],
  authenticate: () => "alice",
  quiet: true,
});

function refused(config: Record<string, unknown>, field: string): void {
  assert.throws(
    () => createAuthServer(config as unknown as AuthServerConfig),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `ConfigError, got ${e}`);
      assert.ok(e.message.includes(`"${field}`), `names ${field}: ${e.message}`);
      return true;
    },
  );
}

test("config: an unknown field named like an Object.prototype member, or empty, is refused", () => {
  for (
    const k of [
      "constructor",
      "toString",
      "hasOwnProperty",
      "valueOf",
      "__proto__",
      "",
      "__defineGetter__",
    ]
  ) {
    const own = base();
    Object.defineProperty(own, k, {
      value: 1,
      enumerable: true,
      configurable: true,
      writable: true,
    });
    refused(own, "(config)");
    refused({ ...JSON.parse(`{${JSON.stringify(k)}: 1}`), ...base() }, "(config)");
  }
});

test("config: scope maps and rate limits must be plain objects (a Map, Date or RegExp was accepted and ignored)", () => {
  for (
    const odd of [
      new Map([["mcp:admin", ["mcp:read"]]]),
      new Date(0),
      /x/,
      new (class Hierarchy {})(),
    ]
  ) {
    refused({ ...base(), scopeHierarchy: odd }, "scopeHierarchy");
    refused({ ...base(), scopeDescriptions: odd }, "scopeDescriptions");
    refused({ ...base(), rateLimits: odd }, "rateLimits");
  }
  refused({ ...base(), scopeDescriptions: new String("x") }, "scopeDescriptions");
  // Plain and null-prototype objects still pass.
  for (const make of [() => ({}), () => Object.create(null)]) {
    const h = Object.assign(make(), { "mcp:admin": ["mcp:read"] });
    const d = Object.assign(make(), { "mcp:read": "Read" });
    const r = Object.assign(make(), { token: { ip: false } });
    createAuthServer(
      { ...base(), scopeHierarchy: h, scopeDescriptions: d, rateLimits: r } as never,
    );
  }
});

test("store prefetch: a driver hint that throws synchronously or returns no promise changes nothing", async () => {
  const { Store } = await import("../src/_store.ts");
  const { memoryStorage } = await import("../mod.ts");
  for (
    const prefetch of [
      () => {
        throw new Error("sync failure");
      },
      () => undefined,
      () => Promise.reject(new Error("async failure")),
      () => ({ then: 1 }),
    ]
  ) {
    const driver = { ...memoryStorage(), prefetch } as unknown as import("../mod.ts").Storage;
    const store = new Store(driver, Date.now);
    // Never throws, never rejects: the consent answer's outcome does not depend on the hint.
    await store.prefetch(["grant", "g"]);
  }
});
