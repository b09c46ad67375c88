"""ISO/IEC 15693-3 frame basics: CRC, flag bytes, command and error codes, and the typed errors.

Convention for the whole codec: every frame handled by encode_*/decode_* is *without* its CRC.
append_crc() adds the two CRC bytes for the air and check_crc() verifies and strips them.
"""

from enum import IntEnum, IntFlag

from tagd.protocols.crc import crc16_x25
from tagd.protocols.errors import ProtocolError

crc16 = crc16_x25
"""CRC-16/X-25 (poly 0x1021 reflected, init 0xFFFF, final XOR 0xFFFF), sent LSB first."""

CRC_RESIDUE = 0xF0B8
"""What the CRC register holds, before the final XOR, after a frame followed by its own CRC."""

MAX_BLOCK_SIZE = 32
"""ISO 15693 blocks hold at most 256 bits."""

NXP = 0x04
"""IC manufacturer code that follows the command byte of an NXP custom command."""


class CrcError(ProtocolError):
    """A frame whose CRC does not match its content: a damaged or collided frame."""


class UnsupportedCommandError(ProtocolError):
    """A request this codec cannot parse; a tag answers error 01 or, for a foreign custom command, nothing."""

    def __init__(self, message: str, *, flags: int, command: int, manufacturer: int | None = None) -> None:
        super().__init__(message)
        self.flags = flags
        self.command = command
        self.manufacturer = manufacturer


def check_byte(value: int, field: str) -> int:
    """The value, once it is known to fit in the one byte the frame gives it."""
    if not 0 <= value <= 0xFF:
        raise ProtocolError(f"the {field} is one byte; {value} is out of range")
    return value


def append_crc(frame: bytes) -> bytes:
    """The frame as sent on the air: its CRC-16/X-25 follows, LSB first."""
    return frame + crc16(frame).to_bytes(2, "little")


def check_crc(frame_with_crc: bytes) -> bytes:
    """The frame without its CRC, once the CRC is verified (the register then holds CRC_RESIDUE)."""
    if len(frame_with_crc) < 2:
        raise CrcError(f"a frame of {len(frame_with_crc)} byte(s) is too short to carry a 2-byte CRC")
    if crc16(frame_with_crc) ^ 0xFFFF != CRC_RESIDUE:
        frame, carried = frame_with_crc[:-2], int.from_bytes(frame_with_crc[-2:], "little")
        raise CrcError(
            f"CRC mismatch: the frame carries 0x{carried:04X}, its content gives 0x{crc16(frame):04X}"
        )
    return frame_with_crc[:-2]


class RequestFlag(IntFlag):
    """Request flags byte when the inventory bit is clear (ISO/IEC 15693-3, flags table 4)."""

    TWO_SUBCARRIERS = 0x01
    HIGH_DATA_RATE = 0x02
    INVENTORY = 0x04
    PROTOCOL_EXTENSION = 0x08
    SELECT = 0x10
    ADDRESSED = 0x20
    OPTION = 0x40
    RFU = 0x80


class InventoryFlag(IntFlag):
    """Request flags byte when the inventory bit is set (ISO/IEC 15693-3, flags table 5)."""

    TWO_SUBCARRIERS = 0x01
    HIGH_DATA_RATE = 0x02
    INVENTORY = 0x04
    PROTOCOL_EXTENSION = 0x08
    AFI = 0x10
    ONE_SLOT = 0x20
    OPTION = 0x40
    RFU = 0x80


class ResponseFlag(IntFlag):
    """Response flags byte; the other bits are RFU in ISO/IEC 15693-3:2009 and do not change the layout."""

    ERROR = 0x01
    EXTENSION = 0x08


class Command(IntEnum):
    """ISO/IEC 15693-3 commands and the NXP ICODE custom commands tagd uses."""

    INVENTORY = 0x01
    STAY_QUIET = 0x02
    READ_SINGLE_BLOCK = 0x20
    WRITE_SINGLE_BLOCK = 0x21
    LOCK_BLOCK = 0x22
    READ_MULTIPLE_BLOCKS = 0x23
    WRITE_MULTIPLE_BLOCKS = 0x24
    SELECT = 0x25
    RESET_TO_READY = 0x26
    WRITE_AFI = 0x27
    LOCK_AFI = 0x28
    WRITE_DSFID = 0x29
    LOCK_DSFID = 0x2A
    GET_SYSTEM_INFO = 0x2B
    GET_MULTIPLE_BLOCK_SECURITY_STATUS = 0x2C
    SET_EAS = 0xA2
    RESET_EAS = 0xA3
    LOCK_EAS = 0xA4
    EAS_ALARM = 0xA5
    PASSWORD_PROTECT_EAS_AFI = 0xA6
    GET_RANDOM_NUMBER = 0xB2
    SET_PASSWORD = 0xB3
    WRITE_PASSWORD = 0xB4
    LOCK_PASSWORD = 0xB5

    @property
    def is_custom(self) -> bool:
        """Custom commands (A0..DF) carry the IC manufacturer code after the command byte."""
        return 0xA0 <= self <= 0xDF


WRITE_ALIKE = frozenset(
    {
        Command.WRITE_SINGLE_BLOCK,
        Command.LOCK_BLOCK,
        Command.WRITE_MULTIPLE_BLOCKS,
        Command.WRITE_AFI,
        Command.LOCK_AFI,
        Command.WRITE_DSFID,
        Command.LOCK_DSFID,
    }
)
"""Write-alike commands: with the option flag the tag answers only after the reader's next EOF (15693-3)."""


class ErrorCode(IntEnum):
    """Error codes a tag sends after a response with the error flag (ISO/IEC 15693-3)."""

    NOT_SUPPORTED = 0x01
    NOT_RECOGNISED = 0x02
    OPTION_NOT_SUPPORTED = 0x03
    UNKNOWN = 0x0F
    BLOCK_NOT_AVAILABLE = 0x10
    ALREADY_LOCKED = 0x11
    LOCKED = 0x12
    WRITE_FAILED = 0x13
    LOCK_FAILED = 0x14


def error_code(value: int) -> ErrorCode | int:
    """The named code when ISO defines it; custom (A0..DF) and unknown codes stay plain ints."""
    try:
        return ErrorCode(value)
    except ValueError:
        return value


class TagErrorResponse(ProtocolError):  # noqa: N818 - the name the codec's callers were promised
    """A well-formed response in which the tag reports an error instead of a result."""

    def __init__(self, code: ErrorCode | int) -> None:
        name = code.name if isinstance(code, ErrorCode) else "unknown or custom"
        super().__init__(f"the tag answered error 0x{code:02X} ({name})")
        self.code = code


class PasswordId(IntEnum):
    """NXP ICODE password identifiers (SLIX / SLIX2 / SLIX-S / SLIX-L datasheets)."""

    READ = 0x01
    WRITE = 0x02
    PRIVACY = 0x04
    DESTROY = 0x08
    EAS_AFI = 0x10


def password_id(value: int) -> PasswordId | int:
    """The named identifier when NXP defines it; the tag, not the codec, rejects the others."""
    try:
        return PasswordId(value)
    except ValueError:
        return value


def xor_password(password: int, random: int) -> int:
    """Set Password sends the password XORed with the random number twice.

    NXP's datasheets (ICODE SLIX SL2S2002 §9.4.3.2, SLI-S §8.1.3.2): XOR_Password[31:0] = Password[31:0] XOR
    {Random_Number[15:0], Random_Number[15:0]}. On the air each byte of the password meets the random
    number's byte in the same place: byte i XOR random byte i mod 2 (Eccel's Pepper manual spells it so).

    `password` is tagd's form of an NXP password: its 4 bytes in air order, read as a big-endian number, so
    that the hex "0A1B2C3D" goes on the air as 0A 1B 2C 3D, as NXP's reader library (a byte array) and
    Flipper send it. `random` is the tag's Get Random Number answer as RandomNumber holds it (LSB first: the
    byte the tag sent first is the low one). The result is in the same form as `password`.
    """
    if not 0 <= password <= 0xFFFFFFFF:
        raise ProtocolError(f"a password is 32 bits; {password:#x} is out of range")
    if not 0 <= random <= 0xFFFF:
        raise ProtocolError(f"a random number is 16 bits; {random:#x} is out of range")
    return password ^ int.from_bytes(random.to_bytes(2, "little") * 2, "big")


class Cursor:
    """Reads a frame field by field, so every short or overlong frame fails with the field's name."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    def take(self, count: int, field: str) -> bytes:
        if len(self._data) - self._pos < count:
            raise ProtocolError(f"the {self._what} ends before the {field} ({count} byte(s))")
        self._pos += count
        return self._data[self._pos - count : self._pos]

    def byte(self, field: str) -> int:
        return self.take(1, field)[0]

    def rest(self) -> bytes:
        data, self._pos = self._data[self._pos :], len(self._data)
        return data

    def end(self) -> None:
        left = len(self._data) - self._pos
        if left:
            raise ProtocolError(f"the {self._what} has {left} byte(s) too many")
