"""ISO 28560 tag data: one TagData whichever data model carries it, and the codecs that read and write it.

- `model`: TagData, its typed errors and the checks both data models share.
- `part3`: ISO 28560-3, the Danish basic block with its CRC (libdanrfid's layout).
- `part2`: ISO 28560-2, ISO/IEC 15962 data sets with object identifiers.

`encode` writes in the tag's own model; `decode` tells the two apart, so a station need not know who tagged a
book. Both parts import `model` and nothing of each other.
"""

from tagd.protocols.iso28560 import part2, part3
from tagd.protocols.iso28560.model import (
    AmbiguousNumericError,
    BlankTagError,
    CrcError,
    DataModel,
    DataSetError,
    Extension,
    ExtensionBlockError,
    ForeignFormatError,
    IdentifierError,
    IsilError,
    Iso28560Error,
    SetInfoError,
    TagData,
    TruncatedError,
    UnknownModelError,
    Usage,
    UsageError,
    check_isil,
    check_set,
    check_usage,
)
from tagd.protocols.iso28560.part3 import BASIC_BLOCK, FULL_BASIC_BLOCK, encode_basic_block

_PRINTABLE_FIRST, _PRINTABLE_LAST = 0x20, 0x7E

__all__ = [
    "BASIC_BLOCK",
    "FULL_BASIC_BLOCK",
    "AmbiguousNumericError",
    "BlankTagError",
    "CrcError",
    "DataModel",
    "DataSetError",
    "Extension",
    "ExtensionBlockError",
    "ForeignFormatError",
    "IdentifierError",
    "IsilError",
    "Iso28560Error",
    "SetInfoError",
    "TagData",
    "TruncatedError",
    "UnknownModelError",
    "Usage",
    "UsageError",
    "check_isil",
    "check_set",
    "check_usage",
    "decode",
    "encode",
    "encode_basic_block",
]


def encode(tag: TagData) -> bytes:
    """Encode in the tag's own model (see part3.encode and part2.encode)."""
    if tag.model is DataModel.ISO28560_2:
        return part2.encode(tag)
    return part3.encode(tag)


def decode(data: bytes, model: DataModel | None = None) -> TagData:
    """Decode tag memory read from block 0.

    Without `model`: ISO 28560-3 when the CRC matches (blocks as read, or each 4-byte block reversed), else
    ISO 28560-2 when the data sets parse, starting with the primary item identifier. When neither reads,
    the error is the one of the model the first byte points to: a version-1 header (0x1n) gives ISO
    28560-3's CRC error, and so does a reversed one (4th byte 0x1n) whose first byte as read, then the item
    id's first character, is printable; a precursor of the primary item identifier (0xn1, as 0x91 or 0xC1,
    which no item id starts with) gives ISO 28560-2's error.
    """
    part3.reject_blank_or_foreign(data)
    if model is DataModel.ISO28560_2:
        return part2.decode(data)
    if model is DataModel.ISO28560_3 or part3.crc_matches(data):
        return part3.decode(data)
    try:
        return part2.decode(data)
    except Iso28560Error as not_part2:
        reversed_header = _PRINTABLE_FIRST <= data[0] <= _PRINTABLE_LAST
        if part3.has_version_header(data) and (data[0] >> 4 == part3.VERSION or reversed_header):
            return part3.decode(data)
        if part2.starts_with_primary(data):
            raise
        raise UnknownModelError(
            f"unknown data model: not ISO 28560-3 (first byte 0x{data[0]:02X}), "
            f"and not ISO 28560-2 ({not_part2})"
        ) from not_part2
