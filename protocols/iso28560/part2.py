"""ISO 28560-2: library data elements as ISO/IEC 15962 data sets, with ISO 28560-2's own ISIL compaction.

A data set is a precursor (offset flag, 3-bit compaction code, 4-bit relative OID, where 15 means "the OID
minus 15 follows in a byte"), an offset byte when flagged (the pad bytes after the data, so that locked data
ends on a block boundary), a length byte and the compacted data. A 00 precursor ends the data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from tagd.protocols.iso28560 import model

if TYPE_CHECKING:
    from collections.abc import Iterable

_END = 0x00
_OFFSET_FLAG = 0x80
_OID_EXTENDED = 0x0F
_LENGTH_LIMIT = 0x7F
_FIRST_BITMAP_OID = 3
_EOT = 0x21  # the 6-bit code's end of transmission
_DIGITS = re.compile(r"[0-9]+")


class Compaction(IntEnum):
    """ISO/IEC 15962 compaction codes, as the precursor's 3-bit field carries them."""

    APPLICATION_DEFINED = 0
    INTEGER = 1
    NUMERIC = 2
    BIT5 = 3
    BIT6 = 4
    BIT7 = 5
    OCTET = 6
    UTF8 = 7


class Oid(IntEnum):
    """The ISO 28560-2 relative OIDs tagd interprets; higher ones are kept as Extensions."""

    PRIMARY_ITEM_IDENTIFIER = 1
    CONTENT_PARAMETER = 2
    OWNER_INSTITUTION = 3
    SET_INFORMATION = 4
    TYPE_OF_USAGE = 5


class _Set(IntEnum):
    UPPER = 0
    LOWER = 1
    DIGIT = 2


def _ascii_run(first: int) -> dict[str, int]:
    return {chr(first + code): code for code in range(32)}


_CHARACTER_CODES: dict[Compaction, tuple[int, dict[str, int]]] = {
    Compaction.BIT5: (5, _ascii_run(0x40)),
    Compaction.BIT6: (6, _ascii_run(0x40) | {chr(code): code for code in (0x20, *range(0x28, 0x40))}),
    Compaction.BIT7: (7, {chr(code): code for code in range(0x80)}),
}
_CHARACTERS = {
    compaction: (width, {code: char for char, code in table.items()})
    for compaction, (width, table) in _CHARACTER_CODES.items()
}

_ISIL_WIDTH = {_Set.UPPER: 5, _Set.LOWER: 5, _Set.DIGIT: 4}
_ISIL_CHARS = {
    _Set.UPPER: {"-": 0, ":": 27} | {chr(0x40 + code): code for code in range(1, 27)},
    _Set.LOWER: {"-": 0, "/": 27} | {chr(0x60 + code): code for code in range(1, 27)},
    _Set.DIGIT: {str(code): code for code in range(10)} | {"-": 10, ":": 11},
}
_L, _S = True, False  # latch (every character that follows) or shift (the next one only)
_ISIL_SWITCHES = {  # (latch?, target set) -> its code in the current set
    _Set.UPPER: {(_L, _Set.LOWER): 28, (_S, _Set.LOWER): 29, (_L, _Set.DIGIT): 30, (_S, _Set.DIGIT): 31},
    _Set.LOWER: {(_L, _Set.UPPER): 28, (_S, _Set.UPPER): 29, (_L, _Set.DIGIT): 30, (_S, _Set.DIGIT): 31},
    _Set.DIGIT: {(_L, _Set.UPPER): 12, (_S, _Set.UPPER): 13, (_L, _Set.LOWER): 14, (_S, _Set.LOWER): 15},
}
_ISIL_CODES = {
    charset: {code: char for char, code in _ISIL_CHARS[charset].items()}
    | {code: switch for switch, code in _ISIL_SWITCHES[charset].items()}
    for charset in _Set
}


@dataclass(frozen=True)
class _DataSet:
    oid: int
    compaction: Compaction
    value: bytes
    raw: bytes


class _Bits:
    """Reads fixed-width codes MSB first; None once too few bits are left (the pad)."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def take(self, width: int) -> int | None:
        if width > self._left:
            return None
        self._left -= width
        return (self._value >> self._left) & ((1 << width) - 1)


def encode(tag: model.TagData, *, block_size: int = 4) -> bytes:
    """Primary item identifier, content parameter, OIDs 3-5, kept extensions unchanged, then 00.

    The primary item identifier carries an offset byte and pads to a `block_size` boundary, so its blocks can
    be locked. The content parameter lists every other OID present; single-part items omit set information.
    """
    if block_size < 1:
        raise model.DataSetError(f"block size {block_size} must be positive")
    if tag.reversed_blocks:
        raise model.DataSetError("ISO 28560-2 has no reversed-block variant")
    sets = _optional_sets(tag) + [(extension.key, _checked(extension)) for extension in tag.extensions]
    oids = [oid for oid, _ in sets]
    if len(set(oids)) != len(oids):
        raise model.DataSetError(f"a relative OID appears twice in {oids}")
    content = _data_set(Oid.CONTENT_PARAMETER, Compaction.APPLICATION_DEFINED, _bitmap(oids)) if oids else b""
    return _primary(tag.item_id, block_size) + content + b"".join(raw for _, raw in sets) + bytes([_END])


def decode(data: bytes) -> model.TagData:
    """Data sets up to 00 or the end; the primary item identifier must come first."""
    sets = _data_sets(data)
    if not sets or sets[0].oid != Oid.PRIMARY_ITEM_IDENTIFIER:
        raise model.DataSetError("ISO 28560-2 data starts with the primary item identifier (relative OID 1)")
    by_oid: dict[int, _DataSet] = {}
    for data_set in sets:
        if data_set.oid in by_oid:
            raise model.DataSetError(f"relative OID {data_set.oid} appears twice")
        by_oid[data_set.oid] = data_set
    _check_declared(by_oid)
    item_id = _text(sets[0], "primary item identifier")
    if not item_id:
        raise model.IdentifierError("primary item identifier is empty")
    owner = by_oid.get(Oid.OWNER_INSTITUTION)
    parts, part = _set_information(by_oid.get(Oid.SET_INFORMATION))
    usage, qualifier = _type_of_usage(by_oid.get(Oid.TYPE_OF_USAGE))
    return model.TagData(
        model=model.DataModel.ISO28560_2,
        item_id=item_id,
        isil=None if owner is None else _owner(owner),
        usage=usage,
        parts=parts,
        part=part,
        usage_qualifier=qualifier,
        extensions=tuple(model.Extension(s.oid, s.raw) for s in sets if s.oid > Oid.TYPE_OF_USAGE),
    )


def compact(text: str) -> tuple[Compaction, bytes]:
    """The most compact ISO/IEC 15962 scheme for `text`: integer, numeric, 5-, 6-, 7-bit, octet, then UTF-8.

    Integer takes digit strings without a leading zero; numeric keeps leading zeros by prefixing a 1.
    """
    if _DIGITS.fullmatch(text):
        if text[0] != "0":
            return Compaction.INTEGER, _unsigned(int(text))
        return Compaction.NUMERIC, _unsigned(int("1" + text))
    for compaction, (width, alphabet) in _CHARACTER_CODES.items():
        if all(char in alphabet for char in text) and not _ends_like_pad(text, width, alphabet):
            return compaction, _pack(((alphabet[char], width) for char in text), pad_with_ones=False)
    try:
        return Compaction.OCTET, text.encode("latin-1")
    except UnicodeEncodeError:
        return Compaction.UTF8, text.encode("utf-8")


def compact_isil(isil: str) -> bytes:
    """ISO 28560-2's ISIL compaction: 5-bit upper and lower case sets, a 4-bit digit set, pad with 1s.

    It starts in upper case; a run of two or more characters from another set latches to it, a single one
    shifts (the rule the standard's examples DE-Heu1, CH-000134-1 and US-InU-Mu follow).
    """
    fields: list[tuple[int, int]] = []
    latched, at = _Set.UPPER, 0
    while at < len(isil):
        char = isil[at]
        if char in _ISIL_CHARS[latched]:
            fields.append((_ISIL_CHARS[latched][char], _ISIL_WIDTH[latched]))
            at += 1
            continue
        runs = {target: _run(isil, at, target) for target in _Set if char in _ISIL_CHARS[target]}
        if not runs:
            raise model.IsilError(f"{char!r} in {isil!r} is not an ISIL character")
        target = max(runs, key=runs.__getitem__)
        latch = runs[target] > 1
        fields.append((_ISIL_SWITCHES[latched][latch, target], _ISIL_WIDTH[latched]))
        if latch:
            latched = target
        else:
            fields.append((_ISIL_CHARS[target][char], _ISIL_WIDTH[target]))
            at += 1
    return _pack(fields, pad_with_ones=True)


def expand_isil(value: bytes) -> str:
    """The inverse of compact_isil; trailing bits too few for a character are the pad."""
    bits = _Bits(value)
    latched = active = _Set.UPPER
    text = []
    while (code := bits.take(_ISIL_WIDTH[active])) is not None:
        entry = _ISIL_CODES[active][code]
        if isinstance(entry, str):
            text.append(entry)
            active = latched
        elif entry[0]:
            latched = active = entry[1]
        else:
            active = entry[1]
    return model.check_isil("".join(text))


def _run(text: str, at: int, charset: _Set) -> int:
    end = at
    while end < len(text) and text[end] in _ISIL_CHARS[charset]:
        end += 1
    return end - at


def _pad_code(count: int, last: int, width: int, total_bits: int) -> bool:
    """Whether the last of `count` codes may be the pad: the rest fill every byte and it reads 1 0...0."""
    return (count - 1) * width > total_bits - 8 and last == 1 << (width - 1)


def _ends_like_pad(text: str, width: int, alphabet: dict[str, int]) -> bool:
    """Such text would read back one character short, so it takes the next wider scheme."""
    return bool(text) and _pad_code(len(text), alphabet[text[-1]], width, -(-len(text) * width // 8) * 8)


def _pack(fields: Iterable[tuple[int, int]], *, pad_with_ones: bool) -> bytes:
    """Codes MSB first; the last byte is padded with 1s (ISIL) or a 1 then 0s (5/6/7-bit, as 6-bit "10")."""
    value = total = 0
    for code, width in fields:
        value, total = value << width | code, total + width
    pad = -total % 8
    value = value << pad | ((1 << pad) - 1 if pad_with_ones else 1 << pad >> 1)
    return value.to_bytes((total + pad) // 8, "big")


def _unsigned(number: int) -> bytes:
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")


def _characters(value: bytes, compaction: Compaction) -> str:
    width, chars = _CHARACTERS[compaction]
    bits = _Bits(value)
    codes = list(iter(lambda: bits.take(width), None))
    if _EOT in codes and compaction is Compaction.BIT6:
        codes = codes[: codes.index(_EOT)]
    elif codes and _pad_code(len(codes), codes[-1], width, len(value) * 8):
        codes.pop()
    unknown = [code for code in codes if code not in chars]
    if unknown:
        raise model.DataSetError(f"{width}-bit code 0x{unknown[0]:02X} is a control or reserved code")
    return "".join(chars[code] for code in codes)


def _text(data_set: _DataSet, what: str) -> str:
    value, compaction = data_set.value, data_set.compaction
    if compaction in (Compaction.INTEGER, Compaction.NUMERIC):
        if not value:
            raise model.DataSetError(f"{what}: {compaction.name.lower()} data is empty")
        digits = str(int.from_bytes(value, "big"))
        if compaction is Compaction.INTEGER:
            return digits
        if not digits.startswith("1"):
            raise model.DataSetError(f"{what}: numeric data {value.hex()} lacks its leading 1")
        return digits[1:]
    if compaction in _CHARACTERS:
        return _characters(value, compaction)
    if compaction is Compaction.OCTET:
        return value.decode("latin-1")
    if compaction is Compaction.UTF8:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise model.DataSetError(f"{what}: {value.hex()} is not UTF-8") from None
    raise model.DataSetError(f"{what} uses application-defined compaction, which has no text form")


def _owner(data_set: _DataSet) -> str:
    if data_set.compaction is Compaction.APPLICATION_DEFINED:
        return expand_isil(data_set.value)
    return model.check_isil(_text(data_set, "owner institution"))


def _set_information(data_set: _DataSet | None) -> tuple[int, int]:
    """Parts in item, then ordinal part, as one digit string of two equal halves: 12 parts, part 3 = 1203."""
    if data_set is None:
        return 1, 1
    digits = _text(data_set, "set information")
    half = len(digits) // 2
    if not _DIGITS.fullmatch(digits) or len(digits) % 2:
        raise model.SetInfoError(f"set information {digits!r} is not two equal-width numbers")
    parts, part = int(digits[:half]), int(digits[half:])
    model.check_set(parts, part)
    return parts, part


def _type_of_usage(data_set: _DataSet | None) -> tuple[int | None, int]:
    """One byte: the class (the ISO 28560-3 usage) in the high nibble, a sub-qualifier in the low."""
    if data_set is None:
        return None, 0
    if data_set.compaction > Compaction.INTEGER or len(data_set.value) != 1:
        raise model.DataSetError(f"type of usage {data_set.raw.hex()} is not one application-defined byte")
    return data_set.value[0] >> 4, data_set.value[0] & 0x0F


def _check_declared(by_oid: dict[int, _DataSet]) -> None:
    """The content parameter is a bit map, MSB first from relative OID 3, of the data elements present."""
    content = by_oid.get(Oid.CONTENT_PARAMETER)
    if content is None:
        return
    if content.compaction > Compaction.INTEGER:
        raise model.DataSetError(f"content parameter {content.raw.hex()} is not an app-defined bitmap")
    width = len(content.value) * 8
    bits = int.from_bytes(content.value, "big")
    declared = {_FIRST_BITMAP_OID + at for at in range(width) if bits >> (width - 1 - at) & 1}
    missing = sorted(declared - by_oid.keys())
    if missing:
        raise model.DataSetError(f"content parameter declares relative OIDs {missing}, not on the tag")


def _bitmap(oids: list[int]) -> bytes:
    size = (max(oids) - _FIRST_BITMAP_OID) // 8 + 1
    return sum(1 << (size * 8 - 1 - (oid - _FIRST_BITMAP_OID)) for oid in oids).to_bytes(size, "big")


def _primary(item_id: str, block_size: int) -> bytes:
    if not item_id:
        raise model.IdentifierError("item id is empty")
    compaction, value = compact(item_id)
    if len(value) > _LENGTH_LIMIT:
        raise model.IdentifierError(f"item id compacts to {len(value)} bytes; a data set holds 127")
    pad = -(3 + len(value)) % block_size
    precursor = _OFFSET_FLAG | compaction << 4 | Oid.PRIMARY_ITEM_IDENTIFIER
    return bytes([precursor, pad, len(value)]) + value + bytes(pad)


def _optional_sets(tag: model.TagData) -> list[tuple[int, bytes]]:
    sets: list[tuple[int, bytes]] = []
    if tag.isil is not None:
        isil = compact_isil(model.check_isil(tag.isil))
        owner = _data_set(Oid.OWNER_INSTITUTION, Compaction.APPLICATION_DEFINED, isil)
        sets.append((Oid.OWNER_INSTITUTION, owner))
    model.check_set(tag.parts, tag.part)
    if (tag.parts, tag.part) != (1, 1):
        digits = f"{tag.parts}{tag.part:0{len(str(tag.parts))}}"
        sets.append((Oid.SET_INFORMATION, _data_set(Oid.SET_INFORMATION, *compact(digits))))
    if tag.usage is None:
        if tag.usage_qualifier:
            raise model.UsageError("a type-of-usage sub-qualifier needs a type of usage")
        return sets
    model.check_usage(tag.usage)
    if not 0 <= tag.usage_qualifier <= 0x0F:
        raise model.UsageError(f"type-of-usage sub-qualifier {tag.usage_qualifier} is not 0-15")
    usage = bytes([tag.usage << 4 | tag.usage_qualifier])
    sets.append((Oid.TYPE_OF_USAGE, _data_set(Oid.TYPE_OF_USAGE, Compaction.APPLICATION_DEFINED, usage)))
    return sets


def _data_set(oid: Oid, compaction: Compaction, value: bytes) -> bytes:
    if len(value) > _LENGTH_LIMIT:
        raise model.DataSetError(f"relative OID {oid} compacts to {len(value)} bytes; a data set holds 127")
    return bytes([compaction << 4 | oid, len(value)]) + value


def _checked(extension: model.Extension) -> bytes:
    if extension.key <= Oid.TYPE_OF_USAGE:
        raise model.DataSetError(f"relative OID {extension.key} is encoded from TagData, not as an extension")
    data_set = _read_data_set(extension.raw, 0) if extension.raw else None
    if data_set is None or data_set.raw != extension.raw or data_set.oid != extension.key:
        raise model.DataSetError(f"extension {extension.raw.hex()} is not one OID {extension.key} data set")
    return extension.raw


def _data_sets(data: bytes) -> list[_DataSet]:
    sets = []
    at = 0
    while at < len(data) and data[at] != _END:
        data_set = _read_data_set(data, at)
        sets.append(data_set)
        at += len(data_set.raw)
    return sets


def _read_data_set(data: bytes, start: int) -> _DataSet:
    precursor = data[start]
    header = [precursor]

    def next_byte(what: str) -> int:
        at = start + len(header)
        if at >= len(data):
            raise model.DataSetError(f"data set at byte {start} ends before its {what} byte")
        header.append(data[at])
        return data[at]

    oid = precursor & _OID_EXTENDED
    if oid == _OID_EXTENDED:
        oid += next_byte("relative-OID")
    if oid == 0:
        raise model.DataSetError(f"precursor 0x{precursor:02X} at byte {start} names relative OID 0")
    pad = next_byte("offset") if precursor & _OFFSET_FLAG else 0
    length = next_byte("length")
    if length > _LENGTH_LIMIT:
        raise model.DataSetError(f"data set at byte {start}: multi-byte length 0x{length:02X} unsupported")
    begin = start + len(header)
    end = begin + length + pad
    if end > len(data):
        needed, left = end - start, len(data) - start
        raise model.DataSetError(f"data set at byte {start} (OID {oid}) needs {needed} bytes, {left} left")
    return _DataSet(oid, Compaction(precursor >> 4 & 0x07), data[begin : begin + length], data[start:end])
