"""The gettext catalogs: up to date with the sources, Japanese complete, compiled, and used by render()."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tagd.daemon.i18n import render, translation
from tagd.protocols.display import TEMPLATES, DisplayCode, DisplayState

ROOT = Path(__file__).resolve().parents[3]
LOCALES = ROOT / "daemon" / "i18n" / "locale"


def _extracted() -> set[str]:
    found: set[str] = set()
    for folder in ("protocols", "daemon"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords={"N_": None, "_t": None}
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(language: str) -> dict[str, str]:
    with (LOCALES / language / "LC_MESSAGES" / "tagd.po").open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle) if m.id}


def test_the_catalogs_hold_every_text_of_the_sources() -> None:
    """`make i18n` after changing a staff text: otherwise this fails."""
    extracted = _extracted()
    assert extracted >= set(TEMPLATES.values())
    for language in ("ja", "en"):
        assert set(_catalog(language)) == extracted, language


def test_every_text_has_its_japanese() -> None:
    untranslated = [msgid for msgid, text in _catalog("ja").items() if not text]
    assert untranslated == []


def test_every_display_code_renders_in_both_languages_from_the_compiled_catalogs() -> None:
    assert translation("ja").gettext("white tag U-TAG-L1000M") == "白タグ U-TAG-L1000M"
    for code in DisplayCode:
        state = DisplayState.of(code, item_id="123456782", uid="E004015000000001", count=2)
        assert render(state, "ja") != render(state, "en"), code


def test_the_libraries_own_words() -> None:
    ask = DisplayState.of(DisplayCode.ASK_LIBRARIAN, item_id="123456782", rule_reason="cloth_binding")
    assert "市立図書館員に相談" in render(ask, "ja")
    put = DisplayState.of(DisplayCode.PUT_TAG, item_id="123456782", product="U-TAG-L301")
    assert "透明タグ U-TAG-L301" in render(put, "ja")
    shelf = DisplayState.of(
        DisplayCode.TO_HOLD_SHELF, item_id="123456782", hold_id="H-1", hold_until="2026-12-08"
    )
    text = render(shelf, "ja")
    assert text.startswith("123456782: 予約棚へ")
    assert "予約 H-1、2026-12-08 まで" in text
    transit = DisplayState.of(DisplayCode.TRANSIT, item_id="123456782", hold_id="H-1", to_library="north")
    assert "回送" in render(transit, "ja")
    assert render(put, "en") == "123456782: put one U-TAG-L301 tag on the pad"
