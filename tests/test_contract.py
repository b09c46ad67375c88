"""The machine-checkable contract: docs/schemas/ and docs/asyncapi.yaml are what the models generate, the
AsyncAPI document is valid against the official AsyncAPI 3.0 schema (npm package @asyncapi/specs, installed
by `make specs` into build/npm), and the documented examples meet their schemas."""

import ast
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator
from tagd_docs import schemas as generator
from tagd_docs.contract import Contract
from tagd_docs.events import example_envelope
from tagd_docs.examples import (
    COMMAND_EXAMPLES,
    EVENT_EXAMPLES,
    HOLDS_EXAMPLE,
    REPLY_EXAMPLES,
    SIM_EXAMPLES,
    SIM_REPLY_EXAMPLES,
)

from tagd.protocols import nw7
from tagd.protocols.commands import (
    COMMANDS,
    SIM_COMMANDS,
    PayloadError,
    Reply,
    SecurityReply,
    checked_item_id,
    parse_holds,
    request_id_at_head,
)
from tagd.protocols.events import EVENT_TYPES, ItemRemoved, Role, Status, envelope

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SPECS = Path(
    os.environ.get("ASYNCAPI_SPECS", ROOT / "build" / "npm" / "node_modules" / "@asyncapi" / "specs")
)


def test_schemas_and_asyncapi_are_what_the_models_generate() -> None:
    """Regenerate with `make docs`."""
    files = generator.render()
    for path, text in files.items():
        assert (DOCS / path).read_text(encoding="utf-8") == text, f"docs/{path} is stale: run make docs"
    committed = {str(p.relative_to(DOCS)) for p in (DOCS / "schemas").rglob("*.json")}
    assert committed == {p for p in files if p.startswith("schemas/")}


def test_every_model_has_its_schema_file() -> None:
    names = set(generator.schemas())
    assert {f"events/{kind}.schema.json" for kind in EVENT_TYPES} <= names
    assert {f"cmd/{name}.schema.json" for name in COMMANDS} <= names
    assert {f"reply/{name}.schema.json" for name in COMMANDS} <= names
    assert {f"sim/{name}.schema.json" for name in SIM_COMMANDS} <= names
    assert {"status.schema.json", "holds.schema.json"} <= names


@pytest.mark.parametrize("path", sorted(generator.schemas()))
def test_each_schema_is_valid_draft_2020_12(path: str) -> None:
    schema = json.loads((DOCS / "schemas" / path).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_asyncapi_is_valid_against_the_official_asyncapi_3_schema() -> None:
    official = SPECS / "schemas" / "3.0.0-without-$id.json"
    assert official.is_file(), f"{official} is missing: `make specs` installs @asyncapi/specs with npm"
    schema = json.loads(official.read_text(encoding="utf-8"))
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    errors = sorted(Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]


def test_the_official_schema_check_can_fail() -> None:
    official = SPECS / "schemas" / "3.0.0-without-$id.json"
    schema = json.loads(official.read_text(encoding="utf-8"))
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    document["operations"]["send.reply"]["action"] = "publish"  # AsyncAPI 2's word
    assert not Draft7Validator(schema).is_valid(document)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_asyncapi_ref_resolves_and_every_schema_file_is_used() -> None:
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    files = set()
    for ref in _refs(document):
        if ref.startswith("#/"):
            assert _resolve(document, ref) is not None
        else:
            assert (DOCS / ref).is_file(), ref
            files.add(str((DOCS / ref).resolve().relative_to(DOCS / "schemas")))
    assert files == set(generator.schemas())


def test_operations_take_only_their_channels_messages() -> None:
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name
        if "reply" in operation:
            reply = operation["reply"]
            for message in reply["messages"]:
                assert message["$ref"].startswith(reply["channel"]["$ref"] + "/messages/"), name


CONTRACT = Contract(DOCS)


@pytest.mark.parametrize("kind", sorted(EVENT_EXAMPLES))
def test_documented_events_meet_their_schema(kind: str) -> None:
    payload = example_envelope(EVENT_EXAMPLES[kind]).to_json()
    assert CONTRACT.check(f"tagd/enc1/events/{kind}", payload) is None


def test_an_event_on_another_types_topic_or_with_a_missing_field_fails() -> None:
    removed = ItemRemoved(reader="pad", uid="E0040150A1B2C3D4", item_id=None)
    payload = example_envelope(removed).to_json()
    assert CONTRACT.check("tagd/enc1/events/item.removed", payload) is None
    assert CONTRACT.check("tagd/enc1/events/item.detected", payload) is not None
    value = json.loads(payload)
    del value["data"]["item_id"]  # every field of data is present, null when it does not apply
    assert CONTRACT.check("tagd/enc1/events/item.removed", json.dumps(value).encode()) is not None
    assert CONTRACT.check("tagd/enc1/events/no.such", payload) is not None
    assert CONTRACT.check("tagd/enc1/nowhere", b"{}") is not None


def test_documented_commands_replies_sim_and_holds_meet_their_schemas() -> None:
    for name, command in COMMAND_EXAMPLES.items():
        assert (
            CONTRACT.check(f"tagd/enc1/cmd/{name}", command.model_dump_json(exclude_none=True).encode())
            is None
        )
    for name, replies in (REPLY_EXAMPLES | SIM_REPLY_EXAMPLES).items():
        for reply in replies:
            assert CONTRACT.check("tagd/enc1/reply/r-1", reply.to_json()) is None, name
    for name, payload in SIM_EXAMPLES.items():
        assert (
            CONTRACT.check(f"tagd/enc1/sim/{name}", payload.model_dump_json(exclude_none=True).encode())
            is None
        )
    holds = HOLDS_EXAMPLE.model_dump_json(exclude_none=True).encode()
    assert CONTRACT.check("tagd/holds/123456782", holds) is None
    assert CONTRACT.check("tagd/holds/123456782", b"") is None


def test_the_integration_check_skips_inputs_but_not_unknown_topics_from_tagd() -> None:
    assert CONTRACT.check("tagd/enc1/cmd/wipe", b"junk", sent_by_tagd=True) is None
    assert CONTRACT.check("tagd/holds/1", b"junk", sent_by_tagd=True) is None
    assert CONTRACT.check("tagd/enc1/nowhere", b"{}", sent_by_tagd=True) is not None
    assert CONTRACT.check("tagd/enc1/status", b"{}", sent_by_tagd=True) is not None


def test_a_reply_with_nulls_or_unknown_fields_fails() -> None:
    assert CONTRACT.check("tagd/enc1/reply/r-1", b'{"request_id": "r-1", "ok": true}') is None
    assert (
        CONTRACT.check("tagd/enc1/reply/r-1", b'{"request_id": "r-1", "ok": true, "error": null}') is not None
    )
    assert CONTRACT.check("tagd/enc1/reply/r-1", b'{"ok": true, "colour": "red"}') is not None


def test_security_reply_always_has_results() -> None:
    """SecurityReply.results is always set, also on an error (the router builds the command's reply model)."""
    schema = generator.schemas()["reply/security.schema.json"]
    assert "results" in schema["required"]
    invalid = SecurityReply(request_id="r-1", ok=False, code="invalid", error="items: is required")
    assert json.loads(invalid.to_json())["results"] == []
    assert "results" not in json.loads(Reply(ok=False).to_json())


def test_status_online_and_offline_meet_the_schema() -> None:
    status = Status(state="online", role="encoder", library="central")
    assert CONTRACT.check("tagd/enc1/status", status.to_json()) is None
    assert CONTRACT.check("tagd/enc1/status", b'{"state": "offline"}') is not None


def test_a_config_valid_station_name_makes_valid_envelopes() -> None:
    for station in ("chuo.enc-1", "enc_1", "a" * 64):
        event = envelope(
            ItemRemoved(reader="reader", uid="E0040150A1B2C3D4"),
            station=station,
            library="central",
            event_id="0192f3a4-5b6c-7d8e-9f01-23456789abcd",
            time=example_envelope(ItemRemoved(reader="reader", uid="E0040150A1B2C3D4")).time,
        )
        assert CONTRACT.check(f"tagd/{station}/events/item.removed", event.to_json()) is None


_SHARED = {
    "base.py": set(Role),
    "pad.py": {Role.CHECKOUT, Role.CHECKIN},
    "securing.py": {Role.CHECKOUT, Role.CHECKIN},
}
_ROLE_MODULES = {
    Role.ENCODER: ["stations/encoder.py", "stations/encoder_steps.py"],
    Role.CHECKOUT: ["stations/checkout.py"],
    Role.GATE: ["stations/gate.py"],
    Role.CHECKIN: ["stations/checkin.py", "holds/trap.py"],
}


def _made_in(path: Path) -> set[str]:
    """The event types whose data classes `path` constructs."""
    by_class = {model.__name__: kind for kind, model in EVENT_TYPES.items()}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return {by_class[f.id] for f in calls if isinstance(f, ast.Name) and f.id in by_class}


def test_the_roles_table_says_which_role_reports_what_its_code_makes() -> None:
    """Each event a role's modules (and the shared ones it uses) construct is in its ROLES, and back."""
    daemon = ROOT / "daemon"
    made: dict[Role, set[str]] = {role: set() for role in Role}
    for role, modules in _ROLE_MODULES.items():
        for module in modules:
            made[role] |= _made_in(daemon / module)
    for module, roles in _SHARED.items():
        for role in roles:
            made[role] |= _made_in(daemon / "stations" / module)
    for module in ("mqtt/router.py", "sim_control.py"):
        for kind in _made_in(daemon / module):
            for role in Role:
                made[role].add(kind)
    for role in Role:  # the router reports holds.rejected, but only check-in stations take the holds feed
        if role is not Role.CHECKIN:
            made[role].discard("holds.rejected")
    for kind, model in EVENT_TYPES.items():
        assert set(model.ROLES) == {role for role in Role if kind in made[role]}, kind


@pytest.mark.parametrize(
    ("placed_at", "accepted"),
    [
        ("2026-11-01T10:00:00+09:00", True),
        ("2026-11-01T01:00:00Z", True),
        ("2026-11-01T10:00:00.5+09:00", True),
        ("2026-11-01T10:00:00", True),  # the library's local time ([holds] timezone)
        ("2026-11-01 10:00:00+09:00", False),
        ("2026-11-01T10:00:00+0900", False),
        ("2026-13-01T10:00:00Z", False),
        ("1 Nov 2026", False),
    ],
)
def test_placed_at_in_the_feed_is_rfc_3339_and_model_and_schema_agree(placed_at: str, accepted: bool) -> None:
    entry = {
        "hold_id": "H-1",
        "patron_ref": "p-1",
        "pickup_library": "central",
        "notify": "email",
        "placed_at": placed_at,
        "type": "single",
    }
    payload = json.dumps({"holds": [entry]}).encode()
    try:
        parse_holds(payload)
    except PayloadError:
        model_accepts = False
    else:
        model_accepts = True
    assert model_accepts is accepted
    schema_accepts = CONTRACT.check("tagd/holds/123456782", payload) is None
    assert schema_accepts is accepted or placed_at.startswith("2026-13")  # a pattern cannot know months


def test_members_with_a_wrong_check_digit_are_refused() -> None:
    entry = {
        "hold_id": "H-1",
        "patron_ref": "p-1",
        "pickup_library": "central",
        "notify": "email",
        "placed_at": "2026-11-01T10:00:00+09:00",
        "type": "group",
        "group_id": "G-1",
        "members": ["100000017", "100000018"],
    }
    payload = json.dumps({"holds": [entry]}).encode()
    with pytest.raises(PayloadError, match=r"holds\[0\]\.members\[1\]: .*check digit"):
        parse_holds(payload, scheme=nw7.DEFAULT_SCHEME)
    with pytest.raises(PayloadError, match="check digit"):
        checked_item_id("100000018", nw7.DEFAULT_SCHEME)
    assert checked_item_id("100000017", nw7.DEFAULT_SCHEME) == "100000017"


@pytest.mark.parametrize(
    ("payload", "found"),
    [
        (b'{"request_id": "r-1", "items": [', "r-1"),
        (b' \n{ "request_id" : "a.b:c-d_1" }', "a.b:c-d_1"),
        (b'{"items": [], "request_id": "r-1"}', None),  # not at its head
        (b'{"request_id": "r 1", "x": 1}', None),  # not a usable request_id
        (b'{"request_id": "' + b"r" * 129 + b'"}', None),
        (b'["request_id", "r-1"]', None),
        (b"", None),
    ],
)
def test_a_request_id_is_read_from_the_head_of_an_unparsable_payload(payload: bytes, found: str | None):
    assert request_id_at_head(payload) == found
