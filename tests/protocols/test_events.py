"""The event, command and status models: the envelope, event ids, payload validation and docs/events.md."""

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from tagd_docs import events as eventdocs
from tagd_docs.examples import COMMAND_EXAMPLES, EVENT_EXAMPLES, REPLY_EXAMPLES, SIM_EXAMPLES

from tagd.daemon.mqtt.router import Topics
from tagd.daemon.retry import Backoff
from tagd.protocols.commands import (
    COMMANDS,
    MAX_PAYLOAD,
    SIM_COMMANDS,
    EncodeCommand,
    HoldsFeed,
    PayloadError,
    Reply,
    ReplyCode,
    SecurityCommand,
    SimPlace,
    parse_holds,
    parse_payload,
)
from tagd.protocols.events import (
    EVENT_TYPES,
    REJECT_REASON_TEXTS,
    Envelope,
    EventIds,
    ItemDetected,
    ItemEncodeRejected,
    RejectReason,
    Role,
    Status,
    envelope,
    parse_envelope,
    uuid7,
)
from tagd.protocols.tagtypes import TagProduct

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"
UID = "E0040150A1B2C3D4"
AT = datetime(2025, 4, 1, 1, 2, 3, 456000, tzinfo=UTC)
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def detected(**changes: object) -> ItemDetected:
    fields: dict[str, object] = {"reader": "pad", "uid": UID, "content": "item", "item_id": "123456782"}
    return ItemDetected.model_validate(fields | changes)


def test_envelope_has_the_cloudevents_attributes() -> None:
    event = envelope(detected(), station="enc1", library="central", event_id=uuid7(1, 0, bytes(8)), time=AT)
    body = json.loads(event.to_json())
    assert body["specversion"] == "1.0"
    assert body["source"] == "tagd/enc1"
    assert body["type"] == "jp.tagd.item.detected"
    assert body["datacontenttype"] == "application/json"
    assert body["subject"] == "123456782"
    assert (body["station"], body["library"]) == ("enc1", "central")
    assert RFC3339.fullmatch(body["time"])
    assert body["time"].endswith("Z")
    assert body["data"]["uid"] == UID
    assert body["data"]["secured"] is None
    assert parse_envelope(event.to_json()) == event


def test_subject_is_the_uid_without_an_item_and_absent_without_either() -> None:
    blank = envelope(detected(item_id=None, content="blank"), station="s", library="l", event_id="x", time=AT)
    assert blank.subject == UID
    card = EVENT_EXAMPLES["patron.card"]
    body = json.loads(envelope(card, station="s", library="l", event_id="x", time=AT).to_json())
    assert "subject" not in body


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_every_event_type_has_a_documented_example_that_round_trips(kind: str) -> None:
    example = eventdocs.example_envelope(EVENT_EXAMPLES[kind])
    parsed = parse_envelope(example.to_json())
    assert parsed == example
    assert type(parsed.data) is EVENT_TYPES[kind]
    assert parsed.short_type == kind


def test_contract_event_types_are_all_there() -> None:
    contract = {
        "item.detected", "item.removed", "item.encoded", "item.encode_rejected", "barcode.scanned",
        "security.changed", "gate.alarm", "set.incomplete", "hold.arrived", "hold.transit", "patron.card",
        "reader.connected", "reader.lost",
    }  # fmt: skip
    assert contract <= set(EVENT_TYPES)


def test_reject_reasons_are_all_explained() -> None:
    assert set(REJECT_REASON_TEXTS) == set(RejectReason)
    assert {"ask_librarian", "wrong_tag_type", "tag_in_use", "no_tag", "several_tags"} <= set(RejectReason)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": "jp.tagd.item.removed"}, "content"),
        ({"type": "com.example.item.detected"}, "not a tagd event type"),
        ({"source": "tagd/other"}, "is not tagd/enc1"),
        ({"specversion": "0.3"}, "specversion"),
        ({"time": "2025-04-01T01:02:03"}, "time"),
    ],
)
def test_a_wrong_envelope_is_refused_by_name(changes: dict[str, str], field: str) -> None:
    good = json.loads(envelope(detected(), station="enc1", library="l", event_id="x", time=AT).to_json())
    with pytest.raises(ValidationError, match=field):
        parse_envelope(json.dumps(good | changes))


def test_an_envelope_cannot_be_made_with_another_events_type() -> None:
    event = envelope(detected(), station="enc1", library="l", event_id="x", time=AT)
    with pytest.raises(ValidationError, match="does not match"):
        Envelope(**{**dict(event), "type": "jp.tagd.item.removed"})


def test_event_fields_are_checked_where_the_event_is_made() -> None:
    with pytest.raises(ValidationError, match="uid"):
        detected(uid="e0040150a1b2c3d4")
    with pytest.raises(ValidationError, match="item_id"):
        detected(item_id="12345678")
    with pytest.raises(ValidationError, match="patron_name"):
        ItemEncodeRejected(reason=RejectReason.NO_TAG, detail="x", patron_name="Hanako")  # type: ignore[call-arg]


def test_uuid7_layout() -> None:
    value = uuid.UUID(uuid7(0x0123456789AB, 0xFFF, b"\xff" * 8))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == 0x0123456789AB
    assert value.int >> 64 & 0xFFF == 0xFFF
    with pytest.raises(ValueError, match="12-bit"):
        uuid7(1, 1 << 12, bytes(8))


@given(st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=200), st.binary(min_size=8))
def test_event_ids_increase_even_when_the_clock_steps_back(clock: list[int], rand: bytes) -> None:
    ids = EventIds()
    made = [ids.next(ms, rand) for ms in clock]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_event_ids_roll_into_the_next_millisecond_after_4096() -> None:
    ids = EventIds()
    made = [ids.next(5, bytes(8)) for _ in range(5000)]
    assert made == sorted(made)
    assert len(set(made)) == 5000
    assert uuid.UUID(made[-1]).int >> 80 == 6


def test_security_item_errors_name_the_position_and_the_value() -> None:
    payload = {"request_id": "r1", "items": ["123456782", UID, "E00X12"], "secured": True}
    with pytest.raises(PayloadError) as refused:
        parse_payload(SecurityCommand, json.dumps(payload).encode(), scheme="m10w21")
    assert str(refused.value) == "items[2]: 'E00X12' is neither a 9-digit item id nor a 16-hex UID"
    assert refused.value.request_id == "r1"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff{}", "payload is not UTF-8: byte 0xff at 0"),
        (b"{", "payload is not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (b"[]", "payload must be a JSON object, not an array"),
        (b"null", "payload must be a JSON object, not null"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b" " * (MAX_PAYLOAD + 1), f"payload is {MAX_PAYLOAD + 1} bytes; the limit is {MAX_PAYLOAD}"),
        (b'{"request_id": "r", "items": ["123456782"]}', "secured: is required"),
        (b'{"request_id": "r", "items": ["123456782"], "secured": "yes"}', "secured: Input should be a"),
        (b'{"request_id": "r", "items": [], "secured": true}', "items: List should have at least 1"),
        (b'{"request_id": "r", "items": ["123456783"], "secured": true}', "items[0]: bad check digit"),
        (b'{"request_id": "r", "items": ["123456782"], "secured": true, "x": 1}', "x: is not a known field"),
        (b'{"request_id": "a/b", "items": ["123456782"], "secured": true}', "request_id: String should"),
    ],
)
def test_bad_commands_get_a_specific_error(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=re.escape(message)):
        parse_payload(SecurityCommand, payload, scheme="m10w21")


def test_the_check_digit_is_checked_only_under_a_scheme() -> None:
    payload = b'{"request_id": "r", "item_id": "123456783"}'
    assert parse_payload(EncodeCommand, payload).item_id == "123456783"
    with pytest.raises(PayloadError, match="check digit"):
        parse_payload(EncodeCommand, payload, scheme="m10w21")


def test_encode_command_accepts_the_librarians_product_names() -> None:
    payload = b'{"request_id": "r", "item_id": "123456782", "override_tag": "L1000M", "force": true}'
    command = parse_payload(EncodeCommand, payload, scheme="m10w21")
    assert command.override_tag is TagProduct.L1000M
    assert command.force


def test_sim_commands_need_no_request_id() -> None:
    assert parse_payload(SimPlace, b'{"profile": "U-TAG-L301"}').reply_to is None
    assert parse_payload(SimPlace, b'{"request_id": "p1"}').reply_to == "p1"


def test_holds_feed() -> None:
    assert parse_holds(b"") is None
    feed = parse_holds(eventdocs.HOLDS_EXAMPLE.model_dump_json().encode())
    assert isinstance(feed, HoldsFeed)
    assert feed.holds[1].position == 2
    bad = {"holds": [{**feed.holds[1].model_dump(mode="json"), "position": None}]}
    with pytest.raises(PayloadError, match="a set hold needs set_id and position"):
        parse_holds(json.dumps(bad).encode())


def _nested(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    _nested,
    max_leaves=8,
)
KEYS = ["request_id", "item_id", "items", "secured", "kind", "force", "uid", "raw", "holds", "override_tag"]
OBJECTS = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), JSON, max_size=6)
MODELS = [*COMMANDS.values(), *SIM_COMMANDS.values(), HoldsFeed]


def _answer(model: type, payload: bytes) -> None:
    """Either a validated model or a PayloadError whose reply can be published; nothing else."""
    try:
        parse_payload(model, payload, scheme="m10w21")
    except PayloadError as exc:
        reply = Reply(request_id=exc.request_id, ok=False, code=ReplyCode.INVALID, error=str(exc)[:500])
        reply.to_json().decode("utf-8")


@given(st.sampled_from(MODELS), st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_give_a_model_or_a_specific_error(model: type, payload: bytes) -> None:
    _answer(model, payload)


@given(st.sampled_from(MODELS), OBJECTS)
def test_fuzz_arbitrary_json_objects_give_a_model_or_a_specific_error(model: type, value: dict) -> None:
    _answer(model, json.dumps(value).encode())


@given(st.text(alphabet=st.characters(), max_size=30))
def test_fuzz_odd_strings_in_known_fields(text: str) -> None:
    payload = json.dumps({"request_id": text, "items": [text], "secured": True, text: 1}).encode()
    _answer(SecurityCommand, payload)
    _answer(SecurityCommand, payload.replace(b'"secured"', b'"\\ud800"'))


def test_documented_examples_validate_as_their_commands() -> None:
    for name, example in COMMAND_EXAMPLES.items():
        assert parse_payload(COMMANDS[name], example.model_dump_json().encode(), scheme="m10w21") == example
    for name, example in SIM_EXAMPLES.items():
        assert parse_payload(SIM_COMMANDS[name], example.model_dump_json().encode()) == example
    for replies in REPLY_EXAMPLES.values():
        for reply in replies:
            assert type(reply).model_validate_json(reply.to_json()) == reply


def test_status_payload() -> None:
    status = Status(state="offline", role=Role.GATE, library="north", outbox_depth=3, outbox_full=True)
    assert json.loads(status.to_json()) == {
        "state": "offline", "role": "gate", "library": "north", "readers": {}, "outbox_depth": 3,
        "outbox_full": True, "display": None,
    }  # fmt: skip


def test_topics() -> None:
    topics = Topics("lib/tagd", "enc1")
    assert topics.event("item.encoded") == "lib/tagd/enc1/events/item.encoded"
    assert topics.display == "lib/tagd/enc1/display"
    expected = ["lib/tagd/enc1/cmd/+", "lib/tagd/enc1/sim/+", "lib/tagd/holds/+"]
    assert topics.subscriptions(holds=True) == expected
    assert topics.classify("lib/tagd/enc1/cmd/encode") == ("cmd", "encode")
    assert topics.classify("lib/tagd/enc1/sim/place") == ("sim", "place")
    assert topics.classify("lib/tagd/holds/123456782") == ("holds", "123456782")
    assert topics.classify("lib/tagd/other/cmd/encode") is None


def test_backoff_doubles_to_its_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(0.5, 4.0)
    delays = [backoff.next() for _ in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next() <= 0.5


def test_docs_events_md_is_up_to_date() -> None:
    """Regenerate with: .venv/bin/PYTHONPATH=docs python -m tagd_docs.events > docs/events.md"""
    assert DOCS.read_text(encoding="utf-8") == eventdocs.render()


def test_docs_name_every_event_command_and_reason() -> None:
    text = eventdocs.render()
    for name in [*EVENT_TYPES, *(f"cmd/{c}" for c in COMMANDS), *(f"sim/{s}" for s in SIM_COMMANDS)]:
        assert f"### {name}\n" in text
    for reason in RejectReason:
        assert f"| `{reason}` |" in text
