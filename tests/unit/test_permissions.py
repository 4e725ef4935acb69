"""SPEC §4: every role against every permission, and the limits at their boundaries."""

import pytest

from crm_points import permissions
from crm_points.config import PointsConfig
from crm_points.errors import Forbidden, LimitExceeded
from crm_points.permissions import Permission, Role

CONFIG = PointsConfig()

# The §4 table, row by row.
EXPECTED = {
    Permission.VIEW_POINTS: {"SUPPORT_AGENT", "MANAGER", "ADMIN", "BOOKING_SYSTEM", "FINANCE"},
    Permission.VIEW_TRANSACTIONS: {
        "SUPPORT_AGENT",
        "MANAGER",
        "ADMIN",
        "BOOKING_SYSTEM",
        "FINANCE",
    },
    Permission.AWARD_SMALL_BONUS: {"SUPPORT_AGENT", "MANAGER", "ADMIN"},
    Permission.AWARD_POINTS: {"MANAGER", "ADMIN"},
    Permission.DEDUCT_POINTS: {"MANAGER", "ADMIN"},
    Permission.REDEEM_POINTS: {"MANAGER", "ADMIN", "BOOKING_SYSTEM"},
    Permission.EXTEND_EXPIRY: {"MANAGER", "ADMIN"},
    Permission.RECOVER_EXPIRED: {"ADMIN"},
    Permission.BULK_OPERATIONS: {"ADMIN"},
    Permission.SYSTEM_CONFIG: {"ADMIN"},
    Permission.APPROVE: {"MANAGER", "ADMIN"},
    Permission.VIEW_ANALYTICS: {"MANAGER", "ADMIN", "FINANCE"},
    Permission.VIEW_ALERTS: {"MANAGER", "ADMIN"},
    Permission.MANAGE_ALERTS: {"MANAGER", "ADMIN"},
    Permission.VIEW_FINANCE: {"MANAGER", "ADMIN", "FINANCE"},
    Permission.CLOSE_PERIOD: {"ADMIN", "FINANCE"},
    Permission.SET_BREAKAGE: {"ADMIN", "FINANCE"},
    Permission.MANAGE_PERSONAL_DATA: {"ADMIN"},
}


@pytest.mark.parametrize("permission", list(Permission))
@pytest.mark.parametrize("role", list(Role))
def test_grants_match_the_spec(role, permission):
    assert permissions.has(role, permission) == (role.value in EXPECTED[permission])


@pytest.mark.parametrize(
    ("role", "amount", "allowed"),
    [
        (Role.SUPPORT_AGENT, 999, True),
        (Role.SUPPORT_AGENT, 1_000, False),
        (Role.MANAGER, 1_000_000, True),
        (Role.ADMIN, 1_000_000, True),
    ],
)
def test_award_limit(role, amount, allowed):
    if allowed:
        permissions.require_award(role, amount, CONFIG)
    else:
        with pytest.raises(LimitExceeded):
            permissions.require_award(role, amount, CONFIG)


def test_booking_system_may_not_award():
    with pytest.raises(Forbidden):
        permissions.require_award(Role.BOOKING_SYSTEM, 1, CONFIG)


@pytest.mark.parametrize(
    ("role", "amount", "outcome"),
    [
        (Role.MANAGER, 4_999, None),
        (Role.MANAGER, 5_000, LimitExceeded),
        (Role.ADMIN, 1_000_000, None),
        (Role.SUPPORT_AGENT, 1, Forbidden),
        (Role.BOOKING_SYSTEM, 1, Forbidden),
    ],
)
def test_deduct_limit(role, amount, outcome):
    if outcome is None:
        permissions.require_deduct(role, amount, CONFIG)
    else:
        with pytest.raises(outcome):
            permissions.require_deduct(role, amount, CONFIG)


def test_role_from_groups_prefers_the_strongest():
    assert permissions.role_from_groups(["SUPPORT_AGENT", "ADMIN"]) is Role.ADMIN
    assert permissions.role_from_groups(["other"]) is None
    assert permissions.role_from_groups(["FINANCE", "SUPPORT_AGENT"]) is Role.FINANCE
    assert permissions.role_from_groups(["FINANCE", "MANAGER"]) is Role.MANAGER
