"""ISO 15693 response frames (VICC to VCD), typed both ways: emulated tags encode them, hosts decode them.

An error response (error flag, then one code) is raised as TagErrorResponse rather than returned, so every
decoded value is a result; encode_error_response() builds one on the tag side. Frames carry no CRC here.
"""

from dataclasses import dataclass
from enum import IntFlag
from typing import Literal, overload

from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693.frames import (
    MAX_BLOCK_SIZE,
    Command,
    Cursor,
    ErrorCode,
    ResponseFlag,
    TagErrorResponse,
    check_byte,
    error_code,
)
from tagd.protocols.iso15693.uid import check_uid, uid_from_bytes, uid_to_bytes

EAS_SEQUENCE_LENGTH = 32
"""NXP ICODE tags answer an EAS alarm with a 256-bit EAS sequence."""


class BlockSecurity(IntFlag):
    """Block security status byte; bits other than LOCKED are RFU (or vendor-defined) and kept as they are."""

    LOCKED = 0x01


class InfoFlag(IntFlag):
    """Which optional fields follow the UID in a Get System Information response."""

    DSFID = 0x01
    AFI = 0x02
    MEMORY_SIZE = 0x04
    IC_REFERENCE = 0x08


@dataclass(frozen=True)
class Ack:
    """A flags-only response: a write, lock, select or other command was carried out."""


@dataclass(frozen=True)
class InventoryResponse:
    """One tag's answer in an inventory slot."""

    uid: int
    dsfid: int = 0

    def __post_init__(self) -> None:
        check_uid(self.uid)
        check_byte(self.dsfid, "DSFID")


@dataclass(frozen=True)
class Blocks:
    """Read Single/Multiple Blocks: the data, and with the option flag each block's security status."""

    data: tuple[bytes, ...]
    security: tuple[BlockSecurity, ...] | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.data) <= 256:
            raise ProtocolError(f"a read returns 1 to 256 blocks, not {len(self.data)}")
        sizes = {len(block) for block in self.data}
        if len(sizes) != 1 or not 1 <= min(sizes) <= MAX_BLOCK_SIZE:
            raise ProtocolError(
                f"blocks share one size of 1 to {MAX_BLOCK_SIZE} bytes, got sizes {sorted(sizes)}"
            )
        if self.security is not None:
            if len(self.security) != len(self.data):
                raise ProtocolError(f"{len(self.security)} security status(es) for {len(self.data)} block(s)")
            for status in self.security:
                check_byte(status, "block security status")

    @property
    def block_size(self) -> int:
        return len(self.data[0])


@dataclass(frozen=True)
class SystemInfo:
    """Get System Information; fields the tag leaves out are None."""

    uid: int
    dsfid: int | None = None
    afi: int | None = None
    block_count: int | None = None
    block_size: int | None = None
    ic_reference: int | None = None

    def __post_init__(self) -> None:
        check_uid(self.uid)
        for value, field in ((self.dsfid, "DSFID"), (self.afi, "AFI"), (self.ic_reference, "IC reference")):
            if value is not None:
                check_byte(value, field)
        if (self.block_count is None) != (self.block_size is None):
            raise ProtocolError(
                "the memory size gives both the number of blocks and the block size, or neither"
            )
        if self.block_count is not None and not 1 <= self.block_count <= 256:
            raise ProtocolError(f"a tag has 1 to 256 blocks, not {self.block_count}")
        if self.block_size is not None and not 1 <= self.block_size <= MAX_BLOCK_SIZE:
            raise ProtocolError(f"a block is 1 to {MAX_BLOCK_SIZE} bytes, not {self.block_size}")

    @property
    def info_flags(self) -> InfoFlag:
        return (
            (InfoFlag.DSFID if self.dsfid is not None else InfoFlag(0))
            | (InfoFlag.AFI if self.afi is not None else InfoFlag(0))
            | (InfoFlag.MEMORY_SIZE if self.block_count is not None else InfoFlag(0))
            | (InfoFlag.IC_REFERENCE if self.ic_reference is not None else InfoFlag(0))
        )


@dataclass(frozen=True)
class SecurityStatus:
    """Get Multiple Block Security Status: one status byte per block."""

    blocks: tuple[BlockSecurity, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.blocks) <= 256:
            raise ProtocolError(f"a security status covers 1 to 256 blocks, not {len(self.blocks)}")
        for status in self.blocks:
            check_byte(status, "block security status")


@dataclass(frozen=True)
class RandomNumber:
    """Get Random Number: the 16-bit value Set Password XORs the password with."""

    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0xFFFF:
            raise ProtocolError(f"a random number is 16 bits; {self.value:#x} is out of range")


@dataclass(frozen=True)
class EasSequence:
    """The EAS alarm answer of a tag whose EAS is set (a tag with EAS off stays silent)."""

    data: bytes

    def __post_init__(self) -> None:
        if len(self.data) != EAS_SEQUENCE_LENGTH:
            raise ProtocolError(f"an EAS sequence is {EAS_SEQUENCE_LENGTH} bytes, not {len(self.data)}")


@dataclass(frozen=True)
class EasId:
    """The 16-bit EAS ID a tag sends for an EAS alarm with a 0-bit EAS ID mask."""

    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0xFFFF:
            raise ProtocolError(f"an EAS ID is 16 bits; {self.value:#x} is out of range")


Response = Ack | InventoryResponse | Blocks | SystemInfo | SecurityStatus | RandomNumber | EasSequence | EasId

AckCommand = Literal[
    Command.WRITE_SINGLE_BLOCK,
    Command.LOCK_BLOCK,
    Command.WRITE_MULTIPLE_BLOCKS,
    Command.SELECT,
    Command.RESET_TO_READY,
    Command.WRITE_AFI,
    Command.LOCK_AFI,
    Command.WRITE_DSFID,
    Command.LOCK_DSFID,
    Command.SET_EAS,
    Command.RESET_EAS,
    Command.LOCK_EAS,
    Command.PASSWORD_PROTECT_EAS_AFI,
    Command.SET_PASSWORD,
    Command.WRITE_PASSWORD,
    Command.LOCK_PASSWORD,
]
ReadCommand = Literal[Command.READ_SINGLE_BLOCK, Command.READ_MULTIPLE_BLOCKS]


def encode_response(response: Response) -> bytes:
    """The tag's answer: flags 0x00, then the result's fields; no CRC."""
    match response:
        case Ack():
            body = b""
        case InventoryResponse(uid, dsfid):
            body = bytes([dsfid]) + uid_to_bytes(uid)
        case Blocks(data, security):
            prefixes = [b""] * len(data) if security is None else [bytes([status]) for status in security]
            body = b"".join(prefix + block for prefix, block in zip(prefixes, data, strict=True))
        case SystemInfo():
            body = _system_info_fields(response)
        case SecurityStatus(blocks):
            body = bytes(blocks)
        case RandomNumber(value) | EasId(value):
            body = value.to_bytes(2, "little")
        case _:
            body = response.data  # EasSequence, the last kind left
    return b"\x00" + body


def _system_info_fields(info: SystemInfo) -> bytes:
    fields = bytes([info.info_flags]) + uid_to_bytes(info.uid)
    for value in (info.dsfid, info.afi):
        if value is not None:
            fields += bytes([value])
    if info.block_count is not None and info.block_size is not None:
        fields += bytes([info.block_count - 1, info.block_size - 1])
    if info.ic_reference is not None:
        fields += bytes([info.ic_reference])
    return fields


def encode_error_response(code: ErrorCode | int) -> bytes:
    """The tag's error answer: the error flag, then the code."""
    check_byte(code, "error code")
    return bytes([ResponseFlag.ERROR, code])


# Typed results per command; other keywords, or a command known only at run time, give the Response union.
@overload
def decode_response(command: Literal[Command.INVENTORY], frame: bytes) -> InventoryResponse: ...
@overload
def decode_response(
    command: ReadCommand,
    frame: bytes,
    *,
    option: bool = ...,
    block_size: int | None = ...,
    count: int | None = ...,
) -> Blocks: ...
@overload
def decode_response(command: Literal[Command.GET_SYSTEM_INFO], frame: bytes) -> SystemInfo: ...
@overload
def decode_response(
    command: Literal[Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS], frame: bytes, *, count: int | None = ...
) -> SecurityStatus: ...
@overload
def decode_response(command: Literal[Command.GET_RANDOM_NUMBER], frame: bytes) -> RandomNumber: ...
@overload
def decode_response(
    command: Literal[Command.EAS_ALARM], frame: bytes, *, option: bool = ...
) -> EasSequence | EasId: ...
@overload
def decode_response(command: AckCommand, frame: bytes) -> Ack: ...
@overload
def decode_response(
    command: Command,
    frame: bytes,
    *,
    option: bool = ...,
    block_size: int | None = ...,
    count: int | None = ...,
) -> Response: ...
def decode_response(
    command: Command,
    frame: bytes,
    *,
    option: bool = False,
    block_size: int | None = None,
    count: int | None = None,
) -> Response:
    """The result in a response frame (without CRC) to `command`; a tag's error is raised as TagErrorResponse.

    option: the request's option flag (reads then carry a security byte per block; for EAS alarm it allows
    the EAS ID answer). A multiple-block read needs block_size or count to split its data.
    """
    cursor = Cursor(frame, f"{command.name} response")
    flags = cursor.byte("flags")
    if flags & ResponseFlag.ERROR:
        code = cursor.byte("error code")
        cursor.end()
        raise TagErrorResponse(error_code(code))
    payload = cursor.rest()
    result: Response
    match command:
        case Command.INVENTORY:
            result = _inventory(Cursor(payload, "inventory response"))
        case Command.READ_SINGLE_BLOCK:
            result = _blocks(payload, option=option, block_size=block_size, count=1)
        case Command.READ_MULTIPLE_BLOCKS:
            result = _blocks(payload, option=option, block_size=block_size, count=count)
        case Command.GET_SYSTEM_INFO:
            result = _system_info(Cursor(payload, "system information response"))
        case Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS:
            result = _security_status(payload, count)
        case Command.GET_RANDOM_NUMBER:
            result = RandomNumber(_exactly(payload, 2, command))
        case Command.EAS_ALARM:
            eas_id = option and len(payload) == 2
            result = EasId(int.from_bytes(payload, "little")) if eas_id else EasSequence(payload)
        case Command.STAY_QUIET:
            raise ProtocolError("a tag never answers STAY_QUIET, so there is no response to decode")
        case _:
            _exactly(payload, 0, command)
            result = Ack()
    return result


def _exactly(payload: bytes, length: int, command: Command) -> int:
    if len(payload) != length:
        raise ProtocolError(
            f"a {command.name} response has {length} byte(s) after the flags, not {len(payload)}"
        )
    return int.from_bytes(payload, "little")


def _inventory(cursor: Cursor) -> InventoryResponse:
    dsfid = cursor.byte("DSFID")
    uid = uid_from_bytes(cursor.take(8, "UID"))
    cursor.end()
    return InventoryResponse(uid, dsfid)


def _blocks(payload: bytes, *, option: bool, block_size: int | None, count: int | None) -> Blocks:
    extra = 1 if option else 0
    if block_size is not None:
        if not 1 <= block_size <= MAX_BLOCK_SIZE:
            raise ProtocolError(f"a block is 1 to {MAX_BLOCK_SIZE} bytes, not {block_size}")
        unit = block_size + extra
        if count is None:
            count = len(payload) // unit
    elif count is not None:
        if not 1 <= count <= 256:
            raise ProtocolError(f"a read returns 1 to 256 blocks, not {count}")
        unit = len(payload) // count
    else:
        raise ProtocolError("splitting a multiple-block read needs the block size or the number of blocks")
    if unit <= extra or len(payload) != unit * count:
        security = " with a security byte each" if option else ""
        raise ProtocolError(
            f"{len(payload)} data byte(s) are not {count} block(s) of {unit - extra} byte(s){security}"
        )
    chunks = [payload[start : start + unit] for start in range(0, len(payload), unit)]
    security_status = tuple(BlockSecurity(chunk[0]) for chunk in chunks) if option else None
    return Blocks(tuple(chunk[extra:] for chunk in chunks), security_status)


def _system_info(cursor: Cursor) -> SystemInfo:
    info = cursor.byte("information flags")
    if info & ~0x0F:
        raise ProtocolError(
            f"information flags 0x{info:02X} set RFU bits, so the fields after them are unknown"
        )
    uid = uid_from_bytes(cursor.take(8, "UID"))
    dsfid = cursor.byte("DSFID") if info & InfoFlag.DSFID else None
    afi = cursor.byte("AFI") if info & InfoFlag.AFI else None
    block_count = block_size = None
    if info & InfoFlag.MEMORY_SIZE:
        block_count = cursor.byte("number of blocks") + 1
        block_size = (cursor.byte("block size") & 0x1F) + 1  # bits 5..7 are RFU
    ic_reference = cursor.byte("IC reference") if info & InfoFlag.IC_REFERENCE else None
    cursor.end()
    return SystemInfo(uid, dsfid, afi, block_count, block_size, ic_reference)


def _security_status(payload: bytes, count: int | None) -> SecurityStatus:
    if count is not None and len(payload) != count:
        raise ProtocolError(f"{len(payload)} security status byte(s) for {count} requested block(s)")
    return SecurityStatus(tuple(BlockSecurity(status) for status in payload))
