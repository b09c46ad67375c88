"""docs/events.md, generated from the models by `make docs` (`python -m tagd_docs.events`, docs/ on the path).

The field tables come from the models' JSON schemas and the examples are model instances, so the page
cannot drift from what tagd publishes and accepts; a test fails when the committed page is stale.
"""

import json
import sys
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from tagd.protocols import events
from tagd.protocols.commands import COMMANDS, SIM_COMMANDS, HoldsFeed, Reply, ReplyCode
from tagd.protocols.display import TEMPLATES, DisplayCode, DisplayMessage, DisplayState
from tagd.protocols.events import EVENT_TYPES, REJECT_REASON_TEXTS, Envelope, EventData, ReaderStatus, Status
from tagd.protocols.payload_types import SECURITY_FAILURE_TEXTS
from tagd_docs.examples import (
    COMMAND_EXAMPLES,
    EVENT_EXAMPLES,
    HOLDS_EXAMPLE,
    REPLY_EXAMPLES,
    SIM_EXAMPLES,
    SIM_REPLY_EXAMPLES,
)

EXAMPLE_ID = "0192f3a4-5b6c-7d8e-9f01-23456789abcd"
EXAMPLE_TIME = datetime(2025, 4, 1, 1, 23, 45, 678000, tzinfo=UTC)

_TOPICS = """\
| topic | direction | retained | QoS | payload |
|---|---|---|---|---|
| `tagd/{station}/status` | tagd → | yes | 1 | [status](#status); `offline` is also the connection's will |
| `tagd/{station}/events/{type}` | tagd → | no | 1 | a CloudEvents 1.0 [envelope](#the-envelope) |
| `tagd/{station}/cmd/{name}` | → tagd | no | 1 | a [command](#commands) |
| `tagd/{station}/reply/{request_id}` | tagd → | no | 1 | its [reply](#replies) |
| `tagd/holds/{item_id}` | circulation → | yes | 1 | the [holds feed](#holds-feed); empty: cleared |
| `tagd/{station}/sim/{place\\|remove\\|scan\\|card}` | → tagd | no | 1 | [simulator](#simulator-control) |
| `tagd/{station}/display` | tagd → | yes | 1 | what the desk shows now: [display](#display) |

`tagd` is the default topic prefix (`mqtt.topic_prefix`). Each station has its own MQTT connection, so the
broker publishes a station's `offline` will when its process dies; a station that stops cleanly publishes
`offline` itself.
"""

_DELIVERY = """\
Every event is stored in tagd's SQLite outbox before it is published, and deleted only after the broker's
PUBACK. Delivery is **at least once**: after a broken connection tagd re-sends, with the same `id`, what
was not acknowledged and also what was acknowledged in the last seconds before the break (a broker that
crashed may have lost it; `mqtt.replay_window_seconds`, 5 by default). A consumer therefore sees some
events twice and must de-duplicate on `id`. Events of a station are published in the order they happened;
a re-send after a reconnection may follow a later event already delivered. `id` is a UUIDv7: ids sort in
the order their station made them.

With MQTT 5 the PUBLISH carries the Content Type `application/cloudevents+json; charset=utf-8` (the
CloudEvents MQTT binding, structured mode); with MQTT 3.1.1 it is implied. Every field of `data` is present
in the JSON, `null` when it does not apply; `subject` is left out when the event has no item or tag.
"""


def _ref(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return dict(defs[schema["$ref"].rsplit("/", 1)[-1]])
    return schema


_FORMATS = {"date-time": "RFC 3339 date-time", "date": "date (YYYY-MM-DD)"}


def _type(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    """A JSON schema as a reader of the docs says it: "string `^[0-9]{9}$` or null"."""
    if "$ref" in schema and _ref(schema, defs).get("properties"):
        return f"`{schema['$ref'].rsplit('/', 1)[-1]}` (below)"
    schema = _ref(schema, defs)
    if "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        text = " or ".join(_type(b, defs) for b in branches)
        return text + (" or null" if len(branches) < len(schema["anyOf"]) else "")
    if "enum" in schema:
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"])
    return _plain_type(schema, defs)


def _plain_type(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    kind = schema.get("type", "any")
    text = str(kind)
    if "const" in schema:
        text = f"`{json.dumps(schema['const'])}`"
    elif kind == "array":
        text = f"list of {_type(schema.get('items', {}), defs)}" + _bounds(schema, "minItems", "maxItems")
    elif kind == "object":
        extra = schema.get("additionalProperties")
        text = f"object of name → {_type(extra, defs)}" if isinstance(extra, dict) else "object"
    elif kind == "string":
        text = _FORMATS.get(schema.get("format", ""), "string")
        text += f" `{schema['pattern']}`" if "pattern" in schema else ""
    elif kind in ("integer", "number"):
        text += _bounds(schema, "minimum", "maximum")
    return text


def _bounds(schema: dict[str, Any], low: str, high: str) -> str:
    parts = ([f"≥ {schema[low]}"] if low in schema else []) + (
        [f"≤ {schema[high]}"] if high in schema else []
    )
    return f" ({', '.join(parts)})" if parts else ""


def _description(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    if "description" in schema:
        return str(schema["description"])
    for branch in [*schema.get("anyOf", []), schema.get("items", {})]:
        if "description" in branch:
            return str(branch["description"])
    target = _ref(schema, defs)
    return str(target.get("description", "")) if target is not schema else ""


def fields_table(model: type[BaseModel], *, unset: str | None = None) -> str:
    """Fields of a payload tagd accepts (required, or the default) or, with `unset`, of one it sends:
    then the third column says whether the field always has a value, else whether it is null or left out.
    Nested objects (a reply's results, a status's readers) follow in their own tables."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    tables = [_table(schema, defs, unset)]
    for name, nested in defs.items():
        if nested.get("properties"):
            tables += [f"Each `{name}`:", _table(nested, defs, unset)]
    return "\n\n".join(tables)


def _table(schema: dict[str, Any], defs: dict[str, Any], unset: str | None) -> str:
    required = set(schema.get("required", []))
    head = "required" if unset is None else "always set"
    rows = [f"| field | type | {head} | description |", "|---|---|---|---|"]
    for name, prop in schema["properties"].items():
        if unset is not None:
            need = f"no ({unset} when unset)" if _nullable(prop) else "yes"
        else:
            need = "yes" if name in required else f"no (default `{json.dumps(prop.get('default'))}`)"
        cells = [f"`{name}`", _type(prop, defs), need, _description(prop, defs)]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


def _nullable(schema: dict[str, Any]) -> bool:
    return any(branch.get("type") == "null" for branch in schema.get("anyOf", []))


def _json(value: BaseModel | dict[str, Any], *, exclude_none: bool = False) -> str:
    data = value if isinstance(value, dict) else value.model_dump(mode="json", exclude_none=exclude_none)
    return "```json\n" + json.dumps(data, indent=2, ensure_ascii=False) + "\n```"


def example_envelope(data: EventData) -> Envelope:
    return events.envelope(data, station="enc1", library="central", event_id=EXAMPLE_ID, time=EXAMPLE_TIME)


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


_DEVICES = (
    "A station's devices have fixed names, used in `reader`/`scanner` fields and in the status's `readers`:"
    " `reader` (the RFID reader: the pad, or the gate's antennas), `scanner` (the barcode scanner) and"
    " `card_reader` (the patron card reader)."
)


def _roles_table() -> list[str]:
    roles = list(events.Role)
    out = ["### Which role reports which event", "", _DEVICES, ""]
    out += ["| type | " + " | ".join(roles) + " |", "|---|" + "---|" * len(roles)]
    for kind, model in EVENT_TYPES.items():
        cells = ["yes" if role in model.ROLES else "" for role in roles]
        out.append(f"| `{kind}` | " + " | ".join(cells) + " |")
    return out


_SECURITY_CODES = (
    "`security.failed.code` and the `code` of each failed item in a cmd/security reply are one of (the"
    " `text`/`error` beside it says the same for people, with what the tag or reader answered):"
)


def _events() -> list[str]:
    out = ["## Events", "", "| type | when |", "|---|---|"]
    out += [
        f"| [`{kind}`](#{kind.replace('.', '')}) | {_doc(model)} |" for kind, model in EVENT_TYPES.items()
    ]
    out += ["", *_roles_table()]
    for kind, model in EVENT_TYPES.items():
        topic = f"Topic `tagd/{{station}}/events/{kind}`, type `{events.TYPE_PREFIX}{kind}`."
        example = _json(example_envelope(EVENT_EXAMPLES[kind]))
        out += [
            "",
            f"### {kind}",
            "",
            _doc(model),
            "",
            topic,
            "",
            fields_table(model, unset="null"),
            "",
            example,
        ]
    out += ["", "### Security failure codes", "", _SECURITY_CODES, ""]
    out += ["| code | meaning |", "|---|---|"]
    out += [f"| `{code}` | {text} |" for code, text in SECURITY_FAILURE_TEXTS.items()]
    out += ["", "### Reject reasons", "", "`item.encode_rejected.reason` is one of:", ""]
    out += ["| reason | meaning |", "|---|---|"]
    out += [f"| `{reason}` | {text} |" for reason, text in REJECT_REASON_TEXTS.items()]
    return out


_STRICT = (
    "Commands are validated strictly: JSON types as documented, no unknown fields, item ids with a correct"
    " check digit (the installation's NW-7 scheme). Every command gets a reply, published again after a"
    " reconnection if the broker had not acknowledged it (de-duplicate on `request_id`). tagd connects with"
    " a clean start: a command published while the station is offline (its retained status says so) is not"
    " kept by the broker and never runs late; without a reply, send it again once the status is `online`."
)
_UNANSWERABLE = (
    "A payload that cannot be answered (no usable `request_id`) is reported as a `command.rejected` event"
    " instead. One that cannot be parsed at all (over 64 KiB, nested too deeply) is still answered when"
    " `request_id` is its first key. Error texts name the field and the problem, e.g.:"
)


def _commands() -> list[str]:
    out = ["## Commands", "", _STRICT]
    for name, model in COMMANDS.items():
        out += ["", f"### cmd/{name}", "", _doc(model), "", f"Topic `tagd/{{station}}/cmd/{name}`.", ""]
        out += [fields_table(model), "", _json(COMMAND_EXAMPLES[name], exclude_none=True), ""]
        out += [f"Reply ({model.REPLY.__name__}):", "", fields_table(model.REPLY, unset="left out")]
        out += ["", *[_json(reply, exclude_none=True) for reply in REPLY_EXAMPLES[name]]]
    out += [
        "",
        "## Replies",
        "",
        _doc(Reply),
        "",
        fields_table(Reply, unset="left out"),
        "",
        "`code` is one of:",
        "",
    ]
    out += ["| code | meaning |", "|---|---|", *[f"| `{code}` | {_CODES[code]} |" for code in ReplyCode]]
    out += ["", _UNANSWERABLE, "", _json(REPLY_EXAMPLES["invalid"][0], exclude_none=True)]
    return out


_CODES = {
    ReplyCode.INVALID: "the payload is not valid; `error` names the field and the problem",
    ReplyCode.UNKNOWN_COMMAND: "no such command (or simulator action) at this station",
    ReplyCode.REJECTED: "the station refused the work; the event it reported says why",
    ReplyCode.BUSY: "too many commands are running or queued; try again",
    ReplyCode.OUTBOX_FULL: "the station cannot report, so it takes no work (see `outbox_full` in status)",
    ReplyCode.NOT_SIMULATED: "a `sim/` message to a station whose hardware is real",
    ReplyCode.INTERNAL_ERROR: "a fault in tagd; it is logged and the station goes on",
}


_SIM = (
    "Only stations on `sim:` drivers answer; with a `request_id` a reply comes as for commands, without one"
    " an error is reported as `command.rejected`."
)


def _rest() -> list[str]:
    out = ["## Simulator control", "", _SIM]
    for name, model in SIM_COMMANDS.items():
        out += [
            "",
            f"### sim/{name}",
            "",
            _doc(model),
            "",
            fields_table(model),
            "",
            _json(SIM_EXAMPLES[name]),
        ]
        if model.REPLY is not Reply:
            out += ["", f"Reply ({model.REPLY.__name__}): {_doc(model.REPLY)}", ""]
            out += [fields_table(model.REPLY, unset="left out")]
            out += ["", *[_json(reply, exclude_none=True) for reply in SIM_REPLY_EXAMPLES.get(name, [])]]
    out += ["", "## Holds feed", "", _doc(HoldsFeed), "", fields_table(HoldsFeed)]
    out += ["", _json(HOLDS_EXAMPLE, exclude_none=True)]
    out += ["", "An invalid message is reported as `holds.rejected` and the item's previous holds stay."]
    online = Status(state="online", role=events.Role.ENCODER, library="central", readers=_READERS)
    unknown = {
        name: reader.model_copy(update={"state": events.ReaderState.UNKNOWN})
        for name, reader in _READERS.items()
    }
    offline = online.model_copy(update={"state": "offline", "readers": unknown})
    out += ["", "## Status", "", _doc(Status), "", fields_table(Status, unset="null")]
    out += ["", _json(online), "", _json(offline)]
    out += ["", "## Display", "", _doc(DisplayMessage), "", fields_table(DisplayMessage, unset="null")]
    out += ["", "The codes, their level and their English text (Japanese in the gettext catalogs):", ""]
    out += ["| code | level | English |", "|---|---|---|"]
    out += [f"| `{code}` | {DisplayState.of(code).level} | {TEMPLATES[code]} |" for code in DisplayCode]
    item = "123456782"
    shown = DisplayState.of(DisplayCode.PUT_TAG, item_id=item, title="坊っちゃん", product="U-TAG-L301")
    text = "123456782: 透明タグ U-TAG-L301 を1枚パッドに置いてください"
    out += ["", _json(DisplayMessage.of(shown, text, "ja", EXAMPLE_TIME))]
    return out


_READERS = {
    "reader": ReaderStatus(url="sim:pad", state=events.ReaderState.CONNECTED),
    "scanner": ReaderStatus(url="scanner:sim:desk", state=events.ReaderState.CONNECTED),
}


def render() -> str:
    head = [
        "# tagd events and commands",
        "",
        "<!-- Generated by `make docs` (docs/tagd_docs/events.py) from tagd.protocols.events",
        "     and tagd.protocols.commands. Do not edit by hand: a test compares it with the models. -->",
        "",
        "## Topics",
        "",
        _TOPICS,
        "## The envelope",
        "",
        _doc(Envelope),
        "",
        fields_table(Envelope, unset="left out"),
        "",
        _DELIVERY,
    ]
    return "\n".join([*head, *_events(), "", *_commands(), "", *_rest()]) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
