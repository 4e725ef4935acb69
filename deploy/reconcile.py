"""`python -m deploy.reconcile --stack crm-points-prod [CUSTOMER_ID ...]`: the reconciliation
of a deployed stack, on demand, with the operator's credentials (the same code as
`make reconcile`, local.reconcile): every account by the bounded sweep (deploy.sweep), or
the customers named, each difference printed as one JSON line; exits 1 on any difference.
`--rebuild-analytics [--dry-run]` heals the analytics of every closed month first.

The daily reconcile-ledger function checks only the accounts written since its last run;
this is the full check, and the one that checks the analytics too (docs/operations.md).
"""

import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from botocore.config import Config

import local.paths  # noqa: F401  (puts crm_points on the path, as the layer does in AWS)
from crm_points.daily_runs import RECONCILE_WORKERS as WORKERS
from crm_points.ledger_store import LedgerStore
from local.reconcile import parser, reconcile_and_print


def main(argv: Sequence[str] | None = None) -> int:
    """Reconcile the stack's table; the exit status says whether anything differs."""
    import boto3

    command = parser(prog="python -m deploy.reconcile")
    command.add_argument("--stack", required=True, help="the deployed stack's name")
    command.add_argument("--region")
    args = command.parse_args(argv)

    def connect() -> tuple[LedgerStore, str]:
        # The accounts are read WORKERS at a time (the sweep's own rate is bounded).
        session = boto3.Session(region_name=args.region)
        table = session.client("cloudformation").describe_stack_resource(
            StackName=args.stack, LogicalResourceId="PointsTable"
        )["StackResourceDetail"]["PhysicalResourceId"]
        dynamodb = session.client("dynamodb", config=Config(max_pool_connections=WORKERS))
        return LedgerStore(dynamodb, table), f"table {table} of {args.stack}"

    return reconcile_and_print(args, connect, lambda: datetime.now(UTC), workers=WORKERS)


if __name__ == "__main__":
    sys.exit(main())
