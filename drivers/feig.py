"""FEIG ISC readers in host mode, over serial/USB (`feig:serial://...`) or Ethernet (`feig:tcp://host:10001`).

Every tag operation is one [0xB0] ISO 15693 host command or [0xB1] NXP custom command, addressed by UID; the
reader runs the air interface itself (giving an NXP password takes two: Get Random Number, Set Password).
Its STATUS byte becomes the typed errors of drivers.base: no transponder (0x01) is TagLost, an ISO error
(0x95) is TagError with the tag's code, and whatever else the reader reports is FeigStatusError. A reader
that does not answer in time raises ReaderTimeout (a ReaderLost).

URL query settings: `baudrate` (38400), `parity` (E, N or O) and `address` (255, every reader), as in
FEIG's defaults of 38400 8E1 and bus address 255; `timeout` in seconds (3); and the Dialect choices
`block_order`, `mem_size_order` (`msb-first` | `lsb-first`) and `afi_flag` (the [0x01] MODE bit that
announces an AFI; without it, an inventory by AFI asks each tag's AFI and filters on the host).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from tagd.drivers.base import DriverError, DriverUrlError, PasswordRefused, TagError, TagLost
from tagd.drivers.feig_transport import FeigLink, ReaderTimeout, connect_serial, connect_tcp
from tagd.protocols.errors import ProtocolError
from tagd.protocols.feig.commands import (
    DEFAULT_DIALECT,
    TR_TYPE_ISO15693,
    BlockData,
    BlockSecurity,
    ByteOrder,
    Command,
    Dialect,
    GetBlockSecurity,
    Inventory,
    InventoryData,
    IsoCode,
    LockBlocks,
    NxpCode,
    NxpCommand,
    PasswordCode,
    PasswordCommand,
    PlainCommand,
    ProtectEasAfi,
    RandomNumber,
    ReadBlocks,
    WriteAfi,
    WriteBlocks,
    to_request,
)
from tagd.protocols.feig.commands import SystemInfo as FeigSystemInfo
from tagd.protocols.feig.frames import BROADCAST, FeigStatus, Outcome, Reply, StatusKind, classify
from tagd.protocols.iso15693 import BlockSecurity as IsoBlockSecurity
from tagd.protocols.iso15693 import InventoryResponse, PasswordId, SystemInfo, afi_matches, xor_password

__all__ = ["FeigReader", "FeigStatusError", "FeigUrlError", "ReaderTimeout", "open_feig_reader"]

DEFAULT_BAUDRATE = 38400
DEFAULT_TIMEOUT = 3.0
MAX_BLOCKS_PER_REQUEST = 0xFF
"""DB-N is one byte: longer reads and writes go in several requests."""
MAX_PAGES = 0x100
"""More inventory replies than this (status 0x94 after 0x94) can only come from a confused reader."""
_T = TypeVar("_T")


class FeigUrlError(DriverUrlError):
    """A `feig:` URL that cannot be used: the message names the part at fault."""


class FeigStatusError(DriverError):
    """The reader reported a STATUS that is neither success, nor a missing tag, nor a tag's ISO error."""

    def __init__(self, reader: str, outcome: Outcome, uid: int | None = None) -> None:
        self.status = outcome.status
        self.kind = outcome.kind
        self.uid = uid
        what = f"{outcome.name}, {outcome.kind.value}"
        super().__init__(f"{reader}: reader status 0x{outcome.status:02X} ({what})")


@dataclass(frozen=True)
class FeigSettings:
    """Where the reader is and how to talk to it, from a `feig:` URL."""

    transport: str
    """"tcp" or "serial"."""
    target: str
    """host:port for TCP; a device path or pyserial URL for serial."""
    baudrate: int = DEFAULT_BAUDRATE
    parity: str = "E"
    address: int = BROADCAST
    timeout: float = DEFAULT_TIMEOUT
    dialect: Dialect = field(default=DEFAULT_DIALECT)


_OWN_KEYS = {"baudrate", "parity", "address", "timeout", "block_order", "mem_size_order", "afi_flag"}


def parse_url(url: str) -> FeigSettings:
    """`feig:tcp://host:port`, `feig:serial:///dev/ttyUSB0`, `feig:serial:rfc2217://host:port` (pyserial)."""
    prefix, _, rest = url.partition(":")
    if prefix != "feig":
        raise FeigUrlError(f"{url!r} is not a feig: URL")
    kind, sep, locator = rest.partition(":")
    if not sep or kind not in ("tcp", "serial"):
        raise FeigUrlError(f"{url!r}: use feig:tcp://host:port or feig:serial:///dev/ttyUSB0")
    locator, _, query = locator.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    own = {key: options.pop(key) for key in list(options) if key in _OWN_KEYS}
    if kind == "tcp":
        parts = urlsplit(locator)
        if not locator.startswith("//") or not parts.hostname or parts.path or options:
            raise FeigUrlError(f"{url!r}: a TCP reader is feig:tcp://host:port[?timeout=s&address=n]")
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None:
            raise FeigUrlError(f"{url!r}: the port is missing or not a number (FEIG's default is 10001)")
        target = f"{parts.hostname}:{port}"
    elif "://" in locator and not locator.startswith("///"):
        target = locator + (f"?{urlencode(options)}" if options else "")  # pyserial's own options stay
    else:
        target = locator[2:] if locator.startswith("//") else locator
        if not target.startswith("/") or options:
            raise FeigUrlError(f"{url!r}: a serial reader is feig:serial:///dev/ttyUSB0[?baudrate=38400]")
    try:
        return FeigSettings(kind, target, **_settings(own))
    except (ValueError, ProtocolError) as exc:
        raise FeigUrlError(f"{url!r}: {exc}") from None


def _settings(own: dict[str, str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if "baudrate" in own:
        settings["baudrate"] = int(own["baudrate"])
    if "parity" in own:
        settings["parity"] = own["parity"].upper()
        if settings["parity"] not in ("E", "N", "O"):
            raise ValueError(f"parity must be E, N or O, got {own['parity']!r}")
    if "address" in own:
        settings["address"] = int(own["address"], 0)
        if not 0 <= settings["address"] <= 0xFF:
            raise ValueError(f"address must be 0..255, got {settings['address']}")
    if "timeout" in own:
        settings["timeout"] = float(own["timeout"])
        if not settings["timeout"] > 0:
            raise ValueError("timeout must be positive")
    dialect: dict[str, Any] = {}
    for key in ("block_order", "mem_size_order"):
        if key in own:
            dialect[key] = ByteOrder(own[key])
    if "afi_flag" in own:
        dialect["inventory_afi_flag"] = int(own["afi_flag"], 0)
    if dialect:
        settings["dialect"] = Dialect(**dialect)
    return settings


class FeigReader:
    """The Reader interface over one FeigLink; build it with open_feig_reader(url)."""

    def __init__(self, url: str, link: FeigLink, settings: FeigSettings) -> None:
        self.url = url
        self.link = link
        self._settings = settings

    # -- one exchange ----------------------------------------------------------------------------------

    async def _send(self, command: Command) -> tuple[Reply, Outcome]:
        request = to_request(command, address=self._settings.address, dialect=self._settings.dialect)
        reply = await self.link.exchange(request)
        try:
            return reply, classify(reply)
        except ProtocolError as exc:
            raise DriverError(f"{self.url}: malformed reply: {exc}") from None

    async def _command(self, command: Command, uid: int | None) -> Reply:
        """The reply to a command for one tag, once its STATUS says the command was carried out."""
        reply, outcome = await self._send(command)
        if outcome.kind is StatusKind.OK:
            return reply
        if outcome.kind is StatusKind.NO_TAG:
            raise TagLost(uid, "the reader found no transponder")
        if outcome.kind is StatusKind.TAG_ERROR and outcome.iso_error is not None:
            raise TagError(outcome.iso_error, uid)
        raise FeigStatusError(self.url, outcome, uid)

    def _decode(self, what: str, decode: Callable[..., _T], *args: Any) -> _T:
        try:
            return decode(*args)
        except ProtocolError as exc:
            raise DriverError(f"{self.url}: malformed {what} reply: {exc}") from None

    # -- the Reader interface --------------------------------------------------------------------------

    async def inventory(self, afi: int | None = None) -> list[InventoryResponse]:
        """Every tag in the field, fetching the data sets that did not fit (status 0x94) with MORE."""
        on_host = afi is not None and self._settings.dialect.inventory_afi_flag is None
        command = Inventory(afi=None if on_host else afi)
        found: dict[int, InventoryResponse] = {}
        for _ in range(MAX_PAGES):
            reply, outcome = await self._send(command)
            if outcome.kind is StatusKind.NO_TAG:
                break
            # 0x02 Data False ("CRC16 data error at received data", FEIG's index of status bytes): a garbled
            # answer in some slot; the data sets the reader did hear come along, and FEIG's SDK (libfeisc
            # 07.03.01) takes them. So does tagd; the tag behind the garbled slot shows up in a later round.
            data_false = outcome.status == FeigStatus.DATA_FALSE
            if outcome.kind not in (StatusKind.OK, StatusKind.MORE_DATA) and not data_false:
                raise FeigStatusError(self.url, outcome)
            if reply.data or not data_false:
                data = self._decode("inventory", InventoryData.decode, reply.data)
                for entry in data.entries:
                    if entry.tr_type == TR_TYPE_ISO15693:
                        found.setdefault(entry.uid, InventoryResponse(entry.uid, entry.dsfid))
            if outcome.kind is not StatusKind.MORE_DATA:
                break
            command = Inventory(more=True, afi=command.afi)
        else:
            raise DriverError(
                f"{self.url}: the reader still had more data after {MAX_PAGES} inventory replies"
            )
        tags = list(found.values())
        if on_host and afi is not None:
            tags = [tag for tag in tags if await self._afi_matches(tag.uid, afi)]
        return tags

    async def _afi_matches(self, uid: int, afi: int) -> bool:
        try:
            info = await self.system_info(uid)
        except TagLost:
            return False
        return info.afi is not None and afi_matches(afi, info.afi)

    async def system_info(self, uid: int) -> SystemInfo:
        reply = await self._command(PlainCommand(code=IsoCode.GET_SYSTEM_INFO, uid=uid), uid)
        info = self._decode("system information", FeigSystemInfo.decode, reply.data, self._settings.dialect)
        return SystemInfo(info.uid, info.dsfid, info.afi, info.block_count, info.block_size, info.ic_ref)

    async def read_blocks(self, uid: int, first: int, count: int) -> list[bytes]:
        blocks: list[bytes] = []
        for start, n in _chunks(first, count):
            reply = await self._command(ReadBlocks(uid=uid, first=start, count=n), uid)
            dialect = self._settings.dialect
            data = self._decode("read blocks", BlockData.decode, reply.data, dialect)
            size = data.block_size
            got = [data.data[i : i + size] for i in range(0, len(data.data), size)]
            if len(got) != n:
                raise DriverError(
                    f"{self.url}: asked for {n} block(s) at {start}, the reader sent {len(got)}"
                )
            blocks += got
        return blocks

    async def write_blocks(self, uid: int, first: int, blocks: Sequence[bytes]) -> None:
        sizes = {len(block) for block in blocks}
        if len(sizes) != 1:
            raise ValueError(f"write_blocks needs blocks of one size, got sizes {sorted(sizes)}")
        size = sizes.pop()
        for start, n in _chunks(first, len(blocks)):
            data = b"".join(blocks[start - first : start - first + n])
            await self._command(WriteBlocks(uid=uid, first=start, block_size=size, data=data), uid)

    async def lock_blocks(self, uid: int, first: int, count: int) -> None:
        for start, n in _chunks(first, count):
            await self._command(LockBlocks(uid=uid, first=start, count=n), uid)

    async def write_afi(self, uid: int, afi: int) -> None:
        await self._command(WriteAfi(uid=uid, afi=afi), uid)

    async def set_eas(self, uid: int) -> None:
        await self._command(NxpCommand(code=NxpCode.SET_EAS, uid=uid), uid)

    async def reset_eas(self, uid: int) -> None:
        await self._command(NxpCommand(code=NxpCode.RESET_EAS, uid=uid), uid)

    async def eas_alarm(self, uid: int | None = None) -> bool:
        """Does any tag in the field (or the one named) have EAS set? Status 0x00 is an alarm, 0x01 silence.

        Addressed, silence cannot tell EAS off from a tag gone, as on the air.
        """
        _, outcome = await self._send(NxpCommand(code=NxpCode.EAS_ALARM, uid=uid))
        if outcome.kind is StatusKind.NO_TAG:
            return False
        if outcome.kind is StatusKind.OK:
            return True
        raise FeigStatusError(self.url, outcome)

    async def set_password(self, uid: int, password_id: PasswordId | int, password: int) -> None:
        """[0xB1][0xB2] Get Random Number, then [0xB3] Set Password with the password XORed with it."""
        reply = await self._command(NxpCommand(code=NxpCode.GET_RANDOM_NUMBER, uid=uid), uid)
        random = self._decode("random number", RandomNumber.decode, reply.data).value
        xored = xor_password(password, random)
        command = PasswordCommand(
            code=PasswordCode.SET_PASSWORD, uid=uid, password_id=password_id, password=xored
        )
        try:
            await self._command(command, uid)
        except TagLost:
            raise PasswordRefused(uid) from None

    async def write_password(self, uid: int, password_id: PasswordId | int, password: int) -> None:
        command = PasswordCommand(
            code=PasswordCode.WRITE_PASSWORD, uid=uid, password_id=password_id, password=password
        )
        await self._command(command, uid)

    async def protect_eas_afi(self, uid: int, *, afi: bool) -> None:
        await self._command(ProtectEasAfi(uid=uid, afi=afi), uid)

    async def block_security(self, uid: int, first: int, count: int) -> list[bool]:
        """Which of the blocks are locked ([0x2C] Get Multiple Block Security Status); beyond the Reader."""
        locked: list[bool] = []
        for start, n in _chunks(first, count):
            reply = await self._command(GetBlockSecurity(uid=uid, first=start, count=n), uid)
            statuses = self._decode("block security", BlockSecurity.decode, reply.data).statuses
            if len(statuses) != n:
                raise DriverError(
                    f"{self.url}: asked for {n} security status(es), the reader sent {len(statuses)}"
                )
            locked += [bool(status & IsoBlockSecurity.LOCKED) for status in statuses]
        return locked

    async def close(self) -> None:
        await self.link.close()


def _chunks(first: int, count: int) -> list[tuple[int, int]]:
    if count < 1 or first < 0:
        raise ValueError(f"a block range needs count >= 1 and first >= 0, got first={first}, count={count}")
    end = first + count
    return [
        (start, min(MAX_BLOCKS_PER_REQUEST, end - start))
        for start in range(first, end, MAX_BLOCKS_PER_REQUEST)
    ]


async def open_feig_reader(url: str) -> FeigReader:
    """The `reader.feig` entry point: connect and return a ready FeigReader; ReaderLost when unreachable."""
    settings = parse_url(url)
    if settings.transport == "tcp":
        host, _, port = settings.target.rpartition(":")
        link = await connect_tcp(host, int(port), url, settings.timeout)
    else:
        line: dict[str, Any] = {
            "baudrate": settings.baudrate,
            "bytesize": 8,
            "parity": settings.parity,
            "stopbits": 1,
        }
        if settings.target.startswith("/"):
            line["exclusive"] = True  # two stations on one reader would garble each other's frames
        link = await connect_serial(settings.target, url, settings.timeout, **line)
    return FeigReader(url, link, settings)
