"""What every Lambda handler is wrapped in: the shared logger with the invocation's context
and correlation id, and the metrics flushed when it ends (also when it raises).

- `api`: the API Gateway request id (`requestContext.requestId`, also in the error body and
  the access log);
- `event`: the EventBridge event's `id`;
- `scheduled`: the Scheduler's `executionId` (the same for every retry of one run);
- `batch`: SQS and stream consumers, whose handlers set the id per record themselves
  (`logger.set_correlation_id`: the message id, the record's sequence number).
"""

from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools.logging import correlation_paths

from crm_points.logs import logger
from crm_points.metrics import metrics

_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def _observed(handler: _Handler, correlation_id_path: str | None) -> _Handler:
    # Cold starts are counted (`ColdStart`, by function name): they are what the layer's
    # import time costs, and the first place a slow import shows.
    flushed = metrics.log_metrics(capture_cold_start_metric=True)(handler)
    # clear_state: nothing an invocation appended (its correlation id included) is logged
    # with the next one in the same execution environment.
    return cast(
        _Handler,
        logger.inject_lambda_context(
            flushed, correlation_id_path=correlation_id_path, clear_state=True
        ),
    )


def api(handler: _Handler) -> _Handler:
    """An API Gateway HTTP API (payload v2) handler."""
    return _observed(handler, correlation_paths.API_GATEWAY_HTTP)


def event(handler: _Handler) -> _Handler:
    """An EventBridge rule's target."""
    return _observed(handler, correlation_paths.EVENT_BRIDGE)


def scheduled(handler: _Handler) -> _Handler:
    """An EventBridge Scheduler target (crm_points.incoming_events.ScheduledRun)."""
    return _observed(handler, "executionId")


def batch(handler: _Handler) -> _Handler:
    """An SQS or DynamoDB stream consumer; it sets the correlation id of each record."""
    return _observed(handler, None)
