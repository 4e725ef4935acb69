"""The local API's CORS (local/cors.py): the template's rules, loopback origins allowed."""

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from local.cors import CorsRules
from local.template import load_template


@pytest.fixture(scope="module")
def rules() -> CorsRules:
    return CorsRules.from_template(load_template(), {"LOCAL_CORS_ORIGINS": "https://crm.test"})


def _request(method: str, headers: dict[str, str]) -> Request:
    return Request(
        EnvironBuilder(
            path="/api/crm/points/award", method=method, headers=list(headers.items())
        ).get_environ()
    )


def test_the_rules_are_the_templates(rules: CorsRules) -> None:
    cors = load_template()["Resources"]["CrmApi"]["Properties"]["CorsConfiguration"]["Fn::If"][1]
    assert rules.allow_headers == tuple(cors["AllowHeaders"])
    assert rules.allow_methods == tuple(cors["AllowMethods"])
    assert rules.expose_headers == tuple(cors["ExposeHeaders"])
    assert rules.max_age == cors["MaxAge"]


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:5173", "http://localhost:3000", "http://[::1]:8080", "https://crm.test"],
)
def test_a_preflight_from_an_allowed_origin_is_answered_with_the_rules(
    rules: CorsRules, origin: str
) -> None:
    asked = _request(
        "OPTIONS",
        {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )
    answer = rules.preflight(asked)
    assert answer is not None
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    assert (
        answer.headers["Access-Control-Allow-Headers"]
        == "Authorization,Content-Type,Idempotency-Key"
    )
    assert answer.headers["Access-Control-Allow-Methods"] == "GET,POST,PUT"
    assert answer.headers["Access-Control-Max-Age"] == "600"


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        ("https://elsewhere.example", "POST", "authorization"),  # an origin not listed
        ("http://127.0.0.1.evil.example", "GET", ""),  # not loopback, whatever it starts with
        ("http://127.0.0.1:5173", "DELETE", ""),  # a method not allowed
        ("http://127.0.0.1:5173", "POST", "authorization,x-debug"),  # a header not allowed
    ],
)
def test_a_preflight_outside_the_rules_gets_no_cors_headers(
    rules: CorsRules, origin: str, method: str, headers: str
) -> None:
    asked = _request(
        "OPTIONS",
        {
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )
    answer = rules.preflight(asked)
    assert answer is not None
    assert answer.status_code == 204
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_requests_that_are_not_preflights_go_to_the_routes(rules: CorsRules) -> None:
    assert rules.preflight(_request("OPTIONS", {})) is None  # no Origin: an ordinary OPTIONS
    assert rules.preflight(_request("POST", {"Origin": "http://127.0.0.1:5173"})) is None


def test_an_answer_to_an_allowed_origin_names_it_and_exposes_the_request_id(
    rules: CorsRules,
) -> None:
    answer = Response("{}", status=201)
    rules.decorate(_request("POST", {"Origin": "http://localhost:5173"}), answer)
    assert answer.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert answer.headers["Access-Control-Expose-Headers"] == "apigw-requestid"
    other = Response("{}", status=201)
    rules.decorate(_request("POST", {"Origin": "https://elsewhere.example"}), other)
    assert "Access-Control-Allow-Origin" not in other.headers
