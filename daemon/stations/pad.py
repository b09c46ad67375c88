"""What is on a station's pad: the debounced tags and what each carries, read once per presence.

The checkout and checkin stations poll it. A tag is read when it arrives (not on every inventory), so a
stack of books costs one read each. A tag that slips away mid-read is read again at the next poll while it
is still there, up to `read_attempts` times, and then reported as unreadable with the reason: it is never
silently left out, and a tag that leaves before it was read was never reported, so it needs no removal.
"""

from dataclasses import dataclass

from tagd.daemon.config.sections import Security
from tagd.daemon.logs import get_logger
from tagd.daemon.stations.presence import Presence
from tagd.daemon.stations.tag_read import TagRead, read_tag
from tagd.drivers.base import Reader, TagLost
from tagd.protocols.events import ItemDetected, ItemRemoved, TagContent
from tagd.protocols.iso15693 import format_uid
from tagd.protocols.profiles import ProfileSet

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PadChanges:
    """One poll's outcome: tags now reported on the pad (read) and reported tags that left it."""

    arrived: list[TagRead]
    left: list[TagRead]


class Pad:
    """The tags on one reader's pad. Call `poll` with the reader held; it raises ReaderLost only."""

    def __init__(
        self, profiles: ProfileSet, *, arrive_after: float, leave_after: float, read_attempts: int = 3
    ) -> None:
        self.profiles = profiles
        self.presence = Presence(arrive_after=arrive_after, leave_after=leave_after)
        self.read_attempts = read_attempts
        self.tags: dict[int, TagRead] = {}
        """The tags reported on the pad, by UID."""
        self._unread: dict[int, int] = {}
        """Present tags not read yet: failed attempts so far."""

    async def poll(self, reader: Reader, now: float) -> PadChanges:
        """One inventory: debounce it, read the tags that arrived (or still wait to be read)."""
        seen = {tag.uid for tag in await reader.inventory()}
        changes = self.presence.update(seen, now)
        left = [self.tags.pop(uid) for uid in changes.left if uid in self.tags]
        for uid in changes.left:
            if self._unread.pop(uid, None) is not None:
                log.info("pad.left_unread", uid=format_uid(uid))
        for uid in changes.arrived:
            self._unread[uid] = 0
        arrived = []
        for uid in [uid for uid in self._unread if uid in seen]:
            found = await self._read(reader, uid)
            if found is not None:
                del self._unread[uid]
                self.tags[uid] = found
                arrived.append(found)
        return PadChanges(arrived, left)

    async def _read(self, reader: Reader, uid: int) -> TagRead | None:
        try:
            return await read_tag(reader, uid, self.profiles)
        except TagLost as exc:
            self._unread[uid] += 1
            if self._unread[uid] < self.read_attempts:
                log.info("pad.read_retry", uid=format_uid(uid), error=str(exc))
                return None
            problem = f"{exc} ({self.read_attempts} attempts)"
            return TagRead(uid, TagContent.UNREADABLE, problem=problem)

    def find(self, ref: str) -> list[TagRead]:
        """The tags on the pad for a command's item reference: an item id (all its parts) or a UID."""
        if len(ref) == 9:
            return [tag for tag in self.tags.values() if tag.item_id == ref]
        return [tag for uid, tag in self.tags.items() if format_uid(uid) == ref]


def detected(reader: str, tag: TagRead, security: Security) -> ItemDetected:
    """The item.detected event for a tag that arrived; `secured` from its AFI when it is a known value."""
    data, profile = tag.data, tag.profile
    secured = (
        None if tag.afi is None else {security.afi_secured: True, security.afi_on_loan: False}.get(tag.afi)
    )
    return ItemDetected(
        reader=reader,
        uid=format_uid(tag.uid),
        content=tag.content,
        item_id=tag.item_id,
        product=profile.product if profile is not None else None,
        profile=profile.name if profile is not None else None,
        isil=data.isil if data is not None else None,
        part=data.part if data is not None else 1,
        parts=data.parts if data is not None else 1,
        secured=secured,
    )


def removed(reader: str, tag: TagRead) -> ItemRemoved:
    return ItemRemoved(reader=reader, uid=format_uid(tag.uid), item_id=tag.item_id)
