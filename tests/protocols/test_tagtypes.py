"""The processing specification's tag rule (§5) and call-number marks (§4), named after its rules."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols.errors import ProtocolError
from tagd.protocols.tagtypes import (
    MARKS,
    PLACEMENT_TEXTS,
    REASON_TEXTS,
    RULES,
    Binding,
    CallNumberError,
    Decision,
    InsideCover,
    Item,
    ItemKind,
    MarkScheme,
    Placement,
    PlacementProblem,
    ProtectiveCover,
    Reason,
    TagProduct,
    UnknownShelvingMarkError,
    item_from_fields,
    kind_from_call_number,
    required_tag,
)

WHITE = TagProduct.L1000M
CLEAR = TagProduct.L301
FULL_WIDTH = {**{chr(code): chr(code + 0xFEE0) for code in range(0x21, 0x7F)}, " ": "\u3000"}


def wide(text):
    """The full-width form catalogue data often has: Ｒ　９１３．６ for R 913.6."""  # noqa: RUF002
    return "".join(FULL_WIDTH.get(char, char) for char in text)


def tag(**fields):
    return required_tag(Item(**fields))


# §5 (1): which tag


def test_softcover_book_gets_transparent_tag_with_protective_film():
    answer = tag(kind=ItemKind.BOOK, binding=Binding.SOFTCOVER)
    assert (answer.decision, answer.product, answer.cover) == (Decision.L301, CLEAR, ProtectiveCover.FILM)
    assert answer.reason is Reason.DEFAULT_TRANSPARENT
    assert answer.rule_ja == "原則、図書用ICタグ(透明タグ:U-TAG-L301)を使用する"


def test_soft_vinyl_book_gets_transparent_tag():
    assert tag(kind=ItemKind.BOOK, binding=Binding.VINYL).product is CLEAR


@pytest.mark.parametrize("kind", [ItemKind.BOOK, ItemKind.PICTURE_BOOK])
def test_hardcover_gets_white_tag_with_protective_seal(kind):
    answer = tag(kind=kind, binding=Binding.HARDCOVER, inside_cover=InsideCover.COLOURED)
    assert (answer.decision, answer.product, answer.cover) == (Decision.L1000M, WHITE, ProtectiveCover.SEAL)
    assert answer.reason is Reason.HARDCOVER
    assert answer.rule_ja == "① ハードカバーの本"


@pytest.mark.parametrize("binding", list(Binding))
def test_large_picture_book_with_white_inside_cover_gets_white_tag(binding):
    answer = tag(kind=ItemKind.LARGE_PICTURE_BOOK, binding=binding, inside_cover=InsideCover.WHITE)
    assert answer.product is WHITE
    assert answer.reason is Reason.WHITE_INSIDE_COVER
    assert answer.placement is Placement.INSIDE_FRONT_COVER


def test_large_picture_book_with_coloured_inside_cover_asks_librarian():
    answer = tag(
        kind=ItemKind.LARGE_PICTURE_BOOK, binding=Binding.SOFTCOVER, inside_cover=InsideCover.COLOURED
    )
    assert (answer.decision, answer.reason) == (Decision.ASK_LIBRARIAN, Reason.COLOURED_INSIDE_COVER)
    assert "市立図書館員に相談" in (answer.rule_ja or "")


def test_hardcover_large_picture_book_with_coloured_inside_cover_still_asks_librarian():
    """② says "white inside cover only"; ① does not bring the white tag back for a hardcover."""
    answer = tag(
        kind=ItemKind.LARGE_PICTURE_BOOK, binding=Binding.HARDCOVER, inside_cover=InsideCover.COLOURED
    )
    assert answer.decision is Decision.ASK_LIBRARIAN


@pytest.mark.parametrize("kind", [ItemKind.KAMISHIBAI, ItemKind.LARGE_KAMISHIBAI])
def test_kamishibai_gets_white_tag_on_centre_of_back_cover_then_seal(kind):
    answer = tag(kind=kind)
    assert (answer.product, answer.placement, answer.cover) == (WHITE, Placement.BACK_COVER_CENTRE,
                                                                ProtectiveCover.SEAL)
    assert PLACEMENT_TEXTS[answer.placement] == "the centre of the back cover"


def test_cloth_book_asks_librarian():
    answer = tag(kind=ItemKind.PICTURE_BOOK, binding=Binding.CLOTH)
    assert (answer.decision, answer.reason) == (Decision.ASK_LIBRARIAN, Reason.CLOTH_BINDING)


@pytest.mark.parametrize("kind", [ItemKind.AV, ItemKind.OTHER])
def test_items_outside_the_books_and_kamishibai_rule_ask_librarian(kind):
    answer = tag(kind=kind, binding=Binding.HARDCOVER, inside_cover=InsideCover.WHITE)
    assert answer.decision is Decision.ASK_LIBRARIAN
    assert "books and kamishibai only" in answer.reason_text


# missing metadata: said, never guessed


@pytest.mark.parametrize("kind", [ItemKind.BOOK, ItemKind.PICTURE_BOOK])
def test_book_with_unknown_binding_asks_librarian_saying_binding_is_missing(kind):
    answer = tag(kind=kind, inside_cover=InsideCover.WHITE)
    assert (answer.decision, answer.reason) == (Decision.ASK_LIBRARIAN, Reason.BINDING_UNKNOWN)
    assert "binding is not known" in answer.reason_text


def test_large_picture_book_with_unknown_inside_cover_asks_librarian_saying_so():
    answer = tag(kind=ItemKind.LARGE_PICTURE_BOOK, binding=Binding.HARDCOVER)
    assert (answer.decision, answer.reason) == (Decision.ASK_LIBRARIAN, Reason.INSIDE_COVER_UNKNOWN)
    assert "inside-cover colour is not known" in answer.reason_text


def test_item_without_kind_or_call_number_asks_librarian():
    answer = tag(binding=Binding.HARDCOVER)
    assert (answer.decision, answer.reason) == (Decision.ASK_LIBRARIAN, Reason.KIND_MISSING)


# §5 (3): placement


def test_tag_goes_inside_front_cover_page_side_5cm_from_bottom_1_to_3cm_from_gutter():
    answer = tag(kind=ItemKind.BOOK, binding=Binding.SOFTCOVER)
    assert answer.placement is Placement.INSIDE_FRONT_COVER
    text = PLACEMENT_TEXTS[answer.placement]
    for words in ("page side", "5 cm from the bottom", "1-3 cm from the gutter", "endpaper or the next page"):
        assert words in text


@pytest.mark.parametrize(
    ("problem", "reason"),
    [
        (PlacementProblem.NO_FREE_SPOT, Reason.NO_FREE_SPOT),
        (PlacementProblem.TAG_LARGER_THAN_ITEM, Reason.TAG_LARGER_THAN_ITEM),
        (PlacementProblem.PLACEMENT_UNCLEAR, Reason.PLACEMENT_UNCLEAR),
    ],
)
def test_placement_problem_asks_librarian_even_for_a_clear_case(problem, reason):
    answer = tag(kind=ItemKind.BOOK, binding=Binding.HARDCOVER, placement_problem=problem)
    assert (answer.decision, answer.reason) == (Decision.ASK_LIBRARIAN, reason)
    assert (answer.product, answer.placement, answer.cover) == (None, None, None)


# a librarian's instruction


def test_librarian_override_beats_the_rule():
    answer = tag(kind=ItemKind.LARGE_PICTURE_BOOK, inside_cover=InsideCover.COLOURED, override=CLEAR)
    assert (answer.product, answer.reason) == (CLEAR, Reason.LIBRARIAN_OVERRIDE)
    assert answer.decision is Decision.L301
    assert (answer.placement, answer.cover) == (Placement.INSIDE_FRONT_COVER, ProtectiveCover.FILM)


def test_librarian_override_on_kamishibai_keeps_back_cover():
    assert tag(kind=ItemKind.KAMISHIBAI, override=CLEAR).placement is Placement.BACK_COVER_CENTRE


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": ItemKind.BOOK, "placement_problem": PlacementProblem.TAG_LARGER_THAN_ITEM},
        {"kind": ItemKind.AV},
        {"call_number": "XX ア"},
        {"kind": ItemKind.BOOK, "call_number": "P ダ"},
        {},
    ],
)
def test_librarian_override_places_the_tag_as_instructed_when_the_rule_cannot(fields):
    answer = tag(**fields, override=WHITE)
    assert (answer.product, answer.placement) == (WHITE, Placement.AS_INSTRUCTED)


# the table


def test_rule_table_covers_every_combination_exactly_once():
    for kind, binding, cover in itertools.product(ItemKind, Binding, InsideCover):
        rows = [row for row in RULES if row.matches(kind, binding, cover)]
        assert len(rows) == 1, (kind, binding, cover, rows)


def test_every_reason_has_english_text():
    assert set(REASON_TEXTS) == set(Reason)
    assert all(text for text, _ in REASON_TEXTS.values())


# §4: call numbers and separate-shelving marks


@pytest.mark.parametrize(
    ("call_number", "kind", "mark", "classification", "author"),
    [
        ("E ア", ItemKind.LARGE_PICTURE_BOOK, "E", None, "ア"),
        ("EN ア", ItemKind.PICTURE_BOOK, "EN", None, "ア"),
        ("EG ア", ItemKind.PICTURE_BOOK, "EG", None, "ア"),
        ("EY B", ItemKind.PICTURE_BOOK, "EY", None, "B"),
        ("EY F", ItemKind.PICTURE_BOOK, "EY", None, "F"),
        ("P ダ", ItemKind.KAMISHIBAI, "P", None, "ダ"),
        ("P アオ", ItemKind.KAMISHIBAI, "P", None, "アオ"),
        ("OK キ", ItemKind.LARGE_KAMISHIBAI, "OK", None, "キ"),
        ("R 913.6 ア", ItemKind.BOOK, "R", "913.6", "ア"),
        ("F ア", ItemKind.BOOK, None, "F", "ア"),
        ("Y F ア", ItemKind.BOOK, "Y", "F", "ア"),
        ("Y 913 ア", ItemKind.BOOK, "Y", "913", "ア"),
        ("913.6 ア", ItemKind.BOOK, None, "913.6", "ア"),
        ("933 S", ItemKind.BOOK, None, "933", "S"),
        ("CD 760 ア", ItemKind.AV, "CD", "760", "ア"),
        ("E", ItemKind.LARGE_PICTURE_BOOK, "E", None, None),
    ],
)
def test_shelving_marks_give_the_kind(call_number, kind, mark, classification, author):
    read = kind_from_call_number(call_number)
    assert (read.kind, read.mark) == (kind, mark)
    assert (read.classification, read.author_mark) == (classification, author)


@pytest.mark.parametrize(
    "variant", ["R 913.6 ア", wide("R 913.6 ア"), "R913.6ア", "  r  913.6\tｱ ", wide("R913.6ｱ")]
)
def test_full_width_and_spacing_variants_read_the_same(variant):
    read = kind_from_call_number(variant)
    assert (read.text, read.mark, read.classification, read.author_mark) == ("R 913.6 ア", "R", "913.6", "ア")


def test_unknown_shelving_mark_is_reported_not_guessed():
    with pytest.raises(UnknownShelvingMarkError, match="unknown shelving mark 'XX'"):
        kind_from_call_number("XX 913 ア")


@pytest.mark.parametrize(
    ("call_number", "fault"),
    [
        ("", "is empty"),
        ("　 ", "is empty"),
        ("91.3 ア", "classification '91.3'"),
        ("R .6 ア", "classification '.6'"),
        ("E アイウ", "author mark 'アイウ'"),
        ("913 あ", "author mark 'あ'"),
        ("R 913 ア 2", "unexpected '2'"),
    ],
)
def test_unreadable_call_number_names_the_part_at_fault(call_number, fault):
    with pytest.raises(CallNumberError, match=fault):
        kind_from_call_number(call_number)


def test_ueki_and_tomiai_e_does_not_say_whether_the_picture_book_is_large():
    read = kind_from_call_number("E ア", MarkScheme.UEKI_TOMIAI)
    assert read.kind is None
    assert read.kinds == {ItemKind.PICTURE_BOOK, ItemKind.LARGE_PICTURE_BOOK}


def test_kind_comes_from_call_number_when_not_given():
    answer = tag(call_number="E ア", inside_cover=InsideCover.WHITE)
    assert (answer.product, answer.reason) == (WHITE, Reason.WHITE_INSIDE_COVER)


def test_kind_and_call_number_disagreeing_asks_librarian():
    answer = tag(kind=ItemKind.BOOK, binding=Binding.HARDCOVER, call_number="P ダ")
    assert answer.reason is Reason.KIND_CONFLICTS_WITH_CALL_NUMBER
    assert "book, but 'P ダ' is a kamishibai" in answer.reason_text


def test_kind_agreeing_with_call_number_applies_the_rule():
    assert tag(kind=ItemKind.BOOK, binding=Binding.HARDCOVER, call_number="R 913.6 ア").product is WHITE


def test_ueki_e_without_kind_asks_librarian_but_with_kind_applies_the_rule():
    at_ueki = {"call_number": "E ア", "inside_cover": InsideCover.WHITE, "marks": MarkScheme.UEKI_TOMIAI}
    assert tag(**at_ueki).reason is Reason.CALL_NUMBER_AMBIGUOUS
    assert tag(**at_ueki, kind=ItemKind.LARGE_PICTURE_BOOK).product is WHITE


@pytest.mark.parametrize(
    ("call_number", "reason"),
    [("XX ア", Reason.UNKNOWN_SHELVING_MARK), ("E アイウ", Reason.CALL_NUMBER_UNREADABLE)],
)
def test_unreadable_call_number_asks_librarian_with_the_fault(call_number, reason):
    answer = tag(kind=ItemKind.BOOK, binding=Binding.SOFTCOVER, call_number=call_number)
    assert (answer.decision, answer.reason) == (Decision.ASK_LIBRARIAN, reason)
    assert repr(call_number) in answer.reason_text


# text fields (command line, MQTT)


def test_text_fields_are_read_in_any_case_width_and_separator():
    item = item_from_fields(
        kind="Large-Picture-Book",
        binding=wide("HARDCOVER"),
        inside_cover=" white ",
        call_number="E ア",
        placement_problem="no-free-spot",
        override="l1000m",
        marks="UEKI_TOMIAI",
    )
    assert item == Item(
        ItemKind.LARGE_PICTURE_BOOK,
        Binding.HARDCOVER,
        InsideCover.WHITE,
        "E ア",
        PlacementProblem.NO_FREE_SPOT,
        WHITE,
        MarkScheme.UEKI_TOMIAI,
    )


def test_absent_text_fields_mean_unknown_and_a_blank_call_number_means_none():
    assert item_from_fields(call_number="  ") == Item()


@pytest.mark.parametrize(
    ("field", "value"),
    [("kind", "novel"), ("binding", "paper"), ("inside_cover", "red"), ("placement_problem", "x"),
     ("override", "ask_librarian"), ("marks", "ueki")],
)
def test_bad_text_field_is_an_error_naming_field_and_value(field, value):
    with pytest.raises(ProtocolError, match=f"^{field} '{value}' is not one of: "):
        item_from_fields(**{field: value})


def test_answer_as_json_fields():
    answer = tag(kind=ItemKind.BOOK, binding=Binding.HARDCOVER).as_dict()
    assert answer["decision"] == "L1000M"
    assert answer["product"] == "U-TAG-L1000M"
    assert answer["reason"] == "hardcover"
    assert answer["cover"] == "protective_seal"
    assert answer["placement_text"] == PLACEMENT_TEXTS[Placement.INSIDE_FRONT_COVER]
    assert tag(kind=ItemKind.AV).as_dict()["placement_text"] is None


# properties

call_numbers = st.builds(
    lambda mark, classification, author: " ".join(part for part in (mark, classification, author) if part),
    st.sampled_from(["", *MARKS[MarkScheme.CITY]]),
    st.sampled_from(["", "913.6", "913", "007.3", "F"]),
    st.sampled_from(["ア", "ダ", "アオ", "キ"]),
)
items = st.builds(
    Item,
    kind=st.none() | st.sampled_from(ItemKind),
    binding=st.sampled_from(Binding),
    inside_cover=st.sampled_from(InsideCover),
    call_number=st.none() | call_numbers | st.text(max_size=12),
    placement_problem=st.sampled_from(PlacementProblem),
    override=st.none() | st.sampled_from(TagProduct),
    marks=st.sampled_from(MarkScheme),
)


@given(items)
def test_rule_is_total_every_item_gets_a_tag_or_a_reason_to_ask(item):
    answer = required_tag(item)
    assert answer.reason_text
    if answer.decision is Decision.ASK_LIBRARIAN:
        assert (answer.product, answer.placement, answer.cover) == (None, None, None)
    else:
        assert answer.decision == {CLEAR: Decision.L301, WHITE: Decision.L1000M}[answer.product]
        assert answer.cover is {CLEAR: ProtectiveCover.FILM, WHITE: ProtectiveCover.SEAL}[answer.product]
        assert answer.placement is not None


@given(items, st.sampled_from(TagProduct))
def test_librarian_override_always_wins(item, product):
    answer = required_tag(Item(**{**item.__dict__, "override": product}))
    assert (answer.product, answer.reason) == (product, Reason.LIBRARIAN_OVERRIDE)


@given(items)
def test_missing_metadata_the_rule_needs_never_yields_a_tag(item):
    without_override = Item(**{**item.__dict__, "override": None})
    needs_binding = item.kind in (ItemKind.BOOK, ItemKind.PICTURE_BOOK) and item.binding is Binding.UNKNOWN
    needs_cover = item.kind is ItemKind.LARGE_PICTURE_BOOK and item.inside_cover is InsideCover.UNKNOWN
    needs_kind = item.kind is None and item.call_number is None
    if needs_binding or needs_cover or needs_kind:
        assert required_tag(without_override).decision is Decision.ASK_LIBRARIAN


@given(st.text(max_size=20), st.sampled_from(MarkScheme))
def test_any_text_reads_as_a_call_number_or_fails_with_a_reason(text, marks):
    try:
        message = f"call number read as {kind_from_call_number(text, marks).kinds}"
    except CallNumberError as exc:
        message = str(exc)
    assert message.startswith("call number ")


@given(call_numbers)
def test_full_width_call_numbers_read_like_ascii_ones(call_number):
    assert kind_from_call_number(wide(call_number)) == kind_from_call_number(call_number)
