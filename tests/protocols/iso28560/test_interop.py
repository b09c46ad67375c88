"""ISO 28560-2 as the readers and tags already in libraries have it: byte strings from public sources.

Each vector names its source beside it. Only the bytes and the values they hold were taken from them.
- dp2: repository DigitalPlatform/dp2, file TestDp2Library/TestRfid.cs (commit 036f9bf4), GB/T 35660.2-2017
  (China's ISO 28560-2) compaction tests and vendor tags ("zhiyan", "ganchuang", "jiangxi jingyuan").
- rfid-harava: repository kohasuomi/rfid-harava, Decoders/NumericDecoder.py and Decoders/IsoDecoder.py, the
  sample tag memory in each `__main__` (Finnish library tags read on a FEIG reader). Their first byte (04) is
  not tag data: the decoders start at the byte after it, and so do these tests.
"""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.daemon.cli import main
from tagd.protocols import iso28560
from tagd.protocols.iso28560 import DataModel, TagData
from tagd.protocols.iso28560 import part2 as iso28560_2
from tagd.protocols.iso28560.part2 import Compaction

# rfid-harava Decoders/NumericDecoder.py: numeric (BCD) item 07800116607, odd, so padded with an F nibble.
FINNISH_NUMERIC = bytes.fromhex("A1000607800116607F0201E0030632408E05CB7F14010B050110")
# rfid-harava Decoders/IsoDecoder.py: a 6-bit item of 12 characters, exactly 9 bytes.
FINNISH_6_BIT = bytes.fromhex("4109DB1C4EC30D77DB5DF80201E0030632410E3E4E0F14010B050110")
# dp2 TestRfid.cs test_logicChip_1 ("zhiyan 1"): type of usage numeric (25 01 10), owner not PREFIX-UNIT.
ZHIYAN_1 = bytes.fromhex("C102071100B0C30C30CA00000203A80008830203D6593F0000250110370210405F080599A713063F")
# dp2 TestRfid.cs test_logicChip_5: the same layout, item ...1.
ZHIYAN_5 = bytes.fromhex("C102071100B0C30C30C600000203A80008830203D6593F0000250110370210405F080599A713063F")
# dp2 TestRfid.cs test_logicChip_6/7 ("ganchuang 1/2"): empty owner (03 00), type of usage octet (65 01 10).
GANCHUANG_1 = bytes.fromhex("9101040142214B000201B80300650110660100670100" + "00" * 100)
GANCHUANG_2 = bytes.fromhex("91020312D68700000201B80300650110660100670100" + "00" * 100)
# dp2 TestRfid.cs test_logicChip_3/4 ("jiangxi jingyuan 1/2"): an integer item and nothing else.
JIANGXI_1 = bytes.fromhex("11030AA8AE" + "00" * 35)
JIANGXI_2 = bytes.fromhex("11030AA977" + "00" * 35)


@pytest.mark.parametrize(
    ("memory", "item_id", "isil", "usage"),
    [
        (FINNISH_NUMERIC, "07800116607", "FI-Hanko", 1),
        (FINNISH_6_BIT, "611N00576578", "FI-Porna", 1),
        (JIANGXI_1, "698542", None, None),
        (JIANGXI_2, "698743", None, None),
    ],
)
def test_conforming_tags_from_the_field(memory, item_id, isil, usage):
    tag = iso28560.decode(memory)
    assert (tag.model, tag.item_id, tag.isil, tag.usage, tag.parts, tag.part) == (
        DataModel.ISO28560_2,
        item_id,
        isil,
        usage,
        1,
        1,
    )
    assert tag.warnings == ()


@pytest.mark.parametrize(
    ("memory", "item_id", "isil", "noted"),
    [
        (GANCHUANG_1, "21111115", None, ["type of usage 650110 uses octet", "owner institution data set 03"]),
        (GANCHUANG_2, "1234567", None, ["type of usage 650110 uses octet", "owner institution data set 03"]),
        (ZHIYAN_1, "DPB000002", "ZYLS", ["type of usage 250110 uses numeric", "'ZYLS' is not an ISIL"]),
        (ZHIYAN_5, "DPB000001", "ZYLS", ["type of usage 250110 uses numeric", "'ZYLS' is not an ISIL"]),
    ],
)
def test_other_vendors_tags_are_read_with_their_nonconformities(memory, item_id, isil, noted):
    tag = iso28560.decode(memory)
    assert (tag.item_id, tag.isil, tag.usage, tag.usage_qualifier) == (item_id, isil, 1, 0)
    assert len(tag.warnings) == len(noted)
    for warning, text in zip(tag.warnings, noted, strict=True):
        assert text in warning


def test_vendor_extensions_are_kept():
    assert [extension.key for extension in iso28560.decode(GANCHUANG_1).extensions] == [6, 7]
    assert [extension.key for extension in iso28560.decode(ZHIYAN_1).extensions] == [7, 23]


def test_writing_stays_strict():
    with pytest.raises(iso28560.IsilError):
        iso28560.encode(iso28560.decode(ZHIYAN_1))


@pytest.mark.parametrize(
    ("digits", "value"),
    [
        ("00", "00"),  # dp2 TestRfid.cs Test_digit_1
        ("01", "01"),  # dp2 TestRfid.cs Test_digit_2
        ("010", "010f"),  # dp2 TestRfid.cs Test_digit_3: an odd count ends in an F nibble
        ("07800116607", "07800116607f"),  # rfid-harava NumericDecoder.py sample
    ],
)
def test_numeric_compaction_is_bcd(digits, value):
    assert iso28560_2.compact_numeric(digits).hex() == value
    assert iso28560_2.expand_numeric(bytes.fromhex(value)) == digits


@pytest.mark.parametrize(
    ("text", "compaction", "value"),
    [
        ("ABC", Compaction.BIT5, "0886"),  # dp2 Test_bit5_1: one pad bit, 0
        ("]^_", Compaction.BIT5, "efbe"),  # dp2 Test_bit5_2
        ("ABC123456", Compaction.BIT6, "0420f1cb3d35da"),  # dp2 Test_bit6_1 (GB/T 35660.2-2017 p. 39)
        ("ABC1234", Compaction.BIT6, "0420f1cb3d20"),  # dp2 Test_bit6_2: a whole 100000 pad
        ("QA268.L55", Compaction.BIT6, "441cb6e2e335d6"),  # dp2 Test_bit6_3 (GB/T 35660.2-2017 p. 32)
        ("12345678", Compaction.BIT7, "62c99b46ad9bb8"),  # dp2 Test_bit7_1
        ("123456781234567", Compaction.BIT7, "62c99b46ad9bb862c99b46ad9bff"),  # dp2 Test_bit7_2: 7 pad 1s
    ],
)
def test_character_compaction_matches_dp2(text, compaction, value):
    assert iso28560_2.compact_characters(text, compaction).hex() == value
    data_set = bytes([compaction << 4 | 1, len(value) // 2]) + bytes.fromhex(value)
    assert iso28560_2.decode(data_set).item_id == text  # the pad never becomes a character (no \x7f)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("123456789012", "1cbe991a14"),  # dp2 Test_integer_3 (GB/T 35660.2-2017 p. 31)
        ("1203", "04b3"),  # dp2 Test_integer_4 (GB/T 35660.2-2017 p. 32)
        ("10", "0a"),  # dp2 Test_integer_2
    ],
)
def test_integer_compaction_matches_dp2(text, value):
    assert iso28560_2.compact(text) == (Compaction.INTEGER, bytes.fromhex(value))


@pytest.mark.parametrize(
    ("isil", "value"),
    [
        ("DE-Heu1", "21408e16bf1f"),  # dp2 Test_isil_1
        ("US-InU-Mu", "acc09ebaa06f6b"),  # dp2 Test_isil_2 (036f9bf4)
    ],
)
def test_isil_compaction_matches_dp2(isil, value):
    assert iso28560_2.compact_isil(isil).hex() == value
    assert iso28560_2.expand_isil(bytes.fromhex(value)) == isil


def test_element_with_offset_byte_matches_dp2():
    # dp2 Test_element_parse_1 / Test_element_compact_1: offset flag, integer, OID 1, no pad.
    element = bytes.fromhex("9100051cbe991a14")
    assert iso28560_2.decode(element).item_id == "123456789012"
    assert iso28560_2.encode(TagData(DataModel.ISO28560_2, "123456789012", None, None)) == element + b"\0"


# tagd before issue 12 wrote 00012345 as the integer 100012345 (05 F6 11 39), padded to a 4-byte block.
LEGACY_00012345 = bytes.fromhex("A1010405F6113900") + b"\0"
# And 00663296 as 100663296 = 06 00 00 00, which is also the BCD of 06000000.
LEGACY_AMBIGUOUS = bytes.fromhex("A1010406000000" + "00") + b"\0"


def test_legacy_numeric_is_read_and_flagged():
    tag = iso28560.decode(LEGACY_00012345)
    assert tag.item_id == "00012345"
    assert len(tag.warnings) == 1
    assert "legacy numeric compaction" in tag.warnings[0]


def test_legacy_numeric_that_is_also_bcd_is_refused_naming_both_readings():
    with pytest.raises(iso28560.AmbiguousNumericError, match="'06000000' \\(BCD\\) and as '00663296'"):
        iso28560.decode(LEGACY_AMBIGUOUS)


def test_legacy_reading_needs_tagds_layout():
    # The Finnish tag's bytes (no pad, 9-byte data set) are not where tagd's old encoder put data.
    assert iso28560.decode(FINNISH_NUMERIC).warnings == ()
    # The same legacy value without the pad to a 4-byte block is plain non-BCD: refused, not guessed.
    with pytest.raises(iso28560.DataSetError, match="not BCD"):
        iso28560.decode(bytes.fromhex("A1000405F6113900"))


def test_bcd_that_could_read_as_legacy_is_written_with_a_longer_pad():
    encoded = iso28560_2.encode(TagData(DataModel.ISO28560_2, "06000000", None, None))
    assert encoded[:3] == bytes([0xA1, 9, 4])  # 9 pad bytes: more than the old encoder ever wrote
    assert iso28560.decode(encoded).item_id == "06000000"


@given(st.from_regex(r"0[0-9]{0,60}", fullmatch=True))
def test_numeric_items_read_back_without_warnings(item):
    for block_size in (4, 8):
        encoded = iso28560_2.encode(TagData(DataModel.ISO28560_2, item, "FI-Hanko", 1), block_size=block_size)
        tag = iso28560.decode(encoded)
        assert (tag.item_id, tag.warnings) == (item, ())


@given(st.binary(min_size=1, max_size=40))
def test_numeric_data_never_crashes(value):
    data = bytes([0x21, len(value)]) + value
    try:
        tag = iso28560_2.decode(data)
    except iso28560.Iso28560Error:
        return
    assert tag.item_id.isdigit()


@pytest.mark.parametrize(
    ("memory", "reason"),
    [
        # ganchuang 2 with its content parameter replaced by a precursor naming OID 0: 0x91 points at -2
        (GANCHUANG_2[:8] + bytes.fromhex("100101") + bytes(40), "relative OID 0"),
        # zhiyan 1 likewise: 0xC1 points at -2, though its 4th byte 0x11 looks like a reversed -3 header
        (ZHIYAN_1[:12] + bytes.fromhex("100101") + bytes(40), "relative OID 0"),
    ],
)
def test_failing_iso28560_2_reports_its_own_error(memory, reason):
    with pytest.raises(iso28560.DataSetError, match=reason):
        iso28560.decode(memory)


def test_cli_decodes_the_finnish_tag(capsys):
    assert main(["tag", "decode", FINNISH_NUMERIC.hex()]) == 0
    decoded = json.loads(capsys.readouterr().out)
    assert (decoded["item_id"], decoded["isil"], decoded["warnings"]) == ("07800116607", "FI-Hanko", [])


@pytest.mark.parametrize(
    ("memory", "item_id"), [(GANCHUANG_1, "21111115"), (GANCHUANG_2, "1234567"), (ZHIYAN_1, "DPB000002")]
)
def test_cli_decodes_gbt_tags_with_warnings(capsys, memory, item_id):
    assert main(["tag", "decode", memory.hex()]) == 0
    decoded = json.loads(capsys.readouterr().out)
    assert decoded["item_id"] == item_id
    assert len(decoded["warnings"]) == 2


def test_cli_reports_the_iso28560_2_error_for_0x91(capsys):
    assert main(["tag", "decode", (GANCHUANG_2[:8] + bytes.fromhex("100101") + bytes(40)).hex()]) == 65
    err = capsys.readouterr().err
    assert "relative OID 0" in err
    assert "CRC" not in err


def test_cli_encodes_numeric_items_as_bcd(capsys):
    args = ["tag", "encode", "--model", "iso28560-2", "--item", "000123456", "--isil", "FI-Hanko"]
    assert main(args) == 0
    written = capsys.readouterr().out.strip()
    assert written.startswith("a1000500012345" + "6f")  # offset, numeric, OID 1, no pad, 5 bytes of BCD
    assert main(["tag", "decode", written]) == 0
    assert json.loads(capsys.readouterr().out)["item_id"] == "000123456"
