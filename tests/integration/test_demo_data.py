"""The local stack's demo data keeps every ledger rule, and `make run` starts and stops cleanly.

The demo ledger is loaded once for the module, one customer of each story, into the session's
table; the last test runs `python -m local.run` itself, with its own state directory and a
free port, so it never meets a developer's running stack.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_points.account_reads import customer_history, customer_points
from crm_points.config import PointsConfig
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import AdminStore, LedgerStore
from crm_points.published import PointTransaction
from crm_points.records import Account, TransactionType
from local.demo_data import HISTORY_DAYS, STORIES, DemoSummary, customer_id, load_demo_data
from local.dynamodb_local import ROOT, client
from tests.integration.conftest import table_of_its_own

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
CUSTOMERS = len(STORIES)  # one of each story


@pytest.fixture(scope="module")
def demo_store(dynamodb_endpoint: str) -> Iterator[LedgerStore]:
    """A table of the demo data's own: a search by e-mail is table-wide, and the samples in
    events/ carry a demo customer's e-mail to other customers of the shared table."""
    with table_of_its_own(dynamodb_endpoint, "demo", stream=False) as name:
        yield LedgerStore(client(dynamodb_endpoint), name)


@pytest.fixture(scope="module")
def demo(demo_store: LedgerStore) -> DemoSummary:
    return load_demo_data(PointsService(demo_store, PointsConfig()), NOW, CUSTOMERS)


def _account(store: LedgerStore, customer: str) -> Account:
    account = store.load_account(customer)
    assert account is not None, customer
    return account


def _full_history(store: LedgerStore, customer: str, limit: int = 3) -> list[PointTransaction]:
    entries: list[PointTransaction] = []
    cursor = None
    while True:
        page = customer_history(store, customer, limit, cursor)
        assert len(page.transactions) <= limit
        entries += page.transactions
        cursor = page.next_cursor
        if cursor is None:
            return entries


def test_the_demo_customers_are_loaded_without_refusals(demo, demo_store):
    assert demo.customer_ids == tuple(customer_id(n) for n in range(1, CUSTOMERS + 1))
    assert demo.skipped == 0
    written = sum(_account(demo_store, c).entry_count for c in demo.customer_ids)
    assert demo.total_entries == written


def test_every_demo_customer_has_a_profile_found_by_email(demo, demo_store):
    admin = AdminStore(demo_store.client, demo_store.table)
    for customer in demo.customer_ids:
        response = demo_store.client.get_item(
            TableName=demo_store.table,
            Key={"PK": {"S": f"CUST#{customer}"}, "SK": {"S": "PROFILE"}},
        )
        email = response["Item"]["email"]["S"]
        assert " " not in email
        found = admin.customers_by_email(email.upper())
        assert [profile.customer_id for profile in found] == [customer]


def test_every_account_keeps_the_ledger_identity(demo, demo_store):
    config = PointsConfig()
    for customer in demo.customer_ids:
        summary = customer_points(demo_store, customer, NOW, config)
        assert summary.current_balance == (
            summary.lifetime_earned - summary.lifetime_redeemed - summary.lifetime_expired
        ), customer
        account = _account(demo_store, customer)
        remaining = sum(lot.remaining_points for lot in account.lots)
        assert remaining == max(summary.current_balance, 0), customer
        # The load ends with an expiry run at NOW: nothing overdue is left active.
        assert all(lot.expires_at > NOW for lot in account.lots), customer


def test_history_pages_through_completely_in_order(demo, demo_store):
    for customer in demo.customer_ids:
        account = _account(demo_store, customer)
        entries = _full_history(demo_store, customer)
        assert [e.sequence for e in entries] == list(range(account.entry_count, 0, -1))
        assert len({e.transaction_id for e in entries}) == len(entries)
        assert entries[0].balance_after == account.current_balance
        balance = 0
        for entry in reversed(entries):  # oldest first: each entry moves the running balance
            balance += entry.points
            assert entry.balance_after == balance, (customer, entry.sequence)
        times = [e.created_at for e in entries]
        assert times == sorted(times, reverse=True)
        assert times[-1] >= NOW - timedelta(days=HISTORY_DAYS + 1)


def test_the_stories_show_expiry_recovery_and_debt(demo, demo_store):
    config = PointsConfig()
    history = {c: _full_history(demo_store, c, limit=100) for c in demo.customer_ids}
    kinds = {entry.type for entries in history.values() for entry in entries}
    assert {
        TransactionType.EARN,
        TransactionType.AWARD,
        TransactionType.REDEEM,
        TransactionType.EXPIRE,
        TransactionType.RECOVER,
        TransactionType.REVERSAL,
    } <= kinds
    # Reinstated by a booking (system) and recovered by hand (ADMIN).
    recoverers = {
        entry.actor.role or entry.actor.user_id
        for entries in history.values()
        for entry in entries
        if entry.type is TransactionType.RECOVER
    }
    assert {"system", "ADMIN"} <= recoverers
    # A refund after the points were spent went below zero (SPEC §2.8).
    assert any(entry.balance_after < 0 for entries in history.values() for entry in entries)
    # Someone's points expire within the next 30 days.
    expiring = [customer_points(demo_store, c, NOW, config) for c in demo.customer_ids]
    assert any(summary.expiring_balance > 0 for summary in expiring)
    # Bonuses carry their staff actor and a reason; redemptions at checkout their booking.
    for entries in history.values():
        for entry in entries:
            if entry.type is TransactionType.AWARD:
                assert entry.actor.role in {"SUPPORT_AGENT", "MANAGER", "ADMIN"}
                assert len(entry.reason) >= 3
            if entry.type is TransactionType.REDEEM:
                assert entry.booking_id is not None


# -- `make run` end to end -----------------------------------------------------------------

START_TIMEOUT = 180  # Java start and the demo load, on a busy machine
STOP_TIMEOUT = 30


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"AWS_ENDPOINT_URL_DYNAMODB", "DYNAMODB_LOCAL_PORT", "TABLE_NAME"}
    }
    env["CRM_POINTS_LOCAL_DIR"] = str(tmp_path / "state")
    env["CRM_POINTS_DEMO_CUSTOMERS"] = "3"
    return env


class Stack:
    """`python -m local.run` as a child process, stopped on exit whatever happens."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.stack_file = Path(env["CRM_POINTS_LOCAL_DIR"]) / "stack.json"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_until_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.stack_file.exists():
                stack: dict[str, Any] = json.loads(self.stack_file.read_text())
                return stack
            if self.process.poll() is not None:
                pytest.fail(f"local.run exited early:\n{self.output()}")
            time.sleep(0.2)
        pytest.fail(f"local.run did not get ready in {START_TIMEOUT}s")

    def stop(self, signum: int) -> str:
        """Send `signum`; the stack must stop cleanly, and say so."""
        self.process.send_signal(signum)
        output = self.output()
        assert self.process.returncode == 0, output
        assert "Stopped." in output
        assert not self.stack_file.exists()
        return output

    def output(self) -> str:
        stdout, _ = self.process.communicate(timeout=STOP_TIMEOUT)
        return stdout

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "local.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def kill(self) -> None:
        """After a failure: SIGTERM lets it stop DynamoDB Local too; kill only as a last resort."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def stacks(stack_env: dict[str, str]) -> Iterator[list[Stack]]:
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.kill()


def test_local_run_loads_once_serves_the_cli_and_stops_cleanly(stack_env, stacks):
    first = Stack(stack_env)
    stacks.append(first)
    ready = first.wait_until_ready()
    assert ready["tableName"] == "crm-points-local"
    assert ready["pid"] == first.process.pid

    balance = first.cli("balance", "demo-001")
    assert balance.returncode == 0, balance.stderr
    assert "Balance" in balance.stdout
    assert "Recent transactions" in balance.stdout
    summary = json.loads(first.cli("balance", "demo-001", "--json").stdout)
    assert summary["customerId"] == "demo-001"
    assert summary["currentBalance"] == (
        summary["lifetimeEarned"] - summary["lifetimeRedeemed"] - summary["lifetimeExpired"]
    )
    history = first.cli("history", "demo-001", "--limit", "2")
    assert history.returncode == 0, history.stderr
    assert "--cursor" in history.stdout
    unknown = first.cli("balance", "nobody-here")
    assert unknown.returncode == 1
    assert "NOT_FOUND" in unknown.stderr

    output = first.stop(signal.SIGINT)
    assert "Loading demo data for 3 customers" in output
    stopped = first.cli("balance", "demo-001")
    assert stopped.returncode == 1
    assert "not running" in stopped.stderr

    second = Stack(stack_env)
    stacks.append(second)
    second.wait_until_ready()
    again = json.loads(second.cli("balance", "demo-001", "--json").stdout)
    assert again["lifetimeEarned"] == summary["lifetimeEarned"]
    assert again["currentBalance"] == summary["currentBalance"]
    assert again["recentTransactions"] == summary["recentTransactions"]
    output = second.stop(signal.SIGTERM)
    assert "Loading demo data" not in output
    assert "existing table" in output
