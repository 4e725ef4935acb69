"""`make redrive QUEUE=BookingEventsDeadLetters [DRY_RUN=1]`: replay a dead-letter queue of
the running local stack through the same idempotent paths (deploy.redrive; in AWS,
`python -m deploy.redrive --stack … --queue …`). Prints what was replayed and what was left
in the queue with its reason; exits 1 when a message was left."""

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from deploy.redrive import QUEUES
from local.run import read_stack, shown, stack_file


def run(argv: Sequence[str] | None = None) -> int:
    """Ask the running stack to redrive a queue; the exit status says whether all went."""
    parser = argparse.ArgumentParser(prog="python -m local.redrive")
    parser.add_argument("queue", choices=sorted(QUEUES))
    parser.add_argument("--dry-run", action="store_true", help="show what it would do")
    args = parser.parse_args(argv)
    stack = read_stack()
    if stack is None:
        print(f"The local stack is not running (no live {shown(stack_file())}).", file=sys.stderr)
        return 2
    body = json.dumps({"queue": args.queue, "dryRun": args.dry_run}).encode()
    asked = urllib.request.Request(  # noqa: S310  (the local stack's own http URL)
        f"{stack['apiUrl']}/local/redrive",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(asked, timeout=600) as answer:  # noqa: S310
            outcome = json.load(answer)
    except urllib.error.HTTPError as refused:
        print(refused.read().decode(), file=sys.stderr)
        return 1
    print(json.dumps(outcome, indent=2))
    return 1 if outcome["refused"] else 0


if __name__ == "__main__":
    sys.exit(run())
