"""SimTag: real request frames in, real response frames out, as an NXP ICODE chip answers them."""

from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.drivers.sim.chips import ALIASES, EAS_SEQUENCE
from tagd.drivers.sim.tag import SimTag, TagState
from tagd.protocols import iso15693 as iso
from tagd.protocols.iso15693 import (
    Command,
    EasId,
    EasSequence,
    ErrorCode,
    PasswordId,
    Response,
    TagErrorResponse,
    append_crc,
    check_crc,
    decode_response,
)
from tagd.protocols.profiles import load_profiles

SLIX2_UID = 0xE004010812345678
SLIX_UID = 0xE004011012345678


def send(tag: SimTag, frame: bytes) -> bytes | None:
    """The frame as the tag meets it on the air (with CRC); its reply without CRC, or None."""
    reply = tag.handle(append_crc(frame))
    return None if reply is None else check_crc(reply)


def answer(tag: SimTag, frame: bytes, command: Command, **decode: object) -> Response:
    reply = send(tag, frame)
    assert reply is not None, "the tag stayed silent"
    return decode_response(command, reply, **decode)  # type: ignore[call-overload]


def error(tag: SimTag, frame: bytes) -> int:
    reply = send(tag, frame)
    assert reply is not None, "the tag stayed silent"
    with pytest.raises(TagErrorResponse) as caught:
        decode_response(Command.GET_SYSTEM_INFO, reply)
    return caught.value.code


def give_password(tag: SimTag, password: int = 0, ident: int = PasswordId.EAS_AFI) -> None:
    random = answer(tag, iso.get_random_number(tag.uid), Command.GET_RANDOM_NUMBER)
    assert isinstance(random, iso.RandomNumber)
    answer(tag, iso.set_password(tag.uid, ident, password, random.value), Command.SET_PASSWORD)


# -- profiles --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "blocks"),
    [("sli", 28), ("slix", 28), ("slix2", 80), ("slix-s", 40), ("slix-l", 8), ("u-tag-l301", 28),
     ("u-tag-l1000m", 80), ("U-TAG-L301", 28), ("nxp-icode-slix2", 80)],
)  # fmt: skip
def test_a_blank_tag_has_its_profiles_memory_and_a_uid_the_profiles_recognise(
    profile: str, blocks: int
) -> None:
    tag = SimTag.blank(profile)
    assert (tag.block_count, tag.block_size, bytes(tag.memory)) == (blocks, 4, bytes(blocks * 4))
    shipped = load_profiles(files("tagd.config").joinpath("tag-profiles.toml").read_text())
    recognised = shipped.identify(tag.uid, tag.block_count, tag.block_size)
    assert recognised.recognition.chip == tag.chip
    if profile.lower().startswith("u-tag"):
        assert recognised.name == ALIASES[profile.lower()]


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="no simulated NXP tag profile"):
        SimTag.blank("mifare")


def test_system_info_gives_every_field() -> None:
    tag = SimTag.blank("slix2", SLIX2_UID)
    tag.afi, tag.dsfid = 0x07, 0x3C
    info = answer(tag, iso.get_system_info(SLIX2_UID), Command.GET_SYSTEM_INFO)
    assert info == iso.SystemInfo(SLIX2_UID, 0x3C, 0x07, 80, 4, tag.model.ic_reference)


# -- memory ----------------------------------------------------------------------------------------------


@given(block=st.integers(0, 27), data=st.binary(min_size=4, max_size=4), addressed=st.booleans())
def test_a_written_block_reads_back(block: int, data: bytes, addressed: bool) -> None:
    tag = SimTag.blank("slix", SLIX_UID)
    uid = SLIX_UID if addressed else None
    assert answer(tag, iso.write_single_block(uid, block, data), Command.WRITE_SINGLE_BLOCK) == iso.Ack()
    read = answer(tag, iso.read_single_block(uid, block), Command.READ_SINGLE_BLOCK)
    assert read == iso.Blocks((data,))
    assert tag.block(block) == data


@given(memory=st.binary(min_size=112, max_size=112), first=st.integers(0, 27), data=st.data())
def test_read_multiple_returns_the_memory_with_security_on_request(
    memory: bytes, first: int, data: st.DataObject
) -> None:
    tag = SimTag.blank("slix", SLIX_UID)
    tag.memory[:] = memory
    tag.locked_blocks = {first}
    count = data.draw(st.integers(1, 28 - first))
    frame = iso.read_multiple_blocks(SLIX_UID, first, count, option=True)
    read = answer(tag, frame, Command.READ_MULTIPLE_BLOCKS, option=True, count=count)
    assert isinstance(read, iso.Blocks)
    assert b"".join(read.data) == memory[first * 4 : (first + count) * 4]
    assert read.security is not None
    assert [bool(s) for s in read.security] == [n == first for n in range(first, first + count)]


@pytest.mark.parametrize(
    "frame",
    [
        iso.read_single_block(SLIX_UID, 28),
        iso.read_multiple_blocks(SLIX_UID, 20, 9),
        iso.write_single_block(SLIX_UID, 28, b"ABCD"),
        iso.lock_block(SLIX_UID, 200),
        iso.get_multiple_block_security_status(SLIX_UID, 27, 2),
    ],
)
def test_blocks_beyond_the_memory_are_not_available(frame: bytes) -> None:
    assert error(SimTag.blank("slix", SLIX_UID), frame) == ErrorCode.BLOCK_NOT_AVAILABLE


def test_a_locked_block_cannot_be_written_nor_locked_again() -> None:
    tag = SimTag.blank("slix", SLIX_UID)
    answer(tag, iso.write_single_block(SLIX_UID, 5, b"KEEP"), Command.WRITE_SINGLE_BLOCK)
    answer(tag, iso.lock_block(SLIX_UID, 5), Command.LOCK_BLOCK)
    assert error(tag, iso.write_single_block(SLIX_UID, 5, b"LOST")) == ErrorCode.LOCKED
    assert error(tag, iso.lock_block(SLIX_UID, 5)) == ErrorCode.ALREADY_LOCKED
    status = answer(
        tag,
        iso.get_multiple_block_security_status(SLIX_UID, 4, 3),
        Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS,
    )
    assert status == iso.SecurityStatus(
        (iso.BlockSecurity(0), iso.BlockSecurity.LOCKED, iso.BlockSecurity(0))
    )
    assert tag.block(5) == b"KEEP"


def test_a_block_of_the_wrong_size_is_not_recognised() -> None:
    assert error(SimTag.blank("slix", SLIX_UID), iso.write_single_block(SLIX_UID, 1, b"ABC")) == 0x02


def test_write_multiple_is_not_supported_by_icode_chips_unless_enabled() -> None:
    tag = SimTag.blank("slix2", SLIX2_UID)
    frame = iso.write_multiple_blocks(SLIX2_UID, 2, 2, b"ABCDEFGH")
    assert error(tag, frame) == ErrorCode.NOT_SUPPORTED
    tag.unsupported.discard(Command.WRITE_MULTIPLE_BLOCKS)
    assert answer(tag, frame, Command.WRITE_MULTIPLE_BLOCKS) == iso.Ack()
    assert bytes(tag.memory[8:16]) == b"ABCDEFGH"


def test_write_multiple_over_a_locked_block_writes_nothing() -> None:
    tag = SimTag.blank("slix2", SLIX2_UID)
    tag.unsupported.clear()
    tag.locked_blocks.add(3)
    assert error(tag, iso.write_multiple_blocks(SLIX2_UID, 2, 2, b"ABCDEFGH")) == ErrorCode.LOCKED
    assert bytes(tag.memory[8:16]) == bytes(8)


def test_a_tag_leaving_mid_write_multiple_keeps_only_the_first_blocks() -> None:
    tag = SimTag.blank("slix2", SLIX2_UID)
    tag.unsupported.clear()
    tag.leave_after(2)
    assert send(tag, iso.write_multiple_blocks(SLIX2_UID, 0, 4, bytes(range(1, 17)))) is None
    assert tag.departed
    assert bytes(tag.memory[:16]) == bytes(range(1, 9)) + bytes(8)
    assert send(tag, iso.get_system_info(SLIX2_UID)) is None


# -- AFI, DSFID, EAS ---------------------------------------------------------------------------------------


def test_afi_and_dsfid_are_written_and_locked() -> None:
    tag = SimTag.blank("slix", SLIX_UID)
    answer(tag, iso.write_afi(SLIX_UID, 0x07), Command.WRITE_AFI)
    answer(tag, iso.write_dsfid(SLIX_UID, 0x11), Command.WRITE_DSFID)
    answer(tag, iso.lock_afi(SLIX_UID), Command.LOCK_AFI)
    answer(tag, iso.lock_dsfid(SLIX_UID), Command.LOCK_DSFID)
    assert error(tag, iso.write_afi(SLIX_UID, 0xC2)) == ErrorCode.LOCKED
    assert error(tag, iso.write_dsfid(SLIX_UID, 0x22)) == ErrorCode.LOCKED
    assert error(tag, iso.lock_afi(SLIX_UID)) == ErrorCode.ALREADY_LOCKED
    assert error(tag, iso.lock_dsfid(SLIX_UID)) == ErrorCode.ALREADY_LOCKED
    assert (tag.afi, tag.dsfid, tag.afi_locked, tag.dsfid_locked) == (0x07, 0x11, True, True)


def test_the_eas_alarm_answers_only_while_eas_is_set() -> None:
    tag = SimTag.blank("slix", SLIX_UID)
    assert send(tag, iso.eas_alarm()) is None
    answer(tag, iso.set_eas(SLIX_UID), Command.SET_EAS)
    assert answer(tag, iso.eas_alarm(), Command.EAS_ALARM) == EasSequence(EAS_SEQUENCE)
    answer(tag, iso.reset_eas(SLIX_UID), Command.RESET_EAS)
    assert send(tag, iso.eas_alarm()) is None


def test_a_locked_eas_keeps_its_state() -> None:
    tag = SimTag.blank("slix", SLIX_UID)
    answer(tag, iso.set_eas(SLIX_UID), Command.SET_EAS)
    answer(tag, iso.lock_eas(SLIX_UID), Command.LOCK_EAS)
    assert error(tag, iso.reset_eas(SLIX_UID)) == ErrorCode.LOCKED
    assert error(tag, iso.lock_eas(SLIX_UID)) == ErrorCode.ALREADY_LOCKED
    assert tag.eas


def test_selective_eas_answers_the_eas_id_and_matching_masks() -> None:
    tag = SimTag.blank("slix2", SLIX2_UID)
    tag.eas, tag.eas_id = True, 0xBEEF
    assert answer(tag, iso.eas_alarm(eas_id_mask_len=0), Command.EAS_ALARM, option=True) == EasId(0xBEEF)
    matching = iso.eas_alarm(eas_id_mask_len=8, eas_id_mask=0xEF)
    assert answer(tag, matching, Command.EAS_ALARM, option=True) == EasSequence(EAS_SEQUENCE)
    assert send(tag, iso.eas_alarm(eas_id_mask_len=16, eas_id_mask=0xBEEE)) is None


def test_a_slix_has_no_selective_eas_and_stays_silent() -> None:
    tag = SimTag.blank("slix", SLIX_UID)
    tag.eas = True
    assert send(tag, iso.eas_alarm(SLIX_UID, eas_id_mask_len=0)) is None
    assert send(tag, iso.eas_alarm(SLIX_UID)) is not None


def test_the_eas_sequence_is_the_data_sheets() -> None:
    # SL2S2002 rev 3.4 table 37: the sequence begins 11110100 11001101 in transmission order (LSB first).
    assert EAS_SEQUENCE[:2] == bytes([0b00101111, 0b10110011])


# -- NXP passwords -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["slix", "slix2", "slix-s", "slix-l"])
def test_protected_eas_and_afi_need_the_password_each_session(profile: str) -> None:
    tag = SimTag.blank(profile)
    uid = tag.uid
    assert error(tag, iso.password_protect_eas_afi(uid)) == ErrorCode.UNKNOWN
    give_password(tag)
    answer(tag, iso.password_protect_eas_afi(uid), Command.PASSWORD_PROTECT_EAS_AFI)
    answer(tag, iso.password_protect_eas_afi(uid, afi=True), Command.PASSWORD_PROTECT_EAS_AFI)
    answer(tag, iso.set_eas(uid), Command.SET_EAS)  # the password given still holds in this session
    tag.power_off()
    assert error(tag, iso.reset_eas(uid)) == ErrorCode.UNKNOWN
    assert error(tag, iso.write_afi(uid, 0xC2)) == ErrorCode.UNKNOWN
    assert (tag.eas, tag.afi) == (True, 0)
    give_password(tag)
    answer(tag, iso.reset_eas(uid), Command.RESET_EAS)
    answer(tag, iso.write_afi(uid, 0xC2), Command.WRITE_AFI)
    assert (tag.eas, tag.afi, tag.eas_protected, tag.afi_protected) == (False, 0xC2, True, True)


def test_a_wrong_password_mutes_the_tag_until_power_off() -> None:
    tag = SimTag.blank("slix2", SLIX2_UID)
    tag.passwords[PasswordId.EAS_AFI] = 0x12345678
    random = answer(tag, iso.get_random_number(SLIX2_UID), Command.GET_RANDOM_NUMBER)
    assert isinstance(random, iso.RandomNumber)
    assert send(tag, iso.set_password(SLIX2_UID, PasswordId.EAS_AFI, 0x1234567F, random.value)) is None
    assert send(tag, iso.get_system_info(SLIX2_UID)) is None
    tag.power_off()
    give_password(tag, 0x12345678)
    frame = iso.password_protect_eas_afi(SLIX2_UID)
    assert answer(tag, frame, Command.PASSWORD_PROTECT_EAS_AFI) == iso.Ack()


def test_a_new_password_must_be_given_before_it_grants_and_a_locked_one_stays() -> None:
    tag = SimTag.blank("slix2", SLIX2_UID)
    assert error(tag, iso.write_password(SLIX2_UID, PasswordId.EAS_AFI, 0xCAFE)) == ErrorCode.UNKNOWN
    give_password(tag)
    answer(tag, iso.write_password(SLIX2_UID, PasswordId.EAS_AFI, 0xCAFE), Command.WRITE_PASSWORD)
    assert error(tag, iso.lock_password(SLIX2_UID, PasswordId.EAS_AFI)) == ErrorCode.UNKNOWN
    give_password(tag, 0xCAFE)
    answer(tag, iso.lock_password(SLIX2_UID, PasswordId.EAS_AFI), Command.LOCK_PASSWORD)
    assert error(tag, iso.write_password(SLIX2_UID, PasswordId.EAS_AFI, 0)) == ErrorCode.LOCKED
    assert tag.passwords[PasswordId.EAS_AFI] == 0xCAFE


def test_password_commands_follow_the_chips_passwords() -> None:
    sli = SimTag.blank("sli")
    assert error(sli, iso.get_random_number(sli.uid)) == ErrorCode.NOT_SUPPORTED
    slix = SimTag.blank("slix", SLIX_UID)
    random = answer(slix, iso.get_random_number(SLIX_UID), Command.GET_RANDOM_NUMBER)
    assert isinstance(random, iso.RandomNumber)
    assert error(slix, iso.set_password(SLIX_UID, PasswordId.READ, 0, random.value)) == ErrorCode.UNKNOWN
    assert send(slix, iso.write_password(None, PasswordId.EAS_AFI, 1)) is None  # never non-addressed


# -- states and addressing ---------------------------------------------------------------------------------


def test_a_quiet_tag_hears_only_its_uid_until_reset_to_ready() -> None:
    tag = SimTag.blank("slix", SLIX_UID)
    assert send(tag, iso.stay_quiet(SLIX_UID)) is None
    assert tag.state is TagState.QUIET
    assert send(tag, iso.inventory()) is None
    assert send(tag, iso.read_single_block(None, 0)) is None
    assert answer(tag, iso.read_single_block(SLIX_UID, 0), Command.READ_SINGLE_BLOCK)
    answer(tag, iso.reset_to_ready(SLIX_UID), Command.RESET_TO_READY)
    assert answer(tag, iso.inventory(), Command.INVENTORY) == iso.InventoryResponse(SLIX_UID, 0)


def test_select_picks_one_tag_for_the_select_flag_and_another_select_releases_it() -> None:
    tag = SimTag.blank("slix", SLIX_UID)
    assert send(tag, iso.read_single_block(None, 0, select=True)) is None
    answer(tag, iso.select(SLIX_UID), Command.SELECT)
    assert tag.state is TagState.SELECTED
    assert answer(tag, iso.read_single_block(None, 0, select=True), Command.READ_SINGLE_BLOCK)
    assert send(tag, iso.select(SLIX_UID + 1)) is None
    assert tag.state is TagState.READY
    assert send(tag, iso.read_single_block(None, 0, select=True)) is None


def test_other_uids_and_failing_non_addressed_commands_get_silence() -> None:
    tag = SimTag.blank("slix", SLIX_UID)
    assert send(tag, iso.get_system_info(SLIX_UID + 1)) is None
    assert send(tag, iso.read_single_block(None, 99)) is None
    assert error(tag, iso.read_single_block(SLIX_UID, 99)) == ErrorCode.BLOCK_NOT_AVAILABLE


def test_inventory_answers_by_afi_and_mask() -> None:
    tag = SimTag.blank("slix", SLIX_UID)
    tag.afi = 0x07
    assert send(tag, iso.inventory(afi=0xC2)) is None
    assert send(tag, iso.inventory(afi=0x07, mask=0x78, mask_len=8)) is not None
    assert send(tag, iso.inventory(afi=0x00, mask=0x77, mask_len=8)) is None


@pytest.mark.parametrize(
    ("frame", "reply"),
    [
        (bytes([0x22, 0x99]) + SLIX_UID.to_bytes(8, "little"), bytes([0x01, 0x01])),  # unknown command
        (bytes([0x02, 0x99]), None),  # the same, not addressed
        (bytes([0x22, 0xA2, 0x07]) + SLIX_UID.to_bytes(8, "little"), None),  # another maker's custom command
        (bytes([0x22, 0x20]) + SLIX_UID.to_bytes(8, "little"), bytes([0x01, 0x02])),  # block number missing
        (bytes([0x22, 0x20]) + (SLIX_UID + 1).to_bytes(8, "little"), None),  # ... for another tag
        (bytes([0x26, 0x01]), None),  # an inventory without its mask length
    ],
)
def test_requests_the_codec_refuses(frame: bytes, reply: bytes | None) -> None:
    assert send(SimTag.blank("slix", SLIX_UID), frame) == reply


def test_a_damaged_request_gets_no_answer() -> None:
    frame = append_crc(iso.get_system_info(SLIX_UID))
    assert SimTag.blank("slix", SLIX_UID).handle(frame[:-1] + bytes([frame[-1] ^ 1])) is None


@given(payload=st.binary(max_size=40), with_crc=st.booleans(), state=st.sampled_from(TagState))
def test_any_bytes_get_a_valid_frame_or_silence(payload: bytes, with_crc: bool, state: TagState) -> None:
    tag = SimTag.blank("slix2", SLIX2_UID)
    tag.state = state
    reply = tag.handle(append_crc(payload) if with_crc else payload)
    if reply is not None:
        check_crc(reply)


@given(
    flags=st.sampled_from([0x02, 0x22, 0x12, 0x42, 0x62, 0x26, 0x06]),
    command=st.integers(0, 0xFF),
    tail=st.binary(max_size=40),
)
def test_any_command_to_this_tag_gets_a_valid_frame_or_silence(flags: int, command: int, tail: bytes) -> None:
    tag = SimTag.blank("slix2", SLIX2_UID)
    tag.state = TagState.SELECTED
    maker = b"\x04" if 0xA0 <= command <= 0xDF else b""
    uid = SLIX2_UID.to_bytes(8, "little") if flags & 0x20 else b""
    reply = tag.handle(append_crc(bytes([flags, command]) + maker + uid + tail))
    if reply is not None:
        assert check_crc(reply)[0] in (0x00, 0x01)


# -- tag files ---------------------------------------------------------------------------------------------


@given(
    memory=st.binary(max_size=320),
    afi_dsfid=st.tuples(st.integers(0, 255), st.integers(0, 255)),
    locked=st.sets(st.integers(0, 79)),
    flags=st.fixed_dictionaries({name: st.booleans() for name in ("eas", "afi_locked", "eas_protected")}),
    password=st.integers(0, 0xFFFFFFFF),
)
def test_a_tag_survives_its_dict(
    memory: bytes, afi_dsfid: tuple[int, int], locked: set[int], flags: dict[str, bool], password: int
) -> None:
    tag = SimTag.blank("u-tag-l1000m", SLIX2_UID)
    tag.memory[: len(memory)] = memory
    (tag.afi, tag.dsfid), tag.locked_blocks = afi_dsfid, locked
    for name, value in flags.items():
        setattr(tag, name, value)
    tag.passwords[PasswordId.EAS_AFI] = password
    again = SimTag.from_dict(tag.to_dict())
    assert again.to_dict() == tag.to_dict()
    assert (again.memory, again.profile, again.chip) == (tag.memory, "u-tag-l1000m", tag.chip)


def test_a_tag_file_entry_needs_only_a_uid() -> None:
    tag = SimTag.from_dict({"uid": "E004011012345678", "memory_hex": "11 01 01"})
    assert (tag.profile, tag.block_count, tag.block(0)) == ("slix", 28, b"\x11\x01\x01\x00")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"profile": "slix"}, "needs a 'uid'"),
        ({"uid": "E007000012345678"}, "names no NXP ICODE chip"),
        ({"uid": "E004011012345678", "memory_hex": "00" * 113}, "113 bytes"),
        ({"uid": "E004011012345678", "afi": 256}, "AFI"),
        ({"uid": "E004011012345678", "locked_blocks": [28]}, "locked block"),
        ({"uid": "E004011012345678", "passwords": {"read": 1}}, "no 'read' password"),
    ],
)
def test_a_bad_tag_file_entry_says_what_is_wrong(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimTag.from_dict(entry)
