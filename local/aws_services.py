"""Stand-ins for the AWS services other than DynamoDB: SES, SNS, SQS, EventBridge, Scheduler
and S3 (finance's export files, whose links a browser on this machine can follow).

moto's server runs in this process on a free port; the functions reach it through botocore's
per-service endpoint variables, so their code is the code that runs in AWS. DynamoDB is never
pointed here: ledger correctness is checked on DynamoDB Local. Because it runs in this
process, the local stack can read what it was sent (local/outbox.py).

moto's own `ThreadedMotoServer` serves the same app (`DomainDispatcherApplication` of
`create_backend_app`) but is not used: its request handler writes an access-log line for
every request through werkzeug's logger, and the stack polls moto several times a second.
That logger is also the local API's access log (local/api_server.py), so it cannot be
silenced for moto alone; the server here leaves the line out (and stops within 0.1 s rather
than 0.5 s).
"""

import functools
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from local.dynamodb_local import LOCAL_ACCESS_KEY, REGION, free_port

# botocore reads AWS_ENDPOINT_URL_<service id>; these are the services moto stands in for.
SERVICE_IDS = ("SESV2", "SES", "SNS", "SQS", "EVENTBRIDGE", "SCHEDULER", "S3")
# moto's default account: resources created through the server live under it.
ACCOUNT_ID = "123456789012"


def _parse_each_jsonpath_once() -> None:
    """moto's EventBridge parses its targets' JSONPath expressions for every event it
    delivers, and jsonpath-ng builds its parser tables anew on every parse (about 30 ms):
    remember each expression's parse, so an event costs milliseconds, not a tenth of a second.
    A parsed path is never changed by using it."""
    import jsonpath_ng.ext  # type: ignore[import-untyped]

    if not hasattr(jsonpath_ng.ext.parse, "cache_info"):
        jsonpath_ng.ext.parse = functools.lru_cache(maxsize=512)(jsonpath_ng.ext.parse)


class AwsServices:
    """moto's server, started and stopped with the stack (or a test session)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    def start(self) -> "AwsServices":
        """Serve moto's app in a background thread (without an access log line per request:
        the stack polls it all the time)."""
        # moto is imported here: it is heavy, and only the local stack and tests need it.
        _parse_each_jsonpath_once()
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        class QuietRequestHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                pass

        self._server = make_server(
            "127.0.0.1",
            self.port,
            DomainDispatcherApplication(create_backend_app),
            threaded=True,
            request_handler=QuietRequestHandler,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="aws-stand-ins",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "AwsServices":
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The variables that point boto3 clients at these stand-ins."""
        return {f"AWS_ENDPOINT_URL_{service}": self.endpoint for service in SERVICE_IDS}

    def client(self, service: str, config: Any = None) -> Any:
        """A boto3 client for one of the stand-in services (made once, then shared: boto3's
        clients are safe to use from several threads). As boto3.Session.client, but a
        `config` (timeouts, retries, pool size for AWS) is not needed by the stand-ins."""
        import boto3

        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = boto3.client(
                    service,  # type: ignore[call-overload]
                    endpoint_url=self.endpoint,
                    region_name=REGION,
                    aws_access_key_id=LOCAL_ACCESS_KEY,
                    aws_secret_access_key=LOCAL_ACCESS_KEY,
                )
            return self._clients[service]

    def accept_senders(self, addresses: Iterable[str]) -> list[str]:
        """Make SES accept mail from these addresses: SES (and moto's) wants a verified
        identity, and verifying an address's domain covers every address of it. The domains
        verified."""
        sesv2 = self.client("sesv2")
        domains = sorted({address.rpartition("@")[2].lower() for address in addresses if address})
        existing = {
            identity["IdentityName"]
            for identity in sesv2.list_email_identities().get("EmailIdentities", [])
        }
        for domain in domains:
            if domain not in existing:
                sesv2.create_email_identity(EmailIdentity=domain)
        return domains
