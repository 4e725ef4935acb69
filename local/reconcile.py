"""`make reconcile`: prove the local stack's ledger has not drifted.

Every account (or those named) is recomputed from its entries (crm_points.reconciliation),
and, when every account is checked, the analytics aggregates against all the entries; each
difference is printed as one JSON line (customer, field, stored, recomputed), then a
summary. Exits 1 when there is any difference, 0 when there is none. Reads only, except
`--rebuild-analytics` (`make rebuild-analytics`), which first heals the analytics of every
closed month from the ledger (crm_points.reconciliation.rebuild_analytics) and gives the
accounts written before the account index their keys there.
"""

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

import local.paths  # noqa: F401  (puts crm_points on the path)
from crm_points.analytics_store import AnalyticsStore
from crm_points.ledger_store import LedgerStore
from crm_points.reconciliation import rebuild_analytics, reconcile
from crm_points.validation import ID_PATTERN
from deploy.sweep import every_account
from local.cli import CliError, connect
from local.clock import Clock


def parser(prog: str = "python -m local.reconcile") -> argparse.ArgumentParser:
    """The command's arguments (deploy.reconcile adds the stack's)."""
    command = argparse.ArgumentParser(
        prog=prog,
        description="Recompute every account from its ledger entries and report differences.",
    )
    command.add_argument(
        "customers", nargs="*", metavar="CUSTOMER_ID", help="only these (default: every account)"
    )
    command.add_argument(
        "--rebuild-analytics",
        action="store_true",
        help="heal the analytics of every closed month from the ledger, then reconcile",
    )
    command.add_argument(
        "--dry-run", action="store_true", help="with --rebuild-analytics: show, do not write"
    )
    return command


def run(argv: Sequence[str] | None = None) -> int:
    """Reconcile the local stack's ledger and print; the exit status says whether anything
    differs."""
    return reconcile_and_print(parser().parse_args(argv), connect, Clock.from_environment())


def reconcile_and_print(
    args: argparse.Namespace,
    connect: Callable[[], tuple[LedgerStore, str]],
    clock: Callable[[], datetime],
    workers: int = 1,
) -> int:
    """Reconcile the ledger `connect` reaches, `workers` accounts at once (and rebuild its
    analytics when asked, as of `clock`), and print each difference; 1 when anything
    differs, 2 when it cannot read."""
    bad = [name for name in args.customers if not re.fullmatch(ID_PATTERN, name)]
    if bad:
        print(f"{bad[0]!r} is not a customer id ({ID_PATTERN})", file=sys.stderr)
        return 2
    try:
        store, where = connect()
        if args.rebuild_analytics:
            _rebuild(store, args.dry_run, clock())
            if args.dry_run:
                return 0
        if args.customers:
            report = reconcile(store, args.customers, workers=workers)
        else:  # every account: the analytics can be checked against all the entries too
            analytics = AnalyticsStore(store.client, store.table)
            report = reconcile(store, every_account(store), analytics, workers=workers)
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


def _rebuild(store: LedgerStore, dry_run: bool, now: datetime) -> None:
    """Print each month's correction (applied, already applied, or only shown)."""
    analytics = AnalyticsStore(store.client, store.table)
    corrections = rebuild_analytics(store, analytics, every_account(store), now, dry_run=dry_run)
    for correction in corrections:
        changed: dict[str, object] = {
            name: value for name, value in asdict(correction.delta).items() if value
        }
        if correction.cohorts:
            changed["cohorts"] = correction.cohorts
        state = "would add" if dry_run else "added" if correction.applied else "already added"
        print(json.dumps({"month": correction.month, state: changed}))
    print(f"analytics: {_counted(len(corrections), 'closed month')} to correct", file=sys.stderr)
    if dry_run:
        return
    # Accounts last written before AccountIndex existed get their keys there (an upgrade
    # step: every account written since has them).
    # And ledgers written before posted days were kept, the markers of their days.
    indexed = marked = 0
    for customer in every_account(store):
        indexed += store.index_account(customer)
        marked += store.mark_posted_days(customer)
    print(f"account index: {_counted(indexed, 'account')} added", file=sys.stderr)
    print(f"posted days: {_counted(marked, 'day')} marked", file=sys.stderr)


def _counted(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


if __name__ == "__main__":
    sys.exit(run())
