"""The processing desk (issue 4 §2): a scan or cmd/encode names the item, the tag rule picks the tag, the
tag is written and verified, and `item.encoded` or `item.encode_rejected` says how it went.

One job holds the pad at a time. A new scan or command while a job still waits for its tag supersedes it
(that job ends as `superseded`; the same item scanned again is just the same job); once writing has
started, the new job waits its turn, so a tag is never left half-written for a newer job. cmd/encode is
answered when its job ends, with the outcome; the event carries the command's request_id. The tag work
itself is in encoder_steps (its docstring gives the write order and the overwrite guard). A job whose
outbox fills while it waits for its tag is refused like new work (desk line, `outbox_full` reply): its
outcome could not be stored, so the tag is not written. Every outcome also moves the item's tagging state
in the catalog's worklist (store/worklist.py), scans and cmd/encode alike.
"""

import asyncio

from tagd.daemon.logs import get_logger
from tagd.daemon.stations.base import SCANNER, Station, StationContext
from tagd.daemon.stations.encoder_steps import Encoded, Job, Refused, Rejected, Superseded, TagWriter
from tagd.daemon.store.outbox import OutboxError, OutboxFull
from tagd.protocols.commands import EncodeCommand, EncodeReply, OperatorCommand, Reply, ReplyCode
from tagd.protocols.display import DisplayCode, DisplayState
from tagd.protocols.events import (
    BarcodeScanned,
    ItemEncoded,
    ItemEncodeRejected,
    RejectReason,
)
from tagd.protocols.iso15693 import format_uid
from tagd.protocols.nw7 import BarcodeError, normalise, parse_scan
from tagd.protocols.tagtypes import REASON_TEXTS, Item, TagRequirement, required_tag

__all__ = ["EncoderStation"]

log = get_logger(__name__)

_TEXT_MAX = 500


class EncoderStation(Station):
    def __init__(self, context: StationContext) -> None:
        super().__init__(context)
        self.writer = TagWriter(
            self,
            profiles=self.profiles,
            torn=self.catalog,
            timing=self.config.encoder,
            security=self.config.security,
            isil=self.isil,
            data_model=self.config.data_model,
        )
        self._pad = asyncio.Lock()
        self._waiting: Job | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self.operator: str | None = None
        """Who is signed in at the desk (cmd/operator, or the page): carried by the encoding events."""
        self.router.command(EncodeCommand, self._command)
        self.router.command(OperatorCommand, self._operator)

    async def serve(self) -> None:
        try:
            await super().serve()
        finally:
            for task in self._jobs:
                task.cancel()
            await asyncio.gather(*self._jobs, return_exceptions=True)

    # -- where jobs come from -------------------------------------------------------------------------

    async def on_scan(self, raw: str) -> None:
        """A scan starts a job (unless it is bad or unknown) and returns at once."""
        if await self.refused_for_outbox():
            return
        try:
            await self._scanned(raw)
        except OutboxFull:
            self.display(DisplayState.of(DisplayCode.OUTBOX_FULL))

    async def _scanned(self, raw: str) -> None:
        text = normalise(raw)[:_TEXT_MAX]
        barcode = self.config.barcode
        try:
            number = parse_scan(text, barcode.scheme, barcode.length)
        except BarcodeError as exc:
            detail = str(exc)[:_TEXT_MAX]
            await self.emit(BarcodeScanned(scanner=SCANNER, raw=text, reason=exc.reason, detail=detail))
            await self._reject(
                None,
                Rejected(
                    RejectReason.BAD_BARCODE,
                    f"bad scan {text!r}: {detail}",
                    barcode_reason=exc.reason,
                    raw=text,
                ),
            )
            return
        item_id = number.item_id
        await self.emit(BarcodeScanned(scanner=SCANNER, raw=text, item_id=item_id))
        found = self.catalog.lookup(item_id)
        if found is None:
            detail = f"{item_id} is not in the station catalog: load its delivery list, or send cmd/encode"
            await self._reject(Job(item_id, Item()), Rejected(RejectReason.UNKNOWN_ITEM, detail))
            return
        waiting = self._waiting
        if (
            waiting is not None
            and not waiting.writing
            and (waiting.item_id, waiting.request_id) == (item_id, None)
        ):
            self.display(DisplayState.of(DisplayCode.SCANNED_AGAIN, item_id=item_id, title=waiting.title))
            return
        job = Job(item_id, found.tag_item(self.settings.shelving_marks), title=found.title)
        task = asyncio.create_task(self._run_scanned(job), name=f"encode {item_id}")
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _run_scanned(self, job: Job) -> None:
        """A scan has nobody to reply to: a fault is logged (the router answers a command's)."""
        try:
            await self._run_job(job)
        except Exception:
            log.exception("encoder.job_failed", station=self.name, item_id=job.item_id)
            self.display(DisplayState.of(DisplayCode.INTERNAL_ERROR, item_id=job.item_id))

    async def _operator(self, command: OperatorCommand) -> Reply:
        """cmd/operator: who works here now."""
        self.sign_in(command.operator)
        return Reply(ok=True)

    def sign_in(self, operator: str | None) -> None:
        self.operator = operator
        log.info("encoder.operator", station=self.name, operator=operator)
        if operator is not None:
            self.display(DisplayState.of(DisplayCode.OPERATOR, operator=operator))

    async def _command(self, command: EncodeCommand) -> EncodeReply:
        """cmd/encode: answered when the job ends (ok with the tag, or the reject reason)."""
        refusal = self.refusal()
        if refusal is not None:
            return EncodeReply(ok=False, code=ReplyCode.OUTBOX_FULL, error=refusal, item_id=command.item_id)
        known = self.catalog.lookup(command.item_id)
        item = Item(
            kind=command.kind,
            binding=command.binding,
            inside_cover=command.inside_cover,
            call_number=command.call_number,
            placement_problem=command.placement_problem,
            override=command.override_tag,
            marks=self.settings.shelving_marks,
        )
        title = command.title or (known.title if known is not None else None)
        job = Job(
            command.item_id,
            item,
            title=title,
            request_id=command.request_id,
            force=command.force,
            override_by=command.override_by if command.override_tag is not None else None,
        )
        outcome = await self._run_job(job)
        if isinstance(outcome, Refused):
            return EncodeReply(
                ok=False, code=ReplyCode.OUTBOX_FULL, error=str(outcome), item_id=command.item_id
            )
        if isinstance(outcome, ItemEncoded):
            return EncodeReply(
                ok=True,
                item_id=job.item_id,
                uid=outcome.uid,
                product=outcome.product,
                already=outcome.already,
            )
        return EncodeReply(
            ok=False,
            code=ReplyCode.REJECTED,
            error=outcome.detail,
            reason=outcome.reason,
            item_id=job.item_id,
            uid=outcome.uid,
        )

    # -- one job ------------------------------------------------------------------------------------------

    async def _run_job(self, job: Job) -> ItemEncoded | ItemEncodeRejected | Refused:
        """Supersedes a job still waiting for its tag, then takes the pad; the outcome is emitted (a refusal
        is shown at the desk: no event could be stored)."""
        if self._waiting is not None and not self._waiting.writing:
            self._waiting.superseded.set()
        self._waiting = job
        async with self._pad:
            try:
                requirement = required_tag(job.item)
                job.requirement = requirement
                if requirement.product is None:
                    raise _ask_librarian(requirement)
                encoded = await self.writer.encode(job, requirement.product)  # superseded: raises at once
            except Superseded:
                detail = f"{job.item_id}: replaced by a newer scan or command before a tag was written"
                return await self._reject(job, Rejected(RejectReason.SUPERSEDED, detail))
            except Rejected as rejected:
                return await self._reject(job, rejected)
            except Refused as refused:
                log.warning("encoder.refused", station=self.name, item_id=job.item_id, reason=str(refused))
                self.display(DisplayState.of(DisplayCode.OUTBOX_FULL_ITEM, item_id=job.item_id))
                return refused
            finally:
                if self._waiting is job:
                    self._waiting = None
            return await self._encoded(job, requirement, encoded)

    async def _encoded(self, job: Job, requirement: TagRequirement, encoded: Encoded) -> ItemEncoded:
        event = ItemEncoded(
            item_id=job.item_id,
            uid=format_uid(encoded.uid),
            product=encoded.profile.product,
            profile=encoded.profile.name,
            data_model=self.config.data_model,
            rule_reason=requirement.reason,
            placement=requirement.placement,
            cover=requirement.cover,
            already=encoded.already,
            forced=encoded.forced,
            request_id=job.request_id,
            title=job.title,
            operator=self.operator,
            override_by=job.override_by,
        )
        log.info(
            "encoder.encoded",
            station=self.name,
            item_id=job.item_id,
            uid=event.uid,
            isil=self.isil,
            already=encoded.already,
            blocks=encoded.blocks,
            attempts=encoded.attempts,
        )
        code = DisplayCode.ALREADY_ENCODED if encoded.already else DisplayCode.ENCODED
        self.display(
            DisplayState.of(
                code,
                item_id=job.item_id,
                title=job.title,
                uid=event.uid,
                product=event.product,
                placement=requirement.placement,
                rule_reason=requirement.reason,
                cover=requirement.cover,
                forced=encoded.forced or None,
                operator=self.operator,
            )
        )
        await self._report(event)
        return event

    async def _reject(self, job: Job | None, rejected: Rejected) -> ItemEncodeRejected:
        event = ItemEncodeRejected(
            reason=rejected.reason,
            detail=rejected.detail,
            item_id=job.item_id if job is not None else None,
            request_id=job.request_id if job is not None else None,
            operator=self.operator,
            **rejected.fields,
        )
        log.info("encoder.rejected", station=self.name, reason=str(rejected.reason), detail=rejected.detail)
        self.display(_rejected_state(event, job.title if job is not None else None))
        await self._report(event)
        return event

    async def _report(self, event: ItemEncoded | ItemEncodeRejected) -> None:
        """The outcome is stored durably; if the outbox refuses it, the desk is told and it is logged. The
        item's state in the shipment's worklist (the catalog) follows the outcome either way, before the event
        can be seen."""
        self.catalog.record(event)
        try:
            await self.emit(event)
        except OutboxError:
            self.display(DisplayState.of(DisplayCode.NOT_REPORTED, event=event.TYPE))
            log.exception("encoder.outcome_not_stored", station=self.name, type=event.TYPE)


_REJECT_CODES = {
    RejectReason.ASK_LIBRARIAN: DisplayCode.ASK_LIBRARIAN,
    RejectReason.TAG_IN_USE: DisplayCode.TAG_IN_USE,
}


def _rejected_state(event: ItemEncodeRejected, title: str | None) -> DisplayState:
    """The desk's state for a rejection: ask-a-librarian carries the rule and the spec's own words."""
    rule_ja = REASON_TEXTS[event.rule_reason][1] if event.rule_reason is not None else None
    return DisplayState.of(
        _REJECT_CODES.get(event.reason, DisplayCode.REJECTED),
        reason=event.reason,
        detail=event.detail,
        item_id=event.item_id,
        title=title,
        uid=event.uid,
        rule_reason=event.rule_reason,
        rule_ja=rule_ja,
        required=event.required,
        found=event.found,
        existing_item_id=event.existing_item_id,
    )


def _ask_librarian(requirement: TagRequirement) -> Rejected:
    return Rejected(
        RejectReason.ASK_LIBRARIAN,
        f"ask a librarian which tag to use: {requirement.reason_text}",
        rule_reason=requirement.reason,
    )
