"""`make run`: the local stack of SPEC §11, on this machine, until Ctrl-C.

The API is served on http://127.0.0.1:3000 (`PORT` overrides) by local/api_server.py, with the
routes and functions of template.yaml, tokens from `make token`, and Swagger UI at /docs.
Everything else the template wires to a function runs too (local/stack.py; docs/local.md):
moto stands in for SQS, SNS, SES, EventBridge and Scheduler, with the template's queues,
topics and buses; `/local/events`, `/local/schedules/{name}`, `/local/drain` and
`/local/outbox` drive and show it; the table's stream and the queues are consumed in the
background, their positions kept in `.local/event-sources/`.

DynamoDB Local persists in `.local/dynamodb/` (on `DYNAMODB_LOCAL_PORT`, or a free port), or
`AWS_ENDPOINT_URL_DYNAMODB` names another DynamoDB to use instead. The table (`TABLE_NAME`,
default `crm-points-local`) is created from template.yaml when missing, and a table created
now gets the demo data. `.local/stack.json` tells `python -m local.cli` where the stack is;
it exists only while the stack runs. `CRM_POINTS_LOCAL_DIR` moves `.local` elsewhere (the
tests use it to run a stack beside a developer's); `CRM_POINTS_DEMO_CUSTOMERS` (default 40)
sets how many demo customers a new table gets.
"""

import contextlib
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import local.paths  # noqa: F401  (puts crm_points on the path)
from crm_points.config import PointsConfig
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import LedgerStore
from local.api_server import ApiServer, api_port, ensure_port_free
from local.aws_services import AwsServices
from local.clock import Clock
from local.demo_data import DEFAULT_CUSTOMERS, customer_id, load_demo_data, showcase
from local.dynamodb_local import (
    ROOT,
    DataInUse,
    DynamoDBLocal,
    client,
    endpoint_from_environment,
    lock_exclusively,
)
from local.event_sources import EventSources
from local.stack import build_stack
from local.template import create_table, load_template, recreate_table, schema_differs

DEFAULT_TABLE = "crm-points-local"
STACK_FILE = "stack.json"
STACK_LOCK = "stack.lock"


def local_dir() -> Path:
    """Where the local stack keeps its state: `CRM_POINTS_LOCAL_DIR`, or `.local`."""
    configured = os.environ.get("CRM_POINTS_LOCAL_DIR")
    return Path(configured).resolve() if configured else ROOT / ".local"


def table_name() -> str:
    return os.environ.get("TABLE_NAME") or DEFAULT_TABLE


def stack_file() -> Path:
    return local_dir() / STACK_FILE


def read_stack() -> dict[str, Any] | None:
    """The running stack's description, or None when there is none (or it is stale)."""
    try:
        stack: dict[str, Any] = json.loads(stack_file().read_text())
    except (OSError, ValueError):
        return None
    return stack if _alive(stack.get("pid")) else None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def shown(path: Path) -> str:
    """A path as the user should see it: relative to the current directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _relative_to_root(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _write_stack(path: Path, stack: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(stack, indent=2) + "\n")
    partial.replace(path)  # atomic: a reader sees the whole file or none


class _Stop(Exception):
    """SIGTERM: stop the way Ctrl-C does."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _port() -> int | None:
    """DynamoDB Local's port: `DYNAMODB_LOCAL_PORT`, or None for a free one."""
    value = os.environ.get("DYNAMODB_LOCAL_PORT", "")
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise RuntimeError(f"DYNAMODB_LOCAL_PORT must be a port number, not {value!r}")
    return int(value)


def _demo_customers() -> int:
    """How many demo customers a new table gets (`CRM_POINTS_DEMO_CUSTOMERS`, default 40)."""
    value = os.environ.get("CRM_POINTS_DEMO_CUSTOMERS", "")
    return int(value) if value.isdigit() else DEFAULT_CUSTOMERS


def _load_demo(dynamodb: Any, table: str, clock: Clock) -> str:
    count = _demo_customers()
    print(f"Loading demo data for {count} customers into the new table…", flush=True)
    service = PointsService(LedgerStore(dynamodb, table), PointsConfig())
    started = time.monotonic()
    try:
        summary = load_demo_data(service, clock(), count)
    except BaseException:
        # A half-loaded table would never be completed: drop it, so the next start begins again.
        with contextlib.suppress(Exception):
            dynamodb.delete_table(TableName=table)
        raise
    return (
        f"demo data loaded now: {len(summary.customer_ids)} customers, "
        f"{summary.total_entries:,} ledger entries in {time.monotonic() - started:.1f} s"
    )


def run() -> int:
    state = local_dir()
    path = state / STACK_FILE
    running = read_stack()
    if running is not None:
        print(
            f"A local stack already runs from {shown(state)} (pid {running['pid']}, "
            f"DynamoDB {running['endpoint']}). Stop it first, or set CRM_POINTS_LOCAL_DIR.",
            file=sys.stderr,
        )
        return 1
    try:
        # stack.json appears only once the stack is up, and a stack killed with SIGKILL
        # leaves it behind: the lock is what keeps two stacks off the same state.
        stack_lock = lock_exclusively(state / STACK_LOCK, f"the local stack's state {shown(state)}")
    except DataInUse as busy:
        print(f"A local stack already runs: {busy}", file=sys.stderr)
        return 1
    try:
        return _run(state, path)
    finally:
        os.close(stack_lock)


def _run(state: Path, path: Path) -> int:
    table = table_name()
    database: DynamoDBLocal | None = None
    api: ApiServer | None = None
    services: AwsServices | None = None
    event_sources: EventSources | None = None
    status = 0
    # Stated, not inherited: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        # Checked first, so that a port in use fails the start before anything else is done.
        port = api_port()
        ensure_port_free("127.0.0.1", port)
        clock = Clock.from_environment()
        endpoint = endpoint_from_environment()
        data_dir: Path | None = None
        if endpoint is None:
            data_dir = state / "dynamodb"
            print("Starting DynamoDB Local…", flush=True)
            database = DynamoDBLocal(port=_port(), data_dir=data_dir)
            database.start()
            endpoint = database.endpoint
        dynamodb = client(endpoint)
        if create_table(dynamodb, table):
            table_state = f"created now from template.yaml; {_load_demo(dynamodb, table, clock)}"
        elif endpoint_from_environment() is None and schema_differs(dynamodb, table):
            # A table kept from an older template.yaml: local data, rebuilt rather than
            # left to fail on an index it lacks.
            recreate_table(dynamodb, table)
            table_state = (
                "rebuilt: its keys or indexes differed from template.yaml; "
                f"{_load_demo(dynamodb, table, clock)}"
            )
        else:
            table_state = "existing table: data kept; demo data is loaded on first start only"
        services = AwsServices().start()
        stack = build_stack(
            load_template(),
            services=services,
            dynamodb_endpoint=endpoint,
            table_name=table,
            state_dir=state / "event-sources",
            clock=clock,
        )
        api = stack.api_server(port).start()
        event_sources = stack.event_sources.start()
        _write_stack(
            path,
            {
                "endpoint": endpoint,
                "tableName": table,
                "apiUrl": api.url,
                "dataDir": _relative_to_root(data_dir) if data_dir else None,
                "pid": os.getpid(),
                "startedAt": datetime.now(UTC).isoformat(),
            },
        )
        where = f"data in {shown(data_dir)}" if data_dir else "AWS_ENDPOINT_URL_DYNAMODB"
        print(
            "\nCRM Points local stack is running.\n"
            f"  DynamoDB        {endpoint}  ({where})\n"
            f"  Table           {table}  ({table_state})\n"
            f"  Stack file      {shown(path)}  (the CLI reads it)\n"
            f"  API             {api.url}/api/crm  ({len(api.routes)} routes from template.yaml)\n"
            f"  Swagger UI      {api.url}/docs\n"
            f"  AWS stand-ins   {services.endpoint}  (moto: SQS, SNS, SES, EventBridge, "
            "Scheduler, S3)\n"
            f"  Event sources   {_event_sources_line(stack)}\n"
            "\nThe local endpoints (docs/local.md; JSON bodies, this machine's pages only):\n"
            f"  POST {api.url}/local/events          "
            '{"entries": [{"Source", "DetailType", "Detail"}]}, to the rules that match\n'
            f"  POST {api.url}/local/schedules/NAME  "
            f'{{"time": "2026-01-31T22:30:00Z"}}  ({_schedules_line(stack)})\n'
            f"  POST {api.url}/local/drain           "
            "answers once the stream, queues and bus are processed\n"
            f"  GET  {api.url}/local/outbox          the e-mails and SMS sent\n"
            "  e.g. a completed booking:\n"
            f"  curl -X POST -H 'Content-Type: application/json' {api.url}/local/events \\\n"
            f"    -d '{_BOOKING_EXAMPLE}'\n"
            "\nCall the API with a local token (make token ROLE=... USER=... prints one):\n"
            '  curl -H "Authorization: Bearer $(make -s token ROLE=MANAGER USER=alice)" '
            f"{api.url}/api/crm/customers/demo-001/points\n"
            "\nSee a demo customer:\n"
            "  make balance CUSTOMER=demo-001\n"
            "  make history CUSTOMER=demo-001\n"
            f"\nDemo customers (demo-001 to {customer_id(_demo_customers())}), among them:\n"
            + "\n".join(f"  {customer}  {what}" for customer, what in showcase(_demo_customers()))
            + "\n\nCtrl-C stops the stack; the data stays for the next `make run`.",
            flush=True,
        )
        while True:
            signal.pause()
    except (KeyboardInterrupt, _Stop):
        print("\nStopping…", flush=True)
    except RuntimeError as failure:  # DynamoDB Local could not start: Java, npm package, port
        print(f"The local stack could not start: {failure}", file=sys.stderr)
        status = 1
    finally:
        # A second Ctrl-C must not leave DynamoDB Local running without us.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _remove_own_stack_file(path)
        if api is not None:
            api.stop()
        if event_sources is not None:
            event_sources.stop()
        if services is not None:
            services.stop()
        if database is not None:
            database.stop()
    if status == 0:
        print("Stopped.", flush=True)
    return status


_BOOKING_EXAMPLE = json.dumps(
    {
        "entries": [
            {
                "Source": "bookings",
                "DetailType": "Booking Completed",
                "Detail": json.dumps(
                    {
                        "bookingId": "B-1",
                        "customerId": "demo-001",
                        "completedAt": "2026-11-20T14:30:00+02:00",
                        "amountCents": 185000,
                        "currency": "ZAR",
                    }
                ),
            }
        ]
    }
)


def _event_sources_line(stack: Any) -> str:
    rules = len(stack.bus.rules)
    return (
        f"{rules} bus rule(s), {len(stack.scheduler.schedules)} schedule(s), "
        f"{len(stack.streams)} stream consumer(s), {len(stack.queues)} queue consumer(s)"
    )


def _schedules_line(stack: Any) -> str:
    return ", ".join(sorted(stack.scheduler.schedules)) or "the template has no schedule yet"


def _remove_own_stack_file(path: Path) -> None:
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
