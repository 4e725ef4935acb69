// The approvals queue: the pending deductions (GET /api/crm/points/approvals), each approved
// or rejected, with an optional reason, by someone other than its requester (SPEC §4). The
// API decides who may; its refusal is shown as it words it.
import { IdempotencyKeys, MOMENT, POINTS, element } from "./common.js";
import { PagedList, say, submitFrom } from "./staff-api.js";

const keys = new IdempotencyKeys();
const approvals = new PagedList("approvals", "/api/crm/points/approvals", (body) => body.approvals, approvalItem);

/** Load the first page of pending approvals into the section. */
export async function showApprovals() {
  await approvals.show({ status: "PENDING", limit: "20" });
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
  const path = `/api/crm/points/approvals/${encodeURIComponent(approval.approvalId)}/${decision}`;
  const answer = await submitFrom(form, outcome, keys, path, reason ? { reason } : {}, {
    working: decision === "approve" ? "Approving…" : "Rejecting…",
    unreachable: "The API could not be reached; try again (it will not be counted twice).",
  });
  if (!answer) return;
  const amount = POINTS.format(approval.amount);
  say(
    outcome,
    decision === "approve"
      ? `Approved: ${amount} points deducted from ${approval.customerId}; the balance is now ${POINTS.format(answer.body.currentBalance)}.`
      : `Rejected: nothing deducted from ${approval.customerId}.`,
  );
  form.querySelectorAll("button").forEach((button) => (button.hidden = true));
  form.querySelector("label").hidden = true;
}
