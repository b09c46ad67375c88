"""The hold rules of the libraries (§4) as a pure state machine: which hold a checked-in item fills.

The circulation system's retained feed says who holds each item (`apply_feed`); tagd's own records say what it
already reported for each (item, hold) (`record`). `check_in` turns an item identified at a library into one
decision; `releases` finds set volumes held back that may now go to the hold shelf. Keeping both in one value
makes the rules testable without a clock, a database or MQTT: the daemon persists what changes here.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from tagd.protocols.commands import Hold, HoldsFeed
from tagd.protocols.payload_types import HoldType

__all__ = [
    "Already",
    "Arrive",
    "Decision",
    "Defer",
    "HoldBook",
    "NotHeld",
    "Reported",
    "Step",
    "Transit",
    "hold_until",
    "queue",
]


class Step(StrEnum):
    """What tagd reported for an (item, hold)."""

    ARRIVED = "arrived"
    TRANSIT = "transit"
    DEFERRED = "deferred"


@dataclass(frozen=True, slots=True)
class Reported:
    """One report of tagd's: the item (and its tag, when read), the hold, the step, where (library and
    station), and for a deferral the set positions it waited for."""

    item_id: str
    hold_id: str
    step: Step
    library: str
    station: str
    uid: str | None = None
    group_id: str | None = None
    waiting_for: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Arrive:
    """To the hold shelf here: report hold.arrived (`release`: the group's other members)."""

    item_id: str
    hold: Hold
    release: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Transit:
    """Held for another library: report hold.transit and send it there."""

    item_id: str
    hold: Hold
    release: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Defer:
    """A set volume whose earlier volumes are not filled yet: report hold.deferred and keep it back."""

    item_id: str
    hold: Hold
    waiting_for: tuple[int, ...]
    waiting_items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Already:
    """Already reported (or the feed says the hold is filled): nothing new to report, the same place to go.

    `step` is None when the feed marks the hold filled without a report of tagd's.
    """

    item_id: str
    hold: Hold
    step: Step | None
    waiting_for: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class NotHeld:
    """No hold applies. `filled_groups` names group holds skipped because another member filled them."""

    item_id: str
    filled_groups: tuple[tuple[str, str], ...] = ()
    """(group_id, the member that filled it)"""


Decision = Arrive | Transit | Defer | Already | NotHeld


def queue(holds: Iterable[Hold]) -> list[Hold]:
    """The holds on one item in the order they are served: by `placed_at`, then hold id (a stable order)."""
    return sorted(holds, key=lambda hold: (hold.placed_at, hold.hold_id))


def hold_until(ready_at: datetime, zone: tzinfo, shelf_days: int) -> date:
    """The last day on the hold shelf: the day it was ready, in the library's time zone, + shelf days."""
    return ready_at.astimezone(zone).date() + timedelta(days=shelf_days)


@dataclass
class HoldBook:
    """The holds on every item (from the feed) and what tagd reported for them."""

    _holds: dict[str, list[Hold]] = field(default_factory=dict)
    _reported: dict[tuple[str, str], Reported] = field(default_factory=dict)

    # -- the feed ------------------------------------------------------------------------------------------

    def apply_feed(self, item_id: str, feed: HoldsFeed | None) -> None:
        """The holds on `item_id` are now `feed`'s (None or no holds: the item is held by nobody)."""
        if feed is None or not feed.holds:
            self._holds.pop(item_id, None)
        else:
            self._holds[item_id] = queue(feed.holds)

    def holds_on(self, item_id: str) -> list[Hold]:
        """The item's queue, first served first."""
        return list(self._holds.get(item_id, ()))

    def items(self) -> Iterator[tuple[str, list[Hold]]]:
        return iter(self._holds.items())

    # -- tagd's reports ------------------------------------------------------------------------------------

    def record(self, report: Reported) -> None:
        self._reported[report.item_id, report.hold_id] = report

    def reported(self, item_id: str, hold_id: str) -> Reported | None:
        return self._reported.get((item_id, hold_id))

    def forget(self, item_id: str, hold_id: str) -> None:
        self._reported.pop((item_id, hold_id), None)

    def stale(self) -> list[Reported]:
        """Reports that no longer matter: their hold has left the feed, and for a group report, every hold
        of the group has (it still tells later members that the group is filled)."""
        live_groups = {hold.group_id for holds in self._holds.values() for hold in holds if hold.group_id}
        return [
            report
            for report in self._reported.values()
            if self._hold(report.item_id, report.hold_id) is None
            and not (report.group_id in live_groups and report.step is not Step.DEFERRED)
        ]

    # -- the rules -----------------------------------------------------------------------------------------

    def check_in(self, item_id: str, library: str) -> Decision:
        """What the item identified at `library` does: the first hold in its queue applies, past group holds
        another member has filled."""
        filled_groups: list[tuple[str, str]] = []
        for hold in self._queue_for(item_id):
            if hold.type is HoldType.GROUP and hold.group_id is not None:
                taker = self._group_filled_by(hold.group_id, item_id)
                if taker is not None:
                    filled_groups.append((hold.group_id, taker))
                    continue
            return self._decide(item_id, hold, library)
        return NotHeld(item_id, tuple(filled_groups))

    def releases(self) -> list[tuple[Reported, Arrive]]:
        """Deferred set volumes whose earlier volumes are now filled, with the arrival each now reports."""
        found = []
        for report in list(self._reported.values()):
            if report.step is Step.DEFERRED:
                decision = self.check_in(report.item_id, report.library)
                if isinstance(decision, Arrive) and decision.hold.hold_id == report.hold_id:
                    found.append((report, decision))
        return found

    def _decide(self, item_id: str, hold: Hold, library: str) -> Decision:
        done = self.reported(item_id, hold.hold_id)
        arrived = done is not None and done.step is Step.ARRIVED
        if arrived or hold.filled:
            return Already(item_id, hold, Step.ARRIVED if arrived else None)
        if library != hold.pickup_library:
            if done is not None and done.step is Step.TRANSIT and done.library == library:
                return Already(item_id, hold, Step.TRANSIT)
            return Transit(item_id, hold, self._release(item_id, hold))
        waiting = self._waiting(item_id, hold) if hold.type is HoldType.SET else []
        if not waiting:
            return Arrive(item_id, hold, self._release(item_id, hold))
        positions = tuple(sorted({position for position, _ in waiting}))
        if done is not None and done.step is Step.DEFERRED:
            return Already(item_id, hold, Step.DEFERRED, positions)
        return Defer(item_id, hold, positions, tuple(item for _, item in waiting))

    def _queue_for(self, item_id: str) -> list[Hold]:
        """The item's own holds, and the group holds of other items that list it among their `members`
        (a group hold may be published on one member's topic only)."""
        own = self.holds_on(item_id)
        groups = {hold.group_id for hold in own if hold.group_id}
        listed = {
            hold.group_id: hold
            for other, holds in self._holds.items()
            if other != item_id
            for hold in holds
            if hold.type is HoldType.GROUP and item_id in (hold.members or ()) and hold.group_id not in groups
        }
        return queue([*own, *listed.values()]) if listed else own

    def _hold(self, item_id: str, hold_id: str) -> Hold | None:
        return next((hold for hold in self._holds.get(item_id, ()) if hold.hold_id == hold_id), None)

    def _filled(self, item_id: str, hold: Hold, steps: tuple[Step, ...] = (Step.ARRIVED,)) -> bool:
        done = self.reported(item_id, hold.hold_id)
        return hold.filled or (done is not None and done.step in steps)

    def _members(self, group_id: str) -> Iterator[tuple[str, Hold]]:
        for item_id, holds in self._holds.items():
            for hold in holds:
                if hold.type is HoldType.GROUP and hold.group_id == group_id:
                    yield item_id, hold

    def _group_filled_by(self, group_id: str, item_id: str) -> str | None:
        """The other member that filled (or is in transit for) the group, if one has."""
        for member, hold in self._members(group_id):
            if member != item_id and self._filled(member, hold, (Step.ARRIVED, Step.TRANSIT)):
                return member
        for report in self._reported.values():
            if report.group_id == group_id and report.item_id != item_id and report.step is not Step.DEFERRED:
                return report.item_id
        return None

    def _release(self, item_id: str, hold: Hold) -> tuple[str, ...]:
        if hold.type is not HoldType.GROUP or hold.group_id is None:
            return ()
        members = set(hold.members or ()) | {member for member, _ in self._members(hold.group_id)}
        return tuple(sorted(members - {item_id}))

    def _waiting(self, item_id: str, hold: Hold) -> list[tuple[int, str]]:
        """(position, item) of the set's earlier volumes that are not filled, in order."""
        assert hold.position is not None  # a set hold has one (validated by the feed model)
        return sorted(
            (other.position, other_item)
            for other_item, holds in self._holds.items()
            for other in holds
            if other_item != item_id
            and other.type is HoldType.SET
            and other.set_id == hold.set_id
            and other.position is not None
            and other.position < hold.position
            and not self._filled(other_item, other)
        )
