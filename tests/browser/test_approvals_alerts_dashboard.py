"""The console's approvals queue, alerts list and analytics dashboard in a real browser."""

import http.client
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, Request, Route, expect

from tests.browser.conftest import Console, ConsoleWatch
from tests.browser.test_console import api, call, find, grouped, plain, sign_in

REFUSED = r"Failed to load resource: .* status of 403"


def call_as(
    console: Console, method: str, path: str, role: str, user: str, body: Any = None
) -> tuple[int, Any]:
    """The API's status and JSON answer to `user` in `role` (a write gets a new key)."""
    return call(console, method, path, role, body, user=user)


def drain(console: Console) -> None:
    """Let the stack's stream consumers catch up (analytics aggregates, alerts)."""
    connection = http.client.HTTPConnection(urlsplit(console.url).netloc, timeout=120)
    try:
        connection.request("POST", "/local/drain", "{}", {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200, answer
    assert answer["caughtUp"], answer


def open_section(page: Page, name: str) -> None:
    button = page.get_by_role("navigation", name="Console sections").get_by_role(
        "button", name=name
    )
    button.focus()
    button.press("Enter")  # the keyboard suffices
    expect(button).to_have_attribute("aria-current", "page")


def test_a_deduct_asked_by_one_manager_is_refused_to_them_and_approved_by_another(
    page: Page, console_stack: Console, console: ConsoleWatch
) -> None:
    customer_id = console_stack.customer_ids[0]
    before = api(console_stack, f"/api/crm/customers/{customer_id}/points")["currentBalance"]
    assert before >= 40, "the demo customer has points to deduct"
    status, approval = call_as(
        console_stack,
        "POST",
        "/api/crm/points/deduct",
        "MANAGER",
        "morgan",
        {
            "customerId": customer_id,
            "amount": 40,
            "reason": "Double credit",
            "requireApproval": True,
        },
    )
    assert status == 202, approval
    approval_id = approval["approvalId"]
    console.expect(REFUSED)  # the requester's own approval, refused by the API

    sign_in(page, console_stack, "MANAGER", user="morgan")
    open_section(page, "Approvals")
    item = page.locator(f'li[data-approval-id="{approval_id}"]')
    expect(item.get_by_role("heading")).to_have_text(f"Deduct 40 points from {customer_id}")
    expect(item).to_contain_text("morgan (MANAGER)")
    item.get_by_role("button", name="Approve").click()
    refusal = _refusal_to_the_requester(console_stack, approval_id)
    expect(item.get_by_role("alert")).to_have_text(refusal["message"])
    assert (
        api(console_stack, f"/api/crm/customers/{customer_id}/points")["currentBalance"] == before
    )

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, console_stack, "MANAGER", user="riley")
    open_section(page, "Approvals")
    item = page.locator(f'li[data-approval-id="{approval_id}"]')
    item.get_by_label("Reason for the decision (optional)").fill("Checked the booking")
    item.get_by_role("button", name="Approve").click()
    after = before - 40
    expect(item.get_by_test_id("approval-outcome")).to_have_text(
        f"Approved: 40 points deducted from {customer_id}; the balance is now {grouped(after)}."
    )
    assert api(console_stack, f"/api/crm/customers/{customer_id}/points")["currentBalance"] == after
    decided = api(console_stack, "/api/crm/points/approvals?status=APPROVED")["approvals"]
    mine = next(a for a in decided if a["approvalId"] == approval_id)
    assert mine["decidedBy"]["userId"] == "riley"
    assert mine["decisionReason"] == "Checked the booking"

    open_section(page, "Customers")
    find(page, customer_id)
    balance = page.get_by_test_id("balance")
    expect(balance).to_have_attribute("data-value", str(after))
    assert plain(balance.inner_text()) == f"{grouped(after)} points"


def test_a_late_answer_to_an_earlier_opening_of_the_approvals_is_dropped(
    page: Page, console_stack: Console
) -> None:
    customer_id = console_stack.customer_ids[1]
    body = {"customerId": customer_id, "amount": 1, "reason": "Held", "requireApproval": True}
    path = "/api/crm/points/deduct"
    status, approval = call_as(console_stack, "POST", path, "MANAGER", "ali", body)
    assert status == 202, approval
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/api/crm/points/approvals?*", hold_the_first)
    sign_in(page, console_stack, "MANAGER", user="riley")
    open_section(page, "Approvals")  # its answer is held
    open_section(page, "Customers")
    open_section(page, "Approvals")  # answered at once
    item = page.locator(f'li[data-approval-id="{approval["approvalId"]}"]')
    expect(item).to_have_count(1)
    with page.expect_response("**/api/crm/points/approvals?*"):
        held[0].continue_()
    page.wait_for_timeout(500)  # time for the late answer to be shown, were it not dropped
    expect(item).to_have_count(1)


def _refusal_to_the_requester(console: Console, approval_id: str) -> Any:
    """The error the API gives the requester approving their own (it writes nothing)."""
    path = f"/api/crm/points/approvals/{approval_id}/approve"
    status, answer = call_as(console, "POST", path, "MANAGER", "morgan", {})
    assert status == 403, answer
    return answer["error"]


def test_a_manager_acknowledges_then_resolves_an_alert(page: Page, console_stack: Console) -> None:
    customer_id = f"alerted-{uuid.uuid4().hex[:8]}"
    award = {"customerId": customer_id, "amount": 10, "reason": "Welcome"}
    assert call_as(console_stack, "POST", "/api/crm/points/award", "ADMIN", "ops", award)[0] == 201
    deduct = {
        "customerId": customer_id,
        "amount": 110,
        "reason": "Chargeback",
        "allowNegative": True,
    }
    assert (
        call_as(console_stack, "POST", "/api/crm/points/deduct", "ADMIN", "ops", deduct)[0] == 201
    )
    drain(console_stack)  # the change stream raises NEGATIVE_BALANCE
    alerts = api(console_stack, f"/api/crm/customers/{customer_id}/alerts")["alerts"]
    assert [alert["type"] for alert in alerts] == ["NEGATIVE_BALANCE"]
    alert_id = alerts[0]["alertId"]

    sign_in(page, console_stack, "MANAGER", user="jordan")
    open_section(page, "Alerts")
    page.get_by_label("Priority").select_option("HIGH")
    page.get_by_label("Type").select_option("NEGATIVE_BALANCE")
    page.get_by_role("button", name="Show alerts").click()
    item = page.locator(f'li[data-alert-id="{alert_id}"]')
    expect(item).to_have_attribute("data-status", "OPEN")
    expect(item).to_contain_text(customer_id)

    item.get_by_label("Note (optional)").fill("Calling the customer")
    item.get_by_role("button", name="Acknowledge").click()
    expect(item).to_have_attribute("data-status", "ACKNOWLEDGED")
    expect(item.get_by_test_id("alert-outcome")).to_have_text("Acknowledged.")
    expect(item).to_contain_text("jordan (MANAGER)")
    expect(item.get_by_role("button", name="Acknowledge")).to_have_count(0)

    item.get_by_label("Note (optional)").fill("Paid back")
    item.get_by_role("button", name="Resolve").click()
    expect(item).to_have_attribute("data-status", "RESOLVED")
    expect(item.get_by_test_id("alert-outcome")).to_have_text("Resolved.")
    expect(item.get_by_role("button")).to_have_count(0)

    stored = api(console_stack, f"/api/crm/customers/{customer_id}/alerts")["alerts"][0]
    assert stored["status"] == "RESOLVED"
    assert stored["acknowledgedBy"]["userId"] == "jordan"
    assert stored["acknowledgeNote"] == "Calling the customer"
    assert stored["resolvedBy"]["userId"] == "jordan"
    assert stored["resolveNote"] == "Paid back"


def test_more_alerts_pages_the_list_shown_even_after_the_filters_change(
    page: Page, console_stack: Console
) -> None:
    """A cursor is only good for the query that issued it: "More alerts" asks with the
    filters the list was shown with, not with a change not yet submitted."""
    marker = uuid.uuid4().hex[:8]
    for n in range(21):
        customer_id = f"paged-{marker}-{n}"
        award = {"customerId": customer_id, "amount": 1, "reason": "Welcome"}
        assert (
            call_as(console_stack, "POST", "/api/crm/points/award", "ADMIN", "ops", award)[0] == 201
        )
        deduct = {
            "customerId": customer_id,
            "amount": 5,
            "reason": "Chargeback",
            "allowNegative": True,
        }
        status = call_as(console_stack, "POST", "/api/crm/points/deduct", "ADMIN", "ops", deduct)
        assert status[0] == 201
    drain(console_stack)  # each raises NEGATIVE_BALANCE

    sign_in(page, console_stack, "MANAGER", user="jordan")
    open_section(page, "Alerts")
    page.get_by_label("Type").select_option("NEGATIVE_BALANCE")
    page.get_by_role("button", name="Show alerts").click()
    items = page.locator("#alerts-list > li")
    expect(items).to_have_count(20)
    page.get_by_label("Type").select_option("LARGE_REDEMPTION")  # changed, not submitted
    page.get_by_role("button", name="More alerts").click()
    expect(page.locator("#alerts-status")).to_be_hidden()
    expect(items.nth(20)).to_contain_text("NEGATIVE")
    assert items.count() > 20


CHART_DATA = """(id) => {
  const chart = Chart.getChart(document.getElementById(id));
  const datasets = chart.data.datasets.map((d) => ({label: d.label, data: d.data}));
  return {labels: chart.data.labels, datasets};
}"""

PAINTED_PIXELS = """(id) => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted += 1;
  return painted;
}"""


def test_the_dashboard_draws_its_charts_from_the_analytics(
    page: Page, console_stack: Console
) -> None:
    drain(console_stack)
    config = api(console_stack, "/api/crm/points/config")
    sign_in(page, console_stack, "ADMIN")
    asked: list[str] = []

    def note_the_month(request: Request) -> None:
        url = urlsplit(request.url)
        if url.path == "/api/crm/points/analytics":
            asked.extend(parse_qs(url.query).get("month", []))

    page.on("request", note_the_month)
    open_section(page, "Dashboard")
    expect(page.locator("#dashboard-status")).to_be_hidden()  # loaded, nothing refused
    page.get_by_text("The figures as a table").click()
    table = page.get_by_role("table", name="Analytics by month")
    expect(table.locator("tbody tr")).to_have_count(12)
    months = table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.month)")
    analytics = [api(console_stack, f"/api/crm/points/analytics?month={m}") for m in months]
    assert sorted(asked) == months, "one request per month shown, and no other"

    liability = page.evaluate(CHART_DATA, "chart-liability")
    assert len(liability["labels"]) == 12
    outstanding = [month["pointsLiability"]["totalOutstanding"] for month in analytics]
    assert liability["datasets"][0]["data"] == outstanding
    assert any(value > 0 for value in outstanding), "the demo data has points outstanding"

    flows = page.evaluate(CHART_DATA, "chart-flows")
    charted = {dataset["label"]: dataset["data"] for dataset in flows["datasets"]}
    flow_labels = {
        "earned": "Earned on bookings (points)",
        "awarded": "Awarded as bonuses (points)",
        "redeemed": "Redeemed (points)",
        "expired": "Expired (points)",
    }
    assert set(charted) == set(flow_labels.values())
    for name, label in flow_labels.items():
        assert charted[label] == [month["pointsFlow"][name] for month in analytics], name
    redeemed = [month["pointsLiability"]["redemptionCost"] for month in analytics]
    assert charted["Redeemed (points)"] == redeemed
    for name in ("earned", "awarded", "redeemed"):
        assert any(month["pointsFlow"][name] > 0 for month in analytics), f"no demo {name}"
    cells = table.locator("tbody td[data-flow]").evaluate_all(
        "cells => cells.map(c => [c.closest('tr').dataset.month, c.dataset.flow, c.innerText])"
    )
    assert [(month, name, plain(text)) for month, name, text in cells] == [
        (month["month"], name, grouped(month["pointsFlow"][name]))
        for month in analytics
        for name in flow_labels
    ]
    expect(table.locator("thead th")).to_have_text(
        [
            "Month",
            "Outstanding",
            "Earned",
            "Awarded",
            "Redeemed",
            "Expired",
            "Redemption rate",
            "Expiration rate",
        ]
    )

    rates = page.evaluate(CHART_DATA, "chart-rates")
    by_label = {dataset["label"]: dataset["data"] for dataset in rates["datasets"]}
    assert by_label["Redemption rate (%)"] == [
        month["customerEngagement"]["redemptionRate"] for month in analytics
    ]
    assert by_label["Expiration rate (%)"] == [
        month["customerEngagement"]["expirationRate"] for month in analytics
    ]
    low = next(label for label in by_label if label.startswith("Low redemption alert"))
    high = next(label for label in by_label if label.startswith("High expiration alert"))
    assert by_label[low] == [config["lowRedemptionRatePct"]] * 12
    assert by_label[high] == [config["highExpirationRatePct"]] * 12

    for canvas in ("chart-liability", "chart-flows", "chart-rates"):
        assert page.evaluate(PAINTED_PIXELS, canvas) > 1000, f"{canvas} is blank"

    latest = analytics[-1]
    card = page.locator('[data-kpi="Outstanding points"]')
    assert plain(card.inner_text()) == grouped(latest["pointsLiability"]["totalOutstanding"])
    users = page.locator('[data-kpi="Active points users"]')
    assert plain(users.inner_text()) == grouped(latest["customerEngagement"]["activePointsUsers"])


def test_a_support_agent_sees_neither_approvals_nor_alerts_nor_the_dashboard(
    page: Page, console_stack: Console
) -> None:
    sign_in(page, console_stack, "SUPPORT_AGENT")
    nav = page.get_by_role("navigation", name="Console sections")
    expect(nav.get_by_role("button", name="Customers")).to_be_visible()
    for name in ("Approvals", "Alerts", "Dashboard"):
        expect(nav.get_by_role("button", name=name)).to_have_count(0)
    for section in ("#approvals", "#alerts", "#dashboard"):
        expect(page.locator(section)).to_be_hidden()
    expect(page.get_by_label("Customer id or e-mail")).to_be_visible()


def test_a_manager_sees_every_section(page: Page, console_stack: Console) -> None:
    sign_in(page, console_stack, "MANAGER")
    nav = page.get_by_role("navigation", name="Console sections")
    for name in ("Customers", "Approvals", "Alerts", "Dashboard"):
        expect(nav.get_by_role("button", name=name)).to_be_visible()
