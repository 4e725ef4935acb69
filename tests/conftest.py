"""Shared fixtures: DynamoDB Local for the session, a table from template.yaml, a clock."""

import itertools
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crm_points.config import PointsConfig
from crm_points.ledger_service import PointsService, Request
from crm_points.ledger_store import LedgerStore
from crm_points.records import Actor
from local.aws_services import AwsServices
from local.dynamodb_local import client
from local.dynamodb_local import dynamodb_endpoint as running_dynamodb
from local.template import create_table

START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
# What the browser tests keep (screenshots, the statement's PDF; tests/browser/conftest.py).
BROWSER_ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts" / "browser"


def pytest_configure(config: pytest.Config) -> None:
    """Start the session with no artifacts of an earlier one: once, in the process that runs
    the session (pytest-xdist's workers, which have `workerinput`, write beside each other)."""
    if not hasattr(config, "workerinput"):
        shutil.rmtree(BROWSER_ARTIFACTS, ignore_errors=True)


MANAGER = Actor(user_id="manager-1", role="MANAGER")


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """DynamoDB Local in memory for the test session (or AWS_ENDPOINT_URL_DYNAMODB)."""
    with running_dynamodb() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def aws_services() -> Iterator[AwsServices]:
    """moto's server standing in for SES, SNS, SQS, EventBridge and Scheduler (not DynamoDB)."""
    with AwsServices() as services:
        yield services


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, aws_services: AwsServices) -> AwsServices:
    """Point the functions' SES, SNS, SQS, EventBridge and Scheduler clients at moto."""
    for name, value in aws_services.environment().items():
        monkeypatch.setenv(name, value)
    return aws_services


@pytest.fixture(scope="session")
def table_name(dynamodb_endpoint: str) -> str:
    """The table most tests share. Without a change stream: the tests of what the stream
    causes make tables of their own, with one."""
    name = f"crm-points-test-{uuid.uuid4().hex[:8]}"
    create_table(client(dynamodb_endpoint), name, stream=False)
    return name


def forbid_scans(dynamodb: Any) -> None:
    """Make any Scan through this client fail the test (SPEC §12: no Scan at run time)."""

    def refuse(**_: Any) -> None:
        raise AssertionError("Scan is not allowed in any runtime path")

    dynamodb.meta.events.register("before-call.dynamodb.Scan", refuse)


@pytest.fixture
def dynamodb(dynamodb_endpoint: str) -> Any:
    """A fresh client per test, so request counting hooks never leak between tests."""
    fresh = client(dynamodb_endpoint)
    forbid_scans(fresh)
    return fresh


class RequestCounter:
    """Counts DynamoDB API calls made through one client, by operation (botocore hooks)."""

    def __init__(self, dynamodb: Any) -> None:
        self.calls: Counter[str] = Counter()
        dynamodb.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def reset(self) -> None:
        self.calls.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
def requests(dynamodb: Any) -> RequestCounter:
    return RequestCounter(dynamodb)


@pytest.fixture
def store(dynamodb: Any, table_name: str) -> LedgerStore:
    return LedgerStore(dynamodb, table_name)


@pytest.fixture
def config() -> PointsConfig:
    return PointsConfig()


@pytest.fixture
def service(store: LedgerStore, config: PointsConfig) -> PointsService:
    return PointsService(store, config, sleep=lambda _: None)


@pytest.fixture
def customer_id() -> str:
    return f"cust-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def lambda_env(
    monkeypatch: pytest.MonkeyPatch, dynamodb_endpoint: str, table_name: str
) -> Iterator[RequestCounter]:
    """The environment template.yaml gives the functions, pointed at DynamoDB Local; yields
    a counter of the functions' DynamoDB requests (configuration already cached)."""
    from crm_points.runtime import runtime
    from local.dynamodb_local import LOCAL_ACCESS_KEY, REGION

    monkeypatch.setenv("TABLE_NAME", table_name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_ACCESS_KEY)
    runtime.cache_clear()
    client = runtime().service.store.client
    forbid_scans(client)
    counter = RequestCounter(client)
    # The configuration is read at most once a minute per function, not per request (§10).
    assert runtime().service.config is not None
    counter.reset()
    yield counter
    # A test that changed the configuration must not change it for the tests after it.
    client.delete_item(TableName=table_name, Key={"PK": {"S": "CONFIG"}, "SK": {"S": "CURRENT"}})
    runtime.cache_clear()


_keys = itertools.count()


def request(now: datetime = START, actor: Actor = MANAGER, key: str | None = None) -> Request:
    """A request with a fresh idempotency key unless one is given."""
    return Request(
        actor=actor,
        request_id=f"req-{next(_keys)}",
        now=now,
        idempotency_key=key or f"key-{uuid.uuid4().hex}",
    )
