"""The columns of a delivery list and the words suppliers use in them, in English and in Japanese.

Headers and values are compared after NFKC (full-width letters and digits are common in Japanese lists),
case folding, and with spaces and hyphens read as underscores.
"""

import unicodedata
from enum import StrEnum
from typing import Literal

from tagd.protocols.spine import Audience, Genre, Origin
from tagd.protocols.tagtypes import Binding, InsideCover, ItemKind

Column = Literal[
    "registration_number",
    "title",
    "author",
    "publisher",
    "price",
    "call_number",
    "binding",
    "inside_cover",
    "kind",
    "set_id",
    "volume",
    "volumes",
    "set_price",
    "audience",
    "origin",
    "genre",
]

COLUMNS: dict[Column, tuple[str, ...]] = {
    "registration_number": ("registration_number", "登録番号", "資料番号", "registration_no", "item_id"),
    "title": ("title", "書名", "タイトル", "資料名"),
    "author": ("author", "著者", "著者名", "著者等"),
    "publisher": ("publisher", "出版社", "出版者"),
    "price": ("price", "価格", "本体価格", "定価"),
    "call_number": ("call_number", "請求記号", "call_no"),
    "binding": ("binding", "製本", "装丁", "装幀"),
    "inside_cover": ("inside_cover", "見返し", "見返し色", "見返しの色"),
    "kind": ("kind", "種別", "資料種別"),
    "set_id": ("set_id", "セットID", "セット記号", "セット番号"),
    "volume": ("volume", "巻次", "巻号", "巻"),
    "volumes": ("volumes", "巻数", "全巻数", "セット巻数"),
    "set_price": ("set_price", "セット価格"),
    "audience": ("audience", "対象", "一般児童区分", "利用対象"),
    "origin": ("origin", "絵本区分", "原作区分"),
    "genre": ("genre", "紙芝居区分", "ジャンル"),
}
"""The first name of each column is tagd's own; the others are what suppliers write."""

REQUIRED: frozenset[Column] = frozenset({"registration_number", "title"})

_WORDS: dict[str, dict[StrEnum, tuple[str, ...]]] = {
    "binding": {
        Binding.HARDCOVER: ("hard", "hardback", "ハードカバー", "上製", "上製本"),
        Binding.SOFTCOVER: ("soft", "paperback", "ソフトカバー", "並製", "並製本", "ペーパーバック"),
        Binding.CLOTH: ("布", "布製", "布絵本"),
        Binding.VINYL: ("ビニール", "ビニール製"),
        Binding.UNKNOWN: ("不明",),
    },
    "inside_cover": {
        InsideCover.WHITE: ("白", "白色"),
        InsideCover.COLOURED: ("colored", "colour", "color", "色付き", "有色", "カラー"),
        InsideCover.UNKNOWN: ("不明",),
    },
    "kind": {
        ItemKind.BOOK: ("図書", "本", "一般書"),
        ItemKind.PICTURE_BOOK: ("絵本",),
        ItemKind.LARGE_PICTURE_BOOK: ("大型絵本",),
        ItemKind.KAMISHIBAI: ("紙芝居",),
        ItemKind.LARGE_KAMISHIBAI: ("大型紙芝居",),
        ItemKind.AV: ("視聴覚", "視聴覚資料"),
        ItemKind.OTHER: ("その他",),
    },
    "audience": {
        Audience.GENERAL: ("一般", "一般書", "adult"),
        Audience.CHILDREN: ("児童", "児童書", "child", "juvenile"),
    },
    "origin": {
        Origin.JAPANESE: ("日本", "日本絵本", "国内"),
        Origin.FOREIGN: ("外国", "外国絵本", "翻訳"),
        Origin.FOREIGN_LANGUAGE: ("洋書", "洋書絵本", "foreign language"),
    },
    "genre": {
        Genre.SOCIAL: ("社会",),
        Genre.STORY: ("物語",),
        Genre.EVENTS: ("行事",),
        Genre.FOLK_TALE: ("昔話", "folk tale"),
    },
}


def normal(text: str) -> str:
    return "_".join(unicodedata.normalize("NFKC", text).strip().casefold().replace("-", " ").split())


_HEADERS = {normal(name): column for column, names in COLUMNS.items() for name in names}
_VALUES = {
    column: {normal(word): option for option, words in options.items() for word in (option.value, *words)}
    for column, options in _WORDS.items()
}


def canonical_header(name: str) -> Column | None:
    """The column a header names, or None for a column tagd does not read."""
    return _HEADERS.get(normal(name))


def choose(column: str, value: str) -> StrEnum:
    """The option `value` names in `column` (binding, inside_cover, kind, audience, origin, genre);
    ValueError says the choices."""
    option = _VALUES[column].get(normal(value))
    if option is None:
        choices = (f"{option.value} ({'/'.join(words[:2])})" for option, words in _WORDS[column].items())
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
    return option
