"""Tag profiles: the shipped file, recognition by UID and memory, and a refusal with a reason for the rest."""

from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols.iso28560 import DataModel
from tagd.protocols.profiles import (
    AmbiguousTag,
    Chip,
    LockPlan,
    ProfileError,
    UnknownTag,
    load_profiles,
    nxp_chip,
    uid_byte,
)
from tagd.protocols.tagtypes import TagProduct

SHIPPED_TEXT = files("tagd.config").joinpath("tag-profiles.toml").read_text(encoding="utf-8")
SHIPPED = load_profiles(SHIPPED_TEXT)

SLI = 0xE00401008A5C982E  # the worked Get System Information example in protocol-notes.md
SLIX = 0xE004015012345678
SLIX2 = 0xE004010812345678
SLIX_S = 0xE004020012345678
SLIX_L = 0xE004030012345678
TI = 0xE007000012345678


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return str(value)


def profile_toml(name="test", recognition=None, writing=None, **top):
    """One [[profile]] with sensible defaults; a value of None leaves the key out."""
    slix = {"manufacturer": 4, "chip": "icode-slix", "block_count": 28, "block_size": 4}
    recognition = slix | (recognition or {})
    writing = {
        "data_model": "iso28560-3",
        "first_block": 0,
        "lock": "none",
        "write_multiple": False,
        "eas_afi_password": True,
        "afi_security": True,
        "lock_afi": False,
    } | (writing or {})
    lines = ["[[profile]]"]
    for section, table in (("", {"name": name, **top}), ("recognition", recognition), ("writing", writing)):
        lines += [f"[profile.{section}]"] if section else []
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items() if value is not None]
    return "\n".join(lines) + "\n"


# the shipped file


def test_shipped_profiles_load_with_both_products_and_the_plain_chips():
    names = [profile.name for profile in SHIPPED.profiles]
    plain = ["nxp-icode-sli", "nxp-icode-slix", "nxp-icode-slix2", "nxp-icode-slix-s", "nxp-icode-slix-l"]
    assert names == ["U-TAG-L301", "U-TAG-L1000M", *plain]
    assert SHIPPED.named("U-TAG-L301").product is TagProduct.L301
    assert SHIPPED.named("U-TAG-L1000M").product is TagProduct.L1000M
    assert all(profile.product is None for profile in SHIPPED.profiles[2:])


@pytest.mark.parametrize("product", list(TagProduct))
def test_shipped_u_tag_profiles_are_marked_as_assumptions_in_field_and_comment(product):
    profile = SHIPPED.named(product)
    assert profile.assumption is not None
    assert "assumed" in profile.assumption
    before = SHIPPED_TEXT[: SHIPPED_TEXT.index(f'name = "{product}"')].rsplit("[[profile]]", 1)[0]
    assert before.rstrip().splitlines()[-1].startswith("# ASSUMPTION")


def test_shipped_u_tag_profiles_suggest_slix_for_l301_and_slix2_for_l1000m():
    l301, l1000m = SHIPPED.named("U-TAG-L301").recognition, SHIPPED.named("U-TAG-L1000M").recognition
    assert (l301.chip, l301.block_count, l301.block_size) == (Chip.ICODE_SLIX, 28, 4)
    assert (l1000m.chip, l1000m.block_count, l1000m.block_size) == (Chip.ICODE_SLIX2, 80, 4)


def test_shipped_profiles_write_iso28560_3_and_never_lock_a_security_afi():
    for profile in SHIPPED.profiles:
        assert profile.writing.data_model is DataModel.ISO28560_3
        assert profile.writing.lock is LockPlan.NONE
        assert profile.writing.afi_security
        assert not profile.writing.lock_afi


@pytest.mark.parametrize(
    ("uid", "blocks", "name"),
    [
        (SLIX, 28, "U-TAG-L301"),
        (SLIX2, 80, "U-TAG-L1000M"),
        (SLI, 28, "nxp-icode-sli"),
        (SLIX_S, 40, "nxp-icode-slix-s"),
        (SLIX_L, 8, "nxp-icode-slix-l"),
        (SLIX, None, "U-TAG-L301"),
    ],
)
def test_shipped_profiles_identify_each_chip(uid, blocks, name):
    assert SHIPPED.identify(uid, blocks, 4 if blocks else None).name == name


# UID facts


@pytest.mark.parametrize(
    ("uid", "chip"),
    [
        (SLI, Chip.ICODE_SLI),
        (SLIX, Chip.ICODE_SLIX),
        (SLIX2, Chip.ICODE_SLIX2),
        (SLIX_S, Chip.ICODE_SLIX_S),
        (SLIX_L, Chip.ICODE_SLIX_L),
        (0xE004011812345678, None),
        (0xE004040012345678, None),
        (TI, None),
    ],
)
def test_nxp_chip_from_ic_type_and_bits_4_3_of_the_fourth_byte(uid, chip):
    assert nxp_chip(uid) is chip


def test_uid_bytes_count_from_the_most_significant():
    assert [uid_byte(SLI, index) for index in range(4)] == [0xE0, 0x04, 0x01, 0x00]


# identification


def test_delivered_roll_range_is_more_specific_than_the_product_by_chip():
    roll = profile_toml(
        "roll", product="U-TAG-L301", recognition={"uid_ranges": [["E004015000000000", "E0040150FFFFFFFF"]]}
    )
    profiles = load_profiles(SHIPPED_TEXT + roll)
    assert profiles.identify(SLIX, 28, 4).name == "roll"
    assert profiles.identify(0xE004015100000000, 28, 4).name == "U-TAG-L301"


def test_product_profile_with_a_roll_range_leaves_other_uids_to_the_plain_chip():
    roll = {"uid_ranges": [["E004015000000000", "E00401500000FFFF"]]}
    text = profile_toml("U-TAG-L301", product="U-TAG-L301", recognition=roll)
    text += profile_toml("plain-slix")
    profiles = load_profiles(text)
    assert profiles.identify(0xE00401500000ABCD, 28, 4).name == "U-TAG-L301"
    assert profiles.identify(0xE00401500001ABCD, 28, 4).name == "plain-slix"


def test_unknown_manufacturer_is_refused_with_what_was_seen():
    with pytest.raises(UnknownTag, match=r"UID E007000012345678 \(manufacturer 0x07, IC type 0x00"):
        SHIPPED.identify(TI, 64, 4)


def test_right_chip_wrong_memory_is_refused_naming_what_each_profile_expects():
    with pytest.raises(UnknownTag, match="U-TAG-L301 expects 28 blocks of 4 bytes; nxp-icode-slix expects"):
        SHIPPED.identify(SLIX, 8, 4)


def test_uid_outside_every_roll_is_refused_saying_so():
    profiles = load_profiles(rec(uid_ranges=uids(0, 1)))
    with pytest.raises(UnknownTag, match="test UID outside its uid_ranges"):
        profiles.identify(SLIX, 28, 4)


@pytest.mark.parametrize("uid", [0x0004015012345678, -1, 1 << 64])
def test_non_iso15693_uid_is_refused(uid):
    with pytest.raises(UnknownTag, match="is not an ISO 15693 UID"):
        SHIPPED.identify(uid)


def test_two_equally_specific_profiles_matching_is_ambiguous_not_a_guess():
    text = profile_toml("short", product="U-TAG-L301", recognition={"block_count": 8})
    text += profile_toml("long", product="U-TAG-L1000M")
    profiles = load_profiles(text)
    assert profiles.identify(SLIX, 8, 4).name == "short"
    with pytest.raises(AmbiguousTag, match="recognised by short, long alike"):
        profiles.identify(SLIX)


def test_ic_type_profile_accepts_any_chip_of_that_type():
    profiles = load_profiles(profile_toml(recognition={"chip": None, "ic_type": 1}))
    assert profiles.identify(SLI, 28, 4).name == profiles.identify(SLIX2, 28, 4).name == "test"


def test_named_profile_or_an_error_listing_the_known_ones():
    assert SHIPPED.named("nxp-icode-slix2").recognition.block_count == 80
    with pytest.raises(ProfileError, match="no tag profile named 'slix3'; known: U-TAG-L301, U-TAG-L1000M"):
        SHIPPED.named("slix3")


@pytest.mark.parametrize(
    ("lock", "length", "blocks"),
    [("none", 32, range(0)), ("data-blocks", 32, range(8)), ("data-blocks", 34, range(9))],
)
def test_lock_plan_locks_the_blocks_written_or_none(lock, length, blocks):
    profile = load_profiles(profile_toml(writing={"lock": lock})).named("test")
    assert profile.blocks_to_lock(length) == blocks


@given(st.integers(0, (1 << 64) - 1), st.none() | st.integers(1, 256), st.none() | st.integers(1, 32))
def test_identify_returns_a_matching_profile_or_refuses_never_guesses(uid, blocks, size):
    try:
        profile = SHIPPED.identify(uid, blocks, size)
    except UnknownTag:
        return
    assert uid_byte(uid, 1) == profile.recognition.manufacturer
    assert nxp_chip(uid) is profile.recognition.chip
    assert blocks in (None, profile.recognition.block_count)


@given(st.integers(0, 0xFFFF))
def test_every_uid_of_a_delivered_roll_is_the_roll_profile(serial):
    slix2_roll = {
        "chip": "icode-slix2", "block_count": 80,
        "uid_ranges": [["E004010800000000", "E00401080000FFFF"]],
    }
    roll = profile_toml("roll", product="U-TAG-L1000M", recognition=slix2_roll)
    profiles = load_profiles(SHIPPED_TEXT + roll)
    assert profiles.identify(0xE004010800000000 + serial, 80, 4).name == "roll"


# loading: each error names the profile and key


def rec(name="test", **recognition):
    return profile_toml(name, recognition=recognition)


def wri(**writing):
    return profile_toml(writing=writing)


def uids(first, last):
    return [[f"E00401500000000{first}", f"E00401500000000{last}"]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profile = [", "not valid TOML"),
        ("", "no \\[\\[profile\\]\\] given"),
        ("profiles = []", "tag profiles: unknown key 'profiles'"),
        ("profile = [1]", "profile\\[0\\] must be a table"),
        (profile_toml(name=None), "profile\\[0\\]: name is missing"),
        (profile_toml(name=" "), "profile\\[0\\].name is empty"),
        (profile_toml(name=3), "profile\\[0\\].name: 3 is not a string"),
        (profile_toml() + profile_toml(), "profile 'test' is given twice"),
        (profile_toml(product="U-TAG-L9"), "profile 'test': product: 'U-TAG-L9' is not one of: U-TAG-L301"),
        (profile_toml(colour="white"), "profile 'test': unknown key 'colour'"),
        (rec(chip="icode-slix3"), "'test'.recognition.chip: 'icode-slix3' is not one"),
        (rec(manufacturer=7), "recognition.chip: icode-slix is NXP's, manufacturer is 0x07"),
        (rec(ic_type=2), "recognition.ic_type: icode-slix has IC type 0x01"),
        (rec(manufacturer=256), "recognition.manufacturer: 256 is not in 0..255"),
        (rec(block_count=0), "recognition.block_count: 0 is not in 1..256"),
        (rec(block_count=True), "recognition.block_count: True is not an integer"),
        (rec(block_size=None), "'test'.recognition: block_size is missing"),
        (rec(uid_ranges=["E004015000000000"]), "uid_ranges: a range is two hex UIDs"),
        (rec(uid_ranges=[["E00401500000000", "E004015000000001"]]), "16 hex digits"),
        (rec(uid_ranges=[["E00401500000000G", "E004015000000001"]]), "16 hex digits"),
        (rec(uid_ranges=[["D004015000000000", "E004015000000001"]]), "start with E0"),
        (rec(uid_ranges=uids(1, 0)), "ends before"),
        (rec(uid_ranges=[["E004015000000000", "E007015000000000"]]), "not of manufacturer 0x04"),
        (rec(speed=1), "'test'.recognition: unknown key 'speed'"),
        (wri(data_model="dublin-core"), "writing.data_model: 'dublin-core' is not one of"),
        (wri(lock="all"), "writing.lock: 'all' is not one of: none, data-blocks"),
        (wri(write_multiple="yes"), "writing.write_multiple: 'yes' is not true or false"),
        (wri(lock_afi=True), "writing.lock_afi: an AFI that carries security"),
        (wri(first_block=21), "writing.first_block: 21 leaves 28 bytes, the ISO 28560-3"),
        (wri(first_block=30), "first_block: 30 leaves 0 bytes"),
        (wri(afi=7), "'test'.writing: unknown key 'afi'"),
        ('[[profile]]\nname = "x"\nrecognition = 1\n', "profile 'x'.recognition: 1 is not a table"),
        (rec("a") + rec("b"), "profiles 'a' and 'b' recognise the same tags"),
        (rec("a", uid_ranges=uids(0, 9)) + rec("b", uid_ranges=uids(9, "F")), "'a' and 'b' recognise the"),
    ],
)
def test_bad_profiles_file_is_refused_naming_the_key(text, message):
    with pytest.raises(ProfileError, match=message):
        load_profiles(text)


def test_iso28560_2_profile_may_use_a_small_memory():
    slix_l = {"chip": "icode-slix-l", "block_count": 8}
    text = profile_toml(recognition=slix_l, writing={"data_model": "iso28560-2", "first_block": 4})
    assert load_profiles(text).named("test").writing.data_model is DataModel.ISO28560_2


def test_afi_without_security_may_be_locked():
    text = wri(afi_security=False, lock_afi=True)
    assert load_profiles(text).named("test").writing.lock_afi


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"chip": "icode-slix"}, {"chip": "icode-slix2"}),
        ({"block_count": 28}, {"block_count": 27}),
        ({"uid_ranges": uids(0, 8)}, {"uid_ranges": uids(9, "F")}),
    ],
)
def test_profiles_that_cannot_claim_the_same_tag_load_together(one, other):
    assert len(load_profiles(rec("a", **one) + rec("b", **other)).profiles) == 2
