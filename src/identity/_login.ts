/**
 * The short-lived upstream login: after a provider's callback, the user's identity and props
 * wait (sealed) for the authorization request they were started for, found again through an
 * HttpOnly SameSite=Lax cookie. Bound to that request's `client_id` + `code_challenge`; taken
 * (single use) when the consent form is submitted (internal).
 */
import type { AuthenticatorHost } from "../authenticator.ts";
import type { AuthenticateContext } from "../config.ts";
import { basePath, cookie, randomToken, setCookie, sha256, timingSafeEqual } from "./_common.ts";

/** Login cookie name. */
const LOGIN_COOKIE = "gatehouse_login";
/** How long a finished upstream sign-in waits for its consent step, ms. */
const LOGIN_TTL_MS = 10 * 60 * 1000;

/** An identity as `authenticate` returns it. */
export interface LoginIdentity {
  subject: string;
  props?: Record<string, unknown>;
  claims?: Record<string, unknown>;
}

interface LoginRecord {
  provider: string;
  bind: string;
  sealed: string;
}

/** What binds a login to one authorization request. */
export function bindingOf(clientId: string, codeChallenge: string | undefined): Promise<string> {
  return sha256(`${clientId} ${codeChallenge ?? ""}`);
}

/** Store a finished sign-in; returns the Set-Cookie header value. */
export async function saveLogin(
  host: AuthenticatorHost,
  provider: string,
  bind: string,
  identity: LoginIdentity,
): Promise<string> {
  const id = randomToken();
  const hash = await sha256(id);
  const sealed = await host.sealer.seal(identity, `gatehouse/login/${hash}`);
  const rec: LoginRecord = { provider, bind, sealed };
  await host.store.put(["upstream", "login", hash], rec, host.now() + LOGIN_TTL_MS);
  return setCookie(host, LOGIN_COOKIE, id, basePath(host) + "/authorize", LOGIN_TTL_MS / 1000);
}

/**
 * The identity waiting for this authorization request, if any. A POST (the consent form)
 * takes it: a login makes one grant.
 */
export async function findLogin(
  host: AuthenticatorHost,
  req: Request,
  ctx: AuthenticateContext,
  providers: ReadonlySet<string>,
): Promise<LoginIdentity | undefined> {
  const id = cookie(req, LOGIN_COOKIE);
  if (!id) return undefined;
  const hash = await sha256(id);
  const key = ["upstream", "login", hash];
  const rec = await host.store.get<LoginRecord | { used: true }>(key);
  if (!rec || "used" in rec || !providers.has(rec.provider)) return undefined;
  if (!timingSafeEqual(rec.bind, await bindingOf(ctx.client.client_id, ctx.codeChallenge))) {
    return undefined;
  }
  if (req.method === "POST") {
    // Single use, atomically: of two concurrent submissions only one gets the identity.
    const prev = await host.store.swap<LoginRecord | { used: true }, { used: true }>(
      key,
      { used: true },
      host.now() + LOGIN_TTL_MS,
    );
    if (!prev || "used" in prev) return undefined;
  }
  return await host.sealer.open<LoginIdentity>(rec.sealed, `gatehouse/login/${hash}`);
}
