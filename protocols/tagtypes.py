"""Which IC tag an item needs: the processing specification's tag rule (装備仕様書 §5) as a table.

Books take the transparent U-TAG-L301; ① hardcovers and ② large picture books with a white inside cover
take the white U-TAG-L1000M, as do kamishibai (centre of the back cover). What the rule cannot settle from
the facts given is an `ask_librarian` answer with a reason, never a guess; a librarian's instruction wins.
The kind may come from the call number's separate-shelving marks (§4). Tag profiles are in `profiles`.
"""

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from tagd.protocols.errors import ProtocolError
from tagd.protocols.i18n import N_


class ItemKind(StrEnum):
    BOOK = "book"
    PICTURE_BOOK = "picture_book"
    LARGE_PICTURE_BOOK = "large_picture_book"
    KAMISHIBAI = "kamishibai"
    LARGE_KAMISHIBAI = "large_kamishibai"
    AV = "av"
    OTHER = "other"


class Binding(StrEnum):
    """`cloth` is the spec's 布 book (fabric); a cloth-covered hardcover is recorded as `hardcover`."""

    HARDCOVER = "hardcover"
    SOFTCOVER = "softcover"
    CLOTH = "cloth"
    VINYL = "vinyl"
    UNKNOWN = "unknown"


class InsideCover(StrEnum):
    WHITE = "white"
    COLOURED = "coloured"
    UNKNOWN = "unknown"


class PlacementProblem(StrEnum):
    """What the operator at the desk reports about the tag's place (spec §5 (3) ②)."""

    NONE = "none"
    NO_FREE_SPOT = "no_free_spot"
    TAG_LARGER_THAN_ITEM = "tag_larger_than_item"
    PLACEMENT_UNCLEAR = "placement_unclear"


class TagProduct(StrEnum):
    L301 = "U-TAG-L301"
    L1000M = "U-TAG-L1000M"


class Decision(StrEnum):
    L301 = "L301"
    L1000M = "L1000M"
    ASK_LIBRARIAN = "ask_librarian"


class Placement(StrEnum):
    INSIDE_FRONT_COVER = "inside_front_cover"
    BACK_COVER_CENTRE = "back_cover_centre"
    AS_INSTRUCTED = "as_instructed"


class ProtectiveCover(StrEnum):
    SEAL = "protective_seal"
    FILM = "protective_film"


class MarkScheme(StrEnum):
    """Ueki and Tomiai mark every picture book E and give no large-format marks (spec §4 (2) ②)."""

    CITY = "city"
    UEKI_TOMIAI = "ueki-tomiai"


class Reason(StrEnum):
    """Why the rule answered as it did, for machines; `REASON_TEXTS` says it for people."""

    DEFAULT_TRANSPARENT = "default_transparent"
    HARDCOVER = "hardcover"
    WHITE_INSIDE_COVER = "white_inside_cover"
    KAMISHIBAI = "kamishibai"
    LIBRARIAN_OVERRIDE = "librarian_override"
    COLOURED_INSIDE_COVER = "coloured_inside_cover"
    CLOTH_BINDING = "cloth_binding"
    BINDING_UNKNOWN = "binding_unknown"
    INSIDE_COVER_UNKNOWN = "inside_cover_unknown"
    NO_FREE_SPOT = "no_free_spot"
    TAG_LARGER_THAN_ITEM = "tag_larger_than_item"
    PLACEMENT_UNCLEAR = "placement_unclear"
    AV_NOT_COVERED = "av_not_covered"
    KIND_NOT_COVERED = "kind_not_covered"
    KIND_MISSING = "kind_missing"
    UNKNOWN_SHELVING_MARK = "unknown_shelving_mark"
    CALL_NUMBER_UNREADABLE = "call_number_unreadable"
    CALL_NUMBER_AMBIGUOUS = "call_number_ambiguous"
    KIND_CONFLICTS_WITH_CALL_NUMBER = "kind_conflicts_with_call_number"


_ASK_JA = "上記①②のどれにも該当せず、貼付位置が不明な場合は、市立図書館員に相談し、その指示に従うこと。"
_PLACE_JA = (
    "数ページに渡り貼付できないような場合や、本よりICタグが大きいなどの問題が生じた際は、市立図書館員に指示を仰ぐ"
)
_RULE_1_JA = "① ハードカバーの本"
_RULE_2_JA = "② 大型絵本(表紙の裏が白の本のみ)"

REASON_TEXTS: dict[Reason, tuple[str, str | None]] = {
    Reason.DEFAULT_TRANSPARENT: (
        N_("books take the transparent tag when neither rule ① nor ② applies"),
        "原則、図書用ICタグ(透明タグ:U-TAG-L301)を使用する",
    ),
    Reason.HARDCOVER: (N_("hardcover: the white tag (rule ①)"), _RULE_1_JA),
    Reason.WHITE_INSIDE_COVER: (
        N_("large picture book, white inside cover: the white tag (rule ②)"),
        _RULE_2_JA,
    ),
    Reason.KAMISHIBAI: (
        N_("kamishibai: the white tag on the centre of the back cover, then a protective seal"),
        "紙芝居は、裏表紙の中央に白タグ貼付後、保護シールを貼付する。",
    ),
    Reason.LIBRARIAN_OVERRIDE: (
        N_("a librarian's instruction overrides the rule"),
        "市立図書館員の指示が別にあった場合はこれに従うこと。",
    ),
    Reason.COLOURED_INSIDE_COVER: (
        N_(
            "large picture book whose inside cover is not white: rule ② does not apply,"
            " the placement is unclear"
        ),
        _ASK_JA,
    ),
    Reason.CLOTH_BINDING: (
        N_(
            "cloth (fabric) book: neither rule applies and the fabric gives the tag no clear place"
            " (a cloth-covered hardcover is recorded as hardcover)"
        ),
        _ASK_JA,
    ),
    Reason.BINDING_UNKNOWN: (
        N_("the binding is not known, and rule ① (hardcover) depends on it"),
        _RULE_1_JA,
    ),
    Reason.INSIDE_COVER_UNKNOWN: (
        N_(
            "the inside-cover colour is not known,"
            " and rule ② (large picture book, white inside) depends on it"
        ),
        _RULE_2_JA,
    ),
    Reason.NO_FREE_SPOT: (
        N_("no free spot for the tag, not even on the endpaper or the next page"),
        _PLACE_JA,
    ),
    Reason.TAG_LARGER_THAN_ITEM: (N_("the tag is larger than the item"), _PLACE_JA),
    Reason.PLACEMENT_UNCLEAR: (N_("the operator cannot tell where the tag goes"), _ASK_JA),
    Reason.AV_NOT_COVERED: (N_("audio-visual item: the tag rule covers books and kamishibai only"), _ASK_JA),
    Reason.KIND_NOT_COVERED: (N_("the tag rule covers books and kamishibai only"), _ASK_JA),
    Reason.KIND_MISSING: (N_("the item kind is not known: give the kind or the call number"), None),
    Reason.UNKNOWN_SHELVING_MARK: (N_("the call number carries a shelving mark tagd does not know"), None),
    Reason.CALL_NUMBER_UNREADABLE: (N_("the call number cannot be read"), None),
    Reason.CALL_NUMBER_AMBIGUOUS: (N_("the call number does not settle the item kind"), None),
    Reason.KIND_CONFLICTS_WITH_CALL_NUMBER: (N_("the item kind and the call number disagree"), None),
}
"""English for the desk, and the specification's own words (None where the reason is tagd's own)."""

PLACEMENT_TEXTS: dict[Placement, str] = {
    Placement.INSIDE_FRONT_COVER: (
        N_(
            "inside the front cover on the page side, about 5 cm from the bottom edge"
            " and 1-3 cm from the gutter (spine on the left; Ueki: on the right);"
            " move it off the colophon, ISBN, author or content text,"
            " failing that use the front endpaper or the next page"
        )
    ),
    Placement.BACK_COVER_CENTRE: N_("the centre of the back cover"),
    Placement.AS_INSTRUCTED: N_("where the librarian instructs"),
}


@dataclass(frozen=True)
class RuleRow:
    """One line of the tag rule: the kinds, bindings and inside covers it covers, and its answer."""

    kinds: frozenset[ItemKind]
    bindings: frozenset[Binding]
    inside_covers: frozenset[InsideCover]
    product: TagProduct | None
    reason: Reason

    def matches(self, kind: ItemKind, binding: Binding, inside_cover: InsideCover) -> bool:
        return kind in self.kinds and binding in self.bindings and inside_cover in self.inside_covers


_BOOK = frozenset({ItemKind.BOOK, ItemKind.PICTURE_BOOK})
_LARGE_PB = frozenset({ItemKind.LARGE_PICTURE_BOOK})
_KAMISHIBAI = frozenset({ItemKind.KAMISHIBAI, ItemKind.LARGE_KAMISHIBAI})
_AV = frozenset({ItemKind.AV})
_OTHER = frozenset({ItemKind.OTHER})
_ANY_BINDING = frozenset(Binding)
_HARD = frozenset({Binding.HARDCOVER})
_SOFT = frozenset({Binding.SOFTCOVER, Binding.VINYL})
_CLOTH = frozenset({Binding.CLOTH})
_UNBOUND = frozenset({Binding.UNKNOWN})
_ANY_COVER = frozenset(InsideCover)
_WHITE = frozenset({InsideCover.WHITE})
_COLOURED = frozenset({InsideCover.COLOURED})
_UNSEEN = frozenset({InsideCover.UNKNOWN})
_ASK = None

# fmt: off
RULES: tuple[RuleRow, ...] = (
    #       kinds        binding       inside cover  product            reason
    RuleRow(_BOOK,       _HARD,        _ANY_COVER,   TagProduct.L1000M, Reason.HARDCOVER),
    RuleRow(_BOOK,       _SOFT,        _ANY_COVER,   TagProduct.L301,   Reason.DEFAULT_TRANSPARENT),
    RuleRow(_BOOK,       _CLOTH,       _ANY_COVER,   _ASK,              Reason.CLOTH_BINDING),
    RuleRow(_BOOK,       _UNBOUND,     _ANY_COVER,   _ASK,              Reason.BINDING_UNKNOWN),
    # ② is the rule for large picture books: its "white only" is not undone by ① for a hardcover.
    RuleRow(_LARGE_PB,   _ANY_BINDING, _WHITE,       TagProduct.L1000M, Reason.WHITE_INSIDE_COVER),
    RuleRow(_LARGE_PB,   _ANY_BINDING, _COLOURED,    _ASK,              Reason.COLOURED_INSIDE_COVER),
    RuleRow(_LARGE_PB,   _ANY_BINDING, _UNSEEN,      _ASK,              Reason.INSIDE_COVER_UNKNOWN),
    RuleRow(_KAMISHIBAI, _ANY_BINDING, _ANY_COVER,   TagProduct.L1000M, Reason.KAMISHIBAI),
    RuleRow(_AV,         _ANY_BINDING, _ANY_COVER,   _ASK,              Reason.AV_NOT_COVERED),
    RuleRow(_OTHER,      _ANY_BINDING, _ANY_COVER,   _ASK,              Reason.KIND_NOT_COVERED),
)
# fmt: on
"""Exactly one row covers each (kind, binding, inside cover); the tests hold the table to that."""


class CallNumberError(ProtocolError):
    """A call number that cannot be read; the message names the part at fault."""


class UnknownShelvingMarkError(CallNumberError):
    """A separate-shelving mark not in the specification: reported, not guessed at."""


_BOOK_ONLY = frozenset({ItemKind.BOOK})
_PICTURE_BOOK = frozenset({ItemKind.PICTURE_BOOK})
_CITY_MARKS: dict[str, frozenset[ItemKind]] = {
    **dict.fromkeys(("R", "B", "HP", "IB", "IS", "L", "WI", "Z", "Y", "YB"), _BOOK_ONLY),
    "CD": _AV,
    **dict.fromkeys(("EN", "EG", "EY"), _PICTURE_BOOK),
    "E": _LARGE_PB,
    "P": frozenset({ItemKind.KAMISHIBAI}),
    "OK": frozenset({ItemKind.LARGE_KAMISHIBAI}),
}
MARKS: dict[MarkScheme, dict[str, frozenset[ItemKind]]] = {
    MarkScheme.CITY: _CITY_MARKS,
    MarkScheme.UEKI_TOMIAI: {**_CITY_MARKS, "E": _PICTURE_BOOK | _LARGE_PB, "P": _KAMISHIBAI},
}
"""The kinds each separate-shelving mark allows (spec §4 (2)); a call number without one is a book's."""

_TOKEN = re.compile(r"[A-Z]+|[0-9.]+|[^A-Z0-9.\s]+")
_NDC = re.compile(r"[0-9]{3}(?:\.[0-9]+)?")
_AUTHOR = re.compile(r"[ァ-ヺー]{1,2}|[A-Z]")
_FICTION = "F"
"""913.6/913.68 (children's: 913) shelved as F: a classification, not a separate-shelving mark."""


@dataclass(frozen=True)
class CallNumber:
    """A call number read: separate-shelving mark, classification, author mark, and the kinds it allows."""

    text: str
    mark: str | None
    classification: str | None
    author_mark: str | None
    kinds: frozenset[ItemKind]

    @property
    def kind(self) -> ItemKind | None:
        """The kind, or None when the mark leaves it open (E at Ueki and Tomiai: large or not)."""
        return next(iter(self.kinds)) if len(self.kinds) == 1 else None


def _is_latin(token: str) -> bool:
    return token.isascii() and token.isalpha()


def _is_classification(tokens: list[str], mark: str | None) -> bool:
    """After a mark, a last F is the author letter ("EY F": a foreign picture book by F...)."""
    if tokens[0] == _FICTION:
        return mark is None or len(tokens) > 1
    return tokens[0][0] in "0123456789."


def kind_from_call_number(call_number: str, marks: MarkScheme = MarkScheme.CITY) -> CallNumber:
    """Reads "R 913.6 ア", "Y913ア" and their full-width forms (NFKC): catalogue data varies in both."""
    tokens = _TOKEN.findall(unicodedata.normalize("NFKC", call_number).upper())
    if not tokens:
        raise CallNumberError(f"call number {call_number!r} is empty")
    text = " ".join(tokens)
    table = MARKS[marks]
    mark = tokens.pop(0) if _is_latin(tokens[0]) and tokens[0] != _FICTION else None
    if mark is not None and mark not in table:
        raise UnknownShelvingMarkError(f"call number {text!r}: unknown shelving mark {mark!r}")
    classification = tokens.pop(0) if tokens and _is_classification(tokens, mark) else None
    if classification not in (None, _FICTION) and not _NDC.fullmatch(classification):
        raise CallNumberError(f"call number {text!r}: classification {classification!r} is not an NDC number")
    author = tokens.pop(0) if tokens else None
    if author is not None and not _AUTHOR.fullmatch(author):
        raise CallNumberError(f"call number {text!r}: author mark {author!r} is not 1-2 katakana or 1 letter")
    if tokens:
        raise CallNumberError(f"call number {text!r}: unexpected {tokens[0]!r} after the author mark")
    return CallNumber(text, mark, classification, author, table[mark] if mark is not None else _BOOK_ONLY)


@dataclass(frozen=True)
class Item:
    """What the desk knows about an item; `kind` may be left to the call number."""

    kind: ItemKind | None = None
    binding: Binding = Binding.UNKNOWN
    inside_cover: InsideCover = InsideCover.UNKNOWN
    call_number: str | None = None
    placement_problem: PlacementProblem = PlacementProblem.NONE
    override: TagProduct | None = None
    marks: MarkScheme = MarkScheme.CITY


@dataclass(frozen=True)
class TagRequirement:
    """The answer for the desk: a tag with its place and cover, or ask a librarian (no product, no place)."""

    decision: Decision
    product: TagProduct | None
    reason: Reason
    reason_text: str
    rule_ja: str | None
    placement: Placement | None
    cover: ProtectiveCover | None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "decision": self.decision,
            "product": self.product,
            "reason": self.reason,
            "reason_text": self.reason_text,
            "rule_ja": self.rule_ja,
            "placement": self.placement,
            "placement_text": PLACEMENT_TEXTS[self.placement] if self.placement is not None else None,
            "cover": self.cover,
        }


_DECISIONS = {TagProduct.L301: Decision.L301, TagProduct.L1000M: Decision.L1000M}
_COVERS = {TagProduct.L301: ProtectiveCover.FILM, TagProduct.L1000M: ProtectiveCover.SEAL}
_PLACEMENT_REASONS = {
    PlacementProblem.NO_FREE_SPOT: Reason.NO_FREE_SPOT,
    PlacementProblem.TAG_LARGER_THAN_ITEM: Reason.TAG_LARGER_THAN_ITEM,
    PlacementProblem.PLACEMENT_UNCLEAR: Reason.PLACEMENT_UNCLEAR,
}


def _answer(product: TagProduct | None, reason: Reason, place: Placement, detail: str = "") -> TagRequirement:
    text, rule_ja = REASON_TEXTS[reason]
    text = f"{text}: {detail}" if detail else text
    if product is None:
        return TagRequirement(Decision.ASK_LIBRARIAN, None, reason, text, rule_ja, None, None)
    return TagRequirement(_DECISIONS[product], product, reason, text, rule_ja, place, _COVERS[product])


def _ask(reason: Reason, detail: str = "") -> TagRequirement:
    return _answer(None, reason, Placement.AS_INSTRUCTED, detail)


def _read(call_number: str, marks: MarkScheme) -> CallNumber | TagRequirement:
    try:
        return kind_from_call_number(call_number, marks)
    except UnknownShelvingMarkError as exc:
        return _ask(Reason.UNKNOWN_SHELVING_MARK, str(exc))
    except CallNumberError as exc:
        return _ask(Reason.CALL_NUMBER_UNREADABLE, str(exc))


def _kind(item: Item) -> ItemKind | TagRequirement:
    """The item's kind from its metadata and call number, or the question for the librarian."""
    if item.call_number is None:
        return item.kind if item.kind is not None else _ask(Reason.KIND_MISSING)
    read = _read(item.call_number, item.marks)
    if isinstance(read, TagRequirement):
        return read
    allowed = " or ".join(sorted(read.kinds))
    if item.kind is None:
        return read.kind or _ask(Reason.CALL_NUMBER_AMBIGUOUS, f"{read.text!r} may be a {allowed}")
    if item.kind not in read.kinds:
        return _ask(Reason.KIND_CONFLICTS_WITH_CALL_NUMBER, f"{item.kind}, but {read.text!r} is a {allowed}")
    return item.kind


def _placement(kind: ItemKind) -> Placement:
    if kind in _KAMISHIBAI:
        return Placement.BACK_COVER_CENTRE
    return Placement.INSIDE_FRONT_COVER if kind in _BOOK or kind in _LARGE_PB else Placement.AS_INSTRUCTED


def required_tag(item: Item) -> TagRequirement:
    """Total: every item gets L301, L1000M or ask_librarian with a reason; nothing here raises."""
    kind = _kind(item)
    if item.override is not None:
        placement = Placement.AS_INSTRUCTED
        if isinstance(kind, ItemKind) and item.placement_problem is PlacementProblem.NONE:
            placement = _placement(kind)
        return _answer(item.override, Reason.LIBRARIAN_OVERRIDE, placement)
    if isinstance(kind, TagRequirement):
        return kind
    if item.placement_problem is not PlacementProblem.NONE:
        return _ask(_PLACEMENT_REASONS[item.placement_problem])
    row = next(row for row in RULES if row.matches(kind, item.binding, item.inside_cover))
    return _answer(row.product, row.reason, _placement(kind))


_E = TypeVar("_E", bound=StrEnum)


def _normal(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold().replace("-", "_")


def _choose(options: type[_E], field: str, value: str) -> _E:
    wanted = _normal(value)
    for option in options:
        if wanted in (_normal(option.value), _normal(option.name)):
            return option
    raise ProtocolError(f"{field} {value!r} is not one of: {', '.join(options)}")


def _choose_or(options: type[_E], field: str, value: str | None, default: _E) -> _E:
    return default if value is None else _choose(options, field, value)


def item_from_fields(
    *,
    kind: str | None = None,
    binding: str | None = None,
    inside_cover: str | None = None,
    call_number: str | None = None,
    placement_problem: str | None = None,
    override: str | None = None,
    marks: str | None = None,
) -> Item:
    """An Item from text (command line, MQTT command); a bad value is an error naming its field."""
    return Item(
        kind=_choose(ItemKind, "kind", kind) if kind is not None else None,
        binding=_choose_or(Binding, "binding", binding, Binding.UNKNOWN),
        inside_cover=_choose_or(InsideCover, "inside_cover", inside_cover, InsideCover.UNKNOWN),
        call_number=call_number if call_number is not None and call_number.strip() else None,
        placement_problem=_choose_or(
            PlacementProblem, "placement_problem", placement_problem, PlacementProblem.NONE
        ),
        override=_choose(TagProduct, "override", override) if override is not None else None,
        marks=_choose_or(MarkScheme, "marks", marks, MarkScheme.CITY),
    )
