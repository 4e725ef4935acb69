"""The local stack's clock: the machine's, or one that starts at a chosen moment.

`LOCAL_NOW` (an ISO 8601 moment with a timezone, for example `2028-02-29T09:00:00+02:00`)
makes `make run` and the tests behave as if they had been started at that moment: time then
runs on from it at the machine's pace. The API's requests carry that time (API Gateway's
`requestContext.timeEpoch`, which the handlers take as "now"), the demo data is made as of
it, and the browser tests set the browser's clock to it. Access tokens keep the machine's
clock: their expiry is checked by the token verifier, which knows no other time.
"""

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

ENVIRONMENT_VARIABLE = "LOCAL_NOW"


@dataclass(frozen=True)
class Clock:
    """Now, shifted by a fixed offset from the machine's clock (none by default)."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    @classmethod
    def starting_at(cls, moment: datetime) -> "Clock":
        """A clock that reads `moment` now and runs on from it."""
        if moment.tzinfo is None:
            raise ValueError(f"{ENVIRONMENT_VARIABLE} needs a timezone, for example +02:00 or Z")
        return cls(moment - datetime.now(UTC))

    @classmethod
    def from_environment(cls) -> "Clock":
        """The machine's clock, or one started at `LOCAL_NOW` when it is set."""
        value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
        if not value:
            return cls()
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{ENVIRONMENT_VARIABLE}={value!r} is not an ISO 8601 moment "
                "(for example 2028-02-29T09:00:00+02:00)"
            ) from None
        return cls.starting_at(moment)
