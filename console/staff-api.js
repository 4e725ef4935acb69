// What the console's own pages (the customer search, approvals, alerts, dashboard) share:
// calls to the CRM API with the signed-in session's token (a 401 signs the console out), a
// paged list, and a write from a form. The DOM helper, the formats and the Idempotency-Key
// memory are common.js's, shared with the embeddable elements.
import { $, element, errorText, fetchJson } from "./common.js";
import { accessToken, apiUrl } from "./session.js";

/**
 * The API's answer to `method path` as {ok, status, body}; a network failure throws.
 * A 401 (the token ran out) tells the page, which signs out.
 */
export async function callApi(method, path, { body, idempotencyKey } = {}) {
  const headers = idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {};
  const answer = await fetchJson(apiUrl(path), { method, token: await accessToken(), body, headers });
  if (answer.status === 401) document.dispatchEvent(new CustomEvent("session-expired"));
  return answer;
}

/**
 * The bodies of the API's answers to `requests` ([method, path] each, asked at once); null
 * when one failed or was refused, which `status` then says.
 */
export async function loaded(status, ...requests) {
  let answers;
  try {
    answers = await Promise.all(requests.map(([method, path]) => callApi(method, path)));
  } catch {
    say(status, "The API could not be reached; try again.", true);
    return null;
  }
  const refused = answers.find((answer) => !answer.ok);
  if (refused) {
    say(status, errorText(refused), true);
    return null;
  }
  return answers.map((answer) => answer.body);
}

/** GET `path` as CSV with the session's token, saved under the name the API gives; a
 * failure is said in `status`. */
export async function download(path, status) {
  let response;
  try {
    response = await fetch(apiUrl(path), { headers: { Accept: "text/csv", Authorization: `Bearer ${await accessToken()}` } });
  } catch {
    say(status, "The API could not be reached; try again.", true);
    return;
  }
  if (response.status === 401) document.dispatchEvent(new CustomEvent("session-expired"));
  if (!response.ok) {
    say(status, `The download was refused (${response.status}).`, true);
    return;
  }
  const name = /filename="?([^";]+)"?/.exec(response.headers.get("Content-Disposition") || "")?.[1] || "points.csv";
  const link = element("a", { href: URL.createObjectURL(await response.blob()), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(link.href);
}

/** Show `text` in `node` as a refusal (announced) or an outcome. */
export function say(node, text, isError = false) {
  node.textContent = text;
  node.className = isError ? "error" : "done";
  node.setAttribute("role", isError ? "alert" : "status");
  node.hidden = false;
}

/**
 * The paged list of the section `name`, from GET `path`: `#name-list` holds the items
 * (`itemsOf(body)` of each page, each drawn by `draw`), `#name-status` says a failure,
 * `#name-empty` shows while the list is empty and `#name-more` appends the next page.
 */
export class PagedList {
  // Which showing of the list is current: the answer to an earlier one (other filters, or
  // the section opened again in quick succession) arrives late and is dropped, not appended.
  #showing = 0;

  constructor(name, path, itemsOf, draw) {
    Object.assign(this, { name, path, itemsOf, draw });
  }

  /** Show the first page of `query`'s items, in place of what the list showed. */
  async show(query) {
    const shown = ++this.#showing;
    this.#part("list").replaceChildren();
    this.#part("more").hidden = true;
    this.#part("status").hidden = true;
    await this.#append(new URLSearchParams(query), null, shown);
  }

  #part(role) {
    return $(`${this.name}-${role}`);
  }

  // "More" pages the query shown, even if a form has since changed without being submitted
  // (a cursor is only good for the query it came from).
  async #append(query, cursor, shown) {
    const page = new URLSearchParams(query);
    if (cursor) page.set("cursor", cursor);
    let answer;
    try {
      answer = await callApi("GET", `${this.path}?${page}`);
    } catch {
      if (shown === this.#showing) say(this.#part("status"), "The API could not be reached; try again.", true);
      return;
    }
    if (shown !== this.#showing) return;
    if (!answer.ok) {
      say(this.#part("status"), errorText(answer), true);
      return;
    }
    const list = this.#part("list");
    list.append(...this.itemsOf(answer.body).map(this.draw));
    this.#part("empty").hidden = list.children.length > 0;
    const more = this.#part("more");
    more.hidden = !answer.body.nextCursor;
    more.onclick = () => this.#append(query, answer.body.nextCursor, shown);
  }
}

/**
 * POST `values` to `path` from `form`, with their Idempotency-Key from `keys`; the form's
 * buttons are disabled meanwhile. `outcome` says `working`, then the API's refusal or, when
 * the network failed, `unreachable`. The API's answer when it took the write, else null.
 */
export async function submitFrom(form, outcome, keys, path, values, { working, unreachable }) {
  const buttons = form.querySelectorAll("button");
  buttons.forEach((button) => (button.disabled = true));
  say(outcome, working);
  const answer = await keys.send(path, values, (idempotencyKey) =>
    callApi("POST", path, { body: values, idempotencyKey }),
  );
  buttons.forEach((button) => (button.disabled = false));
  if (!answer) {
    say(outcome, unreachable, true);
    return null;
  }
  if (!answer.ok) {
    say(outcome, errorText(answer), true);
    return null;
  }
  return answer;
}
