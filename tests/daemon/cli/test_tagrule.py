"""`tagd tag rule`: through a parser holding only this command, and through `tagd.daemon.cli.main`."""

import argparse
import json

import pytest

from tagd.daemon.cli import main, tagrule
from tagd.protocols.errors import ProtocolError


def rule(capsys, *argv):
    """The handler through a parser of our own: what `tagd tag` registers."""
    parser = argparse.ArgumentParser(prog="tagd tag")
    tagrule.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["rule", *argv])
    code = args.handler(args)
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    return json.loads(out)


def test_hardcover_book_gets_white_tag_with_seal_inside_front_cover(capsys):
    answer = rule(capsys, "--kind", "book", "--binding", "hardcover")
    assert answer["decision"] == "L1000M"
    assert answer["product"] == "U-TAG-L1000M"
    assert answer["reason"] == "hardcover"
    assert answer["rule_ja"] == "① ハードカバーの本"
    assert answer["placement"] == "inside_front_cover"
    assert "5 cm from the bottom" in answer["placement_text"]
    assert answer["cover"] == "protective_seal"


def test_kind_may_come_from_the_call_number(capsys):
    answer = rule(capsys, "--call-number", "P ダ")
    assert (answer["product"], answer["placement"]) == ("U-TAG-L1000M", "back_cover_centre")


def test_large_picture_book_with_coloured_inside_cover_asks_librarian(capsys):
    answer = rule(capsys, "--kind", "large_picture_book", "--inside-cover", "coloured")
    assert answer["decision"] == "ask_librarian"
    assert answer["reason"] == "coloured_inside_cover"
    assert (answer["product"], answer["placement"], answer["cover"]) == (None, None, None)


def test_placement_problem_asks_librarian(capsys):
    problem = ("--placement-problem", "tag_larger_than_item")
    answer = rule(capsys, "--kind", "book", "--binding", "softcover", *problem)
    assert (answer["decision"], answer["reason"]) == ("ask_librarian", "tag_larger_than_item")


def test_librarian_override_wins(capsys):
    answer = rule(capsys, "--kind", "av", "--override", "U-TAG-L301")
    assert (answer["product"], answer["reason"], answer["cover"]) == ("U-TAG-L301", "librarian_override",
                                                                      "protective_film")


def test_ueki_marks_leave_e_open(capsys):
    answer = rule(capsys, "--call-number", "E ア", "--inside-cover", "white", "--marks", "ueki-tomiai")
    assert answer["reason"] == "call_number_ambiguous"


def test_neither_kind_nor_call_number_is_an_error(capsys):
    with pytest.raises(ProtocolError, match="give --kind or --call-number"):
        rule(capsys, "--binding", "hardcover")


def test_bad_value_is_an_error_naming_the_option(capsys):
    with pytest.raises(ProtocolError, match=r"^binding 'paper' is not one of: hardcover, softcover"):
        rule(capsys, "--kind", "book", "--binding", "paper")


def tag_rule_registered() -> bool:
    try:
        main(["tag", "rule", "--help"])
    except SystemExit as exit_:
        return exit_.code == 0
    return False


def test_tagd_tag_rule_prints_json_and_exits_0(capsys):
    assert tag_rule_registered(), "daemon/cli/tag.py does not call tagrule.register yet"
    capsys.readouterr()
    assert main(["tag", "rule", "--kind", "kamishibai"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["decision"] == "L1000M"
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--kind", "novel"], "tagd: kind 'novel' is not one of: book, picture_book"),
        (["--kind", "book", "--override", "U-TAG-X"], "tagd: override 'U-TAG-X' is not one of: U-TAG-L301"),
        (["--binding", "hardcover"], "tagd: give --kind or --call-number"),
    ],
)
def test_tagd_tag_rule_bad_input_exits_65_with_one_line(capsys, argv, reason):
    assert tag_rule_registered(), "daemon/cli/tag.py does not call tagrule.register yet"
    capsys.readouterr()
    assert main(["tag", "rule", *argv]) == 65
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(reason)
    assert err.count("\n") == 1
