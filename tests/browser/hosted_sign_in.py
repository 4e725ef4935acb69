"""Stand-ins for what serves the console in AWS, for the browser tests of its Cognito sign-in.

- `HostedSignIn`: the part of a Cognito user pool's hosted sign-in the console uses, held to
  the OAuth 2.0 rules Cognito applies to a public client: /oauth2/authorize (response_type
  code, the registered client and redirect URI, PKCE S256 required) shows a sign-in page;
  signing in returns to the redirect URI with a one-time code and the state; /oauth2/token
  trades the code (same redirect URI, a code_verifier whose SHA-256 is the challenge) or a
  refresh token for tokens; /logout (the registered logout URI) returns there. Its access
  tokens carry what Cognito's do (sub, cognito:groups, username, client_id, scope, token_use)
  and are signed as the local API verifies them (local/token.py), so the local stack's API
  accepts them as the deployed API accepts Cognito's.
- `StaticSite`: the console's files as `make console-deploy` lays them out in the bucket
  (deploy/console.py), served as CloudFront serves them (`/` is index.html).
"""

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jwt
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from deploy.console import ConsoleFile
from local.api_server import QuietRequestHandler
from local.token import ALGORITHM, signing_secret

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class _Server:
    """A WSGI app served on a free loopback port in a thread."""

    def __init__(self, app: "WSGIApplication") -> None:
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


@dataclass
class _Grant:
    user: str
    challenge: str
    redirect_uri: str


@dataclass
class HostedSignIn:
    """A user pool's hosted sign-in for one public app client."""

    client_id: str
    redirect_uri: str
    allowed_origin: str
    users: Mapping[str, tuple[str, ...]]  # e-mail -> groups
    token_minutes: float = 60
    refreshes: int = 0
    sign_outs: int = 0
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _refresh_tokens: dict[str, str] = field(default_factory=dict)
    _server: _Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return self._server.url

    def start(self) -> "HostedSignIn":
        self._server = _Server(self._wsgi)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def _wsgi(self, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        request = Request(environ)
        routes = {
            ("GET", "/oauth2/authorize"): self._authorize,
            ("POST", "/login"): self._login,
            ("POST", "/oauth2/token"): self._token,
            ("GET", "/logout"): self._logout,
        }
        handler = routes.get((request.method, request.path))
        response = handler(request) if handler else Response("not found", status=404)
        return response(environ, start_response)

    def _refusal(self, error: str, status: int = 400) -> Response:
        response = Response(f'{{"error": "{error}"}}', status=status, mimetype="application/json")
        response.headers["Access-Control-Allow-Origin"] = self.allowed_origin
        return response

    def _authorize(self, request: Request) -> Response:
        query = request.args
        if (
            query.get("client_id") != self.client_id
            or query.get("redirect_uri") != self.redirect_uri
        ):
            return Response("unknown client or redirect_uri", status=400)
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return Response("a public client must use the code flow with PKCE S256", status=400)
        if "openid" not in query.get("scope", "").split() or not query.get("code_challenge"):
            return Response("scope openid and a code_challenge are required", status=400)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(query.get(name, ""))}">'
            for name in ("state", "code_challenge", "redirect_uri")
        )
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title>'
            '<link rel="icon" href="data:,"></head><body><form method="post" action="/login">'
            f'{hidden}<label>Email <input name="username" type="email" required></label>'
            '<button type="submit">Sign in with Cognito</button></form></body></html>'
        )
        return Response(page, mimetype="text/html")

    def _login(self, request: Request) -> Response:
        form = request.form
        if form.get("username") not in self.users:
            return Response("Incorrect username or password.", status=400)
        code = secrets.token_urlsafe(16)
        self._codes[code] = _Grant(form["username"], form["code_challenge"], form["redirect_uri"])
        target = f"{form['redirect_uri']}?{urlencode({'code': code, 'state': form['state']})}"
        return Response(status=302, headers={"Location": target})

    def _token(self, request: Request) -> Response:
        form = request.form
        if form.get("client_id") != self.client_id:
            return self._refusal("invalid_client", 401)
        if form.get("grant_type") == "authorization_code":
            grant = self._codes.pop(form.get("code", ""), None)  # a code is good once
            verifier = form.get("code_verifier", "").encode()
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if grant is None or grant.redirect_uri != form.get("redirect_uri"):
                return self._refusal("invalid_grant")
            if challenge.decode() != grant.challenge:
                return self._refusal("invalid_grant")
            refresh_token = secrets.token_urlsafe(24)
            self._refresh_tokens[refresh_token] = grant.user
            return self._tokens(grant.user, refresh_token)
        if form.get("grant_type") == "refresh_token":
            user = self._refresh_tokens.get(form.get("refresh_token", ""))
            if user is None:
                return self._refusal("invalid_grant")
            self.refreshes += 1
            return self._tokens(user, None)
        return self._refusal("unsupported_grant_type")

    def _tokens(self, user: str, refresh_token: str | None) -> Response:
        now = int(time.time())
        expires = now + int(self.token_minutes * 60)
        subject = f"sub-{hashlib.sha256(user.encode()).hexdigest()[:12]}"
        common: dict[str, Any] = {"sub": subject, "iat": now, "exp": expires}
        groups = list(self.users[user])
        access: dict[str, Any] = {
            **common,
            "token_use": "access",
            "client_id": self.client_id,
            "username": subject,
            "scope": "openid email profile",
        }
        identity: dict[str, Any] = {
            **common,
            "token_use": "id",
            "aud": self.client_id,
            "email": user,
        }
        if groups:
            access["cognito:groups"] = identity["cognito:groups"] = groups
        body: dict[str, Any] = {
            "access_token": jwt.encode(access, signing_secret(), algorithm=ALGORITHM),
            "id_token": jwt.encode(identity, signing_secret(), algorithm=ALGORITHM),
            "token_type": "Bearer",
            "expires_in": expires - now,
        }
        if refresh_token:
            body["refresh_token"] = refresh_token
        response = Response(json.dumps(body), mimetype="application/json")
        response.headers["Access-Control-Allow-Origin"] = self.allowed_origin
        return response

    def _logout(self, request: Request) -> Response:
        if request.args.get("client_id") != self.client_id:
            return Response("unknown client", status=400)
        if request.args.get("logout_uri") != self.redirect_uri:
            return Response("logout_uri is not one of the client's sign-out URLs", status=400)
        self.sign_outs += 1
        return Response(status=302, headers={"Location": self.redirect_uri})


class StaticSite:
    """Files by key, as CloudFront serves the console's bucket. Its URL is known before
    the files are given (`publish`): the console's settings name it."""

    def __init__(self) -> None:
        self.files: dict[str, ConsoleFile] = {}
        self._server = _Server(self._wsgi)

    def publish(self, files: Iterable[ConsoleFile]) -> None:
        self.files = {file.key: file for file in files}

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> "StaticSite":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _wsgi(self, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        request = Request(environ)
        key = request.path.lstrip("/") or "index.html"
        file = self.files.get(key)
        if file is None:
            response = Response("not found", status=404)
        else:
            response = Response(file.body, headers={"Content-Type": file.content_type})
        return response(environ, start_response)
