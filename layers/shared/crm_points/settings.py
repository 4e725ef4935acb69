"""The deployment's settings: every environment variable a function reads, read once at
cold start into one model (template.yaml gives each function the ones it uses).

The table is every function's, so a missing TABLE_NAME fails the cold start. The others
belong to some functions only: each is checked when the runtime first builds what needs
it, which is before the function's first record, and a missing one is named.
"""

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Each setting's environment variable.
VARIABLES = {
    "table_name": "TABLE_NAME",
    "event_bus_name": "EVENT_BUS_NAME",
    "notifications_queue_url": "NOTIFICATIONS_QUEUE_URL",
    "ops_topic_arn": "OPS_TOPIC_ARN",
    "bulk_award_queue_url": "BULK_AWARD_QUEUE_URL",
    "export_queue_url": "EXPORT_QUEUE_URL",
    "export_bucket": "EXPORT_BUCKET",
}


class MissingSetting(RuntimeError):
    """A function was deployed without an environment variable that what it built needs."""


class Settings(BaseModel):
    """Where this deployment keeps its data and sends things."""

    model_config = ConfigDict(frozen=True)

    table_name: Annotated[str, Field(min_length=3, max_length=255)]
    # Lambda's own region (AWS_REGION), or the SDK's default where that is not set.
    region: str = ""
    event_bus_name: str = ""
    notifications_queue_url: str = ""
    ops_topic_arn: str = ""
    bulk_award_queue_url: str = ""
    export_queue_url: str = ""
    export_bucket: str = ""

    @classmethod
    def from_environment(cls, environment: Mapping[str, str] = os.environ) -> "Settings":
        """Every variable, read once; a missing TABLE_NAME fails here, loudly."""
        values = {name: environment.get(variable, "") for name, variable in VARIABLES.items()}
        if not values["table_name"]:
            raise MissingSetting(f"{VARIABLES['table_name']} is not set: every function needs it")
        region = environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION", "")
        return cls(region=region, **values)

    def required(self, name: str) -> str:
        """A setting that what is being built cannot do without."""
        value: str = getattr(self, name)
        if not value:
            raise MissingSetting(f"{VARIABLES[name]} is not set: this function needs it")
        return value
