// <points-history customer-id="demo-001" api-base="https://api.example.org" page-size="10">:
// a customer's points transactions, newest first (Date, Type, Points, Description, Balance),
// paged with the API's nextCursor ("Older" / "Newer") and filtered by type and date range.
// "Why?" on a row explains it (GET /points/transactions/{id}): the lot a credit made and
// what became of it, or the lots a debit drew from; an expired lot offers Recover to an
// ADMIN. The token is given as to <points-widget>: the `token` property, or `getToken`, a
// function returning one (or a promise of one). Events: `unauthorized` (a 401),
// `points-changed` (a recovery made from a row's explanation).

import { ApiElement } from "./api-element.js";
import {
  IdempotencyKeys,
  MOMENT,
  POINTS,
  SIGNED,
  claimsOf,
  dayOf,
  element,
  errorText,
  expiryDayInput,
  reasonInput,
  recoveredText,
} from "./common.js";

const TYPES = ["EARN", "AWARD", "DEDUCT", "REDEEM", "EXPIRE", "RECOVER", "EXPIRY_EXTENDED", "REVERSAL"];
const DEFAULT_PAGE_SIZE = 10;
// What an entry did to a lot, as the explanation says it.
const EVENT_WORDS = {
  CREDIT: "Credited",
  DRAW: "Drawn",
  EXTENSION: "Expiry extended",
  MERGED_IN: "Another lot joined",
  MERGED_OUT: "Joined another lot",
  EXPIRY: "Expired",
  RECOVERY: "Recovered",
  WRITTEN_OFF: "Written off",
};
const STATE_WORDS = { ACTIVE: "active", CONSUMED: "spent", EXPIRED: "expired", MERGED: "merged into another lot" };

const STYLE = `
  :host { display: block; font: 1rem/1.4 system-ui, sans-serif; color: #1d2430; margin-top: 1rem; }
  h3 { font-size: 1rem; margin: 0 0 .5rem; }
  form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin-bottom: .5rem; }
  label, .field { display: grid; gap: .15rem; }
  input, select, button { font: inherit; padding: .3rem .5rem; }
  button { cursor: pointer; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid #e3e8ef; vertical-align: top; }
  td.number, th.number { text-align: right; white-space: nowrap; }
  .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  .paging { display: flex; gap: .5rem; margin-top: .5rem; }
  :focus-visible { outline: 3px solid #2f6fd6; outline-offset: 2px; }
  .error { color: #a4161a; }
  .done { color: #1f6f3f; }
  tr.explanation > td { background: #f6f8fb; padding: .5rem .75rem; }
  .explanation h4 { font-size: .95rem; margin: .25rem 0; }
  .explanation p { margin: .25rem 0; }
  .explanation table { margin: .25rem 0 .5rem; }
  .explanation form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
  button.why { padding: .1rem .4rem; }
  [hidden] { display: none !important; }
`;

export class PointsHistory extends ApiElement {
  static observedAttributes = ["customer-id", "api-base", "page-size"];

  #cursors = [null]; // the cursor of each page read so far; the last is the page shown
  #nextCursor = null;
  #filters = { type: "", dateFrom: "", dateTo: "" };
  #generation = 0;
  #parts = null;
  #keys = new IdempotencyKeys(); // of recoveries whose outcome is not known yet
  #readings = new WeakMap(); // explanation panel -> the number of its newest reading


  get pageSize() {
    const size = Number.parseInt(this.getAttribute("page-size") || "", 10);
    return size >= 1 && size <= 100 ? size : DEFAULT_PAGE_SIZE;
  }

  connectedCallback() {
    if (!this.#parts) this.#build();
    this.refresh();
  }

  attributeChangedCallback(name, previous, current) {
    if (previous === current || !this.isConnected) return;
    if (name === "customer-id") this.#filters = { type: "", dateFrom: "", dateTo: "" };
    // Another customer (or none: signed out) keeps nothing of this one's, explanations included.
    if (this.#parts && name === "customer-id") {
      this.#parts.filters.reset();
      this.#parts.body.replaceChildren();
    }
    this.refresh();
  }

  /** Show the newest page again (after a write, or a new customer). */
  refresh() {
    this.#cursors = [null];
    return this.#load();
  }

  /** Read the page shown again, keeping its filters and open explanations (a new token, say). */
  reload() {
    return this.#load();
  }

  #build() {
    const style = element("style");
    style.textContent = STYLE;
    const type = element("select", { name: "type", id: "history-type" }, element("option", { value: "" }, "All types"));
    for (const name of TYPES) type.append(element("option", { value: name }, name));
    const dateFrom = element("input", { name: "dateFrom", type: "date" });
    const dateTo = element("input", { name: "dateTo", type: "date" });
    const filters = element(
      "form",
      { "aria-label": "Filter the transactions" },
      // Labelled by `for`: a label around a select would take the chosen option into its name.
      element("div", { class: "field" }, element("label", { for: "history-type" }, "Type"), type),
      element("label", {}, "From", dateFrom),
      element("label", {}, "To", dateTo),
      element("button", { type: "submit" }, "Filter"),
      element("button", { type: "reset" }, "Clear filters"),
    );
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#filters = { type: type.value, dateFrom: dateFrom.value, dateTo: dateTo.value };
      this.refresh();
    });
    filters.addEventListener("reset", () => {
      this.#filters = { type: "", dateFrom: "", dateTo: "" };
      this.refresh();
    });
    const status = element("p", { role: "status", "aria-live": "polite", "data-testid": "history-status" });
    const body = element("tbody");
    const table = element(
      "table",
      { "aria-labelledby": "history-title", "data-testid": "history" },
      element(
        "thead",
        {},
        element(
          "tr",
          {},
          element("th", { scope: "col" }, "Date"),
          element("th", { scope: "col" }, "Type"),
          element("th", { scope: "col", class: "number" }, "Points"),
          element("th", { scope: "col" }, "Description"),
          element("th", { scope: "col", class: "number" }, "Balance"),
          element("th", { scope: "col" }, element("span", { class: "visually-hidden" }, "Explain")),
        ),
      ),
      body,
    );
    const newer = element("button", { type: "button" }, "Newer");
    const older = element("button", { type: "button" }, "Older");
    newer.addEventListener("click", () => {
      if (this.#cursors.length > 1) {
        this.#cursors.pop();
        this.#load();
      }
    });
    older.addEventListener("click", () => {
      if (this.#nextCursor) {
        this.#cursors.push(this.#nextCursor);
        this.#load();
      }
    });
    const section = element(
      "section",
      { "aria-labelledby": "history-title" },
      element("h3", { id: "history-title" }, "Transaction history"),
      filters,
      status,
      table,
      element("nav", { class: "paging", "aria-label": "Pages of transactions" }, newer, older),
    );
    this.shadowRoot.replaceChildren(style, section);
    this.#parts = { filters, status, table, body, newer, older };
  }

  #path(cursor) {
    const { type, dateFrom, dateTo } = this.#filters;
    const query = new URLSearchParams({ limit: String(this.pageSize) });
    if (cursor) query.set("cursor", cursor);
    const id = encodeURIComponent(this.customerId);
    if (!type && !dateFrom && !dateTo) return `/api/crm/customers/${id}/points/transactions?${query}`;
    query.set("customerId", this.customerId);
    if (type) query.set("type", type);
    if (dateFrom) query.set("dateFrom", dateFrom);
    if (dateTo) query.set("dateTo", dateTo);
    return `/api/crm/points/transactions?${query}`;
  }

  /**
   * Read the page shown. An explanation left open stays open under its row when that row is
   * shown again, and is read again, after its `notes` (id -> elements, a recovery's outcome);
   * notes whose row has left the page go to the status line.
   */
  async #load(notes = new Map()) {
    if (!this.#parts) return;
    const generation = ++this.#generation;
    const { status, table, body, newer, older } = this.#parts;
    if (!this.customerId) {
      status.className = "";
      status.textContent = "No customer chosen.";
      body.replaceChildren();
      table.hidden = true;
      newer.disabled = older.disabled = true;
      return;
    }
    status.className = "";
    status.removeAttribute("data-state");
    status.textContent = "Loading transactions…";
    newer.disabled = older.disabled = true;
    let answer;
    try {
      answer = await this.callApi("GET", this.#path(this.#cursors.at(-1)));
    } catch {
      answer = { ok: false, status: 0, body: null };
    }
    if (generation !== this.#generation) return; // a newer load has taken over
    if (!answer.ok) {
      status.className = "error";
      status.textContent = errorText(answer);
      table.hidden = true;
      newer.disabled = this.#cursors.length <= 1;
      return;
    }
    const entries = answer.body.transactions;
    this.#nextCursor = answer.body.nextCursor || null;
    const open = new Map([...body.children].filter((tr) => tr.matches(".explanation")).map((tr) => [tr.dataset.explains, tr]));
    body.replaceChildren(...entries.map((entry) => this.#row(entry)));
    const placed = new Set();
    for (const row of [...body.children]) {
      const id = row.dataset.transactionId;
      const panel = open.get(id);
      if (!panel) continue;
      row.after(panel);
      row.querySelector("button.why").setAttribute("aria-expanded", "true");
      this.#explain(panel, id, ...(notes.get(id) || []));
      placed.add(id);
    }
    table.hidden = entries.length === 0;
    const page = this.#cursors.length;
    const unplaced = [...notes].filter(([id]) => !placed.has(id)).flatMap(([, elements]) => elements);
    const said = unplaced.map((note) => `${note.textContent} `).join("");
    status.textContent = `${said}${entries.length === 0 ? "No transactions." : `Page ${page}`}`;
    status.setAttribute("data-state", "loaded");
    newer.disabled = page <= 1;
    older.disabled = !this.#nextCursor;
  }

  #row(entry) {
    const when = MOMENT.format(new Date(entry.createdAt));
    const why = element(
      "button",
      { type: "button", class: "why", "aria-expanded": "false", "aria-label": `Why? ${entry.type} of ${when}` },
      "Why?",
    );
    const row = element(
      "tr",
      { "data-transaction-id": entry.transactionId, "data-type": entry.type },
      element("td", {}, element("time", { datetime: entry.createdAt }, when)),
      element("td", {}, entry.type),
      element("td", { class: "number", "data-value": String(entry.points) }, SIGNED.format(entry.points)),
      element("td", {}, entry.description),
      element("td", { class: "number", "data-value": String(entry.balanceAfter) }, POINTS.format(entry.balanceAfter)),
      element("td", {}, why),
    );
    why.addEventListener("click", () => this.#toggleExplanation(row, why, entry));
    return row;
  }

  /** Open (or close) the explanation of `entry` in a row below its own. */
  #toggleExplanation(row, button, entry) {
    const open = row.nextElementSibling?.classList.contains("explanation") ? row.nextElementSibling : null;
    if (open) {
      open.remove();
      button.setAttribute("aria-expanded", "false");
      return;
    }
    const cell = element("td", { colspan: "6", "aria-live": "polite" }, element("p", {}, "Loading the explanation…"));
    const panel = element(
      "tr",
      { class: "explanation", "data-explains": entry.transactionId },
      cell,
    );
    row.after(panel);
    button.setAttribute("aria-expanded", "true");
    return this.#explain(panel, entry.transactionId);
  }

  /** Fill an explanation's panel from the API, after `notes` (a recovery's outcome). */
  async #explain(panel, transactionId, ...notes) {
    const cell = panel.firstElementChild;
    const reading = (this.#readings.get(panel) || 0) + 1; // only the newest reading is shown
    this.#readings.set(panel, reading);
    let answer;
    try {
      answer = await this.callApi("GET", `/api/crm/points/transactions/${encodeURIComponent(transactionId)}`);
    } catch {
      answer = { ok: false, status: 0, body: null };
    }
    if (!panel.isConnected || this.#readings.get(panel) !== reading) return; // closed, or read again
    if (!answer.ok) {
      cell.replaceChildren(...notes, element("p", { class: "error", role: "alert" }, errorText(answer)));
      return;
    }
    const roles = new Set(claimsOf(answer.token)["cognito:groups"] || []);
    const recover = roles.has("ADMIN") ? (lot) => this.#recoverOffer(lot, panel, transactionId) : () => [];
    cell.replaceChildren(...notes, ...explanation(answer.body, recover));
  }

  /**
   * For an ADMIN, a lot that expired and was not brought back: Recover its expiry. After a
   * recovery the rows and the explanation (in `panel`) are read again, the outcome at its head.
   */
  #recoverOffer(lot, panel, transactionId) {
    if (lot.status !== "EXPIRED" || lot.recoveredBy || !lot.endedBy) return [];
    const date = expiryDayInput();
    const reason = reasonInput();
    const outcome = element("p", { "aria-live": "polite", "data-testid": "explain-recover-outcome" });
    const form = element(
      "form",
      { "aria-label": `Recover the expiry of ${lot.expiredAt ? dayOf(lot.expiredAt) : "this lot"}` },
      element("label", {}, "New expiry date", date),
      element("label", {}, "Reason for the recovery", reason),
      element("button", { type: "submit" }, "Recover"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const path = "/api/crm/points/recover-expired";
      const body = { transactionId: lot.endedBy, newExpiryDate: date.value, reason: reason.value.trim() };
      form.querySelector("button").disabled = true;
      outcome.className = "";
      outcome.textContent = "Recovering points…";
      const answer = await this.#keys.send(path, body, (key) =>
        this.callApi("POST", path, { body, headers: { "Idempotency-Key": key } }),
      );
      form.querySelector("button").disabled = false;
      if (!answer?.ok) {
        outcome.className = "error";
        outcome.setAttribute("role", "alert");
        outcome.textContent = answer ? errorText(answer) : "The API could not be reached; try again.";
        return;
      }
      outcome.className = "done";
      outcome.textContent = recoveredText(answer.body);
      form.hidden = true;
      this.dispatchEvent(new CustomEvent("points-changed", { detail: answer.body, bubbles: true, composed: true }));
      await this.#load(new Map([[transactionId, [outcome]]]));
    });
    return [
      element(
        "p",
        {},
        "The points of the expiry that took this lot can be recovered (all of that expiry's points, once).",
      ),
      form,
      outcome,
    ];
  }
}

/** An explanation's parts; `recover(lot)` gives what an expired lot offers (nothing, or Recover). */
function explanation(body, recover) {
  const parts = [];
  if (body.lot) {
    const lot = body.lot.lot;
    parts.push(
      element("h4", {}, "The lot it made or joined"),
      element("p", { "data-testid": "lot-now" }, lotNow(lot)),
      eventsTable(body.lot.events),
    );
    if (body.lot.nextCursor) parts.push(element("p", {}, "More of the lot's life follows than is shown here."));
    parts.push(...recover(lot));
  }
  if (body.drawnFrom?.length) {
    parts.push(
      element("h4", {}, `Drawn from ${POINTS.format(body.drawnFrom.length)} lot${body.drawnFrom.length === 1 ? "" : "s"}`),
      drawnTable(body.drawnFrom),
    );
    for (const drawn of body.drawnFrom) parts.push(...recover(drawn.lot));
  }
  if (body.overdrawn) {
    parts.push(
      element("p", {}, `${POINTS.format(body.overdrawn)} points were not held by any lot: the balance went below zero.`),
    );
  }
  if (!parts.length) parts.push(element("p", {}, "This entry moved no lot."));
  return parts;
}

/** A lot as it is now, in a sentence. */
function lotNow(lot) {
  if (lot.status === "ACTIVE") {
    return `Lot ${lot.pointBatchId}: ${POINTS.format(lot.remainingPoints)} points left, expiring ${dayOf(lot.expiresAt)}.`;
  }
  let ended = `Lot ${lot.pointBatchId}: ${STATE_WORDS[lot.status] || lot.status}`;
  if (lot.status === "EXPIRED" && lot.expiredAt) ended += ` on ${dayOf(lot.expiredAt)}`;
  if (lot.recoveredBy) ended += ", its points since recovered";
  return `${ended}.`;
}

/** When an expired lot expired, and whether its points have been recovered since. */
function expiredText(lot) {
  const expired = `expired ${dayOf(lot.expiredAt || lot.expiresAt)}`;
  return lot.recoveredBy ? `${expired}, since recovered` : expired;
}

/** What each entry did to a lot, oldest first. */
function eventsTable(events) {
  return element(
    "table",
    { "aria-label": "What became of the lot" },
    element(
      "thead",
      {},
      element(
        "tr",
        {},
        element("th", { scope: "col" }, "Date"),
        element("th", { scope: "col" }, "What"),
        element("th", { scope: "col", class: "number" }, "Points"),
        element("th", { scope: "col" }, "Entry"),
      ),
    ),
    element(
      "tbody",
      {},
      ...events.map((event) =>
        element(
          "tr",
          { "data-kind": event.kind, "data-transaction-id": event.transactionId },
          element("td", {}, MOMENT.format(new Date(event.createdAt))),
          element("td", {}, EVENT_WORDS[event.kind] || event.kind),
          element("td", { class: "number", "data-value": String(event.points) }, SIGNED.format(event.points)),
          element("td", {}, `${event.type}: ${event.description}`),
        ),
      ),
    ),
  );
}

/** The lots a debit drew from: how much, when each was earned and by what, when it expires. */
function drawnTable(drawnFrom) {
  return element(
    "table",
    { "aria-label": "Lots drawn from" },
    element(
      "thead",
      {},
      element(
        "tr",
        {},
        element("th", { scope: "col", class: "number" }, "Points drawn"),
        element("th", { scope: "col" }, "Earned"),
        element("th", { scope: "col" }, "By"),
        element("th", { scope: "col" }, "Expires"),
      ),
    ),
    element(
      "tbody",
      {},
      ...drawnFrom.map((drawn) => {
        const lot = drawn.lot;
        const by = drawn.credits.map((credit) => (credit.bookingId ? `${credit.type} on booking ${credit.bookingId}` : `${credit.type}: ${credit.reason}`));
        if (drawn.creditCount > drawn.credits.length) by.push(`and ${POINTS.format(drawn.creditCount - drawn.credits.length)} more`);
        const expiry = lot.status === "EXPIRED" ? expiredText(lot) : lot.expiresAt ? dayOf(lot.expiresAt) : "";
        return element(
          "tr",
          { "data-point-batch-id": drawn.pointBatchId },
          element("td", { class: "number", "data-value": String(drawn.points) }, POINTS.format(drawn.points)),
          element("td", {}, lot.earnedAt ? dayOf(lot.earnedAt) : ""),
          element("td", {}, by.join("; ")),
          element("td", {}, `${expiry}${["ACTIVE", "EXPIRED"].includes(lot.status) ? "" : ` (${STATE_WORDS[lot.status] || lot.status})`}`),
        );
      }),
    ),
  );
}

if (!customElements.get("points-history")) customElements.define("points-history", PointsHistory);
