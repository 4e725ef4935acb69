// What the console's pages and its embeddable elements (<points-widget>, <points-history>)
// share: building DOM nodes, the en-ZA formats, requests to the CRM API with the API's own
// error text, and the Idempotency-Key of a write kept across a retry of the same values.
// No dependency and nothing of the console's session: the elements import it relative to
// their own URL, so a host page that loads points-widget.js gets it from beside that file.

/** A new `tag` element with `attributes` set and `children` (nodes or text) appended. */
export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** The page's element with this id. */
export const $ = (id) => document.getElementById(id);

// -- en-ZA formats; the business keeps its books in Africa/Johannesburg ------------------

export const POINTS = new Intl.NumberFormat("en-ZA", { maximumFractionDigits: 0 });
export const SIGNED = new Intl.NumberFormat("en-ZA", { maximumFractionDigits: 0, signDisplay: "exceptZero" });
export const PERCENT = new Intl.NumberFormat("en-ZA", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
export const RAND = new Intl.NumberFormat("en-ZA", { style: "currency", currency: "ZAR" });
/** A moment: "24 Nov 2026, 14:05". */
export const MOMENT = new Intl.DateTimeFormat("en-ZA", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "Africa/Johannesburg",
});
/** A month given as the UTC moment of its first day: "Nov 2026". */
export const MONTH = new Intl.DateTimeFormat("en-ZA", { month: "short", year: "numeric", timeZone: "UTC" });
// Expiry days are calendar days in Africa/Johannesburg; read as UTC midnight they print as
// the same day wherever the browser is.
const CALENDAR_DAY = new Intl.DateTimeFormat("en-ZA", { dateStyle: "long", timeZone: "UTC" });
const LOCAL_DAY = new Intl.DateTimeFormat("en-ZA", { dateStyle: "long", timeZone: "Africa/Johannesburg" });
const ISO_DAY = new Intl.DateTimeFormat("en-CA", { timeZone: "Africa/Johannesburg" }); // YYYY-MM-DD
const DAY_MS = 24 * 60 * 60 * 1000;

/** `YYYY-MM` of now in Africa/Johannesburg, where the API's months are. */
export function currentMonth() {
  return isoDayFromNow().slice(0, 7);
}

/** A month (`YYYY-MM`) as en-ZA shows it: "Nov 2026". */
export function monthLabel(month) {
  const [year, number] = month.split("-").map(Number);
  return MONTH.format(new Date(Date.UTC(year, number - 1, 1)));
}

/** A calendar day (YYYY-MM-DD) in en-ZA's long form: "24 November 2027". */
export function longDay(day) {
  return CALENDAR_DAY.format(new Date(`${day}T00:00:00Z`));
}

/** The day of a moment in Africa/Johannesburg, in en-ZA's long form. */
export function dayOf(moment) {
  return LOCAL_DAY.format(new Date(moment));
}

/** The day of a moment (a Date, its time or ISO text) in Africa/Johannesburg, as YYYY-MM-DD. */
export function isoDay(moment) {
  return ISO_DAY.format(new Date(moment));
}

/** The day `days` days from now in Africa/Johannesburg, as YYYY-MM-DD (0: today). */
export function isoDayFromNow(days = 0) {
  return isoDay(Date.now() + days * DAY_MS);
}

// -- the controls of a write --------------------------------------------------------------

// The API refuses an expiry more than this many days ahead (docs/ledger.md, "Account pages").
export const EXPIRY_HORIZON_DAYS = 3660;

/** A required reason, as the API takes one (3 to 500 characters). */
export function reasonInput() {
  return element("input", { name: "reason", type: "text", required: "", minlength: "3", maxlength: "500" });
}

/** A new expiry day, offered from tomorrow (the API wants a day later than today's) to the
 * API's horizon, in Africa/Johannesburg. */
export function expiryDayInput() {
  return element("input", {
    name: "newExpiryDate",
    type: "date",
    required: "",
    min: isoDayFromNow(1),
    max: isoDayFromNow(EXPIRY_HORIZON_DAYS),
  });
}

/** What a recovery did, from the API's answer to POST /points/recover-expired. */
export function recoveredText(answer) {
  const recovered = answer?.transactions?.find((entry) => entry.type === "RECOVER");
  return recovered ? `Recovered ${POINTS.format(recovered.points)} points.` : "Recovered the points.";
}

// -- the CRM API --------------------------------------------------------------------------

/**
 * The answer to a request as {ok, status, body} (`body`: the JSON answered, else null); a
 * network failure throws. `token` goes as a bearer token, a `body` as JSON.
 */
export async function fetchJson(url, { method = "GET", token = "", body, headers = {} } = {}) {
  const response = await fetch(url, {
    method,
    headers: {
      Accept: "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, body: answer };
}

/** The API's own message for a refusal, or what went wrong on the way. */
export function errorText(answer) {
  const error = answer.body?.error;
  if (error?.message) return error.message;
  if (answer.status) return `The API answered ${answer.status}.`;
  return "The API could not be reached.";
}

/** The claims of a JWT, unverified: only to decide what to offer; the API decides. */
export function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

/**
 * The Idempotency-Keys of writes: the same values sent again to the same path after an
 * unknown outcome (the network failed) keep their key, so the API never counts them twice
 * (§2.9); any other write gets a new key.
 */
export class IdempotencyKeys {
  #pending = new Map(); // {path, values} as JSON -> the key of a write whose outcome is unknown

  /**
   * `send(key)` with the key of `values` to `path`: its answer; null when the network
   * failed, the key then kept for a retry of the same values.
   */
  async send(path, values, send) {
    const signature = JSON.stringify({ path, values });
    if (!this.#pending.has(signature)) this.#pending.set(signature, crypto.randomUUID());
    let answer;
    try {
      answer = await send(this.#pending.get(signature));
    } catch {
      return null;
    }
    this.#pending.delete(signature); // an answer came: the next write of these values is new
    return answer;
  }
}
