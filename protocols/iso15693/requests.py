"""ISO 15693 request frames (VCD to VICC), typed both ways: hosts encode them, emulated tags decode them.

A Request is a header (addressing and link flags) around a body, one frozen dataclass per command
(bodies, nxp). Frames are handled without their CRC (see frames).
"""

from dataclasses import dataclass
from typing import get_args

from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693.bodies import (
    GetMultipleBlockSecurityStatus,
    GetSystemInfo,
    Inventory,
    LockAfi,
    LockBlock,
    LockDsfid,
    ReadMultipleBlocks,
    ReadSingleBlock,
    ResetToReady,
    Select,
    StayQuiet,
    WriteAfi,
    WriteDsfid,
    WriteMultipleBlocks,
    WriteSingleBlock,
)
from tagd.protocols.iso15693.frames import (
    NXP,
    WRITE_ALIKE,
    Command,
    Cursor,
    InventoryFlag,
    RequestFlag,
    UnsupportedCommandError,
)
from tagd.protocols.iso15693.nxp import (
    EasAlarm,
    GetRandomNumber,
    LockEas,
    LockPassword,
    PasswordProtectEasAfi,
    ResetEas,
    SetEas,
    SetPassword,
    WritePassword,
)
from tagd.protocols.iso15693.uid import check_uid, uid_from_bytes, uid_to_bytes

RequestBody = (
    Inventory
    | StayQuiet
    | ReadSingleBlock
    | WriteSingleBlock
    | LockBlock
    | ReadMultipleBlocks
    | WriteMultipleBlocks
    | Select
    | ResetToReady
    | WriteAfi
    | LockAfi
    | WriteDsfid
    | LockDsfid
    | GetSystemInfo
    | GetMultipleBlockSecurityStatus
    | SetEas
    | ResetEas
    | LockEas
    | EasAlarm
    | PasswordProtectEasAfi
    | GetRandomNumber
    | SetPassword
    | WritePassword
    | LockPassword
)

_BODIES: dict[Command, type[RequestBody]] = {body.command: body for body in get_args(RequestBody)}


@dataclass(frozen=True)
class Request:
    """One request: its body, the UID when addressed (None: all tags, or the selected one), and link flags."""

    body: RequestBody
    uid: int | None = None
    select: bool = False
    option: bool = False
    high_data_rate: bool = True
    two_subcarriers: bool = False
    protocol_extension: bool = False

    def __post_init__(self) -> None:
        name = self.command.name
        if self.uid is not None:
            check_uid(self.uid)
        if isinstance(self.body, Inventory) and (self.uid is not None or self.select):
            raise ProtocolError("an inventory is neither addressed nor selected: the mask picks the tags")
        if self.uid is not None and self.select:
            raise ProtocolError(f"a {name} request is addressed or selected, not both")
        if isinstance(self.body, StayQuiet | Select) and self.uid is None:
            raise ProtocolError(f"a {name} request must be addressed: it names the tag by its UID")
        if isinstance(self.body, EasAlarm) and self.option != (self.body.eas_id_mask_len is not None):
            raise ProtocolError(
                "the option flag of an EAS alarm is set exactly when it carries an EAS ID mask"
            )

    @property
    def command(self) -> Command:
        return self.body.command

    @property
    def waits_for_eof(self) -> bool:
        """A write-alike request with the option flag: the tag answers only after the reader's next EOF."""
        return self.option and self.command in WRITE_ALIKE

    def flags(self) -> int:
        """The flags byte, read with ISO/IEC 15693-3 table 4 or, for an inventory, table 5."""
        link = (
            (RequestFlag.TWO_SUBCARRIERS if self.two_subcarriers else 0)
            | (RequestFlag.HIGH_DATA_RATE if self.high_data_rate else 0)
            | (RequestFlag.PROTOCOL_EXTENSION if self.protocol_extension else 0)
            | (RequestFlag.OPTION if self.option else 0)
        )
        if isinstance(self.body, Inventory):
            afi = InventoryFlag.AFI if self.body.afi is not None else 0
            return (
                link | InventoryFlag.INVENTORY | afi | (InventoryFlag.ONE_SLOT if self.body.one_slot else 0)
            )
        return (
            link
            | (RequestFlag.SELECT if self.select else 0)
            | (RequestFlag.ADDRESSED if self.uid is not None else 0)
        )


def encode_request(request: Request) -> bytes:
    """Flags, command, [IC manufacturer], [UID, LSB first], parameters; no CRC."""
    head = bytes([request.flags(), request.command]) + (bytes([NXP]) if request.command.is_custom else b"")
    uid = b"" if request.uid is None else uid_to_bytes(request.uid)
    return head + uid + request.body.params()


def decode_request(frame: bytes) -> Request:
    """The typed request in a frame without CRC; ProtocolError (UnsupportedCommandError) otherwise."""
    cursor = Cursor(frame, "request")
    flags, code = cursor.byte("flags"), cursor.byte("command code")
    if flags & RequestFlag.RFU:
        raise ProtocolError(f"request flags 0x{flags:02X} set the RFU bit 0x80")
    try:
        command = Command(code)
    except ValueError:
        raise UnsupportedCommandError(
            f"command 0x{code:02X} is not supported", flags=flags, command=code
        ) from None
    if command.is_custom:
        maker = cursor.byte("IC manufacturer code")
        if maker != NXP:
            raise UnsupportedCommandError(
                f"custom command 0x{code:02X} is for IC manufacturer 0x{maker:02X}, not NXP",
                flags=flags,
                command=code,
                manufacturer=maker,
            )
    inventory = bool(flags & RequestFlag.INVENTORY)
    if inventory != (command is Command.INVENTORY):
        state = "set" if inventory else "clear"
        raise ProtocolError(f"the inventory flag (0x04) is {state} on a {command.name} request")
    addressed = not inventory and bool(flags & RequestFlag.ADDRESSED)
    uid = uid_from_bytes(cursor.take(8, "UID")) if addressed else None
    body = _BODIES[command].parse(cursor, flags)
    cursor.end()
    return Request(
        body,
        uid=uid,
        select=not inventory and bool(flags & RequestFlag.SELECT),
        option=bool(flags & RequestFlag.OPTION),
        high_data_rate=bool(flags & RequestFlag.HIGH_DATA_RATE),
        two_subcarriers=bool(flags & RequestFlag.TWO_SUBCARRIERS),
        protocol_extension=bool(flags & RequestFlag.PROTOCOL_EXTENSION),
    )
