"""The encoder station end to end: real mosquitto, the simulated world, and only the documented topics
(sim/place, sim/remove, sim/scan, cmd/encode) to drive it. Fault injection that has no topic (a tag
leaving mid-write, an unplugged reader) uses the simulated world's own test API."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tagd.daemon.app import App
from tagd.daemon.config.model import Config
from tagd.daemon.store.outbox import Outbox, OutboxFull, OutboxSettings, Reporter
from tagd.drivers.scanner import sim_scanner
from tagd.drivers.sim.reader import default_world
from tagd.protocols import iso28560
from tagd.protocols.events import ReaderConnected
from tagd.protocols.iso15693 import parse_uid
from tagd.protocols.iso28560 import DataModel, Iso28560Error, TagData
from tagd.protocols.iso28560 import part2 as iso28560_2

from .broker import Broker
from .stations import Circulation, Displays, running, sim_station, station_config

CONFIG_DIR = Path(__file__).parents[2] / "config"
L301, L1000M = "U-TAG-L301", "U-TAG-L1000M"
CAT = "100000017"  # 吾輩は猫である in the demo delivery list: softcover, the transparent L301
BOTCHAN = "100000025"  # hardcover: the white L1000M
CLOTH = "100000058"  # a cloth picture book: ask a librarian
NOT_IN_CATALOG = "123456782"
ISIL = "JP-1000001"
RETURN_S = 1.5


@dataclass
class Desk:
    app: App
    desk: Circulation
    name: str
    displays: Displays

    async def place(self, profile: str = L301, memory: bytes | None = None) -> str:
        fields = {"profile": profile} | ({"memory_hex": memory.hex()} if memory is not None else {})
        reply = await self.desk.sim(self.name, "place", **fields)
        assert reply["ok"], reply
        return str(reply["uid"])


@pytest.fixture
async def desk(request: pytest.FixtureRequest, tmp_path: Path, broker: Broker) -> AsyncIterator[Desk]:
    """An encoder on sim: hardware with the demo delivery list; `indirect` parametrisation picks the data
    model (ISO 28560-3 by default), with the shipped tag profiles rewritten to it."""
    model = getattr(request, "param", "iso28560-3")
    config, name = encoder_config(tmp_path, broker, model)
    async with Circulation(broker.port) as circulation, running(config) as app:
        yield Desk(app, circulation, name, Displays(app.station(name)))


def encoder_config(
    tmp_path: Path,
    broker: Broker,
    model: str,
    *,
    return_s: float = RETURN_S,
    lock: str = "none",
    **sections: object,
) -> tuple[Config, str]:
    """An encoder on sim: hardware, the shipped tag profiles rewritten to `model` and `lock`; its name."""
    profiles = tmp_path / "tag-profiles.toml"
    shipped = (CONFIG_DIR / "tag-profiles.toml").read_text(encoding="utf-8")
    rewritten = shipped.replace('data_model = "iso28560-3"', f'data_model = "{model}"')
    profiles.write_text(rewritten.replace('lock = "none"', f'lock = "{lock}"'), encoding="utf-8")
    table = sim_station("encoder")
    config = station_config(
        tmp_path,
        broker.port,
        [table],
        data_model=model,
        tag_profiles=str(profiles),
        catalog={"load": str(CONFIG_DIR / "demo-delivery.csv")},
        encoder={"tag_return_seconds": return_s, "poll_seconds": 0.02, "retry_delay_seconds": 0.01},
        **sections,
    )
    return config, str(table["name"])


async def fill_with_ghosts(outbox: Outbox) -> None:
    """Events of a removed station until they alone fill the outbox: an append refused while the station's
    own events wait for their acknowledgement is made again once they leave room."""
    changed = asyncio.Event()
    outbox.watch(changed.set)
    ghost = Reporter(outbox, station="removed-station", library="test")
    stored = 0
    while True:
        try:
            await ghost.emit(ReaderConnected(reader="reader", url="sim:removed-station"))
            stored += 1
        except OutboxFull:
            if outbox.depth == stored:
                return
            changed.clear()
            await asyncio.wait_for(changed.wait(), 10.0)


def tag_memory(uid: str) -> bytes:
    return bytes(default_world().tags[parse_uid(uid)].memory)


def decoded(uid: str) -> iso28560.TagData:
    return iso28560.decode(tag_memory(uid))


def item_block(item_id: str, model: str = "iso28560-3") -> bytes:
    if model == "iso28560-2":
        return iso28560_2.encode(TagData(DataModel.ISO28560_2, item_id, ISIL, usage=1))
    return iso28560.encode_basic_block(item_id, ISIL)


async def test_a_scan_of_a_catalog_item_encodes_the_tag_on_the_pad(desk: Desk) -> None:
    uid = await desk.place(L301)
    await desk.desk.sim(desk.name, "scan", raw="A100000017B")
    scanned = await desk.desk.wait_for("barcode.scanned")
    assert scanned.data.item_id == CAT
    event = await desk.desk.wait_for("item.encoded")
    data = event.data
    assert (data.item_id, data.uid, data.product, data.already, data.request_id) == (
        CAT,
        uid,
        L301,
        False,
        None,
    )
    assert data.title == "吾輩は猫である"
    assert data.rule_reason == "default_transparent"
    tag = default_world().tags[parse_uid(uid)]
    found = decoded(uid)
    assert (found.item_id, found.isil, found.usage) == (CAT, ISIL, 1)
    assert tag.afi == 0x07
    assert tag.eas


async def test_cmd_encode_replies_with_the_tag_and_the_event_carries_its_request_id(desk: Desk) -> None:
    uid = await desk.place(L1000M)
    request = await desk.desk.cmd(desk.name, "encode", item_id=BOTCHAN, kind="book", binding="hardcover")
    reply = await desk.desk.wait_reply(request)
    assert reply == {
        "request_id": request,
        "ok": True,
        "item_id": BOTCHAN,
        "uid": uid,
        "product": L1000M,
        "already": False,
    }
    event = await desk.desk.wait_for("item.encoded")
    assert (event.data.request_id, event.data.title, event.data.rule_reason) == (
        request,
        "坊っちゃん",
        "hardcover",
    )
    assert decoded(uid).item_id == BOTCHAN


async def test_the_wrong_tag_type_is_rejected_and_nothing_is_written(desk: Desk) -> None:
    uid = await desk.place(L301)
    request = await desk.desk.cmd(desk.name, "encode", item_id=BOTCHAN, kind="book", binding="hardcover")
    reply = await desk.desk.wait_reply(request)
    assert (reply["ok"], reply["code"], reply["reason"], reply["uid"]) == (
        False,
        "rejected",
        "wrong_tag_type",
        uid,
    )
    event = await desk.desk.wait_for("item.encode_rejected")
    assert (event.data.reason, event.data.required, event.data.found) == ("wrong_tag_type", L1000M, L301)
    assert not any(tag_memory(uid))


async def test_a_librarians_override_picks_the_tag(desk: Desk) -> None:
    uid = await desk.place(L301)
    request = await desk.desk.cmd(
        desk.name, "encode", item_id=BOTCHAN, kind="book", binding="hardcover", override_tag="L301"
    )
    assert (await desk.desk.wait_reply(request))["ok"]
    event = await desk.desk.wait_for("item.encoded")
    assert (event.data.uid, event.data.rule_reason) == (uid, "librarian_override")


async def test_an_unclear_item_asks_a_librarian(desk: Desk) -> None:
    await desk.place(L301)
    await desk.desk.sim(desk.name, "scan", raw=CLOTH)
    event = await desk.desk.wait_for("item.encode_rejected")
    assert (event.data.reason, event.data.item_id, event.data.rule_reason) == (
        "ask_librarian",
        CLOTH,
        "cloth_binding",
    )
    assert "librarian" in event.data.detail
    await desk.displays.wait_for(lambda line: "ask_librarian" in line)


async def test_a_tag_carrying_another_item_is_in_use_unless_forced(desk: Desk) -> None:
    uid = await desk.place(L301, item_block(NOT_IN_CATALOG))
    request = await desk.desk.cmd(desk.name, "encode", item_id=CAT, kind="book", binding="softcover")
    reply = await desk.desk.wait_reply(request)
    assert (reply["ok"], reply["reason"]) == (False, "tag_in_use")
    rejected = await desk.desk.wait_for("item.encode_rejected")
    assert (rejected.data.existing_item_id, rejected.data.uid) == (NOT_IN_CATALOG, uid)
    assert decoded(uid).item_id == NOT_IN_CATALOG

    forced = await desk.desk.cmd(
        desk.name, "encode", item_id=CAT, kind="book", binding="softcover", force=True
    )
    assert (await desk.desk.wait_reply(forced))["ok"]
    event = await desk.desk.wait_for("item.encoded")
    assert (event.data.forced, event.data.request_id) == (True, forced)
    assert decoded(uid).item_id == CAT


async def test_undecodable_data_counts_as_in_use(desk: Desk) -> None:
    torn = bytearray(item_block(NOT_IN_CATALOG))
    torn[5] ^= 0xFF  # a bad CRC: a torn write by someone else
    await desk.place(L301, bytes(torn))
    request = await desk.desk.cmd(desk.name, "encode", item_id=CAT, kind="book", binding="softcover")
    reply = await desk.desk.wait_reply(request)
    assert (reply["ok"], reply["reason"]) == (False, "tag_in_use")
    assert "CRC" in reply["error"]


async def test_a_tag_marked_torn_that_reads_as_another_item_still_needs_force(desk: Desk) -> None:
    """Writing without force is for tagd's own unfinished write: the tag reading as nothing (or as the item
    it was written for). One that reads as another item may be in that book already."""
    assert desk.app.catalog is not None
    uid = await desk.place(L301, item_block(NOT_IN_CATALOG))
    desk.app.catalog.mark_torn(parse_uid(uid), CAT)
    request = await desk.desk.cmd(desk.name, "encode", item_id=CAT, kind="book", binding="softcover")
    reply = await desk.desk.wait_reply(request)
    assert (reply["ok"], reply["reason"]) == (False, "tag_in_use")
    assert decoded(uid).item_id == NOT_IN_CATALOG


async def test_the_same_item_already_on_the_tag_is_success_with_already(desk: Desk) -> None:
    uid = await desk.place(L301, item_block(CAT))
    before = tag_memory(uid)
    await desk.desk.sim(desk.name, "scan", raw=CAT)
    event = await desk.desk.wait_for("item.encoded")
    assert (event.data.uid, event.data.already, event.data.forced) == (uid, True, False)
    assert tag_memory(uid) == before


async def test_a_bad_barcode_is_reported_with_the_parsers_reason(desk: Desk) -> None:
    await desk.desk.sim(desk.name, "scan", raw="A100000018B")
    scanned = await desk.desk.wait_for("barcode.scanned")
    assert (scanned.data.item_id, scanned.data.reason) == (None, "bad_check_digit")
    event = await desk.desk.wait_for("item.encode_rejected")
    assert (event.data.reason, event.data.barcode_reason, event.data.raw) == (
        "bad_barcode",
        "bad_check_digit",
        "A100000018B",
    )


async def test_an_item_not_in_the_catalog_is_rejected(desk: Desk) -> None:
    await desk.desk.sim(desk.name, "scan", raw=NOT_IN_CATALOG)
    event = await desk.desk.wait_for("item.encode_rejected")
    assert (event.data.reason, event.data.item_id) == ("unknown_item", NOT_IN_CATALOG)


async def test_no_tag_on_the_pad_is_rejected_after_the_wait(desk: Desk) -> None:
    request = await desk.desk.cmd(desk.name, "encode", item_id=CAT, kind="book", binding="softcover")
    reply = await desk.desk.wait_reply(request, RETURN_S + 3)
    assert (reply["ok"], reply["reason"]) == (False, "no_tag")


async def test_several_tags_are_waited_out_then_rejected(desk: Desk) -> None:
    await desk.place(L301)
    await desk.place(L301)
    request = await desk.desk.cmd(desk.name, "encode", item_id=CAT, kind="book", binding="softcover")
    await desk.displays.wait_for(lambda line: line.startswith("2 tags on the pad"))
    reply = await desk.desk.wait_reply(request, RETURN_S + 3)
    assert (reply["ok"], reply["reason"]) == (False, "several_tags")


async def test_several_tags_then_one_taken_away_encodes_the_one_left(desk: Desk) -> None:
    first = await desk.place(L301)
    second = await desk.place(L301)
    request = await desk.desk.cmd(desk.name, "encode", item_id=CAT, kind="book", binding="softcover")
    await desk.displays.wait_for(lambda line: line.startswith("2 tags on the pad"))
    assert (await desk.desk.sim(desk.name, "remove", uid=first))["ok"]
    reply = await desk.desk.wait_reply(request)
    assert (reply["ok"], reply["uid"]) == (True, second)


async def test_a_newer_scan_supersedes_a_job_still_waiting_for_its_tag(desk: Desk) -> None:
    await desk.desk.sim(desk.name, "scan", raw=BOTCHAN)
    await desk.displays.wait_for(lambda line: line.startswith(f"{BOTCHAN}: put one"))
    await desk.desk.sim(desk.name, "scan", raw=BOTCHAN)
    await desk.displays.wait_for(lambda line: line.startswith(f"{BOTCHAN}: scanned again"))
    await desk.desk.sim(desk.name, "scan", raw=CAT)
    superseded = await desk.desk.wait_for("item.encode_rejected")
    assert (superseded.data.reason, superseded.data.item_id) == ("superseded", BOTCHAN)
    uid = await desk.place(L301)
    event = await desk.desk.wait_for("item.encoded")
    assert (event.data.item_id, event.data.uid) == (CAT, uid)
    assert len(desk.desk.of("item.encode_rejected")) == 1


@pytest.mark.parametrize("desk", ["iso28560-3", "iso28560-2"], indirect=True)
async def test_a_tag_pulled_away_at_every_step_never_reads_as_a_wrong_item_and_is_finished_on_return(
    desk: Desk,
) -> None:
    """leave_after(k): the tag answers k commands, then leaves. For every k until an encoding goes through
    untouched, the tag left behind decodes as its old item (untouched), as nothing valid, or as the new item
    complete; once put back (sim/place), the same job finishes it."""
    world = default_world()
    model = desk.app.config.data_model
    finished_untouched = False
    k = 0
    interrupted_mid_write = 0
    while not finished_untouched:
        k += 1
        assert k < 60, "the encoding never went through"
        old = item_block(NOT_IN_CATALOG, model)
        tag = world.new_tag(L301, memory=old)
        uid = f"{tag.uid:016X}"
        displayed, seen = desk.displays.mark(), desk.desk.mark()
        request = await desk.desk.cmd(
            desk.name, "encode", item_id=CAT, kind="book", binding="softcover", force=True
        )
        await desk.displays.wait_for(lambda line: line.startswith(f"{CAT}: put one"), after=displayed)
        world.place(tag.uid, desk.name)
        tag.leave_after(k)
        line = await desk.displays.wait_for(
            lambda line: "left the pad" in line or "now carries" in line, after=displayed
        )
        if "now carries" in line:
            finished_untouched = True
        else:
            assert world.where(tag.uid) is None
            memory = bytes(tag.memory)
            try:
                found = iso28560.decode(memory)
            except Iso28560Error:
                pass  # nothing valid: what an interrupted write must leave
            else:
                assert (
                    found.item_id == NOT_IN_CATALOG and memory == old.ljust(len(memory), b"\0")
                ) or found.item_id == CAT, (k, found)
            interrupted_mid_write += "while being written" in line
            assert (await desk.desk.sim(desk.name, "place", uid=uid))["ok"]
        reply = await desk.desk.wait_reply(request)
        assert (reply["ok"], reply["uid"]) == (True, uid), (k, reply)
        event = await desk.desk.wait_for("item.encoded", after=seen)
        assert (event.data.request_id, event.data.forced) == (request, True)
        found = iso28560.decode(bytes(tag.memory))
        assert (found.model, found.item_id, found.isil) == (model, CAT, ISIL)
        assert (tag.afi, tag.eas) == (0x07, True)
        world.remove(tag.uid)
    assert interrupted_mid_write >= 9  # zero, 7 data blocks, AFI, EAS, the first block, read-back ...


async def test_an_unplugged_reader_is_lost_reconnected_and_encodes_again(desk: Desk) -> None:
    field = default_world().field(desk.name)
    seen = desk.desk.mark()
    field.unplugged = True
    request = await desk.desk.cmd(desk.name, "encode", item_id=CAT, kind="book", binding="softcover")
    lost = await desk.desk.wait_for("reader.lost", after=seen)
    assert (lost.data.reader, lost.data.url) == ("reader", f"sim:{desk.name}")
    await desk.desk.wait_status(desk.name, lambda s: s["readers"]["reader"]["state"] == "lost")
    field.unplugged = False
    await desk.desk.wait_for("reader.connected", after=seen)
    uid = await desk.place(L301)
    reply = await desk.desk.wait_reply(request)
    assert (reply["ok"], reply["uid"]) == (True, uid)
    await desk.desk.wait_status(desk.name, lambda s: s["readers"]["reader"]["state"] == "connected")


async def test_a_station_that_cannot_report_refuses_new_work(tmp_path: Path, broker: Broker) -> None:
    """The outbox is full: three events of a station no longer configured (nothing publishes them) fill a
    three-event outbox. The encoder refuses a scan at the desk and cmd/encode with outbox_full."""
    table = sim_station("encoder")
    name = table["name"]
    config = station_config(tmp_path, broker.port, [table], outbox={"max_events": 3})
    outbox = await Outbox.open(OutboxSettings(path=config.outbox_path))
    ghost = Reporter(outbox, station="removed-station", library="test")
    for _ in range(3):
        await ghost.emit(ReaderConnected(reader="reader", url="sim:removed-station"))
    await outbox.close()
    async with Circulation(broker.port) as desk, running(config) as app:
        displays = Displays(app.station(name))
        await desk.wait_status(name, lambda s: s["outbox_full"] and s["outbox_depth"] == 3)
        await desk.sim(name, "scan", raw=CAT)
        await displays.wait_for(lambda line: line.startswith("not working: the outbox is full"))
        request = await desk.cmd(name, "encode", item_id=CAT, kind="book", binding="softcover")
        reply = await desk.wait_reply(request)
        assert (reply["ok"], reply["code"]) == (False, "outbox_full")
        assert desk.of("item.encoded") == desk.of("barcode.scanned") == []


async def test_a_command_whose_outbox_fills_while_it_waits_for_the_tag_is_refused_and_writes_nothing(
    tmp_path: Path, broker: Broker
) -> None:
    """cmd/encode taken with room; events of a station no longer configured (nothing publishes them) fill
    the outbox before the tag comes: the reply says outbox_full, the desk says so, and the tag stays blank
    (its item.encoded could not be stored)."""
    table = sim_station("encoder")
    name = table["name"]
    config = station_config(tmp_path, broker.port, [table], outbox={"max_events": 5})
    async with Circulation(broker.port) as desk, running(config) as app:
        assert app.outbox is not None
        displays = Displays(app.station(name))
        request = await desk.cmd(name, "encode", item_id=CAT, kind="book", binding="softcover")
        await displays.wait_for(lambda line: line.startswith(f"{CAT}: put one"))
        await fill_with_ghosts(app.outbox)
        uid = str((await desk.sim(name, "place", profile=L301))["uid"])
        reply = await desk.wait_reply(request)
        assert (reply["ok"], reply["code"]) == (False, "outbox_full")
        await displays.wait_for(lambda line: line.startswith("not working: the outbox is full"))
        assert not any(tag_memory(uid))
        assert desk.of("item.encoded") == []


async def test_an_unplugged_scanner_is_lost_and_reopened_and_scans_again(desk: Desk) -> None:
    seen = desk.desk.mark()
    sim_scanner(desk.name).unplug()
    lost = await desk.desk.wait_for("reader.lost", after=seen)
    assert (lost.data.reader, lost.data.url) == ("scanner", f"scanner:sim:{desk.name}")
    await desk.desk.wait_for("reader.connected", lambda e: e.data.reader == "scanner", after=seen)
    await desk.desk.sim(desk.name, "scan", raw=NOT_IN_CATALOG)
    event = await desk.desk.wait_for("item.encode_rejected", after=seen)
    assert event.data.reason == "unknown_item"


async def test_sim_control_refuses_what_it_cannot_do(desk: Desk) -> None:
    uid = await desk.place(L301)
    again = await desk.desk.sim(desk.name, "place", uid=uid, memory_hex="00")
    assert (again["ok"], again["code"]) == (False, "rejected")
    unknown = await desk.desk.sim(desk.name, "remove", uid="E004010000000001")
    assert (unknown["ok"], unknown["code"]) == (False, "rejected")
    card = await desk.desk.sim(desk.name, "card", id="0123456789ABCDEF")
    assert (card["ok"], card["code"]) == (False, "not_simulated")
    await desk.desk.send(desk.name, "sim", "place", {"profile": "no-such-chip"})
    rejected = await desk.desk.wait_for("command.rejected")
    assert rejected.data.topic.endswith(f"/{desk.name}/sim/place")
    assert "no-such-chip" in rejected.data.error
    assert (await desk.desk.sim(desk.name, "remove", uid=uid))["ok"]
    assert default_world().where(parse_uid(uid)) is None


async def test_with_a_reader_that_takes_air_time_no_tag_is_no_tag_not_a_lost_reader(
    tmp_path: Path, broker: Broker
) -> None:
    """`sim:…?realtime=1`: the deadline falls while an inventory is on the air. That is the end of the wait
    for a tag (no_tag), not a reader that went away (reader_lost): the reader answered throughout."""
    table = sim_station("encoder")
    table["reader"] += "?realtime=1"
    name = table["name"]
    config = station_config(
        tmp_path,
        broker.port,
        [table],
        catalog={"load": str(CONFIG_DIR / "demo-delivery.csv")},
        encoder={"tag_return_seconds": 0.5, "poll_seconds": 0.001, "retry_delay_seconds": 0.01},
    )
    async with Circulation(broker.port) as desk, running(config):
        await desk.wait_for("reader.connected", lambda e: e.data.reader == "reader", station=name)
        for _ in range(3):
            request = await desk.cmd(name, "encode", item_id=CAT, kind="book", binding="softcover")
            reply = await desk.wait_reply(request, 5.0)
            assert (reply["ok"], reply["reason"]) == (False, "no_tag"), reply
            rejected = await desk.wait_for(
                "item.encode_rejected", lambda e, r=request: e.data.request_id == r, station=name
            )
            assert rejected.data.reason == "no_tag"
        assert desk.of("reader.lost", name) == []
