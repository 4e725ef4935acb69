// The Finance section (docs/finance.md): the roll-forward of the last 12 months
// (GET /api/crm/points/finance/roll-forward), a waterfall of one month, that month's
// cohorts with the breakage rate and deferred revenue (GET …/finance/cohorts?asOf=), the
// breakage override (PUT …/finance/settings), CSV downloads, and "Close <month>" with a
// confirmation naming its figures (POST …/finance/periods/{month}/close). Every figure shown
// is the API's own; the console only adds them up to show that each month ties.
import { $, IdempotencyKeys, POINTS, currentMonth, element, errorText, monthLabel } from "./common.js";
import { currentSession } from "./session.js";
import { callApi, download, loaded, say } from "./staff-api.js";

const ROLL_FORWARD = "/api/crm/points/finance/roll-forward";
const COHORTS = "/api/crm/points/finance/cohorts";
const PERIODS = "/api/crm/points/finance/periods";
const SETTINGS = "/api/crm/points/finance/settings";
// Who may close a month and set the override (CLOSE_PERIOD, SET_BREAKAGE); MANAGER reads.
const DECIDING = new Set(["FINANCE", "ADMIN"]);

// The movements in the roll-forward's order, with the sign they move the balance by.
const MOVEMENTS = [
  ["earned", "Earned", 1],
  ["awarded", "Awarded", 1],
  ["recovered", "Recovered", 1],
  ["reversalsIn", "Reversals in", 1],
  ["redeemed", "Redeemed", -1],
  ["deducted", "Deducted", -1],
  ["expired", "Expired", -1],
  ["reversalsOut", "Reversals out", -1],
];
const COHORT_LINES = [
  ["issued", "Issued"],
  ["redeemed", "Redeemed"],
  ["deducted", "Deducted"],
  ["expired", "Expired"],
  ["reversed", "Reversed"],
  ["settledDebt", "Settled a debt"],
  ["outstanding", "Outstanding"],
];

// Rand amounts come as exact decimal strings; they are shown rounded to the cent.
const ZAR = new Intl.NumberFormat("en-ZA", { style: "currency", currency: "ZAR" });
const rand = (text) => (text === null || text === undefined ? "—" : ZAR.format(Number(text)));
const points = (value) => POINTS.format(value);
// Rates come as exact decimal strings, up to 4 decimals.
const RATE = new Intl.NumberFormat("en-ZA", { maximumFractionDigits: 4 });
const percent = (value) => `${RATE.format(Number(value))} %`;

const keys = new IdempotencyKeys();
let rows = []; // the roll-forward shown, oldest first
let chart = null;

/** Load the roll-forward and the periods, then the latest month's waterfall and cohorts. */
export async function showFinance() {
  const status = $("finance-status");
  say(status, "Loading the last 12 months…");
  const deciding = DECIDING.has(currentSession()?.role);
  $("finance-override").hidden = !deciding;
  const bodies = await loaded(status, ["GET", ROLL_FORWARD], ["GET", PERIODS]);
  if (!bodies) return;
  const [report, periods] = bodies;
  rows = report.months;
  status.hidden = true;
  drawRollForward();
  offerClose(periods.nextToClose, deciding);
  const picker = $("finance-month");
  picker.replaceChildren(...rows.map((row) => element("option", { value: row.month }, monthLabel(row.month))).reverse());
  picker.value = rows.at(-1).month;
  await showMonth(picker.value);
}

function ties(row) {
  const movements = MOVEMENTS.reduce((sum, [name, , sign]) => sum + sign * row.points.movements[name], 0);
  return row.points.opening + movements === row.points.closing && row.points.outstanding + row.points.debts === row.points.closing;
}

function drawRollForward() {
  $("finance-table-body").replaceChildren(
    ...rows.map((row) => {
      const p = row.points;
      const open = row.month === currentMonth() ? "In progress" : "Open";
      const closed = row.status === "CLOSED" ? `Closed${row.closedBy ? ` by ${row.closedBy.userId}` : ""}` : open;
      return element(
        "tr",
        { "data-month": row.month, "data-status": row.status },
        element("th", { scope: "row" }, monthLabel(row.month)),
        element("td", {}, closed),
        element("td", { class: "number", "data-line": "opening" }, points(p.opening)),
        ...MOVEMENTS.map(([name]) => element("td", { class: "number", "data-line": name }, points(p.movements[name]))),
        element("td", { class: "number", "data-line": "closing" }, points(p.closing)),
        element("td", { class: "number", "data-line": "outstanding" }, points(p.outstanding)),
        element("td", { class: "number", "data-line": "debts" }, points(p.debts)),
        element("td", { class: "number", "data-line": "closingZar" }, rand(row.amounts.closing)),
        element("td", { class: "number", "data-line": "deferredRevenue" }, rand(row.revenue?.deferredRevenue)),
        element("td", { class: "number", "data-line": "revenueReleased" }, rand(row.revenue?.released.total)),
        element("td", { "data-line": "ties" }, ties(row) ? "✓ ties" : "✗ does not tie"),
      );
    }),
  );
}

/** The month's waterfall and its cohorts. */
async function showMonth(month) {
  const row = rows.find((each) => each.month === month);
  drawWaterfall(row);
  const status = $("finance-cohorts-status");
  say(status, `Loading the cohorts at the end of ${monthLabel(month)}…`);
  const bodies = await loaded(status, ["GET", `${COHORTS}?asOf=${month}`]);
  if (!bodies) return;
  status.hidden = true;
  drawCohorts(bodies[0]);
}

function drawWaterfall(row) {
  // Floating bars: each movement from the running balance before it to the one after.
  const labels = ["Opening"];
  const data = [[0, row.points.opening]];
  const colours = ["#3b4b63"];
  let running = row.points.opening;
  for (const [name, label, sign] of MOVEMENTS) {
    const next = running + sign * row.points.movements[name];
    labels.push(label);
    data.push([running, next]);
    colours.push(sign > 0 ? "#1f6f3f" : "#a4161a");
    running = next;
  }
  labels.push("Closing");
  data.push([0, row.points.closing]);
  colours.push("#2f6fd6");
  // The axis starts a little below the lowest balance the month passes through, so that
  // movements small beside the balance still show; a balance below zero keeps zero in view.
  const lowest = Math.min(...data.slice(1, -1).flat()); // the movements run from opening to closing
  const floor = lowest <= 0 ? lowest : Math.floor((lowest * 0.9) / 1000) * 1000;
  $("finance-waterfall-title").textContent = `${monthLabel(row.month)}: opening, each movement, closing (points)`;
  chart?.destroy();
  chart = new window.Chart($("finance-waterfall"), {
    type: "bar",
    data: { labels, datasets: [{ label: "Points", data, backgroundColor: colours }] },
    options: {
      locale: "en-ZA",
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { min: floor, title: { display: true, text: "Points" } } },
    },
  });
}

function drawCohorts(report) {
  const breakage = report.breakage;
  const source = {
    OVERRIDE: "finance's override",
    HISTORY: "the resolved cohorts",
    NO_HISTORY: "fewer than 3 resolved cohorts: breakage as points lapse",
  }[breakage.source];
  const resolved = `${breakage.resolvedCohorts} resolved cohort${breakage.resolvedCohorts === 1 ? "" : "s"}`;
  const history = breakage.historyPct === null ? "none resolved yet" : `${percent(breakage.historyPct)} (${resolved})`;
  const revenue = report.revenue;
  const cards = [
    ["Breakage rate in force", percent(breakage.ratePct), `From ${source}; the history of ${monthLabel(breakage.windowFrom)} to ${monthLabel(breakage.windowTo)}: ${history}`],
    ["Deferred revenue", rand(revenue.deferredRevenue), `The contract liability at the end of ${monthLabel(report.asOf)}`],
    ["Revenue released", rand(revenue.released.total), `${rand(revenue.released.fromRedemptions)} from points used, ${rand(revenue.released.breakage)} breakage`],
  ];
  $("finance-cards").replaceChildren(
    ...cards.map(([title, value, note]) =>
      element("li", { class: "card" }, element("span", { class: "card-title" }, title), element("strong", { "data-figure": title }, value), element("span", { class: "card-note" }, note)),
    ),
  );
  $("finance-cohorts-title").textContent = `Cohorts at the end of ${monthLabel(report.asOf)}`;
  $("finance-cohorts-body").replaceChildren(
    ...report.cohorts.map((cohort) =>
      element(
        "tr",
        { "data-cohort": cohort.month },
        element("th", { scope: "row" }, monthLabel(cohort.month)),
        ...COHORT_LINES.map(([name]) => element("td", { class: "number", "data-line": name }, points(cohort[name]))),
        element("td", { class: "number", "data-line": "deferredRevenue" }, rand(cohort.deferredRevenue)),
      ),
    ),
  );
  const form = $("finance-override");
  form.elements.rate.value = breakage.source === "OVERRIDE" ? breakage.ratePct : "";
}

function offerClose(month, deciding) {
  const button = $("finance-close");
  button.hidden = !deciding || !month;
  if (month) {
    button.textContent = `Close ${monthLabel(month)}`;
    button.dataset.month = month;
  }
}

/** The confirmation names the month's figures (read afresh: the month to close may be
 * older than the twelve shown); closing is final. */
async function askToClose() {
  const month = $("finance-close").dataset.month;
  const bodies = await loaded($("finance-outcome"), ["GET", `${ROLL_FORWARD}?from=${month}&to=${month}`]);
  if (!bodies) return;
  const [row] = bodies[0].months;
  const p = row.points;
  $("finance-close-question").textContent =
    `Close ${monthLabel(month)}? Opening ${points(p.opening)} points, closing balance ${points(p.closing)} points ` +
    `(${rand(row.amounts.closing)}): outstanding ${points(p.outstanding)}, debts ${points(p.debts)}; ` +
    `deferred revenue ${rand(row.revenue?.deferredRevenue)}. A closed month's figures never change, and no one can reopen it.`;
  $("finance-close-dialog").showModal();
}

async function close(event) {
  event.preventDefault();
  const dialog = $("finance-close-dialog");
  const month = $("finance-close").dataset.month;
  if (event.submitter?.value !== "close") {
    dialog.close();
    return;
  }
  const path = `${PERIODS}/${month}/close`;
  const answer = await keys.send(path, {}, (key) => callApi("POST", path, { idempotencyKey: key }));
  dialog.close();
  const status = $("finance-outcome");
  if (answer === null) say(status, "The API could not be reached; try again.", true);
  else if (!answer.ok) say(status, errorText(answer), true);
  else {
    say(status, `${monthLabel(month)} is closed.`);
    await showFinance();
  }
}

async function saveOverride(event) {
  event.preventDefault();
  const form = event.target;
  const status = $("finance-override-status");
  // en-ZA writes a decimal comma: "12,5" is 12.5.
  const text = form.elements.rate.value.trim().replace(",", ".");
  const rate = Number(text);
  if (text !== "" && (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(rate))) {
    say(status, "The override is a percentage such as 15 or 12,5; leave it empty to use the history.", true);
    return;
  }
  const body = { breakageRateOverridePct: text === "" ? null : rate };
  const answer = await keys.send(SETTINGS, body, (key) => callApi("PUT", SETTINGS, { body, idempotencyKey: key }));
  if (answer === null) say(status, "The API could not be reached; try again.", true);
  else if (!answer.ok) say(status, errorText(answer), true);
  else {
    // Every function reads the configuration again within a minute (docs/api.md).
    const saved = text === "" ? "The override is removed: the rate comes from the history" : `The breakage rate is now ${percent(rate)}`;
    say(status, `${saved}; the figures follow within a minute.`);
  }
}

$("finance-month").addEventListener("change", (event) => showMonth(event.target.value));
$("finance-close").addEventListener("click", askToClose);
$("finance-close-form").addEventListener("submit", close);
$("finance-override").addEventListener("submit", saveOverride);
$("finance-download-roll-forward").addEventListener("click", () =>
  download(`${ROLL_FORWARD}?from=${rows[0].month}&to=${rows.at(-1).month}`, $("finance-outcome")),
);
$("finance-download-cohorts").addEventListener("click", () =>
  download(`${COHORTS}?asOf=${$("finance-month").value}`, $("finance-outcome")),
);
