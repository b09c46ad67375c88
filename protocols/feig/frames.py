"""FEIG ISC host protocol: standard and advanced frames, a resyncing stream splitter, and status codes.

Layout facts come from FEIG's "ID ISC.MR/PR/PRH101 System-Manual" (H60301-3e-ID-B, protocol frames and
Annex "Index of Status Bytes"): LENGTH (up to 255) counts the whole frame, advanced frames start with STX
0x02 and a 2-byte ALENGTH (MSB first), replies carry STATUS after CONTROL, and the CRC16 (poly 0x8408, preset
0xFFFF) covers every byte but itself and is sent LSB first. A reader answers in advanced form when the host
asked in advanced form or when the answer would not fit 255 bytes. Cross-checked against a LR1002 trace in
the ST community thread "Error 0x12 when writing multiple blocks on ST25DV16KC", Biblio-RFID's CPRM02.pm
and InlayTester.Drivers.FeigReader (FeigResponse.cs, FeigStatus.cs).
"""

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import ClassVar, Generic, Self, TypeVar

from tagd.protocols.crc import crc16_mcrf4xx
from tagd.protocols.errors import ProtocolError

BROADCAST = 0xFF
"""COM-ADR every reader answers to, whatever its bus address."""
READER_ADDRESS = 0x00
"""COM-ADR a reader puts in its replies when none was configured (as in the LR1002 trace)."""
STX = 0x02
MAX_STANDARD_LENGTH = 0xFF
MAX_ADVANCED_LENGTH = 0xFFFF
_STANDARD_OVERHEAD = 4  # LENGTH, COM-ADR, CRC16
_ADVANCED_OVERHEAD = 6  # STX, ALENGTH, COM-ADR, CRC16


def _check_byte(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise ProtocolError(f"{name} must fit in one byte, got {value}")


def _frame(address: int, body: bytes, *, advanced: bool) -> bytes:
    if advanced:
        head = bytes([STX]) + (len(body) + _ADVANCED_OVERHEAD).to_bytes(2, "big") + bytes([address])
    else:
        head = bytes([len(body) + _STANDARD_OVERHEAD, address])
    frame = head + body
    return frame + crc16_mcrf4xx(frame).to_bytes(2, "little")


def _check_size(body_length: int, *, advanced: bool) -> None:
    if advanced and body_length + _ADVANCED_OVERHEAD > MAX_ADVANCED_LENGTH:
        raise ProtocolError(f"{body_length + _ADVANCED_OVERHEAD}-byte frame exceeds the limit of 65535")
    if not advanced and body_length + _STANDARD_OVERHEAD > MAX_STANDARD_LENGTH:
        raise ProtocolError(f"{body_length + _STANDARD_OVERHEAD}-byte frame is over 255: needs advanced form")


@dataclass(frozen=True)
class Request:
    """A host-to-reader frame; `advanced` is the frame form it was (or will be) sent in."""

    control: int
    data: bytes = b""
    address: int = BROADCAST
    advanced: bool = False
    _BODY_MIN: ClassVar[int] = 1  # CONTROL

    def __post_init__(self) -> None:
        _check_byte("CONTROL", self.control)
        _check_byte("COM-ADR", self.address)
        object.__setattr__(self, "data", bytes(self.data))
        _check_size(1 + len(self.data), advanced=self.advanced)

    def encode(self) -> bytes:
        return _frame(self.address, bytes([self.control]) + self.data, advanced=self.advanced)

    @classmethod
    def _from_body(cls, address: int, body: bytes, *, advanced: bool) -> Self:
        return cls(body[0], body[1:], address, advanced)


@dataclass(frozen=True)
class Reply:
    """A reader-to-host frame: the CONTROL byte it answers, then STATUS, then the response data."""

    control: int
    status: int
    data: bytes = b""
    address: int = READER_ADDRESS
    advanced: bool = False
    _BODY_MIN: ClassVar[int] = 2  # CONTROL, STATUS

    def __post_init__(self) -> None:
        _check_byte("CONTROL", self.control)
        _check_byte("STATUS", self.status)
        _check_byte("COM-ADR", self.address)
        object.__setattr__(self, "data", bytes(self.data))
        _check_size(2 + len(self.data), advanced=self.advanced)

    def encode(self) -> bytes:
        return _frame(self.address, bytes([self.control, self.status]) + self.data, advanced=self.advanced)

    @classmethod
    def _from_body(cls, address: int, body: bytes, *, advanced: bool) -> Self:
        return cls(body[0], body[1], body[2:], address, advanced)


def _pick_form(body_length: int, *, advanced: bool | None) -> bool:
    """Standard form unless asked otherwise or the frame would not fit 255 bytes, as FEIG readers choose."""
    if advanced is None:
        return body_length + _STANDARD_OVERHEAD > MAX_STANDARD_LENGTH
    return advanced


def make_request(
    control: int, data: bytes = b"", *, address: int = BROADCAST, advanced: bool | None = None
) -> Request:
    """A request in standard form when it fits, advanced when it must be or when `advanced` is True."""
    return Request(control, data, address, _pick_form(1 + len(data), advanced=advanced))


def make_reply(
    control: int,
    status: int,
    data: bytes = b"",
    *,
    address: int = READER_ADDRESS,
    advanced: bool | None = None,
) -> Reply:
    """A reply in standard form when it fits, advanced when it must be or when `advanced` is True."""
    return Reply(control, status, data, address, _pick_form(2 + len(data), advanced=advanced))


def reply_to(request: Request, status: int, data: bytes = b"", *, address: int = READER_ADDRESS) -> Reply:
    """The reader's answer: advanced if the host asked in advanced form, else only if it must be."""
    return make_reply(request.control, status, data, address=address, advanced=request.advanced or None)


def encode_request(
    control: int, data: bytes = b"", *, address: int = BROADCAST, advanced: bool | None = None
) -> bytes:
    return make_request(control, data, address=address, advanced=advanced).encode()


def encode_reply(
    control: int,
    status: int,
    data: bytes = b"",
    *,
    address: int = READER_ADDRESS,
    advanced: bool | None = None,
) -> bytes:
    return make_reply(control, status, data, address=address, advanced=advanced).encode()


def _unframe(frame: bytes, body_min: int) -> tuple[int, bytes, bool]:
    """Check one whole frame; return its COM-ADR, the bytes between COM-ADR and CRC, and its form."""
    if not frame:
        raise ProtocolError("empty frame")
    advanced = frame[0] == STX
    if advanced:
        if len(frame) < 3:
            raise ProtocolError(f"{len(frame)} bytes cannot hold an advanced frame's ALENGTH")
        declared, head, overhead = int.from_bytes(frame[1:3], "big"), 3, _ADVANCED_OVERHEAD
    else:
        declared, head, overhead = frame[0], 1, _STANDARD_OVERHEAD
    if declared != len(frame):
        raise ProtocolError(f"length field says {declared} bytes but the frame has {len(frame)}")
    if declared < overhead + body_min:
        raise ProtocolError(f"{declared}-byte frame is shorter than the minimum of {overhead + body_min}")
    expected, sent = crc16_mcrf4xx(frame[:-2]), int.from_bytes(frame[-2:], "little")
    if expected != sent:
        raise ProtocolError(f"CRC16 is {sent:04X} but the frame's bytes give {expected:04X}")
    return frame[head], frame[head + 1 : -2], advanced


def decode_request(frame: bytes) -> Request:
    """Exactly one complete request frame, checked for length and CRC."""
    address, body, advanced = _unframe(frame, Request._BODY_MIN)
    return Request._from_body(address, body, advanced=advanced)


def decode_reply(frame: bytes) -> Reply:
    """Exactly one complete reply frame, checked for length and CRC."""
    address, body, advanced = _unframe(frame, Reply._BODY_MIN)
    return Reply._from_body(address, body, advanced=advanced)


class GarbageReason(Enum):
    BAD_LENGTH = "no frame has that length"
    BAD_CRC = "CRC16 mismatch"
    TRUNCATED = "input ended inside a frame"


@dataclass(frozen=True)
class Garbage:
    """Bytes skipped while resyncing, reported so a driver can count and log line noise."""

    data: bytes
    reason: GarbageReason


FrameT = TypeVar("FrameT", Request, Reply)


class FrameReader(Generic[FrameT]):
    """Cuts a byte stream of one direction into frames, sans-IO: feed bytes in, get frames and garbage out.

    At each position the length field claims a frame size; a byte whose claim is impossible, or whose claimed
    frame fails its CRC once complete, is skipped and the scan retries one byte later, so the reader resyncs
    on the next intact frame after noise or dropped bytes. Skipped runs come back as Garbage, in stream order.
    A noise byte can claim a frame longer than what follows and hold later frames back until that many bytes
    arrive: call flush() once the line goes quiet, and keep max_length to what the reader can send.
    """

    def __init__(self, kind: type[FrameT], *, max_length: int = MAX_ADVANCED_LENGTH) -> None:
        minimum = _ADVANCED_OVERHEAD + kind._BODY_MIN
        if not minimum <= max_length <= MAX_ADVANCED_LENGTH:
            raise ProtocolError(f"max_length must be {minimum}..65535, got {max_length}")
        self._kind: type[FrameT] = kind
        self._max_length = max_length
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back because they may start a frame that has not fully arrived."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[FrameT | Garbage]:
        self._buffer += data
        return self._drain(final=False)

    def flush(self) -> list[FrameT | Garbage]:
        """End of input (or a timeout): frames still incomplete never will be, so resync through them."""
        return self._drain(final=True)

    def _claimed_size(self, start: int) -> int | None:
        """Size the length field at `start` claims, 0 if no frame can have it, None if it has not arrived."""
        buffer = self._buffer
        if buffer[start] == STX:
            if start + 3 > len(buffer):
                return None
            size, minimum = int.from_bytes(buffer[start + 1 : start + 3], "big"), _ADVANCED_OVERHEAD
        else:
            size, minimum = buffer[start], _STANDARD_OVERHEAD
        return size if minimum + self._kind._BODY_MIN <= size <= self._max_length else 0

    def _drain(self, *, final: bool) -> list[FrameT | Garbage]:
        buffer, skipped = self._buffer, bytearray()
        events: list[FrameT | Garbage] = []
        reason = GarbageReason.BAD_LENGTH
        start = 0
        while start < len(buffer):
            size = self._claimed_size(start)
            if size is None or (size and start + size > len(buffer)):
                if not final:
                    break
                cause = GarbageReason.TRUNCATED
            elif size == 0:
                cause = GarbageReason.BAD_LENGTH
            else:
                frame = bytes(buffer[start : start + size])
                if crc16_mcrf4xx(frame[:-2]) == int.from_bytes(frame[-2:], "little"):
                    if skipped:
                        events.append(Garbage(bytes(skipped), reason))
                        skipped.clear()
                    head = 3 if frame[0] == STX else 1
                    body = frame[head + 1 : -2]
                    events.append(self._kind._from_body(frame[head], body, advanced=head == 3))
                    start += size
                    continue
                cause = GarbageReason.BAD_CRC
            if not skipped:
                reason = cause
            skipped.append(buffer[start])
            start += 1
        if skipped:
            events.append(Garbage(bytes(skipped), reason))
        del buffer[:start]
        return events


class FeigStatus(IntEnum):
    """STATUS values from FEIG's "Index of Status Bytes" (HF ones; SAM, EPC and ISO 14443 codes left out)."""

    OK = 0x00
    NO_TRANSPONDER = 0x01
    DATA_FALSE = 0x02
    WRITE_ERROR = 0x03
    ADDRESS_ERROR = 0x04
    WRONG_TRANSPONDER_TYPE = 0x05
    AUTHENTICATION_ERROR = 0x08
    GENERAL_ERROR = 0x0E
    BUSY = 0x0F
    EEPROM_FAILURE = 0x10
    PARAMETER_RANGE_ERROR = 0x11
    LOGIN_REQUEST = 0x13
    LOGIN_ERROR = 0x14
    READ_PROTECT = 0x15
    WRITE_PROTECT = 0x16
    FIRMWARE_ACTIVATION_REQUIRED = 0x17
    WRONG_FIRMWARE = 0x18
    UNKNOWN_COMMAND = 0x80
    LENGTH_ERROR = 0x81
    COMMAND_NOT_AVAILABLE = 0x82
    RF_COMMUNICATION_ERROR = 0x83
    RF_WARNING = 0x84
    NO_VALID_DATA = 0x92
    DATA_BUFFER_OVERFLOW = 0x93
    MORE_DATA = 0x94
    ISO_ERROR = 0x95
    HARDWARE_WARNING = 0xF1
    INITIALIZATION_WARNING = 0xF2


class StatusKind(Enum):
    """What a driver does about a status: carry on, ask for more, report the tag gone, retry, or give up."""

    OK = "ok"
    MORE_DATA = "more data"
    NO_TAG = "no tag"
    RF_ERROR = "RF error"
    TAG_ERROR = "tag error"
    READER_ERROR = "reader error"


_KINDS: dict[int, StatusKind] = {
    FeigStatus.OK: StatusKind.OK,
    FeigStatus.MORE_DATA: StatusKind.MORE_DATA,
    FeigStatus.NO_TRANSPONDER: StatusKind.NO_TAG,
    FeigStatus.DATA_FALSE: StatusKind.RF_ERROR,
    FeigStatus.RF_COMMUNICATION_ERROR: StatusKind.RF_ERROR,
    FeigStatus.RF_WARNING: StatusKind.RF_ERROR,
    FeigStatus.WRITE_ERROR: StatusKind.TAG_ERROR,
    FeigStatus.ADDRESS_ERROR: StatusKind.TAG_ERROR,
    FeigStatus.WRONG_TRANSPONDER_TYPE: StatusKind.TAG_ERROR,
    FeigStatus.AUTHENTICATION_ERROR: StatusKind.TAG_ERROR,
    FeigStatus.ISO_ERROR: StatusKind.TAG_ERROR,
}


@dataclass(frozen=True)
class Outcome:
    """A reply's STATUS sorted into a StatusKind; `iso_error` is the tag's ISO 15693 error (status 0x95)."""

    status: int
    kind: StatusKind
    iso_error: int | None = None

    @property
    def name(self) -> str:
        try:
            return FeigStatus(self.status).name
        except ValueError:
            return f"status 0x{self.status:02X}"


def classify(reply: Reply) -> Outcome:
    """Sort a reply's STATUS; unknown values count as reader errors rather than being guessed at."""
    kind = _KINDS.get(reply.status, StatusKind.READER_ERROR)
    if reply.status != FeigStatus.ISO_ERROR:
        return Outcome(reply.status, kind)
    if not reply.data:
        raise ProtocolError("status 0x95 (ISO 15693 error) came without the tag's error byte")
    return Outcome(reply.status, kind, reply.data[0])
