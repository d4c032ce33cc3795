/**
 * SSRF-safe outbound GET (internal): every fetch Gatehouse makes to a URL an
 * outsider chose (Client ID Metadata Documents, a client's `jwks_uri`) goes
 * through {@link fetchOutbound}.
 *
 * Rules, in order:
 * 1. `https:` only, no userinfo, port 443 only — unless the host (or
 *    `host:port`) is on the operator's allow-list (`outbound.allow`).
 * 2. IP-literal hosts are checked against {@link addressProblem}.
 * 3. Where the runtime can resolve names (Deno, Node, Bun: `node:dns`
 *    `lookup`, through `process.getBuiltinModule`), every address the name resolves to is
 *    checked, and the connection goes to the checked address (pinned through
 *    `node:https`'s `lookup` hook, so TLS SNI and certificate checks still use
 *    the host name). No second resolution, no TOCTOU.
 * 4. With an operator-supplied `fetch`, the addresses are checked first but
 *    the operator's fetch resolves again (a residual TOCTOU the README
 *    documents); on Workers / Vercel Edge (no resolver) only rules 1–2 apply and
 *    the platform's egress is what keeps private networks unreachable.
 * 5. Redirects are never followed; the whole exchange (connect, headers, body)
 *    has one deadline; the body is read bounded.
 *
 * @module
 */
import { addressProblem, isIpLiteral } from "./_ip.ts";
import { BodyError, readBounded } from "./_body.ts";

/** Operator settings for outbound fetches (config `outbound`). */
export interface OutboundConfig {
  /**
   * Hosts exempt from the port-443 rule and the address checks: `"host"`
   * (any port) or `"host:port"`. For development and private deployments.
   */
  allow?: string[];
  /** Extra trusted CA certificates (PEM), added to the default roots, for the pinned transport. */
  ca?: string[];
  /** Deadline for one outbound exchange, headers and body, in ms. Default 5000. */
  timeoutMs?: number;
  /**
   * With an operator `fetch` only: `false` skips resolving and checking the
   * addresses before calling it (your egress proxy refuses private ranges, or
   * local DNS can't see public names). Default true.
   */
  checkAddresses?: boolean;
}

/** Why an outbound fetch was refused or failed. */
export type OutboundFailure =
  | "url"
  | "port"
  | "address"
  | "dns"
  | "network"
  | "timeout"
  | "redirect"
  | "status"
  | "content_type"
  | "too_large";

/** A refused or failed outbound fetch. */
export class OutboundError extends Error {
  /** The kind of failure. */
  readonly reason: OutboundFailure;
  /** For `too_large`: bytes received before the read was abandoned (0: refused on Content-Length). */
  readonly bytesRead?: number;
  /** Create one. */
  constructor(reason: OutboundFailure, message: string, bytesRead?: number) {
    super(message);
    this.name = "OutboundError";
    this.reason = reason;
    this.bytesRead = bytesRead;
  }
}

/** A completed, bounded outbound response. */
export interface OutboundResponse {
  /** HTTP status (2xx only; others are an {@link OutboundError}). */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** The body, at most `maxBytes`. */
  body: Uint8Array;
  /** How the addresses were checked: "pinned", "checked" (operator fetch), or "platform" (no resolver). */
  transport: "pinned" | "checked" | "platform";
}

/** Options for one {@link fetchOutbound} call. */
export interface FetchOutboundOptions {
  /** Operator settings. */
  config?: OutboundConfig;
  /** Operator-supplied fetch (used instead of the pinned transport). */
  fetch?: typeof fetch;
  /** Body cap in bytes. */
  maxBytes: number;
  /** Accept header. */
  accept: string;
  /** Media types accepted (lowercase, without parameters); `+json` suffixes match "application/json". */
  contentTypes?: string[];
}

type Lookup = (host: string, o: { all: true }) => Promise<{ address: string; family: number }[]>;
interface NodeBits {
  lookup: Lookup;
  // deno-lint-ignore no-explicit-any
  https: any;
  roots: string[];
}

let nodeBits: NodeBits | null | undefined;
/**
 * node:dns + node:https where the runtime has real sockets (Deno 2, Node ≥
 * 20.16, Bun), through `process.getBuiltinModule` — no import statement, so
 * Workers/edge bundles never see `node:` specifiers. Undefined elsewhere.
 */
function loadNodeBits(): NodeBits | undefined {
  if (nodeBits !== undefined) return nodeBits ?? undefined;
  nodeBits = null;
  const g = globalThis as Record<string, unknown>;
  const nav = g.navigator as { userAgent?: string } | undefined;
  if (nav?.userAgent === "Cloudflare-Workers" || typeof g.EdgeRuntime === "string") {
    return undefined;
  }
  const proc = g.process as { getBuiltinModule?: (id: string) => unknown } | undefined;
  try {
    // deno-lint-ignore no-explicit-any
    const get = (id: string): any => proc?.getBuiltinModule?.(id);
    const dns = get("node:dns");
    const https = get("node:https");
    const tls = get("node:tls");
    if (!dns?.promises?.lookup || !https?.request) return undefined;
    nodeBits = {
      lookup: dns.promises.lookup.bind(dns.promises),
      https,
      roots: [...(tls?.rootCertificates ?? [])],
    };
  } catch {
    nodeBits = null;
  }
  return nodeBits ?? undefined;
}

/** The URL rules (1–2): the parsed URL and whether it is allow-listed. */
export function checkOutboundUrl(url: string, config: OutboundConfig = {}): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OutboundError("url", "not an absolute URL");
  }
  if (u.protocol !== "https:") throw new OutboundError("url", "only https URLs are fetched");
  if (u.username || u.password) throw new OutboundError("url", "URL has userinfo");
  if (isAllowed(u, config)) return u;
  if (u.port !== "") throw new OutboundError("port", "only port 443 is fetched");
  if (isIpLiteral(u.hostname)) {
    const p = addressProblem(u.hostname.replace(/^\[|\]$/g, ""));
    if (p) throw new OutboundError("address", `address refused: ${p}`);
  }
  return u;
}

/** Without a resolver, names that can only be local are refused by their text. */
function localByName(hostname: string): boolean {
  return !isIpLiteral(hostname) &&
    (!hostname.includes(".") || /\.(localhost|local|internal|home\.arpa|lan)\.?$/i.test(hostname));
}

function isAllowed(u: URL, config: OutboundConfig): boolean {
  const list = (config.allow ?? []).map((h) => h.toLowerCase());
  return list.includes(u.hostname) || list.includes(`${u.hostname}:${u.port || "443"}`);
}

/** Resolve `host` and check every address; returns the first (the one to connect to). */
async function resolveChecked(
  lookup: Lookup,
  host: string,
  allowed: boolean,
): Promise<{ address: string; family: number }> {
  let addrs: { address: string; family: number }[];
  try {
    addrs = await lookup(host, { all: true });
  } catch {
    throw new OutboundError("dns", "host name did not resolve");
  }
  if (!addrs.length) throw new OutboundError("dns", "host name did not resolve");
  if (!allowed) {
    for (const a of addrs) {
      const p = addressProblem(a.address);
      if (p) throw new OutboundError("address", `address refused: ${p}`);
    }
  }
  return addrs[0];
}

/** GET through node:https, connecting to the checked address (SNI and Host stay the name). */
function pinnedGet(
  bits: NodeBits,
  u: URL,
  allowed: boolean,
  config: OutboundConfig,
  accept: string,
  signal: AbortSignal,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = bits.https.request({
      host: u.hostname.replace(/^\[|\]$/g, ""),
      port: Number(u.port || 443),
      path: u.pathname + u.search,
      method: "GET",
      headers: { accept, "accept-encoding": "identity", "user-agent": "gatehouse" },
      agent: false,
      signal,
      ...(config.ca?.length ? { ca: [...bits.roots, ...config.ca] } : {}),
      lookup: (
        host: string,
        opts: { all?: boolean },
        cb: (e: Error | null, a?: unknown, f?: number) => void,
      ) => {
        resolveChecked(bits.lookup, host, allowed).then(
          (a) => opts?.all ? cb(null, [a]) : cb(null, a.address, a.family),
          (e) => cb(e),
        );
      },
      // deno-lint-ignore no-explicit-any
    }, (res: any) => {
      const headers = new Headers();
      for (const [k, v] of Object.entries(res.headers as Record<string, string | string[]>)) {
        for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
      }
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          res.on("data", (d: Uint8Array) => {
            c.enqueue(new Uint8Array(d));
            if ((c.desiredSize ?? 0) <= 0) res.pause();
          });
          res.on("end", () => c.close());
          res.on("error", (e: Error) => c.error(e));
          res.on("aborted", () => c.error(new OutboundError("network", "connection reset")));
        },
        pull() {
          res.resume();
        },
        cancel() {
          res.destroy();
          req.destroy();
        },
      }, { highWaterMark: 1 });
      try {
        resolve(new Response(body, { status: res.statusCode, headers }));
      } catch {
        res.destroy();
        reject(new OutboundError("status", `unusable status ${res.statusCode}`));
      }
    });
    req.on("error", (e: Error) => reject(e));
    req.end();
  });
}

function mediaType(h: Headers): string {
  return (h.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
}

/**
 * SSRF-safe bounded GET (see the module doc for the rules). Resolves with
 * the body when the status is 2xx, the media type is accepted and the body is
 * within `maxBytes`; otherwise throws an {@link OutboundError}. Never follows
 * redirects. One deadline (`config.timeoutMs`, default 5000 ms) covers
 * connect, headers and body.
 */
export async function fetchOutbound(
  url: string,
  options: FetchOutboundOptions,
): Promise<OutboundResponse> {
  const config = options.config ?? {};
  const u = checkOutboundUrl(url, config);
  const allowed = isAllowed(u, config);
  const timeoutMs = config.timeoutMs ?? 5000;
  const ctl = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctl.abort();
      reject(new OutboundError("timeout", `no complete response within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  deadline.catch(() => {});
  const work = async (): Promise<OutboundResponse> => {
    const bits = loadNodeBits();
    if (!bits && !allowed && localByName(u.hostname)) {
      throw new OutboundError("address", "host name can only be local");
    }
    let res: Response;
    let transport: OutboundResponse["transport"];
    try {
      if (options.fetch) {
        if (bits && !allowed && !isIpLiteral(u.hostname) && config.checkAddresses !== false) {
          await resolveChecked(bits.lookup, u.hostname, allowed);
        }
        transport = bits ? "checked" : "platform";
        res = await options.fetch(u.href, {
          headers: { accept: options.accept },
          redirect: "manual",
          signal: ctl.signal,
        });
      } else if (bits) {
        transport = "pinned";
        res = await pinnedGet(bits, u, allowed, config, options.accept, ctl.signal);
      } else {
        transport = "platform";
        res = await fetch(u.href, {
          headers: { accept: options.accept },
          redirect: "manual",
          signal: ctl.signal,
        });
      }
    } catch (e) {
      if (e instanceof OutboundError) throw e;
      throw new OutboundError(ctl.signal.aborted ? "timeout" : "network", "fetch failed");
    }
    const refuse = async (reason: OutboundFailure, msg: string): Promise<never> => {
      await res.body?.cancel().catch(() => {});
      throw new OutboundError(reason, msg);
    };
    if (res.status >= 300 && res.status < 400) await refuse("redirect", "redirects are refused");
    if (res.status < 200 || res.status >= 300) await refuse("status", `status ${res.status}`);
    const types = options.contentTypes;
    if (types) {
      const mt = mediaType(res.headers);
      const ok = types.includes(mt) ||
        (types.includes("application/json") && /^application\/[\w.+-]+\+json$/.test(mt));
      if (!ok) await refuse("content_type", `unexpected content type ${mt || "(none)"}`);
    }
    let body: Uint8Array;
    // Count what is pulled off the network (the test and README numbers).
    let pulled = 0;
    const counted = res.body?.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          pulled += chunk.byteLength;
          c.enqueue(chunk);
        },
      }),
      { signal: ctl.signal },
    );
    try {
      body = await readBounded(
        counted ? new Response(counted, { headers: res.headers }) : res,
        options.maxBytes,
        { signal: ctl.signal },
      );
    } catch (e) {
      if (e instanceof BodyError && e.reason === "too_large") {
        throw new OutboundError(
          "too_large",
          `body larger than ${options.maxBytes} bytes`,
          pulled,
        );
      }
      throw new OutboundError(ctl.signal.aborted ? "timeout" : "network", "body read failed");
    }
    return { status: res.status, headers: res.headers, body, transport };
  };
  try {
    return await Promise.race([work(), deadline]);
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
}
