// What the console's staff sections (approvals, alerts, dashboard) share: calls to the CRM
// API with the signed-in session's token, en-ZA formats, and one submission's
// Idempotency-Key kept across a retry of the same values.
import { accessToken, apiUrl } from "./session.js";

export const POINTS = new Intl.NumberFormat("en-ZA", { maximumFractionDigits: 0 });
export const PERCENT = new Intl.NumberFormat("en-ZA", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
export const RAND = new Intl.NumberFormat("en-ZA", { style: "currency", currency: "ZAR" });
export const MOMENT = new Intl.DateTimeFormat("en-ZA", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "Africa/Johannesburg",
});

/** The roles that see the approvals, alerts and dashboard sections (SPEC §4). */
export const STAFF_ROLES = new Set(["MANAGER", "ADMIN"]);

/**
 * The API's answer to `method path` as {ok, status, body}; a network failure throws.
 * A 401 (the token ran out) tells the page, which signs out.
 */
export async function callApi(method, path, { body, idempotencyKey } = {}) {
  const headers = { Authorization: `Bearer ${await accessToken()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  const response = await fetch(apiUrl(path), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  if (response.status === 401) document.dispatchEvent(new CustomEvent("session-expired"));
  return { ok: response.ok, status: response.status, body: answer };
}

/** The API's own message for a refusal. */
export function errorText(answer) {
  const message = answer.body?.error?.message;
  if (message) return message;
  return `The API answered ${answer.status}.`;
}

/**
 * Idempotency keys of submissions: the same values sent again after an unknown outcome
 * (the network failed) keep their key, so the API never counts them twice (§2.9); any
 * other submission gets a new key.
 */
export class Submissions {
  #pending = new Map();

  keyFor(values) {
    const signature = JSON.stringify(values);
    if (!this.#pending.has(signature)) this.#pending.set(signature, crypto.randomUUID());
    return this.#pending.get(signature);
  }

  /** The outcome is known (an answer came): the next submission of these values is new. */
  settled(values) {
    this.#pending.delete(JSON.stringify(values));
  }
}

/**
 * Send a POST of `values` with its submission's key; {answer} when the API answered,
 * {unreachable: true} when the network failed (the key is kept for a retry).
 */
export async function submit(submissions, path, values) {
  const idempotencyKey = submissions.keyFor({ path, values });
  let answer;
  try {
    answer = await callApi("POST", path, { body: values, idempotencyKey });
  } catch {
    return { unreachable: true };
  }
  submissions.settled({ path, values });
  return { answer };
}

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** Show `text` in `node` as a refusal (announced) or an outcome. */
export function say(node, text, isError = false) {
  node.textContent = text;
  node.className = isError ? "error" : "done";
  node.setAttribute("role", isError ? "alert" : "status");
  node.hidden = false;
}
