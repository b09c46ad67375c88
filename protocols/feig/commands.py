"""FEIG [0xB0] ISO 15693 host commands and [0xB1] NXP custom commands: typed requests and reply data.

Host drivers encode commands and decode reply data; the emulator decodes commands and encodes reply data.
Layouts follow FEIG's manuals ID ISC.MR/PR/PRH101 (H60301-3e-ID-B, §6.1 [0xB0], §8 [0xB1]), ID ISC.LR200
(H90692-16e-ID-B), ID ISC.MR200 (H40801-5e-ID-B) and ID CPR30 (H01114-0e-ID-B): REQUEST-DATA is the
sub-command, MODE (bits 0-2 ADR: 0 any tag, 1 addressed, 2 selected; bit 3 SEC in [0x23]; bit 7 MORE in
[0x01]; values as in FEIG's SDK header FEDM_ISC.h), the UID only when addressed, then parameters. [0xB1]
puts the manufacturer code first. UIDs go MSB first (E0 first), as in the LR1002 trace in the ST community
thread "Error 0x12 when writing multiple blocks on ST25DV16KC". `Dialect` holds what the sources leave open.
"""

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import ClassVar, Self, TypeVar

from tagd.protocols.errors import ProtocolError
from tagd.protocols.feig.frames import BROADCAST, FeigStatus, Reply, Request, make_request


class Control(IntEnum):
    ISO_HOST = 0xB0
    CUSTOM = 0xB1


class IsoCode(IntEnum):
    INVENTORY = 0x01
    STAY_QUIET = 0x02
    LOCK_BLOCKS = 0x22
    READ_BLOCKS = 0x23
    WRITE_BLOCKS = 0x24
    SELECT = 0x25
    RESET_TO_READY = 0x26
    WRITE_AFI = 0x27
    LOCK_AFI = 0x28
    GET_SYSTEM_INFO = 0x2B
    GET_BLOCK_SECURITY = 0x2C


class NxpCode(IntEnum):
    SET_EAS = 0xA2
    RESET_EAS = 0xA3
    LOCK_EAS = 0xA4
    EAS_ALARM = 0xA5
    GET_RANDOM_NUMBER = 0xB2


class PasswordCode(IntEnum):
    """[0xB1] NXP password commands with a PWD-ID and a 32-bit value."""

    SET_PASSWORD = 0xB3
    WRITE_PASSWORD = 0xB4


PROTECT_EAS_AFI = 0xA6
"""[0xB1] Password Protect EAS/AFI; ISO's option flag (protect the AFI) rides in MODE bit 4 (0x10), as FEIG's
SDK libfeisc 07.03.01 sets it (FedmIscTagHandler_ISO15693_NXP_ICODE_SLIX::PasswordProtectAFI: 10 FF B1 04
A6 11 E0...)."""

NXP = 0x04
"""IC manufacturer code that [0xB1] puts before an NXP custom command."""
TR_TYPE_ISO15693 = 0x03
_ADDRESSED, _SELECTED, _ADR_BITS, _SEC, _MORE = 0x01, 0x02, 0x07, 0x08, 0x80
_PROTECT_AFI = 0x10
_UID_MAX = (1 << 64) - 1
_SYSTEM_INFO_EXTENDED = 14  # DSFID, UID, AFI, a 3-byte MEM-SIZE, IC-REF


class ByteOrder(Enum):
    """How a reader passes on a tag's multi-byte field: as the tag sends it, or reversed ("MSB first")."""

    LSB_FIRST = "lsb-first"
    MSB_FIRST = "msb-first"


@dataclass(frozen=True)
class Dialect:
    """Wire details the sources disagree on or leave out, chosen per reader.

    block_order: the manuals say host-mode data go MSB first, Biblio-RFID's CPR-M02 driver reverses every
    block both ways, and the LR1002 trace writes blocks reversed; hence MSB_FIRST by default.
    mem_size_order: no manual spells out [0x2B] MEM-SIZE's byte order; MSB_FIRST (block size first) agrees
    with Biblio-RFID (block count second) and FEIG's SDK, which reads the two bytes as a big-endian word.
    inventory_afi_flag: the HF manuals found define only MORE in [0x01]'s MODE, so an Inventory with an AFI
    is refused until a reader's manual supplies the MODE bit for it.
    """

    block_order: ByteOrder = ByteOrder.MSB_FIRST
    mem_size_order: ByteOrder = ByteOrder.MSB_FIRST
    inventory_afi_flag: int | None = None

    def __post_init__(self) -> None:
        if self.inventory_afi_flag not in (None, 0x08, 0x10, 0x20, 0x40):
            raise ProtocolError(
                f"inventory_afi_flag must be one bit of 0x08..0x40, got {self.inventory_afi_flag}"
            )


DEFAULT_DIALECT = Dialect()


def _check(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ProtocolError(f"{name} must be {low}..{high}, got {value}")


def _check_blocks(data: bytes, size: int) -> None:
    _check("DB-SIZE", size, 1, 32)
    if len(data) % size:
        raise ProtocolError(f"{len(data)} bytes are not whole {size}-byte blocks")
    _check("DB-N", len(data) // size, 1, 0xFF)


def _reorder(data: bytes, size: int, order: ByteOrder) -> bytes:
    """Reverse each `size`-byte field for MSB_FIRST: one call turns tag order into wire order and back."""
    if order is ByteOrder.LSB_FIRST:
        return data
    return b"".join(data[i : i + size][::-1] for i in range(0, len(data), size))


_Code = TypeVar("_Code", IsoCode, NxpCode, PasswordCode)


def _member(kind: type[_Code], value: int, what: str) -> _Code:
    try:
        return kind(value)
    except ValueError:
        raise ProtocolError(f"{what}: sub-command 0x{value:02X} is not supported") from None


@dataclass(frozen=True)
class Inventory:
    """[0x01]: list the tags in the field; `more` fetches the rest after status 0x94."""

    more: bool = False
    afi: int | None = None

    def __post_init__(self) -> None:
        if self.afi is not None:
            _check("AFI", self.afi, 0, 0xFF)


@dataclass(frozen=True, kw_only=True)
class _TagCommand:
    """Addressing shared by commands aimed at one tag: by UID (addressed), the selected tag, or any tag."""

    uid: int | None = None
    selected: bool = False

    def __post_init__(self) -> None:
        if self.uid is not None:
            _check("UID", self.uid, 0, _UID_MAX)
            if self.selected:
                raise ProtocolError("a command goes to a UID or to the selected tag, not both")


@dataclass(frozen=True, kw_only=True)
class PlainCommand(_TagCommand):
    """A command with nothing but MODE and UID: stay quiet, select, reset to ready, lock AFI, system info."""

    code: IsoCode

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.code not in _PLAIN_CODES:
            raise ProtocolError(f"[0x{self.code:02X}] is not a command without parameters")
        if self.code in (IsoCode.STAY_QUIET, IsoCode.SELECT) and self.uid is None:
            raise ProtocolError(f"[0x{self.code:02X}] only works addressed by UID")


_PLAIN_CODES = {
    IsoCode.STAY_QUIET,
    IsoCode.SELECT,
    IsoCode.RESET_TO_READY,
    IsoCode.LOCK_AFI,
    IsoCode.GET_SYSTEM_INFO,
}


@dataclass(frozen=True, kw_only=True)
class _BlockRange(_TagCommand):
    """DB-ADR and DB-N: FEIG counts blocks as they are, not as ISO 15693's count minus one."""

    first: int
    count: int

    def __post_init__(self) -> None:
        super().__post_init__()
        _check("DB-ADR", self.first, 0, 0xFF)
        _check("DB-N", self.count, 1, 0xFF)


@dataclass(frozen=True, kw_only=True)
class ReadBlocks(_BlockRange):
    """[0x23]; `security` sets MODE's SEC bit so the reader reports each block's security status."""

    security: bool = False
    code: ClassVar[IsoCode] = IsoCode.READ_BLOCKS


@dataclass(frozen=True, kw_only=True)
class LockBlocks(_BlockRange):
    """[0x22]: lock `count` blocks from `first`, for good."""

    code: ClassVar[IsoCode] = IsoCode.LOCK_BLOCKS


@dataclass(frozen=True, kw_only=True)
class GetBlockSecurity(_BlockRange):
    """[0x2C]: the security status byte of `count` blocks from `first`."""

    code: ClassVar[IsoCode] = IsoCode.GET_BLOCK_SECURITY


@dataclass(frozen=True, kw_only=True)
class WriteBlocks(_TagCommand):
    """[0x24]: `data` in tag memory order, whole `block_size`-byte blocks written from block `first`."""

    first: int
    block_size: int
    data: bytes
    code: ClassVar[IsoCode] = IsoCode.WRITE_BLOCKS

    def __post_init__(self) -> None:
        super().__post_init__()
        _check("DB-ADR", self.first, 0, 0xFF)
        _check_blocks(self.data, self.block_size)


@dataclass(frozen=True, kw_only=True)
class WriteAfi(_TagCommand):
    """[0x27]: set the AFI, which libraries use as the security byte (its values are a site setting)."""

    afi: int
    code: ClassVar[IsoCode] = IsoCode.WRITE_AFI

    def __post_init__(self) -> None:
        super().__post_init__()
        _check("AFI", self.afi, 0, 0xFF)


@dataclass(frozen=True, kw_only=True)
class NxpCommand(_TagCommand):
    """[0xB1] for NXP tags: set, reset or lock EAS, EAS alarm (status 0x00 = alarm, 0x01 = silent), or get
    a random number (RandomNumber)."""

    code: NxpCode

    def __post_init__(self) -> None:
        super().__post_init__()
        _member(NxpCode, self.code, "[0xB1][0x04]")


@dataclass(frozen=True, kw_only=True)
class ProtectEasAfi(_TagCommand):
    """[0xB1][0xA6]: from now on EAS (or, with `afi`, the AFI) changes need the EAS/AFI password."""

    afi: bool = False


@dataclass(frozen=True, kw_only=True)
class PasswordCommand(_TagCommand):
    """[0xB1][0xB3] Set Password (`password` already XORed with the random number) or [0xB4] Write Password:
    PWD-ID, then the 4 password bytes in air order (`password` holds them big-endian, as the ISO 15693
    codec does), passed on as the tag takes them, as the reader passes the random number on."""

    code: PasswordCode
    password_id: int
    password: int

    def __post_init__(self) -> None:
        super().__post_init__()
        _member(PasswordCode, self.code, "[0xB1][0x04]")
        _check("PWD-ID", self.password_id, 0, 0xFF)
        _check("password", self.password, 0, 0xFFFFFFFF)


Command = (
    Inventory
    | PlainCommand
    | ReadBlocks
    | LockBlocks
    | GetBlockSecurity
    | WriteBlocks
    | WriteAfi
    | NxpCommand
    | ProtectEasAfi
    | PasswordCommand
)
_CUSTOM = (NxpCommand, ProtectEasAfi, PasswordCommand)
_BLOCK_RANGES: dict[IsoCode, type[ReadBlocks | LockBlocks | GetBlockSecurity]] = {
    kind.code: kind for kind in (ReadBlocks, LockBlocks, GetBlockSecurity)
}


def encode_command(command: Command, dialect: Dialect = DEFAULT_DIALECT) -> bytes:
    """REQUEST-DATA for a command: everything after the CONTROL byte."""
    if isinstance(command, Inventory):
        mode = _MORE if command.more else 0
        if command.afi is None:
            return bytes([IsoCode.INVENTORY, mode])
        if dialect.inventory_afi_flag is None:
            raise ProtocolError("an Inventory with an AFI needs Dialect.inventory_afi_flag from the manual")
        return bytes([IsoCode.INVENTORY, mode | dialect.inventory_afi_flag, command.afi])
    mode = _SEC if isinstance(command, ReadBlocks) and command.security else 0
    mode |= _PROTECT_AFI if isinstance(command, ProtectEasAfi) and command.afi else 0
    mode |= _ADDRESSED if command.uid is not None else _SELECTED if command.selected else 0
    code = PROTECT_EAS_AFI if isinstance(command, ProtectEasAfi) else command.code
    head = bytes([code, mode]) + (b"" if command.uid is None else command.uid.to_bytes(8, "big"))
    match command:
        case ReadBlocks() | LockBlocks() | GetBlockSecurity():
            tail = bytes([command.first, command.count])
        case WriteBlocks(first=first, block_size=size, data=data):
            tail = bytes([first, len(data) // size, size]) + _reorder(data, size, dialect.block_order)
        case WriteAfi(afi=afi):
            tail = bytes([afi])
        case PasswordCommand(password_id=ident, password=password):
            tail = bytes([ident]) + password.to_bytes(4, "big")  # air order, as the ISO 15693 frame
        case _:
            tail = b""
    return (bytes([NXP]) if isinstance(command, _CUSTOM) else b"") + head + tail


def to_request(
    command: Command,
    *,
    address: int = BROADCAST,
    advanced: bool | None = None,
    dialect: Dialect = DEFAULT_DIALECT,
) -> Request:
    """The frame a host sends for a command."""
    control = Control.CUSTOM if isinstance(command, _CUSTOM) else Control.ISO_HOST
    return make_request(control, encode_command(command, dialect), address=address, advanced=advanced)


class _Cursor:
    """Reads fields off REQUEST-DATA or RESPONSE-DATA, naming the field that is missing or left over."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data, self.what, self._at = data, what, 0

    def take(self, count: int, field: str) -> bytes:
        chunk = self._data[self._at : self._at + count]
        if len(chunk) < count:
            raise ProtocolError(f"{self.what}: {field} missing after {self._at} bytes")
        self._at += count
        return chunk

    def byte(self, field: str) -> int:
        return self.take(1, field)[0]

    def uid(self) -> int:
        return int.from_bytes(self.take(8, "UID"), "big")

    def end(self) -> None:
        if self._at != len(self._data):
            raise ProtocolError(f"{self.what}: {len(self._data) - self._at} unexpected bytes at the end")


def _mode(cursor: _Cursor, own_bits: int) -> tuple[int, int | None, bool]:
    """MODE's command-specific bits, the UID when addressed, and whether the selected tag is meant."""
    mode = cursor.byte("MODE")
    adr = mode & _ADR_BITS
    if mode & ~(_ADR_BITS | own_bits) or adr > _SELECTED:
        raise ProtocolError(
            f"{cursor.what}: MODE 0x{mode:02X} sets bits or an ADR this command does not define"
        )
    return mode & own_bits, cursor.uid() if adr == _ADDRESSED else None, adr == _SELECTED


def _decode_iso(code: IsoCode, cursor: _Cursor, dialect: Dialect) -> Command:
    if code is IsoCode.INVENTORY:
        mode, afi_flag = cursor.byte("MODE"), dialect.inventory_afi_flag or 0
        if mode & ~(_MORE | afi_flag):
            raise ProtocolError(f"{cursor.what}: MODE 0x{mode:02X} sets bits [0x01] does not define here")
        return Inventory(more=bool(mode & _MORE), afi=cursor.byte("AFI") if mode & afi_flag else None)
    mode, uid, selected = _mode(cursor, _SEC if code is IsoCode.READ_BLOCKS else 0)
    if code in _BLOCK_RANGES:
        first, count = cursor.byte("DB-ADR"), cursor.byte("DB-N")
        if code is IsoCode.READ_BLOCKS:
            return ReadBlocks(uid=uid, selected=selected, first=first, count=count, security=bool(mode))
        return _BLOCK_RANGES[code](uid=uid, selected=selected, first=first, count=count)
    if code is IsoCode.WRITE_BLOCKS:
        first, count, size = cursor.byte("DB-ADR"), cursor.byte("DB-N"), cursor.byte("DB-SIZE")
        _check("DB-SIZE", size, 1, 32)
        data = _reorder(cursor.take(count * size, "DB"), size, dialect.block_order)
        return WriteBlocks(uid=uid, selected=selected, first=first, block_size=size, data=data)
    if code is IsoCode.WRITE_AFI:
        return WriteAfi(uid=uid, selected=selected, afi=cursor.byte("AFI"))
    return PlainCommand(code=code, uid=uid, selected=selected)


def _decode_custom(code: int, cursor: _Cursor) -> Command:
    if code == PROTECT_EAS_AFI:
        option, uid, selected = _mode(cursor, _PROTECT_AFI)
        return ProtectEasAfi(uid=uid, selected=selected, afi=bool(option))
    if code in tuple(PasswordCode):
        _, uid, selected = _mode(cursor, 0)
        ident, password = cursor.byte("PWD-ID"), int.from_bytes(cursor.take(4, "password"), "big")
        return PasswordCommand(
            code=PasswordCode(code), uid=uid, selected=selected, password_id=ident, password=password
        )
    nxp = _member(NxpCode, code, cursor.what)
    _, uid, selected = _mode(cursor, 0)
    return NxpCommand(code=nxp, uid=uid, selected=selected)


def decode_command(request: Request, dialect: Dialect = DEFAULT_DIALECT) -> Command:
    """The command a request frame carries, as the emulator sees it; anything malformed is a ProtocolError."""
    cursor = _Cursor(request.data, f"[0x{request.control:02X}] request")
    if request.control == Control.ISO_HOST:
        command = _decode_iso(_member(IsoCode, cursor.byte("command"), cursor.what), cursor, dialect)
    elif request.control == Control.CUSTOM:
        if (maker := cursor.byte("MFR")) != NXP:
            raise ProtocolError(f"{cursor.what}: manufacturer 0x{maker:02X} is not NXP (0x04)")
        command = _decode_custom(cursor.byte("command"), cursor)
    else:
        raise ProtocolError(f"CONTROL 0x{request.control:02X} is neither [0xB0] nor [0xB1]")
    cursor.end()
    return command


@dataclass(frozen=True)
class InventoryEntry:
    """One [0x01] data set: TR-TYPE (0x03 for ISO 15693), DSFID and UID."""

    uid: int
    dsfid: int = 0
    tr_type: int = TR_TYPE_ISO15693

    def __post_init__(self) -> None:
        _check("UID", self.uid, 0, _UID_MAX)
        _check("DSFID", self.dsfid, 0, 0xFF)
        _check("TR-TYPE", self.tr_type, 0, 0xFF)


@dataclass(frozen=True)
class InventoryData:
    """[0x01] RESPONSE-DATA (status 0x00 or 0x94): DATA-SETS, then TR-TYPE, DSFID and UID per tag.

    Only this 10-byte data set is read: I-Code EPC and I-Code UID sets differ in size and fail the length
    check instead of being misread.
    """

    entries: tuple[InventoryEntry, ...] = ()

    def __post_init__(self) -> None:
        _check("DATA-SETS", len(self.entries), 0, 0xFF)

    def encode(self) -> bytes:
        sets = (bytes([e.tr_type, e.dsfid]) + e.uid.to_bytes(8, "big") for e in self.entries)
        return bytes([len(self.entries)]) + b"".join(sets)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if not data or len(data) != 1 + 10 * data[0]:
            raise ProtocolError(f"inventory reply of {len(data)} bytes is not DATA-SETS and 10 bytes per set")
        cursor = _Cursor(data[1:], "inventory reply")
        sets = [(cursor.byte("TR-TYPE"), cursor.byte("DSFID"), cursor.uid()) for _ in range(data[0])]
        return cls(tuple(InventoryEntry(uid, dsfid, tr_type) for tr_type, dsfid, uid in sets))


@dataclass(frozen=True)
class BlockData:
    """[0x23] RESPONSE-DATA: DB-N, DB-SIZE, then per block its security status and bytes (tag order here)."""

    block_size: int
    data: bytes
    security: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_blocks(self.data, self.block_size)
        if len(self.security) != len(self.data) // self.block_size:
            raise ProtocolError(
                f"{len(self.security)} security bytes for {len(self.data) // self.block_size} blocks"
            )
        for status in self.security:
            _check("SEC-STATUS", status, 0, 0xFF)

    def encode(self, dialect: Dialect = DEFAULT_DIALECT) -> bytes:
        size, wire = self.block_size, _reorder(self.data, self.block_size, dialect.block_order)
        blocks = (bytes([status]) + wire[i * size : (i + 1) * size] for i, status in enumerate(self.security))
        return bytes([len(self.security), size]) + b"".join(blocks)

    @classmethod
    def decode(cls, data: bytes, dialect: Dialect = DEFAULT_DIALECT) -> Self:
        cursor = _Cursor(data, "read blocks reply")
        count, size = cursor.byte("DB-N"), cursor.byte("DB-SIZE")
        blocks = [(cursor.byte("SEC-STATUS"), cursor.take(size, "DB")) for _ in range(count)]
        cursor.end()
        wire = b"".join(block for _, block in blocks)
        _check_blocks(wire, size)
        return cls(size, _reorder(wire, size, dialect.block_order), tuple(status for status, _ in blocks))


@dataclass(frozen=True)
class BlockSecurity:
    """[0x2C] RESPONSE-DATA: DB-N, then one security status byte per block."""

    statuses: tuple[int, ...]

    def __post_init__(self) -> None:
        _check("DB-N", len(self.statuses), 1, 0xFF)
        for status in self.statuses:
            _check("SEC-STATUS", status, 0, 0xFF)

    def encode(self) -> bytes:
        return bytes([len(self.statuses), *self.statuses])

    @classmethod
    def decode(cls, data: bytes) -> Self:
        cursor = _Cursor(data, "block security reply")
        statuses = tuple(cursor.take(cursor.byte("DB-N"), "SEC-STATUS"))
        cursor.end()
        return cls(statuses)


@dataclass(frozen=True)
class SystemInfo:
    """[0x2B] RESPONSE-DATA: DSFID, UID, AFI, MEM-SIZE, IC-REF, always all five (ISO's INFO-FLAGS are gone).

    MEM-SIZE keeps ISO 15693's coding: number of blocks minus one, block size minus one in the low 5 bits.
    It is 2 bytes, or 3 (a 14-byte reply, which FEIG's SDK libfeisc 07.03.01 accepts) for tags with more
    than 256 blocks, whose count takes 2 bytes as in ISO 15693's extended Get System Information. The whole
    field is reordered as one (Dialect.mem_size_order): MSB_FIRST puts the block size first.
    """

    uid: int
    dsfid: int
    afi: int
    block_size: int
    block_count: int
    ic_ref: int

    def __post_init__(self) -> None:
        _check("UID", self.uid, 0, _UID_MAX)
        for name, value in (("DSFID", self.dsfid), ("AFI", self.afi), ("IC-REF", self.ic_ref)):
            _check(name, value, 0, 0xFF)
        _check("block size", self.block_size, 1, 32)
        _check("block count", self.block_count, 1, 0x10000)

    def encode(self, dialect: Dialect = DEFAULT_DIALECT) -> bytes:
        count_bytes = 1 if self.block_count <= 0x100 else 2
        iso = (self.block_count - 1).to_bytes(count_bytes, "little") + bytes([self.block_size - 1])
        memory = _reorder(iso, len(iso), dialect.mem_size_order)
        return bytes([self.dsfid]) + self.uid.to_bytes(8, "big") + bytes([self.afi, *memory, self.ic_ref])

    @classmethod
    def decode(cls, data: bytes, dialect: Dialect = DEFAULT_DIALECT) -> Self:
        cursor = _Cursor(data, "system information reply")
        dsfid, uid, afi = cursor.byte("DSFID"), cursor.uid(), cursor.byte("AFI")
        width = 3 if len(data) == _SYSTEM_INFO_EXTENDED else 2
        iso = _reorder(cursor.take(width, "MEM-SIZE"), width, dialect.mem_size_order)
        ic_ref = cursor.byte("IC-REF")
        cursor.end()
        blocks = int.from_bytes(iso[:-1], "little")
        return cls(uid, dsfid, afi, (iso[-1] & 0x1F) + 1, blocks + 1, ic_ref)


@dataclass(frozen=True)
class BlockFailure:
    """Where [0x22] or [0x24] stopped: DB-ADR-E after status 0x03, ISO error and DB-ADR-E after 0x95."""

    block: int
    iso_error: int | None = None

    def __post_init__(self) -> None:
        _check("DB-ADR-E", self.block, 0, 0xFF)
        if self.iso_error is not None:
            _check("ISO error", self.iso_error, 0, 0xFF)

    @property
    def status(self) -> FeigStatus:
        return FeigStatus.WRITE_ERROR if self.iso_error is None else FeigStatus.ISO_ERROR

    def encode(self) -> bytes:
        return bytes([self.block]) if self.iso_error is None else bytes([self.iso_error, self.block])

    @classmethod
    def decode(cls, reply: Reply) -> Self:
        cursor = _Cursor(reply.data, f"status 0x{reply.status:02X} reply")
        if reply.status == FeigStatus.WRITE_ERROR:
            failure = cls(cursor.byte("DB-ADR-E"))
        elif reply.status == FeigStatus.ISO_ERROR:
            iso_error = cursor.byte("ISO error")
            failure = cls(cursor.byte("DB-ADR-E"), iso_error)
        else:
            raise ProtocolError(f"status 0x{reply.status:02X} names no failed block")
        cursor.end()
        return failure


@dataclass(frozen=True)
class RandomNumber:
    """[0xB1][0xB2] RESPONSE-DATA: the tag's 16-bit random number, as the tag sent it (LSB first)."""

    value: int

    def __post_init__(self) -> None:
        _check("random number", self.value, 0, 0xFFFF)

    def encode(self) -> bytes:
        return self.value.to_bytes(2, "little")

    @classmethod
    def decode(cls, data: bytes) -> Self:
        cursor = _Cursor(data, "random number reply")
        value = int.from_bytes(cursor.take(2, "random number"), "little")
        cursor.end()
        return cls(value)
