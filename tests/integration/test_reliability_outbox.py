"""docs/reliability.md §8, the outbox full and the disk full: no event is dropped silently, the retained
status says so (with a current depth), every role's station refuses work with a reason staff or the
circulation system can see, nothing is left half-done, and work resumes once there is room again.

The outbox is filled by a backlog: events of a station of an earlier configuration (`ghost`) that no
running link publishes, as a branch's events pile up while its network is away. Room comes back the way
it does in the field: a link for that station comes up and the broker acknowledges the backlog. The disk
is a real 16 MiB tmpfs filled by a ballast file. Tags are put on pads through sim/place; a tag's AFI and
EAS, which no topic sets, through the simulated world's test API.
"""

import asyncio
import contextlib
import errno
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tagd.daemon.app import App
from tagd.daemon.config.model import Config
from tagd.daemon.mqtt.link import STATUS_DEPTH_SECONDS, MqttLink
from tagd.daemon.store.outbox import WAL_SIZE_LIMIT, Outbox, OutboxFull, OutboxSettings, Reporter
from tagd.drivers.sim.reader import default_world
from tagd.protocols import iso28560
from tagd.protocols.events import ItemRemoved, ReaderConnected, Role
from tagd.protocols.iso15693 import parse_uid
from tagd.protocols.iso28560 import encode_basic_block

from .broker import Broker, Received, Subscriber
from .disks import tmpfs
from .stations import ISIL, LIBRARY, Circulation, Displays, running, sim_station, station_config

CONFIG_DIR = Path(__file__).parents[2] / "config"
FULL = 5
"""max_events in these tests: the backlog fills it."""
GHOST = "ghost"
CAT = "100000017"  # in the demo delivery list: softcover, the transparent L301
L301 = "U-TAG-L301"
SECURED, ON_LOAN = 0x07, 0xC2
WAIT_S = 10.0
DISK_BACKLOG = 20
REFUSED = "not working: "


async def backlog(config: Config, count: int = FULL) -> None:
    """`count` events of the ghost station, stored before tagd starts (nothing publishes them yet)."""
    outbox = await Outbox.open(OutboxSettings(path=config.outbox_path))
    try:
        ghost = Reporter(outbox, station=GHOST, library=LIBRARY)
        for _ in range(count):
            await ghost.emit(ReaderConnected(reader="reader", url=f"sim:{GHOST}"))
    finally:
        await outbox.close()


@contextlib.asynccontextmanager
async def ghost_link(app: App) -> AsyncIterator[MqttLink]:
    """The ghost station's link up at last: it publishes the backlog, the broker acknowledges it: room."""
    assert app.outbox is not None
    reporter = Reporter(app.outbox, station=GHOST, library=LIBRARY)
    link = MqttLink(app.config.mqtt, reporter, role=Role.GATE)
    task = asyncio.create_task(link.run())
    try:
        yield link
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def config_for(
    tmp_path: Path, broker: Broker, table: dict[str, Any], max_events: int = FULL, **sections: Any
) -> Config:
    return station_config(
        tmp_path,
        broker.port,
        [table],
        outbox={"max_events": max_events},
        catalog={"load": str(CONFIG_DIR / "demo-delivery.csv")},
        encoder={"tag_return_seconds": 5.0, "poll_seconds": 0.02, "retry_delay_seconds": 0.01},
        checkout={"debounce_seconds": 0.0, "poll_seconds": 0.02},
        checkin={"poll_seconds": 0.02},
        gate={"poll_seconds": 0.02, "alarm_repeat_seconds": 60.0},
        **sections,
    )


def tag_state(uid: str) -> tuple[bytes, int, bool]:
    tag = default_world().tags[parse_uid(uid)]
    return bytes(tag.memory), tag.afi, tag.eas


def item_tag_blank() -> str:
    return f"{default_world().new_tag(L301).uid:016X}"


def item_tag(item_id: str, *, afi: int = 0, eas: bool = False) -> str:
    """A tag carrying `item_id` in the simulated world, in no field yet; its UID."""
    tag = default_world().new_tag(L301, memory=encode_basic_block(item_id, ISIL))
    tag.afi, tag.eas = afi, eas
    return f"{tag.uid:016X}"


async def until_full(desk: Circulation, name: str) -> None:
    await desk.wait_status(name, lambda s: s["outbox_full"] and s["outbox_depth"] == FULL, WAIT_S)


async def until_room(desk: Circulation, name: str) -> None:
    await desk.wait_status(name, lambda s: not s["outbox_full"] and s["outbox_depth"] == 0, WAIT_S)


# -- the status ----------------------------------------------------------------------------------------------


async def test_the_status_follows_the_outbox_depth_at_most_once_a_second(
    tmp_path: Path, broker: Broker
) -> None:
    """Depth changes without `full` changing: the retained status catches up (it used to keep the depth of
    its last full/not-full change), and a stream of events costs about one status a second, not one each."""
    table = sim_station("gate")
    name = table["name"]
    config = station_config(tmp_path, broker.port, [table], outbox={"max_events": 1000})
    statuses = Subscriber(broker.port, [f"tagd/{name}/status"])
    async with statuses.connect(), running(config) as app:
        assert app.outbox is not None
        await statuses.wait_for(lambda m: depths(m)[-1:] == [0])
        ghost = Reporter(app.outbox, station=GHOST, library=LIBRARY)
        for _ in range(7):
            await ghost.emit(ItemRemoved(reader="reader", uid="E004015000000001"))
        await statuses.wait_for(lambda m: depths(m)[-1:] == [7])
        assert not json.loads(statuses.messages[-1].payload)["outbox_full"]

        before, started = len(statuses.messages), time.monotonic()
        for _ in range(100):
            await ghost.emit(ItemRemoved(reader="reader", uid="E004015000000001"))
            await asyncio.sleep(0.01)  # pacing: a steady stream of events over a second or more
        await statuses.wait_for(lambda m: depths(m)[-1:] == [107])
        elapsed = time.monotonic() - started
        published = len(statuses.messages) - before
        print(
            f"100 events over {elapsed:.2f} s: {published} statuses (at most 1 per {STATUS_DEPTH_SECONDS} s)"
        )
        assert 1 <= published <= elapsed / STATUS_DEPTH_SECONDS + 2, (published, elapsed)
        async with ghost_link(app):
            await statuses.wait_for(lambda m: depths(m)[-1:] == [0])


def depths(messages: list[Received]) -> list[int]:
    return [json.loads(m.payload)["outbox_depth"] for m in messages if m.payload]


# -- every role, the outbox full -----------------------------------------------------------------------------


async def test_an_encoder_refuses_scans_and_commands_writes_nothing_and_recovers(
    tmp_path: Path, broker: Broker
) -> None:
    table = sim_station("encoder")
    name = table["name"]
    config = config_for(tmp_path, broker, table)
    await backlog(config)
    async with Circulation(broker.port) as desk, running(config) as app:
        displays = Displays(app.station(name))
        await until_full(desk, name)
        uid = str((await desk.sim(name, "place", profile=L301))["uid"])
        blank = tag_state(uid)
        await desk.sim(name, "scan", raw=CAT)
        line = await displays.wait_for(lambda line: line.startswith(REFUSED))
        assert "outbox is full" in line
        request = await desk.cmd(name, "encode", item_id=CAT, kind="book", binding="softcover")
        reply = await desk.wait_reply(request)
        assert (reply["ok"], reply["code"], reply["item_id"]) == (False, "outbox_full", CAT)
        assert "outbox is full" in reply["error"]
        assert tag_state(uid) == blank
        assert desk.of("barcode.scanned", name) == desk.of("item.encoded", name) == []

        async with ghost_link(app):
            await until_room(desk, name)
            await desk.sim(name, "scan", raw=CAT)
            event = await desk.wait_for("item.encoded", station=name, within=WAIT_S)
        assert event.data.uid == uid
        assert iso28560.decode(tag_state(uid)[0]).item_id == CAT


async def test_a_checkout_refuses_the_pad_and_cmd_security_and_recovers(
    tmp_path: Path, broker: Broker
) -> None:
    table = sim_station("checkout")
    name = table["name"]
    config = config_for(tmp_path, broker, table)
    await backlog(config)
    async with Circulation(broker.port) as desk, running(config) as app:
        displays = Displays(app.station(name))
        await until_full(desk, name)
        uid = item_tag(CAT, afi=ON_LOAN)
        assert (await desk.sim(name, "place", uid=uid))["ok"]
        line = await displays.wait_for(lambda line: line.startswith(REFUSED))
        assert "outbox is full" in line
        request = await desk.cmd(name, "security", items=[CAT], secured=True)
        reply = await desk.wait_reply(request)
        assert (reply["ok"], reply["code"]) == (False, "outbox_full")
        assert tag_state(uid)[1:] == (ON_LOAN, False)
        assert desk.of("item.detected", name) == desk.of("security.changed", name) == []

        async with ghost_link(app):
            await until_room(desk, name)
            detected = await desk.wait_for("item.detected", station=name, within=WAIT_S)
            assert (detected.data.uid, detected.data.item_id) == (uid, CAT)
            request = await desk.cmd(name, "security", items=[CAT], secured=True)
            assert (await desk.wait_reply(request))["ok"]
            await desk.wait_for("security.changed", station=name, within=WAIT_S)
        assert tag_state(uid)[1:] == (SECURED, True)


async def test_a_checkin_refuses_the_pad_and_scans_and_recovers(tmp_path: Path, broker: Broker) -> None:
    table = sim_station("checkin")
    name = table["name"]
    config = config_for(tmp_path, broker, table)
    await backlog(config)
    async with Circulation(broker.port) as desk, running(config) as app:
        displays = Displays(app.station(name))
        await until_full(desk, name)
        uid = item_tag(CAT, afi=ON_LOAN)
        assert (await desk.sim(name, "place", uid=uid))["ok"]
        line = await displays.wait_for(lambda line: line.startswith(REFUSED))
        assert "outbox is full" in line
        mark = displays.mark()
        await desk.sim(name, "scan", raw=CAT)
        await displays.wait_for(lambda line: line.startswith(REFUSED), after=mark)
        assert tag_state(uid)[1:] == (ON_LOAN, False), "a returned book must not be half checked in"
        assert desk.of("item.detected", name) == desk.of("security.changed", name) == []
        assert desk.of("barcode.scanned", name) == []

        async with ghost_link(app):
            await until_room(desk, name)
            changed = await desk.wait_for("security.changed", station=name, within=WAIT_S)
        assert (changed.data.uid, changed.data.secured) == (uid, True)
        assert tag_state(uid)[1:] == (SECURED, True)


async def test_a_gate_still_alarms_says_it_cannot_report_and_reports_again_after(
    tmp_path: Path, broker: Broker
) -> None:
    """A gate cannot refuse a passing book: it still sounds (the display), the alarm it cannot store is
    logged as an error and the status shows the outbox full; once there is room, alarms are reported."""
    table = sim_station("gate")
    name = table["name"]
    config = config_for(tmp_path, broker, table)
    await backlog(config)
    async with Circulation(broker.port) as desk, running(config) as app:
        displays = Displays(app.station(name))
        await until_full(desk, name)
        stolen = item_tag(CAT, afi=SECURED, eas=True)
        assert (await desk.sim(name, "place", uid=stolen))["ok"]
        line = await displays.wait_for(lambda line: line.startswith("ALARM"))
        assert stolen in line  # at once, on the tag's answer
        assert "not reported" in line, line
        line = await displays.wait_for(lambda line: CAT in line)  # its item, read after the alarm
        assert "not reported" in line, line
        assert desk.of("gate.alarm", name) == []

        async with ghost_link(app):
            await until_room(desk, name)
            other = item_tag("100000025", afi=SECURED, eas=True)
            assert (await desk.sim(name, "place", uid=other))["ok"]
            alarm = await desk.wait_for("gate.alarm", lambda e: e.data.uid == other, station=name)
            identified = await desk.wait_for(
                "gate.identified", lambda e: e.data.alarm_id == alarm.id, station=name
            )
        assert identified.data.item_id == "100000025"


# -- nothing half-done ---------------------------------------------------------------------------------------


async def test_an_encoder_whose_outbox_fills_while_it_waits_for_the_tag_does_not_write_it(
    tmp_path: Path, broker: Broker
) -> None:
    """The scan was taken with room to spare; the outbox fills before the tag comes: the tag must not be
    written, since item.encoded could not be stored (a tag encoded with no record of it)."""
    table = sim_station("encoder")
    name = table["name"]
    config = config_for(tmp_path, broker, table)
    await backlog(config, FULL - 1)
    async with Circulation(broker.port) as desk, running(config) as app:
        assert app.outbox is not None
        displays = Displays(app.station(name))
        await desk.wait_status(name, lambda s: s["outbox_depth"] == FULL - 1, WAIT_S)
        await desk.sim(name, "scan", raw=CAT)
        await displays.wait_for(lambda line: line.startswith(f"{CAT}: put one"))
        await fill_last_place(app.outbox)
        mark = displays.mark()
        uid = str((await desk.sim(name, "place", profile=L301))["uid"])
        line = await displays.wait_for(lambda line: uid in line or line.startswith(REFUSED), after=mark)
        written = any(tag_state(uid)[0])
        assert not written, f"the tag was written with the outbox full; the desk shows {line!r}"


async def fill_last_place(outbox: Outbox) -> None:
    """One ghost event into the last place, once barcode.scanned is acknowledged (the status may show the
    depth of a second ago): an append refused meanwhile is made again when the outbox has room."""
    changed = asyncio.Event()
    outbox.watch(changed.set)
    ghost = Reporter(outbox, station=GHOST, library=LIBRARY)
    while True:
        try:
            await ghost.emit(ItemRemoved(reader="r", uid="E004015000000001"))
        except OutboxFull:
            changed.clear()
            await asyncio.wait_for(changed.wait(), WAIT_S)
        else:
            return


# -- the disk full -------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB tmpfs (the 1 MiB case is its own test below)."""
    with tmpfs(tmp_path / "disk", "16m") as mount:
        yield mount


def fill_disk(ballast: Path) -> int:
    """Writes `ballast` until the disk refuses (ENOSPC); its size."""
    written = 0
    with ballast.open("wb", buffering=0) as out:
        while True:
            try:
                written += out.write(b"\0" * 65536)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return written


async def disk_full(ghost: Reporter) -> int:
    """Ghost events until SQLite needs a page the disk does not have (OutboxFull, disk_full); how many fit."""
    stored = 0
    with pytest.raises(OutboxFull, match="disk is full") as refused:  # noqa: PT012 - filling the disk
        for _ in range(5000):
            await ghost.emit(ItemRemoved(reader="reader", uid="E004015000000001"))
            stored += 1
    assert refused.value.reason == "disk_full"
    return stored


@pytest.mark.parametrize("role", ["encoder", "checkout", "checkin"])
async def test_a_full_disk_refuses_work_and_recovers_once_space_returns_and_the_backlog_drains(
    tmp_path: Path, broker: Broker, tiny_disk: Path, role: str
) -> None:
    """The usual way a disk fills: a backlog waits for the broker while files grow. Every station refuses
    with the reason, touches no tag, and works again once there is space and the backlog is published."""
    table = sim_station(role)
    name = table["name"]
    config = config_for(tmp_path, broker, table, max_events=100_000, state_dir=str(tiny_disk / "state"))
    async with Circulation(broker.port) as desk, running(config) as app:
        assert app.outbox is not None
        displays = Displays(app.station(name))
        ghost = Reporter(app.outbox, station=GHOST, library=LIBRARY)
        for _ in range(DISK_BACKLOG):
            await ghost.emit(ItemRemoved(reader="reader", uid="E004015000000001"))
        await desk.wait_status(name, lambda s: s["outbox_depth"] == DISK_BACKLOG, WAIT_S)  # its own are out
        ballast = tiny_disk / "ballast"
        fill_disk(ballast)
        backlog_depth = DISK_BACKLOG + await disk_full(ghost)
        await desk.wait_status(
            name, lambda s: s["outbox_full"] and s["outbox_depth"] == backlog_depth, WAIT_S
        )
        uid = item_tag(CAT, afi=ON_LOAN) if role != "encoder" else item_tag_blank()
        before = tag_state(uid)
        assert (await desk.sim(name, "place", uid=uid))["ok"]
        if role == "encoder":
            await desk.sim(name, "scan", raw=CAT)
        line = await displays.wait_for(lambda line: line.startswith(REFUSED))
        assert "outbox is full" in line
        request = None
        if role == "encoder":
            request = await desk.cmd(name, "encode", item_id=CAT, kind="book", binding="softcover")
        elif role == "checkout":
            request = await desk.cmd(name, "security", items=[CAT], secured=True)
        if request is not None:
            reply = await desk.wait_reply(request)
            assert (reply["ok"], reply["code"]) == (False, "outbox_full"), reply
        assert tag_state(uid) == before

        ballast.unlink()  # space returns
        async with ghost_link(app):
            await until_room(desk, name)
            if role == "encoder":
                await desk.sim(name, "scan", raw=CAT)
                event = await desk.wait_for("item.encoded", station=name, within=WAIT_S)
            elif role == "checkout":
                event = await desk.wait_for("item.detected", station=name, within=WAIT_S)
                request = await desk.cmd(name, "security", items=[CAT], secured=True)
                assert (await desk.wait_reply(request))["ok"]
            else:
                event = await desk.wait_for("security.changed", station=name, within=WAIT_S)
        assert event.data.uid == uid
        assert tag_state(uid) != before


async def test_a_full_disk_with_no_backlog_recovers_when_space_returns(
    tmp_path: Path, broker: Broker, tiny_disk: Path
) -> None:
    table = sim_station("checkout")
    name = table["name"]
    config = config_for(tmp_path, broker, table, max_events=100_000, state_dir=str(tiny_disk / "state"))
    async with Circulation(broker.port) as desk, running(config) as app:
        assert app.outbox is not None
        await desk.wait_status(name, lambda s: s["outbox_depth"] == 0, WAIT_S)  # its own events are out
        ballast = tiny_disk / "ballast"
        fill_disk(ballast)
        await disk_full(Reporter(app.outbox, station=GHOST, library=LIBRARY))
        await desk.wait_status(name, lambda s: s["outbox_full"], WAIT_S)
        ballast.unlink()  # space returns; nothing is waiting to be acknowledged
        uid = item_tag(CAT, afi=ON_LOAN)
        assert (await desk.sim(name, "place", uid=uid))["ok"]
        await desk.wait_for("item.detected", lambda e: e.data.uid == uid, station=name, within=5.0)


def wal_size(config: Config) -> int:
    wal = config.outbox_path.with_name(config.outbox_path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_on_a_1_mib_disk_the_log_stays_small_and_the_station_recovers_and_restarts(
    tmp_path: Path, broker: Broker
) -> None:
    """A station PC with a small SD card: under normal load the write-ahead log stays bounded (it once grew
    to 988 KiB and wedged the station for good); a disk filled by something else is taken back as soon as
    there is room, with nothing to acknowledge; after a clean stop the log is gone and a restart works."""
    with tmpfs(tmp_path / "small", "1m") as disk:
        table = sim_station("checkout")
        name = table["name"]
        config = config_for(tmp_path, broker, table, max_events=100_000, state_dir=str(disk / "state"))
        async with Circulation(broker.port) as desk, running(config) as app:
            assert app.outbox is not None
            ghost = Reporter(app.outbox, station=GHOST, library=LIBRARY)
            largest = 0
            async with ghost_link(app):  # normal load: each event published and acknowledged
                for _ in range(1500):
                    await ghost.emit(ItemRemoved(reader="reader", uid="E004015000000001"))
                    largest = max(largest, wal_size(config))
                async with asyncio.timeout(WAIT_S):
                    await app.outbox.drained()
            assert largest <= WAL_SIZE_LIMIT + 64 * 1024, f"the log grew to {largest} bytes"

            ballast = disk / "ballast"
            fill_disk(ballast)
            await disk_full(ghost)
            await desk.wait_status(name, lambda s: s["outbox_full"], WAIT_S)
            card = await desk.cmd(name, "security", items=[CAT], secured=True)
            assert (await desk.wait_reply(card))["code"] == "outbox_full"
            refused = await desk.sim(name, "card", id="2100012345678")  # not "ok" while nothing is reported
            assert (refused["ok"], refused["code"]) == (False, "outbox_full")
            ballast.unlink()  # room again; the ghost's backlog cannot be acknowledged (no link)
            await desk.wait_status(name, lambda s: not s["outbox_full"], WAIT_S)
            uid = item_tag(CAT, afi=ON_LOAN)
            assert (await desk.sim(name, "place", uid=uid))["ok"]
            await desk.wait_for("item.detected", lambda e: e.data.uid == uid, station=name, within=WAIT_S)
        assert wal_size(config) <= 64 * 1024, "a clean stop leaves the log truncated"
        async with Circulation(broker.port) as desk, running(config):
            status = await desk.wait_status(name, lambda s: s["state"] == "online", WAIT_S)
            assert not status["outbox_full"]
