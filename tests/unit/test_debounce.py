"""The debounce rule: pure, so every case is a plain function call."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.debounce import ADAPTIVE_FACTOR, RHYTHM_WINDOW, Burst, DebouncePolicy, TIMER_SLACK_SECONDS

T0 = 1_700_000_000.0


def burst_of(gaps, *, started_at=None, messages=None, size=0, history=()):
    """A burst whose messages arrived ``gaps`` apart, after ``history`` (earlier arrivals)."""
    arrivals = list(history) or [T0]
    start_index = len(arrivals) - 1
    for gap in gaps:
        arrivals.append(arrivals[-1] + gap)
    return Burst(
        started_at=arrivals[start_index] if started_at is None else started_at,
        last_at=arrivals[-1],
        arrivals=tuple(arrivals),
        messages=len(gaps) + 1 if messages is None else messages,
        bytes=size,
    )


ADAPTIVE = DebouncePolicy(quiet_seconds=10, mode="adaptive", min_quiet_seconds=2, max_quiet_seconds=30,
                          max_wait_seconds=60)


# ---------------------------------------------------------------------- fixed


def test_fixed_fires_the_quiet_period_after_the_latest_message():
    policy = DebouncePolicy(quiet_seconds=10)
    due = policy.due(burst_of([3, 4]))
    assert due.at == T0 + 7 + 10
    assert due.reason == "quiet" and not due.flush


def test_fixed_ignores_the_rhythm():
    policy = DebouncePolicy(quiet_seconds=10)
    assert policy.quiet_after([1, 1, 1]) == policy.quiet_after([25, 25]) == 10


# ---------------------------------------------------------------------- the cap


def test_the_cap_fires_max_wait_after_the_first_message_while_messages_keep_coming():
    policy = DebouncePolicy(quiet_seconds=2, max_wait_seconds=4)
    assert policy.due(burst_of([1, 1])).at == T0 + 4  # quiet would be T0 + 4 as well
    due = policy.due(burst_of([1, 1, 1]))  # quiet would end at T0 + 5
    assert (due.at, due.reason, due.flush) == (T0 + 4, "max_wait", True)


def test_a_message_after_the_cap_fires_at_once():
    policy = DebouncePolicy(quiet_seconds=2, max_wait_seconds=4)
    due = policy.due(burst_of([1, 1, 1, 1, 1]))  # last message at T0 + 5, cap passed at T0 + 4
    assert (due.at, due.reason) == (T0 + 5, "max_wait")


def test_the_cap_bounds_the_adaptive_wait_too():
    policy = DebouncePolicy(quiet_seconds=10, mode="adaptive", max_quiet_seconds=30, max_wait_seconds=20)
    due = policy.due(burst_of([12, 12]))  # adaptive wait 30 s after T0 + 24 would be T0 + 54
    assert (due.at, due.reason) == (T0 + 24, "max_wait")  # the cap (T0 + 20) passed with the last message


# ---------------------------------------------------------------------- size limits


def test_max_messages_flushes_at_once():
    policy = DebouncePolicy(quiet_seconds=10, max_messages=3)
    assert policy.due(burst_of([1])).reason == "quiet"
    due = policy.due(burst_of([1, 1]))
    assert (due.at, due.reason, due.flush) == (T0 + 2, "max_messages", True)


def test_max_bytes_flushes_at_once():
    policy = DebouncePolicy(quiet_seconds=10, max_bytes=1000)
    assert policy.due(burst_of([1], size=999)).reason == "quiet"
    due = policy.due(burst_of([1], size=1000))
    assert (due.at, due.reason) == (T0 + 1, "max_bytes")


# ---------------------------------------------------------------------- adaptive


def test_a_slow_typer_gets_a_longer_wait_than_a_fast_one():
    slow = ADAPTIVE.quiet_after([12, 11, 13])
    fast = ADAPTIVE.quiet_after([2, 2.5, 1.5])
    assert slow == ADAPTIVE_FACTOR * 12 == 30  # just at max_quiet_seconds
    assert fast == ADAPTIVE_FACTOR * 2 == 5
    assert ADAPTIVE.due(burst_of([12, 12])).at == T0 + 24 + slow


def test_the_adaptive_wait_stays_inside_its_bounds():
    assert ADAPTIVE.quiet_after([0.2, 0.3, 0.1]) == 2  # min_quiet_seconds
    assert ADAPTIVE.quiet_after([20, 25, 28]) == 30  # max_quiet_seconds


def test_without_any_gap_the_adaptive_wait_is_the_quiet_period():
    assert ADAPTIVE.quiet_after([]) == 10
    low = DebouncePolicy(quiet_seconds=1, mode="adaptive", min_quiet_seconds=2, max_quiet_seconds=5)
    assert low.quiet_after([]) == 2  # clamped like any other wait


def test_gaps_longer_than_max_quiet_are_request_boundaries_not_typing():
    assert ADAPTIVE.quiet_after([2, 2, 300, 2]) == ADAPTIVE_FACTOR * 2
    assert ADAPTIVE.quiet_after([45, 300]) == 10  # no typing gap left: the quiet period


def test_the_median_shrugs_off_one_long_thinking_pause():
    assert ADAPTIVE.quiet_after([2, 2, 25, 2, 2]) == ADAPTIVE_FACTOR * 2


def test_only_the_last_window_of_gaps_counts():
    old_slow = [12] * 20
    recent_fast = [2] * RHYTHM_WINDOW
    assert ADAPTIVE.quiet_after(old_slow + recent_fast) == ADAPTIVE_FACTOR * 2


def test_the_history_before_the_burst_teaches_the_first_wait():
    """A slow typer's previous request sets the wait after the first message of the next one."""
    history = (T0, T0 + 10, T0 + 20)  # the previous burst, 10 s gaps
    first_of_next = burst_of([], history=(*history, T0 + 200))  # 176 s later: a new request
    assert first_of_next.started_at == T0 + 200 and first_of_next.messages == 1
    due = ADAPTIVE.due(first_of_next)
    assert due.at == T0 + 200 + ADAPTIVE_FACTOR * 10


# ---------------------------------------------------------------------- turns: the sender was answered


def live_chat(turns, *, pending=1, gap=2.0, reply_and_read=20.0):
    """A sender chatting with the bot: ``turns`` earlier turns of 1-2 messages ``gap`` apart, each
    answered (a turn end) and followed ``reply_and_read`` seconds later by the next, then a turn
    of ``pending`` messages still waiting. Returns (arrivals, turn ends, the pending burst's start)."""
    arrivals, ends, t = [], [], T0
    for i in range(turns):
        for j in range(1 + i % 2):
            arrivals.append(t)
            t += gap
        ends.append(arrivals[-1])
        t = arrivals[-1] + reply_and_read
    start = t
    for _ in range(pending):
        arrivals.append(t)
        t += gap
    return tuple(arrivals), tuple(ends), start


def test_a_live_chat_waits_by_the_senders_typing_not_by_the_time_spent_reading_the_answers():
    """Issue #19: one or two messages a turn, 20 s between turns (the bot's answer, reading it,
    typing the next request). Before, every gap up to max_quiet counted and the wait hit its
    ceiling; the gaps that span an answer no longer count, the 2 s typing gaps do."""
    arrivals, ends, start = live_chat(6)
    chat = Burst(started_at=start, last_at=arrivals[-1], arrivals=arrivals, turn_ends=ends)
    assert len(chat.gaps) == 3 and set(chat.gaps) == {2.0}  # the typing inside the two-message turns
    assert ADAPTIVE.due(chat).at == arrivals[-1] + ADAPTIVE_FACTOR * 2
    # the same arrivals with no turn known (the rule before #19, an item from before turns were kept)
    unknown = Burst(started_at=start, last_at=arrivals[-1], arrivals=arrivals)
    assert ADAPTIVE.due(unknown).at == arrivals[-1] + ADAPTIVE.max_quiet_seconds


def test_one_message_turns_leave_no_typing_gap_so_the_wait_is_the_quiet_period():
    arrivals = tuple(T0 + 25 * i for i in range(RHYTHM_WINDOW + 1))
    burst = Burst(started_at=arrivals[-1], last_at=arrivals[-1], arrivals=arrivals, turn_ends=arrivals[:-1])
    assert burst.gaps == ()
    assert ADAPTIVE.due(burst).at == arrivals[-1] + ADAPTIVE.quiet_seconds


def test_a_gap_across_a_batch_still_unanswered_counts():
    """A slow typer split by a short wait: the second part came before the answer to the first
    (no turn end between them), so the 12 s gap is typing and the next wait grows to cover it."""
    split = Burst(started_at=T0 + 12, last_at=T0 + 12, arrivals=(T0, T0 + 12))
    assert split.gaps == (12,)
    assert ADAPTIVE.due(split).at == T0 + 12 + ADAPTIVE.max_quiet_seconds  # 2.5 x 12, clamped to 30


def test_a_correction_after_the_answer_does_not_teach_a_long_wait():
    """A fast typer corrects 30 s after their request, once the bot has answered it."""
    arrivals = (T0, T0 + 2, T0 + 4, T0 + 34)
    correction = Burst(started_at=T0 + 34, last_at=T0 + 34, arrivals=arrivals, turn_ends=(T0 + 4,))
    assert correction.gaps == (2, 2)
    assert ADAPTIVE.due(correction).at == T0 + 34 + ADAPTIVE_FACTOR * 2


# ---------------------------------------------------------------------- voice notes


def test_after_a_voice_note_the_wait_is_the_longest_and_the_recording_is_no_typing_gap():
    """A second voice note takes as long to arrive as it lasts: 18 s of recording is no typing gap,
    and after a voice note the rule waits max_quiet_seconds, whatever the sender's typing rhythm."""
    arrivals = (T0, T0 + 2, T0 + 4, T0 + 22)  # three texts, then a voice note
    voice = Burst(started_at=T0, last_at=T0 + 22, arrivals=arrivals, messages=4, recorded=(T0 + 22,))
    assert voice.after_recording and voice.gaps == (2, 2)
    assert ADAPTIVE.due(voice).at == T0 + 22 + ADAPTIVE.max_quiet_seconds
    assert DebouncePolicy(quiet_seconds=10).due(voice).at == T0 + 22 + 10  # a fixed wait stays fixed
    # a text after it: the typing rhythm again (the 18 s recording left out)
    text = Burst(started_at=T0, last_at=T0 + 24, arrivals=(*arrivals, T0 + 24), messages=5, recorded=(T0 + 22,))
    assert not text.after_recording and text.gaps == (2, 2, 2)
    assert ADAPTIVE.due(text).at == T0 + 24 + ADAPTIVE_FACTOR * 2


def test_a_text_after_a_voice_note_gets_a_timer_of_its_own():
    """The voice note's timer wakes 30 s after it; the text brings the burst due 25 s earlier."""
    voice = Burst(started_at=T0, last_at=T0, arrivals=(T0 - 4, T0 - 2, T0), recorded=(T0,),
                  turn_ends=(T0 - 2,))
    text = Burst(started_at=T0, last_at=T0 + 2, arrivals=(*voice.arrivals, T0 + 2), messages=2,
                 recorded=(T0,), turn_ends=(T0 - 2,))
    assert ADAPTIVE.due(voice).at == T0 + 30
    assert ADAPTIVE.due(text).at == T0 + 2 + ADAPTIVE_FACTOR * 2
    assert ADAPTIVE.needs_timer(text)
    # (and a voice note after a text pushes the due time later: the text's timer finds it not due)
    later = Burst(started_at=T0, last_at=T0 + 20, arrivals=(*text.arrivals, T0 + 20), messages=3,
                  recorded=(T0, T0 + 20), turn_ends=(T0 - 2,))
    assert ADAPTIVE.due(later).at == T0 + 50 and not ADAPTIVE.needs_timer(later)
    assert ADAPTIVE.due(later).at - ADAPTIVE.due(text).at > TIMER_SLACK_SECONDS


@given(st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), max_size=30))
def test_any_rhythm_gives_a_wait_within_bounds(gaps):
    wait = ADAPTIVE.quiet_after(gaps)
    assert ADAPTIVE.min_quiet_seconds <= wait <= ADAPTIVE.max_quiet_seconds


@given(
    st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=30),
    st.sampled_from([DebouncePolicy(quiet_seconds=10), ADAPTIVE,
                     DebouncePolicy(quiet_seconds=2, mode="adaptive", max_wait_seconds=7)]),
    st.data(),
)
def test_the_batch_never_fires_before_the_latest_message_nor_after_the_cap_and_the_bound(gaps, policy, data):
    burst = burst_of(gaps)
    marks = st.lists(st.sampled_from(burst.arrivals), max_size=len(burst.arrivals))
    burst = Burst(started_at=burst.started_at, last_at=burst.last_at, arrivals=burst.arrivals,
                  messages=burst.messages, turn_ends=tuple(data.draw(marks)), recorded=tuple(data.draw(marks)))
    due = policy.due(burst)
    assert burst.last_at <= due.at
    assert due.at <= max(burst.started_at + policy.max_wait_seconds, burst.last_at)
    assert due.at <= max(policy.latest_due(burst.started_at), burst.last_at)  # the bound stored once per burst


@given(st.lists(st.floats(min_value=0.1, max_value=29, allow_nan=False), min_size=1, max_size=8),
       st.floats(min_value=1.01, max_value=5))
def test_a_slower_rhythm_never_shortens_the_wait(gaps, stretch):
    assume(max(gaps) * stretch <= ADAPTIVE.max_quiet_seconds)  # longer gaps are request boundaries
    assert ADAPTIVE.quiet_after([g * stretch for g in gaps]) >= ADAPTIVE.quiet_after(gaps)


# ---------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "smart"}, "mode must be one of fixed, adaptive"),
        ({"quiet_seconds": 0}, "quiet_seconds must be positive"),
        ({"quiet_seconds": 10, "max_wait_seconds": 5}, "max_wait_seconds must be at least"),
        ({"mode": "adaptive", "min_quiet_seconds": 5, "max_quiet_seconds": 4}, "min_quiet_seconds"),
        ({"max_messages": 0}, "max_messages"),
        ({"max_bytes": 0}, "max_bytes"),
    ],
)
def test_an_inconsistent_policy_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DebouncePolicy(**kwargs)


def test_adaptive_bounds_default_from_the_quiet_period():
    policy = DebouncePolicy(quiet_seconds=10, mode="adaptive")
    assert (policy.min_quiet_seconds, policy.max_quiet_seconds) == (2, 30)
    assert policy.latest_due(T0) == T0 + 60  # the max-wait cap bounds every burst
    assert DebouncePolicy(quiet_seconds=10, max_wait_seconds=25).latest_due(T0) == T0 + 25
