"""The tests whose expectations come from today's date hold on any day of the year.

They are run again, each in a pytest of its own, as of three awkward moments (LOCAL_NOW,
local/clock.py: the API's requests, the local stack, the demo data and the browser's clock
all start there): a single-digit day (whose year-and-90-days is one too, the day a lot is
extended to in the browser test), a month's last evening, and 29 February just after midnight
in Africa/Johannesburg, when UTC still says 28 February.
"""

import os
import subprocess
import sys

from tests.api import ROOT

AWKWARD_MOMENTS = (
    "2027-01-08T09:00:00+02:00",
    "2027-01-31T23:30:00+02:00",
    "2028-02-29T00:30:00+02:00",
)
# The tests that read today's date: the console's dates and the widget's summary, the API
# flows with expiry days, the analytics of the current month.
DATED_TESTS = (
    "tests/browser/test_history_and_actions.py",
    "tests/browser/test_console.py",
    "tests/integration/test_api_flows.py",
    "tests/integration/test_analytics.py",
)


def test_the_dated_tests_pass_on_awkward_days() -> None:
    runs = {
        moment: subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DATED_TESTS],
            cwd=ROOT,
            env={**os.environ, "LOCAL_NOW": moment},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for moment in AWKWARD_MOMENTS
    }
    failed = {}
    for moment, run in runs.items():
        output, _ = run.communicate(timeout=900)
        if run.returncode != 0:
            failed[moment] = output[-4000:]
    assert failed == {}, "\n\n".join(f"as of {m}:\n{out}" for m, out in failed.items())
