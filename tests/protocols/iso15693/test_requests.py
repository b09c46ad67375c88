"""Request frames: hand-built vectors from the ISO/IEC 15693-3 and NXP layouts, round trips, strictness."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols import iso15693 as iso
from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import (
    Command,
    EasAlarm,
    GetMultipleBlockSecurityStatus,
    GetRandomNumber,
    GetSystemInfo,
    Inventory,
    LockAfi,
    LockBlock,
    LockDsfid,
    LockEas,
    LockPassword,
    PasswordId,
    PasswordProtectEasAfi,
    ReadMultipleBlocks,
    ReadSingleBlock,
    Request,
    ResetEas,
    ResetToReady,
    Select,
    SetEas,
    SetPassword,
    StayQuiet,
    UnsupportedCommandError,
    WriteAfi,
    WriteDsfid,
    WriteMultipleBlocks,
    WritePassword,
    WriteSingleBlock,
    decode_request,
    encode_request,
)

UID = 0xE0040150B902C691
U = "91c602b9500104e0"  # the same UID as sent, LSB first
DATA = bytes.fromhex("11223344")

VECTORS = [
    # public: protocol-notes.md typical flag bytes and CRC vectors, PN532Killer's read single block
    (iso.inventory(), "260100"),
    (iso.inventory(one_slot=False), "060100"),
    (iso.get_system_info(None), "022b"),
    (iso.write_afi(None, 0x07), "022707"),
    (iso.read_single_block(UID, 8), "2220" + U + "08"),
    # ISO/IEC 15693-3 layouts: flags, command, [UID], parameters
    (iso.inventory(afi=0x07), "36010700"),
    (iso.inventory(afi=0xC2, one_slot=False), "1601c200"),
    (iso.inventory(mask=0x5, mask_len=4, one_slot=False), "06010405"),
    (iso.inventory(mask=0x1A5, mask_len=12, one_slot=False), "06010ca501"),
    (iso.inventory(mask=0x2E, mask_len=8), "2601082e"),
    (iso.inventory(mask=UID, mask_len=64), "260140" + U),
    (iso.stay_quiet(UID), "2202" + U),
    (iso.read_single_block(None, 5, option=True), "422005"),
    (iso.read_single_block(None, 5, select=True), "122005"),
    (iso.write_single_block(UID, 3, DATA), "2221" + U + "0311223344"),
    (iso.write_single_block(UID, 3, DATA, option=True), "6221" + U + "0311223344"),
    (iso.lock_block(None, 7), "022207"),
    (iso.lock_block(UID, 7, option=True), "6222" + U + "07"),
    (iso.read_multiple_blocks(None, 0, 28), "0223001b"),
    (iso.read_multiple_blocks(UID, 4, 1, option=True), "6223" + U + "0400"),
    (iso.write_multiple_blocks(UID, 2, 2, DATA + DATA[::-1]), "2224" + U + "02011122334444332211"),
    (iso.select(UID), "2225" + U),
    (iso.reset_to_ready(None, select=True), "1226"),
    (iso.reset_to_ready(UID), "2226" + U),
    (iso.lock_afi(UID), "2228" + U),
    (iso.write_dsfid(None, 0x10), "022910"),
    (iso.lock_dsfid(None, option=True), "422a"),
    (iso.get_multiple_block_security_status(None, 0, 28), "022c001b"),
    # NXP custom commands: the IC manufacturer code 04 follows the command, the UID comes after it
    (iso.set_eas(None), "02a204"),
    (iso.reset_eas(UID), "22a304" + U),
    (iso.lock_eas(None), "02a404"),
    (iso.eas_alarm(), "02a504"),
    (iso.eas_alarm(eas_id_mask_len=0), "42a50400"),
    (iso.eas_alarm(eas_id_mask_len=8, eas_id_mask=0x5A), "42a504085a"),
    (iso.eas_alarm(UID, eas_id_mask_len=16, eas_id_mask=0x1234), "62a504" + U + "103412"),
    (iso.password_protect_eas_afi(None), "02a604"),
    (iso.password_protect_eas_afi(None, afi=True), "42a604"),
    (iso.get_random_number(None), "02b204"),
    # password 0x0F0F0F0F sent 0F 0F 0F 0F, random 0xABCD received CD AB: 0F^CD 0F^AB 0F^CD 0F^AB
    (iso.set_password(None, PasswordId.EAS_AFI, 0x0F0F0F0F, 0xABCD), "02b30410c2a4c2a4"),
    (iso.set_password(UID, PasswordId.PRIVACY, 0, 0x1234), "22b304" + U + "0434123412"),
    (iso.write_password(UID, PasswordId.READ, 0x12345678), "22b404" + U + "0112345678"),
    (iso.lock_password(UID, PasswordId.WRITE), "22b504" + U + "02"),
]


@pytest.mark.parametrize(("frame", "expected"), VECTORS)
def test_vectors(frame, expected):
    assert frame.hex() == expected


@pytest.mark.parametrize(("frame", "expected"), VECTORS)
def test_vectors_decode_and_reencode(frame, expected):
    assert encode_request(decode_request(bytes.fromhex(expected))) == frame


def test_decoded_fields():
    request = decode_request(bytes.fromhex("2220" + U + "08"))
    assert request == Request(ReadSingleBlock(8), uid=UID)
    assert request.command is Command.READ_SINGLE_BLOCK
    inventory = decode_request(bytes.fromhex("16010c0ca501"))
    assert inventory == Request(Inventory(afi=0x0C, mask_len=12, mask=0x1A5))
    assert inventory.body.slots == 16


@pytest.mark.parametrize(
    ("request_", "flags"),
    [
        (Request(GetSystemInfo(), high_data_rate=False), 0x00),
        (Request(GetSystemInfo(), two_subcarriers=True), 0x03),
        (Request(GetSystemInfo(), protocol_extension=True), 0x0A),
        (Request(GetSystemInfo(), option=True, high_data_rate=False, two_subcarriers=True), 0x41),
        (Request(Inventory(one_slot=True), option=True, high_data_rate=False), 0x64),
        (Request(Inventory(afi=1), two_subcarriers=True, protocol_extension=True), 0x1F),
    ],
)
def test_link_flags(request_, flags):
    frame = encode_request(request_)
    assert frame[0] == flags
    assert decode_request(frame) == request_


def test_waits_for_eof_only_for_write_alike_with_option():
    assert Request(WriteSingleBlock(0, DATA), option=True).waits_for_eof
    assert Request(LockAfi(), uid=UID, option=True).waits_for_eof
    assert not Request(WriteSingleBlock(0, DATA)).waits_for_eof
    assert not Request(ReadSingleBlock(0), option=True).waits_for_eof
    assert not Request(SetEas(), option=True).waits_for_eof


def test_unknown_password_identifier_is_kept():
    request = decode_request(bytes.fromhex("02b50420"))
    assert request.body == LockPassword(0x20)
    assert not isinstance(request.body.password_id, PasswordId)


def test_write_multiple_block_size():
    assert WriteMultipleBlocks(0, 3, bytes(12)).block_size == 4


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("", "ends before the flags"),
        ("02", "ends before the command code"),
        ("822b", "RFU bit 0x80"),
        ("02a2", "ends before the IC manufacturer code"),
        ("020100", r"inventory flag \(0x04\) is clear on a INVENTORY request"),
        ("062b", r"inventory flag \(0x04\) is set on a GET_SYSTEM_INFO request"),
        ("322b" + U, "addressed or selected, not both"),
        ("0202", "STAY_QUIET request must be addressed"),
        ("0225", "SELECT request must be addressed"),
        ("222b0102", r"ends before the UID \(8 byte"),
        ("022b00", "1 byte\\(s\\) too many"),
        ("0601", "ends before the mask length"),
        ("1601", "ends before the AFI"),
        ("06011001", "ends before the mask value"),
        ("06013d" + "00" * 8, "16-slot inventory mask is 0 to 60 bits, not 61"),
        ("260141" + "00" * 9, "1-slot inventory mask is 0 to 64 bits, not 65"),
        ("06010415", "has bits beyond its length of 4"),
        ("02200300", "1 byte\\(s\\) too many"),
        ("0220", "ends before the block number"),
        ("022103", "a block is 1 to 32 bytes, not 0"),
        ("022103" + "00" * 33, "a block is 1 to 32 bytes, not 33"),
        ("022300", "ends before the number of blocks"),
        ("02240001" + "00" * 7, "7 data bytes are not 2 block"),
        ("022400ff" + "00" * 255, "255 data bytes are not 256 block"),
        ("0227", "ends before the AFI"),
        ("0229", "ends before the DSFID"),
        ("42a504", "ends before the EAS ID mask length"),
        ("42a5041034", "ends before the EAS ID mask"),
        ("42a50418010203", "0, 8 or 16 bits, not 24"),
        ("02a50400", "1 byte\\(s\\) too many"),
        ("02b304100102", "ends before the password"),
        ("02b504", "ends before the password identifier"),
    ],
)
def test_decode_rejects_with_a_reason(frame, message):
    with pytest.raises(ProtocolError, match=message):
        decode_request(bytes.fromhex(frame))


def test_unknown_command():
    with pytest.raises(UnsupportedCommandError, match="command 0x2D is not supported") as caught:
        decode_request(bytes.fromhex("222d" + U))
    assert (caught.value.flags, caught.value.command, caught.value.manufacturer) == (0x22, 0x2D, None)


def test_foreign_custom_command():
    with pytest.raises(UnsupportedCommandError, match="for IC manufacturer 0x07, not NXP") as caught:
        decode_request(bytes.fromhex("02a207"))
    assert (caught.value.command, caught.value.manufacturer) == (0xA2, 0x07)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Request(Inventory(), uid=UID), "neither addressed nor selected"),
        (lambda: Request(Inventory(), select=True), "neither addressed nor selected"),
        (lambda: Request(GetSystemInfo(), uid=2**64), "64 bits"),
        (lambda: Request(EasAlarm(16, 1)), "option flag of an EAS alarm"),
        (lambda: Request(EasAlarm(), option=True), "option flag of an EAS alarm"),
        (lambda: EasAlarm(None, 5), "needs a mask length"),
        (lambda: EasAlarm(8, 0x100), "longer than 8 bits"),
        (lambda: EasAlarm(4), "0, 8 or 16 bits, not 4"),
        (lambda: Inventory(afi=256), "AFI is one byte"),
        (lambda: Inventory(mask_len=-1), "0 to 60 bits"),
        (lambda: Inventory(mask_len=4, mask=-1), "bits beyond"),
        (lambda: ReadSingleBlock(256), "block number is one byte"),
        (lambda: ReadMultipleBlocks(0, 0), "1 to 256 blocks, not 0"),
        (lambda: GetMultipleBlockSecurityStatus(0, 257), "1 to 256 blocks, not 257"),
        (lambda: ReadMultipleBlocks(-1, 1), "first block number is one byte"),
        (lambda: WriteAfi(300), "AFI is one byte"),
        (lambda: WriteDsfid(-1), "DSFID is one byte"),
        (lambda: SetPassword(PasswordId.READ, 2**32), "password is 32 bits"),
        (lambda: LockPassword(256), "password identifier is one byte"),
        (lambda: iso.set_password(None, PasswordId.READ, 0, 2**16), "random number is 16 bits"),
    ],
)
def test_invalid_values_are_refused(build, message):
    with pytest.raises(ProtocolError, match=message):
        build()


uids = st.integers(0, 2**64 - 1)
octets = st.integers(0, 0xFF)
blocks = st.binary(min_size=1, max_size=32)
password_ids = st.sampled_from(list(PasswordId)) | octets


@st.composite
def inventories(draw):
    one_slot = draw(st.booleans())
    mask_len = draw(st.integers(0, 64 if one_slot else 60))
    mask = draw(st.integers(0, (1 << mask_len) - 1))
    return Inventory(draw(st.none() | octets), mask_len, mask, one_slot=one_slot)


@st.composite
def write_multiples(draw):
    count, size = draw(st.integers(1, 8)), draw(st.integers(1, 32))
    return WriteMultipleBlocks(
        draw(octets), count, draw(st.binary(min_size=count * size, max_size=count * size))
    )


@st.composite
def eas_alarms(draw):
    mask_len = draw(st.sampled_from([None, 0, 8, 16]))
    return EasAlarm(mask_len, draw(st.integers(0, (1 << (mask_len or 0)) - 1)))


bodies = st.one_of(
    inventories(),
    st.just(StayQuiet()),
    st.builds(ReadSingleBlock, octets),
    st.builds(WriteSingleBlock, octets, blocks),
    st.builds(LockBlock, octets),
    st.builds(ReadMultipleBlocks, octets, st.integers(1, 256)),
    write_multiples(),
    st.just(Select()),
    st.just(ResetToReady()),
    st.builds(WriteAfi, octets),
    st.just(LockAfi()),
    st.builds(WriteDsfid, octets),
    st.just(LockDsfid()),
    st.just(GetSystemInfo()),
    st.builds(GetMultipleBlockSecurityStatus, octets, st.integers(1, 256)),
    st.just(SetEas()),
    st.just(ResetEas()),
    st.just(LockEas()),
    eas_alarms(),
    st.just(PasswordProtectEasAfi()),
    st.just(GetRandomNumber()),
    st.builds(SetPassword, password_ids, st.integers(0, 0xFFFFFFFF)),
    st.builds(WritePassword, password_ids, st.integers(0, 0xFFFFFFFF)),
    st.builds(LockPassword, password_ids),
)


@st.composite
def requests(draw):
    body = draw(bodies)
    uid, select = None, False
    if isinstance(body, StayQuiet | Select):
        uid = draw(uids)
    elif not isinstance(body, Inventory):
        mode = draw(st.sampled_from(["all", "addressed", "selected"]))
        uid = draw(uids) if mode == "addressed" else None
        select = mode == "selected"
    option = body.eas_id_mask_len is not None if isinstance(body, EasAlarm) else draw(st.booleans())
    link = draw(st.fixed_dictionaries({k: st.booleans() for k in ("high_data_rate", "two_subcarriers")}))
    return Request(
        body, uid=uid, select=select, option=option, protocol_extension=draw(st.booleans()), **link
    )


@given(requests())
def test_round_trip(request_):
    frame = encode_request(request_)
    assert decode_request(frame) == request_
    assert frame[1] == request_.command


@given(requests())
def test_uid_and_manufacturer_positions(request_):
    frame = encode_request(request_)
    offset = 3 if request_.command.is_custom else 2
    if request_.command.is_custom:
        assert frame[2] == 0x04
    if request_.uid is not None:
        assert frame[offset : offset + 8] == request_.uid.to_bytes(8, "little")


@given(requests(), st.data())
def test_any_accepted_variant_reencodes_identically(request_, data):
    """Decoding is strict: a damaged frame is either refused or is itself a canonical frame."""
    frame = bytearray(encode_request(request_))
    match data.draw(st.sampled_from(["flip", "cut", "grow"])):
        case "flip":
            position = data.draw(st.integers(0, len(frame) - 1))
            frame[position] ^= data.draw(st.integers(1, 255))
        case "cut":
            del frame[data.draw(st.integers(0, len(frame) - 1)) :]
        case "grow":
            frame += data.draw(st.binary(min_size=1, max_size=4))
    try:
        decoded = decode_request(bytes(frame))
    except ProtocolError:
        return
    assert encode_request(decoded) == bytes(frame)


@given(st.binary(max_size=48))
def test_no_input_crashes_the_decoder(frame):
    try:
        decoded = decode_request(frame)
    except ProtocolError:
        return
    assert encode_request(decoded) == frame
