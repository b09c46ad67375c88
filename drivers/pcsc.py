"""The `pcsc:<reader name>` reader: ISO 15693 raw frames through a PC/SC 2.0 part 3 transparent session.

Opening connects to the reader (the exact name, or the one reader whose name starts with it), starts the
session (`FF C2 00 00 02 81 00 00`) and switches it to ISO 15693 part 3 (`FF C2 00 02 04 8F 02 02 03 00`);
closing ends it (`FF C2 00 00 02 82 00 00`). Every tag command then goes out as
`FF C2 00 01 Lc 95 n <frame without CRC> 00` and the protocol work is Iso15693Host's, byte for byte the same
as the simulator's (see pcsc_part3 for the replies).

Inventory: part 3 has no way to send the EOFs that open slots 2 to 16 of an ISO 15693 inventory, so the link
carries each 16-slot inventory as sixteen one-slot inventories whose masks are 4 bits longer (slot s gets
the mask extended by s). The tags that answer one of them are exactly those that would answer in slot s, so
the anticollision search above sees the 16 slot replies it asked for.

pyscard blocks, so each reader runs its PC/SC calls on its own single thread, in order. Any PC/SC failure
(card or reader removed, pcscd gone) is ReaderLost: reopen the reader. pcscd reports a card only while the
reader has one; a real contactless reader may report none while its field is empty, and then opening fails
with ReaderLost until a tag is put on it (the virtual card of the tests is present whenever it is
connected).
"""

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tagd.drivers.air import COLLISION, SlotReply
from tagd.drivers.base import DriverError, ReaderLost
from tagd.drivers.iso15693_host import Iso15693Host
from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import (
    Inventory,
    InventoryFlag,
    Request,
    answer_deadline_us,
    append_crc,
    check_crc,
    crc16,
    decode_request,
    encode_request,
)
from tagd.protocols.pcsc_part3 import (
    END_SESSION,
    START_SESSION,
    SWITCH_TO_ISO15693,
    ErrorStatus,
    Part3Error,
    ResponseStatus,
    error_status,
    split_reply,
    transceive_command,
    transceive_result,
)

T = TypeVar("T")


def _scard() -> Any:
    """pyscard's low-level module, imported only when a pcsc: reader is opened (it is an optional extra)."""
    try:
        from smartcard import scard  # noqa: PLC0415 - optional dependency, loaded on first use
    except ImportError as exc:
        raise DriverError(f"pcsc: readers need pyscard; install tagd[pcsc] ({exc})") from None
    return scard


class PcscSession:
    """One connected card handle and the thread its blocking PC/SC calls run on."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._scard = _scard()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pcsc")
        self._context: Any = None
        self._card: Any = None
        self._protocol: Any = None
        self._closed = False

    async def run(self, call: Callable[..., T], *args: object) -> T:
        """Runs a blocking PC/SC call on this reader's thread."""
        if self._closed:
            raise ReaderLost(f"pcsc: {self.name!r} is closed")
        return await asyncio.get_running_loop().run_in_executor(self._thread, call, *args)

    def connect(self, wanted: str) -> None:
        """Context, reader by name, card handle (shared, T=0 or T=1): ReaderLost when any is missing."""
        scard = self._scard
        result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        self._check(result, "no PC/SC service (is pcscd running?)")
        self._context = context
        result, names = scard.SCardListReaders(self._context, [])
        if result == scard.SCARD_E_NO_READERS_AVAILABLE:
            names = []
        else:
            self._check(result, "cannot list the PC/SC readers")
        self.name = pick_reader(wanted, list(names))
        protocols = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        result, card, protocol = scard.SCardConnect(
            self._context, self.name, scard.SCARD_SHARE_SHARED, protocols
        )
        self._check(result, f"cannot connect to {self.name!r}")
        self._card, self._protocol = card, protocol

    def transmit(self, apdu: bytes) -> bytes:
        result, reply = self._scard.SCardTransmit(self._card, self._protocol, list(apdu))
        self._check(result, f"{self.name!r} failed a transmit")
        return bytes(reply)

    def release(self) -> None:
        """Disconnect and drop the context; failures no longer matter here."""
        scard = self._scard
        if self._card is not None:
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
            self._card = None
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None

    async def close(self) -> None:
        if self._closed:
            return
        try:
            await self.run(self.release)
        finally:
            self._closed = True
            self._thread.shutdown(wait=False)

    def _check(self, result: int, what: str) -> None:
        if result != self._scard.SCARD_S_SUCCESS:
            message = self._scard.SCardGetErrorMessage(result).strip()
            raise ReaderLost(f"pcsc: {what}: {message} ({result & 0xFFFFFFFF:#010x})")


def pick_reader(wanted: str, names: list[str]) -> str:
    """The reader named exactly, or the only one whose name starts so (pcscd appends ' 00 00' and such)."""
    if wanted in names:
        return wanted
    starting = [name for name in names if name.startswith(wanted)]
    if len(starting) == 1:
        return starting[0]
    known = ", ".join(repr(name) for name in names) or "none"
    which = "is ambiguous" if starting else "is not connected"
    raise ReaderLost(f"pcsc: reader {wanted!r} {which}; readers: {known}")


class TransparentLink:
    """A Transceiver over the transparent session: a frame with CRC in, what the reader heard out."""

    def __init__(self, session: PcscSession) -> None:
        self.session = session

    async def transceive(self, frame: bytes) -> list[SlotReply]:
        inventory = _sixteen_slot_inventory(frame)
        if inventory is None:
            return [await self._one(frame)]
        request, body = inventory
        replies = []
        for slot in range(16):
            narrower = Inventory(
                body.afi, body.mask_len + 4, body.mask | slot << body.mask_len, one_slot=True
            )
            replies.append(
                await self._one(append_crc(encode_request(dataclasses.replace(request, body=narrower))))
            )
        return replies

    async def _one(self, frame: bytes) -> SlotReply:
        request = check_crc(frame)
        apdu = transceive_command(request, answer_deadline_us(request))
        reply = await self.session.run(self.session.transmit, apdu)
        try:
            heard = transceive_result(reply)
        except Part3Error as exc:
            raise ReaderLost(f"pcsc: {self.session.name!r}: {exc}") from None
        if heard is None:
            return None
        if ResponseStatus.COLLISION in heard.status:
            return COLLISION
        if heard.status.damaged:  # the reader checked the CRC and it failed: hand on a frame that fails too
            return heard.data + (crc16(heard.data) ^ 0xFFFF).to_bytes(2, "little")
        return append_crc(heard.data)


def _sixteen_slot_inventory(frame: bytes) -> tuple[Request, Inventory] | None:
    if not frame or not frame[0] & InventoryFlag.INVENTORY or frame[0] & InventoryFlag.ONE_SLOT:
        return None
    try:
        request = decode_request(check_crc(frame))
    except ProtocolError:
        return None
    return (request, request.body) if isinstance(request.body, Inventory) else None


class PcscReader(Iso15693Host):
    """A Reader on a PC/SC reader in a transparent session; closing ends the session and disconnects."""

    def __init__(self, session: PcscSession, *, url: str) -> None:
        super().__init__(TransparentLink(session), url=url)
        self.session = session

    async def close(self) -> None:
        await super().close()
        with contextlib.suppress(ReaderLost):  # a reader that is gone has no session to end
            await self.session.run(self.session.transmit, END_SESSION)
        await self.session.close()


async def _start(session: PcscSession, url: str) -> None:
    for step, apdu in (
        ("start a transparent session", START_SESSION),
        ("switch to ISO 15693", SWITCH_TO_ISO15693),
    ):
        reply = await session.run(session.transmit, apdu)
        try:
            number, status = error_status(split_reply(reply))
        except Part3Error as exc:
            raise DriverError(f"{url}: the reader cannot {step} (PC/SC part 3): {exc}") from None
        if status != ErrorStatus.OK:
            raise DriverError(f"{url}: the reader cannot {step}: data object {number}, status {status:04X}")


async def open_pcsc_reader(url: str) -> PcscReader:
    """`pcsc:<reader name>` (exact, or a prefix naming one reader), e.g. `pcsc:ACS ACR1552`."""
    scheme, _, name = url.partition(":")
    if scheme != "pcsc" or not name:
        raise DriverError(f"a PC/SC reader URL is pcsc:<reader name>, not {url!r}")
    session = PcscSession(name)
    try:
        await session.run(session.connect, name)
        await _start(session, url)
    except BaseException:
        await session.close()
        raise
    return PcscReader(session, url=url)
