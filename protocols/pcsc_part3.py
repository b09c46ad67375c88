"""PC/SC 2.0 part 3 transparent sessions, sans-IO: the pseudo-APDUs a host sends and the data objects back.

Both ends use it: the pcsc: driver builds commands and reads replies, the vpcd virtual card reads commands
and builds replies, so the two can only disagree with the specification, not with each other.

Command APDU: `FF C2 00 <function> Lc <BER-TLV data objects> 00`, function 00 manage session, 01 transparent
exchange, 02 switch protocol. Reply: BER-TLV data objects, then SW1 SW2 (90 00). The generic error status
`C0 03 <n> <SW1> <SW2>` names the failing data object n (0: the APDU as a whole); a transceive adds
`92 01 <valid bits of the last byte>`, `96 02 <status> 00` and `97 <len> <the ICC's reply>`.

By default the reader appends the CRC to what it sends and checks and strips it from what it hears (bits 0
and 1 of the 90 flags object, left at 0), so frames cross the APDU without their CRC and a damaged reply is
reported in the 96 status byte.

Sources: ACS ACM1252U-Y3 reference manual 5.2.3 (transparent session, C0 error statuses, the 90 flags); the
PN512 firmware of wsrf2009/contactless-driver mod/src/pcsc.c (92/96/97 replies and the status bits); a public
ACR1552 ISO 15693 Python driver (session, 8F 02 02 03, 96 bits); Microsoft's NFC storage-card requirements
(95 transceive, 5F46 timer).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from tagd.protocols.errors import ProtocolError

CLA = 0xFF
INS = 0xC2


class Function(IntEnum):
    """P2 of the pseudo-APDU."""

    MANAGE_SESSION = 0x00
    TRANSPARENT_EXCHANGE = 0x01
    SWITCH_PROTOCOL = 0x02


class Tag(IntEnum):
    """The data objects tagd sends or reads (two-byte tags are written as their two bytes)."""

    START_SESSION = 0x81
    END_SESSION = 0x82
    SWITCH_PROTOCOL = 0x8F
    FLAGS = 0x90
    TRANSCEIVE = 0x95
    RX_BIT_FRAMING = 0x92
    RESPONSE_STATUS = 0x96
    ICC_RESPONSE = 0x97
    GENERIC_ERROR = 0xC0
    TIMER = 0x5F46


class ResponseStatus(IntFlag):
    """First byte of the 96 response status object: what the reader noticed about the ICC's reply."""

    CRC_ERROR = 0x01
    COLLISION = 0x02
    PARITY_ERROR = 0x04
    FRAMING_ERROR = 0x08

    @property
    def damaged(self) -> bool:
        return bool(
            self & (ResponseStatus.CRC_ERROR | ResponseStatus.PARITY_ERROR | ResponseStatus.FRAMING_ERROR)
        )


class ErrorStatus(IntEnum):
    """SW1 SW2 inside the C0 generic error status object."""

    OK = 0x9000
    WARNING_NOT_AVAILABLE = 0x6282
    NO_INFORMATION = 0x6300
    STOPPED_BY_OTHER_OBJECT = 0x6301
    UNEXPECTED_LENGTH = 0x6700
    NO_RESPONSE_FROM_IFD = 0x6400
    NO_RESPONSE_FROM_ICC = 0x6401
    UNEXPECTED_VALUE = 0x6A80
    NOT_SUPPORTED = 0x6A81
    NO_PRECISE_DIAGNOSIS = 0x6F00


ISO15693_LAYER3 = bytes([0x02, 0x03])
"""The switch-protocol value: standard 02 (ISO/IEC 15693), layer 03 (part 3, raw frames)."""

SW_OK = bytes([0x90, 0x00])


class Part3Error(ProtocolError):
    """Bytes that break PC/SC part 3, or a reply whose generic error status is not 90 00."""


ObjectList = Sequence[tuple[int, bytes]]


def encode_objects(objects: Iterable[tuple[int, bytes]]) -> bytes:
    """BER-TLV: one- or two-byte tags, definite lengths (short form, 81 xx or 82 xx xx)."""
    out = bytearray()
    for tag, value in objects:
        out += tag.to_bytes(2 if tag > 0xFF else 1, "big")
        if len(value) < 0x80:
            out.append(len(value))
        elif len(value) <= 0xFF:
            out += bytes([0x81, len(value)])
        elif len(value) <= 0xFFFF:
            out += bytes([0x82]) + len(value).to_bytes(2, "big")
        else:
            raise Part3Error(f"a data object of {len(value)} bytes is too long")
        out += value
    return bytes(out)


def decode_objects(data: bytes) -> list[tuple[int, bytes]]:
    """The data objects of a command's data field or a reply (without SW1 SW2), in order."""
    objects: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        tag = data[at]
        at += 1
        if tag & 0x1F == 0x1F:  # a two-byte tag (5F46, FF6D, ...)
            if at >= len(data):
                raise Part3Error("a two-byte tag is cut short")
            tag = tag << 8 | data[at]
            at += 1
        if at >= len(data):
            raise Part3Error(f"data object {tag:02X} has no length")
        length = data[at]
        at += 1
        if length & 0x80:
            size = length & 0x7F
            if size not in (1, 2) or at + size > len(data):
                raise Part3Error(f"data object {tag:02X} has a bad length field")
            length = int.from_bytes(data[at : at + size], "big")
            at += size
        if at + length > len(data):
            raise Part3Error(f"data object {tag:02X} claims {length} bytes, {len(data) - at} are left")
        objects.append((tag, data[at : at + length]))
        at += length
    return objects


def command(function: Function, objects: ObjectList) -> bytes:
    """The pseudo-APDU `FF C2 00 <function> Lc <objects> 00`."""
    data = encode_objects(objects)
    if len(data) > 0xFF:
        raise Part3Error(f"{len(data)} bytes of data objects do not fit a short APDU")
    return bytes([CLA, INS, 0x00, function, len(data)]) + data + b"\x00"


START_SESSION = command(Function.MANAGE_SESSION, [(Tag.START_SESSION, b"")])
"""FF C2 00 00 02 81 00 00"""
END_SESSION = command(Function.MANAGE_SESSION, [(Tag.END_SESSION, b"")])
"""FF C2 00 00 02 82 00 00"""
SWITCH_TO_ISO15693 = command(Function.SWITCH_PROTOCOL, [(Tag.SWITCH_PROTOCOL, ISO15693_LAYER3)])
"""FF C2 00 02 04 8F 02 02 03 00"""


TIMER_MAX_US = 0xFFFFFFFF


def timer_object(microseconds: int) -> tuple[int, bytes]:
    """The 5F46 timer: how long the reader waits for the ICC, in microseconds, 4 bytes MSB first (the
    public ACR1552 driver sends 5F46 04 000F4240 for 1,000,000 us)."""
    if not 0 < microseconds <= TIMER_MAX_US:
        raise Part3Error(f"a 5F46 timer of {microseconds} us is not 1..{TIMER_MAX_US}")
    return Tag.TIMER, microseconds.to_bytes(4, "big")


def transceive_command(frame: bytes, timeout_us: int | None = None) -> bytes:
    """`FF C2 00 01 Lc [5F46 04 <timer>] 95 <n> <frame without CRC> 00`: the reader adds the CRC and listens
    for one reply, `timeout_us` microseconds when given. Microsoft's NFC class extension requirements list
    the timer as required in a transparent exchange, ahead of the transceive object."""
    objects: list[tuple[int, bytes]] = [(Tag.TRANSCEIVE, frame)]
    if timeout_us is not None:
        objects.insert(0, timer_object(timeout_us))
    return command(Function.TRANSPARENT_EXCHANGE, objects)


def error_status(objects: ObjectList) -> tuple[int, ErrorStatus | int]:
    """The C0 object as (failing object number, status); a reply without one counts as 90 00."""
    for tag, value in objects:
        if tag == Tag.GENERIC_ERROR:
            if len(value) != 3:
                raise Part3Error(f"the generic error status has {len(value)} bytes, not 3")
            status = int.from_bytes(value[1:], "big")
            try:
                return value[0], ErrorStatus(status)
            except ValueError:
                return value[0], status
    return 0, ErrorStatus.OK


def split_reply(reply: bytes) -> list[tuple[int, bytes]]:
    """The data objects of a reply APDU, once its SW1 SW2 are 90 00."""
    if len(reply) < 2:
        raise Part3Error(f"a reply of {len(reply)} byte(s) has no status word")
    if reply[-2:] != SW_OK:
        raise Part3Error(f"the reader answered SW {reply[-2:].hex(' ').upper()}")
    return decode_objects(reply[:-2])


@dataclass(frozen=True)
class Heard:
    """What one transceive brought back: the status the reader saw and the reply's bytes (without CRC)."""

    status: ResponseStatus
    data: bytes


def transceive_result(reply: bytes) -> Heard | None:
    """A transceive's reply APDU read: None when the ICC did not answer (C0 ... 64 01)."""
    objects = split_reply(reply)
    number, status = error_status(objects)
    if status == ErrorStatus.NO_RESPONSE_FROM_ICC:
        return None
    if status != ErrorStatus.OK:
        raise Part3Error(f"transceive failed: data object {number}, status {status:04X}")
    found = dict(objects)
    seen = found.get(Tag.RESPONSE_STATUS, b"\x00\x00")
    if Tag.ICC_RESPONSE not in found:
        raise Part3Error("a transceive reply without the 97 ICC response object")
    return Heard(ResponseStatus(seen[0] & 0x0F if seen else 0), found[Tag.ICC_RESPONSE])


def heard_reply(heard: Heard) -> bytes:
    """The reply data objects (SW included) a reader sends for what it heard."""
    objects = [
        (Tag.GENERIC_ERROR, b"\x00\x90\x00"),
        (Tag.RX_BIT_FRAMING, b"\x00"),
        (Tag.RESPONSE_STATUS, bytes([heard.status, 0x00])),
        (Tag.ICC_RESPONSE, heard.data),
    ]
    return encode_objects(objects) + SW_OK


def status_reply(number: int, status: ErrorStatus, extra: ObjectList = ()) -> bytes:
    """A reply that is only a generic error status (plus any objects asked for), SW 90 00."""
    value = bytes([number]) + status.to_bytes(2, "big")
    return encode_objects([(Tag.GENERIC_ERROR, value), *extra]) + SW_OK
