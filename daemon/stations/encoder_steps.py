"""The encoder's work on one tag: wait for exactly one, identify it, guard what it holds, write, verify, lock.

Write order (so that a tag pulled away at any point never reads as a valid but wrong item):

1. the first data block is overwritten with zeros (skipped when it already is zero), which makes the
   tag undecodable at once: ISO 28560-3 needs version 1 in byte 0 (or byte 3, read reversed) and
   ISO 28560-2 needs a data set where byte 0 is; a zero block gives neither;
2. stale non-zero blocks past the new data are zeroed (the 32-byte ISO 28560-3 block counts bytes 32-33
   as zeros, so old data there would break its CRC);
3. the data blocks after the first;
4. AFI secured, EAS on (when configured);
5. the first block, last: only this single-block write makes the tag decodable, and it then decodes as
   the new item.

Then the memory is read back and decoded as any station would (only the blocks written: every later block
read as zero before writing, and nothing writes it), the AFI read back, and only then are EAS and the AFI
password protected and the profile's locks applied (so a bad write is never made permanent; the AFI is
never locked: ISO 28560-1 wants a security AFI changeable). A tag lost mid-write is waited for
(the same UID, for `tag_return_seconds`) and the sequence starts again from step 1, up to `attempts`
sequences in all.

EAS/AFI password (NXP SLIX, SLIX2, SLIX-S, SLIX-L; profiles with `eas_afi_password`, and [security]
eas_afi_password set): step 4 gives the password only when the tag refuses with 0x0F (already protected,
see securing); after the verify, the factory password is given, ours written and given, and EAS and the
AFI protected, so that a phone can no longer change them. The password is never locked (a library can
change it later). A wrong password silences an NXP tag until it leaves the field, so which password a tag
holds is never guessed twice the same way: a tag whose password we may have written (and not yet seen
protected) is tried with ours first, and a refusal flips that guess for the next attempt.

Overwrite guard: the same item (id and ISIL) already on the tag is success with `already` and nothing is
written; another item, or data that is not blank but cannot be decoded (another vendor's layout, a torn
write), is `tag_in_use` unless the command says `force`: tagd never overwrites what it cannot read
without being told to. Except its own tears: a tag's UID is stored in the catalog before the first write
and cleared once it is locked, so a tag tagd tore (and that reads as nothing, or as the item it was
being written for) is written again without `force`, even after a restart. A torn tag that carries the
item already (it left after step 5) gets steps 4 and later only, so its protection and locks are not
skipped; a torn tag that reads as another item still needs `force`.

A station whose outbox is full could not store the outcome: the job is refused (Refused) once the tag is
identified, before anything is written.

Several tags on the pad are shown at the desk and waited out: the job goes on when exactly one is left,
and is rejected as `several_tags` only when the wait ends with more than one there.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from tagd.daemon.config.sections import Encoder, Security
from tagd.daemon.stations.securing import FACTORY_PASSWORD, PasswordNeeded, eas_afi_password, write_security
from tagd.daemon.store.catalog import Catalog
from tagd.drivers.base import PasswordRefused, Reader, ReaderLost, TagError, TagLost
from tagd.protocols import iso28560
from tagd.protocols.display import DisplayCode, DisplayState
from tagd.protocols.events import RejectReason
from tagd.protocols.iso15693 import ErrorCode, PasswordId, format_uid
from tagd.protocols.iso28560 import BlankTagError, DataModel, Iso28560Error, TagData, Usage
from tagd.protocols.iso28560 import part2 as iso28560_2
from tagd.protocols.profiles import ProfileSet, TagProfile, UnknownTag
from tagd.protocols.tagtypes import Item, TagProduct, TagRequirement

__all__ = ["Encoded", "EncoderDesk", "Job", "Refused", "Rejected", "Superseded", "TagWriter", "tag_data"]

T = TypeVar("T")


class Rejected(Exception):  # noqa: N818 - an outcome, reported as item.encode_rejected
    """The job ends without a usable tag; `fields` go into the event (uid, required, found, ...)."""

    def __init__(self, reason: RejectReason, detail: str, **fields: Any) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail[:500]
        self.fields = fields


class Superseded(Exception):  # noqa: N818 - an outcome
    """A newer scan or command took the pad before anything was written."""


class Refused(Exception):  # noqa: N818 - an outcome, with no event (the outbox could not store one)
    """The station takes no new work (its `refusal()` says why); the tag was identified, not written."""


@dataclass
class Job:
    """One item to encode; `writing` is set once the first write starts (it can no longer be superseded)."""

    item_id: str
    item: Item
    title: str | None = None
    request_id: str | None = None
    force: bool = False
    override_by: str | None = None
    """Who decided a librarian's override of the tag rule (recorded with the item)."""
    superseded: asyncio.Event = field(default_factory=asyncio.Event)
    writing: bool = False
    requirement: TagRequirement | None = None
    """The tag rule's answer, once taken (the desk shows the place and the cover with the tag to take)."""


@dataclass(frozen=True)
class Encoded:
    uid: int
    profile: TagProfile
    already: bool
    forced: bool
    blocks: int
    attempts: int


class EncoderDesk(Protocol):
    """What the workflow needs of its station."""

    def use_reader(self) -> AbstractAsyncContextManager[Reader]: ...

    def display(self, state: DisplayState) -> None: ...

    def refusal(self) -> str | None: ...


def tag_data(item_id: str, isil: str, model: DataModel) -> TagData:
    """What tagd writes: the item, the owner library, usage circulation (for loan)."""
    return TagData(model=model, item_id=item_id, isil=isil, usage=Usage.CIRCULATION)


def _encode(data: TagData, block_size: int) -> bytes:
    if data.model is DataModel.ISO28560_2:
        raw = iso28560_2.encode(data, block_size=block_size)
    else:
        raw = iso28560.encode_basic_block(data.item_id, data.isil or "", usage=data.usage or 0)
    return raw.ljust(-(-len(raw) // block_size) * block_size, b"\0")


class TagWriter:
    """The steps of issue 4 §2 (3)-(7) against the station's reader."""

    def __init__(
        self,
        pad: EncoderDesk,
        *,
        profiles: ProfileSet,
        torn: Catalog,
        timing: Encoder,
        security: Security,
        isil: str,
        data_model: DataModel,
    ) -> None:
        self.pad = pad
        self.profiles = profiles
        self.torn = torn
        self.timing = timing
        self.security = security
        self.isil = isil
        self.data_model = data_model
        self._ours_maybe: set[int] = set()
        """UIDs whose EAS/AFI password may already be ours, not yet seen protected: try ours first."""

    async def encode(self, job: Job, product: TagProduct) -> Encoded:
        """Raises Rejected or Superseded; returns what was done otherwise."""
        while True:
            uid = await self._one_tag(job, product)
            try:
                profile = await self._identify(uid, product)
                memory = await self._memory(uid, profile)
            except TagLost:
                self.pad.display(DisplayState.of(DisplayCode.TAG_LEFT, uid=format_uid(uid)))
                continue
            except ReaderLost:
                self.pad.display(DisplayState.of(DisplayCode.READER_AWAY))
                continue
            except TagError as exc:
                detail = f"tag {format_uid(uid)} refuses to be read: {exc}"
                raise Rejected(RejectReason.UNKNOWN_TAG, detail, uid=format_uid(uid)) from None
            refusal = self.pad.refusal()
            if refusal is not None:
                raise Refused(refusal)
            forced = self._guard(job, uid, memory)
            if forced is None:
                return Encoded(uid, profile, already=True, forced=False, blocks=0, attempts=0)
            job.writing = True
            shown = DisplayState.of(
                DisplayCode.WRITING,
                item_id=job.item_id,
                title=job.title,
                uid=format_uid(uid),
                product=profile.product,
            )
            self.pad.display(shown)
            return await self._write(job, uid, profile, memory, forced=forced)

    # -- (3) exactly one tag --------------------------------------------------------------------------

    async def _one_tag(self, job: Job, product: TagProduct) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.tag_return_seconds
        rule = job.requirement
        self.pad.display(
            DisplayState.of(
                DisplayCode.PUT_TAG,
                item_id=job.item_id,
                title=job.title,
                product=product,
                placement=rule.placement if rule is not None else None,
                rule_reason=rule.reason if rule is not None else None,
                cover=rule.cover if rule is not None else None,
            )
        )
        seen, reader_away = 0, False
        while True:
            if job.superseded.is_set():
                raise Superseded
            try:
                tags = await self._on_reader(lambda reader: reader.inventory(), deadline)
                reader_away = False
            except ReaderLost:
                reader_away = True
                tags = None
            except (TagLost, TagError):
                tags = None  # a garbled round: ask again
            if tags is not None:
                if len(tags) == 1:
                    return tags[0].uid
                if len(tags) > 1 and len(tags) != seen:
                    shown = DisplayState.of(DisplayCode.SEVERAL_TAGS, count=len(tags), item_id=job.item_id)
                    self.pad.display(shown)
                seen = len(tags)
            if loop.time() >= deadline:
                raise self._nothing(seen, reader_away=reader_away)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    job.superseded.wait(), min(self.timing.poll_seconds, deadline - loop.time())
                )

    def _nothing(self, seen: int, *, reader_away: bool) -> Rejected:
        wait = self.timing.tag_return_seconds
        if reader_away:
            return Rejected(
                RejectReason.READER_LOST, f"the reader was away; no tag could be read in {wait:g} s"
            )
        if seen > 1:
            return Rejected(
                RejectReason.SEVERAL_TAGS, f"{seen} tags on the pad after {wait:g} s: one at a time"
            )
        return Rejected(RejectReason.NO_TAG, f"no tag came onto the pad within {wait:g} s")

    async def _on_reader(
        self, operation: Callable[[Reader], Awaitable[T]], deadline: float | None = None
    ) -> T:
        """One reader operation; waiting for an absent reader ends at `deadline` with ReaderLost. A deadline
        that falls while the reader is answering (a modelled air time, a slow reader) is not a lost reader:
        TagLost, as for an exchange no tag answered in time."""
        got_reader = False
        try:
            async with asyncio.timeout_at(deadline), self.pad.use_reader() as reader:
                got_reader = True
                return await operation(reader)
        except TimeoutError:
            if got_reader:
                raise TagLost(None, "no tag answered before the deadline") from None
            raise ReaderLost("the reader did not come back in time") from None

    # -- (4) which product, (5) what it holds -------------------------------------------------------

    async def _identify(self, uid: int, product: TagProduct) -> TagProfile:
        info = await self._on_reader(lambda reader: reader.system_info(uid))
        shown = format_uid(uid)
        try:
            profile = self.profiles.identify(uid, info.block_count, info.block_size)
        except UnknownTag as exc:
            raise Rejected(RejectReason.UNKNOWN_TAG, str(exc), uid=shown) from None
        if profile.product is not product:
            found = profile.product or f"a plain {profile.name} tag"
            raise Rejected(
                RejectReason.WRONG_TAG_TYPE,
                f"the item needs a {product}; tag {shown} is {found}",
                uid=shown,
                required=product,
                found=profile.product,
            )
        return profile

    async def _memory(self, uid: int, profile: TagProfile) -> bytes:
        first = profile.writing.first_block
        count = profile.recognition.block_count - first
        blocks = await self._on_reader(lambda reader: reader.read_blocks(uid, first, count))
        return b"".join(blocks)

    def _guard(self, job: Job, uid: int, memory: bytes) -> bool | None:
        """None: the item is already there; False: blank or torn by tagd, write it; True: overwriting on
        `force`."""
        torn = self.torn.torn_item(uid)
        try:
            found = iso28560.decode(memory)
        except BlankTagError:
            return False
        except Iso28560Error as exc:
            if torn is not None:
                return False
            if job.force:
                return True
            raise Rejected(
                RejectReason.TAG_IN_USE,
                f"tag {format_uid(uid)} holds data tagd cannot read ({exc}); cmd/encode force overwrites it",
                uid=format_uid(uid),
            ) from None
        if found.item_id == job.item_id and found.isil in (None, self.isil):
            return False if torn == job.item_id else None
        if job.force:
            return True
        raise Rejected(
            RejectReason.TAG_IN_USE,
            f"tag {format_uid(uid)} carries item {found.item_id} ({found.isil or 'no ISIL'})",
            uid=format_uid(uid),
            existing_item_id=found.item_id,
        )

    # -- (6) write, (7) verify, lock ------------------------------------------------------------------

    async def _write(
        self, job: Job, uid: int, profile: TagProfile, memory: bytes, *, forced: bool
    ) -> Encoded:
        size = profile.recognition.block_size
        expected = tag_data(job.item_id, self.isil, self.data_model)
        data = _encode(expected, size)
        shown = format_uid(uid)
        if len(data) > len(memory):
            raise Rejected(RejectReason.WRITE_FAILED, f"{len(data)} bytes do not fit tag {shown}", uid=shown)
        attempts = 0
        self.torn.mark_torn(uid, job.item_id)
        while True:
            attempts += 1
            try:
                if attempts > 1:
                    memory = await self._memory(uid, profile)
                given = await self._write_sequence(uid, profile, data, memory)
                self.pad.display(
                    DisplayState.of(
                        DisplayCode.VERIFYING,
                        item_id=job.item_id,
                        title=job.title,
                        uid=shown,
                        product=profile.product,
                    )
                )
                await self._verify(uid, profile, expected, _span(data, memory, size))
                await self._protect(uid, profile, given=given)
                await self._lock(uid, profile.blocks_to_lock(len(data)))
                self.torn.clear_torn(uid)
                return Encoded(
                    uid, profile, already=False, forced=forced, blocks=len(data) // size, attempts=attempts
                )
            except PasswordNeeded as exc:
                missing = (
                    f"profile {profile.name} says eas_afi_password = false"
                    if self.security.eas_afi_password is not None
                    else "set [security] eas_afi_password"
                )
                detail = f"tag {shown}: {exc}; {missing}"
                raise Rejected(RejectReason.WRITE_FAILED, detail, uid=shown) from None
            except _ForeignPasswordError:
                detail = (
                    f"tag {shown}: its AFI/EAS are protected by an EAS/AFI password other than the"
                    " configured one, so tagd cannot set its security; use another tag"
                )
                raise Rejected(RejectReason.WRITE_FAILED, detail, uid=shown) from None
            except PasswordRefused as exc:
                lost: TagLost | ReaderLost = exc
                self.pad.display(DisplayState.of(DisplayCode.PASSWORD_REFUSED, uid=shown))
            except (TagLost, ReaderLost) as exc:
                lost = exc
            except (TagError, _MismatchError) as exc:
                reason = (
                    RejectReason.VERIFY_FAILED
                    if isinstance(exc, _MismatchError)
                    else RejectReason.WRITE_FAILED
                )
                if attempts >= self.timing.attempts:
                    raise Rejected(reason, f"tag {shown}: {exc}", uid=shown) from None
                await asyncio.sleep(self.timing.retry_delay_seconds)
                continue
            if attempts >= self.timing.attempts:
                raise Rejected(
                    RejectReason.TAG_LOST, f"tag {shown} was lost {attempts} times: {lost}", uid=shown
                )
            await self._wait_return(uid)

    async def _write_sequence(self, uid: int, profile: TagProfile, data: bytes, memory: bytes) -> bool:
        """Steps 1-5 (only 4 when the tag holds the data already); True when the EAS/AFI password was given on
        the way (the tag was protected already)."""
        size = profile.recognition.block_size
        first = profile.writing.first_block
        blocks = [data[at : at + size] for at in range(0, len(data), size)]
        stale = [
            first + at // size for at in range(len(data), len(memory), size) if any(memory[at : at + size])
        ]
        zero = bytes(size)
        async with self.pad.use_reader() as reader:
            if memory[: len(data)] == data and not stale:  # the tag left after step 5 (or the lock) last time
                return await self._write_security(reader, uid, profile)
            if any(memory[:size]):
                await reader.write_blocks(uid, first, [zero])
            for block in stale:
                await reader.write_blocks(uid, block, [zero])
            if len(blocks) > 1:
                await reader.write_blocks(uid, first + 1, blocks[1:])
            given = await self._write_security(reader, uid, profile)
            await reader.write_blocks(uid, first, blocks[:1])
        return given

    async def _write_security(self, reader: Reader, uid: int, profile: TagProfile) -> bool:
        """Step 4; a protected tag that goes silent at the configured password is someone else's."""
        eas = True if self.security.eas else None
        try:
            return await write_security(
                reader, uid, self.security.afi_secured, eas=eas, password=self._password(profile)
            )
        except PasswordRefused:
            raise _ForeignPasswordError from None

    def _password(self, profile: TagProfile) -> int | None:
        return eas_afi_password(self.security) if profile.writing.eas_afi_password else None

    async def _protect(self, uid: int, profile: TagProfile, *, given: bool) -> None:
        """Our EAS/AFI password on the tag, then EAS and the AFI protected by it (`given`: already given)."""
        password = self._password(profile)
        if password is None:
            return
        async with self.pad.use_reader() as reader:
            if not given:
                guess = password if uid in self._ours_maybe else FACTORY_PASSWORD
                try:
                    await reader.set_password(uid, PasswordId.EAS_AFI, guess)
                except PasswordRefused:
                    self._ours_maybe ^= {uid}  # the other one, once the tag has been lifted and put back
                    raise
                if guess != password:
                    self._ours_maybe.add(uid)  # before writing: a lost reply may still leave it written
                    await reader.write_password(uid, PasswordId.EAS_AFI, password)
                    await reader.set_password(uid, PasswordId.EAS_AFI, password)
            await reader.protect_eas_afi(uid, afi=False)
            await reader.protect_eas_afi(uid, afi=True)
        self._ours_maybe.discard(uid)

    async def _verify(self, uid: int, profile: TagProfile, expected: TagData, span: int) -> None:
        first = profile.writing.first_block
        total = (profile.recognition.block_count - first) * profile.recognition.block_size
        blocks = await self._on_reader(lambda reader: reader.read_blocks(uid, first, span))
        memory = b"".join(blocks).ljust(total, b"\0")
        try:
            found = iso28560.decode(memory)
        except Iso28560Error as exc:
            raise _MismatchError(f"the read-back does not decode: {exc}") from None
        wanted = (expected.model, expected.item_id, expected.isil, expected.usage)
        got = (found.model, found.item_id, found.isil, found.usage)
        if got != wanted:
            raise _MismatchError(f"read back {got}, wrote {wanted}")
        info = await self._on_reader(lambda reader: reader.system_info(uid))
        if info.afi is not None and info.afi != self.security.afi_secured:
            raise _MismatchError(f"AFI reads back {info.afi:#04x}, not {self.security.afi_secured:#04x}")

    async def _lock(self, uid: int, blocks: range) -> None:
        """The profile's locks; blocks locked before the tag left last time are passed over."""
        if not blocks:
            return
        try:
            await self._lock_range(uid, blocks.start, len(blocks))
        except TagError as exc:
            if exc.code != ErrorCode.ALREADY_LOCKED:
                raise
        else:
            return
        for block in blocks:  # one by one, passing over those locked already
            try:
                await self._lock_range(uid, block, 1)
            except TagError as exc:
                if exc.code != ErrorCode.ALREADY_LOCKED:
                    raise

    async def _lock_range(self, uid: int, first: int, count: int) -> None:
        await self._on_reader(lambda reader: reader.lock_blocks(uid, first, count))

    async def _wait_return(self, uid: int) -> None:
        """Until the same tag is back on the pad; Rejected tag_lost (or reader_lost) when it is not."""
        loop = asyncio.get_running_loop()
        wait = self.timing.tag_return_seconds
        deadline = loop.time() + wait
        shown = format_uid(uid)
        self.pad.display(DisplayState.of(DisplayCode.TAG_LEFT_WRITING, uid=shown, wait=f"{wait:g}"))
        reader_away = False
        while loop.time() < deadline:
            try:
                tags = await self._on_reader(lambda reader: reader.inventory(), deadline)
                reader_away = False
            except ReaderLost:
                reader_away = True
                continue
            except (TagLost, TagError):
                tags = []
            if any(tag.uid == uid for tag in tags):
                self.pad.display(DisplayState.of(DisplayCode.TAG_BACK, uid=shown))
                return
            await asyncio.sleep(min(self.timing.poll_seconds, max(0.0, deadline - loop.time())))
        reason = RejectReason.READER_LOST if reader_away else RejectReason.TAG_LOST
        raise Rejected(
            reason,
            f"tag {shown} did not come back within {wait:g} s; its data may be incomplete: encode it again",
            uid=shown,
        )


def _span(data: bytes, memory: bytes, size: int) -> int:
    """Blocks from the first that the write sequence fills or zeroes: every block after them reads as zero."""
    return -(-max(len(data), len(memory.rstrip(b"\0"))) // size)


class _MismatchError(Exception):
    """The read-back is not what was written."""


class _ForeignPasswordError(Exception):
    """A protected tag went silent at the configured password: its EAS/AFI are someone else's."""
