"""The template's EventBridge Scheduler schedules, run on demand (SPEC §11).

Every `ScheduleV2` event of every function is a schedule, known by its `Name` (SAM's
generated name, function id + event id, when it has none). Locally nothing fires by the
clock: `POST /local/schedules/{name}` runs the schedule's function as of a given time, with
the event Scheduler would send, its `Input` after the context attributes are replaced:
`<aws.scheduler.scheduled-time>`, `<aws.scheduler.execution-id>`,
`<aws.scheduler.schedule-arn>`, `<aws.scheduler.attempt-number>`. A schedule without Input
sends `{}`, as Scheduler's Lambda target does (local/lambda_events.py makes it).
"""

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from local.functions import Function, FunctionHost, Invocation
from local.lambda_events import event_time, schedule_arn, scheduler_input
from local.resources import LocalResources, Unresolved

DEFAULT_GROUP = "default"


@dataclass(frozen=True)
class Schedule:
    """One `ScheduleV2` event."""

    name: str
    function: Function
    group: str
    input: str | None
    expression: str
    timezone: str
    region: str

    @property
    def arn(self) -> str:
        return schedule_arn(self.region, self.group, self.name)

    def event(self, scheduled_time: datetime, execution_id: str, attempt: int = 1) -> Any:
        """The target's input for a run at `scheduled_time` (aware)."""
        return scheduler_input(self.input, scheduled_time, execution_id, self.arn, attempt)


def _text(resources: LocalResources, value: Any, default: str) -> str:
    if value is None:
        return default
    try:
        return str(resources.resolve(value))
    except Unresolved:
        return default


def discover_schedules(
    functions: Mapping[str, Function], resources: LocalResources
) -> dict[str, Schedule]:
    """Every function's `ScheduleV2` events, by schedule name."""
    schedules: dict[str, Schedule] = {}
    for function in functions.values():
        for event in function.events_of("ScheduleV2"):
            properties = event.properties
            name = _text(resources, properties.get("Name"), f"{function.name}{event.name}")
            raw_input = properties.get("Input")
            if raw_input is not None and not isinstance(raw_input, str):
                raw_input = json.dumps(resources.resolve(raw_input))
            if name in schedules:
                raise ValueError(f"template.yaml: two schedules are named {name!r}")
            schedules[name] = Schedule(
                name=name,
                function=function,
                group=_text(resources, properties.get("GroupName"), DEFAULT_GROUP),
                input=raw_input,
                expression=str(properties.get("ScheduleExpression", "")),
                timezone=_text(resources, properties.get("ScheduleExpressionTimezone"), "UTC"),
                region=resources.region,
            )
    return schedules


@dataclass
class ScheduledRun:
    """A schedule's run: the time it ran as of, its execution id and the invocation."""

    schedule: Schedule
    scheduled_time: str
    execution_id: str
    invocation: Invocation

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "schedule": self.schedule.name,
            "function": self.schedule.function.name,
            "scheduledTime": self.scheduled_time,
            "executionId": self.execution_id,
            "succeeded": self.invocation.succeeded,
        }
        if self.invocation.succeeded:
            summary["result"] = self.invocation.result
        else:
            summary["error"] = self.invocation.error()
        return summary


class Scheduler:
    """Runs a schedule's function as of a time."""

    def __init__(self, schedules: Mapping[str, Schedule], runner: FunctionHost) -> None:
        self.schedules = dict(schedules)
        self.runner = runner

    def run(self, name: str, scheduled_time: datetime) -> ScheduledRun:
        """One run, once (a failure is reported, not retried). KeyError: no such schedule."""
        schedule = self.schedules[name]
        execution_id = str(uuid.uuid4())
        event = schedule.event(scheduled_time, execution_id)
        invocation = self.runner.invoke(schedule.function, event, what=f"schedule {name}")
        return ScheduledRun(schedule, event_time(scheduled_time), execution_id, invocation)
