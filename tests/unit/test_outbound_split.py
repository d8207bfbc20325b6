"""split_text: long replies cut at line, then sentence, then word boundaries, in order, nothing lost."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.outbound import TEXT_LIMITS, split_text, text_units


def squash(text: str) -> str:
    return "".join(text.split())


def test_a_text_that_fits_is_returned_unchanged():
    text = "  hello\n\nworld  "
    assert split_text(text, 4096) == [text]
    assert split_text("x" * 4096, 4096) == ["x" * 4096]
    assert split_text("x" * 5000, None) == ["x" * 5000]


def test_line_boundaries_come_first():
    text = "first line is here\nsecond line. It has two sentences here"
    assert split_text(text, 30) == ["first line is here", "second line.", "It has two sentences here"]
    assert split_text("one. two three\nfour", 16) == ["one. two three", "four"]


def test_sentence_boundaries_before_words():
    text = "One sentence here. Another one follows and it is long"
    assert split_text(text, 30) == ["One sentence here.", "Another one follows and it is", "long"]


def test_sentence_end_with_closing_quote_and_other_marks():
    assert split_text('He said "stop!" then left the room quietly', 20) == ['He said "stop!"', "then left the room", "quietly"]
    assert split_text("Really? Yes… absolutely right now", 16) == ["Really? Yes…", "absolutely right", "now"]


def test_a_decimal_point_is_not_a_sentence_end():
    assert split_text("Pay 3.50 now or 4.75 later please", 20) == ["Pay 3.50 now or 4.75", "later please"]


def test_a_word_longer_than_the_limit_is_cut_hard():
    assert split_text("a " + "b" * 25, 10) == ["a", "bbbbbbbbbb", "bbbbbbbbbb", "bbbbb"]


def test_a_part_that_fits_exactly_before_a_separator_is_kept_whole():
    assert split_text("abcde fghij", 5) == ["abcde", "fghij"]
    assert split_text("abcde\nfghij", 5) == ["abcde", "fghij"]


def test_limits_count_utf16_units_so_emoji_count_twice():
    text = "😀" * 3000  # 6000 UTF-16 units, 3000 code points
    parts = split_text(text, 4096)
    assert [len(p) for p in parts] == [2048, 952]
    assert all(text_units(p) <= 4096 for p in parts)


def test_provider_limits():
    assert TEXT_LIMITS["whatsapp_cloud"] == TEXT_LIMITS["telegram"] == TEXT_LIMITS["zapi"] == 4096
    assert TEXT_LIMITS["twilio"] == 1600
    paragraph = "This is a sentence of a long reply. " * 300  # 10,800 characters
    for provider in ("whatsapp_cloud", "twilio"):
        limit = TEXT_LIMITS[provider]
        parts = split_text(paragraph.strip(), limit)
        assert all(len(p) <= limit for p in parts)
        assert all(p.endswith(".") for p in parts)  # every cut at a sentence end
        assert squash("".join(parts)) == squash(paragraph)


def test_limit_must_leave_room_for_a_character():
    with pytest.raises(ValueError):
        split_text("abc", 1)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab .!?\n\t") + ["😀", "é", "…"]), min_size=1, max_size=400),
    limit=st.integers(min_value=2, max_value=60),
)
def test_parts_fit_keep_order_and_lose_nothing_but_whitespace(text, limit):
    parts = split_text(text, limit)
    assert all(text_units(p) <= limit for p in parts)
    if text_units(text) > limit:
        assert all(p and p == p.strip() for p in parts)
    assert squash("".join(parts)) == squash(text)
