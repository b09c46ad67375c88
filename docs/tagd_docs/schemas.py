"""docs/schemas/ (JSON Schema draft 2020-12, one file per message) and docs/asyncapi.yaml (AsyncAPI 3.0),
generated from the models by `make docs` (`python -m tagd_docs.schemas DOCS_DIR`, docs/ on the path).

Everything is read from the models' registries: every event in `EVENT_TYPES`, every command in `COMMANDS`
with its `REPLY`, every simulator action in `SIM_COMMANDS`, and the topics in `TOPICS` below (status, the
display, the holds feed; a new topic is one more line there). A new event, command or topic therefore gets
its schema, its channel and its message without touching the rest. A test regenerates both and compares them
with the committed files, and validates the AsyncAPI document against the official AsyncAPI 3.0 schema.

What tagd sends is described as it is serialised: an event's `data` has every field (null when it does not
apply); a reply leaves out what is unset, so a reply schema has no nulls. What tagd accepts is described as
it is validated (commands, sim/ actions, the holds feed).
"""

import json
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from tagd.protocols import events
from tagd.protocols.commands import COMMANDS, SIM_COMMANDS, HoldsFeed, Reply
from tagd.protocols.display import DisplayMessage
from tagd.protocols.events import EVENT_TYPES, Envelope, EventData, Status

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"
CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"
JSON = "application/json"
PREFIX = "tagd"


@dataclass(frozen=True)
class Topic:
    """A topic with a single payload model. `direction` is tagd's: it sends or it receives."""

    name: str
    address: str
    model: type[BaseModel]
    direction: Literal["send", "receive"]
    retain: bool
    summary: str


TOPICS: tuple[Topic, ...] = (
    Topic(
        "status",
        "{station}/status",
        Status,
        "send",
        retain=True,
        summary="The station's retained status; `offline` is also the will the broker publishes.",
    ),
    Topic(
        "display",
        "{station}/display",
        DisplayMessage,
        "send",
        retain=True,
        summary="What the station's staff see now: a code, its parameters and level, and the text rendered"
        " in the station's language (retained: the latest only).",
    ),
    Topic(
        "holds",
        "holds/{item_id}",
        HoldsFeed,
        "receive",
        retain=True,
        summary="The retained holds feed of one item (an empty payload clears it).",
    ),
)
"""The topics whose payload is one model, besides events, commands, replies and sim/ actions."""

_PARAMETERS = {
    "station": "the station's name (`[[stations]] name`: letters, digits, '_', '.', '-')",
    "request_id": "the request_id of the command answered",
    "item_id": "the item's registration number, with its check digit (9 digits)",
}


# -- JSON Schemas -------------------------------------------------------------------------------------------


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _file(title: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    schema.pop("title", None)
    schema.pop("description", None)
    return {"$schema": DIALECT, "title": title, "description": description, **schema}


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A property that is left out when unset, never null: its schema without the null branch."""
    prop = {key: value for key, value in prop.items() if key != "default" or value is not None}
    branches = prop.get("anyOf")
    if branches is None:
        return prop
    kept = [branch for branch in branches if branch.get("type") != "null"]
    rest = {key: value for key, value in prop.items() if key != "anyOf"}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _without_nulls(schema: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """The schema of `model` as `exclude_none` serialises it (replies): unset fields are left out."""
    props = schema.get("properties", {})
    required = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        if field.is_required() or field.get_default(call_default_factory=True) is not None:
            required.append(key)
        props[key] = _not_null(props[key])
    schema["required"] = required
    return schema


def _all_present(schema: dict[str, Any]) -> dict[str, Any]:
    """Every field is in the JSON (null when it does not apply): all are required."""
    schema["required"] = list(schema.get("properties", {}))
    return schema


def _reply_schema(model: type[Reply]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="serialization")
    _without_nulls(schema, model)
    for name, nested in schema.get("$defs", {}).items():
        found = _nested_model(model, name)
        if found is not None and nested.get("properties"):
            _without_nulls(nested, found)
    return schema


def _nested_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    for field in model.model_fields.values():
        for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg.__name__ == name:
                return arg
    return None


def event_schema(kind: str, model: type[EventData]) -> dict[str, Any]:
    """The whole CloudEvents envelope of events of `kind`, with that type's `data`."""
    envelope = Envelope.model_json_schema()
    data = model.model_json_schema(mode="serialization")
    defs = {**envelope.pop("$defs", {}), **data.pop("$defs", {})}
    defs.pop("EventData", None)
    props = envelope["properties"]
    props["type"] = {"const": events.TYPE_PREFIX + kind, "description": props["type"]["description"]}
    props["subject"] = _not_null(props["subject"])
    props["data"] = _all_present(data)
    envelope["required"] = [name for name in props if name != "subject"]
    schema = _file(f"tagd event {kind}", _doc(model), envelope)
    if defs:
        schema["$defs"] = defs
    return schema


def schemas() -> dict[str, dict[str, Any]]:
    """Every schema file, by its path under docs/schemas/."""
    out: dict[str, dict[str, Any]] = {}
    for kind, model in EVENT_TYPES.items():
        out[f"events/{kind}.schema.json"] = event_schema(kind, model)
    for name, command in COMMANDS.items():
        out[f"cmd/{name}.schema.json"] = _file(f"tagd cmd/{name}", _doc(command), command.model_json_schema())
        reply = command.REPLY
        out[f"reply/{name}.schema.json"] = _file(
            f"tagd reply to cmd/{name}", _doc(Reply), _reply_schema(reply)
        )
    for name, action in SIM_COMMANDS.items():
        out[f"sim/{name}.schema.json"] = _file(f"tagd sim/{name}", _doc(action), action.model_json_schema())
        title = f"tagd reply to sim/{name}"
        out[f"reply/sim-{name}.schema.json"] = _file(title, _doc(Reply), _reply_schema(action.REPLY))
    out["reply/error.schema.json"] = _file(
        "tagd reply to an unknown command", _doc(Reply), _reply_schema(Reply)
    )
    for topic in TOPICS:
        mode: Literal["serialization", "validation"] = (
            "serialization" if topic.direction == "send" else "validation"
        )
        schema = topic.model.model_json_schema(mode=mode)
        if topic.direction == "send":
            _all_present(schema)
        out[f"{topic.name}.schema.json"] = _file(f"tagd {topic.name}", _doc(topic.model), schema)
    return out


# -- AsyncAPI -----------------------------------------------------------------------------------------------


def _message(name: str, title: str, summary: str, schema_file: str, content_type: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": content_type,
        "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": {"$ref": f"./schemas/{schema_file}"}},
    }


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _params(address: str) -> dict[str, Any]:
    return {name: _ref("components", "parameters", name) for name in _PARAMETERS if f"{{{name}}}" in address}


class _Doc:
    def __init__(self) -> None:
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}

    def channel(self, channel_id: str, address: str, messages: dict[str, str], description: str) -> None:
        """A channel whose messages are `{key in channel: message id in components}`."""
        channel: dict[str, Any] = {"address": f"{PREFIX}/{address}", "description": description}
        channel["messages"] = {
            key: _ref("components", "messages", message) for key, message in messages.items()
        }
        params = _params(address)
        if params:
            channel["parameters"] = params
        self.channels[channel_id] = channel

    def operation(
        self,
        operation_id: str,
        action: str,
        channel_id: str,
        *,
        retain: bool,
        summary: str,
        reply: tuple[str, list[str]] | None = None,
    ) -> None:
        channel = self.channels[channel_id]
        operation: dict[str, Any] = {
            "action": action,
            "channel": _ref("channels", channel_id),
            "summary": summary,
            "messages": [_ref("channels", channel_id, "messages", key) for key in channel["messages"]],
            "bindings": {"mqtt": {"qos": 1, "retain": retain, "bindingVersion": "0.2.0"}},
        }
        if reply is not None:
            reply_channel, keys = reply
            operation["reply"] = {
                "channel": _ref("channels", reply_channel),
                "messages": [_ref("channels", reply_channel, "messages", key) for key in keys],
            }
        self.operations[operation_id] = operation


def asyncapi(version: str) -> dict[str, Any]:
    doc = _Doc()
    for kind, model in EVENT_TYPES.items():
        message_id = f"event.{kind}"
        doc.messages[message_id] = _message(
            kind, f"event {kind}", _doc(model), f"events/{kind}.schema.json", CLOUDEVENTS_JSON
        )
        doc.channel(message_id, f"{{station}}/events/{kind}", {kind: message_id}, _doc(model))
        doc.operation(f"send.{message_id}", "send", message_id, retain=False, summary=_doc(model))

    replies: dict[str, str] = {"error": "reply.error"}
    doc.messages["reply.error"] = _message(
        "error", "reply to an unknown command", _doc(Reply), "reply/error.schema.json", JSON
    )
    for name in COMMANDS:
        replies[name] = f"reply.{name}"
        doc.messages[f"reply.{name}"] = _message(
            name, f"reply to cmd/{name}", _doc(Reply), f"reply/{name}.schema.json", JSON
        )
    for name in SIM_COMMANDS:
        replies[f"sim-{name}"] = f"reply.sim-{name}"
        doc.messages[f"reply.sim-{name}"] = _message(
            f"sim-{name}", f"reply to sim/{name}", _doc(Reply), f"reply/sim-{name}.schema.json", JSON
        )
    doc.channel("reply", "{station}/reply/{request_id}", replies, _doc(Reply))
    doc.operation("send.reply", "send", "reply", retain=False, summary="Every command's reply.")

    for kind, table in (("cmd", COMMANDS), ("sim", SIM_COMMANDS)):
        for name, request in table.items():
            message_id = f"{kind}.{name}"
            doc.messages[message_id] = _message(
                name, f"{kind}/{name}", _doc(request), f"{kind}/{name}.schema.json", JSON
            )
            doc.channel(message_id, f"{{station}}/{kind}/{name}", {name: message_id}, _doc(request))
            reply_key = name if kind == "cmd" else f"sim-{name}"
            doc.operation(
                f"receive.{message_id}",
                "receive",
                message_id,
                retain=False,
                summary=_doc(request),
                reply=("reply", [reply_key, "error"]),
            )

    for topic in TOPICS:
        doc.messages[topic.name] = _message(
            topic.name, topic.name, topic.summary, f"{topic.name}.schema.json", JSON
        )
        doc.channel(topic.name, topic.address, {topic.name: topic.name}, topic.summary)
        doc.operation(
            f"{topic.direction}.{topic.name}",
            topic.direction,
            topic.name,
            retain=topic.retain,
            summary=topic.summary,
        )

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "tagd",
            "version": version,
            "description": (
                "The MQTT contract of tagd, the RFID station daemon: events (CloudEvents 1.0, structured"
                " JSON), the retained status, commands and their replies, simulator control and the holds"
                " feed. Generated from the models by `make docs`; docs/events.md says it in prose. The"
                " operations are tagd's: it sends events, status and replies and receives the rest."
                f" `{PREFIX}` is the default topic prefix (`mqtt.topic_prefix`)."
            ),
        },
        "defaultContentType": JSON,
        "servers": {
            "broker": {
                "host": "localhost:1883",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": "The library's MQTT broker (MQTT 5 or 3.1.1); QoS 1 throughout.",
            }
        },
        "channels": doc.channels,
        "operations": doc.operations,
        "components": {
            "parameters": {name: {"description": text} for name, text in _PARAMETERS.items()},
            "messages": doc.messages,
        },
    }


# -- files --------------------------------------------------------------------------------------------------


def _version() -> str:
    return metadata.version("tagd")


def render() -> dict[str, str]:
    """Every generated file's text, by its path under docs/."""
    out = {
        f"schemas/{path}": json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        for path, schema in sorted(schemas().items())
    }
    head = "# Generated by `make docs` (docs/tagd_docs/schemas.py) from the models. Do not edit by hand.\n"
    body = yaml.safe_dump(asyncapi(_version()), sort_keys=False, allow_unicode=True, width=110)
    out["asyncapi.yaml"] = head + body
    return out


def write(docs: Path) -> None:
    """Write every generated file under `docs`, and remove schema files no model makes any more."""
    files = render()
    for stale in (docs / "schemas").rglob("*.schema.json"):
        if str(stale.relative_to(docs)) not in files:
            stale.unlink()
    for path, text in files.items():
        target = docs / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    write(Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
