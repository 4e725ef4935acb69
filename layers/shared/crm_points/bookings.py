"""What the booking system's events do to the ledger and the profiles (SPEC §5)."""

from contextlib import suppress
from datetime import datetime

from crm_points.errors import CancelledBeforeCompletion, NothingToEarn, RedemptionExists
from crm_points.events import BookingCancelled, BookingCompleted, CustomerUpdated
from crm_points.models import SYSTEM, CustomerProfile, PostingResult
from crm_points.service import PointsService, Request


def booking_completed(
    service: PointsService, detail: BookingCompleted, event_id: str, now: datetime
) -> list[PostingResult]:
    """EARN for the booking (with reinstatement and rolling expiry), then the REDEEM the
    booking system reports, unless the booking already has one; the profile is updated.

    Every step is idempotent per booking, so a redelivered event changes nothing, and a
    failed step (points the ledger does not hold) fails the event for retry and the
    dead-letter queue, after the steps before it were kept.
    """
    if detail.customer is not None:
        customer = detail.customer
        service.admin.upsert_profile(
            CustomerProfile(
                customer_id=detail.customer_id,
                email=customer.email,
                phone=customer.phone,
                first_name=customer.first_name,
                last_name=customer.last_name,
                updated_at=now,
            ),
            keep_preferences=True,
        )
    request = Request(SYSTEM, event_id, now, f"booking:{detail.booking_id}:checkout-redeem")
    results = []
    # Only the outcomes suppressed here are "nothing to do" (under R1 with nothing to bring
    # back; cancelled before its completion arrived; redeemed at checkout through the API
    # already). Any other refusal fails the event, so that it is retried, dead-lettered and
    # alarmed rather than reported done.
    with suppress(NothingToEarn, CancelledBeforeCompletion):
        results.append(
            service.earn_for_booking(
                request,
                customer_id=detail.customer_id,
                booking_id=detail.booking_id,
                completed_at=detail.completed_at,
                amount_cents=detail.amount_cents,
            )
        )
    if detail.points_redeemed:
        with suppress(RedemptionExists):
            results.append(
                service.redeem(
                    request,
                    customer_id=detail.customer_id,
                    amount=detail.points_redeemed,
                    reason="Points redeemed at checkout",
                    booking_id=detail.booking_id,
                )
            )
    return results


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


def customer_updated(service: PointsService, detail: CustomerUpdated, now: datetime) -> None:
    """Upsert the profile; an older event never overwrites a newer one."""
    service.admin.upsert_profile(
        CustomerProfile(
            customer_id=detail.customer_id,
            email=detail.email,
            phone=detail.phone,
            first_name=detail.first_name,
            last_name=detail.last_name,
            notify_email=detail.notify_email,
            notify_sms=detail.notify_sms,
            updated_at=now,
        )
    )
