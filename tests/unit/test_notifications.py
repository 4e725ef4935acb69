"""The notification templates of SPEC §8: the seed's words, its number and date formats, and
the channels a profile allows."""

from datetime import UTC, datetime

from crm_points.config import PointsConfig
from crm_points.notification_templates import day, points_awarded, points_expired, points_expiring
from crm_points.records import (
    SYSTEM,
    CustomerProfile,
    ExpiringReminder,
    LedgerEntry,
    ReminderLot,
    TransactionType,
)

NOW = datetime(2024, 11, 20, 7, 0, tzinfo=UTC)
CONFIG = PointsConfig(booking_link="https://book.example.co.za")


def profile(**fields: object) -> CustomerProfile:
    values: dict[str, object] = {
        "customer_id": "c-1",
        "email": "thandi@example.com",
        "phone": "+27821234567",
        "first_name": "Thandi",
        "updated_at": NOW,
        **fields,
    }
    return CustomerProfile.model_validate(values)


def entry(kind: TransactionType, points: int, balance: int, **fields: object) -> LedgerEntry:
    values: dict[str, object] = {
        "transaction_id": "tx-1",
        "customer_id": "c-1",
        "sequence": 3,
        "type": kind,
        "points": points,
        "balance_after": balance,
        "description": "",
        "reason": "Loyalty anniversary",
        "actor": SYSTEM,
        "created_at": NOW,
        "request_id": "r-1",
        **fields,
    }
    return LedgerEntry.model_validate(values)


def test_points_awarded_is_the_seeds_template_with_thousands_and_dates():
    award = entry(
        TransactionType.AWARD,
        2_500,
        12_450,
        expires_at=datetime(2024, 12, 15, 21, 59, tzinfo=UTC),
    )
    email, sms = points_awarded(award, profile())
    assert email.subject == "🎉 2,500 bonus points awarded! Reason: Loyalty anniversary"
    assert email.body.startswith(f"{email.subject}\n\nHi Thandi,\n\n")
    assert "12,450 points" in email.body
    assert (email.channel, email.to) == ("email", "thandi@example.com")
    assert sms.body == "Bonus: +2,500 pts! Total: 12,450 pts. Expires: 15 Dec 2024"
    assert (sms.channel, sms.to, sms.subject) == ("sms", "+27821234567", None)
    assert {email.notification_id, sms.notification_id} == {
        "tx-1:pointsAwarded:email",
        "tx-1:pointsAwarded:sms",
    }


def test_points_expiring_counts_days_in_johannesburg_and_links_to_booking():
    reminder = ExpiringReminder(
        customer_id="c-1",
        run_time=NOW,
        points=2_500,
        expires_at=datetime(2024, 12, 15, 21, 59, 59, tzinfo=UTC),  # 15 Dec, 23:59 SAST
        lots=[ReminderLot(point_batch_id="l-1", points=2_500, expires_at=NOW)],
    )
    email, sms = points_expiring(reminder, profile(), CONFIG)
    assert email.subject == "⏰ 2,500 points expire in 25 days. Use them now!"
    assert (
        sms.body == "2,500 pts expire 15 Dec 2024. Book now to extend: https://book.example.co.za"
    )


def test_points_expired_is_the_seeds_template():
    expired = entry(TransactionType.EXPIRE, -1_200, 300)
    email, sms = points_expired(expired, profile(), CONFIG)
    assert email.subject == "❌ 1,200 points expired. Book a service to reactivate."
    assert sms.body == "1,200 pts expired. Next booking extends all points!"


def test_only_channels_with_an_address_and_not_opted_out_are_used():
    expired = entry(TransactionType.EXPIRE, -10, 0)
    assert [n.channel for n in points_expired(expired, profile(notify_sms=False), CONFIG)] == [
        "email"
    ]
    assert [n.channel for n in points_expired(expired, profile(email=None), CONFIG)] == ["sms"]
    assert points_expired(expired, profile(notify_email=False, phone=None), CONFIG) == []
    assert points_expired(expired, None, CONFIG) == []


def test_a_day_is_the_customers_calendar_day():
    assert day(datetime(2024, 12, 14, 22, 30, tzinfo=UTC)) == "15 Dec 2024"
    assert day(datetime(2025, 1, 5, 8, 0, tzinfo=UTC)) == "5 Jan 2025"
