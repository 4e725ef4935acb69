"""What each API route does, after its input is parsed: check the caller's permission
(SPEC §4) and call one domain operation. Handlers call exactly one function here.

No Lambda here either: the caller comes in as a `Call`, made by `crm_points.api_edge` from the
verified token.
"""

# Annotations are not evaluated at import: the types of the routes that import their
# modules themselves (below) are for mypy only.
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from crm_points import account_reads, permissions
from crm_points.account_reads import TransactionQuery
from crm_points.api_models import (
    AlertList,
    ApprovalList,
    AwardPointsRequest,
    CustomerPointsResponse,
    CustomerSearchResponse,
    DeductPointsRequest,
    ErasureRequest,
    ExtendExpiryRequest,
    FinanceSettingsUpdate,
    LotHistoryResponse,
    PersonalDataResponse,
    PointsConfigUpdate,
    RecoverExpiredRequest,
    RedeemPointsRequest,
    TransactionExplanation,
    TransactionHistoryResponse,
    TransactionSearchResponse,
)
from crm_points.config import PointsConfig
from crm_points.errors import Forbidden
from crm_points.ledger_service import PointsService, Request
from crm_points.permissions import Permission, Role
from crm_points.records import Actor, Approval, ApprovalStatus, Erasure, PostingResult
from crm_points.transactions import Idempotent
from crm_points.validation import future_expiry, require_own_topic

# What only some routes use is imported by those routes, so that a route's cold start
# imports what it uses (the alerts, analytics and bulk awards modules are large).
if TYPE_CHECKING:
    from crm_points.alert_store import AlertStore
    from crm_points.alerts import Alert, AlertPriority, AlertStatus, AlertType
    from crm_points.analytics import PointsAnalytics
    from crm_points.analytics_store import AnalyticsStore
    from crm_points.balances_export import BalancesExports, ExportJob, ExportJobView
    from crm_points.bulk import BulkAwards, BulkJob, BulkJobPage
    from crm_points.finance import ClosedPeriod, CohortReport, PeriodList, RollForward
    from crm_points.ledger_store import EffectLog
    from crm_points.statements import Statement


@dataclass(frozen=True)
class Call:
    """One API call: who makes it (from the verified token), when, and its request ids."""

    user_id: str
    role: Role
    now: datetime
    request_id: str
    idempotency_key: str = ""
    account_id: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.user_id, role=self.role.value)

    def request(self) -> Request:
        return Request(self.actor, self.request_id, self.now, self.idempotency_key)


def _acting_as_self(call: Call, admin_user_id: str | None) -> None:
    """A body never sets the actor: an adminUserId must be the caller (SPEC §3)."""
    if admin_user_id is not None and admin_user_id != call.user_id:
        raise Forbidden(
            "adminUserId must be the signed-in user",
            {"adminUserId": admin_user_id, "field": "adminUserId"},
        )


def award_points(service: PointsService, call: Call, body: AwardPointsRequest) -> PostingResult:
    """POST /points/award: AWARD_POINTS, or AWARD_SMALL_BONUS below the agent limit."""
    _acting_as_self(call, body.admin_user_id)
    permissions.require_award(call.role, body.amount, service.config)
    expiry = future_expiry(body.expiry_date, call.now, "expiryDate") if body.expiry_date else None
    return service.award(
        call.request(),
        customer_id=body.customer_id,
        amount=body.amount,
        reason=body.reason,
        expiry_date=expiry,
        notify_customer=body.notify_customer,
    )


def deduct_points(
    service: PointsService, call: Call, body: DeductPointsRequest
) -> PostingResult | Idempotent[Approval]:
    """POST /points/deduct: within the caller's limit at once; with `requireApproval` a
    pending approval, whatever the amount (SPEC §3, §4)."""
    _acting_as_self(call, body.admin_user_id)
    permissions.require(call.role, Permission.DEDUCT_POINTS)
    if body.allow_negative and call.role is not Role.ADMIN:
        raise Forbidden("Only an ADMIN may deduct below zero", {"field": "allowNegative"})
    if body.require_approval:
        return service.request_deduction(
            call.request(),
            customer_id=body.customer_id,
            amount=body.amount,
            reason=body.reason,
            allow_negative=body.allow_negative,
        )
    permissions.require_deduct(call.role, body.amount, service.config)
    return service.deduct(
        call.request(),
        customer_id=body.customer_id,
        amount=body.amount,
        reason=body.reason,
        allow_negative=body.allow_negative,
    )


def redeem_points(service: PointsService, call: Call, body: RedeemPointsRequest) -> PostingResult:
    """POST /points/redeem: REDEEM_POINTS; the booking system always names the booking."""
    permissions.require(call.role, Permission.REDEEM_POINTS)
    if call.role is Role.BOOKING_SYSTEM and body.booking_id is None:
        raise Forbidden(
            "The booking system redeems for a booking: bookingId is required",
            {"field": "bookingId"},
        )
    return service.redeem(
        call.request(),
        customer_id=body.customer_id,
        amount=body.amount,
        reason=body.reason,
        booking_id=body.booking_id,
    )


def extend_expiry(service: PointsService, call: Call, body: ExtendExpiryRequest) -> PostingResult:
    """POST /points/extend-expiry: EXTEND_EXPIRY, to a date later than today."""
    permissions.require(call.role, Permission.EXTEND_EXPIRY)
    return service.extend_expiry(
        call.request(),
        point_batch_id=body.point_batch_id,
        new_expiry_date=future_expiry(body.new_expiry_date, call.now, "newExpiryDate"),
        reason=body.reason,
    )


def recover_expired(
    service: PointsService, call: Call, body: RecoverExpiredRequest
) -> PostingResult:
    """POST /points/recover-expired: RECOVER_EXPIRED (ADMIN), once per EXPIRE entry."""
    permissions.require(call.role, Permission.RECOVER_EXPIRED)
    return service.recover_expired(
        call.request(),
        transaction_id=body.transaction_id,
        reason=body.reason,
        new_expiry_date=future_expiry(body.new_expiry_date, call.now, "newExpiryDate"),
    )


def list_approvals(
    service: PointsService, call: Call, status: ApprovalStatus, limit: int, cursor: str | None
) -> ApprovalList:
    """GET /points/approvals: APPROVE; pending ones unless another status is asked for."""
    permissions.require(call.role, Permission.APPROVE)
    approvals, next_cursor = service.admin.approvals(status, limit, cursor)
    return ApprovalList(approvals=approvals, next_cursor=next_cursor)


def _may_decide(service: PointsService, call: Call, approval: Approval) -> None:
    """Four eyes: never the requester; and the decider must be allowed the amount."""
    permissions.require(call.role, Permission.APPROVE)
    if approval.requested_by.user_id == call.user_id:
        raise Forbidden(
            "An approval is decided by someone other than its requester",
            {"approvalId": approval.approval_id},
        )
    permissions.require_deduct(call.role, approval.amount, service.config)
    if approval.allow_negative and call.role is not Role.ADMIN:
        raise Forbidden(
            "Only an ADMIN may approve a deduction below zero", {"approvalId": approval.approval_id}
        )


def approve(
    service: PointsService, call: Call, approval_id: str, reason: str | None
) -> PostingResult:
    """POST /points/approvals/{approvalId}/approve: the deduction is made now."""
    approval = service.approval(approval_id)
    _may_decide(service, call, approval)
    return service.approve(call.request(), approval, reason)


def reject(
    service: PointsService, call: Call, approval_id: str, reason: str | None
) -> Idempotent[Approval]:
    """POST /points/approvals/{approvalId}/reject: nothing is deducted."""
    approval = service.approval(approval_id)
    _may_decide(service, call, approval)
    return service.reject(call.request(), approval, reason)


def get_config(service: PointsService, call: Call) -> PointsConfig:
    """GET /points/config: VIEW_ANALYTICS."""
    permissions.require(call.role, Permission.VIEW_ANALYTICS)
    return service.stored_config()


def update_config(
    service: PointsService, call: Call, body: PointsConfigUpdate, region: str
) -> Idempotent[PointsConfig]:
    """PUT /points/config: SYSTEM_CONFIG; changes the keys it names, leaves the rest. The
    alert topic must be one of this account (the API's) and `region` (the function's)."""
    permissions.require(call.role, Permission.SYSTEM_CONFIG)
    if body.ops_topic_arn is not None:
        require_own_topic(body.ops_topic_arn, call.account_id, region)
    changes = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return service.update_config(call.request(), changes)


def find_customers(service: PointsService, call: Call, email: str) -> CustomerSearchResponse:
    """GET /customers?email=: VIEW_POINTS."""
    permissions.require(call.role, Permission.VIEW_POINTS)
    return CustomerSearchResponse(customers=service.admin.customers_by_email(email))


def query_transactions(
    service: PointsService, call: Call, query: TransactionQuery
) -> TransactionSearchResponse:
    """GET /points/transactions: VIEW_TRANSACTIONS."""
    permissions.require(call.role, Permission.VIEW_TRANSACTIONS)
    return account_reads.search_transactions(service.admin, query, call.now)


def customer_points(service: PointsService, call: Call, customer_id: str) -> CustomerPointsResponse:
    """GET /customers/{customerId}/points: VIEW_POINTS."""
    permissions.require(call.role, Permission.VIEW_POINTS)
    return account_reads.customer_points(service.store, customer_id, call.now, service.config)


def customer_history(
    service: PointsService, call: Call, customer_id: str, limit: int, cursor: str | None
) -> TransactionHistoryResponse:
    """GET /customers/{customerId}/points/transactions: VIEW_TRANSACTIONS."""
    permissions.require(call.role, Permission.VIEW_TRANSACTIONS)
    return account_reads.customer_history(service.store, customer_id, limit, cursor)


def explain_transaction(
    service: PointsService, call: Call, transaction_id: str
) -> TransactionExplanation:
    """GET /points/transactions/{transactionId}: VIEW_TRANSACTIONS; the entry and the lots
    it touched (404 for no such entry)."""
    permissions.require(call.role, Permission.VIEW_TRANSACTIONS)
    from crm_points import lot_reads

    return lot_reads.explain_transaction(service, transaction_id)


def lot_history(
    service: PointsService, call: Call, point_batch_id: str, limit: int, cursor: str | None
) -> LotHistoryResponse:
    """GET /points/lots/{pointBatchId}: VIEW_TRANSACTIONS; the lot now and a page of its
    life, oldest first (404 for no such lot)."""
    permissions.require(call.role, Permission.VIEW_TRANSACTIONS)
    from crm_points import lot_reads

    return lot_reads.lot_history(service, point_batch_id, limit, cursor)


def customer_statement(
    service: PointsService, call: Call, customer_id: str, first: date, last: date
) -> Statement:
    """GET /customers/{customerId}/points/statement: VIEW_TRANSACTIONS."""
    permissions.require(call.role, Permission.VIEW_TRANSACTIONS)
    return account_reads.customer_statement(
        service.store, customer_id, first, last, call.now, service.config
    )


# -- personal data (POPIA: docs/security.md) ----------------------------------------------


def personal_data(
    service: PointsService, alerts: AlertStore, effects: EffectLog, call: Call, customer_id: str
) -> PersonalDataResponse:
    """GET /customers/{customerId}/personal-data: MANAGE_PERSONAL_DATA (ADMIN); 404 for a
    customer with neither a profile nor an account."""
    permissions.require(call.role, Permission.MANAGE_PERSONAL_DATA)
    from crm_points.personal_data import export

    return export(service, alerts, effects, customer_id, call.now)


def erase_personal_data(
    service: PointsService, alerts: AlertStore, call: Call, customer_id: str, body: ErasureRequest
) -> Idempotent[Erasure]:
    """POST /customers/{customerId}/erase: MANAGE_PERSONAL_DATA (ADMIN); once per customer
    (an erased customer answers its erasure), the same Idempotency-Key answers the same."""
    permissions.require(call.role, Permission.MANAGE_PERSONAL_DATA)
    from crm_points.personal_data import erase

    return erase(service, alerts, call.request(), customer_id, body.reason)


# -- alerts (SPEC §7) -----------------------------------------------------------------------


def list_alerts(
    alerts: AlertStore,
    call: Call,
    status: AlertStatus,
    priority: AlertPriority | None,
    alert_type: AlertType | None,
    limit: int,
    cursor: str | None,
) -> AlertList:
    """GET /alerts: VIEW_ALERTS; alerts in one status (OPEN unless asked), newest first."""
    permissions.require(call.role, Permission.VIEW_ALERTS)
    found, next_cursor = alerts.list(status, priority, alert_type, limit, cursor)
    return AlertList(alerts=found, next_cursor=next_cursor)


def customer_alerts(
    alerts: AlertStore,
    call: Call,
    customer_id: str,
    status: AlertStatus | None,
    priority: AlertPriority | None,
    alert_type: AlertType | None,
    limit: int,
    cursor: str | None,
) -> AlertList:
    """GET /customers/{customerId}/alerts: VIEW_POINTS; every status unless one is asked."""
    permissions.require(call.role, Permission.VIEW_POINTS)
    found, next_cursor = alerts.for_customer(
        customer_id, status, priority, alert_type, limit, cursor
    )
    return AlertList(alerts=found, next_cursor=next_cursor)


def acknowledge_alert(
    alerts: AlertStore, call: Call, alert_id: str, note: str | None
) -> Idempotent[Alert]:
    """POST /alerts/{alertId}/acknowledge: MANAGE_ALERTS."""
    permissions.require(call.role, Permission.MANAGE_ALERTS)
    return alerts.acknowledge(
        alert_id, call.actor, call.now, note, idempotency_key=call.idempotency_key
    )


def resolve_alert(
    alerts: AlertStore, call: Call, alert_id: str, note: str | None
) -> Idempotent[Alert]:
    """POST /alerts/{alertId}/resolve: MANAGE_ALERTS."""
    permissions.require(call.role, Permission.MANAGE_ALERTS)
    return alerts.resolve(
        alert_id, call.actor, call.now, note, idempotency_key=call.idempotency_key
    )


# -- bulk awards (SPEC §3) ------------------------------------------------------------------


def bulk_award(awards: BulkAwards, call: Call, media_type: str, body: str) -> Idempotent[BulkJob]:
    """POST /points/bulk-award: BULK_OPERATIONS (ADMIN). The body is read only for a caller
    allowed to send one; each row is awarded as POST /points/award would, as the caller."""
    permissions.require(call.role, Permission.BULK_OPERATIONS)
    from crm_points.bulk import read_rows

    return awards.submit(call.request(), media_type, read_rows(media_type, body))


def bulk_job(
    awards: BulkAwards, call: Call, job_id: str, limit: int, cursor: str | None
) -> BulkJobPage:
    """GET /points/bulk-jobs/{jobId}: BULK_OPERATIONS."""
    permissions.require(call.role, Permission.BULK_OPERATIONS)
    return awards.page(job_id, limit, cursor)


# -- analytics (SPEC §9) --------------------------------------------------------------------


def points_analytics(analytics: AnalyticsStore, call: Call, month: str | None) -> PointsAnalytics:
    """GET /points/analytics: VIEW_ANALYTICS; the month asked for, else the current one
    (Africa/Johannesburg). A month not begun yet is 422."""
    permissions.require(call.role, Permission.VIEW_ANALYTICS)
    from crm_points.analytics import reportable_month

    return analytics.analytics(reportable_month(month, call.now), call.now)


# -- finance (docs/finance.md) --------------------------------------------------------------


def finance_roll_forward(
    analytics: AnalyticsStore,
    config: PointsConfig,
    call: Call,
    first: str | None,
    last: str | None,
) -> RollForward:
    """GET /points/finance/roll-forward: VIEW_FINANCE; the months `first` to `last` (by
    default the twelve to the current one). A month not begun, or `first` after `last`: 422."""
    permissions.require(call.role, Permission.VIEW_FINANCE)
    from crm_points.finance import report_range, roll_forward

    first, last = report_range(first, last, call.now)
    return roll_forward(analytics.ledger(), first, last, config)


def finance_cohorts(
    analytics: AnalyticsStore, config: PointsConfig, call: Call, as_of: str | None
) -> CohortReport:
    """GET /points/finance/cohorts: VIEW_FINANCE; the cohorts at the end of `as_of` (by
    default the current month; one not begun: 422)."""
    permissions.require(call.role, Permission.VIEW_FINANCE)
    from crm_points.finance import cohort_report

    return cohort_report(analytics.ledger(), as_of, call.now, config)


def finance_periods(analytics: AnalyticsStore, call: Call) -> PeriodList:
    """GET /points/finance/periods: VIEW_FINANCE."""
    permissions.require(call.role, Permission.VIEW_FINANCE)
    from crm_points.finance import period_list

    return period_list(analytics.ledger(), call.now)


def close_period(
    analytics: AnalyticsStore, config: PointsConfig, call: Call, month: str
) -> Idempotent[ClosedPeriod]:
    """POST /points/finance/periods/{month}/close: CLOSE_PERIOD; the next month to close,
    once it is over (409 otherwise); the same Idempotency-Key again answers the same."""
    permissions.require(call.role, Permission.CLOSE_PERIOD)
    return analytics.close_period(month, call.actor, call.now, config, call.idempotency_key)


def balances_export(
    exports: BalancesExports, config: PointsConfig, call: Call, as_of: str | None
) -> Idempotent[ExportJob]:
    """POST /points/finance/balances-export: VIEW_FINANCE; a job for every customer's
    balance at `as_of`'s end (a month begun: 422 otherwise)."""
    permissions.require(call.role, Permission.VIEW_FINANCE)
    from crm_points.finance import value_per_point_cents

    return exports.submit(
        call.actor, call.idempotency_key, as_of, call.now, value_per_point_cents(config)
    )


def balances_export_job(exports: BalancesExports, call: Call, job_id: str) -> ExportJobView:
    """GET /points/finance/balances-export/{jobId}: VIEW_FINANCE; the job, and its file's
    link once done (404 for no such job)."""
    permissions.require(call.role, Permission.VIEW_FINANCE)
    return exports.view(job_id, call.now)


def update_finance_settings(
    service: PointsService, call: Call, body: FinanceSettingsUpdate
) -> Idempotent[PointsConfig]:
    """PUT /points/finance/settings: SET_BREAKAGE; the keys it names (null unsets), audited
    as every configuration change."""
    permissions.require(call.role, Permission.SET_BREAKAGE)
    changes = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return service.update_config(call.request(), changes)
