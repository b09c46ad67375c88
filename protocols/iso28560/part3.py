"""ISO 28560-3, the Danish data model: a fixed basic block guarded by a CRC, then optional extension blocks.

The package's `encode` and `decode` choose between this and ISO 28560-2 (part2); both share `model`.
"""

import re
from functools import reduce
from operator import xor

from tagd.protocols.crc import crc16_ccitt_false
from tagd.protocols.iso28560.model import (
    COUNTRY_CODE,
    BlankTagError,
    CrcError,
    DataModel,
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
    UsageError,
    check_isil,
    check_set,
    check_usage,
)

BASIC_BLOCK = 32
FULL_BASIC_BLOCK = 34
VERSION = 1
_ID_BYTES = 16
_ISIL_AT = 21
_LONG_ID_MARKER = 0x01
_FILLER = 0x01
_MIN_EXTENSION = 4
_THREE_M_BLANK = b"\x55" * 24 + b"\x00" * 4
_PRINTABLE = re.compile(r"[\x20-\x7e]+")


def encode_basic_block(item_id: str, isil: str, parts: int = 1, part: int = 1, usage: int = 1) -> bytes:
    """The 32-byte ISO 28560-3 basic block, as libdanrfid and the Danish data model write it."""
    return _basic_block(item_id, check_isil(isil), parts, part, usage=usage, size=BASIC_BLOCK)


def encode(tag: TagData) -> bytes:
    """Encode as ISO 28560-3; the 32-byte form when the data fits it.

    Otherwise it writes the 34-byte basic block, the extension blocks unchanged and the 00 that ends them.
    A tag read with reversed blocks is written back the same way (zero-padded to whole blocks), as
    libdanrfid does, so the vendor's own readers still understand it.
    """
    if tag.usage is None or tag.usage_qualifier:
        raise UsageError("ISO 28560-3 needs a type of usage and has no sub-qualifier for it")
    isil = None if tag.isil is None else check_isil(tag.isil)
    if not tag.extensions and len(_stored_isil(isil)) <= BASIC_BLOCK - _ISIL_AT:
        encoded = _basic_block(tag.item_id, isil, tag.parts, tag.part, usage=tag.usage, size=BASIC_BLOCK)
    else:
        for extension in tag.extensions:
            _check_extension(extension)
        encoded = _basic_block(tag.item_id, isil, tag.parts, tag.part, usage=tag.usage, size=FULL_BASIC_BLOCK)
        encoded += b"".join(extension.raw for extension in tag.extensions) + b"\0"
    if tag.reversed_blocks:
        return _reverse_blocks(encoded.ljust(-(-len(encoded) // 4) * 4, b"\0"))
    return encoded


def decode(data: bytes) -> TagData:
    """Decode a basic block (as read, or with each 4-byte block reversed) and its extension blocks."""
    reject_blank_or_foreign(data)
    return _decode_basic_block(data)


def crc_matches(data: bytes) -> bool:
    """Whether the data starts with a basic block whose CRC matches, as read or with blocks reversed."""
    return _orientation(data) is not None


def _basic_block(item_id: str, isil: str | None, parts: int, part: int, *, usage: int, size: int) -> bytes:
    check_set(parts, part)
    if parts > 0xFF:
        raise SetInfoError(f"{parts} parts do not fit the basic block's one byte")
    check_usage(usage)
    stored = _stored_isil(isil).encode("ascii")
    if len(stored) > size - _ISIL_AT:
        raise IsilError(
            f"ISIL {isil!r} needs {len(stored)} bytes; the {size}-byte basic block holds {size - _ISIL_AT}"
        )
    block = bytes([VERSION << 4 | usage, parts, part]) + _id_field(item_id) + b"\0\0"
    block += stored.ljust(size - _ISIL_AT, b"\0")
    return block[:19] + _crc(block).to_bytes(2, "little") + block[21:]


def _id_field(item_id: str) -> bytes:
    if not _PRINTABLE.fullmatch(item_id):
        raise IdentifierError(f"item id {item_id!r} must be non-empty printable ASCII")
    if len(item_id) > _ID_BYTES:
        raise IdentifierError(f"item id {item_id!r} is {len(item_id)} bytes; the basic block holds 16")
    return item_id.encode("ascii").ljust(_ID_BYTES, b"\0")


def _stored_isil(isil: str | None) -> str:
    """Country-code ISILs lose their hyphen; it stays where dropping it would read back differently."""
    if isil is None:
        return ""
    packed = isil[:2] + isil[3:]
    if isil[2:3] == "-" and COUNTRY_CODE.fullmatch(isil[:2]) and _reads_back(packed, isil):
        return packed
    return isil


def _reads_back(stored: str, isil: str) -> bool:
    try:
        return _canonical_isil(stored) == isil
    except IsilError:
        return False


def _canonical_isil(stored: str) -> str:
    if stored.find("-") not in (1, 2, 3, 4):
        if not COUNTRY_CODE.fullmatch(stored[:2]):
            raise IsilError(f"owner ISIL field {stored!r} starts with neither PREFIX- nor a country code")
        stored = stored[:2] + "-" + stored[2:]
    return check_isil(stored)


def _crc(block: bytes) -> int:
    """CRC-16/CCITT-FALSE over bytes 0-18 and 21-33; a 32-byte block counts as two more zeros."""
    return crc16_ccitt_false((block[:19] + block[_ISIL_AT:FULL_BASIC_BLOCK]).ljust(BASIC_BLOCK, b"\0"))


def _stored_crc(block: bytes) -> int:
    return int.from_bytes(block[19:21], "little")


def _reverse_blocks(data: bytes) -> bytes:
    return b"".join(data[at : at + 4][::-1] for at in range(0, len(data), 4))


def _orientation(data: bytes) -> tuple[bytes, bool] | None:
    """The block as written and whether it was read with each 4-byte block reversed (libdanrfid's retry)."""
    if len(data) < BASIC_BLOCK:
        return None
    candidates = [(data, False)]
    if len(data) % 4 == 0:
        candidates.append((_reverse_blocks(data), True))
    matching = [(block, flipped) for block, flipped in candidates if _crc(block) == _stored_crc(block)]
    return matching[0] if matching else None


def has_version_header(data: bytes) -> bool:
    return len(data) >= BASIC_BLOCK and VERSION in (data[0] >> 4, data[3] >> 4)


def _decode_basic_block(data: bytes) -> TagData:
    if len(data) < BASIC_BLOCK:
        raise TruncatedError(f"ISO 28560-3 needs at least {BASIC_BLOCK} bytes, got {len(data)}")
    orientation = _orientation(data)
    if orientation is None:
        raise _crc_failure(data)
    block, flipped = orientation
    if block[0] >> 4 != VERSION:
        raise UnknownModelError(f"ISO 28560-3 version {block[0] >> 4} is unknown; version 1 is defined")
    check_set(block[1], block[2])
    if block[3] == _LONG_ID_MARKER:
        raise IdentifierError("item id is longer than 16 bytes (kept in a library extension block, not read)")
    isil = _text_field(block[_ISIL_AT:FULL_BASIC_BLOCK], "owner ISIL", IsilError)
    return TagData(
        model=DataModel.ISO28560_3,
        item_id=_text_field(block[3:19], "primary item identifier", IdentifierError),
        isil=_canonical_isil(isil) if isil else None,
        usage=block[0] & 0x0F,
        parts=block[1],
        part=block[2],
        extensions=_read_extensions(block[FULL_BASIC_BLOCK:]),
        reversed_blocks=flipped,
    )


def _crc_failure(data: bytes) -> Iso28560Error:
    for block, flipped in ((data, False), (_reverse_blocks(data), True)):
        if block[0] >> 4 == VERSION:
            order = " (4-byte blocks reversed)" if flipped else ""
            expected, stored = _crc(block), _stored_crc(block)
            return CrcError(f"ISO 28560-3 bad CRC{order}: expected {expected:#06x}, stored {stored:#06x}")
    return UnknownModelError(f"not ISO 28560-3: version nibble {data[0] >> 4}, not 1, and no matching CRC")


def _text_field(field: bytes, what: str, error: type[Iso28560Error]) -> str:
    value = field.rstrip(b"\0")
    if b"\0" in value:
        raise error(f"{what} {field.hex()} is not NUL-terminated: bytes follow the first 00")
    text = value.decode("latin-1")
    if text and not _PRINTABLE.fullmatch(text):
        raise error(f"{what} {value.hex()} is not printable ASCII")
    return text


def _read_extensions(area: bytes) -> tuple[Extension, ...]:
    """Blocks after byte 34: each starts with its length (all its bytes); 00 ends the list, 01 is a filler."""
    extensions = []
    at = 0
    while at < len(area) and area[at]:
        length = area[at]
        if length == _FILLER:
            at += 1
            continue
        extension = Extension(int.from_bytes(area[at + 1 : at + 3], "little"), area[at : at + length])
        _check_extension(extension, FULL_BASIC_BLOCK + at)
        extensions.append(extension)
        at += length
    return tuple(extensions)


def _check_extension(extension: Extension, offset: int | None = None) -> None:
    """Length byte, block ID (LSB first) and an XOR checksum that makes the block's bytes XOR to 00."""
    raw = extension.raw
    where = "extension block" if offset is None else f"extension block at byte {offset}"
    if len(raw) < _MIN_EXTENSION or raw[0] != len(raw):
        declared = raw[0] if raw else 0
        raise ExtensionBlockError(f"{where}: length byte says {declared} bytes, {len(raw)} there (min. 4)")
    if int.from_bytes(raw[1:3], "little") != extension.key:
        raise ExtensionBlockError(f"{where}: block ID {raw[1:3].hex()} is not {extension.key}")
    if reduce(xor, raw):
        raise ExtensionBlockError(f"{where}: XOR checksum does not add up ({raw.hex()})")


def reject_blank_or_foreign(data: bytes) -> None:
    if not data:
        raise TruncatedError("no tag data")
    for filler in (0x00, 0xFF):
        if data.count(filler) == len(data):
            raise BlankTagError(f"blank tag: every byte is {filler:02X}")
    if data.startswith(_THREE_M_BLANK) and not data[len(_THREE_M_BLANK) :].strip(b"\0"):
        raise BlankTagError("blank 3M tag (55 x 24, 00 x 4)")
    barcode = data[4:20].split(b"\0", 1)[0].decode("latin-1")
    if len(data) >= 24 and data[0] == 0x04 and data[2] == 0x00 and _PRINTABLE.fullmatch(barcode):
        raise ForeignFormatError(f"3M-formatted tag (RFID 501 layout, item {barcode!r}), not ISO 28560")
