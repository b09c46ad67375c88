"""The display states: every code has its English and its level; parameters render, absent ones do not."""

import json
from datetime import UTC, datetime

from tagd.protocols.display import TEMPLATES, DisplayCode, DisplayMessage, DisplayState, Level, english


def test_every_code_has_a_template_and_a_level() -> None:
    assert set(TEMPLATES) == set(DisplayCode)
    assert {DisplayState.of(code).level for code in DisplayCode} <= set(Level)


def test_none_parameters_are_left_out_and_notes_follow_the_line() -> None:
    state = DisplayState.of(
        DisplayCode.ENCODED, item_id="123456782", uid="E004015000000001", cover="protective_film", title=None
    )
    assert "title" not in state.params
    assert english(state) == "tag E004015000000001 now carries 123456782; cover it with the protective film"
    assert state.level is Level.SUCCESS


def test_with_params_adds_to_a_state() -> None:
    state = DisplayState.of(DisplayCode.TO_SHELF, item_id="123456782").with_params(not_on_pad=True)
    assert english(state) == "123456782: checked in; NOT secured: its tag is not on the pad"


def test_the_message_carries_code_params_level_text_language_time() -> None:
    state = DisplayState.of(DisplayCode.GATE_ALARM, what="123456782", item_id="123456782")
    at = datetime(2026, 12, 1, 1, 2, 3, tzinfo=UTC)
    message = json.loads(DisplayMessage.of(state, "警報", "ja", at).to_json())
    assert message == {
        "code": "gate_alarm",
        "params": {"what": "123456782", "item_id": "123456782"},
        "level": "alarm",
        "text": "警報",
        "language": "ja",
        "time": "2026-12-01T01:02:03Z",
    }
