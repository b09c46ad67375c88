"""The hold rules as a pure state machine (protocols/holds.py): examples named after the rules, and properties
over random feeds: nothing raises, a decision recorded is never reported again, one member fills a group,
and no set volume reaches the hold shelf before an earlier one that is not filled."""

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols.commands import Hold, HoldsFeed
from tagd.protocols.holds import (
    Already,
    Arrive,
    Decision,
    Defer,
    HoldBook,
    NotHeld,
    Reported,
    Step,
    Transit,
    hold_until,
    queue,
)
from tagd.protocols.payload_types import HoldType

T0 = datetime(2026, 11, 1, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")
ITEMS = ["100000017", "100000025", "100000033", "100000041"]
LIBRARIES = ["central", "north"]


def hold(hold_id: str, **fields: Any) -> Hold:
    values: dict[str, Any] = {
        "hold_id": hold_id,
        "patron_ref": "p-1",
        "pickup_library": "central",
        "notify": "email",
        "placed_at": T0,
        "type": HoldType.SINGLE,
    }
    return Hold.model_validate({**values, **fields})


def book(**feeds: list[Hold]) -> HoldBook:
    holds = HoldBook()
    for item_id, entries in feeds.items():
        holds.apply_feed(item_id.removeprefix("i"), HoldsFeed(holds=entries))
    return holds


def report_of(decision: Decision, library: str) -> Reported | None:
    """What the daemon records for a decision that reports something."""
    if isinstance(decision, Arrive | Transit | Defer):
        step = {Arrive: Step.ARRIVED, Transit: Step.TRANSIT, Defer: Step.DEFERRED}[type(decision)]
        waiting = decision.waiting_for if isinstance(decision, Defer) else ()
        hold_ = decision.hold
        return Reported(decision.item_id, hold_.hold_id, step, library, "desk", None, hold_.group_id, waiting)
    return None


def test_the_queue_is_served_by_placed_at_whatever_the_feed_order() -> None:
    later, earlier = hold("B", placed_at=T0 + timedelta(hours=1)), hold("A")
    assert [h.hold_id for h in queue([later, earlier])] == ["A", "B"]
    decision = book(i100000017=[later, earlier]).check_in("100000017", "central")
    assert isinstance(decision, Arrive)
    assert decision.hold.hold_id == "A"


def test_the_shelf_week_counts_from_the_day_in_the_library_time_zone() -> None:
    assert hold_until(datetime(2026, 11, 30, 14, 59, tzinfo=UTC), TOKYO, 7) == date(2026, 12, 7)
    assert hold_until(datetime(2026, 11, 30, 15, 0, tzinfo=UTC), TOKYO, 7) == date(2026, 12, 8)
    assert hold_until(datetime(2026, 12, 28, 3, 0, tzinfo=UTC), TOKYO, 7) == date(2027, 1, 4)


def test_pickup_elsewhere_is_transit_and_again_from_the_same_library_is_already_reported() -> None:
    holds = book(i100000017=[hold("A")])
    decision = holds.check_in("100000017", "north")
    assert isinstance(decision, Transit)
    report = report_of(decision, "north")
    assert report is not None
    holds.record(report)
    assert holds.check_in("100000017", "north") == Already("100000017", decision.hold, Step.TRANSIT)
    assert isinstance(holds.check_in("100000017", "central"), Arrive)


def test_a_hold_the_feed_marks_filled_is_not_reported_again() -> None:
    holds = book(i100000017=[hold("A", filled=True)])
    assert holds.check_in("100000017", "central") == Already("100000017", hold("A", filled=True), None)


def test_a_set_waits_for_earlier_volumes_and_is_released_when_they_are_filled_or_gone() -> None:
    def volume(position: int, **extra: Any) -> Hold:
        return hold(f"S{position}", type=HoldType.SET, set_id="S", position=position, **extra)

    holds = book(i100000017=[volume(1)], i100000025=[volume(2)], i100000033=[volume(3)])
    decision = holds.check_in("100000033", "central")
    assert decision == Defer("100000033", volume(3), (1, 2), ("100000017", "100000025"))
    report = report_of(decision, "central")
    assert report is not None
    holds.record(report)
    assert holds.releases() == []
    holds.apply_feed("100000017", HoldsFeed(holds=[volume(1, filled=True)]))
    assert holds.releases() == []  # volume 2 is still due first
    holds.apply_feed("100000025", None)  # volume 2 cancelled: nothing holds volume 3 back now
    ((deferred, arrive),) = holds.releases()
    assert (deferred, arrive) == (report, Arrive("100000033", volume(3)))


def test_a_group_is_filled_by_its_first_member_and_later_members_fall_through_to_the_next_hold() -> None:
    group = {"type": HoldType.GROUP, "group_id": "G", "members": ["100000017", "100000025"]}
    next_patron = hold("N", patron_ref="p-2", placed_at=T0 + timedelta(days=1))
    holds = book(i100000017=[hold("G1", **group)], i100000025=[hold("G2", **group), next_patron])
    first = holds.check_in("100000017", "central")
    assert first == Arrive("100000017", hold("G1", **group), ("100000025",))
    report = report_of(first, "central")
    assert report is not None
    holds.record(report)
    second = holds.check_in("100000025", "central")
    assert second == Arrive("100000025", next_patron)  # the group hold is filled; the next patron's is not
    holds.apply_feed("100000025", HoldsFeed(holds=[hold("G2", **group)]))
    assert holds.check_in("100000025", "central") == NotHeld("100000025", (("G", "100000017"),))


def test_reports_are_forgotten_when_their_hold_leaves_the_feed_but_a_group_is_remembered_while_it_lives() -> (
    None
):
    group = {"type": HoldType.GROUP, "group_id": "G"}
    holds = book(i100000017=[hold("G1", **group)], i100000025=[hold("G2", **group)], i100000033=[hold("A")])
    for item_id in ("100000017", "100000033"):
        report = report_of(holds.check_in(item_id, "central"), "central")
        assert report is not None
        holds.record(report)
    holds.apply_feed("100000017", None)  # the patron collected the member that filled the group
    holds.apply_feed("100000033", None)
    assert [r.item_id for r in holds.stale()] == ["100000033"]
    assert isinstance(holds.check_in("100000025", "central"), NotHeld)  # the group is still filled
    holds.apply_feed("100000025", None)
    assert {r.item_id for r in holds.stale()} == {"100000017", "100000033"}


# -- properties over random feeds ---------------------------------------------------------------------------


@st.composite
def feeds(draw: st.DrawFn) -> dict[str, list[Hold]]:
    """Up to four items with up to three holds each: singles, volumes of one set, members of one group."""
    result: dict[str, list[Hold]] = {}
    for index, item_id in enumerate(draw(st.lists(st.sampled_from(ITEMS), unique=True, max_size=4))):
        entries = []
        for n in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(HoldType))
            extra: dict[str, Any] = {}
            if kind is HoldType.SET:
                extra = {"set_id": "S", "position": draw(st.integers(1, 4))}
            elif kind is HoldType.GROUP:
                extra = {"group_id": "G"}
            entries.append(
                hold(
                    f"H{index}{n}",
                    type=kind,
                    pickup_library=draw(st.sampled_from(LIBRARIES)),
                    placed_at=T0 + timedelta(minutes=draw(st.integers(0, 5))),
                    filled=draw(st.booleans()),
                    **extra,
                )
            )
        result[item_id] = entries
    return result


visits = st.lists(st.tuples(st.sampled_from(ITEMS), st.sampled_from(LIBRARIES)), max_size=12)


def run(feed: dict[str, list[Hold]], steps: list[tuple[str, str]]) -> tuple[HoldBook, list[Reported]]:
    """Every visit decided and recorded as the daemon would, releases included."""
    holds = HoldBook()
    for item_id, entries in feed.items():
        holds.apply_feed(item_id, HoldsFeed(holds=entries))
    reports: list[Reported] = []
    for item_id, library in steps:
        report = report_of(holds.check_in(item_id, library), library)
        if report is not None:
            holds.record(report)
            reports.append(report)
        while releases := holds.releases():
            for deferred, arrive in releases:
                released = report_of(arrive, deferred.library)
                assert released is not None
                holds.record(released)
                reports.append(released)
    return holds, reports


@given(feeds(), visits)
def test_an_item_read_again_where_it_was_last_reports_nothing_new(
    feed: dict[str, list[Hold]], steps: list[tuple[str, str]]
) -> None:
    holds, _ = run(feed, steps)
    for item_id, library in dict(steps).items():  # where each item was last: read there again
        again = holds.check_in(item_id, library)
        assert isinstance(again, Already | NotHeld), again


@given(feeds(), visits)
def test_one_member_fills_a_group(feed: dict[str, list[Hold]], steps: list[tuple[str, str]]) -> None:
    _, reports = run(feed, steps)
    takers = {r.item_id for r in reports if r.group_id == "G" and r.step is not Step.DEFERRED}
    already = {item for item, entries in feed.items() for h in entries if h.group_id == "G" and h.filled}
    assert len(takers) <= 1, takers
    assert not takers or already <= takers, (takers, already)


@given(feeds(), visits)
def test_no_set_volume_arrives_before_an_earlier_volume_that_is_not_filled(
    feed: dict[str, list[Hold]], steps: list[tuple[str, str]]
) -> None:
    holds = HoldBook()
    for item_id, entries in feed.items():
        holds.apply_feed(item_id, HoldsFeed(holds=entries))
    for item_id, library in steps:
        decision = holds.check_in(item_id, library)
        if isinstance(decision, Arrive) and decision.hold.type is HoldType.SET:
            position = decision.hold.position
            assert position is not None
            for other_item, entries in feed.items():
                for other in entries:
                    if other.set_id == "S" and other.position is not None and other.position < position:
                        done = holds.reported(other_item, other.hold_id)
                        assert other_item == item_id or other.filled or (done and done.step is Step.ARRIVED)
        report = report_of(decision, library)
        if report is not None:
            holds.record(report)


def test_a_group_hold_published_on_one_member_applies_to_every_member_it_lists() -> None:
    group = {"type": HoldType.GROUP, "group_id": "G", "members": ["100000017", "100000025"]}
    holds = book(i100000017=[hold("G1", **group)])
    decision = holds.check_in("100000025", "central")
    assert decision == Arrive("100000025", hold("G1", **group), ("100000017",))
    report = report_of(decision, "central")
    assert report is not None
    holds.record(report)
    assert holds.check_in("100000025", "central") == Already("100000025", hold("G1", **group), Step.ARRIVED)
    assert holds.check_in("100000017", "central") == NotHeld("100000017", (("G", "100000025"),))
