// The base of the embeddable elements that call the CRM API (<points-widget>,
// <points-history>): the token the host page gives (the `token` property, or `getToken`, a
// function giving one, asked before each request), the customer and the API's origin from
// attributes. Nothing here depends on the console: a host page needs only these files.

export class ApiElement extends HTMLElement {
  #token = "";

  /** A function giving a token for the API (sync or async); else the `token` property. */
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

  /** The token for the next request. */
  async currentToken() {
    if (typeof this.getToken === "function") return (await this.getToken()) || "";
    return this.#token;
  }
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
