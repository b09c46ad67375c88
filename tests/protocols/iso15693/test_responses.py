"""Response frames: the worked system-information reply, hand-built ISO layouts, errors, round trips."""

import contextlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import (
    Ack,
    Blocks,
    BlockSecurity,
    Command,
    EasId,
    EasSequence,
    ErrorCode,
    InfoFlag,
    InventoryResponse,
    RandomNumber,
    SecurityStatus,
    SystemInfo,
    TagErrorResponse,
    decode_response,
    encode_error_response,
    encode_response,
)

WORKED_UID = 0xE00401008A5C982E
U = "2e985c8a000104e0"  # WORKED_UID as sent, LSB first

ACK_COMMANDS = [
    Command.WRITE_SINGLE_BLOCK,
    Command.LOCK_BLOCK,
    Command.WRITE_MULTIPLE_BLOCKS,
    Command.SELECT,
    Command.RESET_TO_READY,
    Command.WRITE_AFI,
    Command.LOCK_AFI,
    Command.WRITE_DSFID,
    Command.LOCK_DSFID,
    Command.SET_EAS,
    Command.RESET_EAS,
    Command.LOCK_EAS,
    Command.PASSWORD_PROTECT_EAS_AFI,
    Command.SET_PASSWORD,
    Command.WRITE_PASSWORD,
    Command.LOCK_PASSWORD,
]


def test_worked_system_information_reply():
    frame = bytes.fromhex("000F2E985C8A000104E000001B0301")
    info = decode_response(Command.GET_SYSTEM_INFO, frame)
    assert info == SystemInfo(WORKED_UID, dsfid=0, afi=0, block_count=28, block_size=4, ic_reference=1)
    assert encode_response(info) == frame


@pytest.mark.parametrize("flags", range(16))
def test_every_information_flag_combination(flags):
    # ISO/IEC 15693-3: info flags, UID, then DSFID, AFI, memory size (blocks - 1, size - 1), IC reference
    frame = "00" + f"{flags:02x}" + U
    frame += "11" if flags & 1 else ""
    frame += "07" if flags & 2 else ""
    frame += "4f03" if flags & 4 else ""
    frame += "c2" if flags & 8 else ""
    expected = SystemInfo(
        WORKED_UID,
        dsfid=0x11 if flags & 1 else None,
        afi=0x07 if flags & 2 else None,
        block_count=80 if flags & 4 else None,
        block_size=4 if flags & 4 else None,
        ic_reference=0xC2 if flags & 8 else None,
    )
    assert decode_response(Command.GET_SYSTEM_INFO, bytes.fromhex(frame)) == expected
    assert encode_response(expected).hex() == frame
    assert expected.info_flags == InfoFlag(flags)


def test_block_size_ignores_the_rfu_bits():
    info = decode_response(Command.GET_SYSTEM_INFO, bytes.fromhex("0004" + U + "ffe3"))
    assert (info.block_count, info.block_size) == (256, 4)


def test_largest_memory():
    info = decode_response(Command.GET_SYSTEM_INFO, bytes.fromhex("0004" + U + "ff1f"))
    assert (info.block_count, info.block_size) == (256, 32)


def test_inventory_reply():
    frame = bytes.fromhex("0000" + U)
    assert decode_response(Command.INVENTORY, frame) == InventoryResponse(WORKED_UID, dsfid=0)
    assert encode_response(InventoryResponse(WORKED_UID, dsfid=0x3E)).hex() == "003e" + U


def test_read_single_block():
    assert decode_response(Command.READ_SINGLE_BLOCK, bytes.fromhex("0011223344")) == Blocks(
        (bytes.fromhex("11223344"),)
    )
    with_status = decode_response(Command.READ_SINGLE_BLOCK, bytes.fromhex("000111223344"), option=True)
    assert with_status == Blocks((bytes.fromhex("11223344"),), (BlockSecurity.LOCKED,))
    assert (
        decode_response(Command.READ_SINGLE_BLOCK, bytes.fromhex("0011223344"), block_size=4).block_size == 4
    )


def test_read_multiple_blocks_by_size_or_count():
    frame = bytes.fromhex("00" + "aabbccdd" + "11223344")
    expected = Blocks((bytes.fromhex("aabbccdd"), bytes.fromhex("11223344")))
    assert decode_response(Command.READ_MULTIPLE_BLOCKS, frame, block_size=4) == expected
    assert decode_response(Command.READ_MULTIPLE_BLOCKS, frame, count=2) == expected
    assert decode_response(Command.READ_MULTIPLE_BLOCKS, frame, block_size=4, count=2) == expected
    assert decode_response(Command.READ_MULTIPLE_BLOCKS, frame, count=1) == Blocks((frame[1:],))


def test_read_multiple_blocks_with_security_status():
    frame = bytes.fromhex("00" + "00aabbccdd" + "0111223344" + "8055667788")
    expected = Blocks(
        (bytes.fromhex("aabbccdd"), bytes.fromhex("11223344"), bytes.fromhex("55667788")),
        (BlockSecurity(0), BlockSecurity.LOCKED, BlockSecurity(0x80)),
    )
    assert decode_response(Command.READ_MULTIPLE_BLOCKS, frame, option=True, block_size=4) == expected
    assert decode_response(Command.READ_MULTIPLE_BLOCKS, frame, option=True, count=3) == expected
    assert encode_response(expected) == frame


def test_security_status_random_number_eas():
    frame = bytes.fromhex("00000100")
    expected = SecurityStatus((BlockSecurity(0), BlockSecurity.LOCKED, BlockSecurity(0)))
    assert decode_response(Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS, frame) == expected
    assert decode_response(Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS, frame, count=3) == expected
    assert decode_response(Command.GET_RANDOM_NUMBER, bytes.fromhex("00cdab")) == RandomNumber(0xABCD)
    sequence = bytes(range(32))
    assert decode_response(Command.EAS_ALARM, b"\x00" + sequence) == EasSequence(sequence)
    assert decode_response(Command.EAS_ALARM, b"\x00" + sequence, option=True) == EasSequence(sequence)
    assert decode_response(Command.EAS_ALARM, bytes.fromhex("003412"), option=True) == EasId(0x1234)
    assert encode_response(EasId(0x1234)).hex() == "003412"
    assert encode_response(RandomNumber(0xABCD)).hex() == "00cdab"


@pytest.mark.parametrize("command", ACK_COMMANDS)
def test_flags_only_answers(command):
    assert decode_response(command, b"\x00") == Ack()
    assert decode_response(command, b"\x08") == Ack()  # extension flag: RFU, layout unchanged
    with pytest.raises(ProtocolError, match=f"a {command.name} response has 0 byte"):
        decode_response(command, b"\x00\x00")
    assert encode_response(Ack()) == b"\x00"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0x01, ErrorCode.NOT_SUPPORTED),
        (0x02, ErrorCode.NOT_RECOGNISED),
        (0x03, ErrorCode.OPTION_NOT_SUPPORTED),
        (0x0F, ErrorCode.UNKNOWN),
        (0x10, ErrorCode.BLOCK_NOT_AVAILABLE),
        (0x11, ErrorCode.ALREADY_LOCKED),
        (0x12, ErrorCode.LOCKED),
        (0x13, ErrorCode.WRITE_FAILED),
        (0x14, ErrorCode.LOCK_FAILED),
        (0xA3, 0xA3),
        (0x42, 0x42),
    ],
)
def test_error_responses_raise_with_the_code(code, expected):
    for command in Command:
        with pytest.raises(TagErrorResponse) as caught:
            decode_response(command, bytes([0x01, code]))
        assert caught.value.code == expected
        assert isinstance(caught.value.code, ErrorCode) == isinstance(expected, ErrorCode)
    assert encode_error_response(code) == bytes([0x01, code])


@pytest.mark.parametrize(
    ("command", "frame", "kwargs", "message"),
    [
        (Command.GET_SYSTEM_INFO, "", {}, "ends before the flags"),
        (Command.GET_SYSTEM_INFO, "01", {}, "ends before the error code"),
        (Command.GET_SYSTEM_INFO, "011200", {}, "1 byte\\(s\\) too many"),
        (Command.STAY_QUIET, "00", {}, "never answers STAY_QUIET"),
        (Command.INVENTORY, "0000" + U[:-2], {}, "ends before the UID"),
        (Command.INVENTORY, "0000" + U + "00", {}, "too many"),
        (Command.INVENTORY, "00", {}, "ends before the DSFID"),
        (Command.GET_SYSTEM_INFO, "0010" + U, {}, "information flags 0x10 set RFU bits"),
        (Command.GET_SYSTEM_INFO, "0004" + U + "1b", {}, "ends before the block size"),
        (Command.GET_SYSTEM_INFO, "0008" + U, {}, "ends before the IC reference"),
        (Command.GET_SYSTEM_INFO, "0000" + U + "00", {}, "too many"),
        (Command.READ_SINGLE_BLOCK, "00", {}, "0 data byte\\(s\\) are not 1 block"),
        (Command.READ_SINGLE_BLOCK, "0001", {"option": True}, "with a security byte each"),
        (Command.READ_SINGLE_BLOCK, "00" + "00" * 33, {}, "blocks share one size of 1 to 32 bytes"),
        (Command.READ_SINGLE_BLOCK, "0011223344", {"block_size": 2}, "are not 1 block\\(s\\) of 2 byte"),
        (Command.READ_MULTIPLE_BLOCKS, "0011223344", {}, "needs the block size or the number of blocks"),
        (
            Command.READ_MULTIPLE_BLOCKS,
            "001122334455",
            {"block_size": 4},
            "5 data byte\\(s\\) are not 1 block",
        ),
        (Command.READ_MULTIPLE_BLOCKS, "0011223344", {"count": 3}, "4 data byte\\(s\\) are not 3 block"),
        (Command.READ_MULTIPLE_BLOCKS, "0011223344", {"count": 0}, "1 to 256 blocks, not 0"),
        (Command.READ_MULTIPLE_BLOCKS, "0011223344", {"block_size": 33}, "a block is 1 to 32 bytes, not 33"),
        (Command.READ_MULTIPLE_BLOCKS, "00", {"block_size": 4}, "1 to 256 blocks, not 0"),
        (Command.READ_MULTIPLE_BLOCKS, "0011223344", {"block_size": 3, "count": 2}, "are not 2 block"),
        (Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS, "00", {}, "1 to 256 blocks, not 0"),
        (Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS, "000000", {"count": 3}, "2 security status byte"),
        (
            Command.GET_RANDOM_NUMBER,
            "00cd",
            {},
            "GET_RANDOM_NUMBER response has 2 byte\\(s\\) after the flags, not 1",
        ),
        (Command.EAS_ALARM, "003412", {}, "an EAS sequence is 32 bytes, not 2"),
        (Command.EAS_ALARM, "00" + "00" * 31, {"option": True}, "an EAS sequence is 32 bytes, not 31"),
    ],
)
def test_decode_rejects_with_a_reason(command, frame, kwargs, message):
    with pytest.raises(ProtocolError, match=message):
        decode_response(command, bytes.fromhex(frame), **kwargs)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: InventoryResponse(2**64), "64 bits"),
        (lambda: InventoryResponse(1, dsfid=256), "DSFID is one byte"),
        (lambda: Blocks(()), "1 to 256 blocks, not 0"),
        (lambda: Blocks((b"\x00",) * 257), "1 to 256 blocks, not 257"),
        (lambda: Blocks((b"\x00", b"\x00\x00")), "one size"),
        (lambda: Blocks((b"",)), "one size"),
        (lambda: Blocks((b"\x00",), ()), "0 security status\\(es\\) for 1 block"),
        (lambda: Blocks((b"\x00",), (256,)), "block security status is one byte"),
        (lambda: SystemInfo(1, afi=-1), "AFI is one byte"),
        (lambda: SystemInfo(1, block_count=4), "both the number of blocks and the block size, or neither"),
        (lambda: SystemInfo(1, block_count=0, block_size=4), "1 to 256 blocks, not 0"),
        (lambda: SystemInfo(1, block_count=1, block_size=33), "1 to 32 bytes, not 33"),
        (lambda: SecurityStatus((256,)), "block security status is one byte"),
        (lambda: SecurityStatus((0,) * 257), "1 to 256 blocks, not 257"),
        (lambda: RandomNumber(0x10000), "16 bits"),
        (lambda: EasId(-1), "16 bits"),
        (lambda: encode_error_response(0x100), "error code is one byte"),
    ],
)
def test_invalid_values_are_refused(build, message):
    with pytest.raises(ProtocolError, match=message):
        build()


octets = st.integers(0, 0xFF)
statuses = octets.map(BlockSecurity)


@st.composite
def block_reads(draw):
    count, size = draw(st.integers(1, 64)), draw(st.integers(1, 32))
    data = tuple(draw(st.lists(st.binary(min_size=size, max_size=size), min_size=count, max_size=count)))
    security = draw(st.none() | st.lists(statuses, min_size=count, max_size=count).map(tuple))
    return Blocks(data, security)


@st.composite
def system_infos(draw):
    sized = draw(st.booleans())
    return SystemInfo(
        draw(st.integers(0, 2**64 - 1)),
        draw(st.none() | octets),
        draw(st.none() | octets),
        draw(st.integers(1, 256)) if sized else None,
        draw(st.integers(1, 32)) if sized else None,
        draw(st.none() | octets),
    )


@given(st.integers(0, 2**64 - 1), octets)
def test_inventory_round_trip(uid, dsfid):
    value = InventoryResponse(uid, dsfid)
    assert decode_response(Command.INVENTORY, encode_response(value)) == value


@given(block_reads())
def test_block_read_round_trip(value):
    frame = encode_response(value)
    option = value.security is not None
    assert (
        decode_response(Command.READ_MULTIPLE_BLOCKS, frame, option=option, block_size=value.block_size)
        == value
    )
    assert decode_response(Command.READ_MULTIPLE_BLOCKS, frame, option=option, count=len(value.data)) == value
    if len(value.data) == 1:
        assert decode_response(Command.READ_SINGLE_BLOCK, frame, option=option) == value


@given(system_infos())
def test_system_info_round_trip(value):
    assert decode_response(Command.GET_SYSTEM_INFO, encode_response(value)) == value


@given(
    st.lists(statuses, min_size=1, max_size=256), st.integers(0, 0xFFFF), st.binary(min_size=32, max_size=32)
)
def test_other_round_trips(security, number, sequence):
    value = SecurityStatus(tuple(security))
    assert decode_response(Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS, encode_response(value)) == value
    assert decode_response(Command.GET_RANDOM_NUMBER, encode_response(RandomNumber(number))) == RandomNumber(
        number
    )
    assert decode_response(Command.EAS_ALARM, encode_response(EasId(number)), option=True) == EasId(number)
    assert decode_response(Command.EAS_ALARM, encode_response(EasSequence(sequence))) == EasSequence(sequence)


@given(st.integers(0, 0xFF))
def test_error_round_trip(code):
    with pytest.raises(TagErrorResponse) as caught:
        decode_response(Command.READ_SINGLE_BLOCK, encode_error_response(code))
    assert caught.value.code == code


@given(
    st.sampled_from(list(Command)),
    st.binary(max_size=80),
    st.booleans(),
    st.none() | st.integers(-2, 40),
    st.none() | st.integers(-2, 300),
)
def test_no_input_crashes_the_decoder(command, frame, option, block_size, count):
    with contextlib.suppress(ProtocolError):
        decode_response(command, frame, option=option, block_size=block_size, count=count)


def test_all_read_shapes_of_a_small_frame():
    """Every block size and count split of 12 data bytes that the layout allows is accepted, no other."""
    payload = bytes(range(12))
    for size, count in itertools.product(range(1, 14), range(1, 14)):
        fits = size * count == len(payload)
        try:
            value = decode_response(
                Command.READ_MULTIPLE_BLOCKS, b"\x00" + payload, block_size=size, count=count
            )
        except ProtocolError:
            assert not fits
        else:
            assert fits
            assert b"".join(value.data) == payload
