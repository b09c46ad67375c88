"""The self-checkout pad: what is on it, security on command, and sets with parts missing.

It polls the pad (`checkout.poll_seconds`) and reports each tag once when it has been there for
`checkout.debounce_seconds` (`item.detected`, with what it carries or why it carries nothing usable) and
once when it has been gone as long (`item.removed`). `cmd/security` sets or clears AFI and EAS on the
items named, reads them back, and answers per item; each tag changed is reported as `security.changed`.
A multi-part item on the pad with parts missing gives `set.incomplete`, again whenever what is there
changes. Patron cards are reported by the station base.
"""

import asyncio
import time

from tagd.daemon.logs import get_logger
from tagd.daemon.stations.base import CARD_READER, READER, Station, StationContext
from tagd.daemon.stations.pad import Pad, PadChanges, detected, removed
from tagd.daemon.stations.securing import Failure, Outcome, security_failed, set_security
from tagd.daemon.stations.tag_read import TagRead
from tagd.daemon.store.outbox import OutboxFull
from tagd.drivers.base import CardRead, ReaderLost
from tagd.protocols.commands import ReplyCode, SecurityCommand, SecurityReply, SecurityResult
from tagd.protocols.display import DisplayCode, DisplayState
from tagd.protocols.events import PatronCard, SecurityChanged, SetIncomplete
from tagd.protocols.iso15693 import format_uid, parse_uid
from tagd.protocols.payload_types import SECURITY_FAILURE_TEXTS

__all__ = ["CheckoutStation"]

log = get_logger(__name__)


class CheckoutStation(Station):
    def __init__(self, context: StationContext) -> None:
        super().__init__(context)
        settings = self.config.checkout
        self.pad = Pad(
            self.profiles,
            arrive_after=settings.debounce_seconds,
            leave_after=settings.debounce_seconds,
            read_attempts=settings.security_attempts,
        )
        self._sets: dict[str, tuple[int, ...]] = {}
        """Multi-part items on the pad: the parts there when last looked at."""
        self.router.command(SecurityCommand, self.handle_security)

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.config.checkout.poll_seconds)

    async def on_card(self, card: CardRead) -> None:
        """A patron card: reported as patron.card (only the card number; tagd knows no patron)."""
        if await self.refused_for_outbox():
            return
        await self.emit(PatronCard(reader=CARD_READER, card_id=card.identifier))

    async def poll_once(self) -> None:
        """One look at the pad, and its events; while the outbox is full the pad is left alone."""
        if await self.refused_for_outbox():
            return
        try:
            async with self.use_reader() as reader:
                changes = await self.pad.poll(reader, time.monotonic())
        except ReaderLost:
            return  # reported by use_reader; the next use waits for the reader to come back
        if changes.arrived or changes.left:
            try:
                await self._report(changes)
            except OutboxFull as exc:
                refused = str(exc)
            else:
                return
            log.error("checkout.not_reported", station=self.name, error=refused)
            self.display(DisplayState.of(DisplayCode.OUTBOX_FULL))

    async def _report(self, changes: PadChanges) -> None:
        for tag in changes.left:
            log.info("checkout.removed", station=self.name, uid=format_uid(tag.uid), item_id=tag.item_id)
            await self.emit(removed(READER, tag))
        for tag in changes.arrived:
            log.info(
                "checkout.detected",
                station=self.name,
                uid=format_uid(tag.uid),
                item_id=tag.item_id,
                content=tag.content.value,
                problem=tag.problem,
            )
            await self.emit(detected(READER, tag, self.config.security))
        for event in self._incomplete_sets():
            log.info(
                "checkout.set_incomplete", station=self.name, item_id=event.item_id, missing=event.missing
            )
            await self.emit(event)
        self.display(DisplayState.of(DisplayCode.ON_PAD, count=len(self.pad.tags)))

    def _incomplete_sets(self) -> list[SetIncomplete]:
        """set.incomplete for each multi-part item whose parts on the pad changed and are not all there."""
        parts: dict[str, int] = {}
        present: dict[str, set[int]] = {}
        for tag in self.pad.tags.values():
            if tag.data is not None and tag.data.parts > 1:
                parts[tag.data.item_id] = max(parts.get(tag.data.item_id, 0), tag.data.parts)
                present.setdefault(tag.data.item_id, set()).add(tag.data.part)
        events = []
        for item_id, count in parts.items():
            there = tuple(sorted(present[item_id]))
            if self._sets.get(item_id) == there:
                continue
            self._sets[item_id] = there
            missing = [part for part in range(1, count + 1) if part not in there]
            if missing:
                events.append(
                    SetIncomplete(
                        reader=READER, item_id=item_id, parts=count, present=list(there), missing=missing
                    )
                )
        for item_id in [item_id for item_id in self._sets if item_id not in parts]:
            del self._sets[item_id]
        return events

    # -- cmd/security --------------------------------------------------------------------------------------

    async def handle_security(self, command: SecurityCommand) -> SecurityReply:
        refusal = self.refusal()
        if refusal is not None:
            return SecurityReply(ok=False, code=ReplyCode.OUTBOX_FULL, error=refusal)
        wanted = [(ref, self.pad.find(ref)) for ref in command.items]
        tags = list({tag.uid: tag for _, found in wanted for tag in found}.values())  # each tag once
        outcomes = await self._apply(tags, secured=command.secured)
        for tag in tags:
            outcome = outcomes[tag.uid]
            if outcome.ok:
                await self.emit(_changed(tag, outcome, command.request_id))
            else:
                failed_event = security_failed(
                    self.name,
                    READER,
                    item_id=tag.item_id,
                    uid=tag.uid,
                    secured=command.secured,
                    failure=outcome.failure or Failure.TAG_ERROR,
                    detail=outcome.detail,
                    request_id=command.request_id,
                )
                await self.emit(failed_event)
        for ref, found in wanted:
            if not found:
                await self.emit(
                    security_failed(
                        self.name,
                        READER,
                        item_id=ref if len(ref) == 9 else None,
                        uid=parse_uid(ref) if len(ref) != 9 else None,
                        secured=command.secured,
                        failure=Failure.NOT_ON_PAD,
                        request_id=command.request_id,
                    )
                )
        results = [_result(ref, found, outcomes, secured=command.secured) for ref, found in wanted]
        failed = sum(not result.ok for result in results)
        code = DisplayCode.SECURED if command.secured else DisplayCode.RELEASED
        self.display(DisplayState.of(code, done=len(results) - failed, count=len(results)))
        if failed:
            error = f"{failed} of {len(results)} items failed (see results)"
            return SecurityReply(ok=False, code=ReplyCode.REJECTED, error=error, results=results)
        return SecurityReply(ok=True, results=results)

    async def _apply(self, tags: list[TagRead], *, secured: bool) -> dict[int, Outcome]:
        """Every tag's outcome; after a ReaderLost the rest fail as reader_lost without waiting for it."""
        outcomes: dict[int, Outcome] = {}
        if not tags:
            return outcomes
        if not self.reader_connected:
            return {tag.uid: _reader_lost(tag, "the reader is away", secured=secured) for tag in tags}
        attempts = self.config.checkout.security_attempts
        try:
            async with self.use_reader() as reader:
                for tag in tags:
                    outcomes[tag.uid] = await set_security(
                        reader, tag.uid, secured=secured, settings=self.config.security, attempts=attempts
                    )
        except ReaderLost as exc:
            for tag in tags:
                outcomes.setdefault(tag.uid, _reader_lost(tag, str(exc), secured=secured))
        return outcomes


def _reader_lost(tag: TagRead, detail: str, *, secured: bool) -> Outcome:
    return Outcome(tag.uid, secured=secured, ok=False, failure=Failure.READER_LOST, detail=detail)


def _changed(tag: TagRead, outcome: Outcome, request_id: str) -> SecurityChanged:
    return SecurityChanged(
        reader=READER,
        uid=format_uid(tag.uid),
        item_id=tag.item_id,
        secured=outcome.secured,
        afi=outcome.afi if outcome.afi is not None else 0,
        eas=outcome.eas,
        request_id=request_id,
    )


def _result(ref: str, tags: list[TagRead], outcomes: dict[int, Outcome], *, secured: bool) -> SecurityResult:
    """One item's line in the reply: ok when every tag (every part) of it took the security."""
    if not tags:
        text = SECURITY_FAILURE_TEXTS[Failure.NOT_ON_PAD]
        return SecurityResult(item=ref, ok=False, code=Failure.NOT_ON_PAD, error=text)
    failed = [outcomes[tag.uid] for tag in tags if not outcomes[tag.uid].ok]
    first = tags[0]
    if failed:
        worst = failed[0]
        code = worst.failure or Failure.TAG_ERROR
        which = (
            "" if len(tags) == 1 else f" (tag {format_uid(worst.uid)}, {len(failed)} of {len(tags)} parts)"
        )
        return SecurityResult(
            item=ref,
            ok=False,
            uid=format_uid(worst.uid),
            item_id=first.item_id,
            code=code,
            error=f"{SECURITY_FAILURE_TEXTS[code]}: {worst.detail}{which}"[:500],
        )
    return SecurityResult(
        item=ref,
        ok=True,
        uid=format_uid(first.uid),
        item_id=first.item_id,
        secured=secured,
        afi=outcomes[first.uid].afi,
    )
