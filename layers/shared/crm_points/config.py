"""Business configuration (SPEC §10): what the business sets through the API, stored in the
table. Where a deployment keeps and sends things is `crm_points.settings`."""

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

# Rates are exact decimals in Python and plain numbers in JSON.
Rate = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


# Each setting's type and limits; the body of PUT /points/config takes the same (api_models.py).
# Rates have four decimal places at most (a number DynamoDB can store, unlike 1e-200).
RATE_STEP = Decimal("0.0001")
PointValueCents = Annotated[int, Field(ge=1, le=10_000)]
EarnRate = Annotated[Rate, Field(ge=0, le=100, multiple_of=RATE_STEP)]
ValidityDays = Annotated[int, Field(ge=1, le=3650)]
ReinstatementDays = Annotated[int, Field(ge=0, le=3650)]
ExpiringWindowDays = Annotated[int, Field(ge=1, le=365)]
Percentage = Annotated[Rate, Field(ge=0, le=100, multiple_of=RATE_STEP)]
PositiveCount = Annotated[int, Field(ge=1)]
# Finance's value per point, in cents: IFRS 15's allocated value is rarely whole cents.
StandaloneValueCents = Annotated[Rate, Field(gt=0, le=10_000, multiple_of=RATE_STEP)]
# The trailing months of cohorts the breakage rate is computed over: up to ten years.
BreakageWindowMonths = Annotated[int, Field(ge=1, le=120)]


class PointsConfig(BaseModel):
    """The §10 settings with their defaults; the stored config overrides the keys it names."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    point_value_cents: PointValueCents = 1
    earn_rate: EarnRate = Decimal(1)
    validity_days: ValidityDays = 365
    rolling_expiry: bool = True
    reinstatement_days: ReinstatementDays = 90
    expiring_window_days: ExpiringWindowDays = 30
    large_redemption_points: PositiveCount = 10_000
    high_expiration_rate_pct: Percentage = Decimal(20)
    low_redemption_rate_pct: Percentage = Decimal(5)
    support_agent_award_limit: PositiveCount = 1_000
    manager_deduct_limit: PositiveCount = 5_000
    # The name printed at the head of a customer's statement.
    business_name: str = "CRM Points"
    booking_link: str = "https://example.com/book"
    sender_email: str = "points@example.com"
    ops_topic_arn: str = ""
    # Finance's value per point (docs/finance.md); unset, `point_value_cents`.
    standalone_point_value_cents: StandaloneValueCents | None = None
    # Finance's breakage rate (docs/finance.md): computed from the resolved cohorts of the
    # trailing window, unless finance sets an override.
    breakage_rate_override_pct: Percentage | None = None
    breakage_window_months: BreakageWindowMonths = 24
