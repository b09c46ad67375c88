"""What a tag on a pad is and carries: its profile, its AFI and its decoded item, or why there is none.

Shared by the checkout, gate and checkin stations. A tag that answers but holds nothing usable (blank,
another vendor's layout, a bad CRC) is a finding with its reason, not an error: the station reports it.
Only a tag that stops answering (TagLost) or a lost reader (ReaderLost) is raised, because only the
caller knows whether to try again.
"""

import re
from dataclasses import dataclass

from tagd.drivers.base import Reader, TagError
from tagd.protocols import iso28560
from tagd.protocols.events import TagContent
from tagd.protocols.iso15693 import SystemInfo
from tagd.protocols.profiles import ProfileSet, TagProfile, UnknownTag

_ITEM_ID = re.compile(r"[0-9]{9}")
BASIC_BLOCK_BYTES = iso28560.BASIC_BLOCK
"""Enough of the memory for the item id of either data model: the gate reads only this much."""


@dataclass(frozen=True, slots=True)
class TagRead:
    """One tag as read. `data` and `item_id` are set when `content` is ITEM; `problem` says why not."""

    uid: int
    content: TagContent
    data: iso28560.TagData | None = None
    profile: TagProfile | None = None
    afi: int | None = None
    problem: str | None = None

    @property
    def item_id(self) -> str | None:
        return None if self.data is None else self.data.item_id


def content_of(memory: bytes) -> tuple[TagContent, iso28560.TagData | None, str | None]:
    """Decodes tag memory read from the profile's first block: what it holds, the data, or the reason."""
    try:
        data = iso28560.decode(memory)
    except iso28560.BlankTagError as exc:
        return TagContent.BLANK, None, str(exc)
    except (iso28560.ForeignFormatError, iso28560.UnknownModelError) as exc:
        return TagContent.FOREIGN, None, str(exc)
    except iso28560.Iso28560Error as exc:
        return TagContent.UNREADABLE, None, str(exc)
    if not _ITEM_ID.fullmatch(data.item_id):
        return TagContent.FOREIGN, None, f"item id {data.item_id!r} is not a 9-digit registration number"
    return TagContent.ITEM, data, None


def profile_of(profiles: ProfileSet, uid: int, info: SystemInfo | None = None) -> TagProfile | None:
    """The tag's profile, from its UID and (when known) its memory size; None when no profile fits."""
    memory = (None, None) if info is None else (info.block_count, info.block_size)
    try:
        return profiles.identify(uid, *memory)
    except UnknownTag:
        return None


async def read_tag(reader: Reader, uid: int, profiles: ProfileSet) -> TagRead:
    """System info, profile and whole memory of one tag. Raises TagLost and ReaderLost only."""
    try:
        info = await reader.system_info(uid)
    except TagError as exc:
        return TagRead(uid, TagContent.UNREADABLE, problem=f"system info refused: {exc}")
    profile = profile_of(profiles, uid, info)
    block_count = info.block_count or (profile.recognition.block_count if profile else None)
    if block_count is None:
        unknown = "the tag reports no memory size and no tag profile knows it"
        return TagRead(uid, TagContent.UNREADABLE, profile=profile, afi=info.afi, problem=unknown)
    first = profile.writing.first_block if profile is not None else 0
    try:
        blocks = await reader.read_blocks(uid, first, block_count - first)
    except TagError as exc:
        refused = f"memory read refused: {exc}"
        return TagRead(uid, TagContent.UNREADABLE, profile=profile, afi=info.afi, problem=refused)
    content, data, problem = content_of(b"".join(blocks))
    return TagRead(uid, content, data, profile, info.afi, problem)


async def read_item_id(reader: Reader, uid: int, profiles: ProfileSet) -> str | None:
    """The item id from the first bytes of the memory only (one read), for the gate; None if unreadable.

    The profile is found from the UID alone, so no system info is asked for. Raises TagLost, ReaderLost.
    """
    profile = profile_of(profiles, uid)
    size = profile.recognition.block_size if profile is not None else 4
    first = profile.writing.first_block if profile is not None else 0
    count = -(-BASIC_BLOCK_BYTES // size)
    if profile is not None:
        count = min(count, profile.recognition.block_count - first)
    try:
        blocks = await reader.read_blocks(uid, first, count)
    except TagError:
        return None
    content, data, _ = content_of(b"".join(blocks))
    return data.item_id if content is TagContent.ITEM and data is not None else None
