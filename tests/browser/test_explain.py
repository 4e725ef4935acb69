"""A history row explains itself in the console: the lot a credit made and what became of
it, the lots a debit drew from, and an expired lot's Recover for an ADMIN, all as the API's
GET /points/transactions/{id} says them."""

import http.client
import json
import re
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, expect

from crm_points.validation import business_day, day_bounds
from tests.browser.conftest import Console
from tests.browser.test_console import api, call, find, sign_in
from tests.browser.test_history_and_actions import new_customer, open_history


def explain(page: Page, transaction_id: str) -> Locator:
    """Open the explanation of one history row; the panel below it."""
    history = page.get_by_test_id("history")
    row = history.locator(f'tbody tr[data-transaction-id="{transaction_id}"]')
    row.get_by_role("button", name="Why?").click()
    panel = history.locator(f'tr.explanation[data-explains="{transaction_id}"]')
    expect(panel).not_to_contain_text("Loading")
    return panel


def test_a_credit_and_the_debits_that_spent_it_explain_themselves(
    page: Page, console_stack: Console
) -> None:
    customer_id = new_customer(console_stack, [1_000])
    for amount in (300, 200):
        body = {"customerId": customer_id, "amount": amount, "reason": "Spa treatment"}
        status, answer = call(console_stack, "POST", "/api/crm/points/redeem", "ADMIN", body)
        assert status == 201, answer
    history = api(console_stack, f"/api/crm/customers/{customer_id}/points/transactions")
    award, first, second = reversed(history["transactions"])
    explained = api(console_stack, f"/api/crm/points/transactions/{award['transactionId']}")

    sign_in(page, console_stack, "SUPPORT_AGENT")
    find(page, customer_id)
    open_history(page)
    panel = explain(page, award["transactionId"])
    expect(panel.get_by_test_id("lot-now")).to_contain_text("500 points left")
    events = panel.get_by_role("table", name="What became of the lot").locator("tbody tr")
    assert events.evaluate_all(
        "rows => rows.map(r => [r.dataset.kind, r.dataset.transactionId,"
        " Number(r.querySelector('td[data-value]').dataset.value)])"
    ) == [
        [event["kind"], event["transactionId"], event["points"]]
        for event in explained["lot"]["events"]
    ]
    assert [row[0] for row in events.evaluate_all("rows => rows.map(r => [r.dataset.kind])")] == [
        "CREDIT",
        "DRAW",
        "DRAW",
    ]
    # No Recover for a lot still active, nor for a support agent.
    expect(panel.get_by_role("button", name="Recover")).to_have_count(0)

    drawn = explain(page, second["transactionId"]).get_by_role("table", name="Lots drawn from")
    rows = drawn.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute(
        "data-point-batch-id", explained["lot"]["lot"]["pointBatchId"]
    )
    expect(rows.first.locator("td").first).to_have_attribute("data-value", "200")
    expect(rows.first).to_contain_text("AWARD: Browser test award 1")
    # Closed again by the same button.
    page.get_by_test_id("history").locator(
        f'tbody tr[data-transaction-id="{second["transactionId"]}"]'
    ).get_by_role("button", name="Why?").click()
    expect(
        page.locator(f'tr.explanation[data-explains="{second["transactionId"]}"]')
    ).to_have_count(0)
    assert first["transactionId"]


def run_schedule(console: Console, schedule: str, at: datetime) -> None:
    """One daily run of the stack, as of `at` (the local stack's schedule endpoint)."""
    connection = http.client.HTTPConnection(urlsplit(console.url).netloc, timeout=120)
    try:
        body = json.dumps({"time": at.isoformat()})
        connection.request(
            "POST", f"/local/schedules/{schedule}", body, {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200, answer


def test_an_admin_recovers_an_expired_lot_from_its_explanation(
    page: Page, console_stack: Console
) -> None:
    # A lot of this test's own that expires at the end of tomorrow, and the run after it.
    customer_id = f"browser-{uuid.uuid4().hex[:12]}"
    tomorrow = business_day(console_stack.clock()) + timedelta(days=1)
    body = {
        "customerId": customer_id,
        "amount": 640,
        "reason": "Short-lived promotion",
        "expiryDate": tomorrow.isoformat(),
    }
    status, answer = call(console_stack, "POST", "/api/crm/points/award", "ADMIN", body)
    assert status == 201, answer
    run_schedule(console_stack, "expire-points", day_bounds(tomorrow)[1] + timedelta(minutes=5))
    entries = api(console_stack, f"/api/crm/customers/{customer_id}/points/transactions")
    expiry = next(e for e in entries["transactions"] if e["type"] == "EXPIRE")
    explained = api(console_stack, f"/api/crm/points/transactions/{expiry['transactionId']}")
    assert [drawn["lot"]["status"] for drawn in explained["drawnFrom"]] == ["EXPIRED"]
    # A page of newer entries puts the expiry on the history's second page.
    for _ in range(10):
        body = {"customerId": customer_id, "amount": 1, "reason": "Survey answered"}
        status, answer = call(console_stack, "POST", "/api/crm/points/award", "ADMIN", body)
        assert status == 201, answer

    sign_in(page, console_stack, "ADMIN")
    find(page, customer_id)
    history = open_history(page)
    page.get_by_role("button", name="Older").click()
    expect(page.get_by_test_id("history-status")).to_have_text("Page 2")
    panel = explain(page, expiry["transactionId"])
    expect(panel.get_by_role("table", name="Lots drawn from").locator("tbody tr")).to_have_count(1)
    form = panel.get_by_role("form").first
    new_day = (tomorrow + timedelta(days=120)).isoformat()
    form.get_by_label("New expiry date").fill(new_day)
    form.get_by_label("Reason for the recovery").fill("Customer was abroad")
    form.get_by_role("button", name="Recover").click()
    expect(panel.get_by_test_id("explain-recover-outcome")).to_have_text("Recovered 640 points.")
    after = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    assert (after["currentBalance"], after["lifetimeExpired"]) == (650, 0)
    # The widget's figures above follow; the history stays on its page, the explanation open
    # under its row, read again: its lot recovered, so Recover is offered no more.
    expect(page.get_by_test_id("balance")).to_have_attribute("data-value", "650")
    expect(panel.get_by_role("button", name="Recover")).to_have_count(0)
    drawn = panel.get_by_role("table", name="Lots drawn from").locator("tbody tr td").last
    expect(drawn).to_have_text(re.compile(r"^expired .+, since recovered$"))
    expect(panel.get_by_test_id("explain-recover-outcome")).to_have_text("Recovered 640 points.")
    expect(page.get_by_test_id("history-status")).to_have_text("Page 2")
    row = history.locator(f'tbody > tr[data-transaction-id="{expiry["transactionId"]}"]')
    expect(row.get_by_role("button", name="Why?")).to_have_attribute("aria-expanded", "true")
    page.get_by_role("button", name="Newer").click()
    expect(history.locator('tbody > tr[data-type="RECOVER"]')).to_have_count(1)

    # A MANAGER sees the same explanation, without Recover.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, console_stack, "MANAGER")
    find(page, customer_id)
    open_history(page)
    page.get_by_role("button", name="Older").click()
    panel = explain(page, expiry["transactionId"])
    expect(panel.get_by_role("table", name="Lots drawn from")).to_be_visible()
    expect(panel.get_by_role("button", name="Recover")).to_have_count(0)
