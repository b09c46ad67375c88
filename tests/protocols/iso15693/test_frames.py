"""CRC, codes and small helpers of the ISO 15693 codec, against protocol-notes.md and the NXP datasheets."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import (
    WRITE_ALIKE,
    Command,
    CrcError,
    ErrorCode,
    PasswordId,
    TagErrorResponse,
    append_crc,
    check_crc,
    crc16,
    error_code,
    xor_password,
)
from tagd.protocols.iso15693.frames import password_id


def test_crc_check_value():
    assert crc16(b"123456789") == 0x906E


@pytest.mark.parametrize(
    ("frame", "with_crc"),
    [
        ("050008", "0500083973"),
        ("022b", "022b26a3"),
        ("022707", "022707f069"),
        ("260100", "260100f60a"),  # inventory as sent by a PN532Killer (its public protocol notes)
        ("222091c602b9500104e008", "222091c602b9500104e0080690"),  # read single block, same source
    ],
)
def test_crc_vectors_are_appended_lsb_first_and_checked(frame, with_crc):
    assert append_crc(bytes.fromhex(frame)) == bytes.fromhex(with_crc)
    assert check_crc(bytes.fromhex(with_crc)) == bytes.fromhex(frame)


@given(st.binary(max_size=64))
def test_a_frame_with_its_crc_leaves_the_residue(data):
    framed = append_crc(data)
    assert crc16(framed) ^ 0xFFFF == 0xF0B8
    assert check_crc(framed) == data


@given(st.binary(min_size=1, max_size=64), st.data())
def test_any_single_bit_error_is_caught(data, draw):
    framed = bytearray(append_crc(data))
    bit = draw.draw(st.integers(0, len(framed) * 8 - 1))
    framed[bit // 8] ^= 1 << bit % 8
    with pytest.raises(CrcError, match="CRC mismatch"):
        check_crc(bytes(framed))


def test_crc_mismatch_names_both_values():
    with pytest.raises(CrcError, match=r"carries 0x0000, its content gives 0xA326"):
        check_crc(bytes.fromhex("022b0000"))


@pytest.mark.parametrize("frame", [b"", b"\x02"])
def test_too_short_for_a_crc(frame):
    with pytest.raises(CrcError, match="too short"):
        check_crc(frame)


@given(st.binary(max_size=40))
def test_check_crc_never_crashes(frame):
    with contextlib.suppress(ProtocolError):
        check_crc(frame)


def test_command_codes_match_protocol_notes():
    expected = {
        0x01: "INVENTORY",
        0x02: "STAY_QUIET",
        0x20: "READ_SINGLE_BLOCK",
        0x21: "WRITE_SINGLE_BLOCK",
        0x22: "LOCK_BLOCK",
        0x23: "READ_MULTIPLE_BLOCKS",
        0x24: "WRITE_MULTIPLE_BLOCKS",
        0x25: "SELECT",
        0x26: "RESET_TO_READY",
        0x27: "WRITE_AFI",
        0x28: "LOCK_AFI",
        0x29: "WRITE_DSFID",
        0x2A: "LOCK_DSFID",
        0x2B: "GET_SYSTEM_INFO",
        0x2C: "GET_MULTIPLE_BLOCK_SECURITY_STATUS",
        0xA2: "SET_EAS",
        0xA3: "RESET_EAS",
        0xA4: "LOCK_EAS",
        0xA5: "EAS_ALARM",
        0xA6: "PASSWORD_PROTECT_EAS_AFI",
        0xB2: "GET_RANDOM_NUMBER",
        0xB3: "SET_PASSWORD",
        0xB4: "WRITE_PASSWORD",
        0xB5: "LOCK_PASSWORD",
    }
    assert {command.value: command.name for command in Command} == expected
    assert {command for command in Command if command.is_custom} == {c for c in Command if c.value >= 0xA2}


def test_write_alike_commands():
    assert {command.value for command in WRITE_ALIKE} == {0x21, 0x22, 0x24, 0x27, 0x28, 0x29, 0x2A}


def test_error_codes_match_protocol_notes():
    assert {code.value for code in ErrorCode} == {0x01, 0x02, 0x03, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14}
    assert error_code(0x12) is ErrorCode.LOCKED
    assert error_code(0x0F) is ErrorCode.UNKNOWN


@pytest.mark.parametrize("code", [0x00, 0x04, 0x15, 0xA0, 0xDF, 0xFF])
def test_unknown_error_codes_stay_ints(code):
    value = error_code(code)
    assert value == code
    assert not isinstance(value, ErrorCode)


def test_tag_error_response_message():
    assert str(TagErrorResponse(ErrorCode.ALREADY_LOCKED)) == "the tag answered error 0x11 (ALREADY_LOCKED)"
    assert str(TagErrorResponse(0xA7)) == "the tag answered error 0xA7 (unknown or custom)"
    assert isinstance(TagErrorResponse(1), ProtocolError)


def test_password_identifiers():
    assert [p.value for p in PasswordId] == [0x01, 0x02, 0x04, 0x08, 0x10]
    assert password_id(0x10) is PasswordId.EAS_AFI
    assert password_id(0x20) == 0x20


@given(st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFF))
def test_xor_password_matches_the_byte_rule(password, random):
    # pn5180 / proxmark / Eccel's Pepper manual: XOR[i] = password[i] ^ random[i % 2], both in air order;
    # tagd's password number holds the air bytes big-endian, the random number as the tag sent it (LSB first)
    pwd, rnd = password.to_bytes(4, "big"), random.to_bytes(2, "little")
    expected = bytes(pwd[i] ^ rnd[i % 2] for i in range(4))
    assert xor_password(password, random).to_bytes(4, "big") == expected
    assert xor_password(xor_password(password, random), random) == password


@pytest.mark.parametrize(
    ("password", "random", "message"), [(1 << 32, 0, "32 bits"), (0, 1 << 16, "16 bits")]
)
def test_xor_password_rejects_out_of_range(password, random, message):
    with pytest.raises(ProtocolError, match=message):
        xor_password(password, random)
