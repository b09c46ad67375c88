"""Scanners: the serial driver over a real pty (the test writes to the master, the driver opens the slave),
the line splitter on its own, and the simulator's scanner."""

import asyncio
import itertools
import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.drivers import ReaderLost, open_scanner
from tagd.drivers.scanner import (
    MAX_LINE,
    LineSplitter,
    ScannerUrlError,
    SerialScanner,
    open_serial_scanner,
    serial_port,
    sim_scanner,
)

TIMEOUT = 5.0


class Pty:
    """A real pseudo-terminal: `write` plays the scanner, `path` is what the driver opens."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        for fd in (self.master, self._slave):
            if fd >= 0:
                os.close(fd)


@pytest.fixture
def pty() -> Iterator[Pty]:
    pair = Pty()
    yield pair
    pair.close()


@pytest.fixture
async def scanner(pty: Pty):
    opened = await open_scanner(f"scanner:serial://{pty.path}?baudrate=9600")
    assert isinstance(opened, SerialScanner)
    yield opened
    await opened.close()


async def scans(scanner, count: int) -> list[str]:
    return [await asyncio.wait_for(anext(scanner), TIMEOUT) for _ in range(count)]


async def test_one_scan(pty, scanner):
    pty.write(b"A123456782B\r")
    assert await scans(scanner, 1) == ["A123456782B"]


async def test_two_scans_in_one_write(pty, scanner):
    pty.write(b"A111B\rA222B\r")
    assert await scans(scanner, 2) == ["A111B", "A222B"]


async def test_a_scan_split_over_several_writes(pty, scanner):
    for part in (b"A12", b"3456", b"782", b"B\r\n"):
        pty.write(part)
    pty.write(b"A999B\n")
    assert await scans(scanner, 2) == ["A123456782B", "A999B"]


async def test_crlf_lf_and_cr_end_a_scan_alike(pty, scanner):
    """CR stays CR through the pty (pyserial sets raw mode), and CRLF is one terminator, not two."""
    pty.write(b"A1B\r\nA2B\nA3B\rA4B\r\n")
    assert await scans(scanner, 4) == ["A1B", "A2B", "A3B", "A4B"]


async def test_a_runaway_line_is_dropped_and_reported(pty, scanner, caplog):
    caplog.set_level(logging.WARNING, logger="tagd.drivers.scanner")
    pty.write(b"7" * (MAX_LINE + 50))
    pty.write(b"7" * 1000 + b"\rA5B\r")
    assert await scans(scanner, 1) == ["A5B"]
    assert scanner.dropped_lines == 1
    assert "without CR or LF" in caplog.text


async def test_bytes_that_are_not_ascii_arrive_replaced(pty, scanner, caplog):
    pty.write(b"A1\xff\x80B\r")
    assert await scans(scanner, 1) == ["A1\ufffd\ufffdB"]
    assert "not ASCII" in caplog.text


async def test_the_pty_closing_is_reader_lost(pty, scanner):
    pty.write(b"A7B\r")
    assert await scans(scanner, 1) == ["A7B"]
    pty.unplug()
    with pytest.raises(ReaderLost, match="port closed"):
        await asyncio.wait_for(anext(scanner), TIMEOUT)
    with pytest.raises(ReaderLost):  # and stays lost
        await asyncio.wait_for(anext(scanner), TIMEOUT)


async def test_close_ends_iteration_and_frees_the_port(pty):
    first = await open_serial_scanner(f"scanner:serial://{pty.path}")
    await first.close()
    assert [scan async for scan in first] == []
    second = await open_serial_scanner(f"scanner:serial://{pty.path}")
    pty.write(b"A8B\r")
    assert await scans(second, 1) == ["A8B"]
    await second.close()


async def test_a_scanner_behind_a_serial_device_server():
    """pyserial's socket:// URL: a scanner on a network serial server, here a loopback TCP server."""
    connected: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await connected.put(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    opened = await open_scanner(f"scanner:serial:socket://127.0.0.1:{port}")
    writer = await asyncio.wait_for(connected.get(), TIMEOUT)
    writer.write(b"A123456782B\r\nA9B\r")
    assert await scans(opened, 2) == ["A123456782B", "A9B"]
    writer.close()
    with pytest.raises(ReaderLost):
        await asyncio.wait_for(anext(opened), TIMEOUT)
    await opened.close()
    server.close()
    await server.wait_closed()


async def test_a_missing_port_is_reader_lost(tmp_path):
    with pytest.raises(ReaderLost, match="cannot open"):
        await open_serial_scanner(f"scanner:serial://{tmp_path}/ttyNONE")


@pytest.mark.parametrize(
    ("url", "port", "baudrate"),
    [
        ("scanner:serial:///dev/ttyACM0", "/dev/ttyACM0", 9600),
        ("scanner:serial:///dev/ttyACM0?baudrate=19200", "/dev/ttyACM0", 19200),
        ("scanner:serial:/dev/ttyS0", "/dev/ttyS0", 9600),
        ("scanner:serial:socket://127.0.0.1:4001?baudrate=4800", "socket://127.0.0.1:4001", 4800),
        ("scanner:serial:rfc2217://127.0.0.1:2217?baudrate=9600&timeout=3", "rfc2217://127.0.0.1:2217?timeout=3",
         9600),
    ],
)
def test_serial_urls(url, port, baudrate):
    assert serial_port(url) == (port, baudrate)


@pytest.mark.parametrize(
    "url",
    ["scanner:serial:///dev/ttyACM0?baudrate=fast", "scanner:serial:///x?baudrate=1&baudrate=2",
     "scanner:serial:", "scanner:serial:?baudrate=9600", "scanner:sim:x"],
)
def test_bad_serial_urls(url):
    with pytest.raises(ScannerUrlError):
        serial_port(url)


def split_all(chunks: list[bytes], max_length: int = MAX_LINE) -> tuple[list[bytes], int]:
    splitter = LineSplitter(max_length)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines, splitter.dropped


def test_crlf_split_between_two_reads_is_one_terminator():
    assert split_all([b"A1B\r", b"\nA2B\r", b"\n", b"\n", b"A3B\n"]) == ([b"A1B", b"A2B", b"A3B"], 0)


def test_a_runaway_line_is_cut_where_it_passes_the_limit():
    chunks = [b"w" * 8 + b"\r", b"x" * 8, b"y", b"zz\r\nok\r", b"x" * 9 + b"\n"]
    lines, dropped = split_all(chunks, max_length=8)
    assert (lines, dropped) == ([b"w" * 8, b"ok"], 2)


def test_memory_stays_bounded_without_a_terminator():
    splitter = LineSplitter(16)
    for _ in range(1000):
        assert splitter.feed(b"z" * 1000) == []
    assert splitter.dropped == 1
    assert splitter.feed(b"\rfine\r") == [b"fine"]


_line = st.binary(min_size=1, max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b)


@given(
    lines=st.lists(st.tuples(_line, st.sampled_from([b"\r", b"\n", b"\r\n"])), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
def test_any_chunking_gives_the_same_lines(lines, cuts):
    stream = b"".join(line + end for line, end in lines)
    bounds = sorted({0, len(stream), *(cut for cut in cuts if cut < len(stream))})
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    assert split_all(chunks) == ([line for line, _ in lines], 0)


async def test_sim_scanner_gets_pushed_scans_even_before_it_is_opened():
    sim_scanner("desk-1").push("A123456782B")
    opened = await open_scanner("scanner:sim:desk-1")
    assert opened is sim_scanner("desk-1")
    sim_scanner("desk-1").push("A999B")
    assert await scans(opened, 2) == ["A123456782B", "A999B"]
    await opened.close()
    assert [scan async for scan in opened] == []


async def test_sim_scanner_is_new_after_close_or_unplug():
    first = await open_scanner("scanner:sim:desk-2")
    first.push("A1B")  # type: ignore[attr-defined]
    sim_scanner("desk-2").unplug()
    assert await scans(first, 1) == ["A1B"]
    with pytest.raises(ReaderLost, match="unplugged"):
        await asyncio.wait_for(anext(first), TIMEOUT)
    second = await open_scanner("scanner:sim:desk-2")
    assert second is not first
    sim_scanner("desk-2").push("A2B")
    assert await scans(second, 1) == ["A2B"]
    await second.close()
    assert sim_scanner("desk-2") is not second
