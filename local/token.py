"""Tokens for the local API (SPEC §11): HS256 JWTs signed with `LOCAL_JWT_SECRET`.

    python -m local.token --role MANAGER --user alice [--minutes 60]

(`make token ROLE=MANAGER USER=alice`.) It prints the token alone, so that
`curl -H "Authorization: Bearer $(make -s token)" ...` works. The claims mimic a Cognito access
token: `sub`, `cognito:groups` (a list holding the role), `exp`, `iat`, `iss`, `token_use`.

These tokens exist only on this machine: the deployed API verifies Cognito's RS256 tokens.
"""

import argparse
import os
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import timedelta

import jwt

import local.paths  # noqa: F401  (puts crm_points on the path)
from crm_points.permissions import Role, is_caller_subject

DEFAULT_SECRET = "local-dev-secret"  # noqa: S105  (SPEC §11's documented local default)
ALGORITHM = "HS256"
ISSUER = "crm-points-local"

# Cognito's longest access-token validity: the local server refuses a token meant to last
# longer (local/api_server.py), as none of Cognito's would.
MAX_TOKEN_LIFETIME = timedelta(days=1)
MAX_MINUTES = int(MAX_TOKEN_LIFETIME.total_seconds() // 60)

# SPEC §11's default secret is 16 bytes; PyJWT warns on every use of an HMAC key under 32.
# A local development token guards nothing, so the warning is noise here.
warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)


def signing_secret() -> str:
    """The signing secret: `LOCAL_JWT_SECRET`, or the documented default."""
    return os.environ.get("LOCAL_JWT_SECRET") or DEFAULT_SECRET


def make_token(role: str, user: str, secret: str | None = None, minutes: float = 60) -> str:
    """A signed token for `user` in the group `role`, valid for `minutes` from now.

    The role must be one of crm_points.permissions.Role (ValueError otherwise); a negative
    `minutes` makes an already expired token (the tests use it).
    """
    if role not in Role.__members__:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(Role.__members__)}")
    if not is_caller_subject(user):
        raise ValueError(f"{user!r} is not a subject the API takes (crm_points.permissions)")
    now = int(time.time())
    claims = {
        "sub": user,
        "cognito:groups": [role],
        "iss": ISSUER,
        "token_use": "access",
        "iat": now,
        "exp": now + int(minutes * 60),
    }
    return jwt.encode(claims, secret or signing_secret(), algorithm=ALGORITHM)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.token",
        description="Print a token for the local API (signed HS256 with LOCAL_JWT_SECRET).",
    )
    parser.add_argument("--role", required=True, choices=list(Role.__members__))
    parser.add_argument("--user", required=True, help="the token's subject (sub)")
    parser.add_argument("--minutes", type=float, default=60, help="validity (default 60)")
    arguments = parser.parse_args(argv)
    if not is_caller_subject(arguments.user):
        parser.error(
            f"--user {arguments.user!r} is not a subject the API takes: letters, digits and "
            ". _ @ + - (starting with a letter or digit), not 'system'"
        )
    if not 0 < arguments.minutes <= MAX_MINUTES:
        parser.error(f"--minutes must be more than 0 and at most {MAX_MINUTES} (a day)")
    print(make_token(arguments.role, arguments.user, minutes=arguments.minutes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
