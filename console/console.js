// The local CRM console: sign in by picking a user and a role (a token from the local
// stack's POST /local/token), find a customer by id or e-mail, show their points widget.
import "./points-widget.js";
import { hideSections, showSections } from "./sections.js";

const SESSION_KEY = "crm-points-console-session";
const CUSTOMER_ID = /^[A-Za-z0-9_-]{1,64}$/;

const $ = (id) => document.getElementById(id);
const widget = $("widget");

function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

function show(element, text) {
  if (text !== undefined) element.textContent = text;
  element.hidden = false;
}

function signedIn(current) {
  $("sign-in").hidden = true;
  $("signed-in-user").textContent = current.userId;
  $("signed-in-role").textContent = current.role;
  $("signed-in").hidden = false;
  $("customers").hidden = false;
  widget.getToken = () => session()?.token || "";
  showSections(current.role);
  $("find").elements.query.focus();
}

function signOut() {
  sessionStorage.removeItem(SESSION_KEY);
  hideSections();
  widget.hidden = true;
  widget.removeAttribute("customer-id");
  $("signed-in").hidden = true;
  $("customers").hidden = true;
  $("matches").hidden = true;
  $("customer-name").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in").elements.userId.focus();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  $("sign-in-error").hidden = true;
  const response = await fetch("/local/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ userId: form.elements.userId.value.trim(), role: form.elements.role.value }),
  });
  const body = await response.json();
  if (!response.ok) {
    show($("sign-in-error"), body?.error?.message || `Sign-in failed (${response.status})`);
    return;
  }
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(body));
  signedIn(body);
}

function choose(customerId, label) {
  $("matches").hidden = true;
  if (label) show($("customer-name"), label);
  else $("customer-name").hidden = true;
  widget.setAttribute("customer-id", customerId);
  widget.hidden = false;
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
  const response = await fetch(`/api/crm/customers?email=${encodeURIComponent(query)}`, {
    headers: { Authorization: `Bearer ${session()?.token || ""}`, Accept: "application/json" },
  });
  const body = await response.json().catch(() => null);
  if (response.status === 401) {
    signOut();
    return;
  }
  if (!response.ok) {
    show(error, body?.error?.message || `The search failed (${response.status})`);
    return;
  }
  const customers = body.customers;
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
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = nameOf(customer);
      button.addEventListener("click", () => choose(customer.customerId, nameOf(customer)));
      const item = document.createElement("li");
      item.append(button);
      return item;
    }),
  );
  list.hidden = false;
  list.querySelector("button").focus();
}

$("sign-in").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", signOut);
$("find").addEventListener("submit", find);
widget.addEventListener("unauthorized", signOut);
document.addEventListener("session-expired", signOut); // a 401 to a staff section

const current = session();
if (current?.token && Date.parse(current.expiresAt) > Date.now()) signedIn(current);
