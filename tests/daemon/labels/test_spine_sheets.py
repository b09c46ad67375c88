"""Spine label sheets read back with pdftotext: the demo list at the main library and at Ueki."""

from pathlib import Path

from tagd.daemon.cli import main

from .readback import text

CONFIG = Path(__file__).parents[3] / "config"
DEMO_LIST = CONFIG / "demo-delivery.csv"


def _sheet(rules: str, tmp_path: Path, capsys) -> tuple[str, str]:
    out = tmp_path / f"{rules}.pdf"
    code = main(["labels", "spine", str(DEMO_LIST), "--rules", rules, "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return text(out), captured.err


def test_the_main_library_prints_913_6_as_F(tmp_path, capsys):
    pdf, _ = _sheet("honkan", tmp_path, capsys)
    assert pdf.count("F ナ") == 2  # 吾輩は猫である, 坊っちゃん: 913.6 ナ
    assert "913.6" not in pdf
    assert "B F ア" in pdf  # 羅生門, B 913.6 ア: the bunko mark is printed
    assert "908 ミ" in pdf  # a children's collection, 3 digits


def test_ueki_keeps_913_6_and_sends_the_bunko_mark_to_the_librarian(tmp_path, capsys):
    pdf, err = _sheet("ueki", tmp_path, capsys)
    assert pdf.count("913.6 ナ") == 2
    assert "F ナ" not in pdf
    assert "司書確認" in pdf
    assert "100000108: ask a librarian: 別置記号 B は植木図書館では使いません" in err
    assert "ラベルなし" in pdf  # the kamishibai: no label at Ueki


def test_an_item_the_list_cannot_settle_says_so_and_has_no_label_text(tmp_path, capsys):
    out = tmp_path / "honkan.pdf"
    assert main(["labels", "spine", str(DEMO_LIST), "--rules", "honkan", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "100000041: ask a librarian: 紙芝居のジャンル" in captured.err
    assert "9 labels, 1 for the librarian, 0 without a label" in captured.out
    pdf = text(out)
    assert pdf.count("司書確認") == 1
    assert "紙芝居のジャンル" in pdf


def test_an_R_item_prints_its_number_and_asks_for_the_not_for_loan_sticker(tmp_path, capsys):
    listed = tmp_path / "r.csv"
    listed.write_text("登録番号,書名,請求記号,対象\n10000001,辞典,R 031 ジ,一般\n", encoding="utf-8")
    out = tmp_path / "r.pdf"
    assert main(["labels", "spine", str(listed), "--rules", "bunkan", "-o", str(out)]) == 0
    pdf = text(out)
    assert "031 ジ" in pdf
    assert "R 031" not in pdf
    assert "禁帯出シール" in pdf
