"""The API's edge: who the caller is (from the verified token) and the error format (§3).

Every domain error is mapped to its HTTP response here and nowhere else.
"""

import json
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from crm_points import metrics
from crm_points.api_models import ErrorResponse, PointsTransactionResponse
from crm_points.api_operations import Call
from crm_points.errors import PointsError, Unauthorized
from crm_points.logs import logger
from crm_points.permissions import Role, is_caller_subject, role_from_groups
from crm_points.records import Approval, PostingResult
from crm_points.transactions import Idempotent

_M = TypeVar("_M", bound=BaseModel)

# Every POST carries one (SPEC §2.9): a replay with the same key answers as the first time.
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="A key of the caller's choosing, new for every distinct request",
    ),
]

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

CSV = "text/csv"

# A machine client of the booking system (Cognito client credentials) has no groups; its
# token carries this OAuth scope instead.
BOOKING_SYSTEM_SCOPE = "crm-points/booking-system"


def _groups(claim: Any) -> list[str]:
    """`cognito:groups` exactly as API Gateway's JWT authorizer passes a list claim: "[A B]",
    the groups separated by one space (a Cognito group name has no whitespace). Anything
    else ("ADMIN", "A,B", " [ADMIN]", a list) names no group."""
    if not isinstance(claim, str) or not (claim.startswith("[") and claim.endswith("]")):
        return []
    inner = claim[1:-1]
    groups = inner.split(" ") if inner else []
    return groups if all(groups) else []


def _subject(claims: dict[str, Any]) -> str | None:
    subject = claims.get("sub")
    return subject if isinstance(subject, str) and is_caller_subject(subject) else None


def _role(claims: dict[str, Any]) -> Role | None:
    role = role_from_groups(_groups(claims.get("cognito:groups")))
    if role is None and BOOKING_SYSTEM_SCOPE in str(claims.get("scope", "")).split():
        return Role.BOOKING_SYSTEM
    return role


def _request_time(context: dict[str, Any]) -> datetime:
    """When API Gateway received the request (`requestContext.timeEpoch`, milliseconds): the
    request's "now", the same for every step of it. The machine's clock where it is absent."""
    epoch = context.get("timeEpoch")
    if isinstance(epoch, int) and not isinstance(epoch, bool) and 0 < epoch < 253_402_300_800_000:
        return datetime.fromtimestamp(epoch / 1000, UTC)
    return datetime.now(UTC)


def call_of(router: BaseRouter, idempotency_key: str = "") -> Call:
    """The call as the verified token tells it: subject and role; 401 without them."""
    raw = router.current_event.raw_event
    context = raw.get("requestContext") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    subject = _subject(claims)
    role = _role(claims)
    scheme = str(router.current_event.headers.get("authorization") or "").partition(" ")[0]
    # API Gateway also takes a token without its scheme; the API's contract is the scheme.
    if scheme.lower() != "bearer" or subject is None or role is None:
        raise Unauthorized("A verified token with a CRM role is required")
    return Call(
        user_id=subject,
        role=role,
        now=_request_time(context),
        request_id=str(context.get("requestId") or ""),
        idempotency_key=idempotency_key,
        account_id=str(context.get("accountId") or ""),
    )


class _JsonBodyValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, for an API whose bodies are JSON only. Powertools would
    also parse form and multipart bodies, and fail (a 500) on a multipart type without a
    boundary or on a body that is not UTF-8; here those are VALIDATION_ERRORs."""

    def _get_body(self, app: Any) -> dict[str, Any]:
        content_type = str(app.current_event.headers.get("content-type") or "")
        media_type = content_type.partition(";")[0].strip().lower()
        try:
            text = app.current_event.decoded_body
        except UnicodeDecodeError:
            raise _invalid_body("The body is not UTF-8") from None
        # A body must say it is JSON: one sent without a Content-Type (or as text/plain, as
        # a cross-site form can) is refused, not guessed at.
        if (text or media_type) and media_type != content_types.APPLICATION_JSON:
            message = f"Unsupported content type: {media_type or 'none'}"
            raise RequestUnsupportedContentType(
                message, errors=[{"loc": ("body",), "msg": message}]
            )
        if not text:
            return super()._get_body(app)
        try:
            body = json.loads(text, object_pairs_hook=_without_repeated_keys)
        except json.JSONDecodeError as error:
            raise _invalid_body(f"The body is not JSON: {error.msg}") from None
        except _RepeatedKey as repeated:
            raise _invalid_body(f"The key {repeated} appears more than once") from None
        except RecursionError:
            raise _invalid_body("The body is nested too deeply") from None
        if body is None:  # `null`: no body, as the optional bodies allow
            return super()._get_body(app)
        if not isinstance(body, dict):
            raise _invalid_body("The body must be a JSON object")
        return body


class _RepeatedKey(Exception):
    """A JSON object with one key twice: which value was meant is not ours to guess."""


def _without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in pairs:
        if key in body:
            raise _RepeatedKey(json.dumps(key))
        body[key] = value
    return body


def _invalid_body(message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": message}])


def resolver(router: APIGatewayHttpRouter) -> APIGatewayHttpResolver:
    """The function's app: its routes, request validation, and §3's error format."""
    app = APIGatewayHttpResolver(enable_validation=True)
    app._request_validation_middleware = _JsonBodyValidation()
    app.include_router(router)
    install_error_handlers(app)
    return app


_ERRORS = {
    401: "No valid token, or no CRM role in it",
    403: "FORBIDDEN or LIMIT_EXCEEDED",
    404: "NOT_FOUND",
    409: "INSUFFICIENT_POINTS or CONFLICT",
    422: "VALIDATION_ERROR or IDEMPOTENCY_KEY_REUSED",
}


def responses(
    *answers: tuple[int, type[BaseModel], str], csv: bool = False
) -> dict[int, OpenAPIResponse]:
    """A route's documented answers: its successes (also as CSV, for `Accept: text/csv`,
    with `csv`), and §3's error format for every error."""
    documented: dict[int, OpenAPIResponse] = {}
    for status, model, text in answers:
        documented[status] = {
            "description": text,
            "content": {"application/json": {"model": model}},
        }
        if csv:
            documented[status]["content"][CSV] = {"schema": {"type": "string"}}
    for status, text in _ERRORS.items():
        documented[status] = {
            "description": text,
            "content": {"application/json": {"model": ErrorResponse}},
        }
    return documented


def wants_csv(router: BaseRouter) -> bool:
    """The caller asked for CSV (`Accept: text/csv`); JSON otherwise."""
    accept = str(router.current_event.headers.get("accept") or "")
    return any(part.split(";")[0].strip().lower() == CSV for part in accept.split(","))


def csv_answer(text: str, filename: str) -> Response[Any]:
    """200 with a CSV document, offered to a browser as a download named `filename`."""
    return Response(
        status_code=200,
        content_type=f"{CSV}; charset=utf-8",
        body=text,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def written(result: PostingResult) -> Response[Any]:
    """A ledger write's answer: 201 with the entries; a replay answers the same, and says
    so in the `Idempotent-Replayed` header."""
    return answered(Idempotent(PointsTransactionResponse.of(result), result.replayed))


def answered(
    write: Idempotent[_M], status: int = 201, headers: dict[str, str] | None = None
) -> Response[_M]:
    """An idempotent write's answer, the same for a replay, which `Idempotent-Replayed` tells."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=write.answer,
        headers={**(headers or {}), "Idempotent-Replayed": "true" if write.replayed else "false"},
    )


def accepted(approval: Idempotent[Approval]) -> Response[Any]:
    """202: the request waits for an approval."""
    return answered(approval, 202)


def request_id_of(app: BaseRouter) -> str:
    context = app.current_event.raw_event.get("requestContext") or {}
    return str(context.get("requestId") or "")


def error_response(
    app: BaseRouter, code: str, message: str, details: Any = None
) -> Response[dict[str, Any]]:
    """The §3 error body: {"error": {code, message, details}, "requestId"}.

    A refusal (4xx) is logged here, once, at INFO with its code: the caller's mistake or
    lack of permission is worth finding, not worth paging anyone. Faults log themselves.
    """
    status = STATUS_BY_CODE.get(code, 500)
    if status < 500:
        logger.info("request refused", extra={"status": status, "code": code})
    return Response(
        status_code=status,
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
        if error.code not in STATUS_BY_CODE:  # an INTERNAL error is a fault like any other
            return answer_fault()
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

    @app.exception_handler(RequestUnsupportedContentType)
    def not_json(_: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
        return error_response(
            app, "VALIDATION_ERROR", "The body must be JSON (Content-Type: application/json)"
        )

    def answer_fault() -> Response[dict[str, Any]]:
        # A fault of ours or of AWS, never of the input: logged in full at ERROR (called
        # while the exception is handled), answered without a trace. The answer is a 500
        # that Lambda counts as a success, so the fault is counted here (ApiFaults), where
        # an alarm watches it.
        logger.exception("Unhandled fault")
        metrics.count(metrics.API_FAULTS)
        return error_response(app, "INTERNAL", "Something went wrong; try again later")

    @app.exception_handler(Exception)
    def fault(_: Exception) -> Response[dict[str, Any]]:
        return answer_fault()

    @app.not_found
    def unknown_route(_: Exception) -> Response[dict[str, Any]]:
        return error_response(app, "NOT_FOUND", "No such route")
