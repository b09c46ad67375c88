"""The spine rule engine never crashes, and never prints text it was not sure of (Hypothesis)."""

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols.spine import Audience, Genre, Origin, RuleSet, SpineInput, design
from tagd.protocols.tagtypes import ItemKind

RULES = tomllib.loads((Path(__file__).parents[2] / "config" / "spine-rules.toml").read_text(encoding="utf-8"))
SETS = {
    name: RuleSet.model_validate({**body, "palette": RULES["palette"]})
    for name, body in RULES["rules"].items()
}
TOKENS = st.sampled_from(
    [
        "913.6",
        "913.68",
        "007",
        "491.458",
        "E",
        "EN",
        "EY",
        "P",
        "B",
        "R",
        "IB",
        "Y",
        "ナ",
        "ガ",
        "ミヤ",
        "S",
        "x",
        "",
    ]
)
CALL_NUMBERS = st.one_of(st.none(), st.text(max_size=30), st.lists(TOKENS, max_size=4).map(" ".join))


ITEMS = st.builds(
    SpineInput,
    item_id=st.just("100000017"),
    title=st.just("t"),
    call_number=CALL_NUMBERS,
    kind=st.one_of(st.none(), st.sampled_from(ItemKind)),
    audience=st.one_of(st.none(), st.sampled_from(Audience)),
    origin=st.one_of(st.none(), st.sampled_from(Origin)),
    genre=st.one_of(st.none(), st.sampled_from(Genre)),
)


@pytest.mark.parametrize("name", sorted(SETS))
@given(item=ITEMS)
def test_design_never_crashes_and_a_question_has_no_text(name, item):
    label = design(item, SETS[name])
    if label.ask_librarian is not None:
        assert label.text == ""
        assert not label.printed
    elif label.printed and label.text:
        assert label.colour is not None
        assert label.size_mm is not None
