"""Barcode scanners: NW-7 scanners on a serial port (`scanner:serial:...`) and the simulator's
(`scanner:sim:NAME`).

A scan is one line as the scanner sent it, its CR, LF or CRLF cut off; parsing it is protocols.nw7's job.
Bytes that are not ASCII become U+FFFD and the line is still yielded (and logged), so a damaged scan reaches
nw7, which refuses it with a reason, instead of vanishing. A line that runs past `MAX_LINE` bytes without a
terminator is dropped whole, up to its terminator, and logged: a cut-off scan must not pass for a short one.
"""

import asyncio
import logging
import re
from urllib.parse import parse_qs, urlencode

import serial
import serial_asyncio_fast

from tagd.drivers.base import DriverUrlError, ReaderLost
from tagd.drivers.read_queue import ReadQueue

SERIAL_PREFIX = "scanner:serial:"
SIM_PREFIX = "scanner:sim:"
DEFAULT_BAUDRATE = 9600
"""What NW-7 serial scanners ship with (9600 8N1); `?baudrate=` overrides it."""
MAX_LINE = 256
"""Far longer than any library barcode: a line this long is noise or a stuck scanner."""
CLOSE_TIMEOUT = 5.0
_TERMINATOR = re.compile(rb"\r\n|\r|\n")
_log = logging.getLogger(__name__)


class ScannerUrlError(DriverUrlError):
    """A scanner URL this module cannot use; the message says what is wrong with it."""


class LineSplitter:
    """Cuts a byte stream into lines at CR, LF or CRLF (a CRLF split across two reads included).

    Empty lines are skipped; `dropped` counts the runaway lines thrown away.
    """

    def __init__(self, max_length: int = MAX_LINE) -> None:
        self.max_length = max_length
        self.dropped = 0
        self._line = bytearray()
        self._after_cr = False
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes]:
        if self._after_cr and data.startswith(b"\n"):
            data = data[1:]
        self._after_cr = data.endswith(b"\r")
        *terminated, tail = _TERMINATOR.split(data)
        lines = []
        for piece in terminated:
            self._append(piece)
            line = self._take()
            if line:
                lines.append(line)
        self._append(tail)
        return lines

    def _append(self, piece: bytes) -> None:
        if self._discarding:
            return
        if len(self._line) + len(piece) > self.max_length:
            self._discarding = True
            self._line.clear()
            self.dropped += 1
            _log.warning("a line ran past %d bytes without CR or LF: dropped up to its end", self.max_length)
            return
        self._line += piece

    def _take(self) -> bytes:
        if self._discarding:
            self._discarding = False
            return b""
        line = bytes(self._line)
        self._line.clear()
        return line


def decode_scan(line: bytes) -> str:
    """ASCII, with U+FFFD for any other byte (logged): the scan is reported rather than lost."""
    text = line.decode("ascii", errors="replace")
    if "\ufffd" in text:
        _log.warning("scan %s has bytes that are not ASCII; passed on as %r", line.hex(), text)
    return text


def serial_port(url: str) -> tuple[str, int]:
    """The pyserial port (a device path or any serial_for_url URL) and the baud rate of a scanner URL.

    `scanner:serial:///dev/ttyACM0?baudrate=19200` names /dev/ttyACM0; `scanner:serial:socket://host:4001`
    and the other pyserial URLs pass through, with their own options, once `baudrate` is taken out.
    """
    if not url.startswith(SERIAL_PREFIX):
        raise ScannerUrlError(f"{url!r} is not a serial scanner URL ({SERIAL_PREFIX}///dev/ttyACM0)")
    target, _, query = url.removeprefix(SERIAL_PREFIX).partition("?")
    options = parse_qs(query, keep_blank_values=True)
    rates = options.pop("baudrate", [str(DEFAULT_BAUDRATE)])
    if len(rates) != 1 or not rates[0].isdigit() or int(rates[0]) <= 0:
        raise ScannerUrlError(f"{url!r}: baudrate must be one positive whole number, not {rates}")
    port = target.removeprefix("//") if target.startswith("///") else target
    if not port:
        raise ScannerUrlError(f"{url!r} names no port ({SERIAL_PREFIX}///dev/ttyACM0)")
    rest = urlencode(options, doseq=True)
    return (f"{port}?{rest}" if rest else port), int(rates[0])


class _ScanProtocol(asyncio.Protocol):
    """Bytes from the port into lines into the read queue; the port closing under us is ReaderLost."""

    def __init__(self, url: str, reads: ReadQueue[str]) -> None:
        self.url = url
        self.reads = reads
        self.splitter = LineSplitter()
        self.closing = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        for line in self.splitter.feed(data):
            self.reads.put(decode_scan(line))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closing:
            self.reads.end()
        else:
            self.reads.fail(ReaderLost(f"{self.url}: the port closed ({exc or 'end of stream'})"))
        if not self.lost.done():
            self.lost.set_result(None)


class SerialScanner:
    """An NW-7 scanner on a serial port; iterate it for raw scans."""

    def __init__(self, url: str, transport: asyncio.BaseTransport, protocol: _ScanProtocol) -> None:
        self.url = url
        self._transport = transport
        self._protocol = protocol

    @property
    def dropped_lines(self) -> int:
        """Runaway lines thrown away since the port was opened."""
        return self._protocol.splitter.dropped

    def __aiter__(self) -> "SerialScanner":
        return self

    async def __anext__(self) -> str:
        return await self._protocol.reads.next()

    async def close(self) -> None:
        """Releases the port; iteration ends once the scans already read are taken."""
        self._protocol.closing = True
        self._protocol.reads.end()
        self._transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._protocol.lost), CLOSE_TIMEOUT)
        except TimeoutError:
            _log.warning("%s: the port did not close within %.0f s", self.url, CLOSE_TIMEOUT)


async def open_serial_scanner(url: str) -> SerialScanner:
    """`scanner:serial:///dev/ttyACM0[?baudrate=9600]`; a port that cannot be opened is ReaderLost."""
    port, baudrate = serial_port(url)
    reads: ReadQueue[str] = ReadQueue(url)
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await serial_asyncio_fast.create_serial_connection(
            loop, lambda: _ScanProtocol(url, reads), port, baudrate=baudrate
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise ReaderLost(f"{url}: cannot open {port}: {exc}") from exc
    assert isinstance(protocol, _ScanProtocol)
    return SerialScanner(url, transport, protocol)


class SimScanner:
    """The simulator's scanner: `push(raw)` is a scan (the daemon's sim/scan topic calls it)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = f"{SIM_PREFIX}{name}"
        self._reads: ReadQueue[str] = ReadQueue(self.url)

    @property
    def closed(self) -> bool:
        return self._reads.ended

    def push(self, raw: str) -> None:
        """A scan, as a serial scanner would deliver it once its terminator is cut off."""
        self._reads.put(raw)

    def unplug(self) -> None:
        """Fault injection: the consumer gets ReaderLost, as when a serial scanner's cable is pulled."""
        self._reads.fail(ReaderLost(f"{self.url}: unplugged"))

    def __aiter__(self) -> "SimScanner":
        return self

    async def __anext__(self) -> str:
        return await self._reads.next()

    async def close(self) -> None:
        self._reads.end()


_sim_scanners: dict[str, SimScanner] = {}


def sim_scanner(name: str) -> SimScanner:
    """The simulated scanner NAME of this process, created on demand and again after it was closed.

    Scans pushed before the daemon opens it wait for it.
    """
    scanner = _sim_scanners.get(name)
    if scanner is None or scanner.closed:
        scanner = _sim_scanners[name] = SimScanner(name)
    return scanner


async def open_sim_scanner(url: str) -> SimScanner:
    """`scanner:sim:NAME`."""
    if not url.startswith(SIM_PREFIX):
        raise ScannerUrlError(f"{url!r} is not a simulated scanner URL ({SIM_PREFIX}NAME)")
    return sim_scanner(url.removeprefix(SIM_PREFIX))
