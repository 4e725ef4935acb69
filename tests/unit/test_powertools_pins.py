"""What crm_points.api_edge relies on inside Powertools, beyond its public API: the resolver's
`_request_validation_middleware` attribute (which the router uses when set) and the
middleware's `_get_body(app)`, which api_edge._JsonBodyValidation overrides to take JSON bodies
only. An upgrade that renames or reshapes either fails here, by name, before any request
test fails in a way that is hard to read."""

import inspect

from aws_lambda_powertools.event_handler import api_gateway
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from crm_points import api_edge


def test_the_resolver_takes_the_validation_middleware_it_is_given():
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    app = api_edge.resolver(router)
    middleware = app._request_validation_middleware
    assert isinstance(middleware, OpenAPIRequestValidationMiddleware)
    assert type(middleware) is not OpenAPIRequestValidationMiddleware  # ours, JSON only
    # The router uses the resolver's middleware when it has one, rather than making its own.
    source = inspect.getsource(api_gateway)
    assert 'hasattr(app, "_request_validation_middleware")' in source
    assert "all_middlewares.append(app._request_validation_middleware)" in source


def test_the_body_reader_we_override_is_still_there_with_its_shape():
    body_reader = OpenAPIRequestValidationMiddleware._get_body
    assert list(inspect.signature(body_reader).parameters) == ["self", "app"]
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    ours = type(api_edge.resolver(router)._request_validation_middleware)
    assert ours._get_body is not body_reader
    assert list(inspect.signature(ours._get_body).parameters) == ["self", "app"]
