"""What the local stack would have sent: the e-mails (SES v2) and SMS (SNS to a phone number)
the functions sent to the stand-ins (SPEC §11, `GET /local/outbox`).

moto keeps what it was sent in its backends, in this process (it runs here, see
local/aws_services.py), without a time. The outbox reads them after every invocation and on
every request, so `sentAt` is when the local stack saw the message: the end of the invocation
that sent it. Messages sent before the outbox was made (another stack in the same process,
an earlier test) are not its own and are left out.
"""

import email
import email.policy
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local.dynamodb_local import REGION
from local.resources import ACCOUNT_ID


@dataclass(frozen=True)
class OutboxMessage:
    channel: str  # "email" | "sms"
    to: str
    subject: str | None
    body: str
    sent_at: str

    def as_json(self) -> dict[str, Any]:
        shaped: dict[str, Any] = {"channel": self.channel, "to": self.to}
        if self.channel == "email":
            shaped["subject"] = self.subject
        shaped.update(body=self.body, sentAt=self.sent_at)
        return shaped


def _ses_sent() -> list[Any]:
    from moto.ses.models import ses_backends

    sent: list[Any] = ses_backends[ACCOUNT_ID][REGION].sent_messages
    return sent


def _sns_sms() -> list[tuple[str, str]]:
    from moto.sns.models import sns_backends

    return list(sns_backends[ACCOUNT_ID][REGION].sms_messages.values())


def _email(message: Any) -> tuple[str, str | None, str]:
    """(to, subject, body) of a sent SES message, simple or raw."""
    if hasattr(message, "raw_data"):
        parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
        part = parsed.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        to = ", ".join(message.destinations) or str(parsed.get("To", ""))
        return to, str(parsed.get("Subject", "")), str(body)
    destinations = getattr(message, "destinations", {}) or {}
    to = ", ".join(
        address
        for kind in ("ToAddresses", "CcAddresses", "BccAddresses")
        for address in destinations.get(kind, [])
    )
    return to, getattr(message, "subject", None), str(getattr(message, "body", ""))


class Outbox:
    """The messages sent since it was made, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[OutboxMessage] = []
        self._emails_seen = len(_ses_sent())
        self._sms_seen = len(_sns_sms())

    def collect(self, *_: Any) -> None:
        """Take in what the stand-ins were sent since the last look (any arguments are
        ignored: it is called after each invocation with the invocation)."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self._lock:
            emails = _ses_sent()
            for message in emails[self._emails_seen :]:
                to, subject, body = _email(message)
                self._messages.append(OutboxMessage("email", to, subject, body, now))
            self._emails_seen = len(emails)
            texts = _sns_sms()
            for phone, text in texts[self._sms_seen :]:
                self._messages.append(OutboxMessage("sms", phone, None, text, now))
            self._sms_seen = len(texts)

    def messages(self) -> list[dict[str, Any]]:
        self.collect()
        with self._lock:
            return [message.as_json() for message in self._messages]
