"""The spine label rules of seed 004 §4, one named test each, on the shipped config/spine-rules.toml."""

import pytest

from tagd.daemon.config.model import ConfigError
from tagd.daemon.labels.spine_rules import load_rule_set
from tagd.protocols.spine import Audience, Form, Genre, Origin, SpineInput, SpineLabel, design
from tagd.protocols.tagtypes import ItemKind

GENERAL, CHILDREN = Audience.GENERAL, Audience.CHILDREN
ALL = ("honkan", "bunkan", "ueki", "tomiai")
CITY = ("honkan", "bunkan")
UEKI_TOMIAI = ("ueki", "tomiai")


def label(rules: str, call_number: str | None, **fields) -> SpineLabel:
    return design(SpineInput("100000017", "本", call_number, **fields), load_rule_set(rules))


def printed(rules: str, call_number: str, **fields) -> str:
    result = label(rules, call_number, **fields)
    assert result.ask_librarian is None, result.ask_librarian
    return result.text


# -- classification digits ------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", ["honkan", "bunkan", "ueki"])
def test_general_books_print_up_to_four_ndc_digits(rules):
    assert printed(rules, "491.458 ア", audience=GENERAL) == "491.4 ア"
    assert printed(rules, "007 ア", audience=GENERAL) == "007 ア"


def test_tomiai_prints_three_digits_for_general_books():
    assert printed("tomiai", "491.458 ア", audience=GENERAL) == "491 ア"


@pytest.mark.parametrize("rules", ALL)
def test_childrens_books_print_up_to_three_digits(rules):
    assert printed(rules, "491.45 ア", audience=CHILDREN) == "491 ア"


@pytest.mark.parametrize("rules", CITY)
@pytest.mark.parametrize("ndc", ["913.6", "913.68"])
def test_913_6_and_913_68_print_as_F_at_the_main_library_and_branches(rules, ndc):
    assert printed(rules, f"{ndc} ナ", audience=GENERAL) == "F ナ"


def test_913_6_and_913_68_are_kept_at_ueki_and_cut_to_3_digits_at_tomiai():
    assert printed("ueki", "913.6 ナ", audience=GENERAL) == "913.6 ナ"
    assert printed("ueki", "913.68 ナ", audience=GENERAL) == "913.6 ナ"
    assert printed("tomiai", "913.6 ナ", audience=GENERAL) == "913 ナ"


@pytest.mark.parametrize("rules", CITY)
def test_other_913_general_books_are_not_F(rules):
    assert printed(rules, "913.2 ナ", audience=GENERAL) == "913.2 ナ"


@pytest.mark.parametrize("rules", CITY)
@pytest.mark.parametrize("ndc", ["913", "913.6", "913.8"])
def test_childrens_913_prints_as_F_at_the_main_library_and_branches(rules, ndc):
    assert printed(rules, f"{ndc} ミ", audience=CHILDREN) == "F ミ"


@pytest.mark.parametrize("rules", UEKI_TOMIAI)
def test_childrens_913_is_kept_at_ueki_and_tomiai(rules):
    assert printed(rules, "913.6 ミ", audience=CHILDREN) == "913 ミ"


# -- separate-shelving marks ----------------------------------------------------------------------------


@pytest.mark.parametrize("mark", ["B", "CD", "HP", "L", "WI", "Z"])
def test_the_main_librarys_general_marks_are_printed(mark):
    assert printed("honkan", f"{mark} 913.6 ア", audience=GENERAL) == f"{mark} F ア"


@pytest.mark.parametrize("mark", ["B", "CD", "HP", "IB", "IS", "L", "WI", "EY"])
@pytest.mark.parametrize("rules", ["bunkan", "ueki", "tomiai"])
def test_main_library_only_marks_send_the_item_to_the_librarian_elsewhere(rules, mark):
    result = label(rules, f"{mark} 913.6 ア", audience=GENERAL)
    assert result.ask_librarian is not None
    assert f"別置記号 {mark}" in result.ask_librarian
    assert result.text == ""


@pytest.mark.parametrize("rules", CITY)
def test_of_the_childrens_marks_only_Y_is_printed(rules):
    assert printed(rules, "Y 913 ア") == "Y F ア"
    assert printed(rules, "YB 913 ア") == "F ア"
    assert printed(rules, "Z 908 ア", audience=CHILDREN) == "908 ア"


@pytest.mark.parametrize("rules", UEKI_TOMIAI)
def test_young_adult_marks_are_not_used_at_ueki_and_tomiai(rules):
    assert label(rules, "Y 913 ア", audience=CHILDREN).ask_librarian is not None


@pytest.mark.parametrize("rules", CITY)
def test_R_is_only_for_the_not_for_loan_sticker(rules):
    result = label(rules, "R 031 ア")
    assert result.text == "031 ア"
    assert any("禁帯出シール" in note for note in result.notes)


@pytest.mark.parametrize("mark", ["IB", "IS"])
def test_IB_and_IS_need_no_label_at_the_main_library(mark):
    result = label("honkan", f"{mark} 913.6 ア")
    assert not result.stuck
    assert result.ask_librarian is None
    assert result.text == ""


@pytest.mark.parametrize("rules", UEKI_TOMIAI)
def test_ueki_and_tomiai_use_E_for_all_picture_books(rules):
    foreign = label(rules, "E ミ", origin=Origin.FOREIGN)
    assert foreign.form is Form.PICTURE
    assert foreign.text == "ミ"
    assert label(rules, "E ミ").ask_librarian is not None  # E alone does not say Japanese or foreign


def test_E_at_the_main_library_is_a_large_picture_book_labelled_as_a_picture_book():
    result = label("honkan", "E ミ", origin=Origin.JAPANESE)
    assert (result.form, result.text, result.size_mm) == (Form.PICTURE, "ミ", (21.0, 10.0))


# -- book mark ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mark", ["ア", "ガ", "パ", "ヴ", "ハ\u309a"])
def test_the_book_mark_is_one_katakana_with_voicing_marks(mark):
    assert printed("honkan", f"493 {mark}", audience=GENERAL).endswith(mark if len(mark) == 1 else "パ")


@pytest.mark.parametrize("mark", ["アイ", "a", "あ", "亜"])
def test_a_book_mark_that_is_not_one_katakana_goes_to_the_librarian(mark):
    assert "図書記号" in (label("honkan", f"493 {mark}", audience=GENERAL).ask_librarian or "")


def test_picture_books_take_one_or_two_katakana():
    assert printed("honkan", "EN ミ") == "ミ"
    assert printed("honkan", "EN ミヤ") == "ミヤ"
    assert label("honkan", "EN ミヤザ").ask_librarian is not None


def test_foreign_language_picture_books_take_one_latin_letter():
    assert printed("honkan", "EY S") == "S"
    assert label("honkan", "EY ス").ask_librarian is not None


# -- label form and colour ------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", CITY)
def test_general_labels_are_black_and_childrens_yellow_one_tier_8_by_18_mm(rules):
    general = label(rules, "493 ア", audience=GENERAL)
    children = label(rules, "493 ア", audience=CHILDREN)
    assert (general.colour.name, general.size_mm) == ("黒", (18.0, 8.0))
    assert (children.colour.name, children.size_mm) == ("黄", (18.0, 8.0))


@pytest.mark.parametrize(("call_number", "colour"), [("EN ミ", "黄"), ("EG ミ", "水色"), ("EY M", "緑")])
def test_picture_book_labels_are_10_by_21_mm_by_origin(call_number, colour):
    result = label("honkan", call_number)
    assert (result.colour.name, result.size_mm) == (colour, (21.0, 10.0))


@pytest.mark.parametrize(
    ("genre", "colour"),
    [(Genre.SOCIAL, "赤"), (Genre.STORY, "橙"), (Genre.EVENTS, "青"), (Genre.FOLK_TALE, "緑")],
)
@pytest.mark.parametrize("rules", CITY)
def test_kamishibai_get_a_20_mm_round_label_by_genre_without_print(rules, genre, colour):
    result = label(rules, "P ダ", kind=ItemKind.KAMISHIBAI, genre=genre)
    assert (result.colour.name, result.disc_mm, result.text) == (colour, 20.0, "")


@pytest.mark.parametrize("rules", UEKI_TOMIAI)
def test_ueki_and_tomiai_stick_no_kamishibai_label(rules):
    result = label(rules, "P ダ", kind=ItemKind.KAMISHIBAI)
    assert not result.stuck
    assert result.ask_librarian is None


@pytest.mark.parametrize(
    ("ndc", "colour"),
    [
        ("007", "桃"),
        ("159", "鼠"),
        ("210", "茶"),
        ("336", "緑"),
        ("490", "黒"),
        ("596", "焦茶"),
        ("645", "空"),
        ("780", "紫"),
        ("830", "黄"),
        ("913.6", "青"),
        ("933", "赤"),
    ],
)
def test_ueki_colours_each_ndc_class_thin_frame_general_thick_childrens(ndc, colour):
    general = label("ueki", f"{ndc} ア", audience=GENERAL)
    children = label("ueki", f"{ndc} ア", audience=CHILDREN)
    assert (general.colour.name, general.frame) == (colour, "thin")
    assert (children.colour.name, children.frame) == (colour, "thick")


def test_ueki_picture_books_are_blue_or_red_and_foreign_language_ones_ask():
    assert label("ueki", "E ミ", origin=Origin.JAPANESE).colour.name == "青"
    assert label("ueki", "E ミ", origin=Origin.FOREIGN).colour.name == "赤"
    assert label("ueki", "E M", origin=Origin.FOREIGN_LANGUAGE).ask_librarian is not None


def test_tomiai_kihara_labels_9_blue_0_to_8_violet_childrens_red():
    assert label("tomiai", "913.6 ア", audience=GENERAL).colour.name == "ブルー"
    assert label("tomiai", "933 ア", audience=GENERAL).colour.name == "ブルー"
    assert label("tomiai", "490 ア", audience=GENERAL).colour.name == "バイオレット"
    assert label("tomiai", "490 ア", audience=CHILDREN).colour.name == "レッド"


# -- never a guess -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call_number", "fields", "says"),
    [
        ("493 ア", {}, "一般書か児童書か"),
        ("E ミ", {}, "絵本の区分"),
        ("P ダ", {"kind": ItemKind.KAMISHIBAI}, "紙芝居のジャンル"),
        (None, {}, "請求記号"),
        ("ア", {"audience": GENERAL}, "分類記号"),
        ("EN ミ", {"kind": ItemKind.KAMISHIBAI}, "合いません"),
        ("EN ミ", {"origin": Origin.FOREIGN}, "合いません"),
        ("B 913 ア", {"audience": CHILDREN}, "合いません"),
        ("493 ア", {"kind": ItemKind.AV}, "av"),
    ],
)
def test_missing_or_contradictory_data_goes_to_the_librarian_with_no_label_text(call_number, fields, says):
    result = label("honkan", call_number, **fields)
    assert says in (result.ask_librarian or "")
    assert result.text == ""
    assert not result.printed


def test_an_unknown_rule_set_names_the_known_ones():
    with pytest.raises(ConfigError, match="bunkan, honkan, tomiai, ueki"):
        load_rule_set("kita")


def test_a_colour_missing_from_the_palette_is_a_config_error(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[rules.x]\ntitle = "x"\ndigits = { general = 4, children = 3 }\nmarks = {}\n'
        '[rules.x.forms]\ngeneral = { size_mm = [18.0, 8.0], colour = "black" }\n'
        'children = { size_mm = [18.0, 8.0], colour = "black" }\n'
        'picture = { size_mm = [21.0, 10.0], colour = "black" }\nkamishibai = { stuck = false }\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="not in the palette"):
        load_rule_set("x", rules)
