"""A customer's points on the local stack, from the terminal.

    python -m local.cli balance CUSTOMER_ID [--json]
    python -m local.cli history CUSTOMER_ID [--limit N] [--cursor C] [--json]

(`make balance CUSTOMER=demo-001`, `make history CUSTOMER=demo-001`.) The stack is found
through `.local/stack.json`, written by `make run` while it runs, or through
`AWS_ENDPOINT_URL_DYNAMODB` (with `TABLE_NAME`). The figures come from the same read functions
the API's handlers use; `--json` prints the API's response body.
"""

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

import local.paths  # noqa: F401  (puts crm_points on the path)
from crm_points.account_reads import customer_history, customer_points
from crm_points.api_models import (
    CustomerPointsResponse,
    TransactionHistoryResponse,
)
from crm_points.config import PointsConfig
from crm_points.errors import PointsError
from crm_points.ledger_store import LedgerStore
from crm_points.published import PointTransaction
from crm_points.validation import ID_PATTERN, business_time, shown_plainly
from local.clock import Clock
from local.dynamodb_local import client, endpoint_from_environment
from local.run import DEFAULT_TABLE, read_stack, shown, stack_file

DESCRIPTION_WIDTH = 52


class CliError(Exception):
    """A problem to tell the user in one message, then exit 1."""


def connect() -> tuple[LedgerStore, str]:
    """The store of the running local stack (or of AWS_ENDPOINT_URL_DYNAMODB), and where it is."""
    endpoint = endpoint_from_environment()
    stack = None
    if endpoint is None:
        stack = read_stack()
        if stack is None:
            raise CliError(
                f"The local stack is not running (no live {shown(stack_file())}). Start it "
                "with `make run` in another terminal, or set AWS_ENDPOINT_URL_DYNAMODB "
                "(and TABLE_NAME)."
            )
        endpoint = str(stack["endpoint"])
    table = os.environ.get("TABLE_NAME") or (stack or {}).get("tableName") or DEFAULT_TABLE
    return LedgerStore(client(endpoint), str(table)), f"table {table} at {endpoint}"


# -- formatting -------------------------------------------------------------------------------


def rand(value: Decimal) -> str:
    return f"-R{-value:,.2f}" if value < 0 else f"R{value:,.2f}"


def local_time(moment: datetime) -> str:
    return business_time(moment).strftime("%Y-%m-%d %H:%M")


def _shorten(text: str, width: int) -> str:
    text = shown_plainly(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def transactions_table(entries: Sequence[PointTransaction]) -> list[str]:
    """Date / Type / Points / Description / Balance, one line per entry, as given."""
    header = ("Date", "Type", "Points", "Description", "Balance")
    rows = [
        (
            local_time(entry.created_at),
            entry.type.value,
            f"{entry.points:+,}" if entry.points else "0",
            _shorten(entry.description, DESCRIPTION_WIDTH),
            f"{entry.balance_after:,}",
        )
        for entry in entries
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        date, kind, points, description, balance = row
        lines.append(
            f"  {date:<{widths[0]}}  {kind:<{widths[1]}}  {points:>{widths[2]}}  "
            f"{description:<{widths[3]}}  {balance:>{widths[4]}}".rstrip()
        )
    return lines


def balance_text(summary: CustomerPointsResponse, config: PointsConfig) -> str:
    figures = [
        ("Balance", summary.current_balance, f"({rand(summary.points_value)})"),
        (
            "Expiring soon",
            summary.expiring_balance,
            f"(within {config.expiring_window_days} days)",
        ),
        ("Lifetime earned", summary.lifetime_earned, ""),
        ("Lifetime redeemed", summary.lifetime_redeemed, ""),
        ("Lifetime expired", summary.lifetime_expired, ""),
    ]
    width = max(len(f"{amount:,}") for _, amount, _ in figures)
    lines = [f"Customer {summary.customer_id}", ""]
    lines += [
        f"  {label:<18} {amount:>{width},} points  {note}".rstrip()
        for label, amount, note in figures
    ]
    lines += ["", "Expiration schedule (Africa/Johannesburg)"]
    if summary.expiration_schedule:
        width = max(len(f"{item.amount:,}") for item in summary.expiration_schedule)
        lines += [
            f"  {item.expiry_date.isoformat()}  {item.amount:>{width},} points"
            for item in summary.expiration_schedule
        ]
    else:
        lines.append("  (no active points)")
    count = len(summary.recent_transactions)
    lines += ["", f"Recent transactions, newest first ({count}, times in Africa/Johannesburg)"]
    lines += transactions_table(summary.recent_transactions) if count else ["  (none)"]
    return "\n".join(lines)


def history_text(page: TransactionHistoryResponse, limit: int) -> str:
    count = len(page.transactions)
    lines = [
        f"Customer {page.customer_id}: {count} transactions, newest first "
        "(times in Africa/Johannesburg)",
        "",
    ]
    lines += transactions_table(page.transactions) if count else ["  (none)"]
    lines.append("")
    if page.next_cursor:
        lines.append(
            "Older transactions: python -m local.cli history "
            f"{page.customer_id} --limit {limit} --cursor {page.next_cursor}"
        )
    else:
        lines.append("(end of history)")
    return "\n".join(lines)


def as_json(model: BaseModel) -> str:
    return json.dumps(model.model_dump(mode="json", by_alias=True), indent=2)


# -- commands ---------------------------------------------------------------------------------


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 100")
    return value


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m local.cli", description="A customer's points on the local stack."
    )
    commands = main.add_subparsers(dest="command", required=True)
    balance = commands.add_parser("balance", help="the account summary (GET …/points)")
    balance.add_argument("customer_id", nargs="?", metavar="CUSTOMER_ID")
    balance.add_argument("--json", action="store_true", help="print the API's JSON")
    history = commands.add_parser(
        "history", help="the history, newest first (GET …/points/transactions)"
    )
    history.add_argument("customer_id", nargs="?", metavar="CUSTOMER_ID")
    history.add_argument("--limit", type=_limit, default=20, help="1 to 100 (default 20)")
    history.add_argument("--cursor", help="the next page's cursor, as printed")
    history.add_argument("--json", action="store_true", help="print the API's JSON")
    return main


def run(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    customer = args.customer_id
    if not customer:
        print(
            f"Name a customer: make {args.command} CUSTOMER=demo-001 "
            f"(or python -m local.cli {args.command} demo-001)",
            file=sys.stderr,
        )
        return 2
    if not re.fullmatch(ID_PATTERN, customer):
        print(f"{customer!r} is not a customer id ({ID_PATTERN})", file=sys.stderr)
        return 2
    config = PointsConfig()
    try:
        store, where = connect()
        try:
            if args.command == "balance":
                summary = customer_points(store, customer, Clock.from_environment()(), config)
                print(as_json(summary) if args.json else balance_text(summary, config))
            else:
                page = customer_history(store, customer, args.limit, args.cursor)
                print(as_json(page) if args.json else history_text(page, args.limit))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise CliError(f"There is no {where}: is this the right stack?") from error
            raise CliError(f"DynamoDB refused the read ({where}): {error}") from error
        except BotoCoreError as error:
            raise CliError(f"Cannot read {where}: {error}") from error
    except PointsError as error:
        print(f"{error.code}: {error.message}", file=sys.stderr)
        return 1
    except CliError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def main() -> None:
    try:
        status = run()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`… | head`): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    sys.exit(status)


if __name__ == "__main__":
    main()
