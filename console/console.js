// The CRM console: sign in (as /config.json says: locally by picking a user and a role, or
// with the user pool's hosted sign-in in AWS), find a customer by id or e-mail, show their
// points widget; the staff sections by role (sections.js).
import { $, element } from "./common.js";
import "./points-widget.js";
import { hideSections, showSections } from "./sections.js";
import { chooseForStatement } from "./statement.js";
import { accessToken, apiOriginOf, clearSession, configureApi, currentSession, saveSession } from "./session.js";
import { CognitoSignIn, SignInError, signInLocally } from "./sign-in.js";
import { callApi } from "./staff-api.js";

const CUSTOMER_ID = /^[A-Za-z0-9_-]{1,64}$/;

const widget = $("widget");
let cognito = null; // the hosted sign-in, when config.json names one

function show(element, text) {
  if (text !== undefined) element.textContent = text;
  element.hidden = false;
}

function signInForm() {
  return cognito ? $("sign-in-cognito") : $("sign-in");
}

function signedIn(current) {
  signInForm().hidden = true;
  $("signed-in-user").textContent = current.userId;
  $("signed-in-role").textContent = current.role;
  $("signed-in").hidden = false;
  $("customers").hidden = false;
  widget.setAttribute("api-base", apiOriginOf());
  widget.getToken = accessToken;
  showSections(current.role);
  $("find").elements.query.focus();
}

function signOut() {
  clearSession();
  hideSections();
  widget.hidden = true;
  widget.removeAttribute("customer-id");
  chooseForStatement("");
  $("signed-in").hidden = true;
  $("customers").hidden = true;
  $("matches").hidden = true;
  $("customer-name").hidden = true;
  signInForm().hidden = false;
  signInForm().querySelector("input, button").focus();
}

/** Signed out by the user: with Cognito, its hosted sign-in forgets the user too. */
function signOutByUser() {
  signOut();
  if (cognito) location.assign(cognito.signOutUrl());
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  $("sign-in-error").hidden = true;
  try {
    const session = await signInLocally(form.elements.userId.value.trim(), form.elements.role.value);
    saveSession(session);
    signedIn(session);
  } catch (error) {
    show($("sign-in-error"), error instanceof SignInError ? error.message : "The local stack could not be reached.");
  }
}

function choose(customerId, label) {
  $("matches").hidden = true;
  if (label) show($("customer-name"), label);
  else $("customer-name").hidden = true;
  widget.setAttribute("customer-id", customerId);
  widget.hidden = false;
  chooseForStatement(customerId, label);
}

function nameOf(customer) {
  const name = [customer.firstName, customer.lastName].filter(Boolean).join(" ");
  return `${name || customer.customerId} (${customer.customerId}${customer.email ? `, ${customer.email}` : ""})`;
}

async function find(event) {
  event.preventDefault();
  const query = event.target.elements.query.value.trim();
  const error = $("find-error");
  error.hidden = true;
  $("matches").hidden = true;
  if (!query.includes("@")) {
    if (!CUSTOMER_ID.test(query)) {
      show(error, "A customer id is 1 to 64 letters, digits, '-' or '_'; or give an e-mail address.");
      return;
    }
    choose(query, "");
    return;
  }
  const answer = await callApi("GET", `/api/crm/customers?email=${encodeURIComponent(query)}`);
  if (answer.status === 401) return; // the console has signed out (session-expired)
  if (!answer.ok) {
    show(error, answer.body?.error?.message || `The search failed (${answer.status})`);
    return;
  }
  const customers = answer.body.customers;
  if (customers.length === 0) {
    show(error, `No customer has the e-mail ${query}.`);
    return;
  }
  if (customers.length === 1) {
    choose(customers[0].customerId, nameOf(customers[0]));
    return;
  }
  const list = $("matches");
  list.replaceChildren(
    ...customers.map((customer) => {
      const button = element("button", { type: "button" }, nameOf(customer));
      button.addEventListener("click", () => choose(customer.customerId, nameOf(customer)));
      return element("li", {}, button);
    }),
  );
  list.hidden = false;
  list.querySelector("button").focus();
}

/** Read the settings, then resume a session, finish a return from Cognito, or offer sign-in. */
async function start() {
  const config = await (await fetch("/config.json", { cache: "no-cache" })).json();
  if (config.signIn === "cognito") {
    cognito = new CognitoSignIn(config.cognito);
    document.title = "CRM Points console";
  }
  configureApi(config.apiBase, cognito ? (session) => cognito.renew(session) : null);
  $("sign-in").addEventListener("submit", signIn);
  $("sign-in-cognito").addEventListener("submit", (event) => {
    event.preventDefault();
    cognito.begin();
  });
  $("sign-out").addEventListener("click", signOutByUser);
  $("find").addEventListener("submit", find);
  widget.addEventListener("unauthorized", signOut);
  document.addEventListener("session-expired", signOut); // a 401 to a staff section

  if (cognito) {
    try {
      const returned = await cognito.complete();
      if (returned) saveSession(returned);
    } catch (error) {
      show($("sign-in-cognito-error"), error.message);
    }
  }
  const current = currentSession();
  const usable = current?.token && (Date.parse(current.expiresAt) > Date.now() || (cognito && current.refreshToken));
  if (usable) signedIn(current);
  else signOut();
}

start().catch(() => {
  show($("start-error"), "The console could not load its settings (/config.json); reload the page.");
});
