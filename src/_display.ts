/**
 * Display rules for self-asserted text (client names from registration or metadata
 * documents) shown to users (internal, dependency-free).
 *
 * @module
 */

/**
 * Control characters (C0, C1, DEL), format characters (`\p{Cf}`: bidi embeddings, overrides
 * and isolates U+202A–202E / U+2066–2069, marks U+200E/U+200F/U+061C, zero-width
 * U+200B–U+200D / U+2060 / U+FEFF, soft hyphen, …), line/paragraph separators, and
 * variation selectors / tag characters used to hide text.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\uFE00-\uFE0F\u{E0000}-\u{E007F}\u{E0100}-\u{E01EF}]/gu;

/**
 * Text safe to show as a name: invisible and direction-changing characters removed, runs of
 * whitespace collapsed, trimmed, cut to `max` code points (with "…"). Empty when nothing
 * visible remains — callers then fall back to something they control (e.g. the client id).
 * HTML escaping is still the renderer's job.
 */
export function displayText(s: string, max = 80): string {
  const clean = s.replace(INVISIBLE, "").replace(/\s+/gu, " ").trim();
  const cps = [...clean];
  return cps.length > max ? cps.slice(0, max).join("") + "…" : clean;
}
