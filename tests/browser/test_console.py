"""The console and the points widget in a real browser, against the local stack."""

import http.client
import json
import re
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from local.api_server import verify_token
from local.token import make_token, signing_secret
from tests.browser.conftest import Console, ConsoleWatch

SPACES = re.compile(r"[\s\u00a0\u202f]+")


def plain(text: str) -> str:
    """Text with every kind of space (en-ZA groups digits with no-break spaces) as one space."""
    return SPACES.sub(" ", text).strip()


def grouped(number: int) -> str:
    """An integer as en-ZA writes it: 12 345."""
    return f"{number:,}".replace(",", " ")


def rand(value: float) -> str:
    """A rand amount as Intl.NumberFormat("en-ZA", currency ZAR) writes it: R 1 234,50."""
    cents = Decimal(str(value)).quantize(Decimal("0.01"))
    whole, _, fraction = f"{cents:.2f}".partition(".")
    return f"R {grouped(int(whole))},{fraction}"


def call(
    console: Console,
    method: str,
    path: str,
    role: str,
    body: Any = None,
    user: str = "browser-test",
) -> tuple[int, Any]:
    """The API's status and JSON answer, asked by `user` in `role` (a write gets a new key)."""
    headers = {"Authorization": f"Bearer {make_token(role, user)}"}
    if body is not None:
        headers |= {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    connection = http.client.HTTPConnection(urlsplit(console.url).netloc, timeout=60)
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def api(console: Console, path: str) -> Any:
    """What an ADMIN reads at `path`."""
    status, answer = call(console, "GET", path, "ADMIN")
    assert status == 200, answer
    return answer


def sign_in(page: Page, console: Console, role: str, user: str = "casey") -> None:
    page.goto(console.url + "/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Role").select_option(role)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in")).to_contain_text(f"{user} ({role})")


def find(page: Page, query: str) -> None:
    page.get_by_label("Customer id or e-mail").fill(query)
    page.get_by_label("Customer id or e-mail").press("Enter")  # the keyboard suffices


def shows_summary(page: Page, summary: dict[str, Any]) -> None:
    balance = page.get_by_test_id("balance")
    expect(balance).to_have_attribute("data-value", str(summary["currentBalance"]))
    assert plain(balance.inner_text()) == f"{grouped(summary['currentBalance'])} points"
    worth = plain(page.get_by_test_id("points-value").inner_text())
    assert worth == f"Worth {rand(summary['pointsValue'])}"
    assert plain(page.get_by_test_id("lifetime-earned").inner_text()) == grouped(
        summary["lifetimeEarned"]
    )


def test_a_manager_finds_a_demo_customer_by_id_and_by_email(
    page: Page, console_stack: Console, console: ConsoleWatch
) -> None:
    customer_id = console_stack.customer_ids[0]
    summary = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    sign_in(page, console_stack, "MANAGER")

    find(page, customer_id)
    expect(page.locator("points-widget h2")).to_have_text(f"Points of {customer_id}")
    shows_summary(page, summary)
    schedule = page.get_by_role("table", name="Expiration schedule")
    if summary["expirationSchedule"]:
        expect(schedule.locator("tbody tr")).to_have_count(len(summary["expirationSchedule"]))
    if summary["expiringBalance"] > 0:
        expect(page.get_by_test_id("expiring")).to_contain_text("expire in the next 30 days")

    email = console_stack.emails[customer_id]
    find(page, email.upper())  # e-mail addresses are found whatever their case
    expect(page.locator("#customer-name")).to_contain_text(f"({customer_id}, {email})")
    shows_summary(page, summary)


def test_a_manager_adds_bonus_points_and_sees_the_balance_change(
    page: Page, console_stack: Console
) -> None:
    customer_id = console_stack.customer_ids[1]
    before = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    sign_in(page, console_stack, "MANAGER")
    find(page, customer_id)
    shows_summary(page, before)
    page.get_by_role("button", name="View Transaction History").click()
    expect(page.get_by_test_id("history-status")).to_have_attribute("data-state", "loaded")

    page.get_by_label("Points to add", exact=True).fill("250")
    page.get_by_label("Reason", exact=True).fill("Apology for a late booking")
    page.get_by_role("button", name="Add Bonus Points").click()

    expect(page.get_by_test_id("award-outcome")).to_have_text("Added 250 points.")
    after = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    assert after["currentBalance"] == before["currentBalance"] + 250
    assert after["lifetimeEarned"] == before["lifetimeEarned"] + 250
    shows_summary(page, after)  # the balance and its rand value
    newest = api(console_stack, f"/api/crm/customers/{customer_id}/points/transactions?limit=1")
    award = newest["transactions"][0]
    assert (award["type"], award["points"]) == ("AWARD", 250)
    row = page.get_by_test_id("history").locator("tbody tr").first
    expect(row).to_have_attribute("data-transaction-id", award["transactionId"])
    expect(row.locator("td").nth(1)).to_have_text("AWARD")
    assert plain(row.locator("td").nth(2).inner_text()) == "+250"
    assert plain(row.locator("td").nth(4).inner_text()) == grouped(after["currentBalance"])


def test_a_support_agent_over_the_award_limit_sees_the_apis_refusal(
    page: Page, console_stack: Console, console: ConsoleWatch
) -> None:
    customer_id = console_stack.customer_ids[2]
    before = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    limit = api(console_stack, "/api/crm/points/config")["supportAgentAwardLimit"]
    # Chromium logs every 4xx answer to fetch as a console error: this one is the point.
    console.expect(r"Failed to load resource: .* status of 403")
    sign_in(page, console_stack, "SUPPORT_AGENT")
    find(page, customer_id)
    shows_summary(page, before)

    page.get_by_label("Points to add", exact=True).fill(str(limit))
    page.get_by_label("Reason", exact=True).fill("Goodwill")
    page.get_by_role("button", name="Add Bonus Points").click()

    refused = _award_refusal(console_stack, customer_id, limit)
    assert refused["code"] == "LIMIT_EXCEEDED"
    expect(page.get_by_role("alert")).to_have_text(refused["message"])
    assert api(console_stack, f"/api/crm/customers/{customer_id}/points") == before
    shows_summary(page, before)


def _award_refusal(console: Console, customer_id: str, amount: int) -> Any:
    """The error the API gives a support agent awarding `amount` (it writes nothing)."""
    body = {"customerId": customer_id, "amount": amount, "reason": "Goodwill"}
    status, answer = call(console, "POST", "/api/crm/points/award", "SUPPORT_AGENT", body)
    assert status == 403, answer
    return answer["error"]


def test_the_local_sign_in_refuses_an_unknown_role_and_signs_a_known_one(
    console_stack: Console,
) -> None:
    connection = http.client.HTTPConnection(urlsplit(console_stack.url).netloc, timeout=30)
    try:
        as_json = {"Content-Type": "application/json"}
        connection.request(
            "POST", "/local/token", json.dumps({"userId": "x", "role": "ROOT"}), as_json
        )
        refused = connection.getresponse()
        assert refused.status == 422
        assert json.loads(refused.read())["error"]["code"] == "VALIDATION_ERROR"
        connection.request(
            "POST", "/local/token", json.dumps({"userId": "x", "role": "ADMIN"}), as_json
        )
        signed = connection.getresponse()
        assert signed.status == 200
        token = json.loads(signed.read())["token"]
    finally:
        connection.close()
    assert verify_token(f"Bearer {token}", signing_secret())["cognito:groups"] == ["ADMIN"]


def test_the_widget_embedded_in_another_page_shows_the_customers_points(
    page: Page, console_stack: Console, console: ConsoleWatch
) -> None:
    """console/embed-example.html: a host page with the element and a token function."""
    customer_id = console_stack.customer_ids[2]
    summary = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    page.goto(f"{console_stack.url}/console/embed-example.html?customer={customer_id}")
    expect(page.locator("points-widget h2")).to_have_text(f"Points of {customer_id}")
    shows_summary(page, summary)


# What the console offers each role (SPEC §4): the quick actions of the widget, the sections.
MANAGING = {"Approvals", "Alerts", "Dashboard"}
OFFERED = {
    "SUPPORT_AGENT": ({"award"}, set()),
    "MANAGER": ({"award", "redeem", "deduct", "extend"}, MANAGING),
    "ADMIN": ({"award", "redeem", "deduct", "extend", "recover"}, MANAGING),
    "BOOKING_SYSTEM": (set(), set()),
    "FINANCE": (set(), {"Dashboard"}),
}


@pytest.mark.parametrize("role", sorted(OFFERED))
def test_each_role_signs_in_and_is_offered_only_what_it_may_do(
    page: Page, console_stack: Console, role: str
) -> None:
    actions, sections = OFFERED[role]
    customer_id = console_stack.customer_ids[0]
    sign_in(page, console_stack, role, user=f"{role.lower()}-user")
    find(page, customer_id)
    shows_summary(page, api(console_stack, f"/api/crm/customers/{customer_id}/points"))
    award = page.get_by_role("button", name="Add Bonus Points")
    expect(award).to_have_count(1 if "award" in actions else 0)
    offered = page.locator("points-widget details[data-action]")
    expect(offered).to_have_count(len(actions - {"award"}))
    kinds = {offered.nth(index).get_attribute("data-action") for index in range(offered.count())}
    assert kinds == actions - {"award"}
    expect(page.get_by_role("button", name="View Transaction History")).to_be_visible()
    for section in sorted(MANAGING):
        expect(page.get_by_role("button", name=section)).to_have_count(int(section in sections))


# The element that has the focus, inside the widget's shadow root if it is there, with the
# name a screen reader would announce for it (aria-label, its label, or its text).
_FOCUSED = """() => {
  let element = document.activeElement;
  while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement;
  const labelled = element.getAttribute("aria-labelledby");
  const name =
    element.getAttribute("aria-label") ||
    (labelled && element.getRootNode().getElementById(labelled)?.textContent) ||
    (element.labels && element.labels[0]?.textContent) ||
    element.textContent || "";
  return { tag: element.tagName, name: name.replace(/\\s+/g, " ").trim() };
}"""


def _tab_to(page: Page, name: str, limit: int = 40) -> list[dict[str, str]]:
    """Press Tab until the focus is on the control named `name`; every stop on the way."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED)
        stops.append(focused)
        if focused["name"].startswith(name):
            return stops
    raise AssertionError(f"{name!r} is not reachable with Tab; the stops: {stops}")


def test_the_console_works_from_the_keyboard_alone_and_every_stop_has_a_name(
    page: Page, console_stack: Console
) -> None:
    customer_id = console_stack.customer_ids[1]
    before = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    page.goto(console_stack.url + "/")
    expect(page.get_by_label("User name")).to_be_focused()  # the page starts at sign-in
    page.keyboard.press("Control+A")
    page.keyboard.type("keyboard-user")
    stops = _tab_to(page, "Role")
    page.keyboard.press("Home")  # the first role, Support agent; then down to Manager
    page.keyboard.press("ArrowDown")
    stops += _tab_to(page, "Sign in")
    page.keyboard.press("Enter")
    expect(page.locator("#signed-in")).to_contain_text("keyboard-user (MANAGER)")

    expect(page.get_by_label("Customer id or e-mail")).to_be_focused()
    page.keyboard.type(customer_id)
    page.keyboard.press("Enter")
    shows_summary(page, before)
    stops += _tab_to(page, "Points to add")
    page.keyboard.type("75")
    stops += _tab_to(page, "Reason")
    page.keyboard.type("Kept from the keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("award-outcome")).to_have_text("Added 75 points.")
    after = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    assert after["currentBalance"] == before["currentBalance"] + 75

    stops += _tab_to(page, "Process Manual Redemption")
    page.keyboard.press("Enter")  # a disclosure opens from the keyboard
    expect(page.get_by_label("Points to redeem")).to_be_visible()
    unnamed = [stop for stop in stops if not stop["name"]]
    assert unnamed == [], f"controls without a name: {unnamed}"
