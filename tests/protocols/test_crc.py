"""CRC catalogue check values (reveng) and the ISO 15693 vectors from protocol-notes.md."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols import crc


def bitwise_crc16(data: bytes, poly: int, init: int, *, reflected: bool, xorout: int) -> int:
    """An independent, bit-at-a-time reference."""
    value = init
    for raw in data:
        byte = int(f"{raw:08b}"[::-1], 2) if reflected else raw
        value ^= byte << 8
        for _ in range(8):
            value = ((value << 1) ^ poly) & 0xFFFF if value & 0x8000 else (value << 1) & 0xFFFF
    if reflected:
        value = int(f"{value:016b}"[::-1], 2)
    return value ^ xorout


@pytest.mark.parametrize(
    ("function", "check"),
    [
        (crc.crc16_x25, 0x906E),
        (crc.crc16_ccitt_false, 0x29B1),
        (crc.crc16_mcrf4xx, 0x6F91),
        (crc.crc16_genibus, 0xD64E),
    ],
)
def test_catalogue_check_value(function, check):
    assert function(b"123456789") == check


@pytest.mark.parametrize(
    ("frame", "crc_bytes"),
    [("050008", "3973"), ("022b", "26a3"), ("022707", "f069")],
)
def test_iso15693_vectors_lsb_first(frame, crc_bytes):
    assert crc.crc16_x25(bytes.fromhex(frame)).to_bytes(2, "little") == bytes.fromhex(crc_bytes)


@given(st.binary(max_size=64))
def test_x25_residue(data):
    framed = data + crc.crc16_x25(data).to_bytes(2, "little")
    assert crc.crc16_x25(framed) ^ 0xFFFF == 0xF0B8


@given(st.binary(max_size=64))
def test_table_matches_bitwise_reference(data):
    assert crc.crc16_x25(data) == bitwise_crc16(data, 0x1021, 0xFFFF, reflected=True, xorout=0xFFFF)
    assert crc.crc16_ccitt_false(data) == bitwise_crc16(data, 0x1021, 0xFFFF, reflected=False, xorout=0)
    assert crc.crc16_mcrf4xx(data) == bitwise_crc16(data, 0x1021, 0xFFFF, reflected=True, xorout=0)
    assert crc.crc16_genibus(data) == bitwise_crc16(data, 0x1021, 0xFFFF, reflected=False, xorout=0xFFFF)
