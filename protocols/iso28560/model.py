"""ISO 28560 tag data, whichever data model carries it: TagData, its typed errors and the shared checks.

Both codecs import this module and nothing of each other: part3 (ISO 28560-3, the Danish basic block) and
part2 (ISO 28560-2, ISO/IEC 15962 data sets). The package's `decode` tells the two apart.
"""

import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from tagd.protocols.errors import ProtocolError

_ISIL = re.compile(r"([A-Za-z0-9]{1,4})-[A-Za-z0-9/:-]+")
COUNTRY_CODE = re.compile(r"[A-Z]{2}")
_ISIL_MAX = 16


class Iso28560Error(ProtocolError):
    """Tag data that is not valid ISO 28560; each subclass names the check that failed."""


class TruncatedError(Iso28560Error):
    """Fewer bytes than the data model needs: a short read."""


class BlankTagError(Iso28560Error):
    """A tag nobody has written library data to yet."""


class ForeignFormatError(Iso28560Error):
    """Another vendor's layout (3M), which tagd reports rather than misreads."""


class UnknownModelError(Iso28560Error):
    """Neither ISO 28560-3 version 1 nor ISO 28560-2."""


class CrcError(Iso28560Error):
    """The basic block's CRC does not match: a torn write or damaged memory."""


class IdentifierError(Iso28560Error):
    """A primary item identifier that cannot be stored or read."""


class IsilError(Iso28560Error):
    """An owner ISIL that is malformed or does not fit its field."""


class SetInfoError(Iso28560Error):
    """Parts in item / ordinal part number out of range."""


class UsageError(Iso28560Error):
    """A type of usage the standard does not assign."""


class ExtensionBlockError(Iso28560Error):
    """A malformed ISO 28560-3 extension block."""


class DataSetError(Iso28560Error):
    """A malformed ISO/IEC 15962 data set in ISO 28560-2 data."""


class AmbiguousNumericError(DataSetError):
    """Numeric-compacted data that reads as two different items: BCD, and tagd's legacy "1"-prefixed integer.

    tagd refuses such a tag rather than guess; the message names both readings, so the item can be looked up
    and the tag rewritten (see part2 for the rule).
    """


class DataModel(StrEnum):
    ISO28560_3 = "iso28560-3"
    ISO28560_2 = "iso28560-2"


class Usage(IntEnum):
    """The assigned types of usage (ISO 28560-1); 5 and 10-15 are reserved for future use."""

    ACQUISITION = 0
    CIRCULATION = 1
    NOT_FOR_CIRCULATION = 2
    LOCAL_USE_3 = 3
    LOCAL_USE_4 = 4
    NO_INFORMATION = 6
    DISCARDED = 7
    PATRON_CARD = 8
    EQUIPMENT = 9


@dataclass(frozen=True)
class Extension:
    """Data tagd does not interpret, kept byte for byte so that rewriting a tag never loses it.

    `key` is the data block ID (ISO 28560-3) or the relative OID (ISO 28560-2); `raw` is the whole block or
    data set as stored.
    """

    key: int
    raw: bytes


@dataclass(frozen=True)
class TagData:
    """One item's tag data, the same shape whichever data model carries it.

    `warnings` says what was read but does not conform (another vendor's layout, tagd's legacy numeric
    compaction): the item was read all the same. tagd never writes such data, and encode ignores warnings.
    """

    model: DataModel
    item_id: str
    isil: str | None
    usage: int | None
    parts: int = 1
    part: int = 1
    usage_qualifier: int = 0
    extensions: tuple[Extension, ...] = ()
    reversed_blocks: bool = False
    warnings: tuple[str, ...] = ()


def check_isil(isil: str) -> str:
    """An ISIL per ISO 15511: a 1-4 character prefix (2 = ISO 3166 country code), a hyphen, the unit."""
    match = _ISIL.fullmatch(isil)
    if match is None or len(isil) > _ISIL_MAX:
        raise IsilError(f"malformed ISIL {isil!r}: expected PREFIX-UNIT, at most 16 of A-Z a-z 0-9 / : -")
    if len(match[1]) == 2 and not COUNTRY_CODE.fullmatch(match[1]):
        raise IsilError(f"ISIL {isil!r}: a two-character prefix must be an upper-case country code")
    return isil


def check_set(parts: int, part: int) -> None:
    if parts < 1 or not 1 <= part <= parts:
        raise SetInfoError(f"part {part} of {parts}: need 1 <= part <= parts")


def check_usage(usage: int) -> None:
    try:
        Usage(usage)
    except ValueError:
        raise UsageError(f"type of usage {usage} is not assigned (0-4, 6-9)") from None
