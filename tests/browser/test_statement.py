"""A demo customer's statement in the console: the API's figures and entries as drawn, and
the print layout (A4, nothing of the console around the document), kept as a screenshot and
a PDF in .artifacts/browser/."""

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from crm_points.validation import business_day
from tests.browser.conftest import ARTIFACTS, Console
from tests.browser.test_console import api, find, sign_in


def test_a_demo_customers_statement_shows_the_apis_figures_and_prints_cleanly(
    page: Page, console_stack: Console
) -> None:
    customer_id = console_stack.customer_ids[0]
    # The demo data spans the two years before the stack's now: its last year, to today.
    today = business_day(console_stack.clock())
    first, last = (today - timedelta(days=365)).isoformat(), today.isoformat()
    statement = api(
        console_stack, f"/api/crm/customers/{customer_id}/points/statement?from={first}&to={last}"
    )
    assert statement["entries"], "the demo customer's year has entries"

    sign_in(page, console_stack, "SUPPORT_AGENT")
    find(page, customer_id)
    page.get_by_role("button", name="Statement").click()
    form = page.get_by_role("form", name="Statement period")
    form.get_by_label("From").fill(first)
    form.get_by_label("To").fill(last)
    form.get_by_role("button", name="Show statement").click()

    document = page.locator("#statement-document")
    expect(document).to_be_visible()
    expect(page.locator("#statement-business")).to_have_text(statement["businessName"])
    rows = page.get_by_role("table", name="Statement entries").locator(
        "tbody tr[data-transaction-id]"
    )
    expect(rows).to_have_count(len(statement["entries"]))
    shown = rows.evaluate_all(
        "rows => rows.map(r => [r.dataset.transactionId,"
        " Number(r.querySelectorAll('td')[3].dataset.value),"
        " Number(r.querySelectorAll('td')[4].dataset.value)])"
    )
    assert shown == [
        [entry["transactionId"], entry["points"], entry["balanceAfter"]]
        for entry in statement["entries"]
    ]
    edges = page.locator("tr[data-edge] td.number")
    assert edges.evaluate_all("cells => cells.map(c => Number(c.dataset.value))") == [
        statement["openingBalance"],
        statement["closingBalance"],
    ]
    figures = page.locator("#statement-totals [data-figure]").evaluate_all(
        "cards => Object.fromEntries(cards.map(c =>"
        " [c.dataset.figure, Number(c.querySelector('strong').dataset.value)]))"
    )
    assert figures == {
        **statement["totals"],
        "openingBalance": statement["openingBalance"],
        "closingBalance": statement["closingBalance"],
    }
    expirations = page.get_by_role("table", name="Points expiring").locator("tbody tr")
    expect(expirations).to_have_count(len(statement["expirationSchedule"]["expirations"]) or 1)

    # Printed: the document alone, headed with the business's name on each page.
    page.emulate_media(media="print")
    for hidden in ["header", "#sections", "#find", "points-widget", "#statement-form"]:
        expect(page.locator(hidden).first).to_be_hidden()
    expect(page.get_by_role("button", name="Print or save as PDF")).to_be_hidden()
    expect(document).to_be_visible()
    heads = page.locator(".statement-running-head")
    expect(heads.first).to_be_visible()
    expect(heads.first).to_have_text(
        f"{statement['businessName']}: points statement of {customer_id}"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "statement-print.png", full_page=True)
    pdf = page.pdf(path=ARTIFACTS / "statement.pdf", prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF")
    # Every page A4 portrait: 210 x 297 mm, 595 x 842 points (as Chromium rounds them).
    boxes = re.findall(rb"/MediaBox \[0 0 ([0-9.]+) ([0-9.]+)\]", pdf)
    assert boxes
    assert all(abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h in boxes)
    page.emulate_media(media="screen")


def test_a_statement_period_the_wrong_way_round_is_said_and_not_asked(
    page: Page, console_stack: Console
) -> None:
    sign_in(page, console_stack, "MANAGER")
    find(page, console_stack.customer_ids[1])
    page.get_by_role("button", name="Statement").click()
    form = page.get_by_role("form", name="Statement period")
    form.get_by_label("From").fill("2026-05-02")
    form.get_by_label("To").fill("2026-05-01")
    form.get_by_role("button", name="Show statement").click()
    expect(page.locator("#statement-status")).to_have_text(
        "The period's last day must be its first or later."
    )
    expect(page.locator("#statement-document")).to_be_hidden()
