"""What `tagd reader` finds out about one tag: its product, memory, security and decoded item.

Every question is asked separately and a failure is kept as its reason, so that one unreadable tag or one
command a reader lacks never hides what else is known. Only ReaderLost ends the whole run.
"""

import inspect
from collections.abc import Awaitable, Callable  # noqa: TC003 - cast() names them at run time
from dataclasses import dataclass, field
from typing import Protocol, cast, runtime_checkable

from tagd.drivers.base import DriverError, Reader, ReaderLost
from tagd.protocols import iso28560
from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import SystemInfo, manufacturer_name, nxp_chip
from tagd.protocols.profiles import ProfileSet, TagProfile


@runtime_checkable
class BlockSecurityReader(Protocol):
    """A reader that can ask for block lock status (Iso15693Host does); the Reader interface cannot."""

    async def block_security(self, uid: int, first: int, count: int) -> list[bool]: ...


@dataclass
class TagReport:
    """One tag's facts; a None value comes with the reason in the matching `*_error` (or note)."""

    uid: int
    info: SystemInfo | None = None
    info_error: str | None = None
    profile: TagProfile | None = None
    profile_error: str | None = None
    blocks: list[bytes] | None = None
    blocks_error: str | None = None
    locks: list[bool] | None = None
    locks_error: str | None = None
    eas: bool | None = None
    eas_note: str | None = None
    item: iso28560.TagData | None = None
    item_error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def chip(self) -> str:
        chip = nxp_chip(self.uid)
        return manufacturer_name(self.uid) + (f" {chip.value}" if chip is not None else "")

    @property
    def block_size(self) -> int | None:
        if self.info is not None and self.info.block_size is not None:
            return self.info.block_size
        return None if self.profile is None else self.profile.recognition.block_size


def _reason(exc: DriverError) -> str:
    """Why one question about one tag failed; ReaderLost is no such answer: it ends the whole run."""
    if isinstance(exc, ReaderLost):
        raise exc
    return str(exc) or type(exc).__name__


async def report(reader: Reader, uid: int, profiles: ProfileSet, *, detailed: bool = False) -> TagReport:
    """Asks the tag what inventory (or, `detailed`, dump) shows; raises only ReaderLost."""
    found = TagReport(uid)
    try:
        found.info = await reader.system_info(uid)
    except DriverError as exc:
        found.info_error = _reason(exc)
    memory = (None, None) if found.info is None else (found.info.block_count, found.info.block_size)
    try:
        found.profile = profiles.identify(uid, *memory)
    except ProtocolError as exc:
        found.profile_error = str(exc)
    await _read_memory(reader, found)
    if found.blocks is not None:
        first = 0 if found.profile is None else found.profile.writing.first_block
        size = found.block_size or 0
        try:
            found.item = iso28560.decode(b"".join(found.blocks)[first * size :])
        except ProtocolError as exc:
            found.item_error = str(exc)
    else:
        found.item_error = f"memory not read: {found.blocks_error}"
    if detailed:
        await _read_locks(reader, found)
    return found


async def _read_memory(reader: Reader, found: TagReport) -> None:
    count = found.info.block_count if found.info is not None else None
    if count is None and found.profile is not None:
        count = found.profile.recognition.block_count
        found.notes.append(f"memory size from profile {found.profile.name}: the tag did not report it")
    if count is None:
        found.blocks_error = "memory size unknown (no system info and no profile)"
        return
    try:
        found.blocks = await reader.read_blocks(found.uid, 0, count)
    except DriverError as exc:
        found.blocks_error = _reason(exc)


async def _read_locks(reader: Reader, found: TagReport) -> None:
    if not isinstance(reader, BlockSecurityReader):
        found.locks_error = "this reader cannot ask for block security status"
        return
    if found.blocks is None:
        found.locks_error = "memory not read"
        return
    try:
        found.locks = await reader.block_security(found.uid, 0, len(found.blocks))
    except DriverError as exc:
        found.locks_error = _reason(exc)


def addresses_eas_alarm(reader: Reader) -> bool:
    """Can this reader ask one tag for its EAS alarm (an `eas_alarm(uid)`), not only the whole field?"""
    return "uid" in inspect.signature(reader.eas_alarm).parameters


async def eas_state(reader: Reader, uid: int, field_uids: list[int] | None) -> tuple[bool | None, str | None]:
    """The tag's EAS, addressed when the reader can; else the field's alarm when the tag is alone in it."""
    try:
        if addresses_eas_alarm(reader):
            addressed = cast("Callable[[int], Awaitable[bool]]", reader.eas_alarm)
            return await addressed(uid), None
        if field_uids == [uid]:
            return await reader.eas_alarm(), "the field's alarm: this tag is alone in it"
    except DriverError as exc:
        return None, _reason(exc)
    return None, "this reader asks the whole field, and the tag is not alone in it"
