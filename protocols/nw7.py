"""NW-7 (Codabar) registration numbers: the check-digit schemes Japanese libraries use, and scan parsing.

The scheme is a per-installation setting, so every one in use is here; the facts and worked examples are in
protocol-notes.md ("NW-7 check digits"). Codabar itself defines no check digit.
"""

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tagd.protocols.errors import ProtocolError

DIGITS = "0123456789"
START_STOP = "ABCD"
CODABAR_DATA = "0123456789-$:/.+"
"""Codabar's data characters in M16 value order (0..15); A-D follow as 16..19."""

_M16_VALUES = {char: value for value, char in enumerate(CODABAR_DATA + START_STOP)}
_START_STOP_SET = frozenset(START_STOP)
_CODABAR_DATA_SET = frozenset(CODABAR_DATA)


class Scheme(StrEnum):
    """The check-digit schemes, by the names installations configure."""

    M10W21 = "m10w21"
    M10W21_LUMP = "m10w21-lump"
    M10W31 = "m10w31"
    M11 = "m11"
    M16 = "m16"
    DR7 = "7dr"
    DSR7 = "7dsr"
    DR9 = "9dr"
    DSR9 = "9dsr"


SCHEMES: tuple[str, ...] = tuple(scheme.value for scheme in Scheme)
DEFAULT_SCHEME: str = Scheme.M10W21.value
"""Split-weight modulus 10 (Luhn): what the libraries' labels use unless their config says otherwise."""


class BarcodeReason(StrEnum):
    """Why a number or scan was refused, for events and replies that machines read."""

    EMPTY = "empty"
    WRONG_LENGTH = "wrong_length"
    NOT_A_DIGIT = "not_a_digit"
    BAD_CHECK_DIGIT = "bad_check_digit"
    UNPAIRED_START_STOP = "unpaired_start_stop"
    MISSING_START_STOP = "missing_start_stop"
    NO_CHECK_DIGIT = "no_check_digit"
    UNKNOWN_SCHEME = "unknown_scheme"
    BAD_SETTING = "bad_setting"


class BarcodeError(ProtocolError):
    """A refused number or scan: `reason` for machines, the message for the person at the desk."""

    def __init__(self, reason: BarcodeReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class M11Options:
    """Modulus 11 differs between installations; the defaults are the common Japanese "M11 W2-7".

    Weights cycle from the rightmost data digit; the check is 11 - (sum mod 11), except for the remainders
    named here. 11 - 0 and 11 - 1 are not single digits, and most installations print "0" for both. A
    remainder mapped to None has no check digit at all: such numbers must not be issued.
    """

    weights: tuple[int, ...] = (2, 3, 4, 5, 6, 7)
    remainder_0: str | None = "0"
    remainder_1: str | None = "0"
    remainder_10: str | None = "1"

    def __post_init__(self) -> None:
        if not self.weights or any(weight < 1 for weight in self.weights):
            raise BarcodeError(
                BarcodeReason.BAD_SETTING, f"M11 weights must be positive integers, got {self.weights!r}"
            )
        for remainder, check in self.special.items():
            if check is not None and check not in _CODABAR_DATA_SET:
                raise BarcodeError(
                    BarcodeReason.BAD_SETTING,
                    f"M11 check for remainder {remainder} must be one Codabar data character "
                    f"({CODABAR_DATA}) or None, got {check!r}",
                )

    @property
    def special(self) -> dict[int, str | None]:
        """The remainders whose check character is set here rather than computed."""
        return {0: self.remainder_0, 1: self.remainder_1, 10: self.remainder_10}


M11_DEFAULT = M11Options()


@dataclass(frozen=True)
class RegistrationNumber:
    """A library item's registration number (登録番号) with its check character, as read or issued."""

    number: str
    check: str
    scheme: Scheme
    start: str | None = None
    stop: str | None = None

    @property
    def item_id(self) -> str:
        """What tags, events and the circulation system call the item: the digits and the check."""
        return self.number + self.check

    @property
    def symbol(self) -> str:
        """The characters in the bars, start and stop included when known."""
        return f"{self.start or ''}{self.item_id}{self.stop or ''}"


def check_digit(digits: str, scheme: str = DEFAULT_SCHEME, *, m11: M11Options = M11_DEFAULT) -> str:
    """The check character of `digits` (data digits only, no check) under `scheme`.

    M16 covers the whole symbol, so for "m16" `digits` is the symbol with its start and stop characters
    (e.g. "A37859B") and the result may be one of - $ : / . +.
    """
    kind = _scheme(scheme)
    if kind is Scheme.M16:
        return _modulus16(digits)
    _require_digits(digits)
    return _DIGIT_SCHEMES[kind](digits, m11)


def with_check_digit(digits: str, scheme: str = DEFAULT_SCHEME, *, m11: M11Options = M11_DEFAULT) -> str:
    """The number as printed: the check character appended, or for M16 placed before the stop character."""
    check = check_digit(digits, scheme, m11=m11)
    if _scheme(scheme) is Scheme.M16:
        return digits[:-1] + check + digits[-1]
    return digits + check


def normalise(raw: str) -> str:
    """Keyboard wedges on Japanese layouts may type full-width characters; serial scanners add CR/LF."""
    return unicodedata.normalize("NFKC", raw).strip()


def parse_scan(
    raw: str,
    scheme: str = DEFAULT_SCHEME,
    length: int = 8,
    *,
    start: str | None = None,
    stop: str | None = None,
    m11: M11Options = M11_DEFAULT,
) -> RegistrationNumber:
    """A scanned registration number: `length` digits and the check character, which must be right.

    Start/stop characters A-D (either case) may be present or stripped by the scanner; `start` and `stop`
    say which ones the labels carry when the scanner strips them (M16 needs them). Positions in messages
    count from 1 in the normalised scan.
    """
    return _parse(raw, scheme, length, start=start, stop=stop, m11=m11, check_required=True)


def parse_number(
    raw: str,
    scheme: str = DEFAULT_SCHEME,
    length: int = 8,
    *,
    start: str | None = None,
    stop: str | None = None,
    m11: M11Options = M11_DEFAULT,
) -> RegistrationNumber:
    """A registration number as typed or listed: without its check character (it is added) or with it
    (it is verified). Otherwise as `parse_scan`.
    """
    return _parse(raw, scheme, length, start=start, stop=stop, m11=m11, check_required=False)


def _parse(
    raw: str,
    scheme: str,
    length: int,
    *,
    start: str | None,
    stop: str | None,
    m11: M11Options,
    check_required: bool,
) -> RegistrationNumber:
    kind = _scheme(scheme)
    if length < 1:
        raise BarcodeError(BarcodeReason.BAD_SETTING, f"the number length must be at least 1, got {length}")
    assumed = _assumed_start_stop(start, stop)
    text = normalise(raw)
    if not text:
        raise BarcodeError(BarcodeReason.EMPTY, "empty scan: no characters besides whitespace")
    has_start = text[0].upper() in _START_STOP_SET
    has_stop = len(text) > 1 and text[-1].upper() in _START_STOP_SET
    if has_start != has_stop:
        raise BarcodeError(BarcodeReason.UNPAIRED_START_STOP, _unpaired_message(text, has_start=has_start))
    body = text[1:-1] if has_start else text
    _require_length(len(body), length, check_required=check_required)
    data, given = (body[:-1], body[-1]) if len(body) == length + 1 else (body, None)
    _require_digits(data, offset=int(has_start))
    start_char, stop_char = (text[0].upper(), text[-1].upper()) if has_start else assumed
    if kind is Scheme.M16:
        if start_char is None or stop_char is None:
            raise BarcodeError(
                BarcodeReason.MISSING_START_STOP,
                f"m16 covers the start and stop characters, but {text!r} has none: "
                "have the scanner transmit them, or configure the ones the labels carry",
            )
        check = _modulus16(start_char + data + stop_char)
    else:
        check = check_digit(data, kind, m11=m11)
    if given is not None and given != check:
        raise BarcodeError(
            BarcodeReason.BAD_CHECK_DIGIT,
            f"bad check digit in {text!r}: {kind} gives {check!r} for {data}, the number has {given!r}",
        )
    return RegistrationNumber(data, check, kind, start_char, stop_char)


def _scheme(name: str) -> Scheme:
    try:
        return Scheme(name.lower())
    except ValueError:
        raise BarcodeError(
            BarcodeReason.UNKNOWN_SCHEME,
            f"unknown check-digit scheme {name!r}: expected one of {', '.join(SCHEMES)}",
        ) from None


def _assumed_start_stop(start: str | None, stop: str | None) -> tuple[str | None, str | None]:
    if start is None and stop is None:
        return None, None
    if start is None or stop is None or not {start.upper(), stop.upper()} <= _START_STOP_SET:
        raise BarcodeError(
            BarcodeReason.BAD_SETTING,
            f"assumed start/stop characters must both be one of A-D, got {start!r} and {stop!r}",
        )
    return start.upper(), stop.upper()


def _unpaired_message(text: str, *, has_start: bool) -> str:
    if has_start:
        return f"{text!r} begins with start character {text[0]!r} but has no stop character A-D at the end"
    return f"{text!r} ends with stop character {text[-1]!r} but has no start character A-D at the beginning"


def _require_length(got: int, length: int, *, check_required: bool) -> None:
    if got == length + 1 or (got == length and not check_required):
        return
    if check_required:
        hint = " (is the scanner set to strip the check digit?)" if got == length else ""
        message = f"expected {length + 1} characters ({length} digits and the check digit), got {got}{hint}"
    else:
        message = f"expected {length} digits, or {length + 1} with the check digit, got {got}"
    raise BarcodeError(BarcodeReason.WRONG_LENGTH, message)


def _require_digits(digits: str, offset: int = 0) -> None:
    if not digits:
        raise BarcodeError(BarcodeReason.EMPTY, "no digits to compute a check digit for")
    for position, char in enumerate(digits, start=offset + 1):
        if char not in DIGITS:
            message = f"{char!r} at position {position} is not a digit 0-9"
            raise BarcodeError(BarcodeReason.NOT_A_DIGIT, message)


def _weighted(digits: str, weights: tuple[int, ...]) -> list[int]:
    """Products of the digits with `weights` cycled from the rightmost digit."""
    return [int(char) * weights[i % len(weights)] for i, char in enumerate(reversed(digits))]


def _modulus10(digits: str, weights: tuple[int, ...], *, split: bool) -> str:
    products = _weighted(digits, weights)
    total = sum(product // 10 + product % 10 for product in products) if split else sum(products)
    return str(-total % 10)


def _modulus11(digits: str, options: M11Options) -> str:
    remainder = sum(_weighted(digits, options.weights)) % 11
    special = options.special
    if remainder not in special:
        return str(11 - remainder)
    check = special[remainder]
    if check is None:
        raise BarcodeError(
            BarcodeReason.NO_CHECK_DIGIT,
            f"{digits} has no M11 check digit here (remainder {remainder}): such numbers are not issued",
        )
    return check


def _remainder(digits: str, modulus: int) -> int:
    """The number's remainder, digit by digit: int() refuses very long strings."""
    remainder = 0
    for char in digits:
        remainder = (remainder * 10 + int(char)) % modulus
    return remainder


def _modulus16(symbol: str) -> str:
    if len(symbol) < 2 or not {symbol[0].upper(), symbol[-1].upper()} <= _START_STOP_SET:
        raise BarcodeError(
            BarcodeReason.MISSING_START_STOP,
            f"m16 covers the start and stop characters, which {symbol!r} lacks: give them, e.g. A37859B",
        )
    for position, char in enumerate(symbol[1:-1], start=2):
        if char not in _CODABAR_DATA_SET:
            raise BarcodeError(
                BarcodeReason.NOT_A_DIGIT,
                f"{char!r} at position {position} is not a Codabar data character ({CODABAR_DATA})",
            )
    total = sum(_M16_VALUES[char.upper()] for char in symbol)
    return CODABAR_DATA[-total % 16]


_DIGIT_SCHEMES: dict[Scheme, Callable[[str, M11Options], str]] = {
    Scheme.M10W21: lambda digits, _: _modulus10(digits, (2, 1), split=True),
    Scheme.M10W21_LUMP: lambda digits, _: _modulus10(digits, (2, 1), split=False),
    Scheme.M10W31: lambda digits, _: _modulus10(digits, (3, 1), split=False),
    Scheme.M11: _modulus11,
    Scheme.DR7: lambda digits, _: str(_remainder(digits, 7)),
    Scheme.DSR7: lambda digits, _: str(7 - _remainder(digits, 7)),
    Scheme.DR9: lambda digits, _: str(_remainder(digits, 9)),
    Scheme.DSR9: lambda digits, _: str(9 - _remainder(digits, 9)),
}
