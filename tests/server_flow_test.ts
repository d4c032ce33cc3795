import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeJwt, decodeProtectedHeader } from "jose";
import {
  authorize,
  ISSUER,
  pkce,
  REDIRECT,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";

test("happy path: register → authorize → consent → code → tokens (RFC 9068 JWT)", async () => {
  const s = await testServer();
  const client = await register(s);
  const { verifier, challenge } = await pkce();
  const loc = await authorize(s, client.client_id, {
    challenge,
    scope: "mcp:read mcp:write",
    state: "xyz",
  });
  assert.equal(loc.origin + loc.pathname, REDIRECT);
  assert.equal(loc.searchParams.get("state"), "xyz");
  assert.equal(loc.searchParams.get("iss"), ISSUER);
  const res = await s.form("/token", {
    grant_type: "authorization_code",
    code: loc.searchParams.get("code")!,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: client.client_id,
    resource: RESOURCE,
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const body = await res.json();
  assert.equal(body.token_type, "Bearer");
  assert.equal(body.scope, "mcp:read mcp:write");
  assert.equal(body.expires_in, 900);
  // `<grantId>.<secret>`: the grant id (as `gid` in the access token) and 256 random bits.
  assert.match(body.refresh_token, /^[A-Za-z0-9_-]{22,43}\.[A-Za-z0-9_-]{43}$/);
  const header = decodeProtectedHeader(body.access_token);
  assert.equal(header.typ, "at+jwt");
  assert.equal(header.alg, "EdDSA");
  const claims = decodeJwt(body.access_token);
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.aud, RESOURCE);
  assert.equal(claims.sub, "alice");
  assert.equal(claims.client_id, client.client_id);
  assert.equal(claims.scope, "mcp:read mcp:write");
  assert.equal(typeof claims.gid, "string");
  assert.equal(typeof claims.jti, "string");
  assert.deepEqual(
    s.events.map((e) => e.type),
    ["client.registered", "authorization.granted", "token.issued"],
  );
  const granted = s.events[1];
  assert.equal(granted.subject, "alice");
  assert.deepEqual(granted.scopes, ["mcp:read", "mcp:write"]);
  assert.equal(typeof granted.at, "number");
});

test("same-process verify accepts the token, then refuses it after revocation (strict)", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const ok = await s.auth.verify(t.access_token);
  assert.equal(ok.ok, true);
  if (ok.ok) assert.equal(ok.claims.subject, "alice");
  const rev = await s.form("/revoke", { token: t.refresh_token, client_id: t.client_id });
  assert.equal(rev.status, 200);
  const after = await s.auth.verify(t.access_token);
  assert.equal(after.ok, false);
  if (!after.ok) assert.equal(after.status, 401);
});

test("refresh rotates; the old refresh token is then reuse → whole grant revoked", async () => {
  const s = await testServer();
  const t = await tokensFor(s, { scope: "mcp:read mcp:write" });
  const r1 = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(r1.status, 200);
  const b1 = await r1.json();
  assert.notEqual(b1.refresh_token, t.refresh_token);
  assert.equal(b1.scope, "mcp:read mcp:write");
  // Reuse of the rotated token, after the 60 s retry window.
  s.advance(61_000);
  const reuse = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(reuse.status, 400);
  assert.equal((await reuse.json()).error, "invalid_grant");
  assert.ok(s.events.some((e) => e.type === "refresh.reuse_detected"));
  // The legitimately rotated token is now dead too, and so is the access token.
  const next = await refreshWith(s, b1.refresh_token, t.client_id);
  assert.equal(next.status, 400);
  assert.equal((await s.auth.verify(b1.access_token)).ok, false);
});
