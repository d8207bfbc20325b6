"""The split of a long reply into parts a provider accepts: at line, sentence or word ends, never
inside a grapheme cluster, lengths counted in UTF-16 code units."""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"'”’)\]]*(?=\s)")


def text_units(text: str) -> int:
    """Length in UTF-16 code units: an emoji outside the BMP counts 2, as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int | None) -> list[str]:
    """Split a reply into parts of at most `limit` units, in order.

    Each cut is made at the last line break that fits; failing that, the last sentence end
    (. ! ? … followed by whitespace); failing that, the last whitespace; failing that, a hard cut.
    A cut never falls inside a grapheme cluster (a flag, a ZWJ emoji sequence, a skin tone, a
    keycap, a letter and its accents, a Hangul syllable): it moves back to the cluster's start. Only
    a single cluster longer than the limit is cut inside, between code points.
    The whitespace at a cut (and around a text that has to be split) is dropped; nothing else is
    lost or reordered. A text that fits is returned unchanged.
    """
    if limit is None or text_units(text) <= limit:
        return [text]
    if limit < 2:
        raise ValueError("limit must be at least 2")
    parts: list[str] = []
    rest = _strip(text)
    while text_units(rest) > limit:
        window = _fitting_prefix(rest, limit)
        cut = _cluster_start(rest, _cut(rest, len(window)))
        head, rest = _strip(rest[:cut], start=False), _strip(rest[cut:], end=False)
        if head:
            parts.append(head)
    if rest:
        parts.append(rest)
    return parts


def _fitting_prefix(text: str, limit: int) -> str:
    if len(text) * 2 <= limit:
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index] or text[:1]
    return text


def _cut(rest: str, size: int) -> int:
    """Where the part ends: an index in (0, size]. `probe` also sees the character just after the
    window, so a separator right after a part that fits exactly still counts."""
    probe = rest[: size + 1]
    line = probe.rfind("\n")
    if line > 0:
        return line
    best = 0
    for match in _SENTENCE_END.finditer(probe):
        if match.end() <= size:
            best = match.end()
    if best:
        return best
    space = max(probe.rfind(" "), probe.rfind("\t"))
    if space > 0:
        return space
    return size


def _cluster_start(text: str, index: int) -> int:
    """The nearest cluster boundary at or before `index`, above 0; `index` itself when one cluster
    fills the whole window (it cannot be sent whole)."""
    for candidate in range(index, 0, -1):
        if is_boundary(text, candidate):
            return candidate
    return index


def _strip(text: str, *, start: bool = True, end: bool = True) -> str:
    """str.strip by whole clusters: CR LF goes as one; a space that carries a combining mark stays."""
    first, last = 0, len(text)
    while start and first < last and text[first].isspace():
        after = first + 1
        while after < last and not is_boundary(text, after):
            after += 1
        if not text[first:after].isspace():
            break
        first = after
    while end and last > first and text[last - 1].isspace():
        begin = last - 1
        while begin > first and not is_boundary(text, begin):
            begin -= 1
        if not text[begin:last].isspace():
            break
        last = begin
    return text[first:last]


# --- grapheme cluster boundaries (UAX #29), conservative -------------------------------------------
# A cut between two code points is allowed only where UAX #29 puts a cluster boundary; where this
# code is unsure it keeps the code points together (a part may end a little earlier, never inside a
# cluster). unicodedata has no Grapheme_Cluster_Break property, so the classes are derived here.


def is_boundary(text: str, index: int) -> bool:
    """May a part end before text[index]? The first rule of _RULES that applies decides; where none
    does, yes (GB999)."""
    if index <= 0 or index >= len(text):
        return True
    for applies, allows_break in _RULES:
        if applies(text, index):
            return allows_break
    return True


_ZWJ = "\u200d"
_PREPEND = frozenset([*range(0x600, 0x606), 0x6DD, 0x70F, 0x890, 0x891, 0x8E2, 0xD4E, 0x110BD, 0x110CD,
                      0x111C2, 0x111C3, 0x1193F, 0x11941, 0x11A3A, *range(0x11A84, 0x11A8A), 0x11D46, 0x11F02])


def _crlf(text: str, index: int) -> bool:
    """GB3: CR LF is one cluster."""
    return text[index - 1] == "\r" and text[index] == "\n"


def _next_to_control(text: str, index: int) -> bool:
    """GB4, GB5: a control has a boundary on both sides."""
    return _control(text[index - 1]) or _control(text[index])


def _extends(text: str, index: int) -> bool:
    """GB9, GB9a, GB9b: an Extend, ZWJ or SpacingMark joins what is before it; a Prepend what is after it."""
    return _joins_previous(text[index]) or ord(text[index - 1]) in _PREPEND


def _emoji_zwj_sequence(text: str, index: int) -> bool:
    """GB11: a ZWJ after a pictograph (and Extend characters) joins the next pictograph."""
    return text[index - 1] == _ZWJ and _pictographic(text[index]) and _emoji_before_zwj(text, index - 1)


def _conjunct(text: str, index: int) -> bool:
    """GB9c: a consonant linked to the one before by a virama."""
    return unicodedata.category(text[index]) == "Lo" and _after_virama(text, index)


def _hangul_syllable(text: str, index: int) -> bool:
    """GB6, GB7, GB8: the jamo of one Hangul syllable."""
    return _hangul(text[index]) in _HANGUL_JOINS.get(_hangul(text[index - 1]), ())


def _inside_flag_pair(text: str, index: int) -> bool:
    """GB12, GB13: regional indicators pair up from the start of their run, so a break falls after
    an even number of them."""
    if not (_regional(text[index - 1]) and _regional(text[index])):
        return False
    run = 0
    while index - run - 1 >= 0 and _regional(text[index - run - 1]):
        run += 1
    return run % 2 == 1


# (the rule, whether it allows a break where it applies), in UAX #29's order of precedence
_RULES: tuple[tuple[Callable[[str, int], bool], bool], ...] = (
    (_crlf, False),
    (_next_to_control, True),
    (_extends, False),
    (_emoji_zwj_sequence, False),
    (_conjunct, False),
    (_hangul_syllable, False),
    (_inside_flag_pair, False),
)


def _joins_previous(char: str) -> bool:
    """Extend, ZWJ or SpacingMark: never starts a cluster (GB9, GB9a)."""
    code = ord(char)
    return (unicodedata.category(char) in ("Mn", "Me", "Mc")  # accents, variation selectors, keycap U+20E3
            or code in (0x200C, 0x200D, 0xE33, 0xEB3, 0xFF9E, 0xFF9F)
            or 0x1F3FB <= code <= 0x1F3FF  # skin-tone modifiers
            or 0xE0020 <= code <= 0xE007F)  # tags (subdivision flags)


# Extended_Pictographic, taken a little wide (unicodedata lacks it): wider only keeps more together.
_PICTOGRAPHIC = ((0x2194, 0x21AA), (0x2300, 0x23FF), (0x25A0, 0x25FF), (0x2600, 0x27BF), (0x2934, 0x2935),
                 (0x2B00, 0x2BFF), (0x1F000, 0x1F1E5), (0x1F200, 0x1F3FA), (0x1F400, 0x1FAFF), (0x1FC00, 0x1FFFD))
_PICTOGRAPHIC_SINGLE = frozenset([0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D, 0x3297, 0x3299])


def _pictographic(char: str) -> bool:
    code = ord(char)
    return code in _PICTOGRAPHIC_SINGLE or any(low <= code <= high for low, high in _PICTOGRAPHIC)


def _emoji_before_zwj(text: str, zwj: int) -> bool:
    """GB11: is the ZWJ at text[zwj] preceded by a pictograph and only Extend characters?"""
    for position in range(zwj - 1, -1, -1):
        if _pictographic(text[position]):
            return True
        if not _joins_previous(text[position]) or text[position] == _ZWJ:
            return False
    return False


def _control(char: str) -> bool:
    """CR, LF and the other controls and separators: a cluster of their own (GB4, GB5)."""
    category = unicodedata.category(char)
    if category == "Cf":
        code = ord(char)
        return not (code in (0x200C, 0x200D) or code in _PREPEND or 0xE0020 <= code <= 0xE007F)
    return category in ("Cc", "Zl", "Zp")


# Hangul jamo: code point ranges -> L (leading consonant), V (vowel), T (trailing consonant).
_JAMO = ((0x1100, 0x115F, "L"), (0xA960, 0xA97C, "L"), (0x1160, 0x11A7, "V"), (0xD7B0, 0xD7C6, "V"),
         (0x11A8, 0x11FF, "T"), (0xD7CB, 0xD7FB, "T"))
_SYLLABLES = (0xAC00, 0xD7A3)  # precomposed: LV every 28th code point, LVT the others
# GB6, GB7, GB8: the jamo class before -> the classes that continue its syllable
_HANGUL_JOINS = {"L": ("L", "V", "LV", "LVT"), "LV": ("V", "T"), "V": ("V", "T"), "LVT": ("T",), "T": ("T",)}


def _hangul(char: str) -> str:
    code = ord(char)
    if _SYLLABLES[0] <= code <= _SYLLABLES[1]:
        return "LV" if (code - _SYLLABLES[0]) % 28 == 0 else "LVT"
    return next((kind for low, high, kind in _JAMO if low <= code <= high), "")


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


# GB9c: a virama links the next consonant into a conjunct. Unicode 15.1 does it for six scripts and
# later versions for more; here any virama (ccc 9) and any letter of a Brahmic-script block.
_BRAHMIC = ((0x900, 0xDFF), (0xF00, 0xFFF), (0x1000, 0x109F), (0x1700, 0x17FF), (0x1900, 0x1AAF),
            (0x1B00, 0x1C4F), (0xA800, 0xA8FF), (0xA900, 0xAAFF), (0xABC0, 0xABFF), (0x10A00, 0x10A5F),
            (0x11000, 0x11FFF))


def _after_virama(text: str, index: int) -> bool:
    """Is text[index] a consonant joined to the one before by a virama (क्ष), marks or ZWJ between?"""
    code = ord(text[index])
    if not any(low <= code <= high for low, high in _BRAHMIC):
        return False
    for position in range(index - 1, -1, -1):
        if unicodedata.combining(text[position]) == 9 or text[position] in "\u1cf5\u1cf6":  # viramas, Vedic signs
            return True
        if not _joins_previous(text[position]):
            return False
    return False
