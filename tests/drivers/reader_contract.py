"""The back-to-back test class every reader driver runs (python-can style), written once and driver-agnostic.

A driver's test module subclasses ReaderContract and provides a `rig` fixture: an object with `.reader` (an
opened Reader), `.world` (the World), `.field` (the Field the reader's antenna covers) and `async reopen()`
returning a fresh Reader (and making it `rig.reader`). The tests only place tags, inject faults and call the
Reader interface, so a driver passes exactly when it behaves like the simulator's own host.
"""

import asyncio
from collections.abc import Awaitable
from typing import Protocol, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagd.drivers.base import PasswordRefused, Reader, ReaderLost, TagError, TagLost
from tagd.drivers.sim.tag import SimTag
from tagd.drivers.sim.world import Field, World
from tagd.protocols.iso15693 import Command, ErrorCode, PasswordId

SLIX2_PREFIX = 0xE0040108 << 32
"""An NXP ICODE SLIX2 UID (E0 04 01, type bits 01) with the low 32 bits free."""

TIMEOUT = 20.0
"""Safety net for every contract step (a driver over a pty or pcscd may be slow, never this slow)."""


class Rig(Protocol):
    reader: Reader
    world: World
    field: Field

    async def reopen(self) -> Reader: ...


def slix2_uid(low: int) -> int:
    return SLIX2_PREFIX | low


T = TypeVar("T")


async def bounded(step: Awaitable[T]) -> T:
    """Awaits one contract step with the safety-net timeout."""
    return await asyncio.wait_for(step, TIMEOUT)


class ReaderContract:
    """What every Reader must do against the simulated world."""

    def place(
        self, rig: Rig, profile: str = "slix2", uid: int | None = None, memory: bytes | None = None
    ) -> SimTag:
        """A new tag in the reader's field (a UID the world knows already is placed again)."""
        known = rig.world.tags.get(uid) if uid is not None else None
        tag = known or rig.world.new_tag(profile, uid, memory)
        rig.world.place(tag.uid, rig.field.name)
        return tag

    # -- inventory ----------------------------------------------------------------------------------------

    async def test_inventory_of_an_empty_field(self, rig: Rig) -> None:
        assert await bounded(rig.reader.inventory()) == []

    @pytest.mark.parametrize("count", [1, 2, 20])
    async def test_inventory_finds_exactly_the_placed_tags(self, rig: Rig, count: int) -> None:
        placed = {self.place(rig).uid for _ in range(count)}
        found = await bounded(rig.reader.inventory())
        assert sorted(tag.uid for tag in found) == sorted(placed)

    async def test_inventory_resolves_tags_that_share_their_low_bits(self, rig: Rig) -> None:
        # Same last 12 bits: three rounds of collisions before the slots tell them apart.
        placed = {self.place(rig, uid=slix2_uid(n << 12 | 0xABC)).uid for n in range(1, 6)}
        found = await bounded(rig.reader.inventory())
        assert {tag.uid for tag in found} == placed

    async def test_inventory_reports_the_dsfid(self, rig: Rig) -> None:
        tag = self.place(rig)
        tag.dsfid = 0x3C
        (found,) = await bounded(rig.reader.inventory())
        assert (found.uid, found.dsfid) == (tag.uid, 0x3C)

    async def test_inventory_with_an_afi_finds_only_matching_tags(self, rig: Rig) -> None:
        secured, on_loan = self.place(rig), self.place(rig)
        secured.afi, on_loan.afi = 0x07, 0xC2
        found = await bounded(rig.reader.inventory(afi=0x07))
        assert [tag.uid for tag in found] == [secured.uid]

    # Each driver's subclass runs this test in its own class (executor) and its rig lives across examples:
    # the test removes what it placed, so both health checks are about situations it handles.
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(lows=st.sets(st.integers(0, 0xFFFFFFFF), max_size=20))
    async def test_inventory_finds_any_set_of_tags(self, rig: Rig, lows: set[int]) -> None:
        placed = [self.place(rig, uid=slix2_uid(low)) for low in lows]
        try:
            found = await bounded(rig.reader.inventory())
            assert sorted(tag.uid for tag in found) == sorted(tag.uid for tag in placed)
        finally:
            for tag in placed:
                rig.world.remove(tag.uid)

    # -- memory -------------------------------------------------------------------------------------------

    async def test_system_info_describes_the_tag(self, rig: Rig) -> None:
        tag = self.place(rig, "slix2")
        tag.afi, tag.dsfid = 0x07, 0x11
        info = await bounded(rig.reader.system_info(tag.uid))
        assert (info.uid, info.afi, info.dsfid) == (tag.uid, 0x07, 0x11)
        assert (info.block_count, info.block_size) == (tag.block_count, tag.block_size)

    async def test_written_blocks_read_back(self, rig: Rig) -> None:
        tag = self.place(rig, "slix2")
        data = [bytes([n, n + 1, n + 2, n + 3]) for n in range(0, 40, 4)]
        await bounded(rig.reader.write_blocks(tag.uid, 3, data))
        assert await bounded(rig.reader.read_blocks(tag.uid, 3, len(data))) == data
        assert bytes(tag.memory[12 : 12 + 40]) == b"".join(data)

    async def test_the_whole_memory_reads_in_one_call(self, rig: Rig) -> None:
        memory = bytes(range(256)) + bytes(range(64))
        tag = self.place(rig, "slix2", memory=memory)
        blocks = await bounded(rig.reader.read_blocks(tag.uid, 0, tag.block_count))
        assert b"".join(blocks) == memory

    async def test_a_locked_block_refuses_writes(self, rig: Rig) -> None:
        tag = self.place(rig, "slix")
        await bounded(rig.reader.write_blocks(tag.uid, 2, [b"ABCD"]))
        await bounded(rig.reader.lock_blocks(tag.uid, 2, 1))
        with pytest.raises(TagError) as caught:
            await bounded(rig.reader.write_blocks(tag.uid, 2, [b"WXYZ"]))
        assert caught.value.code == ErrorCode.LOCKED
        assert tag.block(2) == b"ABCD"
        assert tag.locked_blocks == {2}

    async def test_reading_past_the_memory_is_a_tag_error(self, rig: Rig) -> None:
        tag = self.place(rig, "slix-l")
        with pytest.raises(TagError) as caught:
            await bounded(rig.reader.read_blocks(tag.uid, 6, 4))
        assert caught.value.code == ErrorCode.BLOCK_NOT_AVAILABLE

    # -- security -----------------------------------------------------------------------------------------

    async def test_afi_written_reads_back_in_system_info(self, rig: Rig) -> None:
        tag = self.place(rig)
        await bounded(rig.reader.write_afi(tag.uid, 0xC2))
        assert (await bounded(rig.reader.system_info(tag.uid))).afi == 0xC2
        assert tag.afi == 0xC2

    async def test_eas_set_raises_the_alarm_and_reset_clears_it(self, rig: Rig) -> None:
        quiet, tag = self.place(rig), self.place(rig)
        assert not await bounded(rig.reader.eas_alarm())
        await bounded(rig.reader.set_eas(tag.uid))
        assert tag.eas
        assert not quiet.eas
        assert await bounded(rig.reader.eas_alarm())
        await bounded(rig.reader.reset_eas(tag.uid))
        assert not await bounded(rig.reader.eas_alarm())

    # -- the NXP EAS/AFI password -------------------------------------------------------------------------

    def power_cycle(self, rig: Rig, tag: SimTag) -> None:
        """The tag leaves the field and comes back: a new power-on session, no password given."""
        rig.world.remove(tag.uid)
        rig.world.place(tag.uid, rig.field.name)

    @pytest.mark.parametrize("profile", ["slix2", "slix-s"])
    async def test_the_eas_afi_password_is_set_and_guards_afi_and_eas(self, rig: Rig, profile: str) -> None:
        tag = self.place(rig, profile)
        await bounded(rig.reader.set_password(tag.uid, PasswordId.EAS_AFI, 0))  # the factory password
        await bounded(rig.reader.write_password(tag.uid, PasswordId.EAS_AFI, 0x5EC0DE42))
        await bounded(rig.reader.set_password(tag.uid, PasswordId.EAS_AFI, 0x5EC0DE42))
        await bounded(rig.reader.set_eas(tag.uid))
        await bounded(rig.reader.protect_eas_afi(tag.uid, afi=False))
        await bounded(rig.reader.protect_eas_afi(tag.uid, afi=True))
        assert (tag.passwords[PasswordId.EAS_AFI], tag.eas_protected, tag.afi_protected) == (
            0x5EC0DE42,
            True,
            True,
        )
        self.power_cycle(rig, tag)
        for change in (rig.reader.write_afi(tag.uid, 0xC2), rig.reader.reset_eas(tag.uid)):
            with pytest.raises(TagError) as caught:
                await bounded(change)
            assert caught.value.code == ErrorCode.UNKNOWN
        assert (tag.afi, tag.eas) == (0, True)
        await bounded(rig.reader.set_password(tag.uid, PasswordId.EAS_AFI, 0x5EC0DE42))
        await bounded(rig.reader.write_afi(tag.uid, 0xC2))
        await bounded(rig.reader.reset_eas(tag.uid))
        assert (tag.afi, tag.eas, tag.afi_locked) == (0xC2, False, False)

    async def test_a_wrong_password_is_refused_and_the_tag_is_silent_until_power_off(self, rig: Rig) -> None:
        tag = self.place(rig, "slix2")
        tag.passwords[PasswordId.EAS_AFI] = 0x5EC0DE42
        with pytest.raises(PasswordRefused):
            await bounded(rig.reader.set_password(tag.uid, PasswordId.EAS_AFI, 0x5EC0DE43))
        with pytest.raises(TagLost):
            await bounded(rig.reader.system_info(tag.uid))
        self.power_cycle(rig, tag)
        await bounded(rig.reader.set_password(tag.uid, PasswordId.EAS_AFI, 0x5EC0DE42))
        assert (await bounded(rig.reader.system_info(tag.uid))).uid == tag.uid

    async def test_a_chip_without_passwords_says_so(self, rig: Rig) -> None:
        tag = self.place(rig, "sli")
        with pytest.raises(TagError) as caught:
            await bounded(rig.reader.set_password(tag.uid, PasswordId.EAS_AFI, 0))
        assert caught.value.code == ErrorCode.NOT_SUPPORTED

    # -- faults -------------------------------------------------------------------------------------------

    async def test_an_absent_tag_is_lost(self, rig: Rig) -> None:
        self.place(rig)
        with pytest.raises(TagLost):
            await bounded(rig.reader.system_info(slix2_uid(0x12345678)))

    @pytest.mark.parametrize("left", [0, 1, 3])
    async def test_a_tag_leaving_mid_write_is_lost_and_keeps_the_blocks_written(
        self, rig: Rig, left: int
    ) -> None:
        tag = self.place(rig, "slix2")
        # The tag takes Write Multiple Blocks too: however a driver writes, it must stop where the tag left.
        tag.unsupported.discard(Command.WRITE_MULTIPLE_BLOCKS)
        tag.leave_after(left)
        data = [bytes([0xA0 + n] * 4) for n in range(4)]
        with pytest.raises(TagLost):
            await bounded(rig.reader.write_blocks(tag.uid, 0, data))
        assert rig.world.where(tag.uid) is None
        assert bytes(tag.memory[:16]) == b"".join(data[:left]) + bytes(16 - 4 * left)

    async def test_an_unplugged_reader_is_lost_until_reopened(self, rig: Rig) -> None:
        tag = self.place(rig)
        rig.field.unplugged = True
        with pytest.raises(ReaderLost):
            await bounded(rig.reader.inventory())
        rig.field.unplugged = False
        reader = await bounded(rig.reopen())
        assert [found.uid for found in await bounded(reader.inventory())] == [tag.uid]
