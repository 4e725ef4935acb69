"""CORS of the local API, as API Gateway applies the HTTP API's `CorsConfiguration`.

The headers, methods, exposed headers and max age are the template's (`CrmApi`'s
CorsConfiguration, the object inside its `!If`). The deployed API allows the console's
CloudFront origin and the `WidgetOrigins` parameter; on this machine those do not exist, so
the local API allows any loopback origin (`http://127.0.0.1:<port>`, `http://localhost:<port>`,
`http://[::1]:<port>`: a CRM app or a page served by a dev server on this machine) and the
origins listed in `LOCAL_CORS_ORIGINS` (comma-separated).

Like API Gateway: a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
is answered 204 by the API itself, without the authorizer or a function; an origin, method
or header not allowed gets a 204 without CORS headers (the browser then refuses). Other
responses to an allowed origin carry `Access-Control-Allow-Origin` (the origin itself) and
`Access-Control-Expose-Headers`.
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from local.template import load_template

_LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?$")


def _configuration(template: Mapping[str, Any]) -> Mapping[str, Any]:
    """The CorsConfiguration object of the template's HttpApi (inside an `!If` if any)."""
    for resource in (template.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        configuration = (resource.get("Properties") or {}).get("CorsConfiguration")
        if isinstance(configuration, Mapping) and "Fn::If" in configuration:
            configuration = configuration["Fn::If"][1]
        if isinstance(configuration, Mapping):
            return configuration
    return {}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


@dataclass(frozen=True)
class CorsRules:
    """What the API allows a page of another origin to do."""

    allow_headers: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    extra_origins: tuple[str, ...] = ()

    @classmethod
    def from_template(
        cls, template: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> "CorsRules":
        """The template's rules, with `LOCAL_CORS_ORIGINS` as the origins besides loopback."""
        configuration = _configuration(template if template is not None else load_template())
        listed = (environ if environ is not None else os.environ).get("LOCAL_CORS_ORIGINS", "")
        max_age = configuration.get("MaxAge")
        return cls(
            allow_headers=_strings(configuration.get("AllowHeaders")),
            allow_methods=tuple(
                method.upper() for method in _strings(configuration.get("AllowMethods"))
            ),
            expose_headers=_strings(configuration.get("ExposeHeaders")),
            max_age=int(max_age) if isinstance(max_age, int) else None,
            extra_origins=tuple(origin.strip() for origin in listed.split(",") if origin.strip()),
        )

    def allows_origin(self, origin: str) -> bool:
        return bool(_LOOPBACK.match(origin)) or origin in self.extra_origins

    def preflight(self, request: Request) -> Response | None:
        """The answer to a CORS preflight; None when `request` is not one."""
        origin = request.headers.get("Origin")
        method = request.headers.get("Access-Control-Request-Method")
        if request.method != "OPTIONS" or not origin or not method:
            return None
        response = Response(status=204)
        del response.headers["Content-Type"]
        asked = [
            header.strip().lower()
            for header in request.headers.get("Access-Control-Request-Headers", "").split(",")
            if header.strip()
        ]
        allowed_headers = {header.lower() for header in self.allow_headers}
        if (
            self.allows_origin(origin)
            and method.upper() in self.allow_methods
            and all(header in allowed_headers for header in asked)
        ):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = ",".join(self.allow_methods)
            response.headers["Access-Control-Allow-Headers"] = ",".join(self.allow_headers)
            if self.max_age is not None:
                response.headers["Access-Control-Max-Age"] = str(self.max_age)
        response.headers["Vary"] = "Origin"
        return response

    def decorate(self, request: Request, response: Response) -> None:
        """Add the CORS headers an allowed origin's (non-preflight) request gets."""
        origin = request.headers.get("Origin")
        if not origin or not self.allows_origin(origin):
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        if self.expose_headers:
            response.headers["Access-Control-Expose-Headers"] = ",".join(self.expose_headers)
        response.headers.add("Vary", "Origin")
