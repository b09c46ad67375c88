"""Tag profiles: how a tag product is recognised from its UID and memory, and how tagd writes it.

No public source says which chip U-TAG-L301 or U-TAG-L1000M carries, so the profiles are configuration
(config/tag-profiles.toml) and the shipped ones are marked as assumptions. A tag no profile recognises is
refused with the reason; tagd never guesses. When several profiles recognise a tag, the most specific wins:

1. a profile with `uid_ranges` (a delivered roll), matching only UIDs inside them;
2. a product profile (with `product`) recognised by chip and memory alone;
3. a plain chip profile (no `product`).

Two matches at the same level are an error (`AmbiguousTag`), and so, at load time, are two profiles of the
same level that could recognise the same tag.
"""

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files
from typing import Any, TypeVar

from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso28560 import BASIC_BLOCK, DataModel
from tagd.protocols.tagtypes import TagProduct

NXP = 0x04
ISO15693_UID_PREFIX = 0xE0


class ProfileError(ProtocolError):
    """A tag-profiles file that cannot be used; the message names the profile and key at fault."""


class UnknownTag(ProtocolError):  # noqa: N818 - the name the encoder and the brief use
    """A tag no profile recognises: refused, never guessed at."""


class AmbiguousTag(UnknownTag):
    """A tag two equally specific profiles recognise: the profiles need a UID range to tell them apart."""


class Chip(StrEnum):
    ICODE_SLI = "icode-sli"
    ICODE_SLIX = "icode-slix"
    ICODE_SLIX2 = "icode-slix2"
    ICODE_SLIX_S = "icode-slix-s"
    ICODE_SLIX_L = "icode-slix-l"


class LockPlan(StrEnum):
    """Which blocks to lock after writing; locking cannot be undone, so `none` is the usual choice."""

    NONE = "none"
    DATA_BLOCKS = "data-blocks"


_CHIP_IC_TYPES = {
    Chip.ICODE_SLI: 0x01,
    Chip.ICODE_SLIX: 0x01,
    Chip.ICODE_SLIX2: 0x01,
    Chip.ICODE_SLIX_S: 0x02,
    Chip.ICODE_SLIX_L: 0x03,
}
_TYPE_01_CHIPS = {0b10: Chip.ICODE_SLIX, 0b01: Chip.ICODE_SLIX2, 0b00: Chip.ICODE_SLI}
"""NXP IC type 01: bits 4:3 of the UID's fourth byte tell SLI, SLIX and SLIX2 apart (NXP AN10787)."""


def uid_byte(uid: int, index: int) -> int:
    """Byte `index` of the UID, most significant first: 0 is E0, 1 the manufacturer, 2 the IC type."""
    return (uid >> (56 - 8 * index)) & 0xFF


def nxp_chip(uid: int) -> Chip | None:
    if uid_byte(uid, 1) != NXP:
        return None
    ic_type = uid_byte(uid, 2)
    if ic_type == 0x01:
        return _TYPE_01_CHIPS.get((uid_byte(uid, 3) >> 3) & 0b11)
    return {0x02: Chip.ICODE_SLIX_S, 0x03: Chip.ICODE_SLIX_L}.get(ic_type)


@dataclass(frozen=True)
class UidRange:
    """UIDs of a delivered roll, both ends included."""

    first: int
    last: int

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and self.first <= uid <= self.last


@dataclass(frozen=True)
class Recognition:
    """What a tag must show to be this profile's; `ic_type` and `chip` of None accept any."""

    manufacturer: int
    ic_type: int | None
    chip: Chip | None
    block_count: int
    block_size: int
    uid_ranges: tuple[UidRange, ...] = ()

    def chip_mismatch(self, uid: int) -> bool:
        return (
            uid_byte(uid, 1) != self.manufacturer
            or self.ic_type not in (None, uid_byte(uid, 2))
            or self.chip not in (None, nxp_chip(uid))
        )

    def why_not(self, uid: int, block_count: int | None, block_size: int | None) -> str | None:
        """Why a tag of the right chip is not this profile's, or None when it is."""
        if block_count not in (None, self.block_count) or block_size not in (None, self.block_size):
            return f"expects {self.block_count} blocks of {self.block_size} bytes"
        if self.uid_ranges and not any(uid in uid_range for uid_range in self.uid_ranges):
            return "UID outside its uid_ranges"
        return None


@dataclass(frozen=True)
class Writing:
    """How a tag of this profile is written; the AFI stays unlocked when it carries security (ISO 28560-1)."""

    data_model: DataModel
    first_block: int
    lock: LockPlan
    write_multiple: bool
    eas_afi_password: bool
    afi_security: bool
    lock_afi: bool


@dataclass(frozen=True)
class TagProfile:
    name: str
    product: TagProduct | None
    assumption: str | None
    recognition: Recognition
    writing: Writing

    @property
    def specificity(self) -> int:
        """2: a UID range, 1: a product by chip and memory, 0: a plain chip (see the module's docstring)."""
        if self.recognition.uid_ranges:
            return 2
        return 1 if self.product is not None else 0

    def blocks_to_lock(self, data_length: int) -> range:
        """The blocks the lock plan locks after `data_length` bytes were written from the first block."""
        if self.writing.lock is LockPlan.NONE:
            return range(0)
        first = self.writing.first_block
        return range(first, first + -(-data_length // self.recognition.block_size))


@dataclass(frozen=True)
class ProfileSet:
    profiles: tuple[TagProfile, ...]

    def named(self, name: str) -> TagProfile:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        known = ", ".join(profile.name for profile in self.profiles)
        raise ProfileError(f"no tag profile named {name!r}; known: {known}")

    def identify(self, uid: int, block_count: int | None = None, block_size: int | None = None) -> TagProfile:
        """The profile of a tag seen in the field; memory of None (not read yet) is not held against it."""
        if not 0 <= uid < 1 << 64 or uid_byte(uid, 0) != ISO15693_UID_PREFIX:
            raise UnknownTag(f"UID {uid:X} is not an ISO 15693 UID (64 bits, starting E0)")
        same_chip = [p for p in self.profiles if not p.recognition.chip_mismatch(uid)]
        matches = [p for p in same_chip if p.recognition.why_not(uid, block_count, block_size) is None]
        if not matches:
            seen = (
                f"manufacturer 0x{uid_byte(uid, 1):02X}, IC type 0x{uid_byte(uid, 2):02X},"
                f" chip {nxp_chip(uid) or 'unknown'},"
                f" {block_count or '?'} blocks of {block_size or '?'} bytes"
            )
            near = "".join(
                f"; {profile.name} {profile.recognition.why_not(uid, block_count, block_size)}"
                for profile in same_chip
            )
            raise UnknownTag(f"no tag profile recognises UID {uid:016X} ({seen}){near}")
        best = max(profile.specificity for profile in matches)
        winners = [profile for profile in matches if profile.specificity == best]
        if len(winners) > 1:
            names = ", ".join(profile.name for profile in winners)
            raise AmbiguousTag(f"UID {uid:016X} is recognised by {names} alike; give one of them uid_ranges")
        return winners[0]


SHIPPED_PROFILES = "tag-profiles.toml"
"""The profiles shipped in the package (config/tag-profiles.toml): the U-TAG products tagd knows."""


@cache
def shipped_profiles() -> ProfileSet:
    """The shipped tag profiles, read once from the package's data."""
    return load_profiles(files("tagd.config").joinpath(SHIPPED_PROFILES).read_text(encoding="utf-8"))


def load_profiles(toml_text: str) -> ProfileSet:
    """Parses and checks a tag-profiles file; every error names the profile and the key at fault."""
    try:
        document = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"tag profiles are not valid TOML: {exc}") from exc
    top = _Table(document, "tag profiles")
    entries = top.array("profile")
    top.done()
    if not entries:
        raise ProfileError("tag profiles: no [[profile]] given")
    profiles = tuple(_profile(entry, f"profile[{index}]") for index, entry in enumerate(entries))
    _check_distinct(profiles)
    return ProfileSet(profiles)


def _profile(entry: object, where: str) -> TagProfile:
    table = _Table(entry, where)
    name = table.text("name")
    if not name.strip():
        raise ProfileError(f"{where}.name is empty")
    where = f"profile {name!r}"
    table.where = where
    product = table.optional_text("product")
    profile = TagProfile(
        name=name,
        product=_choice(TagProduct, product, f"{where}: product") if product is not None else None,
        assumption=table.optional_text("assumption"),
        recognition=_recognition(table.table("recognition")),
        writing=_writing(table.table("writing")),
    )
    table.done()
    _check_writing(profile)
    return profile


def _recognition(table: "_Table") -> Recognition:
    manufacturer = table.integer("manufacturer", 0, 0xFF)
    chip_name = table.optional_text("chip")
    chip = _choice(Chip, chip_name, f"{table.where}.chip") if chip_name is not None else None
    ic_type = table.optional_integer("ic_type", 0, 0xFF)
    if chip is not None:
        if manufacturer != NXP:
            raise ProfileError(f"{table.where}.chip: {chip} is NXP's, manufacturer is 0x{manufacturer:02X}")
        if ic_type not in (None, _CHIP_IC_TYPES[chip]):
            raise ProfileError(f"{table.where}.ic_type: {chip} has IC type 0x{_CHIP_IC_TYPES[chip]:02X}")
        ic_type = _CHIP_IC_TYPES[chip]
    recognition = Recognition(
        manufacturer=manufacturer,
        ic_type=ic_type,
        chip=chip,
        block_count=table.integer("block_count", 1, 256),
        block_size=table.integer("block_size", 1, 32),
        uid_ranges=tuple(
            _uid_range(pair, manufacturer, f"{table.where}.uid_ranges") for pair in table.array("uid_ranges")
        ),
    )
    table.done()
    return recognition


def _uid_range(pair: object, manufacturer: int, where: str) -> UidRange:
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(uid, str) for uid in pair)):
        raise ProfileError(f"{where}: a range is two hex UIDs, first and last, not {pair!r}")
    first, last = (_uid(text, where) for text in pair)
    if first > last:
        raise ProfileError(f"{where}: range {pair[0]}..{pair[1]} ends before it starts")
    if uid_byte(first, 1) != manufacturer or uid_byte(last, 1) != manufacturer:
        raise ProfileError(f"{where}: range {pair[0]}..{pair[1]} is not of manufacturer 0x{manufacturer:02X}")
    return UidRange(first, last)


def _uid(text: str, where: str) -> int:
    digits = text.strip()
    if len(digits) != 16 or not all(char in "0123456789abcdefABCDEF" for char in digits):
        raise ProfileError(f"{where}: {text!r} is not a UID of 16 hex digits")
    uid = int(digits, 16)
    if uid_byte(uid, 0) != ISO15693_UID_PREFIX:
        raise ProfileError(f"{where}: {text!r} does not start with E0")
    return uid


def _writing(table: "_Table") -> Writing:
    writing = Writing(
        data_model=_choice(DataModel, table.text("data_model"), f"{table.where}.data_model"),
        first_block=table.integer("first_block", 0, 255),
        lock=_choice(LockPlan, table.text("lock"), f"{table.where}.lock"),
        write_multiple=table.flag("write_multiple"),
        eas_afi_password=table.flag("eas_afi_password"),
        afi_security=table.flag("afi_security"),
        lock_afi=table.flag("lock_afi"),
    )
    table.done()
    return writing


def _check_writing(profile: TagProfile) -> None:
    where = f"profile {profile.name!r}: writing"
    writing, memory = profile.writing, profile.recognition
    if writing.lock_afi and writing.afi_security:
        raise ProfileError(f"{where}.lock_afi: an AFI that carries security (afi_security) stays unlocked")
    room = (memory.block_count - writing.first_block) * memory.block_size
    if writing.data_model is DataModel.ISO28560_3 and room < BASIC_BLOCK:
        raise ProfileError(
            f"{where}.first_block: {writing.first_block} leaves {max(room, 0)} bytes,"
            f" the ISO 28560-3 basic block needs {BASIC_BLOCK}"
        )


def _check_distinct(profiles: tuple[TagProfile, ...]) -> None:
    """Two profiles of one specificity that could claim the same tag would make `identify` refuse it later."""
    for index, one in enumerate(profiles):
        for other in profiles[index + 1 :]:
            if one.name == other.name:
                raise ProfileError(f"profile {one.name!r} is given twice")
            if one.specificity == other.specificity and _overlap(one.recognition, other.recognition):
                raise ProfileError(
                    f"profiles {one.name!r} and {other.name!r} recognise the same tags;"
                    " give one of them uid_ranges"
                )


def _overlap(one: Recognition, other: Recognition) -> bool:
    """Could one tag satisfy both? Called for equally specific profiles: both have UID ranges or neither."""
    same = (one.manufacturer, one.block_count, one.block_size) == (other.manufacturer, other.block_count,
                                                                   other.block_size)
    compatible = _either(one.ic_type, other.ic_type) and _either(one.chip, other.chip)
    ranges_meet = not one.uid_ranges or any(
        a.first <= b.last and b.first <= a.last for a in one.uid_ranges for b in other.uid_ranges
    )
    return same and compatible and ranges_meet


def _either(one: object, other: object) -> bool:
    """Equal, or one of them is None (accepts anything)."""
    return one is None or other is None or one == other


_E = TypeVar("_E", bound=StrEnum)


def _choice(options: type[_E], value: str, where: str) -> _E:
    for option in options:
        if value == option.value:
            return option
    raise ProfileError(f"{where}: {value!r} is not one of: {', '.join(options)}")


class _Table:
    """One TOML table being read: typed getters that name the key at fault, and a check for unknown keys."""

    def __init__(self, table: object, where: str) -> None:
        if not isinstance(table, dict):
            raise ProfileError(f"{where} must be a table")
        self._table: dict[str, Any] = table
        self._read: set[str] = set()
        self.where = where

    def _get(self, key: str, kind: type, what: str, *, required: bool = True) -> Any:
        self._read.add(key)
        if key not in self._table:
            if required:
                raise ProfileError(f"{self.where}: {key} is missing")
            return None
        value = self._table[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProfileError(f"{self.where}.{key}: {value!r} is not {what}")
        return value

    def text(self, key: str) -> str:
        value: str = self._get(key, str, "a string")
        return value

    def optional_text(self, key: str) -> str | None:
        value: str | None = self._get(key, str, "a string", required=False)
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.optional_integer(key, low, high)
        if value is None:
            raise ProfileError(f"{self.where}: {key} is missing")
        return value

    def optional_integer(self, key: str, low: int, high: int) -> int | None:
        value: int | None = self._get(key, int, "an integer", required=False)
        if value is not None and not low <= value <= high:
            raise ProfileError(f"{self.where}.{key}: {value} is not in {low}..{high}")
        return value

    def flag(self, key: str) -> bool:
        value: bool = self._get(key, bool, "true or false")
        return value

    def array(self, key: str) -> list[object]:
        value: list[object] | None = self._get(key, list, "an array", required=False)
        return value or []

    def table(self, key: str) -> "_Table":
        return _Table(self._get(key, dict, "a table"), f"{self.where}.{key}")

    def done(self) -> None:
        unknown = sorted(set(self._table) - self._read)
        if unknown:
            raise ProfileError(f"{self.where}: unknown key {unknown[0]!r}")
