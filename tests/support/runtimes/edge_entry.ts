/**
 * The demo app as a Vercel Edge function script for `edge-runtime`: bundled
 * as an IIFE and loaded with `new EdgeRuntime({ initialCode })`. The signing
 * key comes from `globalThis.SIGNING_JWK` (the runner sets it through
 * `extend`); state is in memory (edge functions have no binding of their own;
 * a deployment would use the Upstash driver, tested elsewhere).
 *
 * @module
 */
import { memoryStorage } from "../../../storage/memory.ts";
import { demoHandler } from "./app_factory.ts";

interface FetchEvent {
  request: Request;
  respondWith(r: Response | Promise<Response>): void;
}

const handler = demoHandler(
  () => memoryStorage(),
  () => JSON.parse((globalThis as { SIGNING_JWK?: string }).SIGNING_JWK ?? "null") ?? undefined,
);

addEventListener("fetch", (event) => {
  const e = event as unknown as FetchEvent;
  e.respondWith(handler(e.request));
});
