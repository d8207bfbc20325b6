"""split_text: long replies cut at line, then sentence, then word boundaries, in order, nothing lost."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.providers import PROVIDER_NAMES, get_provider
from gateway.segmenter import is_boundary, split_text, text_units

TEXT_LIMITS = {name: get_provider(name).text_limit for name in PROVIDER_NAMES}


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


def test_repeated_marks_closing_brackets_and_cjk_full_stops_end_sentences():
    assert split_text("Wow!! Really?! yes", 8) == ["Wow!!", "Really?!", "yes"]
    assert split_text("(ok.) next one", 6) == ["(ok.)", "next", "one"]
    assert split_text("好的。 明天见吧朋友们", 6) == ["好的。", "明天见吧朋友", "们"]


def test_a_tab_or_a_no_break_space_separates_words():
    assert split_text("abcde\tfghij", 5) == ["abcde", "fghij"]
    assert split_text("end.\u00a0next", 6) == ["end.", "next"]


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


# --- grapheme clusters: a part never ends inside one ----------------------------------------------

CLUSTERS = {
    "flag": "🇧🇷",  # two regional indicators
    "subdivision-flag": "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F",  # England: tags
    "zwj-family": "👨\u200d👩\u200d👧\u200d👦",
    "skin-tone": "👍🏽",
    "combining-accent": "e\u0301",
    "stacked-accents": "a\u0308\u0301\u0323",
    "keycap": "1\ufe0f\u20e3",
    "hangul-jamo-lvt": "\u1100\u1161\u11a8",  # decomposed 각
    "hangul-lv-plus-t": "\uac00\u11a8",  # precomposed 가 + final jamo
    "emoji-presentation": "❤\ufe0f",
    "devanagari-conjunct": "क्ष",  # GB9c: consonant, virama, consonant
    "prepend": "\u0600" + "1",  # GB9b: an Arabic number sign joins the digit after it
    "hangul-l-l-v": "\u1100\u1100\u1161",  # GB6: L before L or V
    "hangul-lv-v": "\uac00\u1162",  # GB7: LV before V
    "hangul-lvt-t": "\uac01\u11a8",  # GB8: LVT before T
    "zwj-flag": "🏳\ufe0f\u200d🌈",  # GB11 across a variation selector
}


@pytest.mark.parametrize("name", list(CLUSTERS))
@pytest.mark.parametrize("extra", [1, 2, 5, 4000])
def test_no_part_ends_inside_a_cluster_even_without_whitespace(name, extra):
    cluster = CLUSTERS[name]
    limit = text_units(cluster) + extra  # room for one cluster, never a whole number of them plus "x"
    text = "x" + cluster * (3 * limit)  # "x" shifts the clusters off the window's edge
    parts = split_text(text, limit)
    assert len(parts) > 1
    assert all(text_units(p) <= limit for p in parts)
    assert "".join(parts) == text  # nothing lost: there is no separator to drop
    assert parts[0].startswith("x")
    assert all(p.removeprefix("x").replace(cluster, "") == "" for p in parts), (name, [p[:12] for p in parts])


def test_crlf_is_one_line_break():
    assert split_text("abc\r\ndef ghi", 4) == ["abc", "def", "ghi"]
    assert split_text("abcd\r\n\r\nefgh", 6) == ["abcd", "efgh"]


def test_flags_pair_from_the_start_of_their_run():
    flags = "🇧🇷🇺🇸🇯🇵🇩🇪🇫🇷"  # 10 regional indicators, 20 UTF-16 units
    for limit in range(4, 21):
        parts = split_text("a" + flags * 3, limit)
        assert "".join(parts) == "a" + flags * 3
        for part in parts:
            body = part.removeprefix("a")
            assert len(body) % 2 == 0 and body in (flags * 3), (limit, parts)
            assert all(0x1F1E6 <= ord(c) <= 0x1F1FF for c in body)


def test_a_space_carrying_a_combining_mark_is_kept_with_it():
    parts = split_text("abcde \u0301fghij", 6)
    assert "".join(parts).replace(" ", "") == "abcde\u0301fghij".replace(" ", "")
    assert not any(p.startswith("\u0301") for p in parts)


def test_a_cluster_longer_than_the_limit_is_cut_between_code_points_and_nothing_is_lost():
    text = "a" + "\u0301" * 30  # one cluster of 31 code points
    parts = split_text(text, 10)
    assert "".join(parts) == text and all(text_units(p) <= 10 for p in parts)


def test_limits_hold_in_utf16_units_and_code_points():
    """Telegram counts UTF-16 code units, WhatsApp and Twilio characters: a UTF-16 limit meets both."""
    text = ("👨\u200d👩\u200d👧\u200d👦 é 🇧🇷 " * 900).strip()
    for provider, limit in TEXT_LIMITS.items():
        if limit is None:
            continue
        parts = split_text(text, limit)
        assert all(len(p) <= limit and text_units(p) <= limit for p in parts), provider
        assert squash("".join(parts)) == squash(text)


def _oracle_boundaries(text: str) -> set[int]:
    import regex  # pinned in requirements/dev.txt for this oracle

    ends, position = set(), 0
    for cluster in regex.findall(r"\X", text):
        position += len(cluster)
        ends.add(position)
    return ends


ALPHABET = list("ab \n") + ["\r\n", "\u0301", "\u200d", "\ufe0f", "\u20e3", "🏽", "👍", "👨", "🇧", "🇷",
                            "\U000E0067", "🏴", "\u1100", "\u1161", "\u11a8", "\uac00", "क", "्", "ष", "1"]


@settings(max_examples=400, deadline=None)
@given(text=st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=80).map("".join),
       limit=st.integers(min_value=2, max_value=24))
def test_every_cut_is_a_cluster_boundary_of_uax29(text, limit):
    """Against the `regex` module's \\X (full UAX #29), where the text has a boundary to cut at."""
    boundaries = _oracle_boundaries(text)
    parts = split_text(text, limit)
    position = 0
    for part in parts:
        start = text.index(part, position)
        end = start + len(part)
        longest = max(b - a for a, b in zip([0, *sorted(boundaries)], sorted(boundaries)))
        if longest <= limit // 2:  # no cluster too long to send whole: every cut is at a boundary
            assert start == 0 or start in boundaries, (text, parts)
            assert end in boundaries, (text, parts)
        position = end


BOUNDARY_ALPHABET = ALPHABET + ["\t", "\uac01", "\u0600", "\x00", "\u200b", "\u2028", "\u1162", "🏳", "🌈"]


@settings(max_examples=400, deadline=None)
@given(text=st.lists(st.sampled_from(BOUNDARY_ALPHABET), min_size=1, max_size=40).map("".join))
def test_the_cluster_boundaries_are_those_of_uax29(text):
    """Every rule on its own: where a part may end is exactly where the `regex` module's \\X ends a
    cluster (on an alphabet without the characters the rules take wide on purpose)."""
    assert {i for i in range(1, len(text) + 1) if is_boundary(text, i)} == _oracle_boundaries(text)
