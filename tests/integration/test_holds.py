"""The hold rules (rules-from-the-libraries §4) end to end: a circulation system publishes the retained
holds feed on tagd/holds/{item_id} to a real mosquitto, books come back to check-in stations of two
libraries through sim/scan and sim/place, and the hold.* events and desk lines are checked, including
where none must appear.

The clock that dates arrivals is the app's (App(clock=...)), so the shelf week can cross a month end.
"""

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tagd.daemon.app import App
from tagd.daemon.stations.checkin import CheckinStation
from tagd.protocols.events import Envelope
from tagd.protocols.nw7 import with_check_digit

from .broker import Broker
from .pads import Desk, memory
from .stations import Circulation, Displays, running, sim_station, station_config

CENTRAL, NORTH = "central", "north"
MEMO = "今回は携帯に電話してください"
PLACED = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def item(n: int) -> str:
    return with_check_digit(f"{20_000_000 + n:08d}")


def hold(hold_id: str, **fields: Any) -> dict[str, Any]:
    """A holds-feed entry (pickup at central, e-mail, single) with `fields` overriding."""
    entry = {
        "hold_id": hold_id,
        "patron_ref": f"p-{hold_id.lower()}",
        "pickup_library": CENTRAL,
        "notify": "email",
        "placed_at": PLACED.isoformat(),
        "type": "single",
    }
    return {**entry, **fields}


class Clock:
    """The time the app's hold desk reads; a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Branch:
    app: App
    circulation: Circulation
    central: Desk
    north: Desk
    clock: Clock

    async def holds(self, item_id: str, *entries: dict[str, Any]) -> None:
        """Publish the item's holds, retained, as the circulation system does (none: clear them)."""
        payload = json.dumps({"holds": list(entries)}).encode() if entries else b""
        await self.circulation.publish(f"tagd/holds/{item_id}", payload, retain=True)

    async def settled(self) -> None:
        """Until central has handled every message published before: its router handles the holds feed and
        sim/ in one queue, in arrival order, so the reply to a sim/ request comes after the feed's effects."""
        await self.circulation.sim(self.central.name, "remove", uid="E0FFFFFFFFFFFFFF")

    async def returned(self, desk: Desk, item_id: str) -> Envelope:
        """The item scanned at `desk`; its barcode.scanned (every hold event of it comes after)."""
        mark = self.circulation.mark()
        await desk.scan(item_id)
        return await self.circulation.wait_for(
            "barcode.scanned", lambda e: e.data.item_id == item_id, station=desk.name, after=mark
        )

    async def quiet(self, desk: Desk) -> None:
        """Until everything `desk` reported so far has reached the subscriber: a station publishes in order,
        so once a later scan's barcode.scanned is here, no earlier hold event is still on its way."""
        await self.returned(desk, item(9999))

    def display(self, desk: Desk) -> Displays:
        station = self.app.station(desk.name)
        assert isinstance(station, CheckinStation)
        return Displays(station)

    def hold_events(self, after: int = 0) -> list[Envelope]:
        return [e for e in self.circulation.events[after:] if e.short_type.startswith("hold.")]


@contextlib.asynccontextmanager
async def branch(tmp_path: Path, broker: Broker, clock: Clock | None = None) -> AsyncIterator[Branch]:
    """Check-in stations at central and north, one process, one holds ledger in tmp_path."""
    central = sim_station("checkin", library=CENTRAL)
    north = sim_station("checkin", library=NORTH)
    config = station_config(tmp_path, broker.port, [central, north], checkin={"poll_seconds": 0.02})
    clock = clock or Clock(datetime(2026, 11, 20, 1, 0, tzinfo=UTC))
    async with Circulation(broker.port) as circulation, running(config, clock=clock) as app:
        for table in (central, north):
            await circulation.wait_for("reader.connected", station=table["name"])
        yield Branch(
            app, circulation, Desk(circulation, central["name"]), Desk(circulation, north["name"]), clock
        )


def data(event: Envelope) -> dict[str, Any]:
    return event.data.model_dump(mode="json")


async def test_pickup_here_reports_arrival_with_the_memo_and_a_one_week_shelf(
    tmp_path: Path, broker: Broker
) -> None:
    book = item(1)
    async with branch(tmp_path, broker) as branch_:
        await branch_.holds(book, hold("H-1", memo=MEMO, notify="phone"))
        await branch_.settled()
        lines = branch_.display(branch_.central)
        mark = branch_.circulation.mark()
        uid = await branch_.central.place(memory_hex=memory(book))
        arrived = await branch_.circulation.wait_for("hold.arrived", station=branch_.central.name, after=mark)
        assert data(arrived) == {
            "item_id": book,
            "uid": uid,
            "hold_id": "H-1",
            "patron_ref": "p-h-1",
            "pickup_library": CENTRAL,
            "notify": "phone",
            "hold_type": "single",
            "memo": MEMO,
            "set_id": None,
            "position": None,
            "group_id": None,
            "release": [],
            "placed_at": "2026-11-01T10:00:00Z",
            "ready_at": "2026-11-20T01:00:00Z",
            "hold_until": "2026-11-27",
        }
        assert arrived.subject == book
        line = await lines.wait_for(lambda text: text.startswith(f"{book}: to the hold shelf"))
        assert "until 2026-11-27" in line
        assert MEMO not in line  # the memo travels in hold.arrived only, not in the desk's (logged) line
        # secured first: the hold shelf gets a secured book
        changed = branch_.circulation.of("security.changed", branch_.central.name, after=mark)
        assert [e.data.secured for e in changed] == [True]


async def test_pickup_elsewhere_reports_transit_without_the_memo_then_arrival_at_the_pickup_library(
    tmp_path: Path, broker: Broker
) -> None:
    book = item(2)
    async with branch(tmp_path, broker) as branch_:
        await branch_.holds(book, hold("H-2", memo=MEMO))
        await branch_.settled()
        lines = branch_.display(branch_.north)
        await branch_.returned(branch_.north, book)
        transit = await branch_.circulation.wait_for("hold.transit", station=branch_.north.name)
        assert data(transit) == {
            "item_id": book,
            "uid": None,
            "hold_id": "H-2",
            "patron_ref": "p-h-2",
            "hold_type": "single",
            "from_library": NORTH,
            "to_library": CENTRAL,
            "set_id": None,
            "position": None,
            "group_id": None,
            "release": [],
        }
        await lines.wait_for(lambda text: text.startswith(f"{book}: transit to {CENTRAL}"))

        await branch_.returned(branch_.north, book)  # read again at north: no second transit
        await lines.wait_for(lambda text: "already reported" in text)
        await branch_.quiet(branch_.north)

        branch_.clock.now = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
        await branch_.returned(branch_.central, book)
        arrived = await branch_.circulation.wait_for("hold.arrived", station=branch_.central.name)
        assert (arrived.data.ready_at, arrived.data.hold_until) == (branch_.clock.now, date(2026, 12, 1))
        await branch_.quiet(branch_.central)
        assert [e.short_type for e in branch_.hold_events()] == ["hold.transit", "hold.arrived"]
        memo_in = [e.short_type for e in branch_.circulation.events if MEMO in e.to_json().decode()]
        assert memo_in == ["hold.arrived"]


async def test_the_shelf_week_ends_in_the_next_month_by_the_library_time_zone(
    tmp_path: Path, broker: Broker
) -> None:
    """30 November 16:30 UTC is already 1 December 01:30 in Tokyo: the week runs to 8 December, not the 7th;
    and an arrival on 27 November (Tokyo) runs to 4 December."""
    late, early = item(3), item(4)
    clock = Clock(datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    async with branch(tmp_path, broker, clock) as branch_:
        await branch_.holds(late, hold("H-3"))
        await branch_.holds(early, hold("H-4"))
        await branch_.settled()
        await branch_.returned(branch_.central, late)
        first = await branch_.circulation.wait_for("hold.arrived", lambda e: e.data.item_id == late)
        branch_.clock.now = datetime(2026, 11, 27, 14, 59, tzinfo=UTC)  # 23:59 on the 27th in Tokyo
        await branch_.returned(branch_.central, early)
        second = await branch_.circulation.wait_for("hold.arrived", lambda e: e.data.item_id == early)
    assert (first.data.hold_until, second.data.hold_until) == (date(2026, 12, 8), date(2026, 12, 4))


async def test_notify_none_mail_and_phone_are_passed_on_as_given(tmp_path: Path, broker: Broker) -> None:
    books = {"none": item(5), "email": item(6), "phone": item(7)}
    async with branch(tmp_path, broker) as branch_:
        for notify, book in books.items():
            await branch_.holds(book, hold(f"H-{notify}", notify=notify))
        await branch_.settled()
        for book in books.values():
            await branch_.returned(branch_.central, book)
        for notify, book in books.items():
            arrived = await branch_.circulation.wait_for(
                "hold.arrived", lambda e, b=book: e.data.item_id == b
            )
            assert (arrived.data.notify.value, arrived.data.hold_id) == (notify, f"H-{notify}")


async def test_a_set_volume_out_of_order_waits_and_is_released_when_the_feed_fills_the_first(
    tmp_path: Path, broker: Broker
) -> None:
    first, second = item(10), item(11)
    set_hold = {"type": "set", "set_id": "S-1", "patron_ref": "p-set"}
    async with branch(tmp_path, broker) as branch_:
        await branch_.holds(first, hold("H-10", **set_hold, position=1))
        await branch_.holds(second, hold("H-11", **set_hold, position=2, memo=MEMO))
        await branch_.settled()
        lines = branch_.display(branch_.central)

        await branch_.returned(branch_.central, second)
        deferred = await branch_.circulation.wait_for("hold.deferred")
        assert data(deferred) == {
            "item_id": second,
            "uid": None,
            "hold_id": "H-11",
            "patron_ref": "p-set",
            "set_id": "S-1",
            "position": 2,
            "waiting_for": [1],
            "waiting_items": [first],
        }
        assert MEMO not in deferred.to_json().decode()
        await lines.wait_for(lambda text: text.startswith(f"{second}: wait for volume 1"))
        await branch_.returned(branch_.central, second)  # read again while waiting: nothing new
        await branch_.quiet(branch_.central)
        assert [e.short_type for e in branch_.hold_events()] == ["hold.deferred"]

        branch_.clock.now = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
        await branch_.holds(first, hold("H-10", **set_hold, position=1, filled=True))
        released = await branch_.circulation.wait_for("hold.arrived")
        assert (released.data.item_id, released.data.hold_id, released.data.memo) == (second, "H-11", MEMO)
        assert (released.data.position, released.data.ready_at) == (2, branch_.clock.now)
        assert released.data.hold_until == date(2026, 11, 28)
        await lines.wait_for(
            lambda text: text.startswith(f"{second}: released from waiting: to the hold shelf")
        )
        await branch_.holds(first, hold("H-10", **set_hold, position=1, filled=True))  # the same again
        await branch_.returned(branch_.central, second)
        await branch_.quiet(branch_.central)
        assert [e.short_type for e in branch_.hold_events()] == ["hold.deferred", "hold.arrived"]


async def test_a_set_reordered_in_the_feed_releases_the_volume_now_first(
    tmp_path: Path, broker: Broker
) -> None:
    first, second, third = item(12), item(13), item(14)
    set_hold = {"type": "set", "set_id": "S-2", "patron_ref": "p-set2"}
    async with branch(tmp_path, broker) as branch_:
        for position, book in enumerate((first, second, third), start=1):
            await branch_.holds(book, hold(f"H-{book}", **set_hold, position=position))
        await branch_.settled()
        await branch_.returned(branch_.central, third)
        deferred = await branch_.circulation.wait_for("hold.deferred")
        assert (deferred.data.waiting_for, deferred.data.waiting_items) == ([1, 2], [first, second])

        # the patron wants volume 3 first now: the circulation system changes the order
        await branch_.holds(third, hold(f"H-{third}", **set_hold, position=1))
        await branch_.holds(first, hold(f"H-{first}", **set_hold, position=2))
        await branch_.holds(second, hold(f"H-{second}", **set_hold, position=3))
        released = await branch_.circulation.wait_for("hold.arrived")
        assert (released.data.item_id, released.data.position) == (third, 1)

        await branch_.returned(branch_.central, second)  # volume 3 of the new order: volume 2 is due first
        waiting = await branch_.circulation.wait_for("hold.deferred", lambda e: e.data.item_id == second)
        assert (waiting.data.waiting_for, waiting.data.waiting_items) == ([2], [first])

        await branch_.returned(branch_.central, first)  # volume 2 arrives: it goes, and so may volume 3
        arrived = await branch_.circulation.wait_for("hold.arrived", lambda e: e.data.item_id == first)
        assert arrived.data.position == 2
        cascade = await branch_.circulation.wait_for("hold.arrived", lambda e: e.data.item_id == second)
        assert cascade.data.position == 3


async def test_a_group_is_filled_by_the_paperback_first_and_the_hardcover_is_not_trapped(
    tmp_path: Path, broker: Broker
) -> None:
    hardcover, paperback = item(20), item(21)
    group = {"type": "group", "group_id": "G-1", "patron_ref": "p-group", "members": [hardcover, paperback]}
    async with branch(tmp_path, broker) as branch_:
        await branch_.holds(hardcover, hold("H-20", **group))
        await branch_.holds(paperback, hold("H-21", **group))
        await branch_.settled()
        lines = branch_.display(branch_.central)

        await branch_.returned(branch_.central, paperback)
        arrived = await branch_.circulation.wait_for("hold.arrived")
        assert (arrived.data.item_id, arrived.data.hold_type.value) == (paperback, "group")
        assert (arrived.data.group_id, arrived.data.release) == ("G-1", [hardcover])

        await branch_.returned(branch_.central, hardcover)
        line = await lines.wait_for(lambda text: text.startswith(f"{hardcover}:"))
        assert line.startswith(f"{hardcover}: not held: group hold G-1 already filled by {paperback}")
        await branch_.returned(branch_.north, hardcover)  # nor sent anywhere from another branch
        await branch_.quiet(branch_.north)
        await branch_.quiet(branch_.central)
        assert [(e.short_type, e.data.item_id) for e in branch_.hold_events()] == [
            ("hold.arrived", paperback)
        ]


async def test_a_queue_of_two_patrons_is_served_by_placed_at(tmp_path: Path, broker: Broker) -> None:
    book = item(30)
    earlier = hold("H-A", patron_ref="p-a", placed_at=PLACED.isoformat())
    later = hold("H-B", patron_ref="p-b", placed_at=(PLACED + timedelta(hours=1)).isoformat())
    async with branch(tmp_path, broker) as branch_:
        await branch_.holds(book, later, earlier)  # the feed's order is not the queue's
        await branch_.settled()
        uid = await branch_.central.place(memory_hex=memory(book))
        first = await branch_.circulation.wait_for("hold.arrived")
        assert (first.data.hold_id, first.data.patron_ref) == ("H-A", "p-a")
        await branch_.central.remove(uid)
        await branch_.circulation.wait_for("item.removed", station=branch_.central.name)

        # patron A borrowed and returned it: the circulation system drops A's hold, B is first now
        await branch_.holds(book, later)
        await branch_.settled()
        await branch_.central.place(uid=uid)
        second = await branch_.circulation.wait_for("hold.arrived", lambda e: e.data.hold_id == "H-B")
        assert (second.data.patron_ref, second.data.uid) == ("p-b", uid)
        await branch_.quiet(branch_.central)
        assert [e.data.hold_id for e in branch_.hold_events()] == ["H-A", "H-B"]


async def test_the_same_item_read_again_reports_one_arrival_even_across_a_restart(
    tmp_path: Path, broker: Broker
) -> None:
    book = item(40)
    async with branch(tmp_path, broker) as branch_:
        await branch_.holds(book, hold("H-40"))
        await branch_.settled()
        await branch_.returned(branch_.central, book)  # scanned first, its tag not on the pad
        arrived = await branch_.circulation.wait_for("hold.arrived")
        uid = await branch_.central.place(memory_hex=memory(book))  # then its tag on the pad
        await branch_.circulation.wait_for("security.changed", lambda e: e.data.uid == uid)
        await branch_.central.remove(uid)
        await branch_.circulation.wait_for("item.removed", lambda e: e.data.uid == uid)
        mark = branch_.circulation.mark()
        await branch_.central.place(uid=uid)  # on the pad twice
        await branch_.circulation.wait_for("security.changed", lambda e: e.data.uid == uid, after=mark)
        await branch_.quiet(branch_.central)
    async with branch(tmp_path, broker) as again:  # the same state directory and broker, a new app
        await again.settled()
        await again.returned(again.central, book)
        await again.quiet(again.central)
        assert again.hold_events() == []
    assert [e.id for e in branch_.hold_events()] == [arrived.id]


async def test_item_ids_with_a_wrong_check_digit_are_refused_in_the_topic_and_in_members(
    tmp_path: Path, broker: Broker
) -> None:
    """docs/holds.md promises it: such a hold would be stored and never fire."""
    book = item(52)
    wrong = book[:8] + str((int(book[8]) + 1) % 10)
    async with branch(tmp_path, broker) as branch_:
        await branch_.holds(wrong, hold("H-52"))
        in_topic = await branch_.circulation.wait_for("holds.rejected")
        assert in_topic.data.topic == f"tagd/holds/{wrong}"
        assert "check digit" in in_topic.data.error
        member = hold("H-53", type="group", group_id="G-1", members=[book, wrong])
        await branch_.holds(book, member)
        in_members = await branch_.circulation.wait_for(
            "holds.rejected", lambda e: e.data.topic == f"tagd/holds/{book}"
        )
        assert "holds[0].members[1]" in in_members.data.error
        assert "check digit" in in_members.data.error


async def test_a_malformed_feed_entry_is_reported_and_the_previous_holds_stay(
    tmp_path: Path, broker: Broker
) -> None:
    book = item(50)
    async with branch(tmp_path, broker) as branch_:
        await branch_.holds(book, hold("H-50"))
        bad = hold("H-51", notify="fax")
        del bad["patron_ref"]
        await branch_.holds(book, hold("H-50"), bad)
        rejected = await branch_.circulation.wait_for("holds.rejected")
        assert rejected.data.topic == f"tagd/holds/{book}"
        assert "holds[1].patron_ref: is required" in rejected.data.error
        assert "holds[1].notify" in rejected.data.error
        await branch_.circulation.publish(f"tagd/holds/{book}", b"\xff\xfe not json", retain=True)
        not_utf8 = await branch_.circulation.wait_for("holds.rejected", lambda e: "UTF-8" in e.data.error)
        assert not_utf8.data.topic == f"tagd/holds/{book}"
        await branch_.settled()
        await branch_.returned(branch_.central, book)
        arrived = await branch_.circulation.wait_for("hold.arrived")
        assert arrived.data.hold_id == "H-50"
        assert len(branch_.circulation.of("holds.rejected")) == 2  # one report each, not one per station
