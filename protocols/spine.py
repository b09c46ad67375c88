"""Spine (call-number) labels by a branch's rules: the processing specification §4 (2), (3), (5).

A `RuleSet` is data (config/spine-rules.toml holds the four: 本館, 分館, 植木, とみあい); `design` applies
one to an item and returns the label to print, or the reason a librarian must decide. It never guesses:
when the delivery list lacks what a rule needs (a picture book's origin, a kamishibai's genre, whether a
book is a children's book, a valid book mark), the label carries that reason instead of text and the item
goes to the librarian's pile.

The call number is read as whitespace-separated tokens: separate-shelving marks (R, B, EN, ...), the NDC
number (3 digits, optionally a point and more), and last the book mark (図書記号). 9類 is "日本" for NDC 91x
(Japanese literature) and "外国" for 92x-99x.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tagd.protocols.tagtypes import ItemKind

__all__ = [
    "Audience",
    "Form",
    "Genre",
    "LabelForm",
    "MarkRule",
    "Origin",
    "RuleSet",
    "SpineInput",
    "SpineLabel",
    "design",
]

_NDC = re.compile(r"\d{3}(?:\.\d+)?")
_KATAKANA = re.compile(r"[\u30a1-\u30fa\u30fc]")
_LATIN = re.compile(r"[A-Z]")


class Audience(StrEnum):
    GENERAL = "general"
    CHILDREN = "children"


class Origin(StrEnum):
    """A picture book's origin: 日本絵本, 外国絵本 (translated), 洋書絵本 (in a foreign language)."""

    JAPANESE = "japanese"
    FOREIGN = "foreign"
    FOREIGN_LANGUAGE = "foreign_language"


class Genre(StrEnum):
    """A kamishibai's genre, which its round label's colour shows: 社会, 物語, 行事, 昔話."""

    SOCIAL = "social"
    STORY = "story"
    EVENTS = "events"
    FOLK_TALE = "folk_tale"


class Form(StrEnum):
    GENERAL = "general"
    CHILDREN = "children"
    PICTURE = "picture"
    KAMISHIBAI = "kamishibai"


class ColourBy(StrEnum):
    FIXED = "fixed"
    ORIGIN = "origin"
    GENRE = "genre"
    NDC_CLASS = "ndc_class"
    """Keys "0".."8", and "9j" / "9f" for Japanese / foreign literature."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarkRule(_Frozen):
    """What a separate-shelving mark says of the item, and whether the label shows it."""

    meaning: str = Field(description="the mark's meaning, for people (e.g. 文庫)")
    audience: Audience | None = None
    form: Form | None = Field(default=None, description="picture or kamishibai: the mark says so")
    origin: Origin | None = None
    printed_for: list[Audience] = Field(default=[], description="the audiences whose labels show the mark")
    sticker: bool = Field(default=False, description="only a 禁帯出 sticker: never printed (R)")
    no_label: bool = Field(default=False, description="the item gets no spine label here (IB, IS)")


class LabelForm(_Frozen):
    """A kind of label: its size (or a disc), frame, whether it bears text, and its colour(s)."""

    stuck: bool = True
    size_mm: tuple[float, float] | None = Field(default=None, description="width, height")
    disc_mm: float | None = None
    frame: str = Field(default="none", pattern="^(none|thin|thick)$")
    text: bool = True
    colour_by: ColourBy = ColourBy.FIXED
    colour: str | None = None
    colours: dict[str, str] = {}

    @model_validator(mode="after")
    def _shape(self) -> "LabelForm":
        if self.stuck and (self.size_mm is None) == (self.disc_mm is None):
            raise ValueError("give size_mm or disc_mm (not both)")
        if self.stuck and self.colour_by is ColourBy.FIXED and self.colour is None:
            raise ValueError("colour_by fixed needs colour")
        return self


class Colour(_Frozen):
    rgb: str = Field(pattern="^#[0-9a-fA-F]{6}$")
    name: str = Field(description="the colour as staff call it, e.g. 黄")


class RuleSet(_Frozen):
    """One kind of library's label rules (spec §4)."""

    title: str
    digits: dict[Audience, int] = Field(description="NDC digits printed at most, per audience")
    as_f: dict[Audience, list[str]] = Field(
        default={}, description="NDC numbers printed as F, compared after cutting to the digits"
    )
    marks: dict[str, MarkRule]
    forms: dict[Form, LabelForm]
    palette: dict[str, Colour] = {}

    @model_validator(mode="after")
    def _complete(self) -> "RuleSet":
        for audience in Audience:
            if audience not in self.digits:
                raise ValueError(f"digits: no {audience} entry")
        for form in Form:
            if form not in self.forms:
                raise ValueError(f"forms: no {form} entry")
        for form, label in self.forms.items():
            for name in (label.colour, *label.colours.values()):
                if name is not None and name not in self.palette:
                    raise ValueError(f"forms.{form}: colour {name!r} is not in the palette")
        return self


@dataclass(frozen=True)
class SpineInput:
    """What the delivery list says of an item; None where it says nothing."""

    item_id: str
    title: str = ""
    call_number: str | None = None
    kind: ItemKind | None = None
    audience: Audience | None = None
    origin: Origin | None = None
    genre: Genre | None = None


@dataclass(frozen=True)
class SpineLabel:
    """The label to stick, or why not: `ask_librarian` set means print no text and ask."""

    item_id: str
    title: str
    form: Form | None = None
    text: str = ""
    colour: Colour | None = None
    size_mm: tuple[float, float] | None = None
    disc_mm: float | None = None
    frame: str = "none"
    stuck: bool = True
    ask_librarian: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def printed(self) -> bool:
        """A label is stuck on the item (with or without text)."""
        return self.stuck and self.ask_librarian is None


class _Ask(Exception):  # noqa: N818 - an outcome: the label names the reason
    pass


@dataclass
class _Parsed:
    marks: list[str]
    ndc: str | None
    book_mark: str | None


def design(item: SpineInput, rules: RuleSet) -> SpineLabel:
    """The item's spine label under `rules`, or a label that names what the librarian must decide."""
    try:
        return _design(item, rules)
    except _Ask as ask:
        return SpineLabel(item_id=item.item_id, title=item.title, ask_librarian=str(ask))


def _design(item: SpineInput, rules: RuleSet) -> SpineLabel:
    parsed = _parse(item.call_number)
    unknown = [mark for mark in parsed.marks if mark not in rules.marks]
    if unknown:
        raise _Ask(f"別置記号 {' '.join(unknown)} は{rules.title}では使いません (mark not used here)")
    marks = [rules.marks[mark] for mark in parsed.marks]
    notes = tuple(f"{name}: {rules.marks[name].meaning}" for name in parsed.marks)
    if any(mark.no_label for mark in marks):
        return SpineLabel(item.item_id, item.title, stuck=False, notes=(*notes, "ラベル不要 (no label)"))
    if any(mark.sticker for mark in marks):
        notes = (*notes, "禁帯出シールを貼る (not-for-loan sticker)")
    form = _form(item, marks)
    if form is Form.KAMISHIBAI:
        return _kamishibai(item, rules, notes)
    if form is Form.PICTURE:
        return _picture(item, rules, parsed, marks, notes)
    return _book(item, rules, parsed, marks, notes)


def _parse(call_number: str | None) -> _Parsed:
    tokens = unicodedata.normalize("NFKC", call_number or "").split()
    if not tokens:
        raise _Ask("請求記号がありません (no call number)")
    tokens = [unicodedata.normalize("NFC", token) for token in tokens]
    book_mark = None
    last = tokens[-1]
    if (len(tokens) > 1 and not _NDC.fullmatch(last)) or (len(tokens) == 1 and _KATAKANA.match(last)):
        book_mark = tokens.pop()
    ndcs = [token for token in tokens if _NDC.fullmatch(token)]
    if len(ndcs) > 1:
        raise _Ask(f"分類記号が二つあります: {' '.join(ndcs)} (two classifications)")
    marks = [token.upper() for token in tokens if not _NDC.fullmatch(token)]
    return _Parsed(marks=marks, ndc=ndcs[0] if ndcs else None, book_mark=book_mark)


def _form(item: SpineInput, marks: list[MarkRule]) -> Form:
    forms = {mark.form for mark in marks if mark.form is not None}
    if item.kind in (ItemKind.KAMISHIBAI, ItemKind.LARGE_KAMISHIBAI):
        forms.add(Form.KAMISHIBAI)
    elif item.kind in (ItemKind.PICTURE_BOOK, ItemKind.LARGE_PICTURE_BOOK):
        forms.add(Form.PICTURE)
    elif item.kind in (ItemKind.AV, ItemKind.OTHER):
        raise _Ask(f"種別 {item.kind} の背ラベルの規則がありません (no spine rule for {item.kind})")
    if len(forms) > 1:
        raise _Ask(f"種別と別置記号が合いません: {', '.join(sorted(forms))} (kind and marks disagree)")
    return forms.pop() if forms else Form.GENERAL


def _colour(rules: RuleSet, form: Form, key: str | None) -> tuple[LabelForm, Colour]:
    label = rules.forms[form]
    name = label.colour if label.colour_by is ColourBy.FIXED else label.colours.get(key or "")
    if name is None:
        raise _Ask(f"{rules.title}の{form}ラベルに {key} の色がありません (no colour for {key})")
    return label, rules.palette[name]


def _kamishibai(item: SpineInput, rules: RuleSet, notes: tuple[str, ...]) -> SpineLabel:
    label = rules.forms[Form.KAMISHIBAI]
    if not label.stuck:
        return SpineLabel(
            item.item_id, item.title, Form.KAMISHIBAI, stuck=False, notes=(*notes, "ラベルなし")
        )
    if item.genre is None:
        raise _Ask("紙芝居のジャンル (社会・物語・行事・昔話) が原簿にありません (kamishibai genre missing)")
    label, colour = _colour(rules, Form.KAMISHIBAI, item.genre)
    return SpineLabel(
        item.item_id,
        item.title,
        Form.KAMISHIBAI,
        "",
        colour,
        label.size_mm,
        label.disc_mm,
        label.frame,
        notes=notes,
    )


def _picture(
    item: SpineInput, rules: RuleSet, parsed: _Parsed, marks: list[MarkRule], notes: tuple[str, ...]
) -> SpineLabel:
    origins = {mark.origin for mark in marks if mark.origin is not None}
    if item.origin is not None:
        origins.add(item.origin)
    if len(origins) != 1:
        why = "合いません (disagree)" if origins else "が原簿にありません (missing)"
        raise _Ask(f"絵本の区分 (日本・外国・洋書) {why}")
    origin = origins.pop()
    mark = parsed.book_mark or ""
    if origin is Origin.FOREIGN_LANGUAGE:
        if not (len(mark) == 1 and _LATIN.fullmatch(mark.upper())):
            raise _Ask(f"洋書絵本の図書記号はアルファベット1文字: {mark!r} (book mark)")
        mark = mark.upper()
    elif not (1 <= len(mark) <= 2 and all(_KATAKANA.fullmatch(char) for char in mark)):
        raise _Ask(f"絵本の図書記号はカナ1〜2文字: {mark!r} (book mark)")
    label, colour = _colour(rules, Form.PICTURE, origin)
    return SpineLabel(
        item.item_id,
        item.title,
        Form.PICTURE,
        mark if label.text else "",
        colour,
        label.size_mm,
        label.disc_mm,
        label.frame,
        notes=notes,
    )


def _book(
    item: SpineInput, rules: RuleSet, parsed: _Parsed, marks: list[MarkRule], notes: tuple[str, ...]
) -> SpineLabel:
    audiences = {mark.audience for mark in marks if mark.audience is not None}
    if item.audience is not None:
        audiences.add(item.audience)
    if len(audiences) != 1:
        why = "合いません (disagree)" if audiences else "が原簿にありません (missing)"
        raise _Ask(f"一般書か児童書か {why}")
    audience = audiences.pop()
    if parsed.ndc is None:
        raise _Ask("分類記号 (NDC) がありません (no classification)")
    mark = parsed.book_mark or ""
    if not (len(mark) == 1 and _KATAKANA.fullmatch(mark)):
        raise _Ask(f"図書記号はカナ1文字: {mark!r} (book mark)")
    classification = _cut(parsed.ndc, rules.digits[audience])
    if parsed.ndc in rules.as_f.get(audience, []) or classification in rules.as_f.get(audience, []):
        classification = "F"
    form = Form(audience)
    printed = [name for name in parsed.marks if audience in rules.marks[name].printed_for]
    label, colour = _colour(rules, form, _ndc_class(parsed.ndc))
    text = " ".join([*printed, classification, mark]) if label.text else ""
    return SpineLabel(
        item.item_id, item.title, form, text, colour, label.size_mm, label.disc_mm, label.frame, notes=notes
    )


def _cut(ndc: str, digits: int) -> str:
    """The NDC number to `digits` digits: 913.68 -> 913.6 (4), 913 (3)."""
    whole, _, decimals = ndc.partition(".")
    kept = decimals[: max(0, digits - len(whole))]
    return f"{whole}.{kept}" if kept else whole


def _ndc_class(ndc: str) -> str:
    """The NDC class as Ueki's colours key it: "0".."8", "9j" (91x, Japanese) or "9f"."""
    if ndc[0] != "9":
        return ndc[0]
    return "9j" if ndc.startswith("91") else "9f"
