"""World and Field: tags that move between fields, slots and collisions, air time and injected faults."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.drivers.air import COLLISION, Collision
from tagd.drivers.sim.tag import TagState
from tagd.drivers.sim.world import ReaderUnplugged, World
from tagd.protocols import iso15693 as iso
from tagd.protocols.iso15693 import Command, append_crc, check_crc, decode_response
from tagd.protocols.iso15693.airtime import air_time, inventory_air_time

UID_A = 0xE004010800000013  # ends in nibble 3, then 1
UID_B = 0xE004010800000023  # ends in nibble 3, then 2
UID_C = 0xE004010800000015  # ends in nibble 5


def world_with(*uids: int, field: str = "pad") -> World:
    world = World()
    for uid in uids:
        world.place(world.new_tag("slix2", uid).uid, field)
    return world


def test_fields_are_made_on_demand_and_kept() -> None:
    world = World()
    assert world.field("pad") is world.field("pad")
    assert world.field("pad").tags == []


def test_a_tag_is_in_one_field_at_a_time_and_keeps_its_memory() -> None:
    world = World()
    tag = world.new_tag("slix", memory=b"BOOK")
    assert world.where(tag.uid) is None
    world.place(tag.uid, "desk")
    tag.state = TagState.QUIET
    world.place(tag.uid, "gate")
    assert (world.where(tag.uid), world.field("desk").tags, world.field("gate").tags) == ("gate", [], [tag])
    assert tag.state is TagState.READY  # a new field powers it up afresh
    world.remove(tag.uid)
    assert (world.where(tag.uid), tag.present, tag.block(0)) == (None, False, b"BOOK")


def test_unknown_and_duplicate_tags_are_refused() -> None:
    world = world_with(UID_A)
    with pytest.raises(ValueError, match="already"):
        world.new_tag("slix2", UID_A)
    with pytest.raises(KeyError):
        world.place(UID_B, "pad")
    with pytest.raises(ValueError, match="do not fit"):
        world.new_tag("slix-l", memory=bytes(33))
    assert world.where(UID_B) is None


def test_new_tags_get_distinct_uids() -> None:
    world = World()
    assert len({world.new_tag("slix-l").uid for _ in range(200)}) == 200


# -- slots -------------------------------------------------------------------------------------------------


def test_a_16_slot_inventory_has_a_reply_or_a_collision_per_slot() -> None:
    world = world_with(UID_A, UID_B, UID_C)
    slots = world.field("pad").transceive(append_crc(iso.inventory(one_slot=False)))
    assert len(slots) == 16
    assert slots[3] is COLLISION
    assert [n for n, slot in enumerate(slots) if slot is not None] == [3, 5]
    reply = slots[5]
    assert isinstance(reply, bytes)
    assert decode_response(Command.INVENTORY, check_crc(reply)).uid == UID_C


def test_a_mask_splits_the_collided_slot() -> None:
    field = world_with(UID_A, UID_B, UID_C).field("pad")
    slots = field.transceive(append_crc(iso.inventory(mask=0x3, mask_len=4, one_slot=False)))
    found = {
        n: decode_response(Command.INVENTORY, check_crc(s)).uid
        for n, s in enumerate(slots)
        if isinstance(s, bytes)
    }
    assert found == {1: UID_A, 2: UID_B}


def test_quiet_tags_and_other_afis_stay_out_of_the_slots() -> None:
    world = world_with(UID_A, UID_C)
    world.tags[UID_A].state = TagState.QUIET
    world.tags[UID_C].afi = 0xC2
    field = world.field("pad")
    assert field.transceive(append_crc(iso.inventory(afi=0x07, one_slot=False))) == [None] * 16
    assert field.transceive(append_crc(iso.inventory(one_slot=True))) != [None]


def test_one_slot_with_two_tags_is_a_collision_but_equal_answers_overlap_cleanly() -> None:
    world = world_with(UID_A, UID_C)
    field = world.field("pad")
    assert field.transceive(append_crc(iso.inventory())) == [COLLISION]
    for tag in world.tags.values():
        tag.eas = True
    (alarm,) = field.transceive(append_crc(iso.eas_alarm()))
    assert isinstance(alarm, bytes)
    assert isinstance(decode_response(Command.EAS_ALARM, check_crc(alarm)), iso.EasSequence)


def test_collision_is_one_sentinel() -> None:
    assert Collision() is COLLISION
    assert repr(COLLISION) == "COLLISION"


# -- air time ----------------------------------------------------------------------------------------------


def test_air_time_adds_up_each_exchange_as_the_protocol_models_it() -> None:
    field = world_with(UID_A, UID_C).field("pad")
    ask = append_crc(iso.get_system_info(UID_A))
    (reply,) = field.transceive(ask)
    assert isinstance(reply, bytes)
    expected = air_time(len(ask), len(reply))
    assert field.air_time == pytest.approx(expected)
    missing = append_crc(iso.get_system_info(UID_B))
    field.transceive(missing)
    expected += air_time(len(missing), 0)
    inventory = append_crc(iso.inventory(one_slot=False))
    field.transceive(inventory)
    expected += inventory_air_time(len(inventory), [0, 0, 0, 12, 0, 12] + [0] * 10)
    assert (field.exchanges, field.air_time) == (3, pytest.approx(expected))


# -- faults ------------------------------------------------------------------------------------------------


def test_an_unplugged_reader_raises_and_a_silent_one_hears_nothing_while_tags_still_act() -> None:
    world = world_with(UID_A)
    field = world.field("pad")
    field.unplugged = True
    with pytest.raises(ReaderUnplugged):
        field.transceive(append_crc(iso.inventory()))
    field.unplugged, field.silent = False, True
    assert field.transceive(append_crc(iso.write_single_block(UID_A, 0, b"GONE"))) == [None]
    assert world.tags[UID_A].block(0) == b"GONE"


def test_corrupt_next_breaks_the_crc_of_that_many_replies() -> None:
    field = world_with(UID_A).field("pad")
    field.corrupt_next(2)
    replies = [field.transceive(append_crc(iso.get_system_info(UID_A)))[0] for _ in range(3)]
    assert all(isinstance(reply, bytes) for reply in replies)
    crc_ok = []
    for reply in replies:
        assert isinstance(reply, bytes)
        try:
            check_crc(reply)
            crc_ok.append(True)
        except iso.CrcError:
            crc_ok.append(False)
    assert crc_ok == [False, False, True]


def test_a_departing_tag_leaves_the_field_after_its_last_command() -> None:
    world = world_with(UID_A)
    field = world.field("pad")
    world.tags[UID_A].leave_after(1)
    assert field.transceive(append_crc(iso.get_system_info(UID_A))) != [None]
    assert world.where(UID_A) == "pad"
    assert field.transceive(append_crc(iso.get_system_info(UID_A))) == [None]
    assert world.where(UID_A) is None
    world.place(UID_A, "pad")
    assert field.transceive(append_crc(iso.get_system_info(UID_A))) != [None]


# -- tag files ---------------------------------------------------------------------------------------------


def test_tag_files_load_into_a_field_and_dump_back() -> None:
    world = World()
    entries = [
        {"uid": "E004010800000013", "profile": "u-tag-l1000m", "memory_hex": "1101", "afi": 7, "eas": True},
        {"uid": "E004011000000015", "profile": "slix", "locked_blocks": [0, 1]},
    ]
    tags = world.load_tags(json.dumps({"tags": entries}), "gate")
    assert [world.where(tag.uid) for tag in tags] == ["gate", "gate"]
    assert (tags[0].afi, tags[0].eas, tags[0].block(0), tags[1].locked_blocks) == (
        7,
        True,
        b"\x11\x01\0\0",
        {0, 1},
    )
    again = World()
    again.load_tags(world.dump_tags("gate"), None)
    assert json.loads(again.dump_tags()) == json.loads(world.dump_tags())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ('{"tags": 3}', "JSON list"),
        ('[{"uid": "E004010800000013"}, {"uid": "E004010800000013"}]', "given twice"),
        ('[{"uid": "E004010800000013"}, {"uid": "E004010800000014", "afi": -1}]', "entry 1: AFI"),
    ],
)
def test_a_bad_tag_file_adds_nothing(text: str, message: str) -> None:
    world = World()
    with pytest.raises(ValueError, match=message):
        world.load_tags(text, "pad")
    assert world.tags == {}


@given(frame=st.binary(max_size=30), with_crc=st.booleans())
def test_any_frame_gets_one_reply_or_sixteen_slots(frame: bytes, with_crc: bool) -> None:
    world = world_with(UID_A, UID_B, UID_C)
    sent = append_crc(frame) if with_crc else frame
    replies = world.field("pad").transceive(sent)
    sixteen = bool(sent) and sent[0] & 0x24 == 0x04
    assert len(replies) == (16 if sixteen else 1)
    assert all(reply is None or reply is COLLISION or isinstance(reply, bytes) for reply in replies)
