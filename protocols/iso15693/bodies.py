"""Bodies of the ISO/IEC 15693-3 requests: one frozen dataclass per command, with its parameter bytes.

Each body knows its command, validates its values, and writes (params) or reads (parse) what follows the
request header; the header itself (flags, command, UID) is requests' business.
"""

from dataclasses import dataclass
from typing import ClassVar, Self

from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693.frames import MAX_BLOCK_SIZE, Command, Cursor, InventoryFlag, check_byte


def _check_blocks(first: int, count: int) -> None:
    check_byte(first, "first block number")
    if not 1 <= count <= 256:
        raise ProtocolError(f"a request covers 1 to 256 blocks, not {count}")


@dataclass(frozen=True)
class NoParams:
    """Commands whose request carries nothing after the header."""

    def params(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, cursor: Cursor, flags: int) -> Self:  # noqa: ARG003 - one signature for every body
        return cls()


@dataclass(frozen=True)
class Inventory:
    """Tags whose AFI matches and whose UID ends in the mask's bits answer, in 1 slot or 16."""

    command: ClassVar[Command] = Command.INVENTORY
    afi: int | None = None
    mask_len: int = 0
    mask: int = 0
    one_slot: bool = False

    def __post_init__(self) -> None:
        if self.afi is not None:
            check_byte(self.afi, "AFI")
        longest = 64 if self.one_slot else 60
        if not 0 <= self.mask_len <= longest:
            raise ProtocolError(
                f"a {self.slots}-slot inventory mask is 0 to {longest} bits, not {self.mask_len}"
            )
        if not 0 <= self.mask < 1 << self.mask_len:
            raise ProtocolError(f"mask {self.mask:#x} has bits beyond its length of {self.mask_len}")

    @property
    def slots(self) -> int:
        return 1 if self.one_slot else 16

    def params(self) -> bytes:
        afi = b"" if self.afi is None else bytes([self.afi])
        return afi + bytes([self.mask_len]) + self.mask.to_bytes((self.mask_len + 7) // 8, "little")

    @classmethod
    def parse(cls, cursor: Cursor, flags: int) -> Self:
        afi = cursor.byte("AFI") if flags & InventoryFlag.AFI else None
        mask_len = cursor.byte("mask length")
        mask = int.from_bytes(cursor.take((mask_len + 7) // 8, "mask value"), "little")
        return cls(afi, mask_len, mask, one_slot=bool(flags & InventoryFlag.ONE_SLOT))


@dataclass(frozen=True)
class _Block:
    """Commands that name one block."""

    block: int

    def __post_init__(self) -> None:
        check_byte(self.block, "block number")

    def params(self) -> bytes:
        return bytes([self.block])

    @classmethod
    def parse(cls, cursor: Cursor, flags: int) -> Self:  # noqa: ARG003 - one signature for every body
        return cls(cursor.byte("block number"))


@dataclass(frozen=True)
class _Range:
    """Commands that name a run of blocks; the frame carries the count minus one."""

    first: int
    count: int

    def __post_init__(self) -> None:
        _check_blocks(self.first, self.count)

    def params(self) -> bytes:
        return bytes([self.first, self.count - 1])

    @classmethod
    def parse(cls, cursor: Cursor, flags: int) -> Self:  # noqa: ARG003 - one signature for every body
        return cls(cursor.byte("first block number"), cursor.byte("number of blocks") + 1)


@dataclass(frozen=True)
class StayQuiet(NoParams):
    command: ClassVar[Command] = Command.STAY_QUIET


@dataclass(frozen=True)
class ReadSingleBlock(_Block):
    command: ClassVar[Command] = Command.READ_SINGLE_BLOCK


@dataclass(frozen=True)
class WriteSingleBlock:
    command: ClassVar[Command] = Command.WRITE_SINGLE_BLOCK
    block: int
    data: bytes

    def __post_init__(self) -> None:
        check_byte(self.block, "block number")
        if not 1 <= len(self.data) <= MAX_BLOCK_SIZE:
            raise ProtocolError(f"a block is 1 to {MAX_BLOCK_SIZE} bytes, not {len(self.data)}")

    def params(self) -> bytes:
        return bytes([self.block]) + self.data

    @classmethod
    def parse(cls, cursor: Cursor, flags: int) -> Self:  # noqa: ARG003 - one signature for every body
        return cls(cursor.byte("block number"), cursor.rest())


@dataclass(frozen=True)
class LockBlock(_Block):
    command: ClassVar[Command] = Command.LOCK_BLOCK


@dataclass(frozen=True)
class ReadMultipleBlocks(_Range):
    command: ClassVar[Command] = Command.READ_MULTIPLE_BLOCKS


@dataclass(frozen=True)
class WriteMultipleBlocks:
    command: ClassVar[Command] = Command.WRITE_MULTIPLE_BLOCKS
    first: int
    count: int
    data: bytes

    def __post_init__(self) -> None:
        _check_blocks(self.first, self.count)
        size, extra = divmod(len(self.data), self.count)
        if extra or not 1 <= size <= MAX_BLOCK_SIZE:
            raise ProtocolError(
                f"{len(self.data)} data bytes are not {self.count} block(s) of 1 to {MAX_BLOCK_SIZE} bytes"
            )

    @property
    def block_size(self) -> int:
        return len(self.data) // self.count

    def params(self) -> bytes:
        return bytes([self.first, self.count - 1]) + self.data

    @classmethod
    def parse(cls, cursor: Cursor, flags: int) -> Self:  # noqa: ARG003 - one signature for every body
        first, count = cursor.byte("first block number"), cursor.byte("number of blocks") + 1
        return cls(first, count, cursor.rest())


@dataclass(frozen=True)
class Select(NoParams):
    command: ClassVar[Command] = Command.SELECT


@dataclass(frozen=True)
class ResetToReady(NoParams):
    command: ClassVar[Command] = Command.RESET_TO_READY


@dataclass(frozen=True)
class WriteAfi:
    command: ClassVar[Command] = Command.WRITE_AFI
    afi: int

    def __post_init__(self) -> None:
        check_byte(self.afi, "AFI")

    def params(self) -> bytes:
        return bytes([self.afi])

    @classmethod
    def parse(cls, cursor: Cursor, flags: int) -> Self:  # noqa: ARG003 - one signature for every body
        return cls(cursor.byte("AFI"))


@dataclass(frozen=True)
class LockAfi(NoParams):
    command: ClassVar[Command] = Command.LOCK_AFI


@dataclass(frozen=True)
class WriteDsfid:
    command: ClassVar[Command] = Command.WRITE_DSFID
    dsfid: int

    def __post_init__(self) -> None:
        check_byte(self.dsfid, "DSFID")

    def params(self) -> bytes:
        return bytes([self.dsfid])

    @classmethod
    def parse(cls, cursor: Cursor, flags: int) -> Self:  # noqa: ARG003 - one signature for every body
        return cls(cursor.byte("DSFID"))


@dataclass(frozen=True)
class LockDsfid(NoParams):
    command: ClassVar[Command] = Command.LOCK_DSFID


@dataclass(frozen=True)
class GetSystemInfo(NoParams):
    command: ClassVar[Command] = Command.GET_SYSTEM_INFO


@dataclass(frozen=True)
class GetMultipleBlockSecurityStatus(_Range):
    command: ClassVar[Command] = Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS
