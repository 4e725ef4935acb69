// The alerts list (GET /api/crm/alerts, one status at a time, OPEN unless another is
// chosen, narrowed by priority and type), each acknowledged or resolved with an optional
// note (POST /api/crm/alerts/{alertId}/acknowledge|resolve). MANAGE_ALERTS decides (SPEC §4).
import { $, IdempotencyKeys, MOMENT, POINTS, element } from "./common.js";
import { PagedList, say, submitFrom } from "./staff-api.js";

const keys = new IdempotencyKeys();
const alerts = new PagedList("alerts", "/api/crm/alerts", (body) => body.alerts, alertItem);

/** Load the first page of alerts the filters ask for. */
export async function showAlerts() {
  await alerts.show(filters());
}

function filters() {
  const form = $("alerts-filters");
  const query = new URLSearchParams({ status: form.elements.status.value, limit: "20" });
  if (form.elements.priority.value) query.set("priority", form.elements.priority.value);
  if (form.elements.type.value) query.set("type", form.elements.type.value);
  return query;
}

function actorText(actor, at, note) {
  return `${actor.userId} (${actor.role}), ${MOMENT.format(new Date(at))}${note ? `: ${note}` : ""}`;
}

function alertItem(alert) {
  const titleId = `alert-${alert.alertId}-title`;
  const details = element("dl", {});
  const facts = [
    ["Priority", alert.priority],
    ["Status", alert.status],
    [alert.customerId ? "Customer" : "Month", alert.customerId || alert.month || ""],
    ["Action", alert.action],
    ["Raised", MOMENT.format(new Date(alert.createdAt))],
    ["Occurrences", POINTS.format(alert.occurrences)],
  ];
  if (alert.acknowledgedBy) {
    facts.push(["Acknowledged", actorText(alert.acknowledgedBy, alert.acknowledgedAt, alert.acknowledgeNote)]);
  }
  if (alert.resolvedBy) {
    facts.push(["Resolved", actorText(alert.resolvedBy, alert.resolvedAt, alert.resolveNote)]);
  }
  for (const [term, value] of facts) details.append(element("dt", {}, term), element("dd", {}, value));

  const item = element(
    "li",
    { "data-alert-id": alert.alertId, "data-status": alert.status, "aria-labelledby": titleId },
    element("h3", { id: titleId }, `${alert.type}: ${alert.message}`),
    details,
  );
  if (alert.status === "RESOLVED") return item;

  const note = element("input", { name: "note", maxlength: "500", autocomplete: "off" });
  const outcome = element("p", { "aria-live": "polite", "data-testid": "alert-outcome", hidden: "" });
  const actions = element("div", { class: "actions" });
  if (alert.status === "OPEN") actions.append(element("button", { type: "submit", value: "acknowledge" }, "Acknowledge"));
  actions.append(element("button", { type: "submit", value: "resolve" }, "Resolve"));
  const form = element(
    "form",
    { "aria-labelledby": titleId },
    element("label", {}, "Note (optional)", note),
    actions,
    outcome,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const change = event.submitter?.value === "resolve" ? "resolve" : "acknowledge";
    act(alert, change, note.value.trim(), item, form, outcome);
  });
  item.append(form);
  return item;
}

async function act(alert, change, note, item, form, outcome) {
  const path = `/api/crm/alerts/${encodeURIComponent(alert.alertId)}/${change}`;
  const answer = await submitFrom(form, outcome, keys, path, note ? { note } : {}, {
    working: change === "resolve" ? "Resolving…" : "Acknowledging…",
    unreachable: "The API could not be reached; try again (it will not be done twice).",
  });
  if (!answer) return;
  // The alert as it is now, in place; the outcome is announced after the redraw.
  const updated = alertItem(answer.body);
  item.replaceWith(updated);
  const message = change === "resolve" ? "Resolved." : "Acknowledged.";
  let status = updated.querySelector('[data-testid="alert-outcome"]');
  if (!status) {
    status = element("p", { "data-testid": "alert-outcome" });
    updated.append(status);
  }
  say(status, message);
  // Focus stays in the alert: on its next action, or its note when none is left.
  (updated.querySelector("input[name=note]") || status).focus?.();
}

$("alerts-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  showAlerts();
});
