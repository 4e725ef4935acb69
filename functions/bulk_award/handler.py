"""POST /api/crm/points/bulk-award: award points to many customers in one job (ADMIN).

The body is JSON (`{"rows": [...]}`) or CSV (`text/csv`), so this route reads it itself
rather than through the JSON body validation of the other routes; every refusal is still
§3's error format.
"""

import base64
import binascii
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import bulk_award_request_body
from crm_points.bulk import CSV_PATTERN, BulkJob
from crm_points.errors import ValidationFailed
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


def _body() -> tuple[str, str]:
    """(media type, text) of the request: API Gateway may pass the body base64-encoded."""
    event = router.current_event
    content_type = str(event.headers.get("content-type") or "")
    media_type = content_type.partition(";")[0].strip().lower()
    raw = event.body or ""
    try:
        data = base64.b64decode(raw, validate=True) if event.is_base64_encoded else raw.encode()
        return media_type, data.decode("utf-8")
    except (binascii.Error, UnicodeError):
        raise ValidationFailed("The body is not UTF-8 text", {"field": "body"}) from None


@router.post(
    "/api/crm/points/bulk-award",
    tags=["Bulk"],
    responses=api_edge.responses((202, BulkJob, "The job, accepted: GET its jobId for progress")),
    openapi_extensions={"requestBody": bulk_award_request_body(CSV_PATTERN)},
)
def bulk_award(idempotency_key: api_edge.IdempotencyKey) -> Response[BulkJob]:
    """Award points to up to 10,000 rows (BULK_OPERATIONS). A bad row fails alone in the job,
    with its reason; the other rows are awarded as POST /points/award would."""
    call = api_edge.call_of(router, idempotency_key)
    media_type, text = _body()
    submitted = api_operations.bulk_award(
        runtime().bulk_awards(with_queue=True), call, media_type, text
    )
    location = f"/api/crm/points/bulk-jobs/{submitted.answer.job_id}"
    return api_edge.answered(submitted, 202, {"Location": location})


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
