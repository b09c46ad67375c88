"""One emulated ISO 15693 tag of the NXP ICODE family: real request frames in, real response frames out.

Requests are parsed with tagd.protocols.iso15693 exactly as a chip would meet them on the air (CRC first), so
whatever a host sends is checked the way hardware checks it. Errors follow ISO/IEC 15693-3 codes (0x10 block
not available, 0x11 already locked, 0x12 locked, 0x01 not supported, 0x02 not recognised); where NXP answers
with its catch-all 0x0F (a password not given) the tag does too. In non-addressed mode a failing command gets
no answer, as the NXP data sheets say ("the label IC remains silent"), so hosts should address tags.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from tagd.drivers.sim.chips import (
    CHIPS,
    EAS_SEQUENCE,
    ChipModel,
    chip_alias,
    profile_named,
    random_number,
    random_uid,
)
from tagd.protocols import iso15693 as iso
from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import Command, ErrorCode, PasswordId, Request, Response, TagErrorResponse
from tagd.protocols.profiles import Chip


class TagState(Enum):
    """ISO/IEC 15693-3 VICC states while powered."""

    READY = "ready"
    SELECTED = "selected"
    QUIET = "quiet"


class _Silent(Exception):  # noqa: N818 - control flow, never leaves this module
    """The tag does not answer this request."""


def _check_writable(*, locked: bool) -> None:
    if locked:
        raise TagErrorResponse(ErrorCode.LOCKED)


def _check_unlocked(*, already: bool) -> None:
    if already:
        raise TagErrorResponse(ErrorCode.ALREADY_LOCKED)


@dataclass(eq=False)
class SimTag:
    """One tag: its memory and security state, its power-on session and the faults a test injects.

    `location` is the name of the field the tag is in (kept by World), None when it is in nobody's.
    """

    uid: int
    profile: str
    chip: Chip
    block_count: int
    block_size: int
    memory: bytearray = field(default_factory=bytearray)
    locked_blocks: set[int] = field(default_factory=set)
    afi: int = 0
    afi_locked: bool = False
    dsfid: int = 0
    dsfid_locked: bool = False
    eas: bool = False
    eas_locked: bool = False
    eas_id: int = 0
    eas_protected: bool = False
    afi_protected: bool = False
    passwords: dict[int, int] = field(default_factory=dict)
    locked_passwords: set[int] = field(default_factory=set)
    unsupported: set[int] = field(default_factory=lambda: {Command.WRITE_MULTIPLE_BLOCKS})
    """Command codes this tag answers 'not supported' to; ICODE chips lack Write Multiple Blocks."""
    location: str | None = None
    state: TagState = TagState.READY
    departed: bool = False
    """Set when leave_after ran out: the field takes the tag out after this exchange."""
    _granted: set[int] = field(default_factory=set)
    _random: int | None = None
    _muted: bool = False
    _budget: int | None = None

    def __post_init__(self) -> None:
        size = self.block_count * self.block_size
        if len(self.memory) > size:
            raise ValueError(f"{len(self.memory)} bytes of memory for {self.block_count}x{self.block_size}")
        self.memory = bytearray(self.memory) + bytes(size - len(self.memory))
        for ident in self.model.passwords:
            self.passwords.setdefault(ident, 0)

    @property
    def model(self) -> ChipModel:
        return CHIPS[self.chip]

    @property
    def present(self) -> bool:
        return self.location is not None

    @classmethod
    def blank(cls, profile: str, uid: int | None = None) -> "SimTag":
        """A factory-fresh tag of a profile: zeroed memory, nothing locked, AFI/DSFID 0, EAS off."""
        shipped = profile_named(profile)
        chip = shipped.recognition.chip
        assert chip is not None  # profile_named only returns chip profiles
        return cls(
            uid=random_uid(chip) if uid is None else uid,
            profile=profile,
            chip=chip,
            block_count=shipped.recognition.block_count,
            block_size=shipped.recognition.block_size,
        )

    def leave_after(self, commands: int) -> None:
        """The tag answers `commands` more commands, then leaves the field; a Write Multiple Blocks spends one
        per block, so one that runs out midway leaves only its first blocks written."""
        self._budget = commands

    def power_off(self) -> None:
        """Leaving the field: the power-on session (state, passwords given, mute) is gone."""
        self.state = TagState.READY
        self._granted.clear()
        self._random = None
        self._muted = False
        self._budget = None
        self.departed = False

    def block(self, number: int) -> bytes:
        start = number * self.block_size
        return bytes(self.memory[start : start + self.block_size])

    # -- the air interface ------------------------------------------------------------------------------

    def handle(self, frame: bytes) -> bytes | None:
        """A request frame with CRC in; the response frame with CRC, or None when the tag stays silent."""
        if self.departed or self._muted:
            return None
        answer = self._answer(frame)
        if answer is None:
            return None
        if isinstance(answer, int):
            return iso.append_crc(iso.encode_error_response(answer))
        return iso.append_crc(iso.encode_response(answer))

    def _answer(self, frame: bytes) -> Response | ErrorCode | int | None:
        try:
            request = iso.decode_request(iso.check_crc(frame))
        except ProtocolError as exc:
            return self._refuse(frame[:-2], exc)
        if not self._concerned(request):
            return None
        try:
            return self._execute(request)
        except _Silent:
            return None
        except TagErrorResponse as exc:
            return exc.code if request.uid is not None or request.select else None

    def _refuse(self, frame: bytes, exc: ProtocolError) -> ErrorCode | None:
        """A request the codec cannot take: an error when it is clearly addressed to this tag, else silence.

        A damaged frame (CRC) and a custom command of another IC manufacturer are ignored, as ISO says.
        """
        if isinstance(exc, iso.CrcError) or len(frame) < 2 or frame[0] & iso.RequestFlag.INVENTORY:
            return None
        if isinstance(exc, iso.UnsupportedCommandError) and exc.manufacturer not in (None, iso.NXP):
            return None
        flags, uid_at = frame[0], 3 if 0xA0 <= frame[1] <= 0xDF else 2
        if flags & iso.RequestFlag.ADDRESSED:
            uid = frame[uid_at : uid_at + 8]
            if len(uid) != 8 or iso.uid_from_bytes(uid) != self.uid:
                return None
        elif not (flags & iso.RequestFlag.SELECT and self.state is TagState.SELECTED):
            return None
        if not self._spend(1):
            return None
        unsupported = isinstance(exc, iso.UnsupportedCommandError)
        return ErrorCode.NOT_SUPPORTED if unsupported else ErrorCode.NOT_RECOGNISED

    def _concerned(self, request: Request) -> bool:
        """Addressing: a quiet tag hears only its UID; the select flag reaches only the selected tag.

        Select is special: it is addressed, and the selected tag it does not name returns to ready.
        """
        if (
            isinstance(request.body, iso.Select)
            and request.uid != self.uid
            and self.state is TagState.SELECTED
        ):
            self.state = TagState.READY
        if request.uid is not None:
            concerned = request.uid == self.uid
        elif request.select:
            concerned = self.state is TagState.SELECTED
        else:
            concerned = self.state is not TagState.QUIET
        if concerned and isinstance(request.body, iso.Inventory):
            concerned = iso.inventory_slot(request.body, self.uid, self.afi) is not None
        return concerned and self._spend(1) > 0

    def _spend(self, cost: int) -> int:
        """Commands left before the tag leaves (see leave_after): how much of `cost` it still carries out."""
        if self._budget is None:
            return cost
        granted = min(cost, self._budget)
        self._budget -= granted
        if granted < cost:
            self.departed = True
        return granted

    def _execute(self, request: Request) -> Response | None:  # noqa: PLR0912 - one case per command
        """Carries out a request meant for this tag; errors are raised as TagErrorResponse."""
        if request.command in self.unsupported:
            raise TagErrorResponse(ErrorCode.NOT_SUPPORTED)
        response: Response | None = iso.Ack()
        match request.body:
            case iso.Inventory():
                response = iso.InventoryResponse(self.uid, self.dsfid)
            case iso.StayQuiet():
                self.state, response = TagState.QUIET, None
            case iso.Select():
                self.state = TagState.SELECTED
            case iso.ResetToReady():
                self.state = TagState.READY
            case iso.GetSystemInfo():
                memory = (self.block_count, self.block_size)
                response = iso.SystemInfo(self.uid, self.dsfid, self.afi, *memory, self.model.ic_reference)
            case iso.ReadSingleBlock(block):
                response = self._read(block, 1, option=request.option)
            case iso.ReadMultipleBlocks(first, count):
                response = self._read(first, count, option=request.option)
            case iso.GetMultipleBlockSecurityStatus(first, count):
                self._check_range(first, count)
                response = iso.SecurityStatus(self._security(first, count))
            case iso.WriteSingleBlock(block, data) | iso.WriteMultipleBlocks(block, _, data):
                self._write(block, data)
            case iso.LockBlock(block):
                self._check_range(block, 1)
                _check_unlocked(already=block in self.locked_blocks)
                self.locked_blocks.add(block)
            case iso.WriteAfi(afi):
                _check_writable(locked=self.afi_locked)
                self._check_password(protected=self.afi_protected)
                self.afi = afi
            case iso.LockAfi():
                _check_unlocked(already=self.afi_locked)
                self._check_password(protected=self.afi_protected)
                self.afi_locked = True
            case iso.WriteDsfid(dsfid):
                _check_writable(locked=self.dsfid_locked)
                self.dsfid = dsfid
            case iso.LockDsfid():
                _check_unlocked(already=self.dsfid_locked)
                self.dsfid_locked = True
            case _:
                response = self._nxp(request)
        return response

    def _nxp(self, request: Request) -> Response:  # noqa: PLR0912 - one case per command
        """The NXP custom commands: EAS, and the passwords that guard it and the AFI."""
        response: Response = iso.Ack()
        match request.body:
            case iso.SetEas() | iso.ResetEas():
                _check_writable(locked=self.eas_locked)
                self._check_password(protected=self.eas_protected)
                self.eas = isinstance(request.body, iso.SetEas)
            case iso.LockEas():
                _check_unlocked(already=self.eas_locked)
                self._check_password(protected=self.eas_protected)
                self.eas_locked = True
            case iso.EasAlarm(mask_len, mask):
                response = self._eas_alarm(mask_len, mask)
            case iso.PasswordProtectEasAfi():
                self._has_password(PasswordId.EAS_AFI)
                self._check_password(protected=True)
                if request.option:
                    self.afi_protected = True
                else:
                    self.eas_protected = True
            case iso.GetRandomNumber():
                if not self.model.passwords:
                    raise TagErrorResponse(ErrorCode.NOT_SUPPORTED)
                self._random = random_number()
                response = iso.RandomNumber(self._random)
            case iso.SetPassword(ident, password):
                if request.uid is None and not request.select:
                    raise _Silent  # addressed or selected mode only
                self._set_password(ident, password)
            case iso.WritePassword(ident, password):
                if request.uid is None and not request.select:
                    raise _Silent  # addressed or selected mode only
                self._check_given(ident)
                _check_writable(locked=ident in self.locked_passwords)
                self.passwords[ident] = password
                self._granted.discard(ident)  # the new password must be given before it grants anything
            case iso.LockPassword(ident):
                self._check_given(ident)
                self.locked_passwords.add(ident)
            case _:
                raise TagErrorResponse(ErrorCode.NOT_SUPPORTED)
        return response

    # -- what the commands share --------------------------------------------------------------------------

    def _check_range(self, first: int, count: int) -> None:
        if first + count > self.block_count:
            raise TagErrorResponse(ErrorCode.BLOCK_NOT_AVAILABLE)

    def _security(self, first: int, count: int) -> tuple[iso.BlockSecurity, ...]:
        return tuple(
            iso.BlockSecurity.LOCKED if n in self.locked_blocks else iso.BlockSecurity(0)
            for n in range(first, first + count)
        )

    def _read(self, first: int, count: int, *, option: bool) -> Response:
        self._check_range(first, count)
        blocks = tuple(self.block(n) for n in range(first, first + count))
        return iso.Blocks(blocks, self._security(first, count) if option else None)

    def _write(self, first: int, data: bytes) -> None:
        """Writes whole blocks; a tag leaving midway (leave_after) keeps the blocks written so far."""
        count, extra = divmod(len(data), self.block_size)
        if extra or not count:
            raise TagErrorResponse(ErrorCode.NOT_RECOGNISED)
        self._check_range(first, count)
        if any(n in self.locked_blocks for n in range(first, first + count)):
            raise TagErrorResponse(ErrorCode.LOCKED)
        done = 1 + self._spend(count - 1)  # the first block was paid for with the command
        start = first * self.block_size
        self.memory[start : start + done * self.block_size] = data[: done * self.block_size]
        if done < count:
            raise _Silent

    def _eas_alarm(self, mask_len: int | None, mask: int) -> Response:
        """Only a tag with EAS set answers; a mask (SLIX2, SLIX-S) narrows it to matching EAS IDs."""
        if not self.eas:
            raise _Silent
        if mask_len is None:
            return iso.EasSequence(EAS_SEQUENCE)
        if not self.model.eas_id:
            raise _Silent  # no EAS ID to match; "if an error is detected the IC remains silent" (SLIX)
        if mask_len == 0:
            return iso.EasId(self.eas_id)
        if (self.eas_id ^ mask) & ((1 << mask_len) - 1):
            raise _Silent
        return iso.EasSequence(EAS_SEQUENCE)

    def _has_password(self, ident: int) -> None:
        if ident not in self.model.passwords:
            code = ErrorCode.UNKNOWN if self.model.passwords else ErrorCode.NOT_SUPPORTED
            raise TagErrorResponse(code)

    def _check_given(self, ident: int) -> None:
        """Write/Lock Password need the password to have been given in this power-on session."""
        self._has_password(ident)
        if ident not in self._granted:
            raise TagErrorResponse(ErrorCode.UNKNOWN)

    def _check_password(self, *, protected: bool) -> None:
        """Once protected, EAS or AFI changes need the EAS/AFI password given in this session (else 0x0F)."""
        if protected and PasswordId.EAS_AFI not in self._granted:
            raise TagErrorResponse(ErrorCode.UNKNOWN)

    def _set_password(self, ident: int, on_air: int) -> None:
        self._has_password(ident)
        if self._random is None:
            raise TagErrorResponse(ErrorCode.UNKNOWN)
        if iso.xor_password(on_air, self._random) != self.passwords[ident]:
            # NXP: after a wrong password the chip ignores everything until the next power-on reset.
            self._muted = True
            raise _Silent
        self._granted.add(ident)

    # -- JSON tag files ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": iso.format_uid(self.uid),
            "profile": self.profile,
            "memory_hex": self.memory.hex().upper(),
            "afi": self.afi,
            "dsfid": self.dsfid,
            "eas": self.eas,
            "locked_blocks": sorted(self.locked_blocks),
            "afi_locked": self.afi_locked,
            "dsfid_locked": self.dsfid_locked,
            "eas_locked": self.eas_locked,
            "afi_protected": self.afi_protected,
            "eas_protected": self.eas_protected,
            "eas_id": self.eas_id,
            "write_multiple": Command.WRITE_MULTIPLE_BLOCKS not in self.unsupported,
            "passwords": {PasswordId(k).name.lower(): v for k, v in sorted(self.passwords.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SimTag":
        """A tag from a JSON tag-file entry. Only `uid` is required: without `profile` the plain chip its UID
        names is taken. ValueError says what is wrong."""
        if "uid" not in data:
            raise ValueError(f"a tag entry needs a 'uid': {data!r}")
        uid = _in_range(int(str(data["uid"]), 16), 1 << 64, "UID")
        tag = cls.blank(str(data.get("profile") or chip_alias(uid)), uid)
        memory = bytes.fromhex(str(data.get("memory_hex", "")))
        if len(memory) > len(tag.memory):
            raise ValueError(f"{len(memory)} bytes of memory, the {tag.profile} tag has {len(tag.memory)}")
        tag.memory[: len(memory)] = memory
        tag.locked_blocks = {
            _in_range(n, tag.block_count, "locked block") for n in data.get("locked_blocks", [])
        }
        tag.afi = _in_range(data.get("afi", 0), 256, "AFI")
        tag.dsfid = _in_range(data.get("dsfid", 0), 256, "DSFID")
        tag.eas_id = _in_range(data.get("eas_id", 0), 1 << 16, "EAS ID")
        for flag in ("eas", "afi_locked", "dsfid_locked", "eas_locked", "afi_protected", "eas_protected"):
            setattr(tag, flag, bool(data.get(flag, False)))
        if data.get("write_multiple", False):
            tag.unsupported.discard(Command.WRITE_MULTIPLE_BLOCKS)
        for name, value in dict(data.get("passwords", {})).items():
            ident = next((p for p in tag.model.passwords if PasswordId(p).name.lower() == name), None)
            if ident is None:
                raise ValueError(f"the {tag.chip} has no {name!r} password")
            tag.passwords[ident] = _in_range(value, 1 << 32, "password")
        return tag


def _in_range(value: object, end: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < end:
        raise ValueError(f"{what} {value!r} is not an integer in 0..{end - 1}")
    return value
