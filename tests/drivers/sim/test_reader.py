"""The back-to-back contract for the `sim:` reader, plus what only the simulator's own host shows: counters,
fallbacks, corrupted replies, pacing and the URL."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tagd.drivers import open_reader
from tagd.drivers.base import DriverError, Reader, ReaderLost, TagLost
from tagd.drivers.iso15693_host import CorruptReply
from tagd.drivers.sim.reader import SimReader, default_world, open_sim_reader
from tagd.drivers.sim.world import Field, World
from tagd.protocols.iso15693 import Command, ErrorCode, PasswordId
from tagd.protocols.iso15693.airtime import air_time

from ..reader_contract import ReaderContract


@dataclass
class SimRig:
    reader: SimReader
    world: World
    field: Field

    async def reopen(self) -> Reader:
        await self.reader.close()
        self.reader = await open_sim_reader(self.reader.url, world=self.world)
        return self.reader


async def make_rig(world: World, url: str) -> SimRig:
    reader = await open_sim_reader(url, world=world)
    return SimRig(reader, world, reader.field)


@pytest.fixture
async def rig(world: World) -> AsyncIterator[SimRig]:
    rig = await make_rig(world, "sim:pad1")
    yield rig
    await rig.reader.close()


class TestSimReader(ReaderContract):
    """The contract on the simulator's reader, writing block by block."""


class TestSimReaderWritingMultipleBlocks(ReaderContract):
    """The contract again with Write Multiple Blocks, where a tag leaving midway keeps a partial write."""

    @pytest.fixture
    async def rig(self, world: World) -> AsyncIterator[SimRig]:
        rig = await make_rig(world, "sim:pad1?write_multiple=1")
        yield rig
        await rig.reader.close()


# -- the URL ---------------------------------------------------------------------------------------------


async def test_sim_urls_open_through_the_entry_point_on_the_default_world() -> None:
    tag = default_world().new_tag("u-tag-l301")
    default_world().place(tag.uid, "entry-point-pad")
    try:
        reader = await open_reader("sim:entry-point-pad")
        assert isinstance(reader, SimReader)
        assert [found.uid for found in await reader.inventory()] == [tag.uid]
        await reader.close()
    finally:
        default_world().remove(tag.uid)


async def test_a_bare_sim_url_is_the_default_field(world: World) -> None:
    assert (await open_sim_reader("sim:", world=world)).field is world.field("default")


@pytest.mark.parametrize("url", ["feig:pad", "sim:pad?realtime=2", "sim:pad?speed=1"])
async def test_bad_sim_urls_are_refused(url: str, world: World) -> None:
    with pytest.raises(DriverError):
        await open_sim_reader(url, world=world)


async def test_an_unplugged_reader_does_not_open(world: World) -> None:
    world.field("pad").unplugged = True
    with pytest.raises(ReaderLost):
        await open_sim_reader("sim:pad", world=world)


async def test_a_closed_reader_is_lost(rig: SimRig) -> None:
    await rig.reader.close()
    with pytest.raises(ReaderLost, match="closed"):
        await rig.reader.inventory()


# -- Stay Quiet (the gate mutes a tag it has alarmed about) -----------------------------------------------


async def test_a_quiet_tag_leaves_the_inventory_but_still_answers_its_uid_until_reset(rig: SimRig) -> None:
    quiet, other = rig.world.new_tag("u-tag-l301"), rig.world.new_tag("u-tag-l301")
    for tag in (quiet, other):
        rig.world.place(tag.uid, "pad1")
    await rig.reader.stay_quiet(quiet.uid)
    assert [found.uid for found in await rig.reader.inventory()] == [other.uid]
    assert len(await rig.reader.read_blocks(quiet.uid, 0, 2)) == 2  # addressed: still heard
    await rig.reader.reset_to_ready(quiet.uid)
    assert {found.uid for found in await rig.reader.inventory()} == {quiet.uid, other.uid}


async def test_leaving_the_field_ends_stay_quiet_and_reset_to_ready_finds_a_tag_gone(rig: SimRig) -> None:
    tag = rig.world.new_tag("u-tag-l301")
    rig.world.place(tag.uid, "pad1")
    await rig.reader.stay_quiet(tag.uid)
    rig.world.remove(tag.uid)
    with pytest.raises(TagLost):
        await rig.reader.reset_to_ready(tag.uid)
    rig.world.place(tag.uid, "pad1")  # back in: powered up afresh, no longer quiet
    assert [found.uid for found in await rig.reader.inventory()] == [tag.uid]


# -- counters and command choice -------------------------------------------------------------------------


async def test_write_multiple_sends_fewer_commands_where_the_tag_takes_it(rig: SimRig) -> None:
    tag = rig.world.new_tag("slix2")
    rig.world.place(tag.uid, "pad1")
    tag.unsupported.clear()
    blocks = [bytes([n] * 4) for n in range(8)]
    await rig.reader.write_blocks(tag.uid, 0, blocks)
    single = rig.reader.counters.commands
    await rig.reader.write_blocks(tag.uid, 8, blocks, multiple=True)
    assert (single, rig.reader.counters.commands - single) == (8, 2)
    assert await rig.reader.read_blocks(tag.uid, 0, 16) == blocks + blocks


async def test_write_multiple_falls_back_to_single_blocks_and_remembers(world: World) -> None:
    rig = await make_rig(world, "sim:pad?write_multiple=1")
    tag = world.new_tag("slix")
    world.place(tag.uid, "pad")
    await rig.reader.write_blocks(tag.uid, 0, [b"ABCD", b"EFGH"])
    assert rig.reader.counters.commands == 3  # refused write multiple, then two single writes
    await rig.reader.write_blocks(tag.uid, 2, [b"IJKL"])
    assert rig.reader.counters.commands == 4
    assert bytes(tag.memory[:12]) == b"ABCDEFGHIJKL"


async def test_reads_go_in_chunks_and_fall_back_to_single_blocks(rig: SimRig) -> None:
    tag = rig.world.new_tag("slix2", memory=bytes(range(256)) + bytes(64))
    rig.world.place(tag.uid, "pad1")
    await rig.reader.read_blocks(tag.uid, 0, 80)
    assert rig.reader.counters.commands == 3  # 32 + 32 + 16 blocks
    tag.unsupported.add(Command.READ_MULTIPLE_BLOCKS)
    blocks = await rig.reader.read_blocks(tag.uid, 10, 5)
    assert b"".join(blocks) == bytes(range(40, 60))
    assert rig.reader.counters.commands == 3 + 1 + 5


async def test_inventory_counts_rounds_slots_and_collisions(rig: SimRig) -> None:
    for low in (0x13, 0x23, 0x15):
        rig.world.place(rig.world.new_tag("slix2", 0xE004010800000000 | low).uid, "pad1")
    assert len(await rig.reader.inventory()) == 3
    counters = rig.reader.counters
    assert (counters.inventory_rounds, counters.inventory_slots, counters.collisions) == (2, 32, 1)
    assert rig.reader.air_time == rig.field.air_time > 0


async def test_a_corrupted_reply_is_reported_as_such(rig: SimRig) -> None:
    tag = rig.world.new_tag("slix")
    rig.world.place(tag.uid, "pad1")
    rig.field.corrupt_next()
    with pytest.raises(CorruptReply, match="corrupted reply") as caught:
        await rig.reader.system_info(tag.uid)
    assert isinstance(caught.value, TagLost)
    assert (await rig.reader.system_info(tag.uid)).uid == tag.uid


async def test_a_corrupted_slot_is_searched_again(rig: SimRig) -> None:
    tag = rig.world.new_tag("slix")
    rig.world.place(tag.uid, "pad1")
    rig.field.corrupt_next()
    assert [found.uid for found in await rig.reader.inventory()] == [tag.uid]
    assert rig.reader.counters.collisions == 1


async def test_a_silent_reader_loses_every_tag(rig: SimRig) -> None:
    tag = rig.world.new_tag("slix")
    rig.world.place(tag.uid, "pad1")
    rig.field.silent = True
    assert await rig.reader.inventory() == []
    with pytest.raises(TagLost):
        await rig.reader.write_afi(tag.uid, 0x07)
    assert tag.afi == 0x07  # the tag heard it; only the answer went missing


# -- beyond the Reader interface ---------------------------------------------------------------------------


async def test_block_security_and_an_addressed_eas_alarm(rig: SimRig) -> None:
    tag, other = rig.world.new_tag("slix"), rig.world.new_tag("slix")
    for placed in (tag, other):
        rig.world.place(placed.uid, "pad1")
    await rig.reader.lock_blocks(tag.uid, 1, 2)
    assert await rig.reader.block_security(tag.uid, 0, 4) == [False, True, True, False]
    await rig.reader.set_eas(other.uid)
    assert (await rig.reader.eas_alarm(tag.uid), await rig.reader.eas_alarm(other.uid)) == (False, True)


async def test_password_protected_eas_through_the_host(rig: SimRig) -> None:
    tag = rig.world.new_tag("u-tag-l1000m")
    tag.passwords[PasswordId.EAS_AFI] = 0x0BADCAFE
    rig.world.place(tag.uid, "pad1")
    await rig.reader.set_password(tag.uid, PasswordId.EAS_AFI, 0x0BADCAFE)
    await rig.reader.protect_eas_afi(tag.uid, afi=False)
    rig.world.place(tag.uid, "elsewhere")
    rig.world.place(tag.uid, "pad1")  # a new power-on session
    with pytest.raises(Exception, match="0x0F") as caught:
        await rig.reader.set_eas(tag.uid)
    assert getattr(caught.value, "code", None) == ErrorCode.UNKNOWN
    await rig.reader.set_password(tag.uid, PasswordId.EAS_AFI, 0x0BADCAFE)
    await rig.reader.set_eas(tag.uid)
    assert tag.eas


# -- pacing ----------------------------------------------------------------------------------------------


async def test_realtime_pacing_takes_the_modelled_air_time(world: World) -> None:
    rig = await make_rig(world, "sim:pad?realtime=1")
    tag = world.new_tag("slix2")
    world.place(tag.uid, "pad")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(rig.reader.read_blocks(tag.uid, 0, 80), 5)
    elapsed = loop.time() - started
    # Three addressed reads of 14 bytes: 32 blocks (1 + 128 + 2 bytes back), 32 again, then 16.
    assert rig.field.air_time == pytest.approx(2 * air_time(14, 131) + air_time(14, 67))
    assert elapsed >= rig.field.air_time * 0.99
