/**
 * Scope-hierarchy helpers for the resource-server verifier.
 *
 * @module
 */

/** Map of a scope to the scopes it directly includes (e.g. `{"mcp:admin": ["mcp:write"]}`). */
export type ScopeHierarchy = Record<string, string[]>;

// The last split, kept private (callers get copies): tokens of one client repeat their scope.
let lastScope = "";
let lastScopes: readonly string[] = [];

/** Splits an OAuth `scope` string into its distinct scope tokens (a new array each call). */
export function splitScopes(scope: unknown): string[] {
  if (typeof scope !== "string") return [];
  if (scope === lastScope) return lastScopes.slice();
  const out: string[] = [];
  for (const s of scope.split(" ")) {
    if (s !== "" && !out.includes(s)) out.push(s);
  }
  lastScope = scope;
  lastScopes = out;
  return out.slice();
}

/**
 * Builds a checker that answers which of the `required` scopes are NOT covered by `granted`,
 * following the hierarchy transitively (cycles are harmless).
 */
export function createScopeChecker(
  hierarchy: ScopeHierarchy = {},
): (granted: readonly string[], required: readonly string[]) => string[] {
  const closure = new Map<string, Set<string>>();
  const expand = (scope: string): Set<string> => {
    const known = closure.get(scope);
    if (known) return known;
    const seen = new Set<string>([scope]);
    const stack = [scope];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      const children = Object.hasOwn(hierarchy, next) ? hierarchy[next] : undefined;
      if (!Array.isArray(children)) continue;
      for (const child of children) {
        if (!seen.has(child)) {
          seen.add(child);
          stack.push(child);
        }
      }
    }
    closure.set(scope, seen);
    return seen;
  };
  return (granted, required) => {
    const missing: string[] = [];
    for (const need of required) {
      let ok = false;
      for (const have of granted) {
        if (have === need || expand(have).has(need)) {
          ok = true;
          break;
        }
      }
      if (!ok) missing.push(need);
    }
    return missing;
  };
}

/** Returns the `required` scopes not covered by `granted` under `hierarchy`. */
export function missingScopes(
  granted: readonly string[],
  required: readonly string[],
  hierarchy?: ScopeHierarchy,
): string[] {
  return createScopeChecker(hierarchy)(granted, required);
}
