"""The check-in station against a real mosquitto, driven through sim/ and cmd/ only.

Books are lent the way patrons' books are (released at a checkout station in the same process) and come
back to the check-in pad (sim/place moves the tag) or under its scanner (sim/scan). The hold trap is
issue 5's: here a recording one stands in for it, to show what the station hands over, and when.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tagd.daemon.app import App
from tagd.daemon.holds.handover import IdentifiedBy, IdentifiedItem, TrapResult
from tagd.daemon.stations.checkin import CheckinStation
from tagd.drivers.sim.reader import default_world
from tagd.protocols.display import DisplayCode, DisplayState, english
from tagd.protocols.iso15693 import parse_uid
from tagd.protocols.nw7 import with_check_digit

from .broker import Broker
from .pads import Desk, memory
from .stations import LIBRARY, Circulation, running, sim_station, station_config


class RecordingTrap:
    """A HoldTrap that keeps what it is handed; `fail_for` makes it raise for one item, as a bug would."""

    def __init__(self, fail_for: str | None = None) -> None:
        self.items: list[IdentifiedItem] = []
        self.fail_for = fail_for
        self._handed = asyncio.Condition()

    async def trap(self, item: IdentifiedItem) -> TrapResult | None:
        async with self._handed:
            self.items.append(item)
            self._handed.notify_all()
        if item.item_id == self.fail_for:
            raise RuntimeError("the holds ledger is broken")
        again = DisplayCode.TO_HOLD_SHELF_AGAIN
        return TrapResult(DisplayState.of(again, item_id=item.item_id, hold_id="H-1"))

    async def wait(self, count: int) -> list[IdentifiedItem]:
        async with asyncio.timeout(5.0), self._handed:
            await self._handed.wait_for(lambda: len(self.items) >= count)
        return self.items


class Display:
    """The lines the check-in desk has shown, as staff would have read them."""

    def __init__(self, station: CheckinStation) -> None:
        self.lines: list[str] = []
        self._shown = asyncio.Event()
        station.watch_display(self._show)

    def _show(self, _station: object, state: DisplayState) -> None:
        self.lines.append(english(state))
        self._shown.set()

    async def wait_for(self, line: str) -> None:
        async with asyncio.timeout(5.0):
            while line not in self.lines:
                self._shown.clear()
                await self._shown.wait()


@contextlib.asynccontextmanager
async def branch(tmp_path: Path, broker: Broker) -> AsyncIterator[tuple[App, Desk, Desk]]:
    """A checkout station (to lend books) and a check-in station."""
    checkout, checkin = sim_station("checkout"), sim_station("checkin")
    config = station_config(
        tmp_path,
        broker.port,
        [checkout, checkin],
        checkout={"debounce_seconds": 0.0, "poll_seconds": 0.02},
        checkin={"poll_seconds": 0.02},
    )
    async with Circulation(broker.port) as desk, running(config) as app:
        for table in (checkout, checkin):
            await desk.wait_for("reader.connected", station=table["name"])
        yield app, Desk(desk, checkout["name"]), Desk(desk, checkin["name"])


def station(app: App, desk: Desk, trap: RecordingTrap) -> Display:
    """Plugs `trap` into the check-in station; what its desk shows."""
    found = app.station(desk.name)
    assert isinstance(found, CheckinStation)
    found.trap = trap
    return Display(found)


async def lent(checkout: Desk, number: str) -> tuple[str, str]:
    """A book lent at the checkout (AFI on loan, EAS off): its item id and tag UID."""
    item_id = with_check_digit(number)
    uid = await checkout.place(memory_hex=memory(item_id))
    await checkout.desk.wait_for("item.detected", lambda e: e.data.uid == uid)
    reply = await checkout.security([item_id], secured=False)
    assert reply["ok"], reply
    return item_id, uid


async def test_a_returned_item_is_secured_and_handed_over_once_per_presence(
    tmp_path: Path, broker: Broker
) -> None:
    async with branch(tmp_path, broker) as (app, checkout, checkin):
        trap = RecordingTrap()
        desk = station(app, checkin, trap)
        item_id, uid = await lent(checkout, "30000001")
        tag = default_world().tags[parse_uid(uid)]
        assert (tag.afi, tag.eas) == (0xC2, False)

        await checkin.place(uid=uid)
        arrived = await checkin.desk.wait_for("item.detected", station=checkin.name)
        assert (arrived.data.item_id, arrived.data.secured) == (item_id, False)
        changed = await checkin.desk.wait_for("security.changed", station=checkin.name)
        assert (changed.data.uid, changed.data.item_id, changed.data.secured) == (uid, item_id, True)
        assert (changed.data.afi, changed.data.eas, changed.data.request_id) == (0x07, True, None)
        assert (tag.afi, tag.eas) == (0x07, True)
        (handed,) = await trap.wait(1)
        assert handed == IdentifiedItem(item_id, uid, IdentifiedBy.RFID, True, checkin.name, LIBRARY)
        await desk.wait_for(f"{item_id}: to the hold shelf (hold H-1, already reported)")

        mark = checkin.desk.mark()
        await checkin.scan(item_id)  # scanned while it lies on the pad: the same presence
        await checkin.desk.wait_for("barcode.scanned", station=checkin.name, after=mark)
        await desk.wait_for(f"{item_id}: already checked in")
        await checkin.remove(uid)
        await checkin.desk.wait_for("item.removed", station=checkin.name, after=mark)
        await checkin.place(uid=uid)  # returned again: a new presence
        await checkin.desk.wait_for("security.changed", station=checkin.name, after=mark)
        assert len(await trap.wait(2)) == 2
        assert len(checkin.desk.of("security.changed", checkin.name)) == 2


async def test_a_scan_of_an_item_on_the_pad_secures_and_hands_it_over_once(
    tmp_path: Path, broker: Broker
) -> None:
    async with branch(tmp_path, broker) as (app, checkout, checkin):
        trap = RecordingTrap()
        station(app, checkin, trap)
        item_id, uid = await lent(checkout, "30000002")
        await checkin.place(uid=uid)
        await checkin.scan(f"A{item_id}B")  # the label's start/stop characters as the scanner sends them
        scanned = await checkin.desk.wait_for("barcode.scanned", station=checkin.name)
        assert (scanned.data.item_id, scanned.data.raw, scanned.data.reason) == (
            item_id,
            f"A{item_id}B",
            None,
        )
        changed = await checkin.desk.wait_for("security.changed", station=checkin.name)
        assert (changed.data.uid, changed.data.secured) == (uid, True)
        (handed,) = await trap.wait(1)
        assert (handed.item_id, handed.uid, handed.secured) == (item_id, uid, True)

        bad = with_check_digit("30000003")[:-1] + "0"
        await checkin.scan(bad)
        refused = await checkin.desk.wait_for("barcode.scanned", lambda e: e.data.raw == bad)
        assert (refused.data.item_id, refused.data.reason) == (None, "bad_check_digit")
        assert len(checkin.desk.of("security.changed", checkin.name)) == 1
        assert len(trap.items) == 1


async def test_a_scan_without_its_tag_is_handed_over_unsecured_and_a_failing_trap_stops_nothing(
    tmp_path: Path, broker: Broker
) -> None:
    async with branch(tmp_path, broker) as (app, checkout, checkin):
        barcode_only = with_check_digit("30000004")
        trap = RecordingTrap(fail_for=barcode_only)
        desk = station(app, checkin, trap)
        await checkin.scan(barcode_only)
        (handed,) = await trap.wait(1)
        assert handed == IdentifiedItem(
            barcode_only, None, IdentifiedBy.BARCODE, False, checkin.name, LIBRARY
        )
        failed = "hold check failed (the holds ledger is broken): ask a librarian"
        await desk.wait_for(f"{barcode_only}: {failed}; NOT secured: its tag is not on the pad")
        unsecured = await checkin.desk.wait_for("security.failed", station=checkin.name)
        assert (unsecured.data.item_id, unsecured.data.uid) == (barcode_only, None)
        assert (unsecured.data.code, unsecured.data.secured) == ("not_on_pad", True)
        assert unsecured.data.request_id is None

        item_id, uid = await lent(checkout, "30000005")
        await checkin.place(uid=uid)  # the station goes on after the trap's failure
        await checkin.desk.wait_for("security.changed", lambda e: e.data.uid == uid, station=checkin.name)
        assert [item.item_id for item in await trap.wait(2)] == [barcode_only, item_id]
        assert [e.data.uid for e in checkin.desk.of("security.changed", checkin.name)] == [uid]
