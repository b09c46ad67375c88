"""The exit gate: alarms on secured items passing, once per item per `gate.alarm_repeat_seconds`.

Each poll (`gate.poll_seconds`) is one inventory filtered on the secured AFI, so on-loan items and an empty
gate cost a single round with nobody answering; then, when `security.eas` is on and no secured AFI answered,
one EAS alarm request. Only a tag not alarmed about recently is read (one read of its basic block, for the
item id); when the EAS alarm sounds for a tag the AFI missed, the field is searched for it so the alarm
still names the item when it can. Alarms found in one poll are stored together (one outbox commit), so a
crowd passing costs no more than one person.
"""

import asyncio
import time

from tagd.daemon.logs import get_logger
from tagd.daemon.stations.base import READER, Station, StationContext
from tagd.daemon.stations.securing import addressed_eas_alarm
from tagd.daemon.stations.tag_read import read_item_id
from tagd.daemon.store.outbox import OutboxFull
from tagd.drivers.base import Reader, ReaderLost, TagLost
from tagd.protocols.display import DisplayCode, DisplayState
from tagd.protocols.events import DetectedBy, GateAlarm
from tagd.protocols.iso15693 import format_uid

__all__ = ["GateStation"]

log = get_logger(__name__)

EAS_ONLY = "eas"
"""The quiet-list key of an EAS alarm no tag in the field could be found for."""
PRUNE_AT = 256
"""Quiet-list entries kept before the expired ones are dropped."""


class GateStation(Station):
    def __init__(self, context: StationContext) -> None:
        super().__init__(context)
        self._quiet: dict[int | str, float] = {}
        """UIDs, item ids and EAS_ONLY alarmed about recently: until when they stay quiet."""

    async def run(self) -> None:
        poll = self.config.gate.poll_seconds
        while True:
            try:
                async with self.use_reader() as reader:
                    alarms = await self.look(reader, time.monotonic())
            except ReaderLost:
                continue  # reported by use_reader; the next use waits for the reader to come back
            if alarms:
                await self._raise(alarms)
            await asyncio.sleep(poll)

    async def look(self, reader: Reader, now: float) -> list[GateAlarm]:
        """One poll: the alarms to raise now. Raises ReaderLost only."""
        found = await reader.inventory(self.config.security.afi_secured)
        alarms = []
        for tag in found:
            alarm = await self._alarm(reader, tag.uid, DetectedBy.AFI, now)
            if alarm is not None:
                alarms.append(alarm)
        if not found and self.config.security.eas and await reader.eas_alarm():
            alarms += await self._eas_search(reader, now)
        return alarms

    async def _alarm(self, reader: Reader, uid: int, by: DetectedBy, now: float) -> GateAlarm | None:
        if self._quiet.get(uid, 0.0) > now:
            return None
        try:
            item_id = await read_item_id(reader, uid, self.profiles)
        except TagLost:
            item_id = None  # it went through: the alarm stands on its UID
        until = now + self.config.gate.alarm_repeat_seconds
        if item_id is not None:
            if self._quiet.get(item_id, 0.0) > now:
                self._quiet[uid] = self._quiet[item_id]  # another part of an item alarmed about
                return None
            self._quiet[item_id] = until
        self._quiet[uid] = until
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
                    alarms.append(await self._alarm(reader, tag.uid, DetectedBy.EAS, now))
        if not alarms and self._quiet.get(EAS_ONLY, 0.0) <= now:
            self._quiet[EAS_ONLY] = now + self.config.gate.alarm_repeat_seconds
            return [GateAlarm(reader=READER, detected_by=DetectedBy.EAS)]
        return [alarm for alarm in alarms if alarm is not None]

    async def _raise(self, alarms: list[GateAlarm]) -> None:
        for alarm in alarms:
            log.info(
                "gate.alarm", station=self.name, uid=alarm.uid, item_id=alarm.item_id, by=alarm.detected_by
            )
        outcomes = await asyncio.gather(*(self.emit(alarm) for alarm in alarms), return_exceptions=True)
        unreported: str | None = None
        for alarm, outcome in zip(alarms, outcomes, strict=True):
            if isinstance(outcome, OutboxFull):
                log.error("gate.alarm_not_stored", station=self.name, uid=alarm.uid, error=str(outcome))
                unreported = str(outcome)  # the gate still sounds; staff learn why
            elif isinstance(outcome, BaseException):
                raise outcome
        last = alarms[-1]
        title = None
        if last.item_id is not None:
            found = self.catalog.lookup(last.item_id)
            title = found.title if found is not None else None
        what = last.item_id or last.uid or "EAS"
        self.display(
            DisplayState.of(
                DisplayCode.GATE_ALARM,
                what=what,
                item_id=last.item_id,
                uid=last.uid,
                title=title,
                count=len(alarms),
                not_reported=unreported,
            )
        )
        if len(self._quiet) > PRUNE_AT:
            now = time.monotonic()
            for key in [key for key, until in self._quiet.items() if until <= now]:
                del self._quiet[key]
