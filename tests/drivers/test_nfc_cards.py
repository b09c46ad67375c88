"""Patron cards through nfcpy's own UDP device: the driver polls `nfc:udp:127.0.0.1:PORT`, and on the other
side a second nfcpy ContactlessFrontend on the same UDP port listens as the card.

nfcpy emulates a FeliCa (Type 3) card itself (ContactlessFrontend.connect(card=...)). It has no Type 2 or
Type 4 card emulation, so those cards are its UDP listen mode (which answers the ISO 14443-3 anticollision
and select itself) plus the few replies a reader needs after it, given here: READ for Type 2, RATS and the
ISO-DEP presence check for Type 4. nfcpy's listen side binds 0.0.0.0 (nfc/clf/udp.py, not configurable);
the reader side talks to 127.0.0.1 only.
"""

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import nfc
import nfc.clf
import pytest

from tagd.drivers import CardRead, ReaderLost, open_card_reader
from tagd.drivers.nfc_cards import (
    CardReaderUrlError,
    NfcCardReader,
    card_read,
    nfcpy_path,
    open_nfc_card_reader,
    sim_card_reader,
)

READ_TIMEOUT = 15.0
"""Over UDP each target nobody answers costs the reader 1 s: FeliCa, then A, then B."""

IDM = bytes.fromhex("012E4CD1A2B3C4D5")
TYPE2_UID = bytes.fromhex("05A1B2C3D4E5F6")
TYPE4_UID = bytes.fromhex("08C0FFEE")
ATS = bytes.fromhex("0578807002")
"""TL 5, T0 78 (FSCI 8: 256 bytes; TA, TB, TC follow), TA 80, TB 70 (FWI 7: 39 ms), TC 02."""


def free_udp_port() -> int:
    """A free loopback port without an /etc/services name (nfcpy's udp driver cannot parse a named port)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        try:
            socket.getservbyport(port, "udp")
        except OSError:
            return port


class UdpCard:
    """A card beyond nfcpy's UDP device, in a thread: `present` lays it down, `remove` takes it off."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def present(self, play: Callable[[nfc.ContactlessFrontend, threading.Event], None]) -> None:
        self._stop.clear()
        frontend = nfc.ContactlessFrontend(f"udp:127.0.0.1:{self.port}")

        def run() -> None:
            try:
                play(frontend, self._stop)
            finally:
                frontend.close()

        self._thread = threading.Thread(target=run, name="udp card", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(READ_TIMEOUT)
            assert not self._thread.is_alive(), "the emulated card did not stop"


def felica(idm: bytes) -> Callable[[nfc.ContactlessFrontend, threading.Event], None]:
    """nfcpy's own Type 3 emulation: it answers polling with this IDm (PMm 0, system code 12FC)."""

    def on_startup(target: nfc.clf.LocalTarget) -> nfc.clf.LocalTarget:
        target.brty = "212F"
        target.sensf_res = bytearray(b"\x01" + idm + bytes(8) + b"\x12\xfc")
        return target

    def play(frontend: nfc.ContactlessFrontend, stop: threading.Event) -> None:
        frontend.connect(card={"on-startup": on_startup, "timeout": 0.5}, terminate=stop.is_set)

    return play


def type_a(uid: bytes, sel_res: int, answer: Callable[[bytes], bytes | None]):
    """nfcpy's listen mode does the ISO 14443-3 A anticollision and select; `answer` replies after that."""

    def play(frontend: nfc.ContactlessFrontend, stop: threading.Event) -> None:
        while not stop.is_set():
            wanted = nfc.clf.LocalTarget("106A", sens_res=b"\x44\x00", sdd_res=uid, sel_res=bytes([sel_res]))
            target = frontend.listen(wanted, 0.5)
            if target is None:
                continue
            command = target.tt2_cmd or target.tt4_cmd
            while not stop.is_set():
                try:
                    command = frontend.exchange(answer(bytes(command)) if command else None, 0.25)
                except nfc.clf.TimeoutError:
                    command = None
                except nfc.clf.BrokenLinkError:  # the reader switched its field off: select afresh
                    break

    return play


def type2_answer(command: bytes) -> bytes | None:
    """READ (30 page) gives 16 bytes; a Type 2 tag ignores what it does not know."""
    return bytes(16) if command[:1] == b"\x30" else None


def type4_answer(command: bytes) -> bytes | None:
    """RATS gives the ATS; an ISO-DEP R(NAK) presence check gets an R(ACK) of the same block number."""
    if command[:1] == b"\xe0":
        return ATS
    if command[0] & 0xF6 == 0xB2:
        return bytes([0xA2 | command[0] & 1])
    return None


@pytest.fixture
def card() -> Iterator[UdpCard]:
    emulated = UdpCard(free_udp_port())
    yield emulated
    emulated.remove()


async def next_read(reader) -> CardRead:
    return await asyncio.wait_for(anext(reader), READ_TIMEOUT)


async def test_a_felica_card_is_read_as_its_idm(card):
    card.present(felica(IDM))
    reader = await open_card_reader(f"nfc:udp:127.0.0.1:{card.port}")
    assert isinstance(reader, NfcCardReader)
    try:
        assert await next_read(reader) == CardRead("felica", IDM.hex().upper())
    finally:
        await reader.close()


async def test_a_card_is_read_once_per_presentation(card):
    """nfcpy keeps checking the card is there and reports the next only after it has gone."""
    reader = await open_nfc_card_reader(f"nfc:udp:127.0.0.1:{card.port}")
    try:
        card.present(felica(IDM))
        assert await next_read(reader) == CardRead("felica", IDM.hex().upper())
        card.remove()
        other = bytes.fromhex("012E4CD1A2B3C4D6")
        card.present(felica(other))
        assert await next_read(reader) == CardRead("felica", other.hex().upper())
    finally:
        await reader.close()


async def test_a_type2_card_is_read_as_its_uid(card):
    card.present(type_a(TYPE2_UID, 0x00, type2_answer))
    reader = await open_nfc_card_reader(f"nfc:udp:127.0.0.1:{card.port}")
    try:
        assert await next_read(reader) == CardRead("type2", "05A1B2C3D4E5F6")
    finally:
        await reader.close()


async def test_a_type4_card_is_read_as_its_uid(card):
    card.present(type_a(TYPE4_UID, 0x20, type4_answer))
    reader = await open_nfc_card_reader(f"nfc:udp:127.0.0.1:{card.port}")
    try:
        assert await next_read(reader) == CardRead("type4", "08C0FFEE")
    finally:
        await reader.close()


async def test_close_stops_polling_while_nfcpy_waits_for_an_answer():
    """A silent socket on the port sees the reader's first poll; close() ends nfcpy's wait for an answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.settimeout(READ_TIMEOUT)
        reader = await open_nfc_card_reader(f"nfc:udp:127.0.0.1:{silent.getsockname()[1]}")
        poll, _ = await asyncio.to_thread(silent.recvfrom, 1024)
        assert poll.startswith(b"212F 0600ffff")  # nfcpy's UDP frame: bit rate, then SENSF_REQ in hex
        await asyncio.wait_for(reader.close(), READ_TIMEOUT)
    assert not reader._thread.is_alive()
    assert [read async for read in reader] == []


async def test_no_reader_there_is_reader_lost():
    with pytest.raises(ReaderLost, match="no NFC reader"):
        await open_card_reader("nfc:usb:ffff:ffff")


@pytest.mark.parametrize(
    ("url", "path"),
    [("nfc:usb", "usb"), ("nfc:usb:054c:06c3", "usb:054c:06c3"), ("nfc:tty:USB0:pn532", "tty:USB0:pn532"),
     ("nfc:udp:127.0.0.1:54321", "udp:127.0.0.1:54321")],
)
def test_nfcpy_paths(url, path):
    assert nfcpy_path(url) == path


@pytest.mark.parametrize("url", ["nfc:", "nfc:pcsc:x", "usb", "sim:x", "nfc:usbx"])
def test_urls_nfcpy_cannot_open(url):
    with pytest.raises(CardReaderUrlError):
        nfcpy_path(url)


def test_technology_names():
    class Tag:
        TYPE = "Type3Tag"
        identifier = IDM

    assert card_read(Tag()) == CardRead("felica", "012E4CD1A2B3C4D5")


async def test_sim_card_reader():
    sim_card_reader("counter-1").present("felica", "012e4cd1a2b3c4d5")
    reader = await open_card_reader("sim:counter-1")
    assert reader is sim_card_reader("counter-1")
    sim_card_reader("counter-1").present("type2", "04A1B2C3D4E5F6")
    assert await next_read(reader) == CardRead("felica", "012E4CD1A2B3C4D5")
    assert await next_read(reader) == CardRead("type2", "04A1B2C3D4E5F6")
    sim_card_reader("counter-1").unplug()
    with pytest.raises(ReaderLost, match="unplugged"):
        await next_read(reader)
    assert sim_card_reader("counter-1") is not reader
    await reader.close()


@pytest.mark.parametrize(
    ("technology", "identifier"), [("iso15693", "E004"), ("felica", "xyz"), ("type2", "")]
)
def test_sim_card_refuses_malformed_cards(technology, identifier):
    with pytest.raises(ValueError, match=r"technology|hex|byte"):
        sim_card_reader("counter-2").present(technology, identifier)


async def test_sim_card_reader_close_ends_iteration():
    reader = await open_card_reader("sim:counter-3")
    await reader.close()
    with contextlib.suppress(StopAsyncIteration):
        await next_read(reader)
    assert [read async for read in reader] == []
