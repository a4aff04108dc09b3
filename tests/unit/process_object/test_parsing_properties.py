"""Properties of the handler's parsing over generated input: whatever arrives, the only
exceptions that escape are Sluice's typed errors (which the drain dead-letters with a reason),
and every row read is either sent or listed as failed.

Case counts come from the hypothesis profile (tests/conftest.py): a few hundred per property in
`make test`, 10,000 in `make test-long`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from csv_rows import RowError, read_rows
from downstream import DownstreamResponse, RetryPolicy
from object_processor import process_object
from sluice_common.errors import SluiceError
from sluice_common.events import ObjectRef, parse_object_ref
from sluice_local.generated import MemoryS3, Trickle

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.text(max_size=40)  # any unicode: spaces, '+', '%', ':', '/', control characters
fields = {
    "bucket": st.one_of(st.text(max_size=20), json_values),
    "key": st.one_of(keys, json_values),
    "version_id": st.one_of(st.none(), st.text(max_size=10), json_values),
    "etag": st.one_of(st.none(), st.text(max_size=10)),
    "size": st.one_of(st.none(), st.integers(), st.text(max_size=5)),
}
s3_details = st.fixed_dictionaries({}, optional=fields).map(lambda d: {"s3_details": d})
eventbridge = st.fixed_dictionaries(
    {},
    optional={
        "source": st.sampled_from(["aws.s3", "aws.sqs", ""]),
        "detail-type": st.sampled_from(["Object Created", "Object Deleted", ""]),
        "detail": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "bucket": st.one_of(json_values, st.fixed_dictionaries({"name": st.text()})),
                    "object": st.one_of(
                        json_values,
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "key": st.one_of(keys, json_values),
                                "size": json_values,
                                "etag": json_values,
                                "version-id": json_values,
                            },
                        ),
                    ),
                },
            ),
        ),
    },
)


@given(st.one_of(json_values, s3_details, eventbridge))
def test_any_event_gives_an_object_or_a_typed_error(event: Any) -> None:
    try:
        ref = parse_object_ref(event)
    except SluiceError as exc:
        assert str(exc)  # a reason a person can act on
    else:
        assert isinstance(ref, ObjectRef) and ref.bucket and ref.key


cell = st.text(max_size=8) | st.sampled_from(['"', '""', ",", "\n", "\r\n", "\ufeff", "\x00"])
csv_text = st.lists(st.lists(cell, max_size=5), max_size=8).map(
    lambda rows: "\n".join(",".join(row) for row in rows)
)
objects = st.one_of(
    st.binary(max_size=300),
    csv_text.map(lambda text: text.encode("utf-8")),
    csv_text.map(lambda text: ("\ufeff" + text).encode("utf-8")),
    csv_text.map(lambda text: text.encode("latin-1", errors="replace")),
    csv_text.map(lambda text: gzip.compress(text.encode("utf-8"))),
    st.binary(max_size=200).map(lambda raw: gzip.compress(raw)[: max(2, len(raw) // 2)]),
)


@given(objects, st.integers(min_value=1, max_value=64))
def test_any_bytes_give_rows_row_errors_or_a_typed_error(data: bytes, step: int) -> None:
    numbers = []
    try:
        for item in read_rows(Trickle(data, step), label="s3://b/k"):
            if isinstance(item, RowError):
                numbers.append(item.row)
                assert item.error
            else:
                number, row = item
                numbers.append(number)
                assert all(isinstance(v, str) for v in row.values())
    except SluiceError as exc:
        assert str(exc)
    assert numbers == list(range(1, len(numbers) + 1))  # every row accounted for, in order


class Flaky:
    """Accepts, refuses for good (422) or asks for a retry (503), by the row's content."""

    def post(self, body: bytes, headers: Mapping[str, str]) -> DownstreamResponse:
        verdict = len(json.loads(body)["data"]) + len(body)
        return DownstreamResponse((200, 200, 422, 503)[verdict % 4])


@given(objects)
def test_the_processor_sends_or_lists_every_row_it_reads(data: bytes) -> None:
    policy = RetryPolicy(max_attempts=2, base_s=0, cap_s=0)
    try:
        summary = process_object(
            MemoryS3(data), Flaky(), ObjectRef("b", "k.csv"), policy, sleep=lambda _: None
        )
    except SluiceError as exc:
        assert str(exc)
    else:
        assert summary.rows_read == summary.rows_sent + summary.rows_failed
        assert len(summary.failed_rows) == min(summary.rows_failed, 20)
