/**
 * Confirmation tokens and exactly-once execution for mutating MCP tools (internal).
 *
 * Built only on the storage contract's `get`/`set`/`swap`:
 * - a confirmation token is 256 random bits; only its SHA-256 is stored, at
 *   `["mcp-confirm", sha256(token)]`, with the subject, client, tool, the arguments and their
 *   hash, expiring after 5 minutes. It is bound: a caller whose subject or client differs is
 *   refused after a read, before any write, so the rightful owner can still use it.
 * - an idempotency record at `["mcp-idem", sha256([subject, client, key])]` decides who
 *   executes. Every confirmer `swap`s a `running` marker in; the one that saw nothing there is
 *   the executor, and only the executor consumes the confirmation token (a second `swap`, to a
 *   tombstone).
 *   A confirmer that displaced a finished record writes it back and returns the stored result;
 *   one that displaced a `running` marker waits (polling) for the executor's result.
 *
 * On a strong driver (`swap` atomic) this is exactly once per idempotency key and per
 * confirmation token. On Workers KV (`consistency: "eventual"`) two confirms racing within KV's
 * propagation window can both execute; use a Durable Object for mutating tools there.
 *
 * @module
 */
import { envelope, isLive, type Storage } from "../../storage/mod.ts";
import { randomToken, sha256, timingSafeEqual } from "../_crypto.ts";

/** Who is confirming (from the verified token). */
export interface Principal {
  subject: string;
  clientId: string;
}

/** What a confirmation token stands for. */
export interface PendingMutation {
  subject: string;
  clientId: string;
  tool: string;
  args: Record<string, unknown>;
  argsHash: string;
  preview: string;
  /** How it may be confirmed: only by answering the elicitation, or by the `confirm` tool. */
  via?: "elicitation" | "confirm_tool";
}

interface IdemRecord {
  state: "running" | "done";
  token: string;
  pending: PendingMutation;
  result?: unknown;
}

/** Stable JSON (object keys sorted), so equal arguments hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    return `{${
      Object.keys(obj).sort().filter((k) => obj[k] !== undefined)
        .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(value ?? null);
}

/** Why a confirmation was refused (`code` is stable, for clients and audit). */
export class ConfirmationError extends Error {
  /** `invalid_token` (unknown, expired, used, or not yours), `key_reused`, `in_progress`. */
  readonly code: "invalid_token" | "key_reused" | "in_progress";
  /** Creates the error. */
  constructor(code: ConfirmationError["code"], message: string) {
    super(message);
    this.name = "ConfirmationError";
    this.code = code;
  }
}

const tokenKey = (hash: string) => ["mcp-confirm", hash] as const;

/** Options for {@linkcode ConfirmationStore}. */
export interface ConfirmationStoreOptions {
  /** Confirmation token lifetime in seconds (default 300). */
  ttlSeconds?: number;
  /** How long a duplicate confirm waits for the executor's result, ms (default 30 000). */
  waitMs?: number;
  /** How long a finished result is kept for replays, seconds (default 86 400). */
  resultTtlSeconds?: number;
}

/** The two-phase store. */
export class ConfirmationStore {
  #storage: Storage;
  #ttl: number;
  #wait: number;
  #resultTtl: number;

  constructor(storage: Storage, options: ConfirmationStoreOptions = {}) {
    this.#storage = storage;
    this.#ttl = (options.ttlSeconds ?? 300) * 1000;
    this.#wait = options.waitMs ?? 30_000;
    this.#resultTtl = (options.resultTtlSeconds ?? 86_400) * 1000;
  }

  /** Issues a single-use token for `pending`; returns it and its expiry (epoch seconds). */
  async issue(pending: PendingMutation): Promise<{ token: string; expiresAt: number }> {
    const token = randomToken();
    const exp = Date.now() + this.#ttl;
    await this.#storage.set(tokenKey(await sha256(token)), envelope(pending, exp));
    return { token, expiresAt: Math.floor(exp / 1000) };
  }

  /** Reads a live token bound to `who` without consuming it; throws `invalid_token` otherwise. */
  async peek(token: string, who: Principal): Promise<PendingMutation> {
    const found = await this.#storage.get(tokenKey(await sha256(token)));
    const pending = found && isLive(found) ? found.data as PendingMutation | null : null;
    if (
      !pending || !timingSafeEqual(pending.subject, who.subject) ||
      !timingSafeEqual(pending.clientId, who.clientId)
    ) {
      throw new ConfirmationError(
        "invalid_token",
        "confirmationToken is unknown, expired, already used, or was issued to someone else",
      );
    }
    return pending;
  }

  /**
   * Runs `execute(pending)` at most once for (`who`, `idempotencyKey`) and at most once for
   * `token`. Returns `{ result, executed, pending }`: `executed` is false when a stored result
   * was returned (a replay, or a concurrent duplicate that waited for the executor).
   * `check(pending)` runs before anything is written and may throw to refuse. Throws
   * {@linkcode ConfirmationError}; an error thrown by `execute` propagates (the token stays
   * used, the key is released).
   */
  async run<R>(
    token: string,
    idempotencyKey: string,
    who: Principal,
    execute: (pending: PendingMutation) => Promise<R>,
    check: (pending: PendingMutation) => void = () => {},
  ): Promise<{ result: R; executed: boolean; pending: PendingMutation }> {
    const hash = await sha256(token);
    // Hashed: a client_id may be a 2 KB metadata-document URL (Deno KV keys are ≤ 2 KB).
    const idemKey = [
      "mcp-idem",
      await sha256(JSON.stringify([who.subject, who.clientId, idempotencyKey])),
    ];
    // A replay (or a duplicate arriving after the token was consumed) finds the record first.
    const seen = await this.#storage.get(idemKey);
    if (seen && isLive(seen)) return await this.#replay(idemKey, seen.data as IdemRecord, hash);
    let pending: PendingMutation;
    try {
      pending = await this.peek(token, who);
    } catch (e) {
      // Consumed between our read and now by the executor of this same key: it wrote the
      // record before taking the token, so the record is there.
      const late = await this.#storage.get(idemKey);
      if (late && isLive(late)) return await this.#replay(idemKey, late.data as IdemRecord, hash);
      throw e;
    }
    check(pending);
    const running = envelope<IdemRecord>(
      { state: "running", token: hash, pending },
      Date.now() + this.#wait,
    );
    const prev = await this.#storage.swap(idemKey, running);
    if (prev && isLive(prev)) {
      const rec = prev.data as IdemRecord;
      if (rec.state === "done") await this.#storage.set(idemKey, prev);
      return await this.#replay(idemKey, rec, hash);
    }
    // We hold the key: consume the token (exactly one swap sees it live).
    const taken = await this.#storage.swap(tokenKey(hash), envelope(null, Date.now() + this.#ttl));
    if (!taken || !isLive(taken) || taken.data === null) {
      await this.#storage.delete(idemKey);
      throw new ConfirmationError("invalid_token", "confirmationToken was already used");
    }
    let result: R;
    try {
      result = await execute(taken.data as PendingMutation);
    } catch (e) {
      await this.#storage.delete(idemKey);
      throw e;
    }
    await this.#storage.set(
      idemKey,
      envelope<IdemRecord>(
        { state: "done", token: hash, pending, result },
        Date.now() + this.#resultTtl,
      ),
    );
    return { result, executed: true, pending };
  }

  async #replay<R>(
    idemKey: string[],
    rec: IdemRecord,
    hash: string,
  ): Promise<{ result: R; executed: boolean; pending: PendingMutation }> {
    if (!timingSafeEqual(rec.token, hash)) {
      throw new ConfirmationError(
        "key_reused",
        "idempotencyKey was already used with a different confirmationToken",
      );
    }
    const done = rec.state === "done" ? rec : await this.#await(idemKey);
    return { result: done.result as R, executed: false, pending: done.pending };
  }

  async #await(key: string[]): Promise<IdemRecord> {
    const deadline = Date.now() + this.#wait;
    let delay = 5;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 100);
      const cur = await this.#storage.get(key);
      if (cur && isLive(cur) && (cur.data as IdemRecord).state === "done") {
        return cur.data as IdemRecord;
      }
      if (!cur || !isLive(cur)) break;
    }
    throw new ConfirmationError(
      "in_progress",
      "this confirmation is still running (or failed); retry with the same idempotencyKey",
    );
  }
}
