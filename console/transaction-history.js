// <points-history customer-id="demo-001" api-base="https://api.example.org" page-size="10">:
// a customer's points transactions, newest first (Date, Type, Points, Description, Balance),
// paged with the API's nextCursor ("Older" / "Newer") and filtered by type and date range.
// The token is given as to <points-widget>: the `token` property, or `getToken`, a function
// returning one (or a promise of one). Event: `unauthorized` (a 401).

import { ApiElement } from "./api-element.js";
import { MOMENT, POINTS, SIGNED, element, errorText } from "./common.js";

const TYPES = ["EARN", "AWARD", "DEDUCT", "REDEEM", "EXPIRE", "RECOVER", "EXPIRY_EXTENDED", "REVERSAL"];
const DEFAULT_PAGE_SIZE = 10;

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
  .paging { display: flex; gap: .5rem; margin-top: .5rem; }
  :focus-visible { outline: 3px solid #2f6fd6; outline-offset: 2px; }
  .error { color: #a4161a; }
  [hidden] { display: none !important; }
`;

export class PointsHistory extends ApiElement {
  static observedAttributes = ["customer-id", "api-base", "page-size"];

  #cursors = [null]; // the cursor of each page read so far; the last is the page shown
  #nextCursor = null;
  #filters = { type: "", dateFrom: "", dateTo: "" };
  #generation = 0;
  #parts = null;


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
    if (this.#parts && name === "customer-id") this.#parts.filters.reset();
    this.refresh();
  }

  /** Show the newest page again (after a write, or a new customer). */
  refresh() {
    this.#cursors = [null];
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

  async #load() {
    if (!this.#parts) return;
    const generation = ++this.#generation;
    const { status, table, body, newer, older } = this.#parts;
    if (!this.customerId) {
      status.className = "";
      status.textContent = "No customer chosen.";
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
    body.replaceChildren(...entries.map((entry) => this.#row(entry)));
    table.hidden = entries.length === 0;
    const page = this.#cursors.length;
    status.textContent = entries.length === 0 ? "No transactions." : `Page ${page}`;
    status.setAttribute("data-state", "loaded");
    newer.disabled = page <= 1;
    older.disabled = !this.#nextCursor;
  }

  #row(entry) {
    const row = element(
      "tr",
      { "data-transaction-id": entry.transactionId, "data-type": entry.type },
      element("td", {}, element("time", { datetime: entry.createdAt }, MOMENT.format(new Date(entry.createdAt)))),
      element("td", {}, entry.type),
      element("td", { class: "number", "data-value": String(entry.points) }, SIGNED.format(entry.points)),
      element("td", {}, entry.description),
      element("td", { class: "number", "data-value": String(entry.balanceAfter) }, POINTS.format(entry.balanceAfter)),
    );
    return row;
  }
}

if (!customElements.get("points-history")) customElements.define("points-history", PointsHistory);
