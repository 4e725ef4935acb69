"""Input rules shared by every route (SPEC §3 validation) and what dates mean."""

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from crm_points.errors import ValidationFailed

BUSINESS_TIMEZONE = ZoneInfo("Africa/Johannesburg")
# How far ahead a lot may expire: the longest validity (3,650 days) and a booking clock up to
# ten days ahead of ours. It bounds how many pages an account's lots span (docs/capacity.md).
EXPIRY_HORIZON = timedelta(days=3_660)
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# Every date the product accepts lies in these years (docs/api.md "Dates"): dates it can
# store, show in any timezone and compute with, far from the ends of what Python can hold.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2199, 12, 31)

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
_D = TypeVar("_D", datetime, date)


def _whole(value: object) -> object:
    """JSON Schema's integer is any number without a fraction: 5.0 is 5 ("5" and true are not)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = BeforeValidator(_whole)
Amount = Annotated[int, Field(strict=True, ge=1, le=1_000_000), WholeNumber]
# Characters that would act rather than show where a reason is printed: controls (a
# terminal's escape sequences, line breaks), the marks that reorder bidirectional text, the
# line and paragraph separators, and the invisible zero-width ones.
_UNSHOWABLE_CHARACTERS = "\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff"
_UNSHOWABLE = re.compile(f"[{_UNSHOWABLE_CHARACTERS}]")

# What SES will send from: one local part and a domain with a dot, no spaces or angle
# brackets (a display name is not an address). Deliberately narrower than RFC 5322.
EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$"
# A link for customers' e-mails: https, a host name, then a path, query or fragment of
# characters that show as themselves.
HTTPS_LINK_PATTERN = (
    r"^https://[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*(:[0-9]{1,5})?"
    f"([/?#][^\\s{_UNSHOWABLE_CHARACTERS}]*)?$"
)
# Alerts are published by the stream function, whose policy names its own topic and the
# topics named with this prefix in its account and region (template.yaml), nothing else.
OPS_TOPIC_PREFIX = "crm-points-ops-"
OPS_TOPIC_PATTERN = (
    r"^(|arn:aws[a-z-]*:sns:(?P<region>[a-z]{2}(-[a-z]+)+-[0-9]):(?P<account>[0-9]{12}):"
    + OPS_TOPIC_PREFIX
    + r"[A-Za-z0-9_-]{1,241})$"
)


def email_address(value: str) -> str:
    """An address an e-mail can be sent from, else an error."""
    if len(value) > 254 or not re.fullmatch(EMAIL_PATTERN, value):
        raise ValueError("must be an e-mail address, like points@example.com")
    return value


def https_link(value: str) -> str:
    """An https:// link with a host and nothing that would act where it is shown, else an
    error: a `javascript:` or `http:` link in a customer's e-mail is not ours to send."""
    if len(value) > 2048 or not re.fullmatch(HTTPS_LINK_PATTERN, value):
        raise ValueError("must be an https:// link, like https://example.com/book")
    return value


# The settings' types: checked with a clear message, and said in the API's JSON Schema.
EmailAddress = Annotated[
    str,
    AfterValidator(email_address),
    Field(json_schema_extra={"pattern": EMAIL_PATTERN, "maxLength": 254}),
]
HttpsLink = Annotated[
    str,
    AfterValidator(https_link),
    Field(json_schema_extra={"pattern": HTTPS_LINK_PATTERN, "maxLength": 2048}),
]


def require_own_topic(arn: str, account_id: str, region: str) -> None:
    """Empty (the stack's own topic), or an SNS topic of this account and region named
    `crm-points-ops-…`, else 422: a topic the stream function may not publish to would
    only fail, and one elsewhere would take alerts out of the account."""
    found = re.fullmatch(OPS_TOPIC_PATTERN, arn)
    if found is None or (arn and (found["account"], found["region"]) != (account_id, region)):
        raise ValidationFailed(
            f"opsTopicArn must be empty or an SNS topic named {OPS_TOPIC_PREFIX}… of "
            f"account {account_id} in {region}",
            {"field": "opsTopicArn", "value": arn[:300]},
        )


def plain_text(value: str) -> str:
    """Text with no control character and no bidirectional override, else an error."""
    found = _UNSHOWABLE.search(value)
    if found:
        raise ValueError(
            f"must not contain control or text-direction characters (found U+{ord(found[0]):04X})"
        )
    return value


def shown_plainly(value: str) -> str:
    """The text with each control or text-direction character written as an escape
    (`\\u202e`), for printing text stored before reasons were held to `plain_text`."""
    return _UNSHOWABLE.sub(lambda found: f"\\u{ord(found[0]):04x}", value)


PlainText = AfterValidator(plain_text)
# What plain_text checks, said in the JSON Schema of the API's documents.
PlainTextSchema = Field(json_schema_extra={"pattern": f"^[^{_UNSHOWABLE_CHARACTERS}]*$"})
# Counted as sent, as the OpenAPI document says (it cannot say "once stripped").
Reason = Annotated[str, StringConstraints(min_length=3, max_length=500), PlainText, PlainTextSchema]
# JSON's true and false only: not "yes", "true" or 1.
Flag = Annotated[bool, Field(strict=True)]


def _aware(value: datetime | date) -> datetime | date:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("a date-time needs a timezone (for example Z or +02:00)")
    return value


def within_calendar(value: _D) -> _D:
    """A date or date-time between FIRST_DAY and LAST_DAY, else a validation error."""
    day = value.date() if isinstance(value, datetime) else value
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"a date must lie between {FIRST_DAY} and {LAST_DAY}")
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


def _a_day(value: object) -> object:
    """A day as ISO 8601 text (`2027-01-31`), nothing else: not a moment, not a number."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a day must be written YYYY-MM-DD, as 2027-01-31")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is not a day of the calendar") from None


# A business day (Africa/Johannesburg), as `2027-01-31`.
CalendarDay = Annotated[date, BeforeValidator(_a_day), AfterValidator(within_calendar)]


# A day (`2027-01-31`; as an expiry, the points last through that day in
# Africa/Johannesburg) or a moment with a timezone (`2027-01-31T10:00:00Z`).
DayOrMoment = Annotated[
    datetime | date,
    BeforeValidator(_day_as_date),
    AfterValidator(_aware),
    AfterValidator(within_calendar),
]


def as_utc(moment: datetime) -> datetime:
    """The moment in UTC. One that UTC puts beyond the years 1 to 9999 (0001-01-01T00:00+02:00)
    becomes the first or last moment Python can hold."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)


def business_time(moment: datetime) -> datetime:
    """The moment on Africa/Johannesburg's clock. The last two hours Python can hold have no
    such time: they stay in UTC, so that no stored date, however it got there, breaks a read."""
    try:
        return moment.astimezone(BUSINESS_TIMEZONE)
    except OverflowError:
        return moment


def month_of(moment: datetime) -> str:
    """The business's calendar month (`YYYY-MM`, Africa/Johannesburg) of a moment."""
    local = business_time(moment)
    return f"{local.year:04d}-{local.month:02d}"


def business_day(moment: datetime) -> date:
    """The day a moment falls on in Africa/Johannesburg."""
    return business_time(moment).date()


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
    local = business_time(moment)
    if local.tzinfo != BUSINESS_TIMEZONE:  # the last moments Python can hold: no later day's end
        return as_utc(moment)
    return expiry_moment(local.date())


def latest_expiry(now: datetime) -> datetime:
    """The latest expiry a lot may have as of `now`: the end of the horizon's last day."""
    return end_of_business_day(now + EXPIRY_HORIZON)


def future_expiry(value: datetime | date, now: datetime, field: str) -> datetime:
    """An expiry that must lie after today (a day) or after now (a moment), and within
    `EXPIRY_HORIZON`, else 422."""
    moment = expiry_moment(value)
    today = business_day(now)
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
