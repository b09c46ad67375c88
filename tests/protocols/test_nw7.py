"""NW-7 check digits and scan parsing: published worked examples, independent references, hypothesis."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tagd.protocols import nw7
from tagd.protocols.errors import ProtocolError
from tagd.protocols.nw7 import BarcodeError, BarcodeReason, M11Options

# --- independent references, written from the published definitions, not from nw7 -----------------------

M16_TABLE = "0123456789-$:/.+ABCD"


def luhn_check(data: str) -> str:
    """Luhn as credit-card texts give it: double every other digit from the right, subtract 9 if > 9."""
    total = 0
    for i, char in enumerate(reversed(data)):
        value = int(char) * 2 if i % 2 == 0 else int(char)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def luhn_valid(full: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(full)):
        value = int(char) * 2 if i % 2 == 1 else int(char)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def weighted(data: str, weights: tuple[int, ...]) -> int:
    return sum(int(c) * weights[i % len(weights)] for i, c in enumerate(reversed(data)))


def m11_w2_7(data: str) -> str:
    remainder = weighted(data, (2, 3, 4, 5, 6, 7)) % 11
    return "0" if remainder in (0, 1) else str(11 - remainder)


REFERENCES = {
    "m10w21": luhn_check,
    "m10w21-lump": lambda data: str((10 - weighted(data, (2, 1)) % 10) % 10),
    "m10w31": lambda data: str((10 - weighted(data, (3, 1)) % 10) % 10),
    "m11": m11_w2_7,
    "7dr": lambda data: str(int(data) % 7),
    "7dsr": lambda data: str(7 - int(data) % 7),
    "9dr": lambda data: str(sum(map(int, data)) % 9),
    "9dsr": lambda data: str(9 - sum(map(int, data)) % 9),
}


def reference_check(data: str, scheme: str) -> str:
    return REFERENCES[scheme](data)


def full_width(text: str) -> str:
    """What a Japanese keyboard wedge types in full-width mode."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def outcome(call):
    """A value or the BarcodeError, so properties can look at both."""
    try:
        return call()
    except BarcodeError as exc:
        return exc


DIGIT_SCHEMES = [s for s in nw7.SCHEMES if s != "m16"]
data_digits = st.text(alphabet="0123456789", min_size=1, max_size=30)
eight_digits = st.text(alphabet="0123456789", min_size=8, max_size=8)


# --- the worked examples -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "check"),
    [
        ("m10w21", "2"),
        ("m10w21-lump", "4"),
        ("m10w31", "4"),
        ("7dr", "2"),
        ("7dsr", "5"),
        ("9dr", "0"),
        ("9dsr", "9"),
        ("m11", "5"),  # M11 W2-7: 16+21+24+25+24+21+4+3 = 138, 138 mod 11 = 6, 11 - 6 = 5
    ],
)
def test_protocol_notes_vectors_for_12345678(scheme, check):
    assert nw7.check_digit("12345678", scheme) == check


def test_default_scheme_is_split_modulus10():
    assert nw7.check_digit("12345678") == "2"


@pytest.mark.parametrize(
    ("symbol", "check"),
    [("A37859B", "+"), ("A01234B", "5"), ("a37859b", "+")],
)
def test_m16_published_examples_include_start_and_stop(symbol, check):
    assert nw7.check_digit(symbol, "m16") == check


@pytest.mark.parametrize(
    ("digits", "scheme", "check"),
    [
        ("7992739871", "m10w21", "3"),  # the textbook Luhn example
        ("20151119", "m10w21", "3"),
        ("20151149", "m10w21", "0"),
        ("3319100010586", "m10w21", "4"),  # a Dynix/Ameritech 14-digit library item barcode
        ("400763000011", "m10w31", "6"),  # EAN-13 weights 3,1 from the right
        ("12345", "m10w31", "7"),
        ("123456", "7dr", "4"),
        ("99991234567", "7dr", "0"),
        ("0000007", "7dsr", "7"),  # 7DSR gives 7, not 0, when the number divides by 7
        ("000000009", "9dsr", "9"),
    ],
)
def test_other_published_vectors(digits, scheme, check):
    assert nw7.check_digit(digits, scheme) == check


def test_schemes_are_the_nine_names():
    assert nw7.SCHEMES == (
        "m10w21", "m10w21-lump", "m10w31", "m11", "m16", "7dr", "7dsr", "9dr", "9dsr"
    )  # fmt: skip


def test_scheme_names_are_case_insensitive():
    assert nw7.check_digit("12345678", "M10W31") == "4"


# --- M11 options ---------------------------------------------------------------------------------------


def test_m11_remainders_0_and_1_give_0_by_default():
    assert nw7.check_digit("0", "m11") == "0"  # sum 0
    assert nw7.check_digit("6", "m11") == "0"  # 6*2 = 12, remainder 1
    assert nw7.check_digit("5", "m11") == "1"  # 5*2 = 10, remainder 10


def test_m11_options_override_the_special_remainders():
    assert nw7.check_digit("6", "m11", m11=M11Options(remainder_1="-")) == "-"
    assert nw7.check_digit("0", "m11", m11=M11Options(remainder_0="1")) == "1"
    assert nw7.check_digit("5", "m11", m11=M11Options(remainder_10="9")) == "9"


def test_m11_remainder_without_check_digit_is_refused():
    with pytest.raises(BarcodeError, match="remainder 1") as caught:
        nw7.check_digit("6", "m11", m11=M11Options(remainder_1=None))
    assert caught.value.reason is BarcodeReason.NO_CHECK_DIGIT


def test_m11_weights_are_cycled_from_the_right():
    # weights 10..2 left to right is ISBN-10: 4-88380-478 has check X (10), i.e. remainder 1
    isbn = M11Options(weights=(2, 3, 4, 5, 6, 7, 8, 9, 10), remainder_1="-")
    assert nw7.check_digit("488380478", "m11", m11=isbn) == "-"
    assert nw7.check_digit("476612854", "m11", m11=isbn) == "0"


@pytest.mark.parametrize(
    "options",
    [
        {"weights": ()},
        {"weights": (2, 0)},
        {"remainder_1": "X"},
        {"remainder_0": ""},
        {"remainder_10": "12"},
    ],
)
def test_bad_m11_options_are_refused(options):
    with pytest.raises(BarcodeError) as caught:
        M11Options(**options)
    assert caught.value.reason is BarcodeReason.BAD_SETTING


# --- properties against the references ------------------------------------------------------------------


@given(data_digits, st.sampled_from(DIGIT_SCHEMES))
def test_matches_independent_reference(data, scheme):
    assert nw7.check_digit(data, scheme) == reference_check(data, scheme)


@given(data_digits)
def test_luhn_appending_the_check_digit_makes_the_number_valid(data):
    assert luhn_valid(data + nw7.check_digit(data, "m10w21"))


@given(data_digits)
def test_m10w31_full_number_sums_to_a_multiple_of_10(data):
    full = data + nw7.check_digit(data, "m10w31")
    assert sum(int(c) * (1, 3)[i % 2] for i, c in enumerate(reversed(full))) % 10 == 0


@given(data_digits)
def test_m11_weighted_sum_with_the_check_is_a_multiple_of_11(data):
    check = int(nw7.check_digit(data, "m11"))
    weighted = sum(int(c) * (2 + i % 6) for i, c in enumerate(reversed(data)))
    assert (weighted + check) % 11 == 0 or (weighted % 11 == 1 and check == 0)


@given(data_digits)
def test_dsr_schemes_complete_a_multiple(data):
    assert (int(data) + int(nw7.check_digit(data, "7dsr"))) % 7 == 0
    assert (sum(map(int, data)) + int(nw7.check_digit(data, "9dsr"))) % 9 == 0
    assert nw7.check_digit(data, "7dsr") in "1234567"
    assert nw7.check_digit(data, "9dsr") in "123456789"


@given(
    st.sampled_from("ABCDabcd"),
    st.text(alphabet="0123456789-$:/.+", min_size=1, max_size=30),
    st.sampled_from("ABCDabcd"),
)
def test_m16_total_with_check_is_a_multiple_of_16(start, data, stop):
    check = nw7.check_digit(start + data + stop, "m16")
    total = sum(M16_TABLE.index(c.upper()) for c in start + data + check + stop)
    assert total % 16 == 0
    assert check in "0123456789-$:/.+"


def test_very_long_numbers_do_not_hit_the_int_conversion_limit():
    assert nw7.check_digit("7" * 5000, "7dr") == "0"
    assert nw7.check_digit("1" * 9000, "9dr") == "0"


# --- check_digit errors -----------------------------------------------------------------------------------


def test_check_digit_names_the_non_digit_and_its_position():
    with pytest.raises(BarcodeError, match=r"'x' at position 4 is not a digit") as caught:
        nw7.check_digit("123x5678")
    assert caught.value.reason is BarcodeReason.NOT_A_DIGIT


def test_check_digit_of_nothing_is_refused():
    with pytest.raises(BarcodeError) as caught:
        nw7.check_digit("", "7dr")
    assert caught.value.reason is BarcodeReason.EMPTY


def test_unknown_scheme_is_a_protocol_error_listing_the_schemes():
    with pytest.raises(ProtocolError, match="m10w21-lump") as caught:
        nw7.check_digit("12345678", "luhn")
    assert isinstance(caught.value, BarcodeError)
    assert caught.value.reason is BarcodeReason.UNKNOWN_SCHEME
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("symbol", ["12345678", "A12345678", "12345678B", "A", ""])
def test_m16_needs_start_and_stop(symbol):
    with pytest.raises(BarcodeError) as caught:
        nw7.check_digit(symbol, "m16")
    assert caught.value.reason is BarcodeReason.MISSING_START_STOP


def test_m16_refuses_non_codabar_characters():
    with pytest.raises(BarcodeError, match=r"'Z' at position 3") as caught:
        nw7.check_digit("A1Z3B", "m16")
    assert caught.value.reason is BarcodeReason.NOT_A_DIGIT


def test_with_check_digit_appends_or_places_before_the_stop():
    assert nw7.with_check_digit("12345678") == "123456782"
    assert nw7.with_check_digit("A37859B", "m16") == "A37859+B"


# --- parse_scan ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "123456782",
        "A123456782B",
        "a123456782b",
        "C123456782D",
        "123456782\r\n",
        "A123456782B\r",
        "  123456782\t",
        full_width("A123456782B"),
        full_width("123456782") + "\u3000",
    ],
)
def test_what_scanners_send_is_accepted(raw):
    number = nw7.parse_scan(raw)
    assert (number.number, number.check, number.item_id) == ("12345678", "2", "123456782")
    assert number.scheme == "m10w21"


def test_start_and_stop_are_kept_upper_case():
    number = nw7.parse_scan("c123456782d")
    assert (number.start, number.stop, number.symbol) == ("C", "D", "C123456782D")
    bare = nw7.parse_scan("123456782")
    assert (bare.start, bare.stop, bare.symbol) == (None, None, "123456782")


def test_parse_scan_in_another_scheme_and_length():
    # 1234567890 weighted 3,1 from the right: 0+9+24+7+18+5+12+3+6+1 = 85, check 5
    number = nw7.parse_scan("A12345678905B", "m10w31", length=10)
    assert (number.number, number.check, number.scheme) == ("1234567890", "5", "m10w31")
    # 1234567890 = 7 * 176366841 + 3
    assert nw7.parse_scan("12345678903", "7dr", length=10).check == "3"


def test_m16_scan_with_start_and_stop():
    number = nw7.parse_scan("A37859+B", "m16", length=5)
    assert (number.number, number.check, number.item_id) == ("37859", "+", "37859+")


def test_m16_scan_without_start_and_stop_needs_the_labels_ones():
    with pytest.raises(BarcodeError, match="start and stop") as caught:
        nw7.parse_scan("37859+", "m16", length=5)
    assert caught.value.reason is BarcodeReason.MISSING_START_STOP
    number = nw7.parse_scan("37859+", "m16", length=5, start="a", stop="b")
    assert (number.start, number.stop, number.symbol) == ("A", "B", "A37859+B")


def test_a_scan_own_start_and_stop_win_over_the_assumed_ones():
    number = nw7.parse_scan("C123456782C", start="A", stop="B")
    assert (number.start, number.stop) == ("C", "C")


@pytest.mark.parametrize(("start", "stop"), [("A", None), (None, "B"), ("A", "E"), ("AB", "B"), ("", "B")])
def test_bad_assumed_start_stop_is_a_setting_error(start, stop):
    with pytest.raises(BarcodeError) as caught:
        nw7.parse_scan("123456782", start=start, stop=stop)
    assert caught.value.reason is BarcodeReason.BAD_SETTING


@pytest.mark.parametrize("length", [0, -1])
def test_length_must_be_positive(length):
    with pytest.raises(BarcodeError) as caught:
        nw7.parse_scan("2", length=length)
    assert caught.value.reason is BarcodeReason.BAD_SETTING


@pytest.mark.parametrize("raw", ["", "   ", "\r\n", "\u3000"])
def test_empty_scan(raw):
    with pytest.raises(BarcodeError, match="empty") as caught:
        nw7.parse_scan(raw)
    assert caught.value.reason is BarcodeReason.EMPTY


@pytest.mark.parametrize(
    ("raw", "got"),
    [
        ("12345678", "got 8"),
        ("1234567820", "got 10"),
        ("A1234567B", "got 7"),
        ("AB", "got 0"),
        ("7", "got 1"),
    ],
)
def test_wrong_length_says_expected_and_got(raw, got):
    with pytest.raises(BarcodeError, match=f"expected 9 characters .*{got}") as caught:
        nw7.parse_scan(raw)
    assert caught.value.reason is BarcodeReason.WRONG_LENGTH


def test_a_scan_missing_its_check_digit_gets_a_hint():
    with pytest.raises(BarcodeError, match="strip the check digit"):
        nw7.parse_scan("A12345678B")


@pytest.mark.parametrize(
    ("raw", "char", "position"),
    [
        ("1234x6782", "x", 5),
        ("A1234x6782B", "x", 6),
        ("1234 6782", " ", 5),
        ("-23456782", "-", 1),
        ("A12A456782B", "A", 4),
    ],
)
def test_non_digit_names_character_and_position(raw, char, position):
    with pytest.raises(BarcodeError, match=f"{char!r} at position {position} is not a digit") as caught:
        nw7.parse_scan(raw)
    assert caught.value.reason is BarcodeReason.NOT_A_DIGIT


@pytest.mark.parametrize(("raw", "given"), [("123456783", "3"), ("A123456789B", "9"), ("12345678-", "-")])
def test_bad_check_digit_says_which_was_expected(raw, given):
    with pytest.raises(BarcodeError, match=f"gives '2' for 12345678, the number has {given!r}") as caught:
        nw7.parse_scan(raw)
    assert caught.value.reason is BarcodeReason.BAD_CHECK_DIGIT


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("A123456782", "start character 'A' but has no stop"),
        ("a123456782", "start character 'a' but has no stop"),
        ("123456782D", "stop character 'D' but has no start"),
        ("B", "start character 'B' but has no stop"),
    ],
)
def test_start_without_stop_and_stop_without_start(raw, words):
    with pytest.raises(BarcodeError, match=words) as caught:
        nw7.parse_scan(raw)
    assert caught.value.reason is BarcodeReason.UNPAIRED_START_STOP


def test_unknown_scheme_in_parse_scan():
    with pytest.raises(BarcodeError) as caught:
        nw7.parse_scan("123456782", "m10")
    assert caught.value.reason is BarcodeReason.UNKNOWN_SCHEME


def test_m11_scan_with_a_dash_check_character():
    # 00000006: 6*2 = 12, remainder 1; this installation prints "-" for it
    options = M11Options(remainder_1="-")
    assert nw7.parse_scan("00000006-", "m11", m11=options).check == "-"
    with pytest.raises(BarcodeError) as caught:
        nw7.parse_scan("000000060", "m11", m11=options)
    assert caught.value.reason is BarcodeReason.BAD_CHECK_DIGIT


# --- parse_number ----------------------------------------------------------------------------------------


def test_parse_number_adds_the_check_digit_to_8_digits():
    number = nw7.parse_number("12345678")
    assert (number.item_id, number.start, number.stop) == ("123456782", None, None)


def test_parse_number_verifies_9_digits():
    assert nw7.parse_number("123456782").item_id == "123456782"
    with pytest.raises(BarcodeError) as caught:
        nw7.parse_number("123456783")
    assert caught.value.reason is BarcodeReason.BAD_CHECK_DIGIT


def test_parse_number_with_assumed_start_stop_for_m16():
    number = nw7.parse_number("12345678", "m16", start="A", stop="B")
    # A=16, 1..8 = 36, B=17: 69 = 4*16 + 5, so the check is value 11, "$"
    assert (number.check, number.symbol) == ("$", "A12345678$B")


@pytest.mark.parametrize("raw", ["1234567", "1234567890"])
def test_parse_number_wrong_length(raw):
    with pytest.raises(BarcodeError, match="expected 8 digits, or 9 with the check digit") as caught:
        nw7.parse_number(raw)
    assert caught.value.reason is BarcodeReason.WRONG_LENGTH


def test_parse_number_refuses_a_non_digit_in_the_data():
    with pytest.raises(BarcodeError, match="'-' at position 8") as caught:
        nw7.parse_number("1234567-")
    assert caught.value.reason is BarcodeReason.NOT_A_DIGIT


# --- round trips and robustness -------------------------------------------------------------------------

start_stop = st.sampled_from("ABCDabcd")
start_stop_pairs = st.one_of(st.just(("", "")), st.tuples(start_stop, start_stop))
endings = st.sampled_from(["", "\r", "\n", "\r\n", " ", "\t", "\u3000"])


@given(eight_digits, st.sampled_from(DIGIT_SCHEMES), start_stop_pairs, endings, st.booleans())
def test_round_trip_of_what_a_scanner_sends(data, scheme, pair, ending, wide):
    start, stop = pair
    check = reference_check(data, scheme)
    raw = start + data + check + stop
    if wide:
        raw = full_width(raw)
    number = nw7.parse_scan(raw + ending, scheme)
    assert (number.number, number.check, number.item_id) == (data, check, data + check)
    assert number.start == (start.upper() or None)
    assert number.stop == (stop.upper() or None)


@given(eight_digits, st.sampled_from("ABCD"), st.sampled_from("ABCD"))
def test_m16_round_trip(data, start, stop):
    total = sum(M16_TABLE.index(c) for c in start + data + stop)
    check = M16_TABLE[-total % 16]
    number = nw7.parse_scan(start + data + check + stop, "m16")
    assert number.item_id == data + check


@given(eight_digits, st.sampled_from(["m10w21", "m10w31"]), st.integers(0, 7), st.integers(1, 9))
def test_every_single_digit_error_is_caught(data, scheme, position, delta):
    check = reference_check(data, scheme)
    wrong = data[:position] + str((int(data[position]) + delta) % 10) + data[position + 1 :]
    with pytest.raises(BarcodeError) as caught:
        nw7.parse_scan(wrong + check, scheme)
    assert caught.value.reason is BarcodeReason.BAD_CHECK_DIGIT


@given(st.text(), st.sampled_from(nw7.SCHEMES), st.integers(1, 12))
def test_no_text_crashes_the_parser(raw, scheme, length):
    result = outcome(lambda: nw7.parse_scan(raw, scheme, length))
    if isinstance(result, BarcodeError):
        assert isinstance(result.reason, BarcodeReason)
        assert str(result)
        assert "\n" not in str(result)
    else:
        assert isinstance(result, nw7.RegistrationNumber)
        assert len(result.number) == length
        assert set(result.number) <= set("0123456789")


scanner_like = st.text(alphabet="0123456789ABCDabcdXx-$:/.+ \r\n\u3000" + full_width("012AB"), max_size=14)


@given(scanner_like, st.sampled_from(nw7.SCHEMES), st.integers(1, 10), st.booleans())
def test_no_scanner_like_text_crashes_either_parser(raw, scheme, length, with_check):
    parse = nw7.parse_scan if with_check else nw7.parse_number
    result = outcome(lambda: parse(raw, scheme, length))
    if isinstance(result, BarcodeError):
        assert isinstance(result.reason, BarcodeReason)
    else:
        assert len(result.number) == length
        assert result.check in "0123456789-$:/.+"


@given(st.text(max_size=20), st.sampled_from(nw7.SCHEMES))
def test_check_digit_gives_a_character_or_a_barcode_error(digits, scheme):
    result = outcome(lambda: nw7.check_digit(digits, scheme))
    if isinstance(result, BarcodeError):
        assert isinstance(result.reason, BarcodeReason)
        assert "\n" not in str(result)
    else:
        assert len(result) == 1
        assume(scheme != "m16")
        assert result == reference_check(digits, scheme)
