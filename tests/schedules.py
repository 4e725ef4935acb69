"""Scheduled runs as EventBridge Scheduler delivers them: the Input of the function's
ScheduleV2 event in template.yaml, with the Scheduler's context attributes filled in."""

import uuid
from datetime import datetime
from typing import Any

from local.dynamodb_local import REGION
from local.lambda_events import schedule_arn, scheduler_input
from local.schedules import DEFAULT_GROUP
from local.template import load_template


def schedule_input(name: str) -> str:
    """The Input of the ScheduleV2 event named `name`."""
    for resource in load_template()["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "ScheduleV2" and event["Properties"]["Name"] == name:
                return str(event["Properties"]["Input"])
    raise KeyError(name)


def scheduled_event(name: str, time: datetime, execution_id: str | None = None) -> Any:
    """The event the Scheduler sends the function of schedule `name` for a run at `time`."""
    return scheduler_input(
        schedule_input(name),
        time,
        execution_id or str(uuid.uuid4()),
        schedule_arn(REGION, DEFAULT_GROUP, name),
    )
