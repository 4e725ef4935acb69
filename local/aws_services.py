"""Stand-ins for the AWS services other than DynamoDB: SES, SNS, SQS, EventBridge, Scheduler.

moto's server runs in this process on a free port (or `AWS_SERVICES_PORT`); the functions
reach it through botocore's per-service endpoint variables, so their code is the code that
runs in AWS. DynamoDB is never pointed here: ledger correctness is checked on DynamoDB Local.
"""

from types import TracebackType
from typing import Any

from local.dynamodb_local import LOCAL_ACCESS_KEY, REGION, free_port

# botocore reads AWS_ENDPOINT_URL_<service id>; these are the services moto stands in for.
SERVICE_IDS = ("SESV2", "SES", "SNS", "SQS", "EVENTBRIDGE", "SCHEDULER")
# moto's default account: resources created through the server live under it.
ACCOUNT_ID = "123456789012"


class AwsServices:
    """moto's server, started and stopped with the stack (or a test session)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: Any = None

    def start(self) -> "AwsServices":
        # moto is imported here: it is heavy, and only the local stack and tests need it.
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

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

    def client(self, service: str) -> Any:
        """A boto3 client for one of the stand-in services."""
        import boto3

        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=LOCAL_ACCESS_KEY,
            aws_secret_access_key=LOCAL_ACCESS_KEY,
        )
