// <points-widget customer-id="demo-001" api-base="https://api.example.org">: a customer's
// points (balance, rand value, expiring soon, lifetime figures, expiration schedule) and the
// quick actions (Add Bonus Points, Process Manual Redemption, deduct, Extend Expiration,
// recover expired points, each offered to the roles SPEC §4 allows), from the CRM API, and
// "View Transaction History" opens a <points-history> below. The host page gives it a token: set the
// `token` property, or `getToken` to a function returning one (or a promise of one).
// Events: `points-changed` (detail: the API's answer to a write), `unauthorized` (a 401:
// the host should sign in again).

import { ApiElement } from "./api-element.js";
import {
  IdempotencyKeys,
  POINTS,
  RAND,
  claimsOf,
  dayOf,
  element,
  errorText,
  expiryDayInput,
  longDay,
  reasonInput,
  recoveredText,
} from "./common.js";
import "./transaction-history.js";

// What each role is offered (SPEC §4); the API still decides.
const VIEWING_ROLES = new Set(["SUPPORT_AGENT", "MANAGER", "ADMIN", "BOOKING_SYSTEM", "FINANCE"]);
const AWARDING_ROLES = new Set(["SUPPORT_AGENT", "MANAGER", "ADMIN"]);
const REDEEMING_ROLES = new Set(["MANAGER", "ADMIN"]);
const DEDUCTING_ROLES = new Set(["MANAGER", "ADMIN"]);
const EXTENDING_ROLES = new Set(["MANAGER", "ADMIN"]);
const RECOVERING_ROLES = new Set(["ADMIN"]);

const STYLE = `
  :host { display: block; font: 1rem/1.4 system-ui, sans-serif; color: #1d2430;
          border: 1px solid #c9d1dc; border-radius: 8px; padding: 1rem; max-width: 48rem; }
  h2 { font-size: 1.1rem; margin: 0 0 .5rem; }
  h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
  .balance { font-size: 2rem; font-weight: 700; margin: 0; }
  .value { color: #3b4b63; margin: 0 0 .5rem; }
  .warning { background: #fff4d6; border-left: 4px solid #d99a00; padding: .4rem .6rem; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: .2rem 1rem; margin: .5rem 0; }
  dt { color: #3b4b63; } dd { margin: 0; text-align: right; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid #e3e8ef; }
  td.number, th.number { text-align: right; }
  form { display: grid; gap: .4rem; margin-top: .5rem; }
  label, .field { display: grid; gap: .15rem; }
  input, select, button { font: inherit; padding: .3rem .5rem; }
  label.check { display: flex; gap: .4rem; align-items: center; }
  .hint { color: #3b4b63; font-size: .9rem; margin: 0; }
  details { border-top: 1px solid #e3e8ef; padding: .4rem 0; }
  summary { cursor: pointer; font-weight: 600; }
  button { justify-self: start; cursor: pointer; }
  :focus-visible { outline: 3px solid #2f6fd6; outline-offset: 2px; }
  .error { color: #a4161a; }
  .done { color: #1f6f3f; }
  [hidden] { display: none !important; }
`;

function rolesOf(token) {
  const groups = claimsOf(token)["cognito:groups"];
  return new Set(Array.isArray(groups) ? groups : []);
}

export class PointsWidget extends ApiElement {
  static observedAttributes = ["customer-id", "api-base"];

  #keys = new IdempotencyKeys(); // of the writes whose outcome is not known yet
  #openActions = new Set(); // the quick actions left open, kept open across redraws
  #section = null; // the figures and actions, redrawn on each refresh
  #history = null;
  #historyOpen = false;
  #loaded = null;
  #generation = 0;


  connectedCallback() {
    this.refresh();
  }

  attributeChangedCallback(name, previous, current) {
    if (previous !== current && this.isConnected) this.#loadFigures(); // the history follows its attribute
  }

  /**
   * Load the customer's points again and draw them, and the page of an open history (a host
   * calls this after a new token, say).
   */
  async refresh() {
    await this.#loadFigures();
    if (this.#history?.isConnected) await this.#history.reload();
  }

  async #loadFigures() {
    const generation = ++this.#generation;
    const customerId = this.customerId;
    if (!customerId) {
      this.#draw(element("p", {}, "No customer chosen."));
      return;
    }
    this.#draw(element("p", { role: "status" }, "Loading points…"));
    let answer;
    try {
      answer = await this.callApi("GET", `/api/crm/customers/${encodeURIComponent(customerId)}/points`);
    } catch {
      answer = { ok: false, body: null };
    }
    if (generation !== this.#generation) return; // a newer refresh has taken over
    if (!answer.ok) {
      this.#loaded = null;
      this.#draw(element("p", { class: "error", role: "alert" }, errorText(answer)));
      return;
    }
    this.#loaded = answer.body;
    this.#draw(...this.#summary(answer.body), ...this.#actions(rolesOf(answer.token), answer.body));
  }

  #draw(...children) {
    const style = element("style");
    style.textContent = STYLE;
    const section = element("section", { "aria-labelledby": "points-title" });
    section.append(
      element("h2", { id: "points-title" }, `Points of ${this.customerId || "…"}`),
      ...children,
    );
    // Only the section is replaced: an open history below it stays attached, with its page,
    // filters and open explanations. (Held by reference: `:scope` matches nothing in a shadow root.)
    if (this.#section?.parentNode === this.shadowRoot) this.#section.replaceWith(section);
    else this.shadowRoot.replaceChildren(style, section);
    this.#section = section;
    this.#placeHistory();
  }

  #summary(summary) {
    const parts = [
      element(
        "p",
        { class: "balance", "data-testid": "balance", "data-value": String(summary.currentBalance) },
        `${POINTS.format(summary.currentBalance)} points`,
      ),
      element(
        "p",
        { class: "value", "data-testid": "points-value", "data-value": String(summary.pointsValue) },
        `Worth ${RAND.format(summary.pointsValue)}`,
      ),
    ];
    if (summary.expiringBalance > 0) {
      parts.push(
        element(
          "p",
          { class: "warning", role: "status", "data-testid": "expiring" },
          `${POINTS.format(summary.expiringBalance)} points expire ${withinWindow(summary.expiringWindowDays)}`,
        ),
      );
    }
    const lifetime = element("dl", { "aria-label": "Lifetime points" });
    for (const [label, amount, id] of [
      ["Earned", summary.lifetimeEarned, "lifetime-earned"],
      ["Redeemed", summary.lifetimeRedeemed, "lifetime-redeemed"],
      ["Expired", summary.lifetimeExpired, "lifetime-expired"],
    ]) {
      lifetime.append(element("dt", {}, label), element("dd", { "data-testid": id }, POINTS.format(amount)));
    }
    parts.push(element("h3", {}, "Lifetime"), lifetime, element("h3", { id: "schedule-title" }, "Expiration schedule"));
    const later = summary.laterExpirations ?? [];
    if (summary.expirationSchedule.length === 0 && later.length === 0) {
      parts.push(element("p", {}, "No points are due to expire."));
    } else {
      const body = element("tbody");
      for (const item of summary.expirationSchedule) {
        body.append(
          element(
            "tr",
            {},
            element("td", {}, longDay(item.expiryDate)),
            element("td", { class: "number" }, POINTS.format(item.amount)),
          ),
        );
      }
      // Lots more than two years ahead come summed per quarter (docs/ledger.md, "Account pages").
      for (const quarter of later) {
        const first = longDay(quarter.firstExpiryDate);
        const last = longDay(quarter.lastExpiryDate);
        const days = quarter.lots === 1 ? "1 expiry day" : `${POINTS.format(quarter.lots)} expiry days`;
        body.append(
          element(
            "tr",
            { "data-quarter": quarter.quarter },
            element("td", {}, `${first} to ${last} (${days})`),
            element("td", { class: "number" }, POINTS.format(quarter.amount)),
          ),
        );
      }
      parts.push(
        element(
          "table",
          { "aria-labelledby": "schedule-title", "data-testid": "schedule" },
          element("thead", {}, element("tr", {}, element("th", { scope: "col" }, "Expires on"), element("th", { scope: "col", class: "number" }, "Points"))),
          body,
        ),
      );
    }
    return parts;
  }

  #actions(roles, summary) {
    const may = (allowed) => [...roles].some((role) => allowed.has(role));
    const parts = [];
    if (may(AWARDING_ROLES)) parts.push(...this.#awardForm());
    const quick = [];
    if (may(REDEEMING_ROLES)) quick.push(this.#redeemForm());
    if (may(DEDUCTING_ROLES)) quick.push(this.#deductForm(roles.has("ADMIN")));
    if (may(EXTENDING_ROLES)) quick.push(this.#extendForm(summary));
    if (may(RECOVERING_ROLES)) quick.push(this.#recoverForm(summary));
    if (quick.length) parts.push(element("h3", {}, "Quick actions"), ...quick);
    if (may(VIEWING_ROLES)) parts.push(this.#historyButton());
    return parts;
  }

  #awardForm() {
    const form = this.#writeForm("award", { "aria-labelledby": "award-title" }, {
      ...this.#pointsAndReason("Points to add", "Reason"),
      button: "Add Bonus Points",
      path: "/api/crm/points/award",
      working: "Adding points…",
      done: (_, sent) => `Added ${POINTS.format(sent.amount)} points.`,
    });
    return [element("h3", { id: "award-title" }, "Add Bonus Points"), form];
  }

  #redeemForm() {
    return this.#quickAction("redeem", "Process Manual Redemption", {
      ...this.#pointsAndReason("Points to redeem", "Reason for the redemption"),
      button: "Redeem",
      path: "/api/crm/points/redeem",
      working: "Redeeming points…",
      done: (_, sent) => `Redeemed ${POINTS.format(sent.amount)} points.`,
    });
  }

  #deductForm(isAdmin) {
    const { controls, body } = this.#pointsAndReason("Points to deduct", "Reason for the deduction");
    const approval = element("input", { name: "requireApproval", type: "checkbox" });
    const negative = element("input", { name: "allowNegative", type: "checkbox" });
    controls.push(
      element("label", { class: "check" }, approval, "Ask another manager or an admin to approve it"),
      element("p", { class: "hint" }, "A deduction over your own limit needs approval."),
    );
    if (isAdmin) controls.push(element("label", { class: "check" }, negative, "Allow the balance to go below zero"));
    return this.#quickAction("deduct", "Deduct points", {
      controls,
      body: () => ({
        ...body(),
        ...(approval.checked ? { requireApproval: true } : {}),
        ...(isAdmin && negative.checked ? { allowNegative: true } : {}),
      }),
      button: "Deduct",
      path: "/api/crm/points/deduct",
      working: "Deducting points…",
      done: (answer, sent) =>
        answer.status === 202
          ? `Deduction of ${POINTS.format(sent.amount)} points is waiting for approval.`
          : `Deducted ${POINTS.format(sent.amount)} points.`,
    });
  }

  #extendForm(summary) {
    // A lot is the customer's points of one expiry day: the schedule lists them, with their ids.
    const lot = choice("pointBatchId", "lot-choice", "Choose a lot");
    for (const item of summary.expirationSchedule) {
      lot.append(
        element("option", { value: item.pointBatchId }, `${POINTS.format(item.amount)} points expiring ${longDay(item.expiryDate)}`),
      );
    }
    return this.#quickAction("extend", "Extend Expiration", {
      ...newExpiry(lot, "Lot", "New expiry date", "Reason for the extension"),
      button: "Extend",
      path: "/api/crm/points/extend-expiry",
      working: "Extending the lot…",
      done: (_, sent) => `The lot now expires on ${longDay(sent.newExpiryDate)}.`,
    });
  }

  #recoverForm(summary) {
    const expired = choice("transactionId", "expired-choice", "Choose an expiry");
    const seen = new Set();
    const offer = (entries) => {
      for (const entry of entries) {
        if (entry.type !== "EXPIRE" || seen.has(entry.transactionId)) continue;
        seen.add(entry.transactionId);
        expired.append(
          element("option", { value: entry.transactionId }, `${POINTS.format(-entry.points)} points expired ${dayOf(entry.createdAt)}`),
        );
      }
    };
    offer(summary.recentTransactions);
    const details = this.#quickAction("recover", "Recover expired points", {
      ...newExpiry(expired, "Expired points", "New expiry date for the recovered points", "Reason for the recovery"),
      button: "Recover",
      path: "/api/crm/points/recover-expired",
      working: "Recovering points…",
      done: (answer) => recoveredText(answer.body),
    });
    // The recent transactions may not reach back to an expiry: the history's EXPIRE entries
    // are read when the form is first opened.
    let looked = false;
    const lookUp = async () => {
      if (!details.open || looked) return;
      looked = true;
      const query = new URLSearchParams({ customerId: this.customerId, type: "EXPIRE", limit: "50" });
      try {
        const answer = await this.callApi("GET", `/api/crm/points/transactions?${query}`);
        if (answer.ok) offer(answer.body.transactions);
      } catch {
        looked = false;
      }
    };
    details.addEventListener("toggle", lookUp);
    queueMicrotask(lookUp);
    return details;
  }

  /** Points and a reason, for this customer: the controls, and the body they make. */
  #pointsAndReason(pointsLabel, reasonLabel) {
    const amount = element("input", { name: "amount", type: "number", min: "1", step: "1", required: "" });
    const reason = reasonInput();
    return {
      controls: [element("label", {}, pointsLabel, amount), element("label", {}, reasonLabel, reason)],
      body: () => ({ customerId: this.customerId, amount: Number(amount.value), reason: reason.value.trim() }),
    };
  }

  /**
   * The form of one write: its `controls`, a submit `button` and an outcome line. Submitted,
   * it sends `body()` to `path`; the outcome says `working`, then `done(answer, body)` or
   * the refusal.
   */
  #writeForm(kind, attributes, { controls, body, button, path, working, done }) {
    const form = element("form", attributes, ...controls, element("button", { type: "submit" }, button), outcomeOf(kind));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const sent = body();
      this.#submit(form, kind, path, sent, { working, done: (answer) => done(answer, sent) });
    });
    return form;
  }

  /** A quick action: a disclosure (keyboard: Enter or Space on its summary) holding a write's form. */
  #quickAction(kind, title, write) {
    const form = this.#writeForm(kind, { "aria-label": title }, write);
    const details = element("details", { "data-action": kind }, element("summary", {}, title), form);
    if (this.#openActions.has(kind)) details.open = true;
    details.addEventListener("toggle", () => {
      if (details.open) this.#openActions.add(kind);
      else this.#openActions.delete(kind);
    });
    return details;
  }

  #historyButton() {
    const button = element(
      "button",
      { type: "button", "aria-expanded": String(this.#historyOpen), "aria-controls": "history" },
      "View Transaction History",
    );
    button.addEventListener("click", () => {
      this.#historyOpen = !this.#historyOpen;
      button.setAttribute("aria-expanded", String(this.#historyOpen));
      this.#placeHistory();
      if (this.#historyOpen) this.#history.focus();
    });
    return element("p", {}, button);
  }

  /** The history below the widget's figures, kept (with its page and filters) across redraws. */
  #placeHistory() {
    if (!this.#history) {
      this.#history = element("points-history", { id: "history", tabindex: "-1" });
      this.#history.getToken = () => this.currentToken();
      // A recovery made from a row's explanation changes the figures above it.
      this.#history.addEventListener("points-changed", () => this.#loadFigures());
    }
    if (this.#history.getAttribute("api-base") !== (this.getAttribute("api-base") || "")) {
      this.#history.setAttribute("api-base", this.getAttribute("api-base") || "");
    }
    if (this.#history.getAttribute("customer-id") !== this.customerId) {
      this.#history.setAttribute("customer-id", this.customerId);
    }
    if (this.#historyOpen && this.#loaded) {
      if (this.#history.parentNode !== this.shadowRoot) this.shadowRoot.append(this.#history);
    } else {
      this.#history.remove();
    }
  }

  /**
   * Send one write. A retry of the same values after a network failure keeps its
   * Idempotency-Key, so the API cannot count it twice (§2.9); other values get a new key.
   */
  async #submit(form, kind, path, body, text) {
    const button = form.querySelector('button[type="submit"]');
    const outcome = form.querySelector(`[data-testid="${kind}-outcome"]`);
    button.disabled = true;
    outcome.className = "";
    outcome.removeAttribute("role");
    outcome.textContent = text.working;
    const answer = await this.#keys.send(path, body, (key) =>
      this.callApi("POST", path, { body, headers: { "Idempotency-Key": key } }),
    );
    button.disabled = false;
    if (!answer?.ok) {
      outcome.className = "error";
      outcome.setAttribute("role", "alert");
      outcome.textContent = answer ? errorText(answer) : "The API could not be reached; try again.";
      return;
    }
    this.dispatchEvent(new CustomEvent("points-changed", { detail: answer.body, bubbles: true, composed: true }));
    await this.#loadFigures();
    if (this.#history?.isConnected) await this.#history.refresh(); // the newest page: the new entry
    const done = this.shadowRoot.querySelector(`[data-testid="${kind}-outcome"]`);
    if (done) {
      done.className = "done";
      done.textContent = text.done(answer);
    }
  }
}

function outcomeOf(kind) {
  return element("p", { "aria-live": "polite", "data-testid": `${kind}-outcome` });
}

/** "in the next 30 days": the summary's expiring window (the expiringWindowDays setting). */
function withinWindow(days) {
  if (!Number.isInteger(days)) return "soon"; // an API from before the summary named it
  return days === 1 ? "in the next day" : `in the next ${POINTS.format(days)} days`;
}

/** A required choice named `name`, offering `prompt` until an option is added and chosen. */
function choice(name, id, prompt) {
  return element("select", { name, id, required: "" }, element("option", { value: "" }, prompt));
}

/**
 * A choice (labelled by `for`: a label around a select would take the chosen option into its
 * name), a new expiry day and a reason: the controls, and the body they make (the choice
 * under its name).
 */
function newExpiry(chosen, choiceLabel, dayLabel, reasonLabel) {
  const date = expiryDayInput();
  const reason = reasonInput();
  return {
    controls: [
      element("div", { class: "field" }, element("label", { for: chosen.id }, choiceLabel), chosen),
      element("label", {}, dayLabel, date),
      element("label", {}, reasonLabel, reason),
    ],
    body: () => ({ [chosen.name]: chosen.value, newExpiryDate: date.value, reason: reason.value.trim() }),
  };
}


if (!customElements.get("points-widget")) customElements.define("points-widget", PointsWidget);
