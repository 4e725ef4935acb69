"""Bulk awards without AWS: reading JSON and CSV bodies, checking rows, the job's status
rules, messages and their batches."""

import re
from datetime import UTC, datetime

import pytest

from crm_points.bulk import (
    CSV_PATTERN,
    MAX_ROWS,
    ROWS_PER_MESSAGE,
    BulkJob,
    BulkRow,
    JobRecord,
    JobStatus,
    SubmittedRow,
    check_row,
    chunks,
    read_rows,
)
from crm_points.bulk_store import batches, decode_row_cursor, encode_row_cursor
from crm_points.errors import ValidationFailed
from crm_points.records import Actor

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ADMIN = Actor(user_id="admin-1", role="ADMIN")


def refused(media_type: str, text: str) -> str:
    with pytest.raises(ValidationFailed) as error:
        read_rows(media_type, text)
    return error.value.message


def test_json_rows_keep_their_fields_as_sent():
    rows = read_rows(
        "application/json",
        '{"rows": [{"customerId": "c1", "amount": 5, "reason": "Bonus"}, {"x": 1}]}',
    )
    assert [(row.number, row.values) for row in rows] == [
        (1, {"customerId": "c1", "amount": 5, "reason": "Bonus"}),
        (2, {"x": 1}),
    ]
    assert read_rows("application/json", '{"rows": [{}]}')[0].values == {}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nope",
        "[]",
        '{"rows": []}',
        '{"rows": null}',
        '{"rows": [1]}',
        '{"rows": [{}], "extra": 1}',
        "[" * 100_000,
    ],
)
def test_a_json_body_that_is_not_rows_is_refused(text):
    assert refused("application/json", text)


def test_more_than_10000_rows_are_refused():
    many = '{"rows": [' + ",".join(["{}"] * (MAX_ROWS + 1)) + "]}"
    assert "10,000" in refused("application/json", many)
    assert len(read_rows("application/json", many.replace("{},", "", 1))) == MAX_ROWS
    lines = "customerId,amount,reason\n" + "c,1,abc\n" * (MAX_ROWS + 1)
    assert "10,000" in refused("text/csv", lines)


def test_other_media_types_are_refused():
    assert "text/csv" in refused("text/plain", "customerId,amount,reason\nc,1,abc\n")


def test_csv_rows_are_read_by_the_header():
    text = (
        "\ufeffcustomerId,amount,reason,expiryDate\r\n"
        ' c1 , 500 ,"A, B",2027-01-31\r\n'
        "\r\n"
        "c2,7,Plain,\n"
        "c3,1x,Bad amount,\n"
        "c4,1\n"
    )
    rows = read_rows("text/csv", text)
    assert [row.values for row in rows[:3]] == [
        {"customerId": "c1", "amount": 500, "reason": "A, B", "expiryDate": "2027-01-31"},
        {"customerId": "c2", "amount": 7, "reason": "Plain"},
        {"customerId": "c3", "amount": "1x", "reason": "Bad amount"},
    ]
    assert [row.number for row in rows] == [1, 2, 3, 4]
    assert rows[3].problem == "expected 4 fields (customerId,amount,reason,expiryDate), found 2"
    three = read_rows("text/csv", "customerId,amount,reason\rc1,5,Bonus")
    assert three[0].values == {"customerId": "c1", "amount": 5, "reason": "Bonus"}


@pytest.mark.parametrize(
    "text",
    [
        "customerId,amount,reason",  # no row, not even a line break
        "customerId,amount,reason\n",
        "customerId,amount,reason\r\n\r\n\n",
        "customerId,amount\nc,1\n",
        "customerId,amount,reason,\nc,1,abc,\n",
        "amount,customerId,reason\n1,c,abc\n",
        '"customerId",amount,reason\nc,1,abc\n',
        "CUSTOMERID,AMOUNT,REASON\nc,1,abc\n",
    ],
)
def test_a_csv_body_without_the_header_or_rows_is_refused(text):
    assert refused("text/csv", text)


@pytest.mark.parametrize(
    "text",
    [
        "customerId,amount,reason\nc,1,abc\n",
        "\ufeffcustomerId,amount,reason,expiryDate\r\nc,1,abc,\r\n",
        "customerId,amount,reason\r\n\r\n x",
        'customerId,amount,reason\n"',
        "customerId,amount,reason\n\x00",
        "customerId,amount,reason\n\n\n,",
        "customerId,amount,reason",
        "customerId,amount,reason\n",
        "customerId,amount,reason\n\r\n",
        "customerId,amount\nc,1\n",
        "x\ncustomerId,amount,reason\nc,1,abc\n",
        "customerId,amount,reason,expiryDate,\nc,1,abc,,\n",
    ],
)
def test_the_documented_csv_pattern_says_exactly_what_is_accepted(text):
    """docs/openapi.json's pattern for text/csv (an ECMA regex; these texts read the same
    in Python's) matches the bodies that are read as rows and no other."""
    matches = re.fullmatch(CSV_PATTERN.replace(r"\ufeff", "\ufeff"), text) is not None
    try:
        read_rows("text/csv", text)
        accepted = True
    except ValidationFailed:
        accepted = False
    assert matches == accepted


def test_a_good_row_is_an_award_with_its_expiry_moment():
    row = check_row(
        SubmittedRow(
            4, {"customerId": "c1", "amount": 5.0, "reason": "Bonus", "expiryDate": "2026-03-02"}
        ),
        NOW,
    )
    assert row.error is None
    assert (row.row_number, row.customer_id, row.amount, row.reason) == (4, "c1", 5, "Bonus")
    assert row.expiry_date == datetime(2026, 3, 2, 21, 59, 59, 999_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"customerId": "a b", "amount": 5, "reason": "Bonus"}, "customerId"),
        ({"customerId": "x" * 65, "amount": 5, "reason": "Bonus"}, "customerId"),
        ({"amount": 5, "reason": "Bonus"}, "customerId"),
        ({"customerId": "c", "amount": 0, "reason": "Bonus"}, "amount"),
        ({"customerId": "c", "amount": 1_000_001, "reason": "Bonus"}, "amount"),
        ({"customerId": "c", "amount": "5", "reason": "Bonus"}, "amount"),
        ({"customerId": "c", "amount": True, "reason": "Bonus"}, "amount"),
        ({"customerId": "c", "amount": 5, "reason": "ab"}, "reason"),
        ({"customerId": "c", "amount": 5, "reason": "x" * 501}, "reason"),
        (
            {"customerId": "c", "amount": 5, "reason": "Bonus", "expiryDate": "2026-03-01"},
            "expiryDate",
        ),
        ({"customerId": "c", "amount": 5, "reason": "Bonus", "expiryDate": "soon"}, "expiryDate"),
        ({"customerId": "c", "amount": 5, "reason": "Bonus", "customer_id": "c"}, "customer_id"),
    ],
)
def test_a_bad_row_fails_with_its_reason(values, field):
    row = check_row(SubmittedRow(2, values), NOW)
    assert row.error is not None
    assert row.error.code == "VALIDATION_ERROR"
    assert field in row.error.message
    assert row.reason is None


def test_a_failed_row_shows_what_was_sent_where_it_can():
    row = check_row(SubmittedRow(1, {"customerId": "bad id" * 40, "amount": 0}), NOW)
    assert (row.customer_id, row.amount) == (("bad id" * 40)[:100], 0)
    other = check_row(SubmittedRow(1, {"customerId": 5, "amount": "5"}), NOW)
    assert (other.customer_id, other.amount) == (None, None)
    unread = check_row(SubmittedRow(1, {"customerId": "c1"}, "expected 3 fields"), NOW)
    assert unread.error is not None
    assert (unread.customer_id, unread.error.message) == ("c1", "expected 3 fields")


@pytest.mark.parametrize(
    ("succeeded", "failed", "status"),
    [
        (0, 0, JobStatus.QUEUED),
        (3, 1, JobStatus.RUNNING),
        (10, 0, JobStatus.COMPLETED),
        (7, 3, JobStatus.COMPLETED_WITH_ERRORS),
        (0, 10, JobStatus.FAILED),
    ],
)
def test_the_status_follows_the_counters(succeeded, failed, status):
    record = JobRecord(
        job_id="j",
        total_rows=10,
        succeeded=succeeded,
        failed=failed,
        created_by=ADMIN,
        created_at=NOW,
        updated_at=NOW,
        request_id="r",
        media_type="application/json",
    )
    job = BulkJob.of(record)
    assert (job.status, job.pending) == (status, 10 - succeeded - failed)


def test_rows_go_several_to_a_message_and_messages_ten_to_a_batch():
    rows = [BulkRow(row_number=n, error=None) for n in range(1, MAX_ROWS + 1)]
    messages = chunks("j", ADMIN, "r", rows)
    assert len(messages) == MAX_ROWS // ROWS_PER_MESSAGE
    assert [row.row_number for row in messages[1].rows] == list(
        range(ROWS_PER_MESSAGE + 1, 2 * ROWS_PER_MESSAGE + 1)
    )
    bodies = [message.model_dump_json(by_alias=True) for message in messages]
    groups = batches(bodies)
    assert [body for group in groups for body in group] == bodies
    assert all(len(group) <= 10 for group in groups)
    assert len(groups) == len(bodies) // 10


def test_a_batch_stays_under_the_sqs_size_limit():
    big = "x" * 100_000
    groups = batches([big, big, big, "small"])
    assert [len(group) for group in groups] == [2, 2]
    assert all(sum(len(body) for body in group) <= 256 * 1024 for group in groups)


def test_a_cursor_names_the_row_its_page_starts_after():
    assert decode_row_cursor(encode_row_cursor(250)) == 250
    for forged in (
        "",
        "x",
        encode_row_cursor(0),
        encode_row_cursor(MAX_ROWS),
        "eyJhZnRlciI6dHJ1ZX0",
    ):
        with pytest.raises(ValidationFailed):
            decode_row_cursor(forged)
