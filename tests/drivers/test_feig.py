"""The back-to-back contract for `feig:` readers against the FEIG emulator: over loopback TCP, a real pty,
and through fake lines that deliver one byte at a time, late, or not at all; plus what only FEIG shows:
the line dropped under the driver, timeouts and resync, paging with MORE, and the URL forms."""

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagd.drivers import open_reader
from tagd.drivers.base import DriverError, Reader, ReaderLost, TagLost
from tagd.drivers.feig import (
    FeigReader,
    FeigStatusError,
    FeigUrlError,
    ReaderTimeout,
    open_feig_reader,
    parse_url,
)
from tagd.drivers.feig_transport import FeigLink
from tagd.drivers.sim.feig_emulator import FeigEmulator
from tagd.drivers.sim.feig_serve import EmulatorSession, FeigPtyServer, FeigTcpServer
from tagd.drivers.sim.world import Field, World
from tagd.protocols.feig.commands import ByteOrder, Dialect, InventoryData
from tagd.protocols.feig.frames import FeigStatus, Reply, Request, StatusKind, reply_to

from .fake_transports import Line, connect, drop_at
from .reader_contract import ReaderContract, bounded

PAGE_SIZE = 8
"""Data sets per inventory reply in these rigs: 20 tags then take two MORE requests."""


@dataclass
class FeigRig:
    reader: FeigReader
    world: World
    field: Field
    emulator: FeigEmulator
    opener: Callable[[], Awaitable[FeigReader]]

    async def reopen(self) -> Reader:
        await self.reader.close()
        self.reader = await self.opener()
        return self.reader


def emulator_for(world: World) -> FeigEmulator:
    return FeigEmulator(world.field("pad"), page_size=PAGE_SIZE)


@pytest.fixture
async def tcp() -> AsyncIterator[tuple[FeigTcpServer, FeigRig]]:
    world = World()
    server = FeigTcpServer(emulator_for(world))
    url = f"feig:tcp://127.0.0.1:{await server.start()}?timeout=2"

    async def opener() -> FeigReader:
        return await open_feig_reader(url)

    rig = FeigRig(await opener(), world, server.emulator.field, server.emulator, opener)
    yield server, rig
    await rig.reader.close()
    await server.close()


@pytest.fixture
async def pty() -> AsyncIterator[tuple[FeigPtyServer, FeigRig]]:
    world = World()
    server = FeigPtyServer(emulator_for(world))
    await server.replug()

    async def opener() -> FeigReader:
        if not server.plugged:
            await server.replug()  # the USB reader plugged in again comes back as a new tty
        return await open_feig_reader(f"feig:serial://{server.path}?timeout=2")

    rig = FeigRig(await opener(), world, server.emulator.field, server.emulator, opener)
    yield server, rig
    await rig.reader.close()
    await server.close()


def open_fake_line(emulator: FeigEmulator, to_device: Line, to_host: Line, timeout: float) -> FeigReader:
    """A FeigReader wired to the emulator through fake_transports, both ends being the real code."""
    settings = parse_url(f"feig:tcp://fake-line:1?timeout={timeout}")
    link = FeigLink("feig:fake-line", settings.timeout)
    session = EmulatorSession(emulator, lambda s: s.abort(), gap=timeout / 3)
    connect(link, session, to_device=to_device, to_host=to_host)
    return FeigReader("feig:fake-line", link, settings)


def fake_rig(to_device: Line, to_host: Line, timeout: float = 2.0) -> FeigRig:
    world = World()
    emulator = emulator_for(world)

    async def opener() -> FeigReader:
        return open_fake_line(emulator, to_device, to_host, timeout)

    return FeigRig(
        open_fake_line(emulator, to_device, to_host, timeout), world, emulator.field, emulator, opener
    )


# -- the contract, over each byte path ---------------------------------------------------------------------


class TestFeigTcp(ReaderContract):
    @pytest.fixture
    def rig(self, tcp: tuple[FeigTcpServer, FeigRig]) -> FeigRig:
        return tcp[1]


class TestFeigPty(ReaderContract):
    @pytest.fixture
    def rig(self, pty: tuple[FeigPtyServer, FeigRig]) -> FeigRig:
        return pty[1]


class TestFeigOneByteAtATime(ReaderContract):
    """Every byte in its own delivery, both ways: frames must be cut from the stream, not from reads."""

    @pytest.fixture
    async def rig(self) -> AsyncIterator[FeigRig]:
        rig = fake_rig(Line(chunk=1), Line(chunk=1))
        yield rig
        await rig.reader.close()


class TestFeigSlowLine(ReaderContract):
    """Three bytes per delivery, each a millisecond after the last, and a late start."""

    @pytest.fixture
    async def rig(self) -> AsyncIterator[FeigRig]:
        rig = fake_rig(Line(chunk=3, delay=0.001), Line(chunk=3, delay=0.001))
        yield rig
        await rig.reader.close()


# -- dropped bytes: time out cleanly, resync, succeed on retry ----------------------------------------------

QUICK = 0.25
"""Answer timeout where a timeout is the expected outcome, so those tests stay short."""


async def test_a_reply_missing_a_byte_times_out_and_the_retry_succeeds() -> None:
    rig = fake_rig(Line(), Line(chunk=1, drop=drop_at(4)), timeout=QUICK)
    tag = rig.world.new_tag("slix2")
    rig.world.place(tag.uid, "pad")
    with pytest.raises(ReaderTimeout):
        await bounded(rig.reader.inventory())
    assert rig.reader.link.garbage_bytes > 0  # the truncated reply, flushed as noise
    assert [found.uid for found in await bounded(rig.reader.inventory())] == [tag.uid]


async def test_a_request_missing_a_byte_times_out_and_the_retry_succeeds() -> None:
    rig = fake_rig(Line(chunk=1, drop=drop_at(2)), Line(), timeout=QUICK)
    tag = rig.world.new_tag("slix2")
    rig.world.place(tag.uid, "pad")
    with pytest.raises(ReaderTimeout):
        await bounded(rig.reader.write_afi(tag.uid, 0x07))
    assert tag.afi == 0  # the reader never took the broken request
    assert rig.emulator.garbage_bytes > 0
    await bounded(rig.reader.write_afi(tag.uid, 0x07))
    assert tag.afi == 0x07


async def retry(step: Callable[[], Awaitable[object]], attempts: int = 8) -> object:
    for _ in range(attempts - 1):
        try:
            return await bounded(step())
        except ReaderTimeout:
            continue
    return await bounded(step())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    to_device=st.sets(st.integers(0, 120), max_size=2),
    to_host=st.sets(st.integers(0, 400), max_size=2),
    chunk=st.integers(0, 5),
)
async def test_any_few_lost_bytes_cost_only_retries(
    to_device: set[int], to_host: set[int], chunk: int
) -> None:
    rig = fake_rig(Line(chunk, drop=drop_at(*to_device)), Line(chunk, drop=drop_at(*to_host)), timeout=QUICK)
    tags = [rig.world.new_tag("slix2") for _ in range(10)]
    for tag in tags:
        rig.world.place(tag.uid, "pad")
    found = await retry(rig.reader.inventory)
    assert isinstance(found, list)
    assert sorted(tag.uid for tag in found) == sorted(tag.uid for tag in tags)
    data = [bytes([n] * 4) for n in range(6)]
    await retry(lambda: rig.reader.write_blocks(tags[0].uid, 1, data))
    assert await retry(lambda: rig.reader.read_blocks(tags[0].uid, 1, 6)) == data
    assert rig.reader.link.timeouts <= len(to_device) + len(to_host)
    await rig.reader.close()


# -- FEIG-specific faults -----------------------------------------------------------------------------------


async def test_a_tcp_reset_is_reader_lost_and_reopening_works(tcp: tuple[FeigTcpServer, FeigRig]) -> None:
    server, rig = tcp
    tag = rig.world.new_tag("slix")
    rig.world.place(tag.uid, "pad")
    server.reset_connections()
    with pytest.raises(ReaderLost):
        await bounded(rig.reader.inventory())
    with pytest.raises(ReaderLost):  # and stays lost
        await bounded(rig.reader.system_info(tag.uid))
    reader = await bounded(rig.reopen())
    assert [found.uid for found in await bounded(reader.inventory())] == [tag.uid]


async def test_a_closed_pty_is_reader_lost_and_a_replugged_one_works(
    pty: tuple[FeigPtyServer, FeigRig],
) -> None:
    server, rig = pty
    tag = rig.world.new_tag("slix")
    rig.world.place(tag.uid, "pad")
    server.unplug()
    with pytest.raises(ReaderLost):
        await bounded(rig.reader.inventory())
    reader = await bounded(rig.reopen())
    assert server.path is not None
    assert stat.S_ISCHR(os.stat(server.path).st_mode)
    assert [found.uid for found in await bounded(reader.inventory())] == [tag.uid]


async def test_a_pty_reopened_without_a_fault_keeps_working(pty: tuple[FeigPtyServer, FeigRig]) -> None:
    server, rig = pty
    path = server.path
    for _ in range(3):
        reader = await bounded(rig.reopen())
        assert await bounded(reader.inventory()) == []
    assert server.path == path


async def test_a_reader_on_another_bus_address_times_out(tcp: tuple[FeigTcpServer, FeigRig]) -> None:
    server, _ = tcp
    reader = await open_feig_reader(f"feig:tcp://127.0.0.1:{server.port}?address=7&timeout={QUICK}")
    try:
        with pytest.raises(ReaderTimeout, match="did not answer"):
            await bounded(reader.inventory())
        assert reader.link.timeouts == 1
    finally:
        await reader.close()


async def test_nobody_listening_is_reader_lost() -> None:
    server = FeigTcpServer(emulator_for(World()))
    port = await server.start()
    await server.close()
    with pytest.raises(ReaderLost, match="cannot connect"):
        await open_feig_reader(f"feig:tcp://127.0.0.1:{port}")


async def test_a_missing_serial_port_is_reader_lost() -> None:
    with pytest.raises(ReaderLost, match="cannot open"):
        await open_feig_reader("feig:serial:///dev/tagd-no-such-port")


async def test_long_inventories_come_in_pages(tcp: tuple[FeigTcpServer, FeigRig]) -> None:
    _, rig = tcp
    for _ in range(2 * PAGE_SIZE + 1):
        rig.world.place(rig.world.new_tag("slix2").uid, "pad")
    before = rig.emulator.requests
    assert len(await bounded(rig.reader.inventory())) == 2 * PAGE_SIZE + 1
    assert rig.emulator.requests - before == 3  # the inventory and two MORE requests


async def test_a_garbled_answer_is_an_rf_error_and_the_next_one_works(
    tcp: tuple[FeigTcpServer, FeigRig],
) -> None:
    _, rig = tcp
    tag = rig.world.new_tag("slix")
    rig.world.place(tag.uid, "pad")
    rig.field.corrupt_next()
    with pytest.raises(FeigStatusError) as caught:
        await bounded(rig.reader.system_info(tag.uid))
    assert (caught.value.status, caught.value.kind) == (0x02, StatusKind.RF_ERROR)
    assert (await bounded(rig.reader.system_info(tag.uid))).uid == tag.uid


async def test_a_silent_field_has_no_tags(tcp: tuple[FeigTcpServer, FeigRig]) -> None:
    _, rig = tcp
    tag = rig.world.new_tag("slix")
    rig.world.place(tag.uid, "pad")
    rig.field.silent = True
    assert await bounded(rig.reader.inventory()) == []
    with pytest.raises(TagLost):
        await bounded(rig.reader.set_eas(tag.uid))


async def test_block_security_and_an_addressed_eas_alarm(tcp: tuple[FeigTcpServer, FeigRig]) -> None:
    _, rig = tcp
    tag, other = rig.world.new_tag("slix"), rig.world.new_tag("slix")
    for placed in (tag, other):
        rig.world.place(placed.uid, "pad")
    await bounded(rig.reader.lock_blocks(tag.uid, 1, 2))
    assert await bounded(rig.reader.block_security(tag.uid, 0, 4)) == [False, True, True, False]
    await bounded(rig.reader.set_eas(other.uid))
    assert (await rig.reader.eas_alarm(tag.uid), await rig.reader.eas_alarm(other.uid)) == (False, True)


async def test_pyserial_urls_reach_the_reader(tcp: tuple[FeigTcpServer, FeigRig]) -> None:
    server, rig = tcp
    tag = rig.world.new_tag("slix")
    rig.world.place(tag.uid, "pad")
    reader = await open_feig_reader(f"feig:serial:socket://127.0.0.1:{server.port}")
    try:
        assert [found.uid for found in await bounded(reader.inventory())] == [tag.uid]
    finally:
        await reader.close()


class EndlessPages(FeigEmulator):
    """A confused reader: every inventory reply says more data is waiting."""

    def handle(self, request: Request) -> Reply | None:
        return reply_to(request, FeigStatus.MORE_DATA, InventoryData(()).encode())


async def test_a_reader_paging_forever_is_an_error_not_a_hang() -> None:
    reader = open_fake_line(EndlessPages(World().field("pad")), Line(), Line(), timeout=2)
    with pytest.raises(DriverError, match="still had more data"):
        await bounded(reader.inventory())
    await reader.close()


async def test_the_entry_point_opens_feig_urls(tcp: tuple[FeigTcpServer, FeigRig]) -> None:
    server, _ = tcp
    reader = await open_reader(f"feig:tcp://127.0.0.1:{server.port}")
    assert isinstance(reader, FeigReader)
    await reader.close()


async def test_closing_twice_is_harmless_and_a_closed_reader_is_lost(
    tcp: tuple[FeigTcpServer, FeigRig],
) -> None:
    _, rig = tcp
    await rig.reader.close()
    await rig.reader.close()
    with pytest.raises(ReaderLost, match="closed"):
        await rig.reader.inventory()


async def test_one_request_at_a_time_even_when_callers_overlap(tcp: tuple[FeigTcpServer, FeigRig]) -> None:
    _, rig = tcp
    tags = [rig.world.new_tag("slix2") for _ in range(4)]
    for tag in tags:
        rig.world.place(tag.uid, "pad")
    infos = await bounded(asyncio.gather(*(rig.reader.system_info(tag.uid) for tag in tags)))
    assert [info.uid for info in infos] == [tag.uid for tag in tags]
    assert rig.reader.link.stray_replies == 0


# -- the URL ---------------------------------------------------------------------------------------------


def test_url_forms() -> None:
    tcp = parse_url("feig:tcp://reader.local:10001?timeout=0.5&address=3")
    assert (tcp.transport, tcp.target, tcp.timeout, tcp.address) == ("tcp", "reader.local:10001", 0.5, 3)
    serial = parse_url("feig:serial:///dev/ttyUSB0?baudrate=115200&parity=N&block_order=lsb-first")
    assert (serial.transport, serial.target, serial.baudrate, serial.parity) == (
        "serial",
        "/dev/ttyUSB0",
        115200,
        "N",
    )
    assert serial.dialect.block_order is ByteOrder.LSB_FIRST
    assert parse_url("feig:serial:/dev/ttyS0").target == "/dev/ttyS0"
    assert (
        parse_url("feig:serial:///dev/ttyS0").baudrate,
        parse_url("feig:serial:///dev/ttyS0").address,
    ) == (
        38400,
        255,
    )
    remote = parse_url("feig:serial:rfc2217://10.0.0.5:2217?baudrate=9600&logging=debug")
    assert (remote.target, remote.baudrate) == ("rfc2217://10.0.0.5:2217?logging=debug", 9600)
    assert parse_url("feig:tcp://[::1]:10001").target == "::1:10001"
    assert parse_url("feig:tcp://h:1?afi_flag=0x10").dialect.inventory_afi_flag == 0x10


@pytest.mark.parametrize(
    "url",
    [
        "feig:",
        "sim:pad",
        "feig:usb://x",
        "feig:tcp://host",
        "feig:tcp://host:port",
        "feig:tcp://host:1/path",
        "feig:tcp://host:1?colour=red",
        "feig:serial://dev/ttyUSB0",
        "feig:serial:///dev/ttyUSB0?parity=X",
        "feig:serial:///dev/ttyUSB0?address=256",
        "feig:serial:///dev/ttyUSB0?timeout=0",
        "feig:serial:///dev/ttyUSB0?block_order=middle",
        "feig:tcp://h:1?afi_flag=3",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(FeigUrlError):
        parse_url(url)


async def test_an_inventory_by_afi_uses_the_reader_when_the_dialect_says_how() -> None:
    world = World()
    dialect = Dialect(inventory_afi_flag=0x10)
    server = FeigTcpServer(FeigEmulator(world.field("pad"), dialect=dialect))
    port = await server.start()
    secured, other = world.new_tag("slix2"), world.new_tag("slix2")
    for tag in (secured, other):
        world.place(tag.uid, "pad")
    secured.afi = 0x07
    reader = await open_feig_reader(f"feig:tcp://127.0.0.1:{port}?afi_flag=0x10")
    try:
        assert [found.uid for found in await bounded(reader.inventory(afi=0x07))] == [secured.uid]
        assert server.emulator.requests == 1  # no system information asked per tag
    finally:
        await reader.close()
        await server.close()
