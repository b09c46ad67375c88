"""Debounced presence of tags on a pad, from successive inventories.

One inventory can miss a tag that is there (a collision lost, a book held at an angle) and catch one that is
only passing over the pad. A tag therefore counts as arrived only after it was seen in every inventory for
`arrive_after` seconds, and as gone only after it was missing from every inventory for `leave_after` seconds:
one missed poll never makes an `item.removed` followed by a second `item.detected`. Pure: the caller passes
the clock, so tests drive it with any timeline.
"""

from collections.abc import Collection, Set
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Changes:
    """What one inventory changed: tags that arrived and tags that left, each sorted by UID."""

    arrived: list[int]
    left: list[int]


class Presence:
    """Feed it each inventory with `update`; `present` is the debounced set of UIDs on the pad."""

    def __init__(self, *, arrive_after: float, leave_after: float) -> None:
        if arrive_after < 0 or leave_after < 0:
            raise ValueError("debounce times are not negative")
        self.arrive_after = arrive_after
        self.leave_after = leave_after
        self._arriving: dict[int, float] = {}
        """Seen in every inventory since this time, not yet arrived."""
        self._last_seen: dict[int, float] = {}
        """The arrived tags: when each was last seen."""

    @property
    def present(self) -> Set[int]:
        return self._last_seen.keys()

    def update(self, seen: Collection[int], now: float) -> Changes:
        """Takes one inventory made at `now` (monotonic seconds)."""
        for uid in [uid for uid in self._arriving if uid not in seen]:
            del self._arriving[uid]  # arrival needs continuous presence: start again next time
        for uid in seen:
            if uid in self._last_seen:
                self._last_seen[uid] = now
            else:
                self._arriving.setdefault(uid, now)
        arrived = sorted(uid for uid, since in self._arriving.items() if now - since >= self.arrive_after)
        for uid in arrived:
            del self._arriving[uid]
            self._last_seen[uid] = now
        left = sorted(
            uid for uid, last in self._last_seen.items() if uid not in seen and now - last >= self.leave_after
        )
        for uid in left:
            del self._last_seen[uid]
        return Changes(arrived, left)
