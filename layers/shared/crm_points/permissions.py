"""Roles and permissions (SPEC §4): who may do what, and up to which amount."""

import re
from enum import StrEnum

from crm_points.config import PointsConfig
from crm_points.errors import Forbidden, LimitExceeded


class Role(StrEnum):
    SUPPORT_AGENT = "SUPPORT_AGENT"
    MANAGER = "MANAGER"
    ADMIN = "ADMIN"
    BOOKING_SYSTEM = "BOOKING_SYSTEM"
    FINANCE = "FINANCE"


class Permission(StrEnum):
    VIEW_POINTS = "VIEW_POINTS"
    VIEW_TRANSACTIONS = "VIEW_TRANSACTIONS"
    AWARD_SMALL_BONUS = "AWARD_SMALL_BONUS"
    AWARD_POINTS = "AWARD_POINTS"
    DEDUCT_POINTS = "DEDUCT_POINTS"
    REDEEM_POINTS = "REDEEM_POINTS"
    EXTEND_EXPIRY = "EXTEND_EXPIRY"
    RECOVER_EXPIRED = "RECOVER_EXPIRED"
    BULK_OPERATIONS = "BULK_OPERATIONS"
    SYSTEM_CONFIG = "SYSTEM_CONFIG"
    APPROVE = "APPROVE"
    VIEW_ANALYTICS = "VIEW_ANALYTICS"
    VIEW_ALERTS = "VIEW_ALERTS"
    MANAGE_ALERTS = "MANAGE_ALERTS"
    VIEW_FINANCE = "VIEW_FINANCE"
    CLOSE_PERIOD = "CLOSE_PERIOD"
    SET_BREAKAGE = "SET_BREAKAGE"
    # A customer's personal data (POPIA): read it all, erase it. ADMIN only.
    MANAGE_PERSONAL_DATA = "MANAGE_PERSONAL_DATA"


_VIEW = {Permission.VIEW_POINTS, Permission.VIEW_TRANSACTIONS}
_MANAGE = {
    Permission.AWARD_SMALL_BONUS,
    Permission.AWARD_POINTS,
    Permission.DEDUCT_POINTS,
    Permission.REDEEM_POINTS,
    Permission.EXTEND_EXPIRY,
    Permission.APPROVE,
    Permission.VIEW_ANALYTICS,
    Permission.VIEW_ALERTS,
    Permission.MANAGE_ALERTS,
}

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.SUPPORT_AGENT: frozenset(_VIEW | {Permission.AWARD_SMALL_BONUS}),
    Role.MANAGER: frozenset(_VIEW | _MANAGE | {Permission.VIEW_FINANCE}),
    Role.ADMIN: frozenset(Permission),
    Role.BOOKING_SYSTEM: frozenset(_VIEW | {Permission.REDEEM_POINTS}),
    Role.FINANCE: frozenset(
        _VIEW
        | {
            Permission.VIEW_ANALYTICS,
            Permission.VIEW_FINANCE,
            Permission.CLOSE_PERIOD,
            Permission.SET_BREAKAGE,
        }
    ),
}


# Who a token may name: Cognito's subjects are UUIDs, a machine client's its client id, a
# local token's a login name. Whitespace or a control character would let "alice " pass for
# alice in the audit; `system` is the ledger's own actor, which no caller may be.
SUBJECT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
RESERVED_SUBJECTS = frozenset({"system"})


def is_caller_subject(subject: str) -> bool:
    """Whether a token's subject may act: the pattern, and not a reserved name."""
    return bool(SUBJECT_PATTERN.fullmatch(subject)) and subject.lower() not in RESERVED_SUBJECTS


def role_from_groups(groups: list[str]) -> Role | None:
    """The strongest known role among a token's groups, or None. A token acts with one role
    (the one its entries record): a member of MANAGER and FINANCE acts as MANAGER, and
    closing a period then needs ADMIN or a FINANCE-only account (docs/api.md, "Roles")."""
    ranked = [Role.ADMIN, Role.MANAGER, Role.FINANCE, Role.SUPPORT_AGENT, Role.BOOKING_SYSTEM]
    return next((role for role in ranked if role.value in groups), None)


def has(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def require(role: Role, permission: Permission) -> None:
    """Raise FORBIDDEN unless the role has the permission."""
    if not has(role, permission):
        raise Forbidden(
            f"Role {role.value} may not do this ({permission.value})",
            {"role": role.value, "permission": permission.value},
        )


def require_award(role: Role, amount: int, config: PointsConfig) -> None:
    """AWARD_POINTS allows any amount; AWARD_SMALL_BONUS only below the agent limit."""
    if has(role, Permission.AWARD_POINTS):
        return
    require(role, Permission.AWARD_SMALL_BONUS)
    if amount >= config.support_agent_award_limit:
        raise LimitExceeded(
            f"Role {role.value} may award fewer than {config.support_agent_award_limit:,} points",
            {"limit": config.support_agent_award_limit, "amount": amount},
        )


def deduct_limit(role: Role, config: PointsConfig) -> int | None:
    """The largest deduction the role may make or approve; None means no limit."""
    require(role, Permission.DEDUCT_POINTS)
    return None if role is Role.ADMIN else config.manager_deduct_limit - 1


def require_deduct(role: Role, amount: int, config: PointsConfig) -> None:
    """DEDUCT_POINTS: MANAGER below the manager limit, ADMIN any amount."""
    limit = deduct_limit(role, config)
    if limit is not None and amount > limit:
        raise LimitExceeded(
            f"Role {role.value} may deduct fewer than {config.manager_deduct_limit:,} points",
            {"limit": config.manager_deduct_limit, "amount": amount},
        )
