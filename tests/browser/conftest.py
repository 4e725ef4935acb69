"""The console in Debian's Chromium, driven by Playwright, against the local stack.

The stack is built as `make run` builds it (local.stack.build_stack over template.yaml) on a
table of this session's own, loaded with a few demo customers, and served on a free port.
Chromium is /usr/bin/chromium (`make deps` installs it): Playwright's own browsers are never
downloaded. Every test fails on a console error or an uncaught exception in the page,
unless it declares that error as expected (`console.expect(...)`). Each test leaves a
screenshot in .artifacts/browser/.
"""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

from crm_points.config import PointsConfig
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import LedgerStore
from crm_points.runtime import runtime
from local.aws_services import AwsServices
from local.clock import Clock
from local.demo_data import load_demo_data
from local.dynamodb_local import client
from local.stack import build_stack
from local.template import create_table, load_template
from tests.conftest import BROWSER_ARTIFACTS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = BROWSER_ARTIFACTS
CHROMIUM = Path("/usr/bin/chromium")
DEMO_CUSTOMERS = 3
# This machine's network is closed: every background connection Chromium would make is off.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class Console:
    """The local stack as the browser sees it: its URL and the demo customers."""

    url: str
    customer_ids: tuple[str, ...]
    emails: dict[str, str]
    clock: Clock


@pytest.fixture(scope="session")
def console_stack(
    dynamodb_endpoint: str, aws_services: AwsServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    table = f"crm-points-browser-{uuid.uuid4().hex[:8]}"
    dynamodb = client(dynamodb_endpoint)
    create_table(dynamodb, table)
    service = PointsService(LedgerStore(dynamodb, table), PointsConfig(), sleep=lambda _: None)
    # The stack's and the browser's "now": the machine's, or LOCAL_NOW's (local/clock.py).
    clock = Clock.from_environment()
    demo = load_demo_data(service, clock(), DEMO_CUSTOMERS)
    emails = {}
    for customer_id in demo.customer_ids:
        profile = service.admin.profile(customer_id)
        assert profile is not None, f"demo customer {customer_id} has no profile"
        assert profile.email, f"demo customer {customer_id} has no e-mail"
        emails[customer_id] = profile.email
    runtime.cache_clear()
    stack = build_stack(
        load_template(),
        services=aws_services,
        dynamodb_endpoint=dynamodb_endpoint,
        table_name=table,
        state_dir=tmp_path_factory.mktemp("browser-stack"),
        prefix=f"browser{uuid.uuid4().hex[:6]}-",
        clock=clock,
    )
    server = stack.api_server(0, log_requests=False)
    try:
        with server:
            yield Console(server.url, demo.customer_ids, emails, clock)
    finally:
        runtime.cache_clear()
        dynamodb.delete_table(TableName=table)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Chromium, on a fresh profile: Playwright's launch() gives it a new temporary
    user-data-dir and removes it on close."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make deps` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class ConsoleWatch:
    """Console errors and uncaught exceptions of a page; `expect` lets one pattern through."""

    errors: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect(self, pattern: str) -> None:
        self.expected.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def on_page_error(self, error: Error) -> None:
        self.errors.append(f"uncaught: {error.message}")

    def unexpected(self) -> list[str]:
        return [error for error in self.errors if not any(p.search(error) for p in self.expected)]


@pytest.fixture
def console() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def page(
    browser: Browser,
    console: ConsoleWatch,
    console_stack: Console,
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    context = browser.new_context(locale="en-ZA", timezone_id="Africa/Johannesburg")
    # The browser's clock runs from the stack's now, so "today" is the same day on both.
    context.clock.install(time=console_stack.clock())
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    try:
        yield page
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    finally:
        context.close()
    assert console.unexpected() == [], "the page logged errors"
