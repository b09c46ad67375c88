"""The FEIG emulator frame by frame: the statuses a FEIG reader answers with, paging, bus addresses, what it
sends on the air, and its sessions (garbage, half-frames, an unplugged reader, the pty)."""

import asyncio
import os
import stat

import pytest

from tagd.drivers.sim.feig_emulator import FeigEmulator
from tagd.drivers.sim.feig_serve import EmulatorSession, FeigPtyServer
from tagd.drivers.sim.tag import SimTag
from tagd.drivers.sim.world import ReaderUnplugged, World
from tagd.protocols.feig.commands import (
    BlockData,
    BlockFailure,
    BlockSecurity,
    Command,
    GetBlockSecurity,
    Inventory,
    InventoryData,
    IsoCode,
    LockBlocks,
    NxpCode,
    NxpCommand,
    PlainCommand,
    ReadBlocks,
    SystemInfo,
    WriteAfi,
    WriteBlocks,
    to_request,
)
from tagd.protocols.feig.frames import FeigStatus, FrameReader, Reply, Request, make_request
from tagd.protocols.iso15693 import ErrorCode

from ..fake_transports import Line, connect


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def emulator(world: World) -> FeigEmulator:
    return FeigEmulator(world.field("pad"), page_size=4)


def place(world: World, profile: str = "slix2", **state: object) -> SimTag:
    tag = world.new_tag(profile)
    for name, value in state.items():
        setattr(tag, name, value)
    world.place(tag.uid, "pad")
    return tag


def ask(emulator: FeigEmulator, command: Command) -> Reply:
    reply = emulator.handle(to_request(command))
    assert reply is not None
    return reply


def test_an_empty_field_answers_no_transponder(emulator: FeigEmulator) -> None:
    assert ask(emulator, Inventory()).status == FeigStatus.NO_TRANSPONDER


def test_an_inventory_pages_with_more_data(world: World, emulator: FeigEmulator) -> None:
    tags = {place(world).uid for _ in range(10)}
    pages = [
        ask(emulator, Inventory()),
        ask(emulator, Inventory(more=True)),
        ask(emulator, Inventory(more=True)),
    ]
    assert [page.status for page in pages] == [FeigStatus.MORE_DATA, FeigStatus.MORE_DATA, FeigStatus.OK]
    sets = [InventoryData.decode(page.data).entries for page in pages]
    assert [len(entries) for entries in sets] == [4, 4, 2]
    assert sorted(entry.uid for entries in sets for entry in entries) == sorted(tags)
    assert ask(emulator, Inventory(more=True)).status == FeigStatus.NO_TRANSPONDER  # nothing left to page


def test_an_inventory_runs_the_anticollision_on_the_air(world: World, emulator: FeigEmulator) -> None:
    for low in (0x13, 0x23, 0x15):  # two tags share their last 4 bits: one collided slot
        place_uid = world.new_tag("slix2", 0xE004010800000000 | low).uid
        world.place(place_uid, "pad")
    reply = ask(emulator, Inventory())
    assert len(InventoryData.decode(reply.data).entries) == 3
    assert emulator.field.exchanges == 2  # the first 16-slot round and one round for the collided slot


def test_system_info_in_feig_layout(world: World, emulator: FeigEmulator) -> None:
    tag = place(world, "slix", afi=0x07, dsfid=0x11)
    reply = ask(emulator, PlainCommand(code=IsoCode.GET_SYSTEM_INFO, uid=tag.uid))
    assert SystemInfo.decode(reply.data) == SystemInfo(tag.uid, 0x11, 0x07, 4, 28, 0x01)


def test_read_blocks_with_their_security(world: World, emulator: FeigEmulator) -> None:
    tag = place(world, "slix", memory=bytearray(range(112)), locked_blocks={1})
    reply = ask(emulator, ReadBlocks(uid=tag.uid, first=0, count=3, security=True))
    data = BlockData.decode(reply.data)
    assert (data.data, data.security) == (bytes(range(12)), (0, 1, 0))
    plain = BlockData.decode(ask(emulator, ReadBlocks(uid=tag.uid, first=0, count=3)).data)
    assert plain.security == (0, 0, 0)


def test_a_write_stopped_by_a_locked_block_names_it(world: World, emulator: FeigEmulator) -> None:
    tag = place(world, "slix", locked_blocks={3})
    reply = ask(emulator, WriteBlocks(uid=tag.uid, first=1, block_size=4, data=bytes(range(12))))
    assert reply.status == FeigStatus.ISO_ERROR
    assert BlockFailure.decode(reply) == BlockFailure(3, ErrorCode.LOCKED)
    assert bytes(tag.memory[4:12]) == bytes(range(8))  # blocks 1 and 2 went in before block 3 refused


def test_locking_twice_is_an_iso_error_naming_the_block(world: World, emulator: FeigEmulator) -> None:
    tag = place(world, "slix")
    assert ask(emulator, LockBlocks(uid=tag.uid, first=2, count=2)).status == FeigStatus.OK
    reply = ask(emulator, LockBlocks(uid=tag.uid, first=2, count=1))
    assert BlockFailure.decode(reply) == BlockFailure(2, ErrorCode.ALREADY_LOCKED)
    security = ask(emulator, GetBlockSecurity(uid=tag.uid, first=1, count=4))
    assert BlockSecurity.decode(security.data).statuses == (0, 1, 1, 0)


def test_an_absent_tag_is_no_transponder(emulator: FeigEmulator) -> None:
    reply = ask(emulator, WriteAfi(uid=0xE004010800000001, afi=7))
    assert (reply.status, reply.data) == (FeigStatus.NO_TRANSPONDER, b"")


def test_a_garbled_answer_is_data_false(world: World, emulator: FeigEmulator) -> None:
    tag = place(world, "slix")
    emulator.field.corrupt_next()
    assert ask(emulator, WriteAfi(uid=tag.uid, afi=7)).status == FeigStatus.DATA_FALSE
    assert tag.afi == 7  # the tag did it; only its answer was lost


def test_eas_commands_and_the_alarm(world: World, emulator: FeigEmulator) -> None:
    tags = [place(world, "slix"), place(world, "slix2")]
    assert ask(emulator, NxpCommand(code=NxpCode.EAS_ALARM)).status == FeigStatus.NO_TRANSPONDER
    for tag in tags:
        assert ask(emulator, NxpCommand(code=NxpCode.SET_EAS, uid=tag.uid)).status == FeigStatus.OK
    assert ask(emulator, NxpCommand(code=NxpCode.EAS_ALARM)).status == FeigStatus.OK
    assert ask(emulator, NxpCommand(code=NxpCode.LOCK_EAS, uid=tags[0].uid)).status == FeigStatus.OK
    reply = ask(emulator, NxpCommand(code=NxpCode.RESET_EAS, uid=tags[0].uid))
    assert (reply.status, reply.data) == (FeigStatus.ISO_ERROR, bytes([ErrorCode.LOCKED]))


def test_select_then_commands_to_the_selected_tag(world: World, emulator: FeigEmulator) -> None:
    tag, other = place(world, "slix"), place(world, "slix")
    assert ask(emulator, PlainCommand(code=IsoCode.SELECT, uid=tag.uid)).status == FeigStatus.OK
    assert ask(emulator, WriteAfi(selected=True, afi=0x42)).status == FeigStatus.OK
    assert (tag.afi, other.afi) == (0x42, 0)
    assert ask(emulator, PlainCommand(code=IsoCode.RESET_TO_READY, selected=True)).status == FeigStatus.OK
    assert ask(emulator, WriteAfi(selected=True, afi=0x43)).status == FeigStatus.NO_TRANSPONDER


def test_a_quiet_tag_leaves_the_inventory(world: World, emulator: FeigEmulator) -> None:
    tag, other = place(world), place(world)
    assert ask(emulator, PlainCommand(code=IsoCode.STAY_QUIET, uid=tag.uid)).status == FeigStatus.OK
    entries = InventoryData.decode(ask(emulator, Inventory()).data).entries
    assert [entry.uid for entry in entries] == [other.uid]


def test_a_locked_afi_refuses_writes(world: World, emulator: FeigEmulator) -> None:
    tag = place(world, "slix")
    assert ask(emulator, PlainCommand(code=IsoCode.LOCK_AFI, uid=tag.uid)).status == FeigStatus.OK
    reply = ask(emulator, WriteAfi(uid=tag.uid, afi=1))
    assert (reply.status, reply.data) == (FeigStatus.ISO_ERROR, bytes([ErrorCode.LOCKED]))


def test_requests_for_another_bus_address_go_unanswered(emulator: FeigEmulator) -> None:
    assert emulator.handle(make_request(0xB0, b"\x01\x00", address=0x05)) is None
    own = emulator.handle(make_request(0xB0, b"\x01\x00", address=0x00))
    assert own is not None
    assert own.address == 0x00


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (make_request(0x65), FeigStatus.UNKNOWN_COMMAND),
        (make_request(0xB0, b"\x99\x00"), FeigStatus.PARAMETER_RANGE_ERROR),
        (make_request(0xB0, b"\x23\x01\xe0"), FeigStatus.PARAMETER_RANGE_ERROR),
        (make_request(0xB0, b"\x01\x10\x07"), FeigStatus.PARAMETER_RANGE_ERROR),  # AFI bit unknown by default
    ],
)
def test_malformed_requests_get_a_status(
    emulator: FeigEmulator, request_: Request, status: FeigStatus
) -> None:
    reply = emulator.handle(request_)
    assert reply is not None
    assert (reply.control, reply.status) == (request_.control, status)


def test_advanced_requests_get_advanced_replies(emulator: FeigEmulator) -> None:
    reply = emulator.handle(make_request(0xB0, b"\x01\x00", advanced=True))
    assert reply is not None
    assert reply.advanced


def test_an_unplugged_reader_raises_for_the_session_to_drop_the_line(emulator: FeigEmulator) -> None:
    emulator.field.unplugged = True
    with pytest.raises(ReaderUnplugged):
        emulator.handle(to_request(Inventory()))


# -- sessions ---------------------------------------------------------------------------------------------


class HostEnd(asyncio.Protocol):
    """The host side of a fake line, collecting reply frames."""

    def __init__(self) -> None:
        self.frames = FrameReader(Reply)
        self.replies: asyncio.Queue[Reply] = asyncio.Queue()
        self.lost = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        for event in self.frames.feed(data):
            if isinstance(event, Reply):
                self.replies.put_nowait(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()


async def test_garbage_before_a_request_is_skipped_and_counted(emulator: FeigEmulator) -> None:
    host = HostEnd()
    session = EmulatorSession(emulator, lambda s: s.abort())
    end, _ = connect(host, session, to_device=Line(chunk=1))
    end.write(b"\x00\x01\x03" + to_request(Inventory()).encode())
    reply = await asyncio.wait_for(host.replies.get(), 5)
    assert reply.status == FeigStatus.NO_TRANSPONDER
    assert emulator.garbage_bytes == 3


async def test_a_half_request_is_dropped_once_the_line_goes_quiet(emulator: FeigEmulator) -> None:
    host = HostEnd()
    session = EmulatorSession(emulator, lambda s: s.abort(), gap=0.02)
    end, _ = connect(host, session)
    end.write(to_request(Inventory()).encode()[:-1])
    # The rest never comes; a whole request follows after a modelled pause longer than the gap.
    asyncio.get_running_loop().call_later(0.05, end.write, to_request(Inventory()).encode())
    reply = await asyncio.wait_for(host.replies.get(), 5)
    assert reply.status == FeigStatus.NO_TRANSPONDER
    assert emulator.garbage_bytes == 6


async def test_an_unplugged_reader_drops_the_line(emulator: FeigEmulator) -> None:
    host = HostEnd()
    end, _ = connect(host, EmulatorSession(emulator, lambda s: s.abort()))
    emulator.field.unplugged = True
    end.write(to_request(Inventory()).encode())
    await asyncio.wait_for(host.lost.wait(), 5)
    assert host.replies.empty()


async def test_the_pty_is_a_raw_character_device_and_replugs(emulator: FeigEmulator) -> None:
    server = FeigPtyServer(emulator)
    path = await server.replug()
    try:
        assert stat.S_ISCHR(os.stat(path).st_mode)
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        host = HostEnd()
        loop = asyncio.get_running_loop()
        loop.add_reader(fd, lambda: host.data_received(os.read(fd, 64)))
        try:
            os.write(fd, to_request(Inventory()).encode())
            assert await asyncio.wait_for(host.replies.get(), 5) == Reply(0xB0, FeigStatus.NO_TRANSPONDER)
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        server.unplug()
        assert not server.plugged
        assert stat.S_ISCHR(os.stat(await server.replug()).st_mode)
    finally:
        await server.close()
