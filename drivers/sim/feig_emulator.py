"""A FEIG ISC reader in host mode, emulated over a Field of the simulated world.

Each [0xB0]/[0xB1] request becomes real ISO 15693 frames (with CRC) sent through Field.transceive, and what
the field gives back becomes the reader's reply: status 0x01 when no tag answers, 0x95 with the tag's ISO
error code, 0x02 (data false) for a garbled answer. An inventory runs the 16-slot anticollision of protocols
over the field and hands out `page_size` data sets per reply, the rest after status 0x94 for MORE requests.
Block writes and locks go one block at a time with the single-block commands (ICODE chips have no Write
Multiple Blocks), so DB-ADR-E names the block that failed and a tag leaving mid-write leaves a prefix written.
NXP password commands ([0xB1] B2, B3, B4, A6) become the same ISO 15693 frames; the host did the XOR.
The byte side (TCP, pty) is in feig_emulator_serve.
"""

import logging
from typing import Any

from tagd.drivers.air import Collision, hear_slot
from tagd.drivers.sim.world import Field
from tagd.protocols.errors import ProtocolError
from tagd.protocols.feig.commands import (
    DEFAULT_DIALECT,
    BlockData,
    BlockFailure,
    BlockSecurity,
    Command,
    Control,
    Dialect,
    GetBlockSecurity,
    Inventory,
    InventoryData,
    InventoryEntry,
    IsoCode,
    LockBlocks,
    NxpCode,
    NxpCommand,
    PasswordCode,
    PasswordCommand,
    PlainCommand,
    ProtectEasAfi,
    RandomNumber,
    ReadBlocks,
    SystemInfo,
    WriteAfi,
    WriteBlocks,
    decode_command,
)
from tagd.protocols.feig.frames import BROADCAST, READER_ADDRESS, FeigStatus, Reply, Request, reply_to
from tagd.protocols.iso15693 import (
    Anticollision,
    Blocks,
    Response,
    SecurityStatus,
    SetPassword,
    TagErrorResponse,
    WritePassword,
    append_crc,
    check_crc,
    decode_response,
    encode_request,
)
from tagd.protocols.iso15693 import Command as Iso
from tagd.protocols.iso15693 import RandomNumber as IsoRandomNumber
from tagd.protocols.iso15693 import Request as IsoRequest
from tagd.protocols.iso15693 import SystemInfo as IsoSystemInfo
from tagd.protocols.iso15693 import commands as iso

_log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 16
"""Inventory data sets per reply; the rest come after status 0x94, as FEIG readers page long inventories."""


class _Refusal(Exception):  # noqa: N818 - control flow inside the emulator
    """The reply is a status other than OK, with its data."""

    def __init__(self, status: FeigStatus, data: bytes = b"") -> None:
        super().__init__(status.name)
        self.status = status
        self.data = data


class FeigEmulator:
    """The reader's logic: `handle(request)` gives the reply, or None for a request to another bus address.

    Counters: `requests` answered and `garbage_bytes` skipped by its sessions. Field.transceive raising
    ReaderUnplugged passes through: the session then drops the line, as an unplugged reader does.
    """

    def __init__(
        self,
        field: Field,
        *,
        address: int = READER_ADDRESS,
        dialect: Dialect = DEFAULT_DIALECT,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        if not 1 <= page_size <= 0xFF:
            raise ValueError(f"page_size must be 1..255 data sets, got {page_size}")
        self.field = field
        self.address = address
        self.dialect = dialect
        self.page_size = page_size
        self.requests = 0
        self.garbage_bytes = 0
        self._unsent: list[InventoryEntry] = []

    def handle(self, request: Request) -> Reply | None:
        if request.address not in (BROADCAST, self.address):
            return None
        self.requests += 1
        try:
            command = decode_command(request, self.dialect)
        except ProtocolError as exc:
            known = request.control in (Control.ISO_HOST, Control.CUSTOM)
            _log.info("refused %r: %s", request, exc)
            status = FeigStatus.PARAMETER_RANGE_ERROR if known else FeigStatus.UNKNOWN_COMMAND
            return reply_to(request, status, address=self.address)
        try:
            status, data = self._execute(command)
        except _Refusal as refusal:
            status, data = refusal.status, refusal.data
        return reply_to(request, status, data, address=self.address)

    def _execute(self, command: Command) -> tuple[FeigStatus, bytes]:
        match command:
            case Inventory():
                return self._inventory(command)
            case ReadBlocks():
                return FeigStatus.OK, self._read(command)
            case WriteBlocks():
                size = command.block_size
                for i in range(len(command.data) // size):
                    block = command.data[i * size : (i + 1) * size]
                    self._block_step(command, command.first + i, Iso.WRITE_SINGLE_BLOCK, block)
            case LockBlocks():
                for number in range(command.first, command.first + command.count):
                    self._block_step(command, number, Iso.LOCK_BLOCK)
            case GetBlockSecurity():
                frame = iso.get_multiple_block_security_status(
                    command.uid, command.first, command.count, select=command.selected
                )
                status = self._ask(frame, Iso.GET_MULTIPLE_BLOCK_SECURITY_STATUS, count=command.count)
                assert isinstance(status, SecurityStatus)
                return FeigStatus.OK, BlockSecurity(tuple(int(s) for s in status.blocks)).encode()
            case WriteAfi():
                self._ask(iso.write_afi(command.uid, command.afi, select=command.selected), Iso.WRITE_AFI)
            case NxpCommand():
                return self._nxp(command)
            case ProtectEasAfi():
                frame = iso.password_protect_eas_afi(command.uid, afi=command.afi, select=command.selected)
                self._ask(frame, Iso.PASSWORD_PROTECT_EAS_AFI)
            case PasswordCommand():
                self._password(command)
            case PlainCommand():
                return self._plain(command)
        return FeigStatus.OK, b""

    # -- the air side ----------------------------------------------------------------------------------

    def _ask(self, frame: bytes, command: Iso, **decode: Any) -> Response:
        """One ISO 15693 exchange over the field; anything but a clean result becomes the reader's status."""
        reply = self.field.transceive(append_crc(frame))[0]
        if reply is None:
            raise _Refusal(FeigStatus.NO_TRANSPONDER)
        if isinstance(reply, Collision):
            raise _Refusal(FeigStatus.DATA_FALSE)
        try:
            return decode_response(command, check_crc(reply), **decode)
        except TagErrorResponse as exc:
            raise _Refusal(FeigStatus.ISO_ERROR, bytes([exc.code])) from None
        except ProtocolError:
            raise _Refusal(FeigStatus.DATA_FALSE) from None

    def _inventory(self, command: Inventory) -> tuple[FeigStatus, bytes]:
        if not command.more:
            self._unsent = self._search(command.afi)
        if not self._unsent:
            raise _Refusal(FeigStatus.NO_TRANSPONDER)
        page, self._unsent = self._unsent[: self.page_size], self._unsent[self.page_size :]
        status = FeigStatus.MORE_DATA if self._unsent else FeigStatus.OK
        return status, InventoryData(tuple(page)).encode()

    def _search(self, afi: int | None) -> list[InventoryEntry]:
        search, found = Anticollision(afi), dict[int, int]()
        while (request := search.next_request()) is not None:
            replies = self.field.transceive(append_crc(encode_request(request)))
            search.record([hear_slot(reply, found) for reply in replies])
        return [InventoryEntry(uid, dsfid) for uid, dsfid in found.items()]

    def _read(self, command: ReadBlocks) -> bytes:
        frame = iso.read_multiple_blocks(
            command.uid, command.first, command.count, option=command.security, select=command.selected
        )
        blocks = self._ask(frame, Iso.READ_MULTIPLE_BLOCKS, option=command.security, count=command.count)
        assert isinstance(blocks, Blocks)
        security = tuple(int(s) for s in blocks.security) if blocks.security else (0,) * len(blocks.data)
        return BlockData(blocks.block_size, b"".join(blocks.data), security).encode(self.dialect)

    def _block_step(
        self, command: WriteBlocks | LockBlocks, number: int, code: Iso, data: bytes = b""
    ) -> None:
        """Write or lock one block; an ISO error names the block (DB-ADR-E) after the error code."""
        if code is Iso.WRITE_SINGLE_BLOCK:
            frame = iso.write_single_block(command.uid, number, data, select=command.selected)
        else:
            frame = iso.lock_block(command.uid, number, select=command.selected)
        try:
            self._ask(frame, code)
        except _Refusal as refusal:
            if refusal.status is FeigStatus.ISO_ERROR:
                raise _Refusal(refusal.status, BlockFailure(number, refusal.data[0]).encode()) from None
            raise

    def _plain(self, command: PlainCommand) -> tuple[FeigStatus, bytes]:
        uid, selected = command.uid, command.selected
        if command.code is IsoCode.GET_SYSTEM_INFO:
            info = self._ask(iso.get_system_info(uid, select=selected), Iso.GET_SYSTEM_INFO)
            assert isinstance(info, IsoSystemInfo)
            if info.block_count is None or info.block_size is None:
                raise _Refusal(FeigStatus.WRONG_TRANSPONDER_TYPE)
            dsfid, afi, ic_ref = info.dsfid or 0, info.afi or 0, info.ic_reference or 0
            feig = SystemInfo(info.uid, dsfid, afi, info.block_size, info.block_count, ic_ref)
            return FeigStatus.OK, feig.encode(self.dialect)
        if command.code is IsoCode.STAY_QUIET:
            assert uid is not None  # PlainCommand refuses an unaddressed Stay Quiet
            self.field.transceive(append_crc(iso.stay_quiet(uid)))  # a tag never answers it
        elif command.code is IsoCode.SELECT:
            assert uid is not None
            self._ask(iso.select(uid), Iso.SELECT)
        elif command.code is IsoCode.RESET_TO_READY:
            self._ask(iso.reset_to_ready(uid, select=selected), Iso.RESET_TO_READY)
        else:
            self._ask(iso.lock_afi(uid, select=selected), Iso.LOCK_AFI)
        return FeigStatus.OK, b""

    def _nxp(self, command: NxpCommand) -> tuple[FeigStatus, bytes]:
        uid, selected = command.uid, command.selected
        if command.code is NxpCode.EAS_ALARM:
            # Any answer, even tags with EAS set garbling each other, is an alarm; silence is status 0x01.
            if self.field.transceive(append_crc(iso.eas_alarm(uid, select=selected)))[0] is None:
                raise _Refusal(FeigStatus.NO_TRANSPONDER)
            return FeigStatus.OK, b""
        if command.code is NxpCode.GET_RANDOM_NUMBER:
            random = self._ask(iso.get_random_number(uid, select=selected), Iso.GET_RANDOM_NUMBER)
            assert isinstance(random, IsoRandomNumber)
            return FeigStatus.OK, RandomNumber(random.value).encode()
        frames = {
            NxpCode.SET_EAS: (iso.set_eas, Iso.SET_EAS),
            NxpCode.RESET_EAS: (iso.reset_eas, Iso.RESET_EAS),
            NxpCode.LOCK_EAS: (iso.lock_eas, Iso.LOCK_EAS),
        }
        build, code = frames[command.code]
        self._ask(build(uid, select=selected), code)
        return FeigStatus.OK, b""

    def _password(self, command: PasswordCommand) -> None:
        """Set or Write Password, passed on as they came: the host did the XOR with the random number."""
        ident, value = command.password_id, command.password
        if command.code is PasswordCode.SET_PASSWORD:
            body: SetPassword | WritePassword = SetPassword(ident, value)
            code = Iso.SET_PASSWORD
        else:
            body, code = WritePassword(ident, value), Iso.WRITE_PASSWORD
        self._ask(encode_request(IsoRequest(body, command.uid, command.selected)), code)
