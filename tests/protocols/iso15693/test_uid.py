"""UID forms, manufacturers and NXP chip identification (protocol-notes.md, NXP AN10787 type indicator)."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import (
    Manufacturer,
    NxpChip,
    format_uid,
    manufacturer,
    manufacturer_name,
    nxp_chip,
    parse_uid,
    uid_from_bytes,
    uid_to_bytes,
)

WORKED_UID = 0xE00401008A5C982E
WORKED_AIR = bytes.fromhex("2e985c8a000104e0")


def test_air_order_is_lsb_first():
    assert uid_to_bytes(WORKED_UID) == WORKED_AIR
    assert uid_from_bytes(WORKED_AIR) == WORKED_UID


@given(st.integers(0, 2**64 - 1))
def test_air_bytes_round_trip(uid):
    assert uid_from_bytes(uid_to_bytes(uid)) == uid
    assert uid_to_bytes(uid)[::-1].hex().upper() == format_uid(uid)


@pytest.mark.parametrize("length", [0, 7, 9])
def test_air_bytes_must_be_eight(length):
    with pytest.raises(ProtocolError, match=f"8 bytes, got {length}"):
        uid_from_bytes(bytes(length))


@pytest.mark.parametrize("uid", [-1, 2**64])
def test_uid_range(uid):
    with pytest.raises(ProtocolError, match="64 bits"):
        uid_to_bytes(uid)


def test_display_form():
    assert format_uid(WORKED_UID) == "E00401008A5C982E"
    assert parse_uid("E00401008A5C982E") == WORKED_UID


@given(st.integers(0xE0 << 56, (0xE1 << 56) - 1))
def test_display_form_round_trip(uid):
    assert parse_uid(format_uid(uid)) == uid


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("e00401008a5c982e", "upper-case"),
        ("E00401008A5C982", "16 upper-case"),
        ("E00401008A5C982E0", "16 upper-case"),
        ("0xE00401008A5C98", "16 upper-case"),
        ("E0 04 01 00 8A 5C", "16 upper-case"),
        (" E00401008A5C982E", "16 upper-case"),
        ("E00401008A5C982E\n", "16 upper-case"),
        ("E00401008A5C982G", "16 upper-case"),
        ("A00401008A5C982E", "starts with E0"),
        ("", "16 upper-case"),
    ],
)
def test_parse_rejects_every_other_form(text, message):
    with pytest.raises(ProtocolError, match=message):
        parse_uid(text)


@given(st.text(max_size=20))
def test_parse_never_crashes(text):
    with contextlib.suppress(ProtocolError):
        parse_uid(text)


@pytest.mark.parametrize(
    ("uid", "maker", "name"),
    [
        (0xE002000000000001, Manufacturer.ST, "STMicroelectronics"),
        (0xE004010000000001, Manufacturer.NXP, "NXP Semiconductors"),
        (0xE005000000000001, Manufacturer.INFINEON, "Infineon Technologies"),
        (0xE007000000000001, Manufacturer.TI, "Texas Instruments"),
        (0xE016000000000001, Manufacturer.EM, "EM Microelectronic-Marin"),
    ],
)
def test_known_manufacturers(uid, maker, name):
    assert manufacturer(uid) is maker
    assert manufacturer_name(uid) == name


def test_unknown_manufacturer_kept():
    assert manufacturer(0xE0FF000000000000) == 0xFF
    assert not isinstance(manufacturer(0xE0FF000000000000), Manufacturer)
    assert manufacturer_name(0xE023000000000000) == "unknown manufacturer 0x23"


@pytest.mark.parametrize(
    ("uid", "chip"),
    [
        (0xE00401008A5C982E, NxpChip.ICODE_SLI),  # 4th byte 00: bits 4:3 = 00
        (0xE0040150B902C691, NxpChip.ICODE_SLIX),  # 0x50 = 0101 0000: bits 4:3 = 10
        (0xE0040110FFFFFFFF, NxpChip.ICODE_SLIX),
        (0xE0040108A1B2C3D4, NxpChip.ICODE_SLIX2),  # 0x08: bits 4:3 = 01
        (0xE00401E7A1B2C3D4, NxpChip.ICODE_SLI),  # 1110 0111: other bits do not matter
        (0xE0040197A1B2C3D4, NxpChip.ICODE_SLIX),  # 1001 0111
        (0xE00401EFA1B2C3D4, NxpChip.ICODE_SLIX2),  # 1110 1111
        (0xE0040118A1B2C3D4, None),  # bits 4:3 = 11 are not assigned
        (0xE0040200000000AA, NxpChip.ICODE_SLIX_S),
        (0xE0040300000000AA, NxpChip.ICODE_SLIX_L),
        (0xE0040400000000AA, None),
        (0xE0070100000000AA, None),
        (0xE0020100000000AA, None),
    ],
)
def test_nxp_chip(uid, chip):
    assert nxp_chip(uid) == chip
