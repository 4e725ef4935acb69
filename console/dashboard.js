// The analytics dashboard: GET /api/crm/points/analytics?month= for the last 12 months of
// Africa/Johannesburg (one request a month) and GET /api/crm/points/config for the alert
// thresholds; the current month's KPIs in cards, three charts (Chart.js, from npm, served by
// the local stack at /vendor/chart.js/) and the same figures as a table. Every figure shown is
// the API's own: nothing is estimated here.
import { $, PERCENT, POINTS, RAND, currentMonth, element, monthLabel } from "./common.js";
import { loaded, say } from "./staff-api.js";

const MONTHS_SHOWN = 12;
const charts = new Map();

/** The `count` months ending with `last`, oldest first. */
function monthsEnding(last, count) {
  const [year, month] = last.split("-").map(Number);
  return Array.from({ length: count }, (_, index) => {
    const date = new Date(Date.UTC(year, month - 1 - (count - 1 - index), 1));
    return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, "0")}`;
  });
}

const points = (value) => (value === null || value === undefined ? "No data" : POINTS.format(value));
const percent = (value) => (value === null || value === undefined ? "No data" : `${PERCENT.format(value)} %`);

/** Load the months and the thresholds, then draw the cards, the charts and the table. */
export async function showDashboard() {
  const status = $("dashboard-status");
  say(status, "Loading the last 12 months…");
  const months = monthsEnding(currentMonth(), MONTHS_SHOWN);
  const bodies = await loaded(
    status,
    ["GET", "/api/crm/points/config"],
    ...months.map((month) => ["GET", `/api/crm/points/analytics?month=${month}`]),
  );
  if (!bodies) return;
  const [config, ...rows] = bodies;
  status.hidden = true;
  drawCards(rows.at(-1), config);
  drawCharts(rows, config);
  drawTable(rows);
}

function drawCards(latest, config) {
  const liability = latest.pointsLiability;
  const engagement = latest.customerEngagement;
  const impact = latest.serviceImpact;
  const growth = liability.monthlyGrowth;
  const cards = [
    ["Outstanding points", points(liability.totalOutstanding), `Worth ${RAND.format((liability.totalOutstanding * config.pointValueCents) / 100)}`],
    ["Monthly growth", growth === null ? "No data" : `${growth > 0 ? "+" : ""}${PERCENT.format(growth)} %`, "Outstanding against the end of last month"],
    ["Redeemed this month", points(liability.redemptionCost), `Worth ${RAND.format((liability.redemptionCost * config.pointValueCents) / 100)}`],
    ["Active points users", points(engagement.activePointsUsers), "Customers with a balance above 0"],
    ["Average balance", points(engagement.averageBalance), "Points per active user"],
    ["Redemption rate", percent(engagement.redemptionRate), `Alert below ${PERCENT.format(config.lowRedemptionRatePct)} %`],
    ["Expiration rate", percent(engagement.expirationRate), `Alert above ${PERCENT.format(config.highExpirationRatePct)} %`],
    ["Points-influenced bookings", points(impact.pointsInfluencedBookings), "Bookings that redeemed points"],
    ["Average points per booking", points(impact.averagePointsPerBooking), "Earned by bookings completed"],
    ["Conversion rate", percent(impact.conversionRate), "Points-influenced / completed bookings"],
  ];
  $("dashboard-month").textContent = `${monthLabel(latest.month)} (so far)`;
  $("dashboard-cards").replaceChildren(
    ...cards.map(([title, value, note]) =>
      element("li", { class: "card" }, element("span", { class: "card-title" }, title), element("strong", { "data-kpi": title }, value), element("span", { class: "card-note" }, note)),
    ),
  );
}

function chart(canvasId, config) {
  charts.get(canvasId)?.destroy();
  const common = { locale: "en-ZA", animation: false, responsive: true, maintainAspectRatio: false };
  charts.set(canvasId, new window.Chart($(canvasId), { ...config, options: { ...common, ...config.options } }));
}

function drawCharts(rows, config) {
  const labels = rows.map((row) => monthLabel(row.month));
  const pointsAxis = { beginAtZero: true, title: { display: true, text: "Points" } };
  chart("chart-liability", {
    type: "line",
    data: {
      labels,
      datasets: [
        {
          label: "Outstanding points (end of month; this month: now)",
          data: rows.map((row) => row.pointsLiability.totalOutstanding),
          borderColor: "#2f6fd6",
          backgroundColor: "rgba(47, 111, 214, .15)",
          fill: true,
        },
      ],
    },
    options: { scales: { y: pointsAxis } },
  });
  // Two bars a month: the points that came in (earned on bookings under bonuses awarded)
  // and those that went out (redeemed under expired).
  const flow = (name) => rows.map((row) => row.pointsFlow[name]);
  chart("chart-flows", {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "Earned on bookings (points)", data: flow("earned"), stack: "in", backgroundColor: "#2f6fd6" },
        { label: "Awarded as bonuses (points)", data: flow("awarded"), stack: "in", backgroundColor: "#8fb3ea" },
        { label: "Redeemed (points)", data: flow("redeemed"), stack: "out", backgroundColor: "#1f6f3f" },
        { label: "Expired (points)", data: flow("expired"), stack: "out", backgroundColor: "#a4161a" },
      ],
    },
    options: { scales: { x: { stacked: true }, y: { ...pointsAxis, stacked: true } } },
  });
  const threshold = (value) => rows.map(() => value);
  chart("chart-rates", {
    type: "line",
    data: {
      labels,
      datasets: [
        { label: "Redemption rate (%)", data: rows.map((row) => row.customerEngagement.redemptionRate), borderColor: "#1f6f3f", backgroundColor: "#1f6f3f" },
        { label: `Low redemption alert threshold (${PERCENT.format(config.lowRedemptionRatePct)} %)`, data: threshold(config.lowRedemptionRatePct), borderColor: "#1f6f3f", borderDash: [6, 4], pointRadius: 0 },
        { label: "Expiration rate (%)", data: rows.map((row) => row.customerEngagement.expirationRate), borderColor: "#a4161a", backgroundColor: "#a4161a" },
        { label: `High expiration alert threshold (${PERCENT.format(config.highExpirationRatePct)} %)`, data: threshold(config.highExpirationRatePct), borderColor: "#a4161a", borderDash: [6, 4], pointRadius: 0 },
      ],
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: "% of the points outstanding at the month's start" } } } },
  });
}

function drawTable(rows) {
  $("dashboard-table-body").replaceChildren(
    ...rows.map((row) =>
      element(
        "tr",
        { "data-month": row.month },
        element("th", { scope: "row" }, monthLabel(row.month)),
        element("td", { class: "number" }, points(row.pointsLiability.totalOutstanding)),
        ...["earned", "awarded", "redeemed", "expired"].map((name) => element("td", { class: "number", "data-flow": name }, points(row.pointsFlow[name]))),
        element("td", { class: "number" }, percent(row.customerEngagement.redemptionRate)),
        element("td", { class: "number" }, percent(row.customerEngagement.expirationRate)),
      ),
    ),
  );
}
