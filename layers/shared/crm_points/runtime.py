"""What a function needs to run, built once per execution environment (cold start)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from crm_points.config import PointsConfig, Settings
from crm_points.service import PointsService
from crm_points.store import LedgerStore


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    config: PointsConfig
    store: LedgerStore
    service: PointsService


@cache
def runtime() -> Runtime:
    """Settings validated and clients made on first use, then reused for every invocation."""
    # boto3 is imported here, on first use, to keep the handler's import (cold start) short.
    import boto3
    from botocore.config import Config

    settings = Settings.from_environment()
    client_config = Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
    )
    client = boto3.client("dynamodb", config=client_config)
    store = LedgerStore(client, settings.table_name)
    config = PointsConfig()
    return Runtime(settings, config, store, PointsService(store, config))


def utc_now() -> datetime:
    return datetime.now(UTC)
