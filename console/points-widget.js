// <points-widget customer-id="demo-001" api-base="https://api.example.org">: a customer's
// points (balance, rand value, expiring soon, lifetime figures, expiration schedule) and the
// "Add Bonus Points" action, from the CRM API. The host page gives it a token: set the
// `token` property, or `getToken` to a function returning one (or a promise of one).
// Events: `points-changed` (detail: the API's answer to a write), `unauthorized` (a 401:
// the host should sign in again).

const RAND = new Intl.NumberFormat("en-ZA", { style: "currency", currency: "ZAR" });
const POINTS = new Intl.NumberFormat("en-ZA", { maximumFractionDigits: 0 });
// Expiry days are calendar days in Africa/Johannesburg; read as UTC midnight they print as
// the same day wherever the browser is.
const DAY = new Intl.DateTimeFormat("en-ZA", { dateStyle: "long", timeZone: "UTC" });
const AWARDING_ROLES = new Set(["SUPPORT_AGENT", "MANAGER", "ADMIN"]);

const STYLE = `
  :host { display: block; font: 1rem/1.4 system-ui, sans-serif; color: #1d2430;
          border: 1px solid #c9d1dc; border-radius: 8px; padding: 1rem; max-width: 32rem; }
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
  label { display: grid; gap: .15rem; }
  input, button { font: inherit; padding: .3rem .5rem; }
  button { justify-self: start; cursor: pointer; }
  :focus-visible { outline: 3px solid #2f6fd6; outline-offset: 2px; }
  .error { color: #a4161a; }
  .done { color: #1f6f3f; }
  [hidden] { display: none !important; }
`;

/** The claims of a JWT, unverified: only to decide what to offer; the API decides. */
function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

function rolesOf(token) {
  const groups = claimsOf(token)["cognito:groups"];
  return new Set(Array.isArray(groups) ? groups : []);
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

export class PointsWidget extends HTMLElement {
  static observedAttributes = ["customer-id", "api-base"];

  #token = "";
  #pendingAward = null; // {signature, key}: a submission whose outcome is not known yet
  #loaded = null;
  #generation = 0;

  /** A token for the API, or a function giving one (sync or async). */
  getToken = null;

  constructor() {
    super();
    this.attachShadow({ mode: "open" });
  }

  get token() {
    return this.#token;
  }

  set token(value) {
    this.#token = value || "";
    if (this.isConnected) this.refresh();
  }

  get customerId() {
    return this.getAttribute("customer-id") || "";
  }

  get apiBase() {
    return (this.getAttribute("api-base") || "").replace(/\/+$/, "");
  }

  connectedCallback() {
    this.refresh();
  }

  attributeChangedCallback(name, previous, current) {
    if (previous !== current && this.isConnected) this.refresh();
  }

  async #currentToken() {
    if (typeof this.getToken === "function") return (await this.getToken()) || "";
    return this.#token;
  }

  async #call(method, path, body, headers = {}) {
    const token = await this.#currentToken();
    const response = await fetch(`${this.apiBase}${path}`, {
      method,
      headers: {
        Accept: "application/json",
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (response.status === 401) {
      this.dispatchEvent(new CustomEvent("unauthorized", { bubbles: true, composed: true }));
    }
    return { ok: response.ok, status: response.status, body: payload, token };
  }

  /** Load the customer's points again and draw them. */
  async refresh() {
    const generation = ++this.#generation;
    const customerId = this.customerId;
    if (!customerId) {
      this.#draw(element("p", {}, "No customer chosen."));
      return;
    }
    this.#draw(element("p", { role: "status" }, "Loading points…"));
    let answer;
    try {
      answer = await this.#call("GET", `/api/crm/customers/${encodeURIComponent(customerId)}/points`);
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
    this.#draw(...this.#summary(answer.body), ...this.#actions(rolesOf(answer.token)));
  }

  #draw(...children) {
    const style = element("style");
    style.textContent = STYLE;
    const section = element("section", { "aria-labelledby": "points-title" });
    section.append(
      element("h2", { id: "points-title" }, `Points of ${this.customerId || "…"}`),
      ...children,
    );
    this.shadowRoot.replaceChildren(style, section);
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
          `${POINTS.format(summary.expiringBalance)} points expire in the next 30 days`,
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
    if (summary.expirationSchedule.length === 0) {
      parts.push(element("p", {}, "No points are due to expire."));
    } else {
      const body = element("tbody");
      for (const item of summary.expirationSchedule) {
        body.append(
          element(
            "tr",
            {},
            element("td", {}, DAY.format(new Date(`${item.expiryDate}T00:00:00Z`))),
            element("td", { class: "number" }, POINTS.format(item.amount)),
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

  #actions(roles) {
    if (![...roles].some((role) => AWARDING_ROLES.has(role))) return [];
    const amount = element("input", { name: "amount", type: "number", min: "1", step: "1", required: "" });
    const reason = element("input", { name: "reason", type: "text", required: "", maxlength: "500" });
    const outcome = element("p", { "aria-live": "polite", "data-testid": "award-outcome" });
    const form = element(
      "form",
      { "aria-labelledby": "award-title" },
      element("label", {}, "Points to add", amount),
      element("label", {}, "Reason", reason),
      element("button", { type: "submit" }, "Add Bonus Points"),
      outcome,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#award(form, Number(amount.value), reason.value.trim(), outcome);
    });
    return [element("h3", { id: "award-title" }, "Add Bonus Points"), form];
  }

  async #award(form, amount, reason, outcome) {
    const body = { customerId: this.customerId, amount, reason };
    const signature = JSON.stringify(body);
    // A retry of the same submission (after a network failure) keeps its key, so the API
    // cannot count it twice; any other submission gets a new one.
    if (this.#pendingAward?.signature !== signature) {
      this.#pendingAward = { signature, key: crypto.randomUUID() };
    }
    const button = form.querySelector("button");
    button.disabled = true;
    outcome.className = "";
    outcome.textContent = "Adding points…";
    let answer;
    try {
      answer = await this.#call("POST", "/api/crm/points/award", body, {
        "Idempotency-Key": this.#pendingAward.key,
      });
    } catch {
      button.disabled = false;
      outcome.className = "error";
      outcome.setAttribute("role", "alert");
      outcome.textContent = "The API could not be reached; try again.";
      return;
    }
    this.#pendingAward = null;
    button.disabled = false;
    if (!answer.ok) {
      outcome.className = "error";
      outcome.setAttribute("role", "alert");
      outcome.textContent = errorText(answer);
      return;
    }
    this.dispatchEvent(new CustomEvent("points-changed", { detail: answer.body, bubbles: true, composed: true }));
    await this.refresh();
    const done = this.shadowRoot.querySelector('[data-testid="award-outcome"]');
    if (done) {
      done.className = "done";
      done.textContent = `Added ${POINTS.format(amount)} points.`;
    }
  }
}

function errorText(answer) {
  const error = answer.body?.error;
  if (error?.message) return error.message;
  if (answer.status) return `The API answered ${answer.status}.`;
  return "The API could not be reached.";
}

if (!customElements.get("points-widget")) customElements.define("points-widget", PointsWidget);
