"""The composition root: what a function needs to run, built once per execution
environment (cold start), from the settings (`crm_points.settings`) read then. Nothing
else in the layer reads the environment or makes an AWS client."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from crm_points.config import PointsConfig
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import INDEX_SHARDS, AdminStore, EffectLog, LedgerStore, ScheduleStore
from crm_points.settings import VARIABLES, MissingSetting, Settings

if TYPE_CHECKING:
    from botocore.config import Config

    from crm_points.alert_store import AlertStore
    from crm_points.analytics_store import AnalyticsStore
    from crm_points.balances_export import BalancesExports
    from crm_points.bulk import BulkAwards
    from crm_points.bulk_store import SqsRowQueue
    from crm_points.export_store import ExportFiles
    from crm_points.outbound import Messaging
    from crm_points.stream_reactions import Reactions

# How long a function trusts the configuration it read (SPEC §10: "cached briefly").
CONFIG_TTL_SECONDS = 60.0


@dataclass
class CachedConfig:
    """The stored configuration, read again when older than `ttl` seconds."""

    load: Callable[[], PointsConfig]
    ttl: float = CONFIG_TTL_SECONDS
    clock: Callable[[], float] = time.monotonic
    _value: PointsConfig | None = field(default=None, init=False)
    _read_at: float = field(default=0.0, init=False)

    def __call__(self) -> PointsConfig:
        now = self.clock()
        if self._value is None or now - self._read_at >= self.ttl:
            self._value, self._read_at = self.load(), now
        return self._value


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    service: PointsService

    @property
    def schedules(self) -> ScheduleStore:
        return ScheduleStore(self.service.store.client, self.settings.table_name)

    @property
    def effects(self) -> EffectLog:
        return EffectLog(self.service.store.client, self.settings.table_name)

    @cached_property
    def messaging(self) -> "Messaging":
        """The bus, queue, e-mail and SMS senders; a missing destination fails here, before
        the function's first record."""
        from crm_points.outbound import Destinations, Messaging

        destinations = Destinations(
            event_bus_name=self.settings.required("event_bus_name"),
            notifications_queue_url=self.settings.required("notifications_queue_url"),
            ops_topic_arn=self.settings.required("ops_topic_arn"),
        )
        return Messaging(destinations, aws_client)

    @cached_property
    def alerts(self) -> "AlertStore":
        """The alerts (§7) in the function's table."""
        from crm_points.alert_store import AlertStore

        return AlertStore(self.service.store.client, self.settings.table_name)

    @cached_property
    def analytics(self) -> "AnalyticsStore":
        """The analytics aggregates (§9) in the function's table."""
        from crm_points.analytics_store import AnalyticsStore

        return AnalyticsStore(self.service.store.client, self.settings.table_name)

    @cached_property
    def reactions(self) -> "Reactions":
        """What the change stream's consumer needs, built once per execution environment."""
        from crm_points.stream_reactions import Reactions

        return Reactions(
            analytics=self.analytics,
            alerts=self.alerts,
            admin=self.service.admin,
            effects=self.effects,
            outside=self.messaging,
            config=lambda: self.service.config,
        )

    @cached_property
    def bulk_queue(self) -> "SqsRowQueue":
        """The bulk-award queue of the POST function (BULK_AWARD_QUEUE_URL)."""
        from crm_points.bulk_store import SqsRowQueue

        url = self.settings.required("bulk_award_queue_url")
        if not url.startswith(("https://", "http://")):
            raise MissingSetting(f"{BULK_QUEUE_URL_VARIABLE} must be the bulk-award queue's URL")
        return SqsRowQueue(aws_client("sqs"), url)

    def bulk_awards(self, *, with_queue: bool = False) -> "BulkAwards":
        """Bulk awards over the function's table, and its queue when the function sends
        rows (the POST; the worker and the job read only the table)."""
        from crm_points.bulk import BulkAwards
        from crm_points.bulk_store import BulkStore

        store = BulkStore(self.service.store.client, self.settings.table_name)
        return BulkAwards(self.service, store, self.bulk_queue if with_queue else None)

    def balances_exports(self) -> "BalancesExports":
        """Finance's balances export over the function's table; its queue (EXPORT_QUEUE_URL:
        the POST and the worker) and its bucket (EXPORT_BUCKET: the worker and the GET) are
        built when first used."""
        from crm_points.balances_export import BalancesExports
        from crm_points.export_store import ExportStore

        store = ExportStore(self.service.store.client, self.settings.table_name)
        return BalancesExports(
            self.service.store,
            store,
            queue=lambda: self.export_queue,
            files=lambda: self.export_files,
            analytics=self.analytics,
        )

    @cached_property
    def export_queue(self) -> "SqsRowQueue":
        """The balances export's queue of pages (EXPORT_QUEUE_URL)."""
        from crm_points.bulk_store import SqsRowQueue

        return SqsRowQueue(aws_client("sqs"), self.settings.required("export_queue_url"))

    @cached_property
    def export_files(self) -> "ExportFiles":
        """The balances export's bucket (EXPORT_BUCKET)."""
        from crm_points.export_store import ExportFiles

        return ExportFiles(aws_client("s3"), self.settings.required("export_bucket"))


# The bulk-award POST function's queue.
BULK_QUEUE_URL_VARIABLE = VARIABLES["bulk_award_queue_url"]


def client_config() -> "Config":
    """Every AWS client's settings: botocore's standard retries (4 attempts, under
    transactions' own loops) and short timeouts, so that a slow call fails inside a
    function's timeout and is retried."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
        # The sharded indexes are read one Query per shard at once (store.INDEX_SHARDS).
        max_pool_connections=INDEX_SHARDS,
    )


def aws_client(service: str) -> Any:
    """An AWS client with the layer's one client configuration (`client_config`)."""
    # boto3 is imported here, on first use, to keep the handler's import (cold start) short.
    import boto3

    return boto3.client(service, config=client_config())  # type: ignore[call-overload]


@cache
def runtime() -> Runtime:
    """Settings validated and clients made on first use, then reused for every invocation."""
    settings = Settings.from_environment()
    client = aws_client("dynamodb")
    admin = AdminStore(client, settings.table_name)
    config = CachedConfig(lambda: PointsConfig.model_validate(admin.stored_config()[0]))
    return Runtime(settings, PointsService(LedgerStore(client, settings.table_name), config))
