"""The host side of ISO 15693 over anything that carries raw frames: the whole Reader interface in one place.

The sim: reader runs it over a simulated Field and the PC/SC driver over transparent-session APDUs, so both
send byte-identical frames. Every tag command is addressed by UID. No retries are hidden here (the daemon
decides): silence is TagLost, an error response TagError, a damaged reply CorruptReply (a TagLost, so callers
that only care that the exchange failed need not know), and a dead transport ReaderLost, after which this
host refuses further work until the driver is reopened.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tagd.drivers.air import COLLISION, Collision, SlotReply, hear_slot
from tagd.drivers.base import PasswordRefused, ReaderLost, TagError, TagLost
from tagd.protocols import iso15693 as iso
from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import (
    Anticollision,
    BlockSecurity,
    Command,
    ErrorCode,
    InventoryResponse,
    PasswordId,
    SystemInfo,
    TagErrorResponse,
    append_crc,
    check_crc,
    decode_response,
    encode_request,
)

__all__ = [
    "CorruptReply",
    "HostCounters",
    "Iso15693Host",
    "Transceiver",
]

NOT_SUPPORTED_ANSWERS = frozenset({ErrorCode.NOT_SUPPORTED, ErrorCode.NOT_RECOGNISED, ErrorCode.UNKNOWN})
"""Answers that mean 'this tag lacks the command': ISO's 0x01/0x02, and NXP's catch-all 0x0F."""


class Transceiver(Protocol):
    """Carries a request frame (with CRC) to the field: 16 slot replies for a 16-slot inventory, else one."""

    async def transceive(self, frame: bytes) -> list[SlotReply]: ...


class CorruptReply(TagLost):
    """A reply came back damaged (bad CRC, collided, malformed): the command may have been carried out."""


@dataclass
class HostCounters:
    """What this host has sent, for benchmarks: every frame, and the anticollision's share of them."""

    commands: int = 0
    inventory_rounds: int = 0
    inventory_slots: int = 0
    collisions: int = 0


class Iso15693Host:
    """A Reader over a Transceiver.

    read_chunk: blocks per Read Multiple Blocks (tags answering 'not supported' are then read block by block).
    write_multiple: write with Write Multiple Blocks, write_chunk blocks at a time, falling back to single
    blocks for tags that lack it; the default writes block by block, which every ICODE chip takes.
    """

    def __init__(
        self,
        link: Transceiver,
        *,
        url: str,
        read_chunk: int = 32,
        write_multiple: bool = False,
        write_chunk: int = 4,
    ) -> None:
        if not 1 <= read_chunk <= 256 or not 1 <= write_chunk <= 256:
            raise ValueError("read_chunk and write_chunk are 1 to 256 blocks")
        self.url = url
        self.counters = HostCounters()
        self.read_chunk = read_chunk
        self.write_multiple = write_multiple
        self.write_chunk = write_chunk
        self._link = link
        self._lost: str | None = None
        self._single_reads: set[int] = set()
        self._single_writes: set[int] = set()

    @property
    def air_time(self) -> float | None:
        """Modelled air time so far, when the transceiver knows it (the simulator does)."""
        value = getattr(self._link, "air_time", None)
        return value if isinstance(value, float) else None

    # -- the Reader interface ---------------------------------------------------------------------------

    async def inventory(
        self, afi: int | None = None, *, one_slot_first: bool = False
    ) -> list[InventoryResponse]:
        """Every tag in the field (with a matching AFI), by the 16-slot search; sorted by UID.
        `one_slot_first` opens the search with a one-slot inventory (see Anticollision)."""
        search = Anticollision(afi, one_slot_first=one_slot_first)
        dsfids: dict[int, int] = {}
        try:
            while (request := search.next_request()) is not None:
                replies = await self._exchange(encode_request(request))
                try:
                    search.record([hear_slot(reply, dsfids) for reply in replies])
                except ProtocolError as exc:  # the transceiver brought the wrong number of slots
                    raise CorruptReply(None, f"inventory: {exc}") from None
        finally:
            self.counters.inventory_rounds += search.rounds
            self.counters.inventory_slots += search.slots
            self.counters.collisions += search.collisions
        return [InventoryResponse(uid, dsfids[uid]) for uid in sorted(search.uids)]

    async def system_info(self, uid: int) -> SystemInfo:
        result = await self._command(uid, iso.get_system_info(uid), Command.GET_SYSTEM_INFO)
        assert isinstance(result, SystemInfo)
        return result

    async def read_blocks(self, uid: int, first: int, count: int) -> list[bytes]:
        _check_range(first, count)
        blocks: list[bytes] = []
        while len(blocks) < count:
            at, left = first + len(blocks), count - len(blocks)
            if uid in self._single_reads:
                blocks += await self._read(uid, iso.read_single_block(uid, at), Command.READ_SINGLE_BLOCK, 1)
                continue
            size = min(left, self.read_chunk)
            frame = iso.read_multiple_blocks(uid, at, size)
            try:
                blocks += await self._read(uid, frame, Command.READ_MULTIPLE_BLOCKS, size)
            except TagError as exc:
                if exc.code not in NOT_SUPPORTED_ANSWERS:
                    raise
                self._single_reads.add(uid)
        return blocks

    async def write_blocks(
        self, uid: int, first: int, blocks: Sequence[bytes], *, multiple: bool | None = None
    ) -> None:
        """Writes `blocks` from block `first`; `multiple` overrides the write_multiple setting once."""
        _check_range(first, len(blocks))
        done = 0
        use_multiple = self.write_multiple if multiple is None else multiple
        while done < len(blocks):
            at = first + done
            if use_multiple and uid not in self._single_writes:
                chunk = list(blocks[done : done + self.write_chunk])
                frame = iso.write_multiple_blocks(uid, at, len(chunk), b"".join(chunk))
                try:
                    await self._command(uid, frame, Command.WRITE_MULTIPLE_BLOCKS)
                except TagError as exc:
                    if exc.code not in NOT_SUPPORTED_ANSWERS:
                        raise
                    self._single_writes.add(uid)
                    continue
                done += len(chunk)
            else:
                await self._command(
                    uid, iso.write_single_block(uid, at, blocks[done]), Command.WRITE_SINGLE_BLOCK
                )
                done += 1

    async def lock_blocks(self, uid: int, first: int, count: int) -> None:
        _check_range(first, count)
        for block in range(first, first + count):
            await self._command(uid, iso.lock_block(uid, block), Command.LOCK_BLOCK)

    async def write_afi(self, uid: int, afi: int) -> None:
        await self._command(uid, iso.write_afi(uid, afi), Command.WRITE_AFI)

    async def set_eas(self, uid: int) -> None:
        await self._command(uid, iso.set_eas(uid), Command.SET_EAS)

    async def reset_eas(self, uid: int) -> None:
        await self._command(uid, iso.reset_eas(uid), Command.RESET_EAS)

    async def stay_quiet(self, uid: int) -> None:
        """Mutes the tag for inventories and unaddressed commands until it leaves the field (or is reset
        to ready); addressed commands still reach it. No tag ever answers, so silence is no error."""
        await self._exchange(iso.stay_quiet(uid))

    async def reset_to_ready(self, uid: int) -> None:
        """Undoes Stay Quiet (and Select): the tag answers inventories again. TagLost when it is gone."""
        await self._command(uid, iso.reset_to_ready(uid), Command.RESET_TO_READY)

    async def eas_alarm(self, uid: int | None = None) -> bool:
        """Does any tag in the field (or the one named) have EAS set? Any signal but silence counts."""
        (reply,) = await self._exchange(iso.eas_alarm(uid))
        if reply is None:
            return False
        if isinstance(reply, bytes):
            try:
                decode_response(Command.EAS_ALARM, check_crc(reply))
            except TagErrorResponse:
                return False
            except ProtocolError:
                return True
        return True

    async def close(self) -> None:
        self._lost = self._lost or "closed"

    async def set_password(self, uid: int, password_id: PasswordId | int, password: int) -> None:
        """Gives an NXP password for this power-on session (Get Random Number, then Set Password, XORed)."""
        answer = await self._command(uid, iso.get_random_number(uid), Command.GET_RANDOM_NUMBER)
        assert isinstance(answer, iso.RandomNumber)
        frame = iso.set_password(uid, password_id, password, answer.value)
        try:
            await self._command(uid, frame, Command.SET_PASSWORD)
        except CorruptReply:
            raise
        except TagLost:
            raise PasswordRefused(uid) from None

    async def write_password(self, uid: int, password_id: PasswordId | int, password: int) -> None:
        await self._command(uid, iso.write_password(uid, password_id, password), Command.WRITE_PASSWORD)

    async def protect_eas_afi(self, uid: int, *, afi: bool) -> None:
        """NXP Password Protect EAS/AFI: from now on EAS (or the AFI) changes need the EAS/AFI password."""
        await self._command(uid, iso.password_protect_eas_afi(uid, afi=afi), Command.PASSWORD_PROTECT_EAS_AFI)

    # -- more than the Reader interface: what a technician's dump needs ----------------------------------

    async def block_security(self, uid: int, first: int, count: int) -> list[bool]:
        """Which of the blocks are locked (Get Multiple Block Security Status)."""
        _check_range(first, count)
        frame = iso.get_multiple_block_security_status(uid, first, count)
        result = await self._command(uid, frame, Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS, count=count)
        assert isinstance(result, iso.SecurityStatus)
        return [bool(status & BlockSecurity.LOCKED) for status in result.blocks]

    # -- exchanges ------------------------------------------------------------------------------------

    async def _exchange(self, frame: bytes) -> list[SlotReply]:
        if self._lost is not None:
            raise ReaderLost(f"{self.url}: reader {self._lost}; reopen it")
        self.counters.commands += 1
        try:
            return await self._link.transceive(append_crc(frame))
        except ReaderLost as exc:
            self._lost = f"lost ({exc})"
            raise
        except (OSError, EOFError) as exc:
            self._lost = f"lost ({exc or type(exc).__name__})"
            raise ReaderLost(f"{self.url}: {self._lost}") from exc

    async def _command(
        self, uid: int, frame: bytes, command: Command, *, count: int | None = None
    ) -> iso.Response:
        replies = await self._exchange(frame)
        reply = replies[0] if len(replies) == 1 else COLLISION
        if reply is None:
            raise TagLost(uid)
        if isinstance(reply, Collision):
            raise CorruptReply(uid, "collided reply (two tags with one UID?)")
        try:
            return decode_response(command, check_crc(reply), count=count)
        except TagErrorResponse as exc:
            raise TagError(exc.code, uid) from None
        except iso.CrcError:
            raise CorruptReply(uid, "corrupted reply (CRC error)") from None
        except ProtocolError as exc:
            raise CorruptReply(uid, f"malformed reply: {exc}") from None

    async def _read(self, uid: int, frame: bytes, command: Command, count: int) -> list[bytes]:
        result = await self._command(uid, frame, command, count=count)
        assert isinstance(result, iso.Blocks)
        return list(result.data)


def _check_range(first: int, count: int) -> None:
    """Block numbers are one byte on the air: a range beyond that is the caller's bug, not the tag's."""
    if first < 0 or count < 0 or first + count > 256:
        raise ValueError(f"blocks {first}..{first + count - 1} are not within 0..255")
