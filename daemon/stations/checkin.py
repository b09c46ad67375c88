"""Check-in: every returned item is secured again, then handed to the hold trap.

An item is identified by its tag arriving on the pad (or in the book drop's field) or by a scan of its
NW-7 label (`barcode.scanned`). Its tag gets the secured AFI and EAS, read back (`security.changed`), and
the item goes to the station's `HoldTrap`, whose answer is the line staff see ("to the hold shelf",
"transit to X"). Each item is handled once per presence: a book lying on the pad, or scanned while its
tag is there, is not handled again until it has left and come back. A scan of an item whose tag is not
on the pad cannot secure it: the trap still gets it, and the desk is told it is not secured.

The trap is the process's HoldDesk (daemon/holds/trap.py), which the composition root hands every check-in
station; `NoHoldTrap` stands in where there is none. What passes between the two: daemon/holds/handover.py.
"""

import asyncio
import time

from tagd.daemon.holds.handover import HoldTrap, IdentifiedBy, IdentifiedItem, NoHoldTrap
from tagd.daemon.logs import get_logger
from tagd.daemon.stations.base import READER, SCANNER, Station, StationContext
from tagd.daemon.stations.pad import Pad, PadChanges, detected, removed
from tagd.daemon.stations.securing import Failure, Outcome, security_failed, set_security
from tagd.daemon.stations.tag_read import TagRead
from tagd.daemon.store.outbox import OutboxFull, Reporter
from tagd.drivers.base import ReaderLost
from tagd.protocols.display import DisplayCode, DisplayState, Param
from tagd.protocols.events import BarcodeScanned, SecurityChanged, TagContent
from tagd.protocols.iso15693 import format_uid
from tagd.protocols.nw7 import BarcodeError, normalise, parse_scan

__all__ = ["CheckinStation"]

log = get_logger(__name__)

LEAVE_POLLS = 3
"""A tag missing from this many polls in a row has left (one missed inventory is not a departure)."""
_TEXT_MAX = 500


class CheckinStation(Station):
    def __init__(self, context: StationContext, trap: HoldTrap | None = None) -> None:
        super().__init__(context)
        self.trap: HoldTrap = trap or NoHoldTrap()
        poll = self.config.checkin.poll_seconds
        self.pad = Pad(self.profiles, arrive_after=0.0, leave_after=LEAVE_POLLS * poll)
        self._handled: set[str] = set()
        """Items whose tags are on the pad and that were handled during this presence."""
        self._work = asyncio.Lock()

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.config.checkin.poll_seconds)

    async def poll_once(self) -> None:
        """One look at the pad: report, secure and hand over what arrived; forget what left."""
        async with self._work:
            if not self.reader_connected or await self.refused_for_outbox():
                return  # while the reader is away, scans are still taken (unsecured)
            changes: PadChanges | None = None
            outcomes: dict[int, Outcome] = {}
            try:
                async with self.use_reader() as reader:
                    changes = await self.pad.poll(reader, time.monotonic())
                    for tag in _items(changes.arrived):
                        outcomes[tag.uid] = await set_security(
                            reader,
                            tag.uid,
                            secured=True,
                            settings=self.config.security,
                            attempts=self.config.checkin.security_attempts,
                        )
            except ReaderLost as exc:
                if changes is None:
                    return  # reported by use_reader; the next use waits for the reader to come back
                for tag in _items(changes.arrived):
                    lost = Outcome(
                        tag.uid, secured=True, ok=False, failure=Failure.READER_LOST, detail=str(exc)
                    )
                    outcomes.setdefault(tag.uid, lost)
            try:
                await self._report(changes, outcomes)
            except OutboxFull as exc:
                refused = str(exc)
            else:
                return
            log.error("checkin.not_reported", station=self.name, error=refused)
            self.display(DisplayState.of(DisplayCode.OUTBOX_FULL))

    async def _report(self, changes: PadChanges, outcomes: dict[int, Outcome]) -> None:
        for tag in changes.left:
            await self.emit(removed(READER, tag))
        if changes.left:
            self._handled &= {tag.item_id for tag in self.pad.tags.values() if tag.item_id is not None}
        for tag in changes.arrived:
            await self.emit(detected(READER, tag, self.config.security))
            if tag.item_id is None:
                log.warning(
                    "checkin.not_an_item", station=self.name, uid=format_uid(tag.uid), problem=tag.problem
                )
                self.display(
                    DisplayState.of(
                        DisplayCode.NOT_AN_ITEM,
                        uid=format_uid(tag.uid),
                        content=tag.content,
                        problem=tag.problem,
                    )
                )
                continue
            outcome = outcomes[tag.uid]
            if outcome.ok:
                await self.emit(_secured(tag, outcome))
            else:
                failure = outcome.failure or Failure.TAG_ERROR
                await self.emit(
                    security_failed(
                        self.name,
                        READER,
                        item_id=tag.item_id,
                        uid=tag.uid,
                        secured=True,
                        failure=failure,
                        detail=outcome.detail,
                    )
                )
            if tag.item_id in self._handled:
                continue  # another part of an item already handled
            self._handled.add(tag.item_id)
            item = self._identified(tag.item_id, format_uid(tag.uid), IdentifiedBy.RFID, secured=outcome.ok)
            note: dict[str, Param] = (
                {}
                if outcome.ok
                else {"not_secured": True, "failure": outcome.failure, "failure_detail": outcome.detail}
            )
            await self._hand(item, note)

    # -- scans ------------------------------------------------------------------------------------------

    async def on_scan(self, raw: str) -> None:
        if await self.refused_for_outbox():
            return
        text = normalise(raw)[:_TEXT_MAX]
        try:
            item_id = parse_scan(raw, self.config.barcode.scheme, self.config.barcode.length).item_id
        except BarcodeError as exc:
            await self.emit(
                BarcodeScanned(scanner=SCANNER, raw=text, reason=exc.reason, detail=str(exc)[:_TEXT_MAX])
            )
            self.display(
                DisplayState.of(DisplayCode.BAD_BARCODE, raw=text, reason=exc.reason, detail=str(exc))
            )
            return
        await self.emit(BarcodeScanned(scanner=SCANNER, raw=text, item_id=item_id))
        await self.poll_once()  # the scanned book may be lying on the pad: its tag goes first
        async with self._work:
            if item_id in self._handled:
                self.display(DisplayState.of(DisplayCode.ALREADY_CHECKED_IN, item_id=item_id))
                return
            not_there = security_failed(
                self.name, READER, item_id=item_id, uid=None, secured=True, failure=Failure.NOT_ON_PAD
            )
            await self.emit(not_there)
            item = self._identified(item_id, None, IdentifiedBy.BARCODE, secured=False)
            await self._hand(item, {"not_on_pad": True})

    # -- the hold trap ----------------------------------------------------------------------------------

    @property
    def reporter(self) -> Reporter:
        return self.link.reporter

    def _identified(
        self, item_id: str, uid: str | None, by: IdentifiedBy, *, secured: bool
    ) -> IdentifiedItem:
        return IdentifiedItem(item_id, uid, by, secured, self.name, self.library)

    async def _hand(self, item: IdentifiedItem, note: dict[str, Param]) -> None:
        """The trap's answer on the desk's line (with `note` when the item was not secured)."""
        try:
            result = await self.trap.trap(item)
        except Exception as exc:  # OutboxFull included: the hold events could not be stored
            log.exception("checkin.trap_failed", station=self.name, item_id=item.item_id)
            state = DisplayState.of(DisplayCode.HOLD_CHECK_FAILED, item_id=item.item_id, error=str(exc))
        else:
            shelf = DisplayState.of(DisplayCode.TO_SHELF, item_id=item.item_id)
            state = result.state if result is not None else shelf
        title = None
        found = self.catalog.lookup(item.item_id)
        if found is not None:
            title = found.title
        self.display(state.with_params(item_id=item.item_id, title=title, **note))


def _items(tags: list[TagRead]) -> list[TagRead]:
    return [tag for tag in tags if tag.content is TagContent.ITEM]


def _secured(tag: TagRead, outcome: Outcome) -> SecurityChanged:
    return SecurityChanged(
        reader=READER,
        uid=format_uid(tag.uid),
        item_id=tag.item_id,
        secured=True,
        afi=outcome.afi if outcome.afi is not None else 0,
        eas=outcome.eas,
    )
