"""ISO 28560-3 basic block, the shared model and model detection.

Expected values come from libdanrfid's DDMDataTest vector, protocol-notes.md, Biblio-RFID's 3M layouts and an
independent bit-at-a-time CRC and byte layout written here from protocol-notes.md.
"""

from contextlib import suppress
from dataclasses import replace
from functools import reduce
from operator import xor

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tagd.protocols import iso28560
from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso28560 import DataModel, Extension, TagData

LIBDANRFID = bytes.fromhex("11010131313232333334340000000000000000513e4445373035000000000000")


def ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, one bit at a time."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def with_crc(block: bytes) -> bytes:
    """Fill bytes 19-20 with the CRC over bytes 0-18 and 21-33, zero-padded to 32 bytes, LSB first."""
    crc = ccitt_false((block[:19] + block[21:34]).ljust(32, b"\0"))
    return block[:19] + crc.to_bytes(2, "little") + block[21:]


def layout(usage: int, parts: int, part: int, item: bytes, isil: bytes, *, size: int = 32) -> bytes:
    return with_crc(
        bytes([0x10 | usage, parts, part]) + item.ljust(16, b"\0") + b"\0\0" + isil.ljust(size - 21, b"\0")
    )


def reverse_blocks(data: bytes) -> bytes:
    return b"".join(data[i : i + 4][::-1] for i in range(0, len(data), 4))


def extension_block(block_id: int, payload: bytes) -> bytes:
    """Length, block ID LSB first, XOR checksum, data: the bytes XOR to zero."""
    head = bytes([4 + len(payload)]) + block_id.to_bytes(2, "little")
    return head + bytes([reduce(xor, head + payload, 0)]) + payload


printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=16)
countries = st.from_regex(r"[A-Z]{2}", fullmatch=True)
units = st.from_regex(r"[A-Za-z0-9/:-]{1,9}", fullmatch=True)
other_prefixes = st.from_regex(r"[A-Za-z0-9]|[A-Za-z0-9]{3,4}", fullmatch=True)
isils = st.builds(lambda prefix, unit: f"{prefix}-{unit}", countries | other_prefixes, units)
usages = st.sampled_from(list(iso28560.Usage))


@st.composite
def part_of(draw: st.DrawFn) -> tuple[int, int]:
    parts = draw(st.integers(1, 255))
    return parts, draw(st.integers(1, parts))


def test_libdanrfid_vector_encodes():
    assert iso28560.encode_basic_block(item_id="11223344", isil="DE-705") == LIBDANRFID


def test_libdanrfid_vector_decodes():
    assert iso28560.decode(LIBDANRFID) == TagData(DataModel.ISO28560_3, "11223344", "DE-705", 1)


def test_crc_of_the_vector_is_3e51_lsb_first():
    assert LIBDANRFID[19:21] == bytes([0x51, 0x3E])
    assert ccitt_false(LIBDANRFID[:19] + LIBDANRFID[21:] + b"\0\0") == 0x3E51


def test_japanese_isil_drops_the_hyphen():
    block = iso28560.encode_basic_block("123456782", "JP-1004314")
    assert block == layout(1, 1, 1, b"123456782", b"JP1004314")
    assert iso28560.decode(block).isil == "JP-1004314"


@given(printable, isils.filter(lambda isil: len(isil) <= 11), part_of(), usages)
def test_basic_block_layout_and_round_trip(item, isil, set_info, usage):
    parts, part = set_info
    block = iso28560.encode_basic_block(item, isil, parts, part, usage)
    if isil[2] == "-" and len(isil.split("-", 2)[1]) >= 3:  # a country code, unit free of an early hyphen
        assert block == layout(usage, parts, part, item.encode(), (isil[:2] + isil[3:]).encode())
    assert iso28560.decode(block) == TagData(DataModel.ISO28560_3, item, isil, usage, parts, part)


@given(isils.filter(lambda isil: len(isil) <= 13))
def test_every_isil_that_fits_reads_back(isil):
    tag = TagData(DataModel.ISO28560_3, "1", isil, 1)
    assert iso28560.decode(iso28560.encode(tag)).isil == isil


@pytest.mark.parametrize(
    ("isil", "stored"),
    [
        ("DE-705", b"DE705"),
        ("ZDB-1", b"ZDB-1"),
        ("Z-9", b"Z-9"),
        ("DE-AB-1", b"DE-AB-1"),
        ("DE-AB-", b"DE-AB-"),
        ("CH-000134-1", b"CH000134-1"),
    ],
)
def test_isil_field(isil, stored):
    block = iso28560.encode_basic_block("1", isil)
    assert block[21:32] == stored.ljust(11, b"\0")
    assert iso28560.decode(block).isil == isil


def test_reversed_blocks_are_recognised():
    tag = iso28560.decode(reverse_blocks(LIBDANRFID))
    assert tag == TagData(DataModel.ISO28560_3, "11223344", "DE-705", 1, reversed_blocks=True)


def test_reversed_tag_is_written_back_reversed():
    reversed_vector = reverse_blocks(LIBDANRFID)
    assert iso28560.encode(iso28560.decode(reversed_vector)) == reversed_vector
    title = extension_block(4, b"\x00Rashomon\x00")
    tag = TagData(
        DataModel.ISO28560_3, "1", "DE-705", 1, extensions=(Extension(4, title),), reversed_blocks=True
    )
    written = iso28560.encode(tag)
    assert len(written) % 4 == 0
    assert iso28560.decode(written) == tag


def test_bad_crc_names_expected_and_stored():
    damaged = LIBDANRFID[:31] + b"\x01"
    expected = ccitt_false(damaged[:19] + damaged[21:] + b"\0\0")
    with pytest.raises(iso28560.CrcError, match=f"expected {expected:#06x}, stored 0x3e51"):
        iso28560.decode(damaged)


@pytest.mark.parametrize("model", [None, DataModel.ISO28560_3])
def test_bad_crc_on_reversed_blocks_says_so(model):
    damaged = reverse_blocks(LIBDANRFID[:31] + b"\x01")
    with pytest.raises(iso28560.CrcError, match="blocks reversed"):
        iso28560.decode(damaged, model)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes(32), "every byte is 00"),
        (b"\xff" * 32, "every byte is FF"),
        (b"\x55" * 24 + bytes(4), "3M"),
        (b"\x55" * 24 + bytes(8), "3M"),
    ],
)
def test_blank_tags(data, reason):
    for model in (None, DataModel.ISO28560_3, DataModel.ISO28560_2):
        with pytest.raises(iso28560.BlankTagError, match=reason):
            iso28560.decode(data, model)


def test_3m_formatted_tag_is_foreign():
    three_m = (
        bytes([0x04, 0x12, 0x00, 0x01]) + b"1301234567".ljust(16, b"\0") + bytes(12)
    )  # Biblio-RFID RFID501
    with pytest.raises(iso28560.ForeignFormatError, match="'1301234567'"):
        iso28560.decode(three_m)


def test_no_data_is_truncated():
    with pytest.raises(iso28560.TruncatedError):
        iso28560.decode(b"")
    with pytest.raises(iso28560.TruncatedError, match="32 bytes, got 20"):
        iso28560.decode(LIBDANRFID[:20], DataModel.ISO28560_3)


def test_identifier_not_nul_terminated():
    block = layout(1, 1, 1, b"1122\0\0X", b"DE705")
    with pytest.raises(iso28560.IdentifierError, match="not NUL-terminated"):
        iso28560.decode(block)


def test_identifier_longer_than_16_bytes_marker():
    block = layout(1, 1, 1, b"\x01", b"DE705")
    with pytest.raises(iso28560.IdentifierError, match="longer than 16 bytes"):
        iso28560.decode(block)


def test_identifier_not_ascii():
    with pytest.raises(iso28560.IdentifierError, match="printable ASCII"):
        iso28560.decode(layout(1, 1, 1, b"12\xe934", b"DE705"))


def test_unknown_version_with_valid_crc():
    block = with_crc(b"\x21" + LIBDANRFID[1:])
    with pytest.raises(iso28560.UnknownModelError, match="version 2"):
        iso28560.decode(block)


def test_neither_model_is_unknown():
    with pytest.raises(iso28560.UnknownModelError, match=r"not ISO 28560-3.*not ISO 28560-2"):
        iso28560.decode(b"\x47" * 32)
    with pytest.raises(iso28560.UnknownModelError, match="version nibble 4"):
        iso28560.decode(b"\x47" * 32, DataModel.ISO28560_3)


def test_malformed_isil_field():
    with pytest.raises(iso28560.IsilError, match="country code"):
        iso28560.decode(layout(1, 1, 1, b"1", b"de705"))


def test_set_info_out_of_range_on_tag():
    with pytest.raises(iso28560.SetInfoError):
        iso28560.decode(layout(1, 2, 3, b"1", b"DE705"))


def test_empty_isil_field_reads_as_none_and_round_trips():
    tag = TagData(DataModel.ISO28560_3, "42", None, 0)
    block = iso28560.encode(tag)
    assert block == layout(0, 1, 1, b"42", b"")
    assert iso28560.decode(block) == tag


@pytest.mark.parametrize(
    ("kwargs", "error", "reason"),
    [
        ({"item_id": "12345678901234567"}, iso28560.IdentifierError, "17 bytes"),
        ({"item_id": "1234é"}, iso28560.IdentifierError, "printable ASCII"),
        ({"item_id": ""}, iso28560.IdentifierError, "non-empty"),
        ({"parts": 0}, iso28560.SetInfoError, "part 1 of 0"),
        ({"parts": 256}, iso28560.SetInfoError, "256 parts"),
        ({"parts": 2, "part": 3}, iso28560.SetInfoError, "part 3 of 2"),
        ({"part": 0}, iso28560.SetInfoError, "part 0 of 1"),
        ({"isil": "DE-1234567890"}, iso28560.IsilError, "holds 11"),
        ({"isil": "DE705"}, iso28560.IsilError, "malformed"),
        ({"isil": "DE-70 5"}, iso28560.IsilError, "malformed"),
        ({"isil": "D1-705"}, iso28560.IsilError, "country code"),
        ({"isil": "de-705"}, iso28560.IsilError, "country code"),
        ({"isil": "DE-12345678901234"}, iso28560.IsilError, "at most 16"),
        ({"usage": 5}, iso28560.UsageError, "not assigned"),
        ({"usage": 10}, iso28560.UsageError, "not assigned"),
        ({"usage": -1}, iso28560.UsageError, "not assigned"),
    ],
)
def test_encode_rejects(kwargs, error, reason):
    arguments = {"item_id": "11223344", "isil": "DE-705"} | kwargs
    with pytest.raises(error, match=reason):
        iso28560.encode_basic_block(**arguments)


def test_errors_are_protocol_errors():
    assert issubclass(iso28560.Iso28560Error, ProtocolError)
    assert issubclass(iso28560.CrcError, iso28560.Iso28560Error)


def test_long_isil_takes_the_34_byte_form():
    tag = TagData(DataModel.ISO28560_3, "11223344", "DE-Heu12345678", 1)
    encoded = iso28560.encode(tag)
    assert encoded == layout(1, 1, 1, b"11223344", b"DEHeu12345678", size=34) + b"\0"
    assert iso28560.decode(encoded) == tag
    with pytest.raises(iso28560.IsilError, match="holds 11"):
        iso28560.encode_basic_block("11223344", "DE-Heu12345678")


def test_extension_blocks_are_kept_and_rewritten_unchanged():
    title = extension_block(4, b"\x00Rashomon\x00")
    unknown = extension_block(0x1234, b"\xde\xad")
    data = layout(1, 1, 1, b"11223344", b"DE705", size=34) + title + b"\x01" + unknown + b"\0" + b"\x99" * 3
    tag = iso28560.decode(data)
    assert tag.extensions == (Extension(4, title), Extension(0x1234, unknown))
    assert iso28560.encode(tag) == layout(1, 1, 1, b"11223344", b"DE705", size=34) + title + unknown + b"\0"


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=20)), max_size=4))
def test_extension_round_trip(blocks):
    extensions = tuple(Extension(key, extension_block(key, payload)) for key, payload in blocks)
    tag = TagData(DataModel.ISO28560_3, "1", "JP-1004314", 2, extensions=extensions)
    assert iso28560.decode(iso28560.encode(tag)) == tag


@pytest.mark.parametrize(
    ("area", "reason"),
    [
        (extension_block(4, b"ab")[:-1] + b"\x00", "XOR checksum"),
        (b"\x03\x01\x00", "says 3 bytes"),
        (extension_block(4, b"abcdef")[:6], "says 10 bytes, 6 there"),
    ],
)
def test_bad_extension_blocks(area, reason):
    with pytest.raises(iso28560.ExtensionBlockError, match=f"byte 34: .*{reason}"):
        iso28560.decode(layout(1, 1, 1, b"1", b"DE705", size=34) + area)


@pytest.mark.parametrize(
    "extension",
    [
        Extension(5, extension_block(4, b"x")),
        Extension(4, b""),
        Extension(4, extension_block(4, b"x") + b"\0"),
    ],
)
def test_encode_rejects_bad_extensions(extension):
    with pytest.raises(iso28560.ExtensionBlockError):
        iso28560.encode(TagData(DataModel.ISO28560_3, "1", "DE-705", 1, extensions=(extension,)))


@pytest.mark.parametrize("changes", [{"usage": None}, {"usage_qualifier": 1}])
def test_part3_has_no_qualifier_and_needs_usage(changes):
    with pytest.raises(iso28560.UsageError):
        iso28560.encode(replace(TagData(DataModel.ISO28560_3, "1", "DE-705", 1), **changes))


def test_part2_data_starting_like_a_part3_header_is_part2():
    data = bytes.fromhex("1103ab4130").ljust(32, b"\0")  # integer primary item identifier 11223344, no offset
    tag = iso28560.decode(data)
    assert (tag.model, tag.item_id) == (DataModel.ISO28560_2, "11223344")
    with pytest.raises(iso28560.CrcError):
        iso28560.decode(data, DataModel.ISO28560_3)


def test_forcing_part2_on_a_part3_block_fails():
    with pytest.raises(iso28560.Iso28560Error):
        iso28560.decode(LIBDANRFID, DataModel.ISO28560_2)


@given(st.binary(min_size=32, max_size=32))
def test_random_block_is_part3_only_with_a_matching_crc(data):
    assume(data.strip(b"\0") and data.strip(b"\xff"))
    crc_matches = any(
        ccitt_false(block[:19] + block[21:] + b"\0\0") == int.from_bytes(block[19:21], "little")
        for block in (data, reverse_blocks(data))
    )
    try:
        tag = iso28560.decode(data, DataModel.ISO28560_3)
    except ProtocolError:
        return
    assert crc_matches
    assert tag.model is DataModel.ISO28560_3


@given(printable, isils.filter(lambda isil: len(isil) <= 11), st.integers(0, 31), st.integers(1, 255))
def test_crc_catches_every_single_byte_change(item, isil, at, change):
    block = bytearray(iso28560.encode_basic_block(item, isil))
    block[at] ^= change
    with suppress(ProtocolError):
        assert iso28560.decode(bytes(block), DataModel.ISO28560_3).reversed_blocks  # never the block as read


@given(st.binary(max_size=80), st.sampled_from([None, *DataModel]))
def test_fuzz_decode_never_crashes(data, model):
    try:
        tag = iso28560.decode(data, model)
    except ProtocolError:
        return
    assert isinstance(tag, TagData)


@given(printable, isils.filter(lambda isil: len(isil) <= 11), st.integers(0, 31), st.integers(0, 255))
def test_fuzz_damaged_block_never_crashes(item, isil, at, value):
    block = bytearray(iso28560.encode_basic_block(item, isil))
    block[at] = value
    with suppress(ProtocolError):
        iso28560.decode(bytes(block))
