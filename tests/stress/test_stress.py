"""The stress run at the size `make test` affords (`make stress` runs the full size)."""

from __future__ import annotations

import io

import pytest

from stress.harness import Rates, run

pytestmark = [pytest.mark.stress, pytest.mark.slow]


def test_every_accepted_message_is_in_exactly_one_delivered_batch_under_concurrency_and_faults(capsys):
    out = io.StringIO()
    report, problems = run(600, 40, 8, rates=Rates(), seed=11, out=out)
    with capsys.disabled():
        print("\n" + out.getvalue())
    assert problems == []
    assert report.accepted == report.sent == 600
    # The faults really happened, so the paths they exercise really ran.
    assert report.faults["stepfunctions.start_execution"] > 0
    assert report.faults["lambda.invoke"] > 0
    assert report.retried_5xx > 0
    assert report.duplicates_answered == report.duplicates_posted > 0
    assert report.rearmed > 0


def test_the_checker_catches_a_lost_and_a_duplicated_message():
    """The invariant checker itself can fail: a lost message and a message in two batches."""
    from stress.harness import _check

    def batch(first, last, texts):
        return {"batch_id": f"c-{first}-{last}", "phone_number": "p", "message": "\n".join(texts),
                "messages": [{"id": t, "text": t, "timestamp": None} for t in texts]}

    assert _check([batch(1, 2, ["a", "b"]), batch(3, 3, ["c"])], {"p": ["a", "b", "c"]}, []) == []
    assert _check([batch(1, 2, ["a", "b"])], {"p": ["a", "b", "c"]}, [])  # lost
    assert _check([batch(1, 2, ["a", "b"]), batch(2, 3, ["b", "c"])], {"p": ["a", "b", "c"]}, [])  # twice
    assert _check([batch(1, 2, ["b", "a"])], {"p": ["a", "b"]}, [])  # order
