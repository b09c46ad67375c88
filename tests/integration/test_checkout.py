"""The checkout station against a real mosquitto: driven only through sim/ and cmd/, judged by its events.

The simulated world is inspected (never driven) to check what the tags now hold, and its `silent` fault
stands in for inventories that miss a tag.
"""

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tagd.drivers.sim.reader import default_world
from tagd.protocols.iso15693 import parse_uid
from tagd.protocols.iso28560 import encode_basic_block
from tagd.protocols.nw7 import with_check_digit

from .broker import Broker
from .pads import Desk, WatchedField, memory, watch_field
from .stations import ISIL, Circulation, running, sim_station, station_config

DEBOUNCE_S = 0.3
POLL_S = 0.02


@pytest.fixture
async def checkout(tmp_path: Path, broker: Broker) -> AsyncIterator[Desk]:
    table = sim_station("checkout")
    watch_field(table["name"])
    config = station_config(
        tmp_path, broker.port, [table], checkout={"debounce_seconds": DEBOUNCE_S, "poll_seconds": POLL_S}
    )
    async with Circulation(broker.port) as desk, running(config):
        await desk.wait_for("reader.connected", station=table["name"])
        yield Desk(desk, table["name"])


async def test_an_item_is_reported_once_it_stays_and_gone_once_it_stays_away(checkout: Desk) -> None:
    item_id = with_check_digit("10000001")
    placed_at = time.monotonic()
    uid = await checkout.place(memory_hex=memory(item_id))
    event = await checkout.desk.wait_for("item.detected", lambda e: e.data.uid == uid)
    assert time.monotonic() - placed_at >= DEBOUNCE_S
    assert event.data.content == "item"
    assert event.data.item_id == item_id
    assert event.data.product == "U-TAG-L301"
    assert (event.data.isil, event.data.parts, event.data.part) == (ISIL, 1, 1)
    assert event.data.secured is None  # a fresh tag's AFI 0 is neither secured nor on loan

    field = default_world().field(checkout.name)
    assert isinstance(field, WatchedField)
    field.silent = True  # inventories miss it for a few polls, well under the debounce time
    await field.polled(3)
    field.silent = False
    await field.polled(3)  # seen again: the absence clock starts afresh when it goes
    removed_at = time.monotonic()
    await checkout.remove(uid)
    gone = await checkout.desk.wait_for("item.removed", lambda e: e.data.uid == uid)
    assert time.monotonic() - removed_at >= DEBOUNCE_S - 3 * POLL_S  # it was last seen a poll before
    assert gone.data.item_id == item_id
    assert len([e for e in checkout.desk.of("item.detected") if e.data.uid == uid]) == 1
    assert len([e for e in checkout.desk.of("item.removed") if e.data.uid == uid]) == 1


async def test_a_tag_without_a_usable_item_is_reported_with_what_it_holds(checkout: Desk) -> None:
    blank = await checkout.place(profile="U-TAG-L1000M")
    broken = bytearray(bytes.fromhex(memory(with_check_digit("10000002"))))
    broken[5] ^= 0x01  # the item id changed after the CRC was computed: a torn or damaged write
    damaged = await checkout.place(memory_hex=broken.hex())
    foreign = await checkout.place(memory_hex=encode_basic_block("DK-ITEM-7", ISIL).hex())
    found = {
        uid: (await checkout.desk.wait_for("item.detected", lambda e, uid=uid: e.data.uid == uid)).data
        for uid in (blank, damaged, foreign)
    }
    assert (found[blank].content, found[blank].product) == ("blank", "U-TAG-L1000M")
    assert (found[damaged].content, found[damaged].item_id) == ("unreadable", None)
    assert (found[foreign].content, found[foreign].item_id) == ("foreign", None)


async def test_security_is_set_and_cleared_per_item_and_read_back(checkout: Desk) -> None:
    first, second = with_check_digit("10000003"), with_check_digit("10000004")
    uid_first = await checkout.place(memory_hex=memory(first))
    uid_second = await checkout.place(memory_hex=memory(second))
    for uid in (uid_first, uid_second):
        await checkout.desk.wait_for("item.detected", lambda e, uid=uid: e.data.uid == uid)
    tags = default_world().tags

    mark = checkout.desk.mark()
    reply = await checkout.security([first, uid_second], secured=True)
    assert reply["ok"], reply
    results = reply["results"]
    assert [(r["item"], r["ok"], r["uid"], r["item_id"]) for r in results] == [
        (first, True, uid_first, first),
        (uid_second, True, uid_second, second),
    ]
    changed = await checkout.desk.wait_for("security.changed", lambda e: e.data.uid == uid_second, after=mark)
    assert (changed.data.secured, changed.data.afi, changed.data.eas) == (True, 0x07, True)
    assert changed.data.request_id is not None
    for uid in (uid_first, uid_second):
        assert (tags[parse_uid(uid)].afi, tags[parse_uid(uid)].eas) == (0x07, True)

    absent = with_check_digit("10000005")
    mark = checkout.desk.mark()
    reply = await checkout.security([first, absent], secured=False)
    assert not reply["ok"]
    assert reply["code"] == "rejected"
    ok, missing = reply["results"]
    assert (ok["ok"], ok["secured"], ok["afi"]) == (True, False, 0xC2)
    assert missing["ok"] is False
    assert (missing["code"], missing["error"]) == ("not_on_pad", "the tag is not on the pad")
    failed = await checkout.desk.wait_for("security.failed", lambda e: e.data.item_id == absent, after=mark)
    assert (failed.data.code, failed.data.uid, failed.data.secured) == ("not_on_pad", None, False)
    assert failed.data.request_id == reply["request_id"]
    await checkout.desk.wait_for("security.changed", lambda e: e.data.uid == uid_first, after=mark)
    assert (tags[parse_uid(uid_first)].afi, tags[parse_uid(uid_first)].eas) == (0xC2, False)
    assert (tags[parse_uid(uid_second)].afi, tags[parse_uid(uid_second)].eas) == (0x07, True)


async def test_a_tag_that_leaves_mid_command_fails_as_tag_lost_after_the_retries(checkout: Desk) -> None:
    item_id = with_check_digit("10000006")
    uid = await checkout.place(memory_hex=memory(item_id))
    await checkout.desk.wait_for("item.detected", lambda e: e.data.uid == uid)
    default_world().tags[parse_uid(uid)].leave_after(1)  # the AFI write, then the patron takes the book
    mark = checkout.desk.mark()
    reply = await checkout.security([item_id], secured=False)
    (result,) = reply["results"]
    assert (reply["ok"], result["ok"], result["uid"]) == (False, False, uid)
    assert result["code"] == "tag_lost", result
    assert "3 attempts" in result["error"]
    await checkout.desk.wait_for("item.removed", lambda e: e.data.uid == uid, after=mark)
    assert not checkout.desk.of("security.changed", checkout.name, after=mark)


async def test_a_two_part_item_with_one_part_on_the_pad_is_incomplete(checkout: Desk) -> None:
    item_id = with_check_digit("10000007")
    part_one = await checkout.place(memory_hex=memory(item_id, parts=2, part=1))
    incomplete = await checkout.desk.wait_for("set.incomplete", lambda e: e.data.item_id == item_id)
    assert (incomplete.data.parts, incomplete.data.present, incomplete.data.missing) == (2, [1], [2])

    part_two = await checkout.place(memory_hex=memory(item_id, parts=2, part=2))
    await checkout.desk.wait_for("item.detected", lambda e: e.data.uid == part_two)
    mark = checkout.desk.mark()
    await checkout.remove(part_one)
    await checkout.desk.wait_for("item.removed", lambda e: e.data.uid == part_one, after=mark)
    again = await checkout.desk.wait_for("set.incomplete", lambda e: e.data.item_id == item_id, after=mark)
    assert (again.data.present, again.data.missing) == ([2], [1])
    assert len(checkout.desk.of("set.incomplete", checkout.name)) == 2  # none while both parts were there


async def test_a_patron_card_is_reported_by_its_number(checkout: Desk) -> None:
    reply = await checkout.desk.sim(checkout.name, "card", id="012E4CD1A2B3C4D5")
    assert reply["ok"], reply
    card = await checkout.desk.wait_for("patron.card", station=checkout.name)
    assert card.data.card_id == "012E4CD1A2B3C4D5"


async def test_the_station_answers_while_its_reader_is_away_and_works_again_after(checkout: Desk) -> None:
    item_id = with_check_digit("10000008")
    uid = await checkout.place(memory_hex=memory(item_id))
    await checkout.desk.wait_for("item.detected", lambda e: e.data.uid == uid)
    field = default_world().field(checkout.name)
    mark = checkout.desk.mark()
    field.unplugged = True
    await checkout.desk.wait_for("reader.lost", station=checkout.name, after=mark)
    reply = await checkout.security([item_id], secured=True)
    (result,) = reply["results"]
    assert (reply["ok"], result["ok"]) == (False, False)
    assert result["code"] == "reader_lost"

    field.unplugged = False
    await checkout.desk.wait_for("reader.connected", station=checkout.name, after=mark)
    reply = await checkout.security([item_id], secured=True)
    assert reply["ok"], reply
    assert not checkout.desk.of("item.removed", checkout.name)  # the book stayed on the pad throughout
