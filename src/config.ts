/**
 * Server configuration: the zod schema, defaults, and the normalised form the
 * rest of the server reads. The public config types live in `config_types.ts`.
 *
 * @module
 */
import * as z from "zod/mini";
import type { SigningJwk } from "./keys.ts";
import { canonicalResource } from "./verifier.ts";
import { encryptionKeyOk } from "./props.ts";

export type {
  AuthenticateContext,
  AuthenticateResult,
  AuthServerConfig,
  ConsentPolicy,
  IntrospectionClient,
  RateLimitsConfig,
  RefreshPropsContext,
  RegistrationOptions,
  RegistrationPolicy,
  ResourceConfig,
  RevocationMode,
} from "./config_types.ts";
import type { AuthServerConfig } from "./config_types.ts";

import { isLoopbackHost } from "./_hosts.ts";

// Every zod schema below is built on first use (a thunk per field) and kept: building a zod
// schema costs more than validating with it, so a cold start pays only for the fields the
// config actually sets. The checks and messages are the same as one strict object schema's.
const httpsOrLoopback = (what: string) =>
  z.string().check(z.refine((s) => {
    try {
      const u = new URL(s);
      return !u.hash && !s.includes("#") &&
        (u.protocol === "https:" || (u.protocol === "http:" && isLoopbackHost(u.hostname)));
    } catch {
      return false;
    }
  }, `${what} must be an absolute https URL (http only on loopback) without a fragment`));

/**
 * A length in [min, max] (strings and arrays) as one refinement: zod's own length and regex
 * checks add ≈ 2 KB to a bundle for what `.length` and `RegExp.test` do.
 */
const length = (min: number, max = Infinity, error?: string) =>
  z.refine<{ length: number }>((v) => v.length >= min && v.length <= max, error);
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const scopeToken = () =>
  z.string().check(z.refine((s) => SCOPE_TOKEN.test(s), "not a valid scope token"));
const scopeList = () => z.optional(z.array(scopeToken()));
const isFunction = (f: unknown) => typeof f === "function";
const fn = () => z.optional(z.custom(isFunction));
/**
 * A whole number in [min, max] (`error`: the message, default zod's "Invalid input"). One
 * refinement rather than zod's int/minimum/maximum checks, which add ≈ 3.7 KB to a bundle.
 */
const whole = (min: number, max = Number.MAX_SAFE_INTEGER, error?: string) =>
  z.number(error).check(
    z.refine((n) => Number.isSafeInteger(n) && n >= min && n <= max, error),
  );
/** An optional whole number in [min, max]; the error says the range (not a bare "Invalid input"). */
const int = (min: number, max = Infinity) =>
  z.optional(whole(
    min,
    max,
    `must be a whole number ${max === Infinity ? `≥ ${min}` : `from ${min} to ${max}`}`,
  ));

const rateRule = () =>
  z.union([
    z.literal(false),
    z.strictObject({
      limit: whole(1),
      windowSeconds: whole(1, 86400),
    }),
  ]);

const B64_32 = /^[A-Za-z0-9_-]{43}$/;
/** Structural check of a signing JWK (32-byte members), so a typo fails at start, not on first use. */
function keyShapeOk(k: unknown): boolean {
  if (typeof k !== "object" || k === null) return false;
  const j = k as SigningJwk;
  if (typeof j.kid !== "string" || !j.kid) return false;
  const members = j.kty === "OKP" && j.crv === "Ed25519"
    ? [j.x]
    : j.kty === "EC" && j.crv === "P-256"
    ? [j.x, j.y]
    : undefined;
  if (!members) return false;
  if (j.d !== undefined) members.push(j.d);
  return members.every((m) => typeof m === "string" && B64_32.test(m));
}

/**
 * A plain object whose every value passes `ok` (what `z.record(z.string(), …)` checks, without
 * pulling zod's record and enum schemas into the bundle: ≈ 3.5 KB).
 */
const objectOf = (ok: (v: unknown) => boolean) => (r: unknown): boolean =>
  isPlainObject(r) && Object.values(r).every(ok);
/**
 * An object literal (or a null-prototype object), as zod's record required: not an array, Map,
 * Date, RegExp, boxed string or class instance, whose fields the server would never read.
 * The same test as zod's own `isPlainObject` (so another realm's objects pass too).
 */
function isPlainObject(r: unknown): r is object {
  if (typeof r !== "object" || r === null || Array.isArray(r)) return false;
  const ctor = (r as { constructor?: unknown }).constructor;
  if (typeof ctor !== "function") return true; // none, or a field named "constructor"
  const proto: unknown = ctor.prototype;
  return typeof proto === "object" && proto !== null && Object.hasOwn(proto, "isPrototypeOf");
}

const policy = () => [z.literal("open"), z.literal("closed"), z.custom(isFunction)] as const;

/** One schema thunk per config field, in the order fields are checked. */
const FIELDS: { [K in keyof AuthServerConfig]-?: () => z.ZodMiniType } = {
  issuer: () =>
    httpsOrLoopback("issuer").check(z.refine(
      // refinements run even when the URL check above failed: never throw here.
      (s) => !URL.canParse(s) || !new URL(s).search,
      "issuer must not have a query",
    )),
  resources: () => {
    const url = httpsOrLoopback("resource");
    return z.array(z.union([
      url,
      z.strictObject({
        resource: url,
        scopes: scopeList(),
        name: z.optional(z.string()),
      }),
    ])).check(length(1, Infinity, "at least one resource is required"));
  },
  scopes: scopeList,
  defaultScopes: scopeList,
  scopeHierarchy: () =>
    z.optional(z.custom(
      objectOf((v) => Array.isArray(v) && v.every((s) => typeof s === "string")),
      "must be an object mapping each scope to an array of the scopes it includes",
    )),
  scopeDescriptions: () =>
    z.optional(z.custom(
      objectOf((v) => typeof v === "string" && v.length <= 500),
      "must be an object mapping each scope to a description of at most 500 characters",
    )),
  storage: () =>
    z.optional(z.custom(
      (s) =>
        typeof s === "object" && s !== null &&
        ["get", "set", "delete", "swap", "compareAndSwap", "list"].every((m) =>
          typeof (s as Record<string, unknown>)[m] === "function"
        ),
      "storage must implement get/set/delete/swap/compareAndSwap/list",
    )),
  keys: () =>
    z.optional(
      z.array(z.custom(
        keyShapeOk,
        "each key must be an Ed25519 (OKP) or P-256 (EC) JWK with a kid and 32-byte base64url members",
      )).check(z.refine(
        (keys) => keys.length > 0 && typeof (keys[0] as SigningJwk).d === "string",
        "the first key must be a private key (it signs)",
      )),
    ),
  authenticate: () => z.custom(isFunction, "authenticate must be a function"),
  encryptionKeys: () =>
    z.optional(z.array(z.custom(
      encryptionKeyOk,
      "each encryption key must be a 32-byte base64url key, or { kid, key } with one",
    ))),
  refreshProps: fn,
  registration: () =>
    z.optional(z.union([
      ...policy(),
      z.strictObject({
        policy: z.optional(z.union(policy())),
        initialAccessToken: fn(),
        softwareStatement: fn(),
        maxMetadataBytes: int(256, 65536),
        maxRedirectUris: int(1, 100),
        maxUriLength: int(64, 8192),
        maxListEntries: int(1, 100),
        unusedClientTtl: int(0),
      }),
    ])),
  clientIdMetadataDocuments: () => z.optional(z.boolean()),
  accessTokenTtl: () => int(1, 86400),
  refreshTokenTtl: () => int(60),
  codeTtl: () => int(1, 600),
  refreshReuseWindow: () => int(0, 300),
  revocation: () =>
    z.optional(z.strictObject({
      mode: z.union([z.literal("strict"), z.literal("cached"), z.literal("stateless")]),
      ttlMs: int(0),
    })),
  introspectionClients: () =>
    z.optional(z.array(
      z.object({
        clientId: z.string().check(length(1)),
        clientSecret: z.string().check(length(16)),
        resource: z.optional(z.union([z.string(), z.array(z.string())])),
      }),
    )),
  onEvent: fn,
  consent: () =>
    z.optional(z.union([
      z.literal("always"),
      z.strictObject({
        rememberFor: whole(60, 400 * 86400),
      }),
    ])),
  renderConsent: fn,
  fetch: fn,
  outbound: () =>
    z.optional(z.strictObject({
      allow: z.optional(z.array(z.string().check(length(1)))),
      ca: z.optional(z.array(z.string())),
      timeoutMs: int(1, 60_000),
      checkAddresses: z.optional(z.boolean()),
    })),
  rateLimits: () =>
    z.optional(z.union([
      z.literal(false),
      z.pipe(
        z.custom(isPlainObject),
        z.strictObject(Object.fromEntries(
          ["register", "authorize", "token", "revoke", "introspect"].map((endpoint) => [
            endpoint,
            z.optional(
              z.strictObject({ ip: z.optional(rateRule()), client: z.optional(rateRule()) }),
            ),
          ]),
        )),
      ),
    ])),
  clientIp: fn,
  now: fn,
  quiet: () => z.optional(z.boolean()),
};
const built = new Map<() => z.ZodMiniType, z.ZodMiniType>();
/** Literal values each of these fields' schema accepts as they are (no schema built for them). */
const LITERALS: Record<string, unknown[]> = {
  rateLimits: [false],
  consent: ["always"],
  registration: ["open", "closed"],
};

/**
 * Check `input` field by field (in {@link FIELDS} order, then unknown fields), like one strict
 * object schema; returns the validated copy, or the path and message of the first problem.
 */
function check(
  input: unknown,
): { data: AuthServerConfig; problem?: undefined } | { problem: [string, string] } {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return { problem: ["(config)", "Invalid input"] };
  }
  const rec = input as Record<string, unknown>;
  const data: Record<string, unknown> = {};
  for (const [k, make] of Object.entries(FIELDS)) {
    const v = rec[k];
    // An absent optional field needs no schema (every field but three is optional).
    if (v === undefined && k !== "issuer" && k !== "resources" && k !== "authenticate") continue;
    if (LITERALS[k]?.includes(v)) {
      data[k] = v;
      continue;
    }
    let s = built.get(make); // by thunk: fields sharing one (scopes, defaultScopes) share it
    if (!s) built.set(make, s = make());
    const r = s.safeParse(v);
    if (!r.success) {
      const issue = r.error.issues[0];
      return { problem: [[k, ...issue.path].join("."), issue.message] };
    }
    if (k in rec) data[k] = r.data;
  }
  // Own fields of FIELDS only (`in` would also find "constructor", "toString", …).
  const unknown = Object.keys(rec).find((k) => !Object.hasOwn(FIELDS, k));
  if (unknown !== undefined) {
    return { problem: ["(config)", `unknown field ${JSON.stringify(unknown)}`] };
  }
  return { data: data as unknown as AuthServerConfig };
}

/** Thrown by `createAuthServer` for a bad config; the message names the field. */
export class ConfigError extends Error {
  /** Create a config error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** A resource after normalisation. */
export interface Resource {
  /** Canonical resource URL. */
  resource: string;
  /** Scopes understood. */
  scopes: string[];
  /** Display name. */
  name?: string;
}

/** Config after validation and defaults. */
export interface ResolvedConfig extends Omit<AuthServerConfig, "resources" | "scopes"> {
  /** The issuer, exactly as configured. */
  issuer: string;
  /** Issuer URL parsed. */
  issuerUrl: URL;
  /** Issuer path without trailing slash ("" at root). */
  basePath: string;
  /** Normalised resources. */
  resources: Resource[];
  /** scopes_supported. */
  scopes: string[];
  /** Lifetimes in seconds. */
  accessTokenTtl: number;
  refreshTokenTtl: number;
  codeTtl: number;
  /** Refresh reuse window, seconds. */
  refreshReuseWindow: number;
  now: () => number;
}

export { canonicalResource };

/** Validate and normalise; throws {@link ConfigError} naming the bad field. */
export function resolveConfig(input: AuthServerConfig): ResolvedConfig {
  const parsed = check(input);
  if (parsed.problem) {
    throw new ConfigError(
      `Invalid Gatehouse config at "${parsed.problem[0]}": ${parsed.problem[1]}`,
    );
  }
  const c = parsed.data;
  const fallbackScopes = c.scopes ?? ["mcp:read", "mcp:write", "mcp:admin"];
  const resources: Resource[] = c.resources.map((r) => {
    const obj = typeof r === "string" ? { resource: r } : r;
    return {
      resource: canonicalResource(obj.resource),
      scopes: obj.scopes ?? fallbackScopes,
      name: obj.name,
    };
  });
  const seen = new Set<string>();
  for (const r of resources) {
    if (seen.has(r.resource)) {
      throw new ConfigError(
        `Invalid Gatehouse config at "resources": duplicate resource ${r.resource}`,
      );
    }
    seen.add(r.resource);
  }
  const scopes = c.scopes ?? [...new Set(resources.flatMap((r) => r.scopes))];
  for (const r of resources) {
    const unknown = r.scopes.find((s) => !scopes.includes(s));
    if (unknown) {
      throw new ConfigError(
        `Invalid Gatehouse config at "resources": scope "${unknown}" of ${r.resource} is not in "scopes"`,
      );
    }
  }
  const unknownDefault = c.defaultScopes?.find((s) => !scopes.includes(s));
  if (unknownDefault) {
    throw new ConfigError(
      `Invalid Gatehouse config at "defaultScopes": "${unknownDefault}" is not in "scopes"`,
    );
  }
  c.introspectionClients?.forEach((ic, i) => {
    const at = `Invalid Gatehouse config at "introspectionClients.${i}.resource"`;
    if (ic.resource === undefined) {
      if (resources.length !== 1) {
        throw new ConfigError(`${at}: required when several resources are configured`);
      }
      return;
    }
    for (const r of typeof ic.resource === "string" ? [ic.resource] : ic.resource) {
      if (!seen.has(canonicalResource(r))) {
        throw new ConfigError(`${at}: ${r} is not a configured resource`);
      }
    }
  });
  const issuerUrl = new URL(c.issuer);
  return {
    ...c,
    issuer: c.issuer,
    issuerUrl,
    basePath: issuerUrl.pathname.replace(/\/+$/, ""),
    resources,
    scopes,
    accessTokenTtl: c.accessTokenTtl ?? 900,
    refreshTokenTtl: c.refreshTokenTtl ?? 30 * 86400,
    codeTtl: c.codeTtl ?? 60,
    refreshReuseWindow: c.refreshReuseWindow ?? 60,
    now: c.now ?? Date.now,
  };
}
