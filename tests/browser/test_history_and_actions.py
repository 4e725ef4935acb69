"""The widget's quick actions and the transaction history in a real browser.

Each test makes a customer of its own through the API (an award creates the account), so
it does not depend on the demo customers or on the other tests.
"""

import uuid
from datetime import date, timedelta
from typing import Any

from playwright.sync_api import Locator, Page, expect

from crm_points.runtime import runtime
from crm_points.validation import business_day
from tests.browser.conftest import Console, ConsoleWatch
from tests.browser.test_console import api, call, find, grouped, plain, shows_summary, sign_in


def new_customer(console: Console, awards: list[int]) -> str:
    """A customer of this test's own, with one AWARD entry per amount (oldest first)."""
    customer_id = f"browser-{uuid.uuid4().hex[:12]}"
    for number, amount in enumerate(awards, start=1):
        body = {
            "customerId": customer_id,
            "amount": amount,
            "reason": f"Browser test award {number}",
        }
        status, answer = call(console, "POST", "/api/crm/points/award", "ADMIN", body)
        assert status == 201, answer
    return customer_id


def history_of(console: Console, customer_id: str) -> list[dict[str, Any]]:
    """The customer's entries, newest first, as the API lists them."""
    answer = api(console, f"/api/crm/customers/{customer_id}/points/transactions?limit=100")
    entries: list[dict[str, Any]] = answer["transactions"]
    return entries


def long_day(page: Page, day: str) -> str:
    """A day as the console writes it: en-ZA's long form, by the browser's own Intl (ICU
    writes "03 March 2028" where one might expect "3 March 2028")."""
    written: str = page.evaluate(
        """day => new Intl.DateTimeFormat("en-ZA", { dateStyle: "long", timeZone: "UTC" })
            .format(new Date(`${day}T00:00:00Z`))""",
        day,
    )
    return written


def open_history(page: Page) -> Locator:
    page.get_by_role("button", name="View Transaction History").click()
    expect(page.get_by_test_id("history-status")).to_have_attribute("data-state", "loaded")
    return page.get_by_test_id("history")


def shown_ids(history: Locator) -> list[str]:
    return [
        row.get_attribute("data-transaction-id") or "" for row in history.locator("tbody tr").all()
    ]


def test_a_manager_redeems_and_sees_the_balance_and_the_history_update(
    page: Page, console_stack: Console
) -> None:
    customer_id = new_customer(console_stack, [1500])
    sign_in(page, console_stack, "MANAGER")
    find(page, customer_id)
    shows_summary(page, api(console_stack, f"/api/crm/customers/{customer_id}/points"))
    history = open_history(page)
    expect(history.locator("tbody tr")).to_have_count(1)

    page.get_by_text("Process Manual Redemption", exact=True).click()
    page.get_by_label("Points to redeem", exact=True).fill("400")
    page.get_by_label("Reason for the redemption", exact=True).fill("Voucher at the front desk")
    page.get_by_role("button", name="Redeem", exact=True).click()

    expect(page.get_by_test_id("redeem-outcome")).to_have_text("Redeemed 400 points.")
    after = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    assert after["currentBalance"] == 1100
    assert after["lifetimeRedeemed"] == 400
    shows_summary(page, after)
    newest = history_of(console_stack, customer_id)[0]
    assert newest["type"] == "REDEEM"
    assert newest["balanceAfter"] == 1100
    row = history.locator("tbody tr").first
    expect(row).to_have_attribute("data-transaction-id", newest["transactionId"])
    cells = row.locator("td")
    expect(cells.nth(1)).to_have_text("REDEEM")
    assert plain(cells.nth(2).inner_text()) == "-400"
    expect(cells.nth(3)).to_have_text(newest["description"])
    assert plain(cells.nth(4).inner_text()) == grouped(1100)
    expect(history.locator("tbody tr")).to_have_count(2)


def test_a_support_agent_does_not_get_the_deduct_form(page: Page, console_stack: Console) -> None:
    customer_id = new_customer(console_stack, [300])
    sign_in(page, console_stack, "SUPPORT_AGENT")
    find(page, customer_id)
    expect(page.get_by_role("button", name="Add Bonus Points")).to_be_visible()
    expect(page.get_by_role("button", name="View Transaction History")).to_be_visible()
    for offered_to_managers in (
        "Deduct points",
        "Process Manual Redemption",
        "Extend Expiration",
        "Recover expired points",
    ):
        expect(page.get_by_text(offered_to_managers, exact=True)).to_have_count(0)
    expect(page.get_by_label("Points to deduct")).to_have_count(0)


def test_a_managers_deduct_with_require_approval_is_waiting_for_approval(
    page: Page, console_stack: Console, console: ConsoleWatch
) -> None:
    customer_id = new_customer(console_stack, [900])
    limit = api(console_stack, "/api/crm/points/config")["managerDeductLimit"]
    # Over the limit without approval the API refuses (its 403 is logged by Chromium).
    console.expect(r"Failed to load resource: .* status of 403")
    sign_in(page, console_stack, "MANAGER")
    find(page, customer_id)
    page.get_by_text("Deduct points", exact=True).click()
    page.get_by_label("Points to deduct", exact=True).fill(str(limit))
    page.get_by_label("Reason for the deduction", exact=True).fill("Duplicate booking credit")
    expect(page.get_by_label("Allow the balance to go below zero")).to_have_count(0)
    page.get_by_role("button", name="Deduct", exact=True).click()

    body = {"customerId": customer_id, "amount": limit, "reason": "Duplicate booking credit"}
    status, refusal = call(console_stack, "POST", "/api/crm/points/deduct", "MANAGER", body)
    assert status == 403, refusal
    assert refusal["error"]["code"] == "LIMIT_EXCEEDED"
    refused = page.get_by_test_id("deduct-outcome")
    expect(refused).to_have_text(refusal["error"]["message"])
    expect(refused).to_have_attribute("role", "alert")
    assert api(console_stack, f"/api/crm/customers/{customer_id}/points")["currentBalance"] == 900

    page.get_by_label("Ask another manager or an admin to approve it").check()
    page.get_by_role("button", name="Deduct", exact=True).click()
    expect(page.get_by_test_id("deduct-outcome")).to_have_text(
        f"Deduction of {grouped(limit)} points is waiting for approval."
    )
    pending = api(console_stack, "/api/crm/points/approvals?status=PENDING&limit=100")
    mine = [a for a in pending["approvals"] if a["customerId"] == customer_id]
    assert [(a["amount"], a["requestedBy"]["role"]) for a in mine] == [(limit, "MANAGER")]
    # Waiting for approval moves no points.
    assert api(console_stack, f"/api/crm/customers/{customer_id}/points")["currentBalance"] == 900


def test_the_history_pages_and_filters_by_type(page: Page, console_stack: Console) -> None:
    customer_id = new_customer(console_stack, [100 + n for n in range(12)])
    status, answer = call(
        console_stack,
        "POST",
        "/api/crm/points/redeem",
        "MANAGER",
        {"customerId": customer_id, "amount": 50, "reason": "Redeemed at checkout"},
    )
    assert status == 201, answer
    entries = history_of(console_stack, customer_id)
    assert len(entries) == 13
    expected_ids = [entry["transactionId"] for entry in entries]

    sign_in(page, console_stack, "SUPPORT_AGENT")
    find(page, customer_id)
    history = open_history(page)
    older = page.get_by_role("button", name="Older", exact=True)
    newer = page.get_by_role("button", name="Newer", exact=True)
    expect(newer).to_be_disabled()
    expect(history.locator("tbody tr")).to_have_count(10)  # the console's page size
    assert shown_ids(history) == expected_ids[:10]

    older.click()
    expect(history.locator("tbody tr")).to_have_count(3)
    assert shown_ids(history) == expected_ids[10:]
    expect(older).to_be_disabled()
    # A host's refresh (after a new token, say) reads the figures and the page shown again.
    history.locator("tbody tr").first.get_by_role("button", name="Why?").click()
    with page.expect_response(lambda answer: "/points/transactions?" in answer.url):
        page.locator("points-widget").evaluate("widget => widget.refresh()")
    expect(page.get_by_test_id("history-status")).to_have_text("Page 2")
    expect(history.locator("tbody > tr.explanation")).to_have_count(1)
    expect(history.locator(":scope > tbody > tr[data-transaction-id]")).to_have_count(3)
    history.locator("tbody tr").first.get_by_role("button", name="Why?").click()  # closed
    newer.click()
    expect(history.locator("tbody tr")).to_have_count(10)
    assert shown_ids(history) == expected_ids[:10]

    page.get_by_label("Type", exact=True).select_option("REDEEM")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(history.locator("tbody tr")).to_have_count(1)
    expect(history.locator("tbody tr")).to_have_attribute("data-type", "REDEEM")
    assert shown_ids(history) == [e["transactionId"] for e in entries if e["type"] == "REDEEM"]

    page.get_by_role("button", name="Clear filters").click()
    expect(history.locator("tbody tr")).to_have_count(10)
    assert shown_ids(history) == expected_ids[:10]


def test_a_manager_extends_a_lots_expiration(page: Page, console_stack: Console) -> None:
    customer_id = new_customer(console_stack, [700])
    award = history_of(console_stack, customer_id)[0]
    new_day = (date.fromisoformat(award["expiresAt"][:10]) + timedelta(days=90)).isoformat()
    sign_in(page, console_stack, "MANAGER")
    find(page, customer_id)

    page.get_by_text("Extend Expiration", exact=True).click()
    page.get_by_label("Lot", exact=True).select_option(award["pointBatchId"])
    page.get_by_label("New expiry date", exact=True).fill(new_day)
    page.get_by_label("Reason for the extension", exact=True).fill("Customer was abroad")
    page.get_by_role("button", name="Extend", exact=True).click()

    expect(page.get_by_test_id("extend-outcome")).to_have_text(
        f"The lot now expires on {long_day(page, new_day)}."
    )
    summary = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    assert [item["expiryDate"] for item in summary["expirationSchedule"]] == [new_day]
    newest = history_of(console_stack, customer_id)[0]
    assert (newest["type"], newest["pointBatchId"]) == ("EXPIRY_EXTENDED", award["pointBatchId"])


def test_lots_more_than_two_years_ahead_are_shown_summed_by_quarter(
    page: Page, console_stack: Console
) -> None:
    customer_id = new_customer(console_stack, [700])
    today = business_day(console_stack.clock())
    far = (today + timedelta(days=1500)).isoformat()
    # More lots than an account holds in its own item, so that they are kept in pages.
    days = [(today + timedelta(days=10 * n)).isoformat() for n in range(1, 8)] + [far]
    for day in days:
        body = {"customerId": customer_id, "amount": 50, "reason": "Dated", "expiryDate": day}
        status, answer = call(console_stack, "POST", "/api/crm/points/award", "ADMIN", body)
        assert status == 201, answer
    summary = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    (later,) = summary["laterExpirations"]
    assert (later["amount"], later["lots"], later["firstExpiryDate"]) == (50, 1, far)
    sign_in(page, console_stack, "MANAGER")
    find(page, customer_id)

    schedule = page.get_by_role("table", name="Expiration schedule")
    expect(schedule.locator("tbody tr")).to_have_count(9)
    expect(schedule.locator(f'tbody tr[data-quarter="{later["quarter"]}"]')).to_have_text(
        f"{long_day(page, far)} to {long_day(page, far)} (1 expiry day)50"
    )
    # Only the lots listed one by one can be picked for an extension.
    page.get_by_text("Extend Expiration", exact=True).click()
    expect(page.get_by_label("Lot", exact=True).locator("option")).to_have_count(1 + 8)


def set_expiring_window(console: Console, days: int) -> None:
    """An admin sets expiringWindowDays; the stack's functions read it at once (they cache the
    configuration for a minute otherwise, SPEC §10)."""
    body = {"expiringWindowDays": days}
    status, answer = call(console, "PUT", "/api/crm/points/config", "ADMIN", body)
    assert status == 200, answer
    runtime.cache_clear()


def test_the_expiring_warning_follows_the_expiring_window_setting(
    page: Page, console_stack: Console
) -> None:
    """A support agent, who may not read the configuration, is told the window the summary
    counts: 30 days, then 60 once an admin sets expiringWindowDays to 60."""
    customer_id = f"browser-{uuid.uuid4().hex[:12]}"
    today = business_day(console_stack.clock())
    for amount, days in ((200, 10), (1234, 45)):
        expiry = (today + timedelta(days=days)).isoformat()
        body = {
            "customerId": customer_id,
            "amount": amount,
            "reason": "Dated",
            "expiryDate": expiry,
        }
        status, answer = call(console_stack, "POST", "/api/crm/points/award", "ADMIN", body)
        assert status == 201, answer
    window = api(console_stack, "/api/crm/points/config")["expiringWindowDays"]
    assert window == 30
    sign_in(page, console_stack, "SUPPORT_AGENT")
    find(page, customer_id)
    expiring = page.get_by_test_id("expiring")
    expect(expiring).to_contain_text("expire in the next 30 days")
    assert plain(expiring.inner_text()) == "200 points expire in the next 30 days"

    set_expiring_window(console_stack, 60)
    try:
        page.locator("points-widget").evaluate("widget => widget.refresh()")
        expect(expiring).to_contain_text("expire in the next 60 days")
        assert plain(expiring.inner_text()) == f"{grouped(1434)} points expire in the next 60 days"
        summary = api(console_stack, f"/api/crm/customers/{customer_id}/points")
        assert (summary["expiringWindowDays"], summary["expiringBalance"]) == (60, 1434)
    finally:
        set_expiring_window(console_stack, window)


def test_an_admin_recovers_an_expiry_picked_from_the_history(
    page: Page, console_stack: Console
) -> None:
    recovered = {
        entry.get("relatedTransactionId")
        for entry in api(console_stack, "/api/crm/points/transactions?type=RECOVER&limit=100")[
            "transactions"
        ]
    }
    expiries = [
        entry
        for entry in api(console_stack, "/api/crm/points/transactions?type=EXPIRE&limit=100")[
            "transactions"
        ]
        if entry["customerId"] in console_stack.customer_ids
        and entry["transactionId"] not in recovered
    ]
    assert expiries, "the demo data has points that expired in the last year"
    expiry = expiries[0]
    customer_id = expiry["customerId"]
    before = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    new_day = (console_stack.clock().date() + timedelta(days=120)).isoformat()
    sign_in(page, console_stack, "ADMIN")
    find(page, customer_id)

    page.get_by_text("Recover expired points", exact=True).click()
    choice = page.get_by_label("Expired points", exact=True)
    expect(choice.locator(f'option[value="{expiry["transactionId"]}"]')).to_have_count(1)
    choice.select_option(expiry["transactionId"])
    page.get_by_label("New expiry date for the recovered points", exact=True).fill(new_day)
    page.get_by_label("Reason for the recovery", exact=True).fill("Customer was in hospital")
    page.get_by_role("button", name="Recover", exact=True).click()

    points = -expiry["points"]
    expect(page.get_by_test_id("recover-outcome")).to_have_text(
        f"Recovered {grouped(points)} points."
    )
    after = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    assert after["lifetimeExpired"] == before["lifetimeExpired"] - points
    shows_summary(page, after)
