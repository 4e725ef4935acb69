"""Domain errors. Plain classes: the HTTP mapping lives in `crm_points.api_edge` alone."""

from typing import Any


class PointsError(Exception):
    """Base of every error the domain raises on purpose; `code` is the API's error code."""

    code = "INTERNAL"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationFailed(PointsError):
    code = "VALIDATION_ERROR"


class NotFound(PointsError):
    code = "NOT_FOUND"


class InsufficientPoints(PointsError):
    code = "INSUFFICIENT_POINTS"

    def __init__(self, available: int, requested: int) -> None:
        super().__init__(
            f"{requested} points requested but only {available} are available",
            {"available": available, "requested": requested},
        )


class Conflict(PointsError):
    """A state conflict; `retryable` tells the caller whether the same request may succeed later."""

    code = "CONFLICT"

    def __init__(
        self, message: str, details: dict[str, Any] | None = None, *, retryable: bool = False
    ) -> None:
        super().__init__(message, {**(details or {}), "retryable": retryable})
        self.retryable = retryable


class CancelledBeforeCompletion(Conflict):
    """The booking was cancelled before its completion arrived: it earns nothing."""

    def __init__(self, booking_id: str) -> None:
        super().__init__("This booking was cancelled", {"bookingId": booking_id})


class BookingNotCompleted(NotFound):
    """A refund of a booking whose completion the ledger has not recorded: there is nothing
    it could be a share of."""

    def __init__(self, booking_id: str) -> None:
        super().__init__(
            f"Booking {booking_id} has no recorded completion to refund", {"bookingId": booking_id}
        )


class RefundExceedsBooking(ValidationFailed):
    """Refunds that together would come to more than the booking's amount."""

    def __init__(
        self, booking_id: str, amount_cents: int, refunded_cents: int, refund: int
    ) -> None:
        super().__init__(
            f"A refund of {refund} cents would take booking {booking_id}'s refunds to "
            f"{refunded_cents + refund} cents, over its amount of {amount_cents} cents",
            {
                "bookingId": booking_id,
                "amountCents": amount_cents,
                "refundedCents": refunded_cents,
                "refundedAmountCents": refund,
            },
        )


class RedemptionExists(Conflict):
    """The booking has its one redemption already (SPEC §5)."""

    def __init__(self, booking_id: str) -> None:
        super().__init__("This booking already has a redemption", {"bookingId": booking_id})


class IdempotencyKeyReused(PointsError):
    code = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, key: str) -> None:
        super().__init__(
            "This idempotency key was already used for a different request",
            {"idempotencyKey": key},
        )


class Unauthorized(PointsError):
    code = "UNAUTHORIZED"


class Forbidden(PointsError):
    code = "FORBIDDEN"


class LimitExceeded(PointsError):
    code = "LIMIT_EXCEEDED"
