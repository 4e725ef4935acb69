"""Input rules shared by every route (SPEC §3 validation) and what dates mean."""

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from crm_points.errors import ValidationFailed

BUSINESS_TIMEZONE = ZoneInfo("Africa/Johannesburg")
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Amount = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]


def _aware(value: datetime | date) -> datetime | date:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("a date-time needs a timezone (for example Z or +02:00)")
    return value


def _day_as_date(value: object) -> object:
    """`2027-01-31` is a day, not midnight of it: parse it as a date before the union does."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


# A day (`2027-01-31`; as an expiry, the points last through that day in
# Africa/Johannesburg) or a moment with a timezone (`2027-01-31T10:00:00Z`).
DayOrMoment = Annotated[datetime | date, BeforeValidator(_day_as_date), AfterValidator(_aware)]


def expiry_moment(value: datetime | date) -> datetime:
    """When points given this expiry date expire: a day means its last millisecond."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    last_moment = datetime.combine(value, time(23, 59, 59, 999_000), BUSINESS_TIMEZONE)
    return last_moment.astimezone(UTC)


def future_expiry(value: datetime | date, now: datetime, field: str) -> datetime:
    """An expiry that must lie after today (a day) or after now (a moment), else 422."""
    moment = expiry_moment(value)
    today = now.astimezone(BUSINESS_TIMEZONE).date()
    too_early = value <= today if not isinstance(value, datetime) else moment <= now
    if too_early:
        raise ValidationFailed(
            f"{field} must be later than today", {"field": field, "value": value.isoformat()}
        )
    return moment


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first and last moment of a day in Africa/Johannesburg, in UTC."""
    start = datetime.combine(day, time.min, BUSINESS_TIMEZONE)
    return start.astimezone(UTC), (start + timedelta(days=1, milliseconds=-1)).astimezone(UTC)
