"""What the booking system's events do to the ledger and the profiles (SPEC §5)."""

from contextlib import suppress
from datetime import datetime

from crm_points.errors import CancelledBeforeCompletion
from crm_points.incoming_events import (
    BookingCancelled,
    BookingCompleted,
    BookingCustomer,
    BookingRefunded,
    CustomerUpdated,
)
from crm_points.ledger_service import PointsService, Request
from crm_points.records import SYSTEM, CustomerProfile, PostingResult


def booking_completed(
    service: PointsService, detail: BookingCompleted, event_id: str, now: datetime
) -> PostingResult | None:
    """The profile is updated; then the booking's EARN (with reinstatement and rolling
    expiry) and the REDEEM the booking system reports are one transaction: all or none.

    A redelivered event changes nothing. None when there is nothing to do. Any other
    refusal (points the ledger does not hold for the redemption) raises, writing nothing,
    so that the event is retried, dead-lettered and alarmed rather than reported done.
    """
    if detail.customer is not None:
        # A booking's customer block carries no notification choices: the stored ones stay.
        service.admin.upsert_profile(
            _profile(detail.customer_id, detail.customer, now),
            keep_preferences=True,
            consent=detail.customer.personal_data_consent,
        )
    request = Request(SYSTEM, event_id, now, f"booking:{detail.booking_id}:completed")
    # The only "nothing to do" outcome: cancelled before its completion arrived. (A booking
    # that moves no points is recorded as completed, with no entry.)
    with suppress(CancelledBeforeCompletion):
        return service.complete_booking(
            request,
            customer_id=detail.customer_id,
            booking_id=detail.booking_id,
            completed_at=detail.completed_at,
            amount_cents=detail.amount_cents,
            points_redeemed=detail.points_redeemed,
        )
    return None


def booking_cancelled(
    service: PointsService, detail: BookingCancelled, event_id: str, now: datetime
) -> PostingResult:
    """REVERSAL of the booking's EARN and REDEEM, once however often delivered."""
    request = Request(SYSTEM, event_id, now, f"booking:{detail.booking_id}:reversal")
    return service.reverse_booking(
        request,
        customer_id=detail.customer_id,
        booking_id=detail.booking_id,
        reason=detail.reason,
    )


def booking_refunded(
    service: PointsService, detail: BookingRefunded, event_id: str, now: datetime
) -> PostingResult | None:
    """The refund's share of the booking's EARN reversed and of its redemption returned, as
    of the event's time like a cancellation; once per refund id however often delivered.
    None when nothing is left to take back (the booking was cancelled, or moved no points)."""
    request = Request(
        SYSTEM, event_id, now, f"booking:{detail.booking_id}:refund:{detail.refund_id}"
    )
    return service.refund_booking(
        request,
        customer_id=detail.customer_id,
        booking_id=detail.booking_id,
        refund_id=detail.refund_id,
        refunded_cents=detail.refunded_amount_cents,
        refunded_at=detail.refunded_at,
        reason=detail.reason,
    )


def customer_updated(service: PointsService, detail: CustomerUpdated, now: datetime) -> None:
    """Upsert the profile; an older event never overwrites a newer one. A customer whose
    personal data was erased is stored again only with `personalDataConsent`."""
    service.admin.upsert_profile(
        _profile(
            detail.customer_id,
            detail,
            now,
            notify_email=detail.notify_email,
            notify_sms=detail.notify_sms,
        ),
        consent=detail.personal_data_consent,
    )


def _profile(
    customer_id: str,
    contact: BookingCustomer | CustomerUpdated,
    now: datetime,
    *,
    notify_email: bool = True,
    notify_sms: bool = True,
) -> CustomerProfile:
    """The profile an event's contact details make, as of `now`."""
    return CustomerProfile(
        customer_id=customer_id,
        email=contact.email,
        phone=contact.phone,
        first_name=contact.first_name,
        last_name=contact.last_name,
        notify_email=notify_email,
        notify_sms=notify_sms,
        updated_at=now,
    )
