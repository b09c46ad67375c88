"""docs/reliability.md §4, a reader lost: the line under a running station goes away and comes back, through
the daemon (App in-process, or `tagd run` for PC/SC) and real transports: FEIG over loopback TCP (reset
with SO_LINGER 0; the emulator stopped for a while and restarted), FEIG over a real pty (closed), a serial
barcode scanner over a real pty (closed), a PC/SC reader through real pcscd and vpcd (the card side
closed). Each time: `reader.lost`, reopening with capped backoff, `reader.connected`, and the station
works again (detects a tag, takes a scan) without a restart.

A USB device comes back as a new tty; udev gives it a stable name (docs/operations.md), which a symlink
in tmp_path plays here. PC/SC runs in a `tagd run` subprocess: libpcsclite picks its pcscd socket once
per process, and the driver tests' pcscd may already own this one.
"""

import asyncio
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from drivers.pcscd import Pcscd, Unavailable, free_port_pair

from tagd.daemon.config.errors import ConfigError
from tagd.daemon.config.model import load_config_data
from tagd.drivers.sim.feig_emulator import FeigEmulator
from tagd.drivers.sim.feig_serve import FeigPtyServer, FeigTcpServer
from tagd.drivers.sim.vpcd_card import VirtualCard
from tagd.drivers.sim.world import SimTag, World
from tagd.protocols import nw7
from tagd.protocols.events import Envelope
from tagd.protocols.iso28560 import encode_basic_block

from .broker import Broker
from .stations import ISIL, LIBRARY, Circulation, running, sim_station, station_config, unique

RETRY_MIN_S, RETRY_MAX_S, PROBE_S = 0.05, 0.5, 0.1
DEVICES = {
    "reconnect_min_seconds": RETRY_MIN_S,
    "reconnect_max_seconds": RETRY_MAX_S,
    "probe_seconds": PROBE_S,
}
PAD = {"debounce_seconds": 0.05, "poll_seconds": 0.02}
OUTAGE_S = 2.5
"""How long a reader stays away in the backoff tests: a fault's length, not a wait for anything. Uncapped,
the delays (0.05 s doubling) would by then have grown past 1.6 s; capped, none is longer than RETRY_MAX_S."""
BACK_WITHIN_S = RETRY_MAX_S + 1.0
"""A reader back on the line is reconnected within the cap plus this margin (a loaded machine)."""
WAIT_S = 10.0
ITEMS = iter(f"1000{n:04d}" for n in range(1000, 9999))


def item_tag(world: World, field: str, *, secured: bool = False) -> SimTag:
    """A tag carrying an item (as the encoder writes it), placed in `field`."""
    tag = world.new_tag("U-TAG-L301", memory=encode_basic_block(_item_id(), ISIL))
    if secured:
        tag.afi, tag.eas = 0x07, True
    world.place(tag.uid, field)
    return tag


def _item_id() -> str:
    """A fresh registration number with its check digit (the default scheme)."""
    body = next(ITEMS)
    return body + nw7.check_digit(body)


def station(role: str, reader: str, **extra: Any) -> dict[str, Any]:
    """A station table on real hardware URLs (no sim: devices, so no card reader)."""
    table = sim_station(role, reader=reader, **extra)
    table.pop("card_reader", None)
    if role != "encoder":
        table.pop("scanner", None)
    return table


def uid_of(tag: SimTag) -> str:
    return f"{tag.uid:016X}"


async def lost_then_back(desk: Circulation, name: str, device: str, after: int) -> tuple[Envelope, Envelope]:
    """reader.lost of `device`, then reader.connected after it, and the status showing it connected."""
    lost = await desk.wait_for(
        "reader.lost", lambda e: e.data.reader == device, WAIT_S, station=name, after=after
    )
    assert 0 < lost.data.retry_in_s <= RETRY_MAX_S
    back = await desk.wait_for(
        "reader.connected",
        lambda e: e.data.reader == device and desk.events.index(e) > desk.events.index(lost),
        WAIT_S,
        station=name,
        after=after,
    )
    await desk.wait_status(name, lambda s: s["readers"][device]["state"] == "connected", WAIT_S)
    return lost, back


# -- FEIG over loopback TCP ---------------------------------------------------------------------------------


@pytest.fixture
async def feig_tcp() -> AsyncIterator[tuple[FeigTcpServer, World]]:
    world = World()
    server = FeigTcpServer(FeigEmulator(world.field("pad")))
    await server.start()
    yield server, world
    await server.close()


def reset_connections(server: FeigTcpServer) -> int:
    """A TCP reset: SO_LINGER 0 makes the close an RST, as a reader losing power or a switch dropping it."""
    reset = 0
    for session in list(server.sessions):
        transport = session.transport
        if transport is None or transport.is_closing():
            continue
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        reset += 1
    server.reset_connections()
    return reset


async def test_a_tcp_reset_under_a_checkout_is_lost_reconnected_and_detects_again(
    tmp_path: Path, broker: Broker, feig_tcp: tuple[FeigTcpServer, World]
) -> None:
    server, world = feig_tcp
    table = station("checkout", f"feig:tcp://127.0.0.1:{server.port}?timeout=1")
    name = table["name"]
    config = station_config(tmp_path, broker.port, [table], devices=DEVICES, checkout=PAD)
    async with Circulation(broker.port) as desk, running(config) as app:
        assert (app.station(name).retry_min_seconds, app.station(name).retry_max_seconds) == (0.05, 0.5)
        first = item_tag(world, "pad")
        await desk.wait_for("item.detected", lambda e: e.data.uid == uid_of(first), WAIT_S, station=name)
        for round_ in range(3):
            seen = desk.mark()
            assert reset_connections(server) == 1, round_
            await lost_then_back(desk, name, "reader", seen)
            tag = item_tag(world, "pad")
            await desk.wait_for("item.detected", lambda e, t=tag: e.data.uid == uid_of(t), WAIT_S, after=seen)


async def test_a_feig_reader_away_for_a_while_is_retried_with_capped_backoff(
    tmp_path: Path, broker: Broker, feig_tcp: tuple[FeigTcpServer, World]
) -> None:
    """The emulator stops listening (its connections dropped), stays away OUTAGE_S, and listens again on the
    same port: the station is back within the cap, not after a backoff grown without bound."""
    server, world = feig_tcp
    port = server.port
    table = station("checkout", f"feig:tcp://127.0.0.1:{port}?timeout=1")
    name = table["name"]
    config = station_config(tmp_path, broker.port, [table], devices=DEVICES, checkout=PAD)
    async with Circulation(broker.port) as desk, running(config):
        await desk.wait_for("reader.connected", within=WAIT_S, station=name)
        seen = desk.mark()
        await server.close()
        lost = await desk.wait_for("reader.lost", within=WAIT_S, station=name, after=seen)
        assert (lost.data.reader, lost.data.url) == ("reader", f"feig:tcp://127.0.0.1:{port}?timeout=1")
        await desk.wait_status(name, lambda s: s["readers"]["reader"]["state"] == "lost", WAIT_S)
        await asyncio.sleep(OUTAGE_S)  # the outage itself
        assert desk.of("reader.connected", name, seen) == []
        await server.start(port=port)
        restarted = time.monotonic()
        await desk.wait_for("reader.connected", within=WAIT_S, station=name, after=seen)
        back_after = time.monotonic() - restarted
        print(f"FEIG over TCP: back {back_after:.2f} s after the reader returned (cap {RETRY_MAX_S} s)")
        assert back_after <= BACK_WITHIN_S, f"back {back_after:.2f} s after the reader returned"
        assert len(desk.of("reader.lost", name, seen)) == 1, "one loss is one reader.lost, not one per try"
        tag = item_tag(world, "pad")
        await desk.wait_for("item.detected", lambda e: e.data.uid == uid_of(tag), WAIT_S, after=seen)


@contextlib.contextmanager
def feig_process() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`tagd sim feig` in a process of its own (so it can be SIGSTOPped: it then still accepts TCP
    connections, in the kernel's backlog, but answers nothing, as a hung reader); its port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tagd.daemon", "sim", "feig", "--listen", "tcp://127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        yield process, int(line.rsplit(":", 1)[-1])
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


async def test_a_hung_feig_reader_is_lost_once_and_not_connected_until_it_answers(
    tmp_path: Path, broker: Broker
) -> None:
    """A SIGSTOPped reader: "connected" means it answered, so no reader.connected and no status flipping to
    connected while it is frozen (it used to flap: 4 lost/connected pairs in 15 s); back once it answers."""
    with feig_process() as (emulator, port):
        url = f"feig:tcp://127.0.0.1:{port}?timeout=1"
        table = station("checkout", url)
        name = table["name"]
        config = station_config(tmp_path, broker.port, [table], devices=DEVICES, checkout=PAD)
        async with Circulation(broker.port) as desk, running(config):
            await desk.wait_for("reader.connected", within=WAIT_S, station=name)
            seen = desk.mark()
            emulator.send_signal(signal.SIGSTOP)
            await desk.wait_for("reader.lost", within=WAIT_S, station=name, after=seen)
            await asyncio.sleep(OUTAGE_S)  # the hang itself: several reconnections find it still frozen
            assert desk.of("reader.connected", name, seen) == []
            assert len(desk.of("reader.lost", name, seen)) == 1
            assert desk.statuses[name]["readers"]["reader"]["state"] == "lost"
            emulator.send_signal(signal.SIGCONT)
            await desk.wait_for("reader.connected", within=WAIT_S, station=name, after=seen)
            await desk.wait_status(name, lambda s: s["readers"]["reader"]["state"] == "connected", WAIT_S)


# -- FEIG and a barcode scanner over real ptys -------------------------------------------------------------


@pytest.fixture
async def feig_pty(tmp_path: Path) -> AsyncIterator[tuple[FeigPtyServer, World, Path]]:
    """The emulated USB reader, under a stable name (a symlink, as udev's /dev/tagd-feig-SERIAL)."""
    world = World()
    server = FeigPtyServer(FeigEmulator(world.field("gate")))
    link = tmp_path / "tagd-feig-test"
    link.symlink_to(await server.replug())
    yield server, world, link
    await server.close()


def relink(link: Path, target: str) -> None:
    """The stable name pointing at the device's new tty (udev does this when the device comes back)."""
    fresh = link.with_suffix(".new")
    fresh.symlink_to(target)
    fresh.replace(link)


async def test_a_closed_pty_under_a_gate_is_lost_reconnected_and_alarms_again(
    tmp_path: Path, broker: Broker, feig_pty: tuple[FeigPtyServer, World, Path]
) -> None:
    server, world, link = feig_pty
    table = station("gate", f"feig:serial://{link}?timeout=1")
    name = table["name"]
    config = station_config(tmp_path, broker.port, [table], devices=DEVICES, gate={"poll_seconds": 0.02})
    async with Circulation(broker.port) as desk, running(config):
        first = item_tag(world, "gate", secured=True)
        await desk.wait_for("gate.alarm", lambda e: e.data.uid == uid_of(first), WAIT_S, station=name)
        world.remove(first.uid)
        for _ in range(3):
            seen = desk.mark()
            server.unplug()  # the USB cable pulled: the pty closes, its name goes
            link.unlink()
            await desk.wait_for("reader.lost", within=WAIT_S, station=name, after=seen)
            relink(link, await server.replug())
            await lost_then_back(desk, name, "reader", seen)
            tag = item_tag(world, "gate", secured=True)
            alarm = await desk.wait_for(
                "gate.alarm", lambda e, t=tag: e.data.uid == uid_of(t), WAIT_S, after=seen
            )
            await desk.wait_for(  # and its item follows
                "gate.identified", lambda e, a=alarm: e.data.alarm_id == a.id, WAIT_S, after=seen
            )
            world.remove(tag.uid)


class ScannerPty:
    """A serial barcode scanner: the test writes scans to the master; the station opens `link`."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = self.slave = -1

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        relink(self.link, os.ttyname(self.slave))

    def unplug(self) -> None:
        self.link.unlink(missing_ok=True)
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1

    def scan(self, raw: str) -> None:
        os.write(self.master, raw.encode() + b"\r")


@pytest.fixture
def scanner_pty(tmp_path: Path) -> Iterator[ScannerPty]:
    scanner = ScannerPty(tmp_path / "tagd-scanner-test")
    scanner.plug()
    yield scanner
    scanner.unplug()


async def test_a_closed_scanner_pty_is_lost_reconnected_and_scans_again(
    tmp_path: Path, broker: Broker, scanner_pty: ScannerPty
) -> None:
    name = unique("encoder")
    table = sim_station("encoder", name, scanner=f"scanner:serial://{scanner_pty.link}")
    config = station_config(tmp_path, broker.port, [table], devices=DEVICES)
    async with Circulation(broker.port) as desk, running(config):
        await desk.wait_for("reader.connected", lambda e: e.data.reader == "scanner", WAIT_S, station=name)
        for round_ in range(3):
            seen = desk.mark()
            scanner_pty.unplug()
            await desk.wait_for("reader.lost", lambda e: e.data.reader == "scanner", WAIT_S, after=seen)
            scanner_pty.plug()
            await lost_then_back(desk, name, "scanner", seen)
            item_id = _item_id()
            scanner_pty.scan(f"A{item_id}B")
            scanned = await desk.wait_for("barcode.scanned", within=WAIT_S, station=name, after=seen)
            assert scanned.data.item_id == item_id, round_


# -- PC/SC through pcscd and vpcd, in `tagd run` -------------------------------------------------------------


class _Pcscd(Pcscd):
    def _serving(self, deadline: float) -> bool:
        """Ready once its socket is there: no PC/SC context in this process (libpcsclite would keep it)."""
        assert self.process is not None
        while self.process.poll() is None and time.monotonic() < deadline:
            if self.socket_path.is_socket():
                return True
            time.sleep(0.01)
        return False


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    daemon = _Pcscd(tmp_path_factory.mktemp("pcscd"), free_port_pair(), friendly_name="tagd reliability")
    try:
        daemon.start()
    except Unavailable as exc:
        pytest.skip(f"no private pcscd here: {exc}")
    yield daemon
    daemon.stop()


def pcsc_config(tmp_path: Path, port: int, name: str, reader: str) -> Path:
    """A tagd.toml for `tagd run`: one checkout on the PC/SC reader (checked by loading it here first)."""
    text = f"""
state_dir = "{tmp_path / "state"}"
[[stations]]
name = "{name}"
role = "checkout"
library = "{LIBRARY}"
isil = "{ISIL}"
reader = "pcsc:{reader}"
[mqtt]
url = "mqtt://127.0.0.1:{port}"
reconnect_min_seconds = 0.1
reconnect_max_seconds = 1.0
[devices]
reconnect_min_seconds = {RETRY_MIN_S}
reconnect_max_seconds = {RETRY_MAX_S}
probe_seconds = {PROBE_S}
[checkout]
debounce_seconds = {PAD["debounce_seconds"]}
poll_seconds = 0.05
"""
    path = tmp_path / "tagd.toml"
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def tagd_run(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tagd.daemon", "run", "--config", str(config)], stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def test_a_pcsc_reader_whose_card_side_closes_is_lost_reconnected_and_detects_again(
    tmp_path: Path, broker: Broker, pcscd: Pcscd
) -> None:
    world = World()
    card = VirtualCard(world.field("pad"), port=pcscd.port)
    card.insert()
    name = unique("checkout")
    config = pcsc_config(tmp_path, broker.port, name, pcscd.reader)
    try:
        with tagd_run(config, tmp_path / "tagd.log") as daemon:
            async with Circulation(broker.port) as desk:
                first = item_tag(world, "pad")
                try:
                    await desk.wait_for("item.detected", lambda e: e.data.uid == uid_of(first), 20.0)
                except AssertionError:
                    raise AssertionError((tmp_path / "tagd.log").read_text()[-3000:]) from None
                for round_ in range(2):
                    seen = desk.mark()
                    card.remove()  # vpcd sees its card side close: pcscd reports the card gone
                    await desk.wait_for("reader.lost", within=WAIT_S, station=name, after=seen)
                    card.insert()
                    await lost_then_back(desk, name, "reader", seen)
                    tag = item_tag(world, "pad")
                    await desk.wait_for(
                        "item.detected", lambda e, t=tag: e.data.uid == uid_of(t), WAIT_S, after=seen
                    )
                    assert daemon.poll() is None, round_
    finally:
        card.remove()


def test_the_devices_backoff_is_configured_and_checked(tmp_path: Path) -> None:
    table = sim_station("gate")
    config = load_config_data({"stations": [table], "devices": DEVICES}, base=tmp_path)
    assert (config.devices.reconnect_min_seconds, config.devices.reconnect_max_seconds) == (0.05, 0.5)
    default = load_config_data({"stations": [table]}, base=tmp_path).devices
    assert (default.reconnect_min_seconds, default.reconnect_max_seconds) == (0.2, 10.0)
    assert default.probe_seconds == 1.0
    backwards = {"reconnect_min_seconds": 5, "reconnect_max_seconds": 1}
    with pytest.raises(ConfigError, match="reconnect_min_seconds is larger"):
        load_config_data({"stations": [table], "devices": backwards})
    with pytest.raises(ConfigError, match=r"devices\.probe_seconds"):
        load_config_data({"stations": [table], "devices": {"probe_seconds": 0}})
