"""ISO 28560-2 data sets, ISO/IEC 15962 compaction and the ISIL compaction.

Vectors: ISO 28560-2:2023 Annex D (the complete encoding of item 123456789012, ISIL US-InU-Mu, set 3 of 12,
shelf location QA268.L55), GOST R ISO 28560-2-2014 Annex C (ISIL DE-Heu1, and CH-000134-1 worked by hand from
its steps), and bit strings built here one character at a time.
"""

from contextlib import suppress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols import iso28560
from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso28560 import DataModel, Extension, TagData
from tagd.protocols.iso28560 import part2 as iso28560_2
from tagd.protocols.iso28560.part2 import Compaction

ANNEX_D = bytes.fromhex(
    "9100051cbe991a14"  # offset, integer, OID 1: 123456789012, no pad (blocks 0-1, locked)
    "0201d0"  # content parameter: OIDs 3, 4 and 6 present
    "140204b3"  # integer, OID 4: set information 1203 = part 3 of 12
    "4607441cb6e2e335d6"  # 6-bit, OID 6: shelf location QA268.L55
    "830207acc09ebaa06f6b0000"  # offset 2, application-defined, OID 3: ISIL US-InU-Mu, then 2 pad bytes
)
SHELF_LOCATION = Extension(6, bytes.fromhex("4607441cb6e2e335d6"))


def bits_to_bytes(bits: str) -> bytes:
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


PAD_BITS = {5: "0" * 7, 6: "1000001", 7: "1" * 7}  # 5-bit 0s, 6-bit 100000 (Annex D: 10), 7-bit 1s (dp2)


def reference_characters(text: str, width: int) -> bytes:
    """5/6/7-bit codes (the low bits of ASCII) as text bits, padded as dp2 and Annex D pad."""
    mask = (1 << width) - 1
    bits = "".join(format(ord(char) & mask, f"0{width}b") for char in text)
    pad = -len(bits) % 8
    return bits_to_bytes(bits + PAD_BITS[width][:pad])


def data_set(precursor: int, value: bytes) -> bytes:
    return bytes([precursor, len(value)]) + value


def primary(value: bytes = b"\xab\x41\x30") -> bytes:
    return data_set(0x11, value)  # integer, OID 1, no offset: 11223344


countries = st.from_regex(r"[A-Z]{2}", fullmatch=True)
other_prefixes = st.from_regex(r"[A-Za-z0-9]|[A-Za-z0-9]{3,4}", fullmatch=True)
isils = st.builds(
    lambda prefix, unit: f"{prefix}-{unit}",
    countries | other_prefixes,
    st.from_regex(r"[A-Za-z0-9/:-]{1,11}", fullmatch=True),
).filter(lambda isil: len(isil) <= 16)


@st.composite
def extensions(draw: st.DrawFn) -> tuple[Extension, ...]:
    keys = draw(st.lists(st.integers(6, 200), unique=True, max_size=3))
    kept = []
    for key in keys:
        compaction, value, pad = (
            draw(st.integers(0, 7)),
            draw(st.binary(max_size=20)),
            draw(st.integers(0, 3)),
        )
        flag = 0x80 if pad or draw(st.booleans()) else 0
        head = bytes([flag | compaction << 4 | min(key, 15)]) + (bytes([key - 15]) if key >= 15 else b"")
        head += bytes([pad]) if flag else b""
        kept.append(Extension(key, head + bytes([len(value)]) + value + bytes(pad)))
    return tuple(kept)


def test_annex_d_example_decodes():
    expected = TagData(
        DataModel.ISO28560_2, "123456789012", "US-InU-Mu", None, 12, 3, extensions=(SHELF_LOCATION,)
    )
    assert iso28560_2.decode(ANNEX_D) == expected
    assert iso28560.decode(ANNEX_D) == expected


def test_annex_d_data_sets_from_their_values():
    assert iso28560_2.compact("123456789012") == (Compaction.INTEGER, bytes.fromhex("1cbe991a14"))
    assert iso28560_2.compact("1203") == (Compaction.INTEGER, bytes.fromhex("04b3"))
    assert iso28560_2.compact("QA268.L55") == (Compaction.BIT6, bytes.fromhex("441cb6e2e335d6"))
    assert iso28560_2.compact_isil("US-InU-Mu") == bytes.fromhex("acc09ebaa06f6b")


def test_annex_d_re_encodes_to_the_same_data():
    encoded = iso28560.encode(iso28560_2.decode(ANNEX_D))
    assert encoded.startswith(ANNEX_D[:8])
    assert iso28560_2.decode(encoded) == iso28560_2.decode(ANNEX_D)


@pytest.mark.parametrize(
    ("isil", "compacted"),
    [
        ("DE-Heu1", bytes.fromhex("21408e16bf1f")),  # GOST R ISO 28560-2 Table C.3
        ("US-InU-Mu", bytes.fromhex("acc09ebaa06f6b")),  # ISO 28560-2:2023 Table D.10
        # C, H, -, latch numeric, 0 0 0 1 3 4, - (in the numeric set), 1, pad 1111 (steps of C.6.2)
        ("CH-000134-1", bits_to_bytes("00011010000000011110000000000000000100110100101000011111")),
    ],
)
def test_isil_compaction_vectors(isil, compacted):
    assert iso28560_2.compact_isil(isil) == compacted
    assert iso28560_2.expand_isil(compacted) == isil


@given(isils)
def test_isil_compaction_round_trip(isil):
    assert iso28560_2.expand_isil(iso28560_2.compact_isil(isil)) == isil


def test_isil_compaction_rejects_foreign_characters():
    with pytest.raises(iso28560.IsilError, match="'%'"):
        iso28560_2.compact_isil("DE-7%5")


def test_isil_with_another_compaction_is_read():
    assert iso28560_2.decode(primary() + data_set(0x63, b"DE-705")).isil == "DE-705"


@pytest.mark.parametrize(
    ("text", "compaction"),
    [
        ("0123", Compaction.NUMERIC),
        ("0", Compaction.NUMERIC),
        ("ABC", Compaction.BIT5),
        ("ABC-12", Compaction.BIT6),
        ("abc", Compaction.BIT7),
        ("Dvořák", Compaction.UTF8),
        ("Kärnten", Compaction.OCTET),
        ("ABCDEFGP", Compaction.BIT6),  # 5-bit would end in a whole pad-like code P: read back one short
        ("ABCDEFG@", Compaction.BIT6),  # or @ (00000)
        ("ABC ", Compaction.BIT7),  # likewise a space in 6-bit
        ("abcdefg@", Compaction.OCTET),  # and @ in 7-bit
        ("abcdefg\x7f", Compaction.OCTET),  # or DEL (1111111)
    ],
)
def test_most_compact_scheme(text, compaction):
    chosen, _ = iso28560_2.compact(text)
    assert chosen is compaction
    assert (
        iso28560_2.decode(iso28560_2.encode(TagData(DataModel.ISO28560_2, text, None, None))).item_id == text
    )


def test_numeric_compaction_is_bcd():
    assert iso28560_2.compact("0123") == (Compaction.NUMERIC, bytes.fromhex("0123"))
    assert iso28560_2.compact("00012345") == (Compaction.NUMERIC, bytes.fromhex("00012345"))


@given(st.from_regex(r"[1-9][0-9]{0,30}", fullmatch=True))
def test_integer_compaction(digits):
    value = int(digits)
    assert iso28560_2.compact(digits) == (
        Compaction.INTEGER,
        value.to_bytes((value.bit_length() + 7) // 8, "big"),
    )


@pytest.mark.parametrize(
    ("alphabet", "width", "compaction", "pad_like"),
    [
        ("ABCDEFGHIJKLMNOQRSTUVWXYZ[\\]^_", 5, Compaction.BIT5, "@P"),
        ("()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ", 6, Compaction.BIT6, " "),
        ("abcdefghijklmnopqrstuvwxyz!\"#$%&'{|}~`", 7, Compaction.BIT7, "@\x7f"),
    ],
)
@given(data=st.data())
def test_character_compaction_against_bit_strings(alphabet, width, compaction, pad_like, data):
    text = data.draw(st.text(alphabet, min_size=1, max_size=30))
    text = {5: "", 6: "(", 7: "a"}[width] + text  # not holdable by a narrower scheme
    assert iso28560_2.compact(text) == (compaction, reference_characters(text, width))
    text += data.draw(st.sampled_from(pad_like))
    tag = TagData(DataModel.ISO28560_2, text, None, None)
    assert iso28560_2.decode(iso28560_2.encode(tag)).item_id == text


def test_encoding_of_an_item():
    tag = TagData(DataModel.ISO28560_2, "11223344", "DE-705", 1)
    assert iso28560_2.encode(tag).hex() == (
        "910203ab41300000"  # offset, integer, OID 1, pad 2, length 3, 0xAB4130 = 11223344, pad to 8 bytes
        "0201a0"  # content parameter: OIDs 3 and 5
        "03042141e705"  # ISIL: D E - (5-bit upper), latch numeric, 7 0 5 (4-bit): 32 bits, no pad
        "050110"  # type of usage: class 1 (circulation), sub-qualifier 0
        "00"  # end of data
    )


@pytest.mark.parametrize("block_size", [1, 4, 8])
@given(item=st.text(min_size=1, max_size=30))
def test_primary_item_identifier_ends_on_a_block_boundary(block_size, item):
    encoded = iso28560_2.encode(TagData(DataModel.ISO28560_2, item, None, None), block_size=block_size)
    assert encoded[0] & 0x8F == 0x81
    assert (3 + encoded[2] + encoded[1]) % block_size == 0
    assert encoded[3 + encoded[2] : 3 + encoded[2] + encoded[1]] == bytes(encoded[1])


@given(
    item=st.text(min_size=1, max_size=40).filter(lambda item: len(item.encode()) <= 120),
    isil=st.none() | isils,
    parts=st.integers(1, 999),
    data=st.data(),
    kept=extensions(),
)
def test_round_trip(item, isil, parts, data, kept):
    part = data.draw(st.integers(1, parts))
    usage = data.draw(st.none() | st.sampled_from(list(iso28560.Usage)))
    qualifier = 0 if usage is None else data.draw(st.integers(0, 15))
    tag = TagData(DataModel.ISO28560_2, item, isil, usage, parts, part, qualifier, kept)
    encoded = iso28560.encode(tag)
    assert iso28560_2.decode(encoded) == tag
    assert iso28560.decode(encoded, DataModel.ISO28560_2) == tag


def test_extended_relative_oid_is_kept():
    title = bytes([0x6F, 17 - 15]) + bytes([3]) + b"abc"  # octet, OID 15 + 2 = 17 (title)
    tag = iso28560_2.decode(primary() + data_set(0x02, b"\x00\x02") + title)
    assert tag.extensions == (Extension(17, title),)
    assert iso28560_2.encode(tag).endswith(bytes.fromhex("02020002") + title + b"\0")


def test_data_after_the_end_is_ignored():
    assert iso28560_2.decode(primary() + b"\0" + b"\xff\x13garbage").item_id == "11223344"


def test_6_bit_end_of_transmission_ends_the_text():
    assert iso28560_2.decode(data_set(0x41, bits_to_bytes("0000011000011000"))).item_id == "A"


@pytest.mark.parametrize(
    ("data", "error", "reason"),
    [
        (ANNEX_D[8:], iso28560.DataSetError, "starts with the primary item identifier"),
        (primary() + primary(), iso28560.DataSetError, "OID 1 appears twice"),
        (bytes.fromhex("1110ab"), iso28560.DataSetError, "needs 18 bytes, 3 left"),
        (bytes.fromhex("9100"), iso28560.DataSetError, "before its length byte"),
        (bytes.fromhex("9f"), iso28560.DataSetError, "before its relative-OID byte"),
        (primary() + bytes.fromhex("100101"), iso28560.DataSetError, "relative OID 0"),
        (bytes.fromhex("1181") + bytes(129), iso28560.DataSetError, "multi-byte length"),
        (data_set(0x21, b"\x0a"), iso28560.DataSetError, "0a is not BCD digits"),
        (data_set(0x21, b"\xf1"), iso28560.DataSetError, "f1 is not BCD digits"),
        (data_set(0x21, b""), iso28560.DataSetError, "is not BCD digits"),
        (data_set(0x11, b""), iso28560.DataSetError, "integer data is empty"),
        (data_set(0x71, b"\xff"), iso28560.DataSetError, "not UTF-8"),
        (data_set(0x01, b"A"), iso28560.DataSetError, "application-defined"),
        (data_set(0x41, bits_to_bytes("0000011000101000")), iso28560.DataSetError, "0x22 is a control"),
        (data_set(0x41, b""), iso28560.IdentifierError, "empty"),
        (primary() + data_set(0x14, b"\x7b"), iso28560.SetInfoError, "'123' is not two equal-width"),
        (primary() + data_set(0x14, (1213).to_bytes(2, "big")), iso28560.SetInfoError, "part 13 of 12"),
        (primary() + data_set(0x44, b"\x04\x28"), iso28560.SetInfoError, "'AB'"),
    ],
)
def test_decode_rejects(data, error, reason):
    with pytest.raises(error, match=reason):
        iso28560_2.decode(data)


def test_type_of_usage_is_class_and_sub_qualifier():
    tag = iso28560_2.decode(primary() + data_set(0x02, b"\x20") + data_set(0x05, b"\x71"))
    assert (tag.usage, tag.usage_qualifier) == (7, 1)


@pytest.mark.parametrize(
    ("changes", "error", "reason"),
    [
        ({"item_id": ""}, iso28560.IdentifierError, "empty"),
        ({"item_id": "x" * 200}, iso28560.IdentifierError, "holds 127"),
        ({"isil": "JP1004314"}, iso28560.IsilError, "malformed"),
        ({"parts": 10**200}, iso28560.DataSetError, "holds 127"),
        ({"parts": 2, "part": 3}, iso28560.SetInfoError, "part 3 of 2"),
        ({"usage": 5}, iso28560.UsageError, "not assigned"),
        ({"usage": 1, "usage_qualifier": 16}, iso28560.UsageError, "not 0-15"),
        ({"usage_qualifier": 2}, iso28560.UsageError, "needs a type of usage"),
        ({"extensions": (Extension(5, data_set(0x05, b"\x10")),)}, iso28560.DataSetError, "from TagData"),
        (
            {"extensions": (Extension(6, data_set(0x06, b"") + b"\0"),)},
            iso28560.DataSetError,
            "not one OID 6",
        ),
        ({"extensions": (Extension(7, data_set(0x06, b"")),)}, iso28560.DataSetError, "not one OID 7"),
        ({"extensions": (Extension(7, b""),)}, iso28560.DataSetError, "not one OID 7"),
        ({"extensions": (SHELF_LOCATION, SHELF_LOCATION)}, iso28560.DataSetError, "twice"),
        ({"reversed_blocks": True}, iso28560.DataSetError, "no reversed-block variant"),
    ],
)
def test_encode_rejects(changes, error, reason):
    fields = {"model": DataModel.ISO28560_2, "item_id": "11223344", "isil": None, "usage": None} | changes
    with pytest.raises(error, match=reason):
        iso28560_2.encode(TagData(**fields))


def test_block_size_must_be_positive():
    with pytest.raises(iso28560.DataSetError, match="block size 0"):
        iso28560_2.encode(TagData(DataModel.ISO28560_2, "1", None, None), block_size=0)


@given(st.binary(max_size=64))
def test_fuzz_decode_never_crashes(data):
    try:
        tag = iso28560_2.decode(data)
    except ProtocolError:
        return
    assert tag.model is DataModel.ISO28560_2


@given(st.integers(0, len(ANNEX_D) - 1), st.integers(0, 255), st.integers(0, len(ANNEX_D)))
def test_fuzz_damaged_annex_d_never_crashes(at, value, cut):
    damaged = bytearray(ANNEX_D)
    damaged[at] = value
    with suppress(ProtocolError):
        iso28560.decode(bytes(damaged[:cut]))
