"""The API's edge: who the caller is (from the verified token) and the error format (§3).

Every domain error is mapped to its HTTP response here and nowhere else.
"""

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import Logger

from crm_points.errors import PointsError, Unauthorized
from crm_points.models import Actor
from crm_points.permissions import Role, role_from_groups

STATUS_BY_CODE = {
    "VALIDATION_ERROR": 422,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "LIMIT_EXCEEDED": 403,
    "NOT_FOUND": 404,
    "INSUFFICIENT_POINTS": 409,
    "CONFLICT": 409,
    "IDEMPOTENCY_KEY_REUSED": 422,
}

logger = Logger(service="crm-points")


@dataclass(frozen=True)
class Caller:
    """The verified subject of the request's token and its role."""

    user_id: str
    role: Role

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.user_id, role=self.role.value)


def _groups(claim: Any) -> list[str]:
    """`cognito:groups` as a list: API Gateway passes a JSON list as "[A B]"."""
    if isinstance(claim, list):
        return [str(group) for group in claim]
    if isinstance(claim, str):
        return claim.strip("[]").replace(",", " ").split()
    return []


def caller_of(app: APIGatewayHttpResolver) -> Caller:
    """The caller, from the claims the JWT authorizer verified; 401 when there are none."""
    context = app.current_event.raw_event.get("requestContext") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    subject = claims.get("sub")
    role = role_from_groups(_groups(claims.get("cognito:groups")))
    if not subject or role is None:
        raise Unauthorized("A verified token with a CRM role is required")
    return Caller(user_id=str(subject), role=role)


def request_id_of(app: APIGatewayHttpResolver) -> str:
    context = app.current_event.raw_event.get("requestContext") or {}
    return str(context.get("requestId") or "")


def error_response(
    app: APIGatewayHttpResolver, code: str, message: str, details: Any = None
) -> Response[dict[str, Any]]:
    """The §3 error body: {"error": {code, message, details}, "requestId"}."""
    return Response(
        status_code=STATUS_BY_CODE.get(code, 500),
        content_type=content_types.APPLICATION_JSON,
        body={
            "error": {"code": code, "message": message, "details": details or {}},
            "requestId": request_id_of(app),
        },
    )


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    """Map domain errors, request validation errors and unknown routes to §3's format."""

    @app.exception_handler(PointsError)
    def domain_error(error: PointsError) -> Response[dict[str, Any]]:
        return error_response(app, error.code, error.message, error.details)

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
        problems = [
            {
                "field": ".".join(str(part) for part in problem.get("loc", ())[1:]),
                "location": str(problem.get("loc", ("",))[0]),
                "message": problem.get("msg", "invalid"),
            }
            for problem in error.errors()
        ]
        return error_response(
            app, "VALIDATION_ERROR", "The request is not valid", {"errors": problems}
        )

    @app.not_found
    def unknown_route(_: Exception) -> Response[dict[str, Any]]:
        return error_response(app, "NOT_FOUND", "No such route")
