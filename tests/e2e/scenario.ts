/**
 * The runtime-agnostic end-to-end scenario: it drives the demo app
 * (`examples/mcp-server/app.ts`: authorization server + protected MCP server
 * on one origin) exactly as an MCP client and a person with a browser would,
 * over nothing but `Request`/`Response`.
 *
 * Pure Web APIs only (no `node:*`, no Deno namespace, no assertion library):
 * it is bundled into workerd and edge-runtime and run from Deno and Node, so
 * every check goes through {@link check}, which throws a {@link ScenarioError}
 * naming the step.
 *
 * Steps: 401 challenge → RFC 9728 protected-resource metadata → RFC 8414
 * server metadata → RFC 7591 registration → /authorize → demo sign-in
 * (cookie) → consent form → code (+ `state`, `iss`) → token exchange with
 * PKCE S256 → /mcp initialize, tools/list, tools/call whoami → 403
 * `insufficient_scope` for `admin_stats` → refresh rotation → reuse of the
 * rotated refresh token revokes the grant → a second grant with `mcp:admin`
 * (step-up) runs `admin_stats` → RFC 7009 revocation → /mcp 401.
 *
 * @module
 */

/** Anything that turns a Request into a Response (an in-process handler, `dispatchFetch`, …). */
export type FetchLike = (req: Request) => Promise<Response>;

/** What {@link runScenario} reports when every step passed. */
export interface ScenarioResult {
  /** Steps passed, in order. */
  steps: string[];
  /** The registered client id. */
  clientId: string;
  /** The subject the tools saw. */
  subject: string;
  /** Tool names from tools/list, sorted. */
  tools: string[];
  /** MCP protocol version the server negotiated. */
  protocolVersion: string;
}

/** A failed step: `message` names the step and what was wrong. */
export class ScenarioError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ScenarioError";
  }
}

/** Runtime-neutral assertion: throws a {@link ScenarioError} with `msg` unless `cond`. */
export function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new ScenarioError(msg);
}

const USER = "e2e-user";
const REDIRECT_URI = "http://127.0.0.1:45678/callback";
const ACCEPT_MCP = "application/json, text/event-stream";

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: b64url(new Uint8Array(digest)) };
}

function unescapeHtml(s: string): string {
  return s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** The named `<input>` values of an HTML page (hidden fields and prefilled ones). */
function inputs(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input\b[^>]*>/g)) {
    const name = /\bname="([^"]*)"/.exec(m[0])?.[1];
    const value = /\bvalue="([^"]*)"/.exec(m[0])?.[1];
    if (name !== undefined && value !== undefined) out[unescapeHtml(name)] = unescapeHtml(value);
  }
  return out;
}

function setCookies(res: Response): string[] {
  const h = res.headers as Headers & { getSetCookie?: () => string[] };
  if (typeof h.getSetCookie === "function") return h.getSetCookie();
  const one = res.headers.get("set-cookie");
  return one ? [one] : [];
}

/** Read a body we do not need to the end (cancelling it makes workerd log broken pipes). */
async function drain(res: Response): Promise<void> {
  await res.arrayBuffer();
}

function authParam(challenge: string, name: string): string | undefined {
  return new RegExp(`${name}="([^"]*)"`).exec(challenge)?.[1];
}

async function jsonOf(res: Response, step: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new ScenarioError(`${step}: expected JSON, got ${res.status} ${text.slice(0, 200)}`);
  }
}

/**
 * Run the whole scenario against `fetchLike` serving the demo app at
 * `origin` (e.g. `http://localhost:8787`). Resolves with a summary; rejects
 * with a {@link ScenarioError} naming the first step that failed.
 */
export async function runScenario(
  fetchLike: FetchLike,
  origin: string,
): Promise<ScenarioResult> {
  const steps: string[] = [];
  const done = (s: string) => void steps.push(s);
  const cookies = new Map<string, string>();
  const mcpUrl = origin + "/mcp";

  const send = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (cookies.size && new URL(url).origin === origin) {
      headers.set("cookie", [...cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    const res = await fetchLike(new Request(url, { ...init, headers, redirect: "manual" }));
    for (const c of setCookies(res)) {
      const pair = c.split(";")[0];
      const i = pair.indexOf("=");
      if (i > 0) cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    return res;
  };
  const postForm = (url: string, fields: Record<string, string>) =>
    send(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });
  let rpcId = 0;
  const rpc = async (
    token: string | undefined,
    method: string,
    params?: Record<string, unknown>,
  ): Promise<Response> => {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: ACCEPT_MCP,
      "mcp-protocol-version": "2025-06-18",
    };
    if (token) headers.authorization = `Bearer ${token}`;
    return await send(mcpUrl, {
      method: "POST",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method, ...(params ? { params } : {}) }),
    });
  };
  /** The JSON-RPC result of a 200 reply, JSON or a one-event SSE stream. */
  const rpcResult = async (res: Response, step: string): Promise<Record<string, unknown>> => {
    const text = await res.text();
    check(res.status === 200, `${step}: expected 200, got ${res.status} ${text.slice(0, 300)}`);
    const ct = res.headers.get("content-type") ?? "";
    let payload = text;
    if (ct.startsWith("text/event-stream")) {
      const data = text.split(/\r?\n/).filter((l) => l.startsWith("data:"));
      check(data.length > 0, `${step}: SSE reply without data: ${text.slice(0, 200)}`);
      payload = data.map((l) => l.slice(5).trim()).join("\n");
    } else {
      check(ct.startsWith("application/json"), `${step}: unexpected content-type ${ct}`);
    }
    let msg: { result?: Record<string, unknown>; error?: { message?: string } };
    try {
      msg = JSON.parse(payload);
    } catch {
      throw new ScenarioError(`${step}: unparsable JSON-RPC reply ${payload.slice(0, 200)}`);
    }
    check(!msg.error, `${step}: JSON-RPC error ${JSON.stringify(msg.error)}`);
    check(msg.result && typeof msg.result === "object", `${step}: no result in ${payload}`);
    return msg.result;
  };

  // 1. The MCP endpoint without a token: 401 pointing at the protected-resource metadata.
  const unauth = await rpc(undefined, "tools/list");
  await drain(unauth);
  check(unauth.status === 401, `unauthenticated /mcp: expected 401, got ${unauth.status}`);
  const challenge = unauth.headers.get("www-authenticate") ?? "";
  check(/^Bearer\b/i.test(challenge), `401 challenge is not Bearer: "${challenge}"`);
  const prmUrl = authParam(challenge, "resource_metadata");
  check(prmUrl, `401 challenge lacks resource_metadata: "${challenge}"`);
  check(
    prmUrl === `${origin}/.well-known/oauth-protected-resource/mcp`,
    `resource_metadata URL ${prmUrl}`,
  );
  done("401 challenge with resource_metadata");

  // 2. RFC 9728 protected-resource metadata.
  const prmRes = await send(prmUrl);
  check(prmRes.status === 200, `PRM: expected 200, got ${prmRes.status}`);
  const prm = await jsonOf(prmRes, "PRM");
  check(prm.resource === mcpUrl, `PRM resource ${prm.resource} != ${mcpUrl}`);
  const servers = prm.authorization_servers as string[] | undefined;
  check(Array.isArray(servers) && servers[0] === origin, `PRM authorization_servers ${servers}`);
  done("RFC 9728 protected-resource metadata");

  // 3. RFC 8414 authorization-server metadata.
  const asRes = await send(`${servers[0]}/.well-known/oauth-authorization-server`);
  check(asRes.status === 200, `AS metadata: expected 200, got ${asRes.status}`);
  const as = await jsonOf(asRes, "AS metadata");
  check(as.issuer === origin, `AS metadata issuer ${as.issuer} != ${origin}`);
  for (const k of ["authorization_endpoint", "token_endpoint", "registration_endpoint"]) {
    check(typeof as[k] === "string", `AS metadata lacks ${k}`);
  }
  check(
    (as.code_challenge_methods_supported as string[] | undefined)?.includes("S256"),
    "AS metadata: S256 not in code_challenge_methods_supported",
  );
  const revocationEndpoint = as.revocation_endpoint as string;
  check(typeof revocationEndpoint === "string", "AS metadata lacks revocation_endpoint");
  const tokenEndpoint = as.token_endpoint as string;
  done("RFC 8414 authorization-server metadata");

  // 4. RFC 7591 dynamic client registration (public client).
  const regRes = await send(as.registration_endpoint as string, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "E2E Scenario Client",
      redirect_uris: [REDIRECT_URI],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    }),
  });
  const reg = await jsonOf(regRes, "register");
  check(
    regRes.status === 201,
    `register: expected 201, got ${regRes.status} ${JSON.stringify(reg)}`,
  );
  const clientId = reg.client_id as string;
  check(typeof clientId === "string" && clientId.length > 0, "register: no client_id");
  check(reg.client_secret === undefined, "register: a public client got a secret");
  done("RFC 7591 registration");

  /** /authorize → (sign-in) → consent → approve/deny; returns the redirect URL. */
  const authorize = async (
    scope: string,
    decision: "approve" | "deny",
    expectSignIn: boolean,
  ): Promise<{ redirect: URL; verifier: string; state: string }> => {
    const { verifier, challenge } = await pkcePair();
    const state = b64url(crypto.getRandomValues(new Uint8Array(12)));
    const q = new URLSearchParams({
      response_type: "code",
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      code_challenge: challenge,
      code_challenge_method: "S256",
      scope,
      resource: mcpUrl,
      state,
    });
    let res = await send(`${as.authorization_endpoint}?${q}`);
    let html = await res.text();
    check(
      res.status === 200,
      `authorize: expected a page, got ${res.status} ${html.slice(0, 200)}`,
    );
    if (expectSignIn) {
      check(html.includes('action="/demo/sign-in"'), "authorize: expected the demo sign-in form");
      const fields = inputs(html);
      check(fields.return_to?.startsWith("/authorize?"), `sign-in return_to ${fields.return_to}`);
      res = await postForm(`${origin}/demo/sign-in`, { ...fields, user: USER });
      await drain(res);
      check(res.status === 303, `sign-in: expected 303, got ${res.status}`);
      check(cookies.size > 0, "sign-in set no cookie");
      const back = res.headers.get("location");
      check(back && back.startsWith("/authorize?"), `sign-in redirect ${back}`);
      res = await send(new URL(back, origin).href);
      html = await res.text();
      check(res.status === 200, `consent: expected 200, got ${res.status} ${html.slice(0, 200)}`);
    }
    check(html.includes('name="decision"'), `expected the consent page, got ${html.slice(0, 200)}`);
    check(html.includes("E2E Scenario Client"), "consent page does not name the client");
    check(html.includes("127.0.0.1"), "consent page does not show the redirect host");
    for (const s of scope.split(" ")) check(html.includes(s), `consent page lacks scope ${s}`);
    check(html.includes(USER), "consent page does not show the signed-in user");
    const csp = res.headers.get("content-security-policy") ?? "";
    check(/frame-ancestors 'none'/.test(csp), `consent page CSP lacks frame-ancestors: ${csp}`);
    const fields = inputs(html);
    check(fields.consent_id && fields.csrf, "consent form lacks consent_id/csrf");
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    check(action, "consent page has no form");
    res = await postForm(new URL(unescapeHtml(action), origin).href, { ...fields, decision });
    await drain(res);
    check(res.status === 302, `consent ${decision}: expected 302, got ${res.status}`);
    const redirect = new URL(res.headers.get("location") ?? "");
    check(
      redirect.origin + redirect.pathname === REDIRECT_URI,
      `consent redirected to ${redirect.href}`,
    );
    check(redirect.searchParams.get("state") === state, "redirect lost the state");
    check(redirect.searchParams.get("iss") === origin, "redirect lacks iss (RFC 9207)");
    return { redirect, verifier, state };
  };

  const exchange = async (code: string, verifier: string): Promise<Response> =>
    await postForm(tokenEndpoint, {
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      redirect_uri: REDIRECT_URI,
      client_id: clientId,
      resource: mcpUrl,
    });

  // 5. Authorization: sign in, consent, code.
  const first = await authorize("mcp:read", "approve", true);
  const code = first.redirect.searchParams.get("code");
  check(code, `no code in ${first.redirect.href}`);
  done("authorize → demo sign-in → consent → code");

  // 6. Token exchange (PKCE S256); a second redemption of the same code is refused.
  const tokRes = await exchange(code, first.verifier);
  const tok = await jsonOf(tokRes, "token");
  check(tokRes.status === 200, `token: expected 200, got ${tokRes.status} ${JSON.stringify(tok)}`);
  check(tokRes.headers.get("cache-control")?.includes("no-store"), "token reply is cacheable");
  check(String(tok.token_type).toLowerCase() === "bearer", `token_type ${tok.token_type}`);
  check(tok.scope === "mcp:read", `token scope ${tok.scope}`);
  const access1 = tok.access_token as string;
  const refresh1 = tok.refresh_token as string;
  check(typeof access1 === "string" && access1.split(".").length === 3, "access token is no JWT");
  check(typeof refresh1 === "string", "no refresh token");
  const replay = await exchange(code, first.verifier);
  const replayBody = await jsonOf(replay, "code replay");
  check(
    replay.status === 400 && replayBody.error === "invalid_grant",
    `code replay: ${replay.status}`,
  );
  done("token exchange (PKCE S256); code is single use");
  // The replay revoked that grant (RFC 6749 §4.1.2): the token must be dead now.
  const afterReplay = await rpc(access1, "tools/list");
  await drain(afterReplay);
  check(afterReplay.status === 401, `token after code replay: expected 401, ${afterReplay.status}`);
  done("code replay revokes the grant");

  // 7. A fresh grant (already signed in: straight to consent) for the MCP calls.
  const second = await authorize("mcp:read", "approve", false);
  const tok2Res = await exchange(second.redirect.searchParams.get("code") ?? "", second.verifier);
  const tok2 = await jsonOf(tok2Res, "token 2");
  check(tok2Res.status === 200, `token 2: ${tok2Res.status} ${JSON.stringify(tok2)}`);
  const access = tok2.access_token as string;
  const refresh = tok2.refresh_token as string;

  const init = await rpcResult(
    await rpc(access, "initialize", {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "gatehouse-e2e", version: "1.0.0" },
    }),
    "initialize",
  );
  const protocolVersion = init.protocolVersion as string;
  check(typeof protocolVersion === "string", "initialize: no protocolVersion");
  check(
    (init.serverInfo as { name?: string } | undefined)?.name === "gatehouse-example",
    `initialize: serverInfo ${JSON.stringify(init.serverInfo)}`,
  );
  done("MCP initialize");
  const list = await rpcResult(await rpc(access, "tools/list"), "tools/list");
  const tools = ((list.tools ?? []) as { name: string }[]).map((t) => t.name).sort();
  check(
    tools.join(",") === "add_note,admin_stats,confirm,echo,list_notes,whoami",
    `tools/list: ${tools.join(",")}`,
  );
  done("MCP tools/list");
  const who = await rpcResult(
    await rpc(access, "tools/call", { name: "whoami", arguments: {} }),
    "tools/call whoami",
  );
  check(who.isError !== true, `whoami errored: ${JSON.stringify(who)}`);
  const info = who.structuredContent as Record<string, unknown> | undefined;
  check(info, `whoami: no structuredContent ${JSON.stringify(who)}`);
  check(info.subject === USER, `whoami subject ${info.subject} != ${USER}`);
  check(info.clientId === clientId, `whoami clientId ${info.clientId}`);
  check(info.resource === mcpUrl, `whoami resource ${info.resource}`);
  check((info.scopes as string[]).join(" ") === "mcp:read", `whoami scopes ${info.scopes}`);
  done("MCP tools/call whoami sees authInfo");

  // 8. admin_stats needs mcp:admin: 403 insufficient_scope naming it.
  const denied = await rpc(access, "tools/call", { name: "admin_stats", arguments: {} });
  await drain(denied);
  check(denied.status === 403, `admin_stats with mcp:read: expected 403, got ${denied.status}`);
  const stepUp = denied.headers.get("www-authenticate") ?? "";
  check(authParam(stepUp, "error") === "insufficient_scope", `403 challenge: ${stepUp}`);
  check(authParam(stepUp, "scope")?.split(" ").includes("mcp:admin"), `403 scope: ${stepUp}`);
  done("403 insufficient_scope for admin_stats");

  // 9. Refresh rotation; a retry gets the same pair; reuse two rotations back revokes the grant.
  const refreshWith = (rt: string) =>
    postForm(tokenEndpoint, {
      grant_type: "refresh_token",
      refresh_token: rt,
      client_id: clientId,
    });
  const rotRes = await refreshWith(refresh);
  const rot = await jsonOf(rotRes, "refresh");
  check(rotRes.status === 200, `refresh: ${rotRes.status} ${JSON.stringify(rot)}`);
  const access2 = rot.access_token as string;
  const refresh2 = rot.refresh_token as string;
  check(access2 && access2 !== access, "refresh: no new access token");
  check(refresh2 && refresh2 !== refresh, "refresh: refresh token not rotated");
  const whoAfter = await rpcResult(
    await rpc(access2, "tools/call", { name: "whoami", arguments: {} }),
    "whoami after refresh",
  );
  check(
    (whoAfter.structuredContent as { subject?: string })?.subject === USER,
    "whoami after refresh",
  );
  done("refresh rotation");
  // A retry of the same token inside the reuse window gets the same successor pair.
  const retryRes = await refreshWith(refresh);
  const retry = await jsonOf(retryRes, "refresh retry");
  check(
    retryRes.status === 200 && retry.refresh_token === refresh2 && retry.access_token === access2,
    `refresh retry: expected the same pair, got ${retryRes.status} ${JSON.stringify(retry)}`,
  );
  done("refresh retry inside the reuse window gets the same pair");
  const rot3Res = await refreshWith(refresh2);
  const rot3 = await jsonOf(rot3Res, "second refresh");
  check(rot3Res.status === 200, `second refresh: ${rot3Res.status} ${JSON.stringify(rot3)}`);
  const access3 = rot3.access_token as string;
  // The first token is now two rotations back: reuse, even inside the window.
  const reuse = await refreshWith(refresh);
  const reuseBody = await jsonOf(reuse, "refresh reuse");
  check(
    reuse.status === 400 && reuseBody.error === "invalid_grant",
    `reused refresh token: expected 400 invalid_grant, got ${reuse.status} ${
      JSON.stringify(reuseBody)
    }`,
  );
  const afterReuse = await refreshWith(rot3.refresh_token as string);
  await drain(afterReuse);
  check(afterReuse.status === 400, `rotated token after reuse: expected 400, ${afterReuse.status}`);
  const deadAccess = await rpc(access3, "tools/list");
  await drain(deadAccess);
  check(deadAccess.status === 401, `access token after reuse: expected 401, ${deadAccess.status}`);
  done("refresh reuse detection revokes the grant");

  // 10. Step-up grant with mcp:admin; admin_stats runs; then RFC 7009 revocation.
  const third = await authorize("mcp:read mcp:admin", "approve", false);
  const tok3Res = await exchange(third.redirect.searchParams.get("code") ?? "", third.verifier);
  const tok3 = await jsonOf(tok3Res, "token 3");
  check(tok3Res.status === 200, `token 3: ${tok3Res.status} ${JSON.stringify(tok3)}`);
  check(String(tok3.scope).split(" ").includes("mcp:admin"), `step-up scope ${tok3.scope}`);
  const stats = await rpcResult(
    await rpc(tok3.access_token as string, "tools/call", { name: "admin_stats", arguments: {} }),
    "admin_stats with mcp:admin",
  );
  check(stats.isError !== true, `admin_stats errored: ${JSON.stringify(stats)}`);
  done("step-up to mcp:admin runs admin_stats");
  const rev = await postForm(revocationEndpoint, {
    token: tok3.refresh_token as string,
    client_id: clientId,
  });
  await drain(rev);
  check(rev.status === 200, `revoke: expected 200, got ${rev.status}`);
  const revoked = await rpc(tok3.access_token as string, "tools/list");
  await drain(revoked);
  check(revoked.status === 401, `/mcp after revoke: expected 401, got ${revoked.status}`);
  check(
    authParam(revoked.headers.get("www-authenticate") ?? "", "error") === "invalid_token",
    "/mcp after revoke: challenge is not invalid_token",
  );
  done("revocation → /mcp 401 invalid_token");

  // 11. Deny → access_denied.
  const denial = await authorize("mcp:read", "deny", false);
  check(
    denial.redirect.searchParams.get("error") === "access_denied" &&
      !denial.redirect.searchParams.has("code"),
    `deny: ${denial.redirect.href}`,
  );
  done("deny → access_denied");

  return { steps, clientId, subject: USER, tools, protocolVersion };
}

/** Number of steps a passing run reports (runners assert it). */
export const SCENARIO_STEPS = 17;

/** The demo's tools, sorted by name: what `tools/list` must show an admin. */
export const DEMO_TOOLS = ["add_note", "admin_stats", "confirm", "echo", "list_notes", "whoami"];
