"""The check-in stations' hold trap: the holds feed in, hold.arrived / hold.transit / hold.deferred out.

One HoldDesk per process serves every check-in station in it, over one ledger, so a group filled at one desk
is filled at all. The first station attached subscribes to the holds feed. Each decision of the rules
(protocols/holds.py) that reports something is recorded in the ledger with its event, then stored in the
outbox: an item read again (pad twice, scan then RFID, after a restart) reports nothing new, and an event
re-sent after a crash keeps its id. A feed update may release set volumes held back; each is reported from
the station that held it back, and its desk is told.
"""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Protocol

from tagd.daemon.config.sections import Holds
from tagd.daemon.holds.handover import IdentifiedItem, TrapResult
from tagd.daemon.holds.ledger import HoldLedger
from tagd.daemon.logs import get_logger
from tagd.daemon.mqtt.router import Router
from tagd.daemon.store.outbox import Reporter
from tagd.protocols.commands import Hold, HoldsFeed
from tagd.protocols.display import DisplayCode, DisplayState
from tagd.protocols.events import EventData, HoldArrived, HoldDeferred, HoldTransit
from tagd.protocols.holds import (
    Already,
    Arrive,
    Decision,
    Defer,
    NotHeld,
    Reported,
    Step,
    Transit,
    hold_until,
)

__all__ = ["HoldDesk"]

log = get_logger(__name__)

Clock = Callable[[], datetime]


class TrapDesk(Protocol):
    """What the hold desk needs of a check-in station: its name, reporter, router and display line."""

    name: str
    library: str
    router: Router

    @property
    def reporter(self) -> Reporter: ...

    def display(self, state: DisplayState) -> None: ...


class HoldDesk:
    def __init__(self, ledger: HoldLedger, settings: Holds, clock: Clock | None = None) -> None:
        self.ledger = ledger
        self.settings = settings
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self._desks: dict[str, TrapDesk] = {}
        self._lock = asyncio.Lock()

    def attach(self, desk: TrapDesk) -> None:
        """A check-in station joins; the first one subscribes to the holds feed for the process."""
        if not self._desks:
            desk.router.holds(self.on_feed)
        self._desks[desk.name] = desk

    async def on_feed(self, item_id: str, feed: HoldsFeed | None) -> None:
        """A holds-feed message: store it, then release what it frees and forget what it ends."""
        feed = None if feed is None else _in_zone(feed, self.settings.zone)
        async with self._lock:
            await self._store_pending()
            if await self.ledger.apply_feed(item_id, feed):
                log.info("holds.feed", item_id=item_id, holds=0 if feed is None else len(feed.holds))
                await self._release()
                await self.ledger.prune()

    async def trap(self, item: IdentifiedItem) -> TrapResult | None:
        async with self._lock:
            await self._store_pending()
            decision = self.ledger.book.check_in(item.item_id, item.library)
            state = await self._act(decision, item)
            if isinstance(decision, Arrive):
                await self._release()
            return None if state is None else TrapResult(state)

    async def _act(self, decision: Decision, item: IdentifiedItem) -> DisplayState | None:
        desk = self._desks[item.station]
        if isinstance(decision, NotHeld):
            if not decision.filled_groups:
                return None
            filled = decision.filled_groups
            group, taker = filled[0]
            code = DisplayCode.GROUP_FILLED
            return DisplayState.of(code, item_id=item.item_id, group_id=group, taker=taker)
        hold = decision.hold
        if isinstance(decision, Already):
            return _already(decision, item.item_id)
        step, data = self._event(decision, item)
        report = Reported(
            item.item_id,
            hold.hold_id,
            step,
            item.library,
            desk.name,
            item.uid,
            hold.group_id,
            decision.waiting_for if isinstance(decision, Defer) else (),
        )
        await self._report(desk, report, data)
        return _state(data)

    def _event(self, decision: Arrive | Transit | Defer, item: IdentifiedItem) -> tuple[Step, EventData]:
        hold = decision.hold
        if isinstance(decision, Arrive):
            return Step.ARRIVED, self._arrived(decision, item.uid)
        if isinstance(decision, Transit):
            return Step.TRANSIT, HoldTransit(
                item_id=item.item_id,
                uid=item.uid,
                hold_id=hold.hold_id,
                patron_ref=hold.patron_ref,
                hold_type=hold.type,
                from_library=item.library,
                to_library=hold.pickup_library,
                set_id=hold.set_id,
                position=hold.position,
                group_id=hold.group_id,
                release=list(decision.release),
            )
        assert hold.set_id is not None  # a set hold has both (validated by the feed model)
        assert hold.position is not None
        return Step.DEFERRED, HoldDeferred(
            item_id=item.item_id,
            uid=item.uid,
            hold_id=hold.hold_id,
            patron_ref=hold.patron_ref,
            set_id=hold.set_id,
            position=hold.position,
            waiting_for=list(decision.waiting_for),
            waiting_items=list(decision.waiting_items),
        )

    def _arrived(self, decision: Arrive, uid: str | None) -> HoldArrived:
        hold: Hold = decision.hold
        ready_at = self.clock()
        return HoldArrived(
            item_id=decision.item_id,
            uid=uid,
            hold_id=hold.hold_id,
            patron_ref=hold.patron_ref,
            pickup_library=hold.pickup_library,
            notify=hold.notify,
            hold_type=hold.type,
            memo=hold.memo,
            set_id=hold.set_id,
            position=hold.position,
            group_id=hold.group_id,
            release=list(decision.release),
            placed_at=hold.placed_at,
            ready_at=ready_at,
            hold_until=hold_until(ready_at, self.settings.zone, self.settings.shelf_days),
        )

    async def _report(self, desk: TrapDesk, report: Reported, data: EventData) -> None:
        """Record, then store in the outbox (OutboxFull propagates; the recorded event is retried)."""
        event = desk.reporter.wrap(data)
        await self.ledger.record(report, event)
        await desk.reporter.outbox.append(event)
        await self.ledger.stored(report)
        log.info(
            "holds.reported",
            station=desk.name,
            type=data.TYPE,
            item_id=report.item_id,
            hold_id=report.hold_id,
        )

    async def _release(self) -> None:
        """Report each set volume held back that its earlier volumes no longer hold up (cascading)."""
        while releases := self.ledger.book.releases():
            for deferred, arrive in releases:
                desk = self._desks.get(deferred.station) or next(iter(self._desks.values()))
                data = self._arrived(arrive, deferred.uid)
                report = Reported(
                    deferred.item_id,
                    deferred.hold_id,
                    Step.ARRIVED,
                    deferred.library,
                    desk.name,
                    deferred.uid,
                )
                await self._report(desk, report, data)
                desk.display(_state(data, released=True))

    async def _store_pending(self) -> None:
        """Events recorded but not confirmed stored (a crash or a full outbox in between): store them now."""
        for key, event in list(self.ledger.pending.items()):
            report = self.ledger.book.reported(*key)
            desk = self._desks.get(event.station)
            if report is None or desk is None:
                continue
            await desk.reporter.outbox.append(event)
            await self.ledger.stored(report)
            log.info("holds.resent", station=event.station, event_id=event.id, item_id=key[0])


def _in_zone(feed: HoldsFeed, zone: tzinfo) -> HoldsFeed:
    """`placed_at` without an offset is the library's local time: the queue compares aware times only."""
    if all(hold.placed_at.tzinfo is not None for hold in feed.holds):
        return feed
    holds = [
        hold
        if hold.placed_at.tzinfo
        else hold.model_copy(update={"placed_at": hold.placed_at.replace(tzinfo=zone)})
        for hold in feed.holds
    ]
    return HoldsFeed(holds=holds)


def _state(data: EventData, *, released: bool = False) -> DisplayState:
    """The desk's state for a reported hold event: where the book goes now (only what the event carries)."""
    if isinstance(data, HoldArrived):
        code = DisplayCode.RELEASED_TO_HOLD_SHELF if released else DisplayCode.TO_HOLD_SHELF
        return DisplayState.of(
            code,
            item_id=data.item_id,
            hold_id=data.hold_id,
            hold_until=data.hold_until.isoformat(),
            pickup_library=data.pickup_library,
            patron_ref=data.patron_ref,
            notify=data.notify,
            memo=data.memo,
            release=", ".join(data.release) or None,
        )
    if isinstance(data, HoldTransit):
        code = DisplayCode.RELEASED_TO_TRANSIT if released else DisplayCode.TRANSIT
        return DisplayState.of(code, item_id=data.item_id, hold_id=data.hold_id, to_library=data.to_library)
    assert isinstance(data, HoldDeferred)
    return DisplayState.of(
        DisplayCode.DEFERRED,
        item_id=data.item_id,
        hold_id=data.hold_id,
        first=data.waiting_for[0],
        set_id=data.set_id,
        position=data.position,
    )


def _already(decision: Already, item_id: str) -> DisplayState:
    hold = decision.hold
    if decision.step is Step.TRANSIT:
        code = DisplayCode.TRANSIT_AGAIN
        return DisplayState.of(code, item_id=item_id, hold_id=hold.hold_id, to_library=hold.pickup_library)
    if decision.step is Step.DEFERRED:
        first = decision.waiting_for[0]
        code = DisplayCode.DEFERRED_AGAIN
        return DisplayState.of(code, item_id=item_id, hold_id=hold.hold_id, first=first, set_id=hold.set_id)
    code = DisplayCode.HOLD_FILLED if decision.step is None else DisplayCode.TO_HOLD_SHELF_AGAIN
    return DisplayState.of(code, item_id=item_id, hold_id=hold.hold_id, pickup_library=hold.pickup_library)
