// The console's signed-in session and where the API is. The session lives in the tab's
// sessionStorage as {token, userId, role, expiresAt, refreshToken?}. A sign-in that can renew
// its tokens (Cognito's refresh token) renews the session shortly before it runs out, so a
// request never leaves with a token about to expire; when renewal fails the stale token goes,
// the API answers 401 and the console signs out.

const SESSION_KEY = "crm-points-console-session";
const RENEW_BEFORE_MS = 60_000;

let apiOrigin = "";
let renewSession = null;
let renewing = null;

/** Where the API is (its origin; "" for this page's) and how to renew a session, if at all. */
export function configureApi(origin, renew = null) {
  apiOrigin = (origin || "").replace(/\/+$/, "");
  renewSession = renew;
}

/** The API's origin, as the embeddable elements' `api-base` wants it. */
export function apiOriginOf() {
  return apiOrigin;
}

export function apiUrl(path) {
  return `${apiOrigin}${path}`;
}

export function currentSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

function runsOutSoon(session) {
  return Date.parse(session.expiresAt) - Date.now() < RENEW_BEFORE_MS;
}

/** The token for the next request ("" when signed out), renewed first when it runs out soon. */
export async function accessToken() {
  const session = currentSession();
  if (!session) return "";
  if (!renewSession || !session.refreshToken || !runsOutSoon(session)) return session.token;
  // Requests made at once (the dashboard's) share one renewal.
  renewing ??= renewSession(session)
    .then((renewed) => {
      saveSession(renewed);
      return renewed.token;
    })
    .catch(() => session.token)
    .finally(() => {
      renewing = null;
    });
  return renewing;
}
