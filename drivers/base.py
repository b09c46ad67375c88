"""The one small driver interface every reader, scanner and card reader meets, and its typed errors."""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tagd.protocols.iso15693 import (
    ErrorCode,
    InventoryResponse,
    PasswordId,
    SystemInfo,
    error_code,
    format_uid,
)


class DriverError(Exception):
    """Base of what a driver raises; anything else escaping a driver is a bug."""


class DriverUrlError(DriverError):
    """A driver URL (from config or the command line) that its driver cannot use; the message says why."""


class TagLost(DriverError):  # noqa: N818 - the contract's name
    """The tag did not answer: it left the field, or never was there."""

    def __init__(self, uid: int | None, detail: str = "no answer") -> None:
        self.uid = uid
        where = format_uid(uid) if uid is not None else "the field"
        super().__init__(f"tag lost ({where}): {detail}")


class TagError(DriverError):
    """The tag answered with an ISO 15693 error code (or the reader reported one for it)."""

    def __init__(self, code: int, uid: int | None = None) -> None:
        self.code: ErrorCode | int = error_code(code)
        self.uid = uid
        name = self.code.name.lower() if isinstance(self.code, ErrorCode) else "unknown"
        super().__init__(f"tag error 0x{code:02X} ({name})")


class PasswordRefused(TagLost):
    """The tag gave a random number, then fell silent at Set Password: an NXP tag's answer to a wrong
    password. It then ignores every command until it leaves the field (or the tag left just then)."""

    def __init__(self, uid: int) -> None:
        super().__init__(uid, "silent after Set Password: a wrong password, or the tag left")


class ReaderLost(DriverError):  # noqa: N818 - the contract's name
    """The reader is gone (unplugged, port closed, connection reset); reopen it to go on."""


@dataclass(frozen=True)
class CardRead:
    """A patron card presented to a card reader: the technology and its identifier in hex."""

    technology: str
    identifier: str


@runtime_checkable
class Reader(Protocol):
    """An ISO 15693 reader; UIDs are ints (display them with format_uid), blocks are bytes each."""

    url: str

    async def inventory(self, afi: int | None = None) -> list[InventoryResponse]: ...
    async def system_info(self, uid: int) -> SystemInfo: ...
    async def read_blocks(self, uid: int, first: int, count: int) -> list[bytes]: ...
    async def write_blocks(self, uid: int, first: int, blocks: Sequence[bytes]) -> None: ...
    async def lock_blocks(self, uid: int, first: int, count: int) -> None: ...
    async def write_afi(self, uid: int, afi: int) -> None: ...
    async def set_eas(self, uid: int) -> None: ...
    async def reset_eas(self, uid: int) -> None: ...
    async def eas_alarm(self) -> bool: ...
    # NXP ICODE passwords (SLIX, SLIX2, SLIX-S, SLIX-L) guard EAS and the AFI from phones. set_password gives
    # one for this power-on session (Get Random Number, then Set Password XORed with it), PasswordRefused when
    # the tag goes silent at it; a password written must be given before it grants anything; protect_eas_afi
    # makes EAS (or, with afi, the AFI) need the EAS/AFI password from now on.
    async def set_password(self, uid: int, password_id: PasswordId | int, password: int) -> None: ...
    async def write_password(self, uid: int, password_id: PasswordId | int, password: int) -> None: ...
    async def protect_eas_afi(self, uid: int, *, afi: bool) -> None: ...
    async def close(self) -> None: ...


class Scanner(Protocol):
    """A barcode scanner: raw scans as the device sent them (parsing is protocols.nw7's job)."""

    url: str

    def __aiter__(self) -> AsyncIterator[str]: ...
    async def close(self) -> None: ...


class CardReader(Protocol):
    """A patron card reader."""

    url: str

    def __aiter__(self) -> AsyncIterator[CardRead]: ...
    async def close(self) -> None: ...
