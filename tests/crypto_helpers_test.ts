/** The server's small crypto helpers (src/_crypto.ts): constant-time comparison and PKCE. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { pkceMatches, sha256, timingSafeEqual } from "../src/_crypto.ts";

test("timingSafeEqual: true exactly for the same string", () => {
  const h = "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg";
  assert.equal(timingSafeEqual(h, h), true);
  assert.equal(timingSafeEqual(h, h.slice(0, -1) + "h"), false);
  assert.equal(timingSafeEqual(h, h.slice(0, -1)), false);
  assert.equal(timingSafeEqual(h + h, h), false);
  assert.equal(timingSafeEqual("", ""), true);
  assert.equal(timingSafeEqual("", "a"), false);
  assert.equal(timingSafeEqual("a", ""), false);
  // A repeated string is not equal to its shorter self (the loop wraps the shorter one).
  assert.equal(timingSafeEqual("abab", "ab"), false);
  assert.equal(timingSafeEqual("é", "é"), true);
  assert.equal(timingSafeEqual("é", "e\u0301"), false);
  // Lone surrogates differ from each other (an encoder would turn both into U+FFFD).
  assert.equal(timingSafeEqual("\uD800", "\uD801"), false);
  assert.equal(timingSafeEqual("\uD800", "\uFFFD"), false);
});

test("pkceMatches: S256 of the verifier, and only a verifier of RFC 7636 syntax", async () => {
  const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  // RFC 7636 Appendix B.
  assert.equal(await sha256(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  assert.equal(await pkceMatches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), true);
  assert.equal(await pkceMatches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"), false);
  assert.equal(await pkceMatches("short", await sha256("short")), false);
});
