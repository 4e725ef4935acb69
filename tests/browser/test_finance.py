"""The console's Finance section in a real browser: the roll-forward of the demo data's last
12 months as the API answers it, each month tying; a month's waterfall and cohorts; the
breakage override; a CSV download; closing the next month through its confirmation; and
who is offered what."""

import http.client
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from crm_points.runtime import runtime
from local.token import make_token
from tests.browser.conftest import Console
from tests.browser.test_approvals_alerts_dashboard import CHART_DATA, drain, open_section
from tests.browser.test_console import api, grouped, plain, sign_in

ROLL_FORWARD = "/api/crm/points/finance/roll-forward"
LINES = [
    "opening",
    "earned",
    "awarded",
    "recovered",
    "reversalsIn",
    "redeemed",
    "deducted",
    "expired",
    "reversalsOut",
    "closing",
    "outstanding",
    "debts",
]
SIGNS = {"earned": 1, "awarded": 1, "recovered": 1, "reversalsIn": 1}


def csv_of(console: Console, path: str) -> str:
    """What FINANCE downloads at `path` as CSV."""
    headers = {"Authorization": f"Bearer {make_token('FINANCE', 'fiona')}", "Accept": "text/csv"}
    connection = http.client.HTTPConnection(urlsplit(console.url).netloc, timeout=60)
    try:
        connection.request("GET", path, None, headers)
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        connection.close()


def test_finance_sees_the_roll_forward_tie_and_closes_the_next_month(
    page: Page, console_stack: Console
) -> None:
    drain(console_stack)
    sign_in(page, console_stack, "FINANCE", user="fiona")
    open_section(page, "Finance")
    expect(page.locator("#finance-status")).to_be_hidden()  # loaded, nothing refused
    table = page.get_by_role("table", name="Roll-forward by month")
    expect(table.locator("tbody tr")).to_have_count(12)
    months = table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.month)")
    report = api(console_stack, f"{ROLL_FORWARD}?from={months[0]}&to={months[-1]}")["months"]
    assert [row["month"] for row in report] == months

    # Every line of every month is the API's, and every month ties.
    cells = table.locator("tbody td[data-line]").evaluate_all(
        "cells => cells.map(c => [c.closest('tr').dataset.month, c.dataset.line, c.innerText])"
    )
    shown = {(month, line): plain(text) for month, line, text in cells}
    for row in report:
        figures = {**row["points"], **row["points"]["movements"]}
        for line in LINES:
            assert shown[(row["month"], line)] == grouped(figures[line]), (row["month"], line)
        assert shown[(row["month"], "ties")] == "✓ ties"
    assert any(row["points"]["closing"] > 0 for row in report), "the demo has points"

    # The latest month's waterfall: opening, each movement from the balance before it, closing.
    latest = report[-1]["points"]
    waterfall = page.evaluate(CHART_DATA, "finance-waterfall")
    bars = waterfall["datasets"][0]["data"]
    assert bars[0] == [0, latest["opening"]]
    assert bars[-1] == [0, latest["closing"]]
    running = latest["opening"]
    for bar, line in zip(bars[1:-1], LINES[1:9], strict=True):
        after = running + SIGNS.get(line, -1) * latest["movements"][line]
        assert bar == [running, after], line
        running = after
    assert running == latest["closing"]

    # Its cohorts, as the API has them.
    cohorts = api(console_stack, f"/api/crm/points/finance/cohorts?asOf={months[-1]}")
    rows = page.get_by_role("table", name="Cohorts").locator("tbody tr")
    expect(rows).to_have_count(len(cohorts["cohorts"]))
    outstanding = rows.locator('td[data-line="outstanding"]').all_inner_texts()
    assert [plain(text) for text in outstanding] == [
        grouped(cohort["outstanding"]) for cohort in cohorts["cohorts"]
    ]

    # The override, audited through the API like every setting, then taken off again.
    page.get_by_role("textbox", name="Breakage rate override").fill("15")
    page.get_by_role("button", name="Save the override").click()
    expect(page.locator("#finance-override-status")).to_have_text(
        "The breakage rate is now 15 %; the figures follow within a minute."
    )
    runtime.cache_clear()  # the minute passes: the stack's functions read the settings again
    page.get_by_role("combobox", name="Month").select_option(months[-2])
    page.get_by_role("combobox", name="Month").select_option(months[-1])
    expect(page.locator('[data-figure="Breakage rate in force"]')).to_have_text("15 %")
    breakage = api(console_stack, f"/api/crm/points/finance/cohorts?asOf={months[-1]}")["breakage"]
    assert (breakage["source"], breakage["ratePct"]) == ("OVERRIDE", "15")
    # Not a percentage: said, and nothing sent; the en-ZA decimal comma is one.
    override = page.get_by_role("textbox", name="Breakage rate override")
    override.fill("abc")
    page.get_by_role("button", name="Save the override").click()
    expect(page.locator("#finance-override-status")).to_contain_text("a percentage such as 15")
    assert api(console_stack, "/api/crm/points/config")["breakageRateOverridePct"] == 15
    override.fill("12,5")
    page.get_by_role("button", name="Save the override").click()
    expect(page.locator("#finance-override-status")).to_contain_text("now 12,5 %")
    assert api(console_stack, "/api/crm/points/config")["breakageRateOverridePct"] == 12.5
    page.get_by_role("textbox", name="Breakage rate override").fill("")
    page.get_by_role("button", name="Save the override").click()
    expect(page.locator("#finance-override-status")).to_contain_text("The override is removed")

    # The roll-forward as CSV: the API's own.
    with page.expect_download() as downloaded:
        page.get_by_role("button", name="Download the roll-forward (CSV)").click()
    download = downloaded.value
    assert download.suggested_filename == f"points-roll-forward-{months[0]}-to-{months[-1]}.csv"
    path = download.path()
    assert path.read_bytes().decode() == csv_of(
        console_stack, f"{ROLL_FORWARD}?from={months[0]}&to={months[-1]}"
    )

    # Close the next month: the confirmation names its figures; then the API has it closed.
    month = api(console_stack, "/api/crm/points/finance/periods")["nextToClose"]
    assert month is not None, "the demo data's first month is over"
    close = page.locator("#finance-close")
    expect(close).to_be_visible()
    close.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("A closed month's figures never change")
    closing = api(console_stack, f"{ROLL_FORWARD}?from={month}&to={month}")["months"][0]
    expect(dialog).to_contain_text(
        f"closing balance {grouped(closing['points']['closing'])} points"
    )
    dialog.get_by_role("button", name="Close the month").click()
    expect(page.locator("#finance-outcome")).to_contain_text("is closed.")
    periods = api(console_stack, "/api/crm/points/finance/periods")
    assert [period["month"] for period in periods["closed"]][-1] == month
    assert periods["closed"][-1]["closedBy"] == {"userId": "fiona", "role": "FINANCE"}


def test_a_manager_reads_finance_without_closing_and_an_agent_is_not_offered_it(
    page: Page, console_stack: Console
) -> None:
    sign_in(page, console_stack, "MANAGER", user="morgan")
    open_section(page, "Finance")
    expect(
        page.get_by_role("table", name="Roll-forward by month").locator("tbody tr")
    ).to_have_count(12)
    expect(page.locator("#finance-close")).to_be_hidden()
    expect(page.locator("#finance-override")).to_be_hidden()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, console_stack, "SUPPORT_AGENT", user="sam")
    nav = page.get_by_role("navigation", name="Console sections")
    expect(nav.get_by_role("button", name="Finance")).to_be_hidden()
