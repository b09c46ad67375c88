"""Debounced presence: arrivals need continuous presence, departures continuous absence, nothing flaps."""

from hypothesis import given
from hypothesis import strategies as st

from tagd.daemon.stations.presence import Presence

A, B = 0xE004010000000001, 0xE004010000000002


def test_a_tag_arrives_after_being_seen_for_the_debounce_time() -> None:
    presence = Presence(arrive_after=0.3, leave_after=0.3)
    assert presence.update({A}, 0.0).arrived == []
    assert presence.update({A}, 0.2).arrived == []
    assert presence.update({A}, 0.3).arrived == [A]
    assert presence.update({A}, 0.4).arrived == []
    assert set(presence.present) == {A}


def test_a_tag_passing_over_the_pad_never_arrives() -> None:
    presence = Presence(arrive_after=0.3, leave_after=0.3)
    presence.update({A}, 0.0)
    presence.update(set(), 0.1)  # gone again: its clock starts afresh
    assert presence.update({A}, 0.35).arrived == []
    assert presence.update({A}, 0.65).arrived == [A]


def test_one_missed_inventory_is_not_a_departure() -> None:
    presence = Presence(arrive_after=0.0, leave_after=0.3)
    assert presence.update({A, B}, 0.0).arrived == [A, B]
    assert presence.update({B}, 0.1).left == []
    assert presence.update({A, B}, 0.2).left == []
    assert presence.update({B}, 0.4).left == []
    changes = presence.update({B}, 0.5)
    assert (changes.arrived, changes.left) == ([], [A])
    assert set(presence.present) == {B}


def test_without_debounce_every_change_counts_at_once() -> None:
    presence = Presence(arrive_after=0.0, leave_after=0.0)
    assert presence.update({A}, 0.0).arrived == [A]
    assert presence.update(set(), 0.0).left == [A]


polls = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=0.2), st.frozensets(st.sampled_from([A, B]))), max_size=60
)


@given(
    polls=polls,
    arrive_after=st.floats(min_value=0.0, max_value=0.5),
    leave_after=st.floats(min_value=0.0, max_value=0.5),
)
def test_arrivals_and_departures_alternate_and_respect_their_windows(
    polls: list[tuple[float, frozenset[int]]], arrive_after: float, leave_after: float
) -> None:
    presence = Presence(arrive_after=arrive_after, leave_after=leave_after)
    now = 0.0
    history: list[tuple[float, frozenset[int]]] = []
    on_pad: set[int] = set()
    for step, seen in polls:
        now += step
        history.append((now, seen))
        changes = presence.update(seen, now)
        for uid in changes.arrived:
            assert uid not in on_pad
            assert uid in seen
            missed = [index for index, (_, s) in enumerate(history) if uid not in s]
            first_seen = history[missed[-1] + 1 if missed else 0][0]
            assert now - first_seen >= arrive_after  # seen in every inventory for the whole window
            on_pad.add(uid)
        for uid in changes.left:
            assert uid in on_pad
            last_seen = max(t for t, s in history if uid in s)
            assert uid not in seen
            assert now - last_seen >= leave_after
            on_pad.remove(uid)
        assert set(presence.present) == on_pad
