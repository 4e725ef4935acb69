// The chosen customer's statement of a period (GET …/points/statement): opening balance, the
// entries posted in the period, closing balance, the period's totals and the points
// expiring. The page prints it as a clean one-customer document (console.css, "@media
// print": A4, the business's name heading each page, page numbers), which the browser
// saves as PDF; "Download (CSV)" saves the API's CSV.
import { $, MOMENT, POINTS, SIGNED, element, isoDay, isoDayFromNow, longDay } from "./common.js";
import { download, loaded, say } from "./staff-api.js";

const TOTALS = [
  ["openingBalance", "Opening balance"],
  ["earned", "Earned"],
  ["redeemed", "Redeemed"],
  ["deducted", "Deducted"],
  ["expired", "Expired"],
  ["recovered", "Recovered"],
  ["reversed", "Reversed"],
  ["closingBalance", "Closing balance"],
];
// Movements out of the balance (the API gives them as positive figures), and the one signed.
const OUT = new Set(["redeemed", "deducted", "expired"]);

function shownAs(key, value) {
  if (OUT.has(key)) return SIGNED.format(-value);
  return key === "reversed" ? SIGNED.format(value) : POINTS.format(value);
}

let customer = { id: "", label: "" };
let shown = null; // the statement drawn: {id, from, to}
// Which request is current: an answer for another customer (or after signing out) is dropped.
let generation = 0;

function path(from, to, id = customer.id) {
  const query = new URLSearchParams({ from, to });
  return `/api/crm/customers/${encodeURIComponent(id)}/points/statement?${query}`;
}

/** The statement view for a customer just chosen (`label`: their name, when known). */
export function chooseForStatement(customerId, label = "") {
  generation += 1;
  customer = { id: customerId, label };
  shown = null;
  $("statement").hidden = true;
  $("statement-document").hidden = true;
  $("statement-status").hidden = true;
  $("statement-open").setAttribute("aria-expanded", "false");
  $("statement-open").hidden = !customerId;
  const form = $("statement-form");
  // This month so far, in Africa/Johannesburg.
  form.elements.from.value = `${isoDayFromNow().slice(0, 8)}01`;
  form.elements.to.value = isoDayFromNow();
}

function toggle() {
  const opening = $("statement").hidden;
  $("statement").hidden = !opening;
  $("statement-open").setAttribute("aria-expanded", String(opening));
  if (opening) $("statement-form").elements.from.focus();
}

async function show(event) {
  event.preventDefault();
  const { from, to } = event.target.elements;
  const status = $("statement-status");
  status.hidden = true;
  if (to.value < from.value) {
    say(status, "The period's last day must be its first or later.", true);
    return;
  }
  say(status, "Loading the statement…");
  const asked = ++generation;
  const period = { id: customer.id, from: from.value, to: to.value };
  const bodies = await loaded(status, ["GET", path(period.from, period.to, period.id)]);
  if (asked !== generation) return; // another customer, period or sign-out since
  if (!bodies) {
    $("statement-document").hidden = true;
    return;
  }
  draw(bodies[0]);
  shown = period;
  status.hidden = true;
  $("statement-document").hidden = false;
}

function draw(statement) {
  $("statement-business").textContent = statement.businessName;
  $("statement-customer").textContent = customer.label || statement.customerId;
  $("statement-period").textContent = `${longDay(statement.from)} to ${longDay(statement.to)}`;
  $("statement-made").textContent = MOMENT.format(new Date(statement.generatedAt));
  // Printed, each page the tables run onto is headed with the business's name: a table's
  // head repeats on every page (the console's CSP allows no style made on the fly, so not
  // an @page box).
  for (const head of document.querySelectorAll(".statement-running-head")) {
    head.textContent = `${statement.businessName}: points statement of ${customer.label || statement.customerId}`;
  }

  const figures = { ...statement.totals, openingBalance: statement.openingBalance, closingBalance: statement.closingBalance };
  $("statement-totals").replaceChildren(
    ...TOTALS.map(([key, title]) =>
      element(
        "li",
        { class: "card", "data-figure": key },
        element("span", { class: "card-title" }, title),
        element("strong", { "data-value": String(figures[key]) }, shownAs(key, figures[key])),
      ),
    ),
  );

  const entries = statement.entries.map((entry) =>
    element(
      "tr",
      { "data-transaction-id": entry.transactionId },
      element("td", {}, element("time", { datetime: entry.createdAt }, MOMENT.format(new Date(entry.createdAt)))),
      element("td", {}, entry.type),
      element(
        "td",
        {},
        entry.description,
        ...(entry.reason && entry.reason !== entry.description ? [element("span", { class: "reason" }, entry.reason)] : []),
        ...(entry.postedOn !== isoDay(entry.createdAt) ? [element("span", { class: "reason" }, `Posted ${longDay(entry.postedOn)}`)] : []),
      ),
      element("td", { class: "number", "data-value": String(entry.points) }, SIGNED.format(entry.points)),
      element("td", { class: "number", "data-value": String(entry.balanceAfter) }, POINTS.format(entry.balanceAfter)),
    ),
  );
  const edge = (label, day, balance, key) =>
    element(
      "tr",
      { class: "edge", "data-edge": key },
      element("td", {}, longDay(day)),
      element("td", { colspan: "3" }, label),
      element("td", { class: "number", "data-value": String(balance) }, POINTS.format(balance)),
    );
  $("statement-entries").replaceChildren(
    edge("Opening balance", statement.from, statement.openingBalance, "opening"),
    ...entries,
    ...(entries.length ? [] : [element("tr", {}, element("td", { colspan: "5" }, "No points moved in this period."))]),
    edge("Closing balance", statement.to, statement.closingBalance, "closing"),
  );

  const schedule = statement.expirationSchedule;
  $("statement-expiring-as-of").textContent = MOMENT.format(new Date(schedule.asOf));
  $("statement-expiring").replaceChildren(
    ...schedule.expirations.map((item) =>
      element(
        "tr",
        {},
        element("td", {}, longDay(item.expiryDate)),
        element("td", { class: "number", "data-value": String(item.points) }, POINTS.format(item.points)),
      ),
    ),
    ...(schedule.expirations.length ? [] : [element("tr", {}, element("td", { colspan: "2" }, "No points held."))]),
  );
}

$("statement-open").addEventListener("click", toggle);
$("statement-form").addEventListener("submit", show);
$("statement-print").addEventListener("click", () => window.print());
$("statement-download").addEventListener("click", () => {
  if (shown) download(path(shown.from, shown.to, shown.id), $("statement-status"));
});
