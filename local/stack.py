"""The local stack's parts, wired from a template (SPEC §11): the resources in the AWS
stand-ins, the functions with their local environment, one runner for them all, the bus, the
schedules, the stream and queue consumers, the outbox, and the `/local/*` endpoints.

`make run` builds it from template.yaml (local/run.py); the tests build it from templates of
their own, so everything here takes the template as data.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import local.paths  # noqa: F401  (puts crm_points on the path)
from local.api_server import ApiServer, local_environment
from local.aws_services import AwsServices
from local.bus import BusDispatcher, discover_rules
from local.clock import Clock
from local.control import LocalEndpoints
from local.dynamodb_local import ROOT, client, streams_client
from local.event_sources import DEFAULT_POLL_INTERVAL_S, EventSources
from local.functions import Function, FunctionHost, discover_functions, every_variable
from local.outbox import Outbox
from local.queues import QueueConsumer, discover_queue_mappings
from local.resources import LocalResources
from local.schedules import Scheduler, discover_schedules
from local.streams import StreamConsumer, discover_stream_mappings


@dataclass
class LocalStack:
    """Everything but the HTTP server; `api_server()` makes one that serves it all."""

    resources: LocalResources
    functions: dict[str, Function]
    runner: FunctionHost
    bus: BusDispatcher
    scheduler: Scheduler
    streams: list[StreamConsumer]
    queues: list[QueueConsumer]
    event_sources: EventSources
    outbox: Outbox
    endpoints: LocalEndpoints
    senders: list[str]
    clock: Clock

    def api_server(self, port: int, **options: Any) -> ApiServer:
        """The HTTP API of the template's routes and `/local/*`, on the same runner."""
        return ApiServer(
            port,
            template=self.resources.template,
            functions=self.functions,
            runner=self.runner,
            local_endpoints=self.endpoints,
            clock=self.clock,
            **options,
        )


def _stream_arn(dynamodb: Any, table_name: str) -> str:
    try:
        table = dynamodb.describe_table(TableName=table_name)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        return ""
    return str(table.get("LatestStreamArn", ""))


def _stored_sender(dynamodb: Any, table_name: str) -> str:
    """The sender an admin has set in the stored configuration, if any."""
    from crm_points.ledger_store import AdminStore

    try:
        settings, _ = AdminStore(dynamodb, table_name).stored_config()
    except dynamodb.exceptions.ResourceNotFoundException:
        return ""
    return str(settings.get("senderEmail") or settings.get("sender_email") or "")


def build_stack(
    template: dict[str, Any],
    *,
    services: AwsServices,
    dynamodb_endpoint: str,
    table_name: str,
    state_dir: Path,
    root: Path = ROOT,
    prefix: str = "",
    poll_interval: float = DEFAULT_POLL_INTERVAL_S,
    clock: Clock | None = None,
) -> LocalStack:
    """Make the template's resources in `services` and wire the stack to the table
    `table_name` at `dynamodb_endpoint`. `state_dir` keeps the stream positions; `prefix`
    goes before the names of the resources the template leaves unnamed, and of the stack's
    own (tests sharing one moto keep theirs apart). `clock` is the stack's now (local/clock.py;
    by default from `LOCAL_NOW`, else the machine's)."""
    from crm_points.config import PointsConfig

    clock = clock or Clock.from_environment()
    dynamodb = client(dynamodb_endpoint)
    resources = LocalResources(
        template,
        table_name=table_name,
        stream_arn=_stream_arn(dynamodb, table_name),
        prefix=prefix,
    ).create(services)
    functions = discover_functions(template, root, resources)
    runner = FunctionHost(
        {
            **every_variable(functions.values()),
            **local_environment(dynamodb_endpoint, table_name),
            **services.environment(),
        }
    )
    outbox = Outbox()
    runner.after_invocation.append(outbox.collect)
    bus = BusDispatcher(discover_rules(functions, resources), runner, resources, services, prefix)
    bus.install_tap()
    stream_reader = streams_client(dynamodb_endpoint)
    streams = [
        StreamConsumer(
            mapping, runner, dynamodb, stream_reader, table_name, state_dir, resources, services
        )
        for mapping in discover_stream_mappings(functions, resources)
    ]
    queues = [
        QueueConsumer(mapping, runner, resources, services.client("sqs"))
        for mapping in discover_queue_mappings(functions, resources)
    ]
    event_sources = EventSources(bus, streams, queues, poll_interval)
    scheduler = Scheduler(discover_schedules(functions, resources), runner)
    senders = services.accept_senders(
        [PointsConfig().sender_email, _stored_sender(dynamodb, table_name)]
    )
    return LocalStack(
        resources=resources,
        functions=functions,
        runner=runner,
        bus=bus,
        scheduler=scheduler,
        streams=streams,
        queues=queues,
        event_sources=event_sources,
        outbox=outbox,
        endpoints=LocalEndpoints(bus, scheduler, event_sources, outbox, clock),
        senders=senders,
        clock=clock,
    )
