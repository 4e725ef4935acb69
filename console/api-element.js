// The base of the embeddable elements that call the CRM API (<points-widget>,
// <points-history>): the token the host page gives (the `token` property, or `getToken`, a
// function giving one, asked before each request), the customer and the API's origin from
// attributes. Nothing here depends on the console: a host page needs only these files and
// common.js beside them.
import { fetchJson } from "./common.js";

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

  /**
   * The API's answer to `method path` with the current token, as {ok, status, body, token};
   * a network failure throws. A 401 fires `unauthorized`: the host should sign in again.
   */
  async callApi(method, path, { body, headers } = {}) {
    const token = await this.currentToken();
    const answer = await fetchJson(`${this.apiBase}${path}`, { method, token, body, headers });
    if (answer.status === 401) {
      this.dispatchEvent(new CustomEvent("unauthorized", { bubbles: true, composed: true }));
    }
    return { ...answer, token };
  }
}
