"""The exit gate: alarms on secured items passing, once per tag per `gate.alarm_repeat_seconds`.

The alarm comes first, the item after it:
1. Each round is one inventory filtered on the secured AFI, opened with one slot where the reader can
   (tags mostly come one by one; two at once make it a 16-slot search), and, when `security.eas` is on
   and no secured AFI answered, one EAS alarm request (at most once a `gate.poll_seconds`). A tag's answer
   is the alarm: `gate.alarm` with its UID is stored at once (alarms of one round in one outbox commit,
   on its own task, so the next round does not wait for the disk).
2. The tag is then told to Stay Quiet (when the reader can send it), so a tag already alarmed about no
   longer answers the next rounds while it is in the field: a crowd of books costs each one answer.
3. After a round that found no new tag, one alarmed tag is read (its basic block, for the item id),
   newest first (the likeliest to be in the field still), and `gate.identified` follows with the alarm's
   id, the item and its title. A round never waits for more than one such read, the air time of that
   exchange; while tags keep arriving, rounds follow each other and reads wait. A tag alarmed more than
   IDENTIFY_SECONDS ago is not read any more (it has most likely gone; reading it would only spend air),
   and while more than CROWD alarms came in that time, none is read: the air goes to the alarms.
4. The gate pauses `gate.poll_seconds` only after a round with nothing to do and no alarm within
   IDENTIFY_SECONDS (while patrons pass, the next round follows at once); when a tag's repeat time is
   over, an idle round sends it Reset to Ready: a tag still lying in the gate then answers again and
   alarms again, as it did before Stay Quiet, and a gone one is forgotten.

When the EAS alarm sounds for a tag the AFI missed, the field is searched for it so the alarm still names the
tag when it can. Parts of one item alarm by their own UIDs; once identified, a part's item quiets its other
parts for the item's repeat time.
"""

import asyncio
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from tagd.daemon.logs import get_logger
from tagd.daemon.stations.base import READER, Station, StationContext
from tagd.daemon.stations.securing import addressed_eas_alarm
from tagd.daemon.stations.tag_read import read_item_id
from tagd.daemon.store.outbox import OutboxFull
from tagd.drivers.base import DriverError, Reader, ReaderLost, TagLost
from tagd.drivers.iso15693_host import CorruptReply
from tagd.protocols.display import DisplayCode, DisplayState
from tagd.protocols.events import DetectedBy, Envelope, GateAlarm, GateIdentified
from tagd.protocols.iso15693 import InventoryResponse, format_uid

__all__ = ["GateStation"]

log = get_logger(__name__)

EAS_ONLY = "eas"
"""The quiet-list key of an EAS alarm no tag in the field could be found for."""
PRUNE_AT = 256
"""Quiet-list entries kept before the expired ones are dropped."""
T = TypeVar("T")
IDENTIFY_SECONDS = 0.5
"""An alarmed tag not read by then is left unidentified: a patron's book is in the read zone about 0.5 s."""
CROWD = 20
"""Alarms within IDENTIFY_SECONDS beyond which reads stop until the crowd thins (40 tags/s). Each tag then
costs at least ~26 ms of air with its read (docs/performance.md, gate): more tags than the air can read,
and reading some would only make the gate miss others' alarms."""


@runtime_checkable
class Quieting(Protocol):
    """A reader that can mute one tag for inventories and wake it again (ISO 15693 Stay Quiet, Reset to
    Ready), and open an inventory with one slot: the host-protocol readers (drivers.iso15693_host) can; the
    Reader interface does not promise it."""

    async def stay_quiet(self, uid: int) -> None: ...
    async def reset_to_ready(self, uid: int) -> None: ...
    async def inventory(
        self, afi: int | None = None, *, one_slot_first: bool = False
    ) -> list[InventoryResponse]: ...


@dataclass
class Unread:
    """An alarm raised on a UID whose item is still to be read."""

    stored: "asyncio.Task[list[Envelope | None]]"
    """The alarms' commit; its result holds this alarm's envelope (None if it was not stored)."""
    index: int
    seen: float


class GateStation(Station):
    def __init__(self, context: StationContext) -> None:
        super().__init__(context)
        self._quiet: dict[int | str, float] = {}
        """UIDs, item ids and EAS_ONLY alarmed about recently: until when they stay quiet."""
        self._muted: dict[int, float] = {}
        """UIDs told to Stay Quiet: when their repeat time ends (then an idle round wakes them)."""
        self._unread: dict[int, Unread] = {}
        """Alarmed tags to identify, in the order of their alarms."""
        self._items: dict[int, str] = {}
        """Item ids read at this gate, by UID, while the UID is on the quiet list: a repeat alarm names it."""
        self._storing: set[asyncio.Task[object]] = set()
        """Alarms and identifications being stored: awaited when the station stops."""
        self._unreported: str | None = None
        """Why the last alarms were not stored, for the display ("" when they were)."""
        self._eas_next = 0.0
        """When the next EAS alarm request may go out."""
        self._recent: deque[float] = deque()
        """When the alarms of the last IDENTIFY_SECONDS were raised."""

    async def run(self) -> None:
        poll = self.config.gate.poll_seconds
        try:
            while True:
                try:
                    async with self.use_reader() as reader:
                        busy = await self.round(reader, time.monotonic())
                except ReaderLost:
                    continue  # reported by use_reader; the next use waits for the reader to come back
                await asyncio.sleep(0 if busy else poll)
        finally:
            if self._storing:  # alarms already raised are stored before the station stops
                await asyncio.gather(*self._storing, return_exceptions=True)

    async def round(self, reader: Reader, now: float) -> bool:
        """One inventory round and its alarms; when it found no tag, one read or one wake-up: is there more
        to do at once? Raises ReaderLost only."""
        alarms = await self.look(reader, now)
        quieting = reader if isinstance(reader, Quieting) else None
        if alarms:
            self._raise(alarms, now)
            if quieting is not None:
                for alarm in alarms:
                    if alarm.uid is not None:
                        await self._mute(quieting, int(alarm.uid, 16), now)
            return True  # tags arriving: inventory again before reading any of them
        while self._recent and now - self._recent[0] > IDENTIFY_SECONDS:
            self._recent.popleft()
        if await self._identify(reader, now):
            return True
        if quieting is None:
            return False
        # While patrons are passing (an alarm within IDENTIFY_SECONDS), the next tag is sought at once.
        return await self._wake_one(quieting, now) or bool(self._recent)

    async def look(self, reader: Reader, now: float) -> list[GateAlarm]:
        """The inventory (and EAS) part of a round: the alarms to raise now. Raises ReaderLost only."""
        found = await self._inventory(reader)
        if not found and self._eas_due(now) and await reader.eas_alarm():
            found = await self._inventory(reader)  # a secured tag may have come in since: ask it first
            if not found:
                return await self._eas_search(reader, now)
        alarms = []
        for tag in found:
            alarm = self._alarm(tag.uid, DetectedBy.AFI, now)
            if alarm is not None:
                alarms.append(alarm)
            elif isinstance(reader, Quieting):
                await self._mute(reader, tag.uid, now)  # back in the field within its repeat time
        return alarms

    def _eas_due(self, now: float) -> bool:
        """The EAS alarm request goes out at most once a `gate.poll_seconds`, however fast rounds follow."""
        if not self.config.security.eas or now < self._eas_next:
            return False
        self._eas_next = now + self.config.gate.poll_seconds
        return True

    async def _inventory(self, reader: Reader) -> list[InventoryResponse]:
        """The secured AFI's tags; one slot first where the reader can (tags mostly come one by one)."""
        afi = self.config.security.afi_secured
        if isinstance(reader, Quieting):
            return await reader.inventory(afi, one_slot_first=True)
        return await reader.inventory(afi)

    def _alarm(self, uid: int, by: DetectedBy, now: float) -> GateAlarm | None:
        if self._quiet.get(uid, 0.0) > now:
            return None
        self._quiet[uid] = now + self.config.gate.alarm_repeat_seconds
        item_id = self._items.get(uid)  # known from an earlier alarm: no read needed
        return GateAlarm(reader=READER, uid=format_uid(uid), item_id=item_id, detected_by=by)

    async def _eas_search(self, reader: Reader, now: float) -> list[GateAlarm]:
        """The EAS alarm sounded and no secured AFI answered: which tag is it (when the reader can ask)?"""
        eas_of = addressed_eas_alarm(reader)
        alarms: list[GateAlarm | None] = []
        if eas_of is not None:
            for tag in await reader.inventory():
                if self._quiet.get(tag.uid, 0.0) > now:
                    alarms.append(None)  # known, already alarmed about
                    continue
                try:
                    sounding = await eas_of(tag.uid)
                except TagLost:
                    continue
                if sounding:
                    alarms.append(self._alarm(tag.uid, DetectedBy.EAS, now))
        if not alarms and self._quiet.get(EAS_ONLY, 0.0) <= now:
            self._quiet[EAS_ONLY] = now + self.config.gate.alarm_repeat_seconds
            return [GateAlarm(reader=READER, detected_by=DetectedBy.EAS)]
        return [alarm for alarm in alarms if alarm is not None]

    async def _mute(self, reader: Quieting, uid: int, now: float) -> None:
        await reader.stay_quiet(uid)  # no tag answers Stay Quiet: nothing to wait for, nothing lost
        self._muted[uid] = max(self._quiet.get(uid, now), now)

    async def _identify(self, reader: Reader, now: float) -> bool:
        """Reads the newest alarmed tag (the likeliest to be in the field still); whether it spent air."""
        for uid in [uid for uid, unread in self._unread.items() if now - unread.seen > IDENTIFY_SECONDS]:
            del self._unread[uid]
            log.info("gate.unidentified", station=self.name, uid=format_uid(uid), reason="not read in time")
        if not self._unread or len(self._recent) > CROWD:
            return False
        uid = next(reversed(self._unread))
        unread = self._unread.pop(uid)
        try:
            item_id = await read_item_id(reader, uid, self.profiles)
        except TagLost:
            item_id = None  # it went through: the alarm stands on its UID
        if item_id is None:
            log.info("gate.unidentified", station=self.name, uid=format_uid(uid), reason="no item read")
            return True
        until = self._quiet.get(uid, now)
        if self._quiet.get(item_id, 0.0) > now:  # another part of an item alarmed about
            self._quiet[uid] = max(until, self._quiet[item_id])
            if uid in self._muted:
                self._muted[uid] = self._quiet[uid]
        else:
            self._quiet[item_id] = until
        self._items[uid] = item_id
        self._spawn(self._follow(unread, uid, item_id))
        return True

    async def _wake_one(self, reader: Quieting, now: float) -> bool:
        """An idle round: one muted tag whose repeat time is over is woken (Reset to Ready); if it is still
        in the field, the next round alarms again. Whether it spent air."""
        due = next((uid for uid, until in self._muted.items() if until <= now), None)
        if due is None:
            return False
        try:
            await reader.reset_to_ready(due)
        except CorruptReply as exc:  # heard, but garbled: still muted, tried again next idle round
            log.info("gate.wake_failed", station=self.name, uid=format_uid(due), error=str(exc))
            return True
        except TagLost:
            self._items.pop(due, None)  # gone through the gate long ago
        except ReaderLost:
            raise  # still muted: woken once the reader is back
        except DriverError as exc:  # a garbled or refused answer: still muted, tried again next idle round
            log.info("gate.wake_failed", station=self.name, uid=format_uid(due), error=str(exc))
            return True
        del self._muted[due]
        return True

    def _raise(self, alarms: list[GateAlarm], now: float) -> None:
        for alarm in alarms:
            log.info(
                "gate.alarm", station=self.name, uid=alarm.uid, item_id=alarm.item_id, by=alarm.detected_by
            )
        # Stamped now, when the tags answered; stored on a task, so the next round need not wait for it.
        stamped = [self.link.reporter.wrap(alarm) for alarm in alarms]
        stored = self._spawn(self._store(stamped))
        self._recent.extend(now for _ in alarms)
        for index, alarm in enumerate(alarms):
            if alarm.uid is not None and alarm.item_id is None:
                self._unread[int(alarm.uid, 16)] = Unread(stored, index, now)

    def _spawn(self, work: Coroutine[object, object, T]) -> "asyncio.Task[T]":
        """Storing runs beside the rounds; the station waits for it only when it stops."""
        task = asyncio.create_task(work)
        self._storing.add(task)
        task.add_done_callback(self._storing.discard)
        return task

    async def _store(self, alarms: list[Envelope]) -> list[Envelope | None]:
        """The round's alarms in one outbox commit; the envelopes (None for one not stored)."""
        outbox = self.link.reporter.outbox
        outcomes = await asyncio.gather(*(outbox.append(alarm) for alarm in alarms), return_exceptions=True)
        self._unreported = None
        stored: list[Envelope | None] = []
        for alarm, outcome in zip(alarms, outcomes, strict=True):
            uid = getattr(alarm.data, "uid", None)
            if isinstance(outcome, OutboxFull):
                log.error("gate.alarm_not_stored", station=self.name, uid=uid, error=str(outcome))
                self._unreported = str(outcome)  # the gate still sounds; staff learn why
            elif isinstance(outcome, BaseException):
                log.error("gate.alarm_not_stored", station=self.name, uid=uid, error=repr(outcome))
            stored.append(None if isinstance(outcome, BaseException) else alarm)
        last = alarms[-1].data
        assert isinstance(last, GateAlarm)
        self._show_alarm(last.uid, last.item_id, count=len(alarms), unreported=self._unreported)
        self._prune()
        return stored

    async def _follow(self, unread: Unread, uid: int, item_id: str) -> None:
        """gate.identified for an alarm, once the alarm itself is stored (so it is published after it)."""
        alarm = (await unread.stored)[unread.index]
        found = self.catalog.lookup(item_id)
        unreported = self._unreported if alarm is None else None
        self._show_alarm(format_uid(uid), item_id, count=1, unreported=unreported)
        if alarm is None:
            return  # the alarm was not stored (logged): there is nothing to follow up
        data = GateIdentified(
            reader=READER,
            alarm_id=alarm.id,
            uid=format_uid(uid),
            item_id=item_id,
            title=found.title if found is not None else None,
        )
        log.info("gate.identified", station=self.name, uid=data.uid, item_id=item_id, alarm_id=alarm.id)
        (outcome,) = await asyncio.gather(self.emit(data), return_exceptions=True)
        if isinstance(outcome, BaseException):
            log.error("gate.identified_not_stored", station=self.name, uid=data.uid, error=str(outcome))

    def _show_alarm(
        self, uid: str | None, item_id: str | None, *, count: int, unreported: str | None
    ) -> None:
        """The alarm at the desk: the item and its title once known (the title from the station catalog)."""
        found = None if item_id is None else self.catalog.lookup(item_id)
        self.display(
            DisplayState.of(
                DisplayCode.GATE_ALARM,
                what=item_id or uid or "EAS",
                item_id=item_id,
                uid=uid,
                title=found.title if found is not None else None,
                count=count,
                not_reported=unreported,
            )
        )

    def _prune(self) -> None:
        if len(self._quiet) <= PRUNE_AT:
            return
        now = time.monotonic()
        for key in [key for key, until in self._quiet.items() if until <= now]:
            del self._quiet[key]
            if isinstance(key, int) and key not in self._muted:
                self._items.pop(key, None)
