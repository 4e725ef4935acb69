// How the console signs in, as /config.json says ("signIn"):
// - "local": the local stack signs a token for a chosen user and role (POST /local/token);
// - "cognito": the user pool's hosted sign-in, OAuth 2.0 authorization code with PKCE (the
//   console is a public client: no secret). The page goes to Cognito's /oauth2/authorize and
//   comes back with ?code=&state=, which it trades at /oauth2/token for tokens; the access
//   token (sub, cognito:groups) is what the API verifies. The refresh token renews it.
// Either gives a session {token, userId, role, expiresAt, refreshToken?} (session.js).
import { claimsOf, fetchJson } from "./common.js";

/** The roles the API knows, strongest first (crm_points.permissions.role_from_groups). */
const ROLES = ["ADMIN", "MANAGER", "FINANCE", "SUPPORT_AGENT", "BOOKING_SYSTEM"];
const PENDING_KEY = "crm-points-console-sign-in"; // the PKCE verifier and state, until back

export class SignInError extends Error {}

/** The local stack's sign-in: a token for `userId` in `role`. */
export async function signInLocally(userId, role) {
  const answer = await fetchJson("/local/token", { method: "POST", body: { userId, role } });
  if (!answer.ok) throw new SignInError(answer.body?.error?.message || `Sign-in failed (${answer.status})`);
  return answer.body;
}

function base64Url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function randomText() {
  return base64Url(crypto.getRandomValues(new Uint8Array(32)));
}

/** The user pool's hosted sign-in; `settings` is config.json's `cognito`. */
export class CognitoSignIn {
  constructor({ domain, clientId, redirectUri }) {
    this.domain = domain.replace(/\/+$/, "");
    this.clientId = clientId;
    this.redirectUri = redirectUri;
  }

  /** Go to the hosted sign-in page; it comes back to the console with a code. */
  async begin() {
    const verifier = randomText();
    const state = randomText();
    const challenge = base64Url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state }));
    const query = new URLSearchParams({
      response_type: "code",
      client_id: this.clientId,
      redirect_uri: this.redirectUri,
      scope: "openid email profile",
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    location.assign(`${this.domain}/oauth2/authorize?${query}`);
  }

  /**
   * Back from the hosted sign-in (`?code=&state=`, or `?error=`): the session, after the
   * code is traded for tokens; null when this page load is not such a return.
   */
  async complete() {
    const query = new URLSearchParams(location.search);
    if (!query.has("code") && !query.has("error")) return null;
    history.replaceState(null, "", location.pathname); // the code is good once: not in history
    const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
    sessionStorage.removeItem(PENDING_KEY);
    if (query.has("error")) throw new SignInError(query.get("error_description") || query.get("error"));
    if (!pending || pending.state !== query.get("state")) {
      throw new SignInError("This sign-in was not started from this tab; sign in again.");
    }
    const tokens = await this.#tokens({
      grant_type: "authorization_code",
      code: query.get("code"),
      redirect_uri: this.redirectUri,
      code_verifier: pending.verifier,
    });
    return sessionOf(tokens);
  }

  /** A session with new tokens from its refresh token (throws when Cognito refuses). */
  async renew(session) {
    const tokens = await this.#tokens({ grant_type: "refresh_token", refresh_token: session.refreshToken });
    return sessionOf(tokens, session.refreshToken);
  }

  /** Where to go to end the hosted sign-in's own session too. */
  signOutUrl() {
    const query = new URLSearchParams({ client_id: this.clientId, logout_uri: this.redirectUri });
    return `${this.domain}/logout?${query}`;
  }

  async #tokens(form) {
    const response = await fetch(`${this.domain}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: this.clientId, ...form }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok || !body?.access_token) {
      throw new SignInError(`Cognito refused the sign-in (${body?.error || response.status}); sign in again.`);
    }
    return body;
  }
}

/** The session the tokens give; refused when the user is in no CRM group. */
function sessionOf(tokens, refreshToken) {
  const access = claimsOf(tokens.access_token);
  const identity = tokens.id_token ? claimsOf(tokens.id_token) : {};
  const groups = Array.isArray(access["cognito:groups"]) ? access["cognito:groups"] : [];
  const role = ROLES.find((known) => groups.includes(known));
  if (!role) {
    throw new SignInError(
      "Your account is in no CRM group (SUPPORT_AGENT, MANAGER, FINANCE or ADMIN): ask an admin to add you to one.",
    );
  }
  return {
    token: tokens.access_token,
    userId: identity.email || access.username || access.sub,
    role,
    expiresAt: new Date(access.exp * 1000).toISOString(),
    refreshToken: tokens.refresh_token || refreshToken,
  };
}
