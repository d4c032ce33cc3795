/**
 * The built-in consent page: a plain HTML form (works without JavaScript),
 * CSRF token bound to the pending request, `frame-ancestors 'none'`.
 *
 * @module
 */
import { html, HTML_HEADERS } from "./_http.ts";
import { isLoopbackHost } from "./_hosts.ts";
import { displayText } from "./_display.ts";

/** Everything a consent page needs to show and submit. */
export interface ConsentPageContext {
  /** Where the form posts. */
  action: string;
  /** Hidden fields the form must send back unchanged. */
  fields: { consent_id: string; csrf: string };
  /** The signed-in user. */
  subject: string;
  /** Client display name (or its id). */
  clientName: string;
  /** The client id. */
  clientId: string;
  /** Host (or scheme) the user will be sent back to. */
  redirectHost: string;
  /** Scopes requested. */
  scopes: string[];
  /** Descriptions for some or all of `scopes` (from config `scopeDescriptions`). */
  scopeDescriptions: Record<string, string>;
  /** Resource URL and display name. */
  resource: { url: string; name?: string };
  /** Warnings to show (e.g. a metadata-document client that only redirects to localhost). */
  warnings: string[];
  /**
   * True for clients anyone could have created (dynamic registration or a Client ID Metadata
   * Document): their name is self-asserted, so the page marks them unverified (RFC 7591 §5).
   * Absent counts as true.
   */
  selfRegistered?: boolean;
}

/** Describe where a redirect URI sends the user: its host, or its scheme for private-use URIs. */
export function redirectHostOf(uri: string): string {
  const u = new URL(uri);
  if (u.protocol === "http:" || u.protocol === "https:") {
    return isLoopbackHost(u.hostname) ? `${u.hostname} (this computer)` : u.host;
  }
  return `${u.protocol}// (an app on this device)`;
}

/** Render the default consent page. */
export function renderConsentPage(c: ConsentPageContext): Response {
  const scopes = c.scopes.map((s) => {
    const d = Object.hasOwn(c.scopeDescriptions, s) ? c.scopeDescriptions[s] : undefined;
    return `<li><code>${html(s)}</code>${d ? ` — ${html(d)}` : ""}</li>`;
  }).join("");
  const warnings = c.warnings.map((w) => `<p class="warn">${html(w)}</p>`).join("");
  // Self-asserted names are shown without invisible or direction-changing characters.
  const name = displayText(c.clientName) || displayText(c.clientId) || "(unnamed application)";
  const unverified = c.selfRegistered !== false;
  const badge = unverified
    ? `<p class="warn" id="unverified"><strong>Unverified application.</strong> The name above was ` +
      `chosen by whoever registered it; this server has not checked who they are. Only continue ` +
      `if you started this from an application you trust.</p>`
    : "";
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Authorize ${html(name)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
.warn{background:#fff3cd;padding:.5rem;border-radius:4px}button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.5rem}
.dest{font-size:1.15rem;border:2px solid #333;padding:.5rem;border-radius:4px}
code{background:#f2f2f2;padding:0 .25rem;border-radius:3px}</style></head>
<body>
<h1>Authorize <span id="client-name">${html(name)}</span>?</h1>
${badge}
<p class="dest">After you decide you will be sent to <strong id="redirect-host">${
    html(c.redirectHost)
  }</strong>.</p>
<p>Signed in as <strong>${html(c.subject)}</strong>.</p>
<p><strong>${html(name)}</strong> wants access to
<strong id="resource">${html(c.resource.name ?? c.resource.url)}</strong>
(<code>${html(c.resource.url)}</code>) with these permissions:</p>
<ul id="scopes">${scopes}</ul>
${warnings}
<form method="post" action="${html(c.action)}">
<input type="hidden" name="consent_id" value="${html(c.fields.consent_id)}">
<input type="hidden" name="csrf" value="${html(c.fields.csrf)}">
<button type="submit" name="decision" value="approve" id="approve">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>
<p><small>Client id: <code>${html(c.clientId)}</code></small></p>
</body></html>`;
  return new Response(body, { status: 200, headers: HTML_HEADERS });
}
