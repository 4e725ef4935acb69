"""Input rules shared by every route (SPEC §3 validation) and what dates mean."""

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from crm_points.errors import ValidationFailed

BUSINESS_TIMEZONE = ZoneInfo("Africa/Johannesburg")
# How far ahead a lot may expire: the longest validity (3,650 days) and a booking clock up to
# ten days ahead of ours. It bounds how many pages an account's lots span (docs/capacity.md).
EXPIRY_HORIZON = timedelta(days=3_660)
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


def _whole(value: object) -> object:
    """JSON Schema's integer is any number without a fraction: 5.0 is 5 ("5" and true are not)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = BeforeValidator(_whole)
Amount = Annotated[int, Field(strict=True, ge=1, le=1_000_000), WholeNumber]
# Counted as sent, as the OpenAPI document says (it cannot say "once stripped").
Reason = Annotated[str, StringConstraints(min_length=3, max_length=500)]


def _aware(value: datetime | date) -> datetime | date:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("a date-time needs a timezone (for example Z or +02:00)")
    return value


def _day_as_date(value: object) -> object:
    """`2027-01-31` is a day, not midnight of it: parse it as a date before the union does.
    Only ISO 8601 text is a date here (pydantic would also take `0.5` as a Unix time)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.match(r"\d{4}-\d{2}-\d{2}(?:[Tt ]|$)", value):
        raise ValueError("a date must be ISO 8601: 2027-01-31 or 2027-01-31T10:00:00Z")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


# A day (`2027-01-31`; as an expiry, the points last through that day in
# Africa/Johannesburg) or a moment with a timezone (`2027-01-31T10:00:00Z`).
DayOrMoment = Annotated[datetime | date, BeforeValidator(_day_as_date), AfterValidator(_aware)]


def as_utc(moment: datetime) -> datetime:
    """The moment in UTC. One that UTC puts beyond the years 1 to 9999 (0001-01-01T00:00+02:00)
    becomes the first or last moment Python can hold."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)


def business_day(moment: datetime) -> date:
    """The day a moment falls on in Africa/Johannesburg."""
    return moment.astimezone(BUSINESS_TIMEZONE).date()


def expiry_moment(value: datetime | date) -> datetime:
    """When points given this expiry date expire: a day means its last millisecond."""
    if isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime.combine(value, time(23, 59, 59, 999_000), BUSINESS_TIMEZONE))


def end_of_business_day(moment: datetime) -> datetime:
    """The last millisecond of `moment`'s day in Africa/Johannesburg: when points due to
    expire at `moment` are held to expire. The expiry run is daily, so a lot expires at the
    first run after its day anyway; holding every expiry at its day's end lets the points of
    one day be one lot (docs/ledger.md)."""
    try:
        day = moment.astimezone(BUSINESS_TIMEZONE).date()
    except OverflowError:  # the last moments Python can hold have no later day's end
        return as_utc(moment)
    return expiry_moment(day)


def latest_expiry(now: datetime) -> datetime:
    """The latest expiry a lot may have as of `now`: the end of the horizon's last day."""
    return end_of_business_day(now + EXPIRY_HORIZON)


def future_expiry(value: datetime | date, now: datetime, field: str) -> datetime:
    """An expiry that must lie after today (a day) or after now (a moment), and within
    `EXPIRY_HORIZON`, else 422."""
    moment = expiry_moment(value)
    today = now.astimezone(BUSINESS_TIMEZONE).date()
    too_early = value <= today if not isinstance(value, datetime) else moment <= now
    if too_early:
        raise ValidationFailed(
            f"{field} must be later than today", {"field": field, "value": value.isoformat()}
        )
    if end_of_business_day(moment) > latest_expiry(now):
        raise ValidationFailed(
            f"{field} must be at most {EXPIRY_HORIZON.days:,} days ahead",
            {"field": field, "value": value.isoformat()},
        )
    return moment


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first and last moment (millisecond) of a day in Africa/Johannesburg, in UTC."""
    start = datetime.combine(day, time.min, BUSINESS_TIMEZONE)
    return as_utc(start), expiry_moment(day)
