/**
 * A fixed-window call counter on the storage contract (internal).
 *
 * The storage contract has no atomic increment, only `swap`, so each call claims a numbered
 * slot: read the hint (`["mcp-rate", who, window]` → next free slot), then `swap` a marker into
 * `["mcp-rate", who, window, n]`; the caller that saw the slot empty owns call number `n`,
 * everyone else moves to `n + 1`. On a strong driver every call gets a distinct number, so the
 * limit is exact under concurrency; a typical call costs one get, one swap and one set. Keys
 * expire with their window.
 *
 * (General rate limiting for the authorization server lives in `src/limits/`, built in
 * parallel; this counter is the MCP tool-call one and needs nothing beyond `Storage`.)
 *
 * @module
 */
import { envelope, isLive, type Storage } from "../../storage/mod.ts";

/** Outcome of {@linkcode takeSlot}. */
export interface SlotResult {
  /** True when the call is within the limit. */
  ok: boolean;
  /** Seconds until the window ends (the `Retry-After` value when refused). */
  retryAfter: number;
  /** The call's number in this window (1-based); `limit + 1` when refused. */
  count: number;
}

/**
 * Counts one call for `who` in the current `windowSeconds` window against `limit`.
 * Refused calls are not counted beyond `limit + 1`.
 */
export async function takeSlot(
  storage: Storage,
  who: readonly string[],
  limit: number,
  windowSeconds: number,
  now: number = Date.now(),
): Promise<SlotResult> {
  const windowMs = windowSeconds * 1000;
  const start = Math.floor(now / windowMs) * windowMs;
  const exp = start + windowMs;
  const retryAfter = Math.max(1, Math.ceil((exp - now) / 1000));
  const base = ["mcp-rate", ...who, String(start)];
  const hint = await storage.get(base);
  let n = hint && isLive(hint) && typeof hint.data === "number" ? hint.data : 0;
  for (; n < limit; n++) {
    const prev = await storage.swap([...base, String(n)], envelope(1, exp));
    if (!prev || !isLive(prev)) {
      await storage.set(base, envelope(n + 1, exp));
      return { ok: true, retryAfter, count: n + 1 };
    }
  }
  return { ok: false, retryAfter, count: limit + 1 };
}
