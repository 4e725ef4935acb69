// The approvals queue: the pending deductions (GET /api/crm/points/approvals), each approved
// or rejected, with an optional reason, by someone other than its requester (SPEC §4). The
// API decides who may; its refusal is shown as it words it.
import { MOMENT, POINTS, Submissions, callApi, element, errorText, say, submit } from "./staff-api.js";

const submissions = new Submissions();
// Which showing of the queue is current: the answer to an earlier one (the section opened
// twice in quick succession) arrives late and is dropped, not appended.
let showing = 0;

/** Load the first page of pending approvals into the section. */
export async function showApprovals() {
  showing += 1;
  const list = document.getElementById("approvals-list");
  const status = document.getElementById("approvals-status");
  list.replaceChildren();
  document.getElementById("approvals-more").hidden = true;
  await loadPage(null, list, status, showing);
}

async function loadPage(cursor, list, status, shown) {
  const query = new URLSearchParams({ status: "PENDING", limit: "20" });
  if (cursor) query.set("cursor", cursor);
  let answer;
  try {
    answer = await callApi("GET", `/api/crm/points/approvals?${query}`);
  } catch {
    if (shown !== showing) return;
    say(status, "The API could not be reached; try again.", true);
    return;
  }
  if (shown !== showing) return;
  if (!answer.ok) {
    say(status, errorText(answer), true);
    return;
  }
  list.append(...answer.body.approvals.map(approvalItem));
  const empty = list.children.length === 0;
  document.getElementById("approvals-empty").hidden = !empty;
  const more = document.getElementById("approvals-more");
  more.hidden = !answer.body.nextCursor;
  more.onclick = () => loadPage(answer.body.nextCursor, list, status, shown);
}

function approvalItem(approval) {
  const id = approval.approvalId;
  const titleId = `approval-${id}-title`;
  const details = element("dl", {});
  const facts = [
    ["Customer", approval.customerId],
    ["Points", POINTS.format(approval.amount)],
    ["Reason", approval.reason],
    ["Requested by", `${approval.requestedBy.userId} (${approval.requestedBy.role})`],
    ["Requested", MOMENT.format(new Date(approval.requestedAt))],
  ];
  if (approval.allowNegative) facts.push(["Below zero", "Allowed (needs an ADMIN)"]);
  for (const [term, value] of facts) details.append(element("dt", {}, term), element("dd", {}, value));

  const reason = element("input", { name: "reason", maxlength: "500", autocomplete: "off" });
  const outcome = element("p", { "aria-live": "polite", "data-testid": "approval-outcome", hidden: "" });
  const approve = element("button", { type: "submit", value: "approve" }, "Approve");
  const reject = element("button", { type: "submit", value: "reject" }, "Reject");
  const form = element(
    "form",
    { "aria-labelledby": titleId },
    element("label", {}, "Reason for the decision (optional)", reason),
    element("div", { class: "actions" }, approve, reject),
    outcome,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const decision = event.submitter?.value === "reject" ? "reject" : "approve";
    decide(approval, decision, reason.value.trim(), form, outcome);
  });
  return element(
    "li",
    { "data-approval-id": id, "aria-labelledby": titleId },
    element("h3", { id: titleId }, `Deduct ${POINTS.format(approval.amount)} points from ${approval.customerId}`),
    details,
    form,
  );
}

async function decide(approval, decision, reason, form, outcome) {
  const values = reason ? { reason } : {};
  const buttons = form.querySelectorAll("button");
  buttons.forEach((button) => (button.disabled = true));
  say(outcome, decision === "approve" ? "Approving…" : "Rejecting…");
  const path = `/api/crm/points/approvals/${encodeURIComponent(approval.approvalId)}/${decision}`;
  const { answer, unreachable } = await submit(submissions, path, values);
  buttons.forEach((button) => (button.disabled = false));
  if (unreachable) {
    say(outcome, "The API could not be reached; try again (it will not be counted twice).", true);
    return;
  }
  if (!answer.ok) {
    say(outcome, errorText(answer), true);
    return;
  }
  const amount = POINTS.format(approval.amount);
  say(
    outcome,
    decision === "approve"
      ? `Approved: ${amount} points deducted from ${approval.customerId}; the balance is now ${POINTS.format(answer.body.currentBalance)}.`
      : `Rejected: nothing deducted from ${approval.customerId}.`,
  );
  buttons.forEach((button) => (button.hidden = true));
  form.querySelector("label").hidden = true;
}
