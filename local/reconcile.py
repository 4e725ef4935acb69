"""`make reconcile`: prove the local stack's ledger has not drifted.

Every account (or those named) is recomputed from its entries (crm_points.reconciliation);
each difference is printed as one JSON line (customer, field, stored, recomputed), then a
summary. Exits 1 when there is any difference, 0 when there is none. Reads only.
"""

import argparse
import json
import re
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

import local.paths  # noqa: F401  (puts crm_points on the path)
from crm_points.reconciliation import every_account, reconcile
from crm_points.validation import ID_PATTERN
from local.cli import CliError, connect


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="python -m local.reconcile",
        description="Recompute every account from its ledger entries and report differences.",
    )
    command.add_argument(
        "customers", nargs="*", metavar="CUSTOMER_ID", help="only these (default: every account)"
    )
    return command


def run(argv: Sequence[str] | None = None) -> int:
    """Reconcile and print; the exit status says whether anything differs."""
    args = parser().parse_args(argv)
    bad = [name for name in args.customers if not re.fullmatch(ID_PATTERN, name)]
    if bad:
        print(f"{bad[0]!r} is not a customer id ({ID_PATTERN})", file=sys.stderr)
        return 2
    try:
        store, where = connect()
        report = reconcile(store, args.customers or every_account(store))
    except CliError as error:
        print(error, file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"Cannot read the ledger: {error}", file=sys.stderr)
        return 2
    for difference in report.differences:
        print(json.dumps(difference.as_json(), default=str))
    count = len(report.differences)
    print(
        f"{_counted(report.accounts, 'account')} checked in {where}: "
        f"{_counted(count, 'difference')}",
        file=sys.stderr,
    )
    return 1 if count else 0


def _counted(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


if __name__ == "__main__":
    sys.exit(run())
