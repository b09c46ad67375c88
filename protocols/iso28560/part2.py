"""ISO 28560-2: library data elements as ISO/IEC 15962 data sets, with ISO 28560-2's own ISIL compaction.

A data set is a precursor (offset flag, 3-bit compaction code, 4-bit relative OID, where 15 means "the OID
minus 15 follows in a byte"), an offset byte when flagged (the pad bytes after the data, so that locked data
ends on a block boundary), a length byte and the compacted data. A 00 precursor ends the data.

Compaction as the readers in libraries do it (the ISO/IEC 15962 text itself was not at hand): numeric is
4-bit BCD digits, an odd count padded with a 1111 nibble (dp2's GB/T 35660.2 tests, rfid-harava's
NumericDecoder on a Finnish tag read on FEIG); 5-bit pads with 0s, 6-bit with "100000", 7-bit with 1s (dp2).
Pad bits are never data: fewer bits than a character are dropped, and so is a whole character that lies in
the last byte's pad and reads as a pad pattern (5-bit 00000 or 10000, 6-bit 100000, 7-bit 1111111 or
1000000), which the encoder therefore never lets text end with.

Reading is lenient, writing strict: another vendor's type of usage in octet or numeric compaction, an empty
or non-ISIL owner, a content parameter that declares missing data sets, and tagd's own legacy numeric
compaction are read, each noted in TagData.warnings.

Legacy numeric compaction: tagd before issue 12 wrote numeric items as the integer "1" + digits (00012345 as
05 F6 11 39). Such bytes can also be valid BCD, so the reading is chosen by this rule:
- the legacy reading is possible only for the primary item identifier laid out as tagd wrote it (offset
  byte, fewer than 8 zero pad bytes, data set ending on a 4-byte boundary), whose bytes start non-zero and
  read as an integer starting "10" (tagd wrote numeric compaction only for items with a leading 0);
- BCD alone valid: BCD. Legacy alone valid: legacy, with a warning. Both: AmbiguousNumericError naming both
  readings (never a guess). Neither: DataSetError;
- tagd now writes a BCD item that could also read as legacy with 8 or more pad bytes, so nothing it writes
  is ambiguous. Another vendor's tag in tagd's layout can be (about 1 numeric tag in 25): it is refused.
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
_BCD_PAD = 0x0F
_LEGACY_PAD_LIMIT = 8  # tagd's old encoder padded to a 4- or 8-byte block: fewer than 8 pad bytes
_LEGACY_ALIGN = 4


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
_PAD_BITS = {5: "0", 6: "100000", 7: "1"}  # what the encoder pads with, repeated or cut to fit (dp2)
# Whole pad characters seen in the field: dp2's (5-bit 00000, 6-bit 100000, 7-bit 1111111) and the
# 1-then-0s of tagd before issue 12 (5-bit 10000, 7-bit 1000000).
_PAD_CODES = {5: {0b00000, 0b10000}, 6: {0b100000}, 7: {0b1111111, 0b1000000}}

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
    """Data sets up to 00 or the end; the primary item identifier must come first.

    What does not conform but leaves the item readable goes into TagData.warnings (see the module text).
    """
    sets = _data_sets(data)
    if not sets or sets[0].oid != Oid.PRIMARY_ITEM_IDENTIFIER:
        raise model.DataSetError("ISO 28560-2 data starts with the primary item identifier (relative OID 1)")
    by_oid: dict[int, _DataSet] = {}
    for data_set in sets:
        if data_set.oid in by_oid:
            raise model.DataSetError(f"relative OID {data_set.oid} appears twice")
        by_oid[data_set.oid] = data_set
    notes: list[str] = []
    _check_declared(by_oid, notes)
    item_id = _primary_text(sets[0], notes)
    if not item_id:
        raise model.IdentifierError("primary item identifier is empty")
    owner = by_oid.get(Oid.OWNER_INSTITUTION)
    parts, part = _set_information(by_oid.get(Oid.SET_INFORMATION))
    usage, qualifier = _type_of_usage(by_oid.get(Oid.TYPE_OF_USAGE), notes)
    return model.TagData(
        model=model.DataModel.ISO28560_2,
        item_id=item_id,
        isil=None if owner is None else _owner(owner, notes),
        usage=usage,
        parts=parts,
        part=part,
        usage_qualifier=qualifier,
        extensions=tuple(model.Extension(s.oid, s.raw) for s in sets if s.oid > Oid.TYPE_OF_USAGE),
        warnings=tuple(notes),
    )


def starts_with_primary(data: bytes) -> bool:
    """Whether the first byte is a precursor of the primary item identifier (relative OID 1)."""
    return bool(data) and data[0] & _OID_EXTENDED == Oid.PRIMARY_ITEM_IDENTIFIER


def compact_characters(text: str, compaction: Compaction) -> bytes:
    """`text` in 5-, 6- or 7-bit compaction, padded as the writers in the field pad (see the module text)."""
    if compaction not in _CHARACTER_CODES:
        raise model.DataSetError(f"{compaction.name} is not a 5-, 6- or 7-bit character compaction")
    width, alphabet = _CHARACTER_CODES[compaction]
    unknown = [char for char in text if char not in alphabet]
    if unknown:
        raise model.IdentifierError(f"{unknown[0]!r} has no {width}-bit code")
    return _pack(((alphabet[char], width) for char in text), pad=_PAD_BITS[width])


def compact(text: str) -> tuple[Compaction, bytes]:
    """The most compact ISO/IEC 15962 scheme for `text`: integer, numeric, 5-, 6-, 7-bit, octet, then UTF-8.

    Integer takes digit strings without a leading zero; numeric (BCD) keeps leading zeros.
    """
    if _DIGITS.fullmatch(text):
        if text[0] != "0":
            return Compaction.INTEGER, _unsigned(int(text))
        return Compaction.NUMERIC, compact_numeric(text)
    for compaction, (width, alphabet) in _CHARACTER_CODES.items():
        if all(char in alphabet for char in text) and not _ends_like_pad(text, width, alphabet):
            return compaction, compact_characters(text, compaction)
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
    return _pack(fields, pad="1")


def expand_isil(value: bytes) -> str:
    """The inverse of compact_isil; trailing bits too few for a character are the pad."""
    return model.check_isil(_expand_isil_text(value))


def _expand_isil_text(value: bytes) -> str:
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
    return "".join(text)


def _run(text: str, at: int, charset: _Set) -> int:
    end = at
    while end < len(text) and text[end] in _ISIL_CHARS[charset]:
        end += 1
    return end - at


def compact_numeric(digits: str) -> bytes:
    """Numeric compaction: a 4-bit BCD nibble per digit, an odd count padded with 1111 (dp2: 010 -> 01 0F)."""
    if not _DIGITS.fullmatch(digits):
        raise model.IdentifierError(f"numeric compaction takes digits only, not {digits!r}")
    return bytes.fromhex(digits + "f" * (len(digits) % 2))


def expand_numeric(value: bytes) -> str | None:
    """The digits of BCD data, or None when it is not BCD (a nibble over 9 anywhere but a final 1111 pad)."""
    nibbles = value.hex()
    if nibbles.endswith("f"):
        nibbles = nibbles[:-1]
    return nibbles if nibbles and nibbles.isdigit() else None


def _pad_code(count: int, last: int, width: int, total_bits: int) -> bool:
    """Whether the last of `count` codes may be pad: the codes before it reach the last byte and it reads as
    a pad pattern of that width (_PAD_CODES)."""
    return (count - 1) * width > total_bits - 8 and last in _PAD_CODES[width]


def _ends_like_pad(text: str, width: int, alphabet: dict[str, int]) -> bool:
    """Such text would read back one character short, so it takes the next wider scheme."""
    return bool(text) and _pad_code(len(text), alphabet[text[-1]], width, -(-len(text) * width // 8) * 8)


def _pack(fields: Iterable[tuple[int, int]], *, pad: str) -> bytes:
    """Codes MSB first; the last byte is filled with the `pad` bit pattern, repeated and cut to fit."""
    value = total = 0
    for code, width in fields:
        value, total = value << width | code, total + width
    left = -total % 8
    bits = (pad * 8)[:left]
    value = value << left | (int(bits, 2) if bits else 0)
    return value.to_bytes((total + left) // 8, "big")


def _unsigned(number: int) -> bytes:
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")


def _characters(value: bytes, compaction: Compaction) -> str:
    width, chars = _CHARACTERS[compaction]
    bits = _Bits(value)
    codes = list(iter(lambda: bits.take(width), None))
    if _EOT in codes and compaction is Compaction.BIT6:
        codes = codes[: codes.index(_EOT)]
    elif codes and _pad_code(len(codes), codes[-1], width, len(value) * 8):
        codes.pop()  # a whole pad character: 7-bit 1111111 (dp2), 6-bit 100000, 5-bit 00000
    unknown = [code for code in codes if code not in chars]
    if unknown:
        raise model.DataSetError(f"{width}-bit code 0x{unknown[0]:02X} is a control or reserved code")
    return "".join(chars[code] for code in codes)


def _primary_text(data_set: _DataSet, notes: list[str]) -> str:
    """The item id; numeric data may be tagd's legacy form (the module text gives the rule)."""
    if data_set.compaction is not Compaction.NUMERIC:
        return _text(data_set, "primary item identifier")
    value = data_set.value
    bcd, legacy = expand_numeric(value), _legacy_numeric(data_set)
    if bcd is not None and legacy is not None:
        raise model.AmbiguousNumericError(
            f"primary item identifier: numeric data {value.hex()} reads as {bcd!r} (BCD) and as {legacy!r} "
            "(tagd's legacy 1-prefixed integer); refusing to guess: look the item up and rewrite the tag"
        )
    if legacy is not None:
        notes.append(
            f"legacy numeric compaction: {value.hex()} is tagd's old 1-prefixed integer for {legacy!r}, "
            "not BCD; rewrite the tag"
        )
        return legacy
    if bcd is None:
        raise model.DataSetError(f"primary item identifier: numeric data {value.hex()} is not BCD digits")
    return bcd


def _legacy_numeric(data_set: _DataSet) -> str | None:
    """The digits tagd's old encoder meant, when the data set could be its writing; else None."""
    value, raw = data_set.value, data_set.raw
    pad = len(raw) - 3 - len(value)
    aligned = len(raw) % _LEGACY_ALIGN == 0
    tagd_layout = raw[0] & _OFFSET_FLAG and raw[1] == pad < _LEGACY_PAD_LIMIT and aligned
    if not tagd_layout or raw[len(raw) - pad :].strip(b"\0") or not value or not value[0]:
        return None
    digits = str(int.from_bytes(value, "big"))
    return digits[1:] if digits.startswith("10") else None


def _text(data_set: _DataSet, what: str) -> str:
    value, compaction = data_set.value, data_set.compaction
    if compaction is Compaction.NUMERIC:
        digits = expand_numeric(value)
        if digits is None:
            raise model.DataSetError(f"{what}: numeric data {value.hex()} is not BCD digits")
        return digits
    if compaction is Compaction.INTEGER:
        if not value:
            raise model.DataSetError(f"{what}: integer data is empty")
        return str(int.from_bytes(value, "big"))
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


def _owner(data_set: _DataSet, notes: list[str]) -> str | None:
    """The ISIL; an empty owner data set is None, an owner not in PREFIX-UNIT form is kept as read."""
    if not data_set.value:
        notes.append(f"owner institution data set {data_set.raw.hex()} is empty")
        return None
    if data_set.compaction is Compaction.APPLICATION_DEFINED:
        text = _expand_isil_text(data_set.value)
    else:
        text = _text(data_set, "owner institution")
    try:
        return model.check_isil(text)
    except model.IsilError as error:
        notes.append(f"owner institution {text!r} is not an ISIL ({error})")
        return text


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


def _type_of_usage(data_set: _DataSet | None, notes: list[str]) -> tuple[int | None, int]:
    """One byte: the class (the ISO 28560-3 usage) in the high nibble, a sub-qualifier in the low.

    Vendors also store that byte in octet or numeric compaction (GB/T 35660.2 tags: 65 01 10, 25 01 10): the
    byte is the same, so it is read and the compaction noted. Anything not one byte is noted and skipped.
    """
    if data_set is None:
        return None, 0
    if len(data_set.value) != 1:
        notes.append(f"type of usage {data_set.raw.hex()} is not one byte: not read")
        return None, 0
    if data_set.compaction > Compaction.INTEGER:
        notes.append(f"type of usage {data_set.raw.hex()} uses {data_set.compaction.name.lower()} compaction")
    return data_set.value[0] >> 4, data_set.value[0] & 0x0F


def _check_declared(by_oid: dict[int, _DataSet], notes: list[str]) -> None:
    """The content parameter is a bit map, MSB first from relative OID 3, of the data elements present."""
    content = by_oid.get(Oid.CONTENT_PARAMETER)
    if content is None:
        return
    if content.compaction > Compaction.INTEGER:
        notes.append(f"content parameter {content.raw.hex()} is not an application-defined bit map")
        return
    width = len(content.value) * 8
    bits = int.from_bytes(content.value, "big")
    declared = {_FIRST_BITMAP_OID + at for at in range(width) if bits >> (width - 1 - at) & 1}
    missing = sorted(declared - by_oid.keys())
    if missing:
        notes.append(f"content parameter declares relative OIDs {missing}, not on the tag")


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
    primary = bytes([precursor, pad, len(value)]) + value + bytes(pad)
    if compaction is Compaction.NUMERIC and _legacy_numeric(_read_data_set(primary, 0)) is not None:
        while pad < _LEGACY_PAD_LIMIT:  # BCD that could read as legacy: pad past what the old encoder wrote
            pad += block_size
        primary = bytes([precursor, pad, len(value)]) + value + bytes(pad)
    return primary


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
