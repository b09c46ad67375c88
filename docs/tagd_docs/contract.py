"""Checks an MQTT message against the published contract: docs/asyncapi.yaml and docs/schemas/.

The topic is matched against the channel addresses of the AsyncAPI document (any topic prefix), and the
payload must be valid against one of that channel's message schemas. A topic no channel describes is an
error too: every message has a place in the contract. The integration tests run every message their
subscribers receive through `Contract.check`.
"""

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker

DOCS = Path(__file__).resolve().parent.parent
_RETAINED_CLEAR = {"holds", "status"}
"""Channels whose empty (retained-clearing) payload is part of the contract."""


class Contract:
    def __init__(self, docs: Path = DOCS) -> None:
        self.docs = docs

    @cached_property
    def document(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load((self.docs / "asyncapi.yaml").read_text(encoding="utf-8"))
        return loaded

    @cached_property
    def received(self) -> set[str]:
        """The channels tagd receives on (commands, sim/, the holds feed): what others publish."""
        operations = self.document["operations"].values()
        return {op["channel"]["$ref"].rsplit("/", 1)[-1] for op in operations if op["action"] == "receive"}

    @cached_property
    def _inputs(self) -> list[re.Pattern[str]]:
        """The topics tagd receives on, any name in the last level (cmd/+, sim/+, holds/+)."""
        out = []
        for channel_id in self.received:
            address = str(self.document["channels"][channel_id]["address"]).split("/", 1)[1]
            levels = address.split("/")[:-1]
            out.append(re.compile("/".join(["[^/]+", *(_level(level) for level in levels), "[^/]+"])))
        return out

    @cached_property
    def _channels(self) -> list[tuple[str, re.Pattern[str], list[Draft202012Validator]]]:
        out = []
        messages = self.document["components"]["messages"]
        for channel_id, channel in self.document["channels"].items():
            address = str(channel["address"]).split("/", 1)[1]  # any topic prefix
            pattern = "/".join(["[^/]+", *(_level(level) for level in address.split("/"))])
            validators = []
            for ref in channel["messages"].values():
                message = messages[ref["$ref"].rsplit("/", 1)[-1]]
                path = self.docs / message["payload"]["schema"]["$ref"]
                schema = json.loads(path.read_text(encoding="utf-8"))
                validators.append(Draft202012Validator(schema, format_checker=FormatChecker()))
            out.append((channel_id, re.compile(pattern), validators))
        return out

    def check(self, topic: str, payload: bytes, *, sent_by_tagd: bool = False) -> str | None:
        """None when the message meets the contract, else what is wrong with it. With `sent_by_tagd`,
        a message on a channel tagd receives on is not checked (a test's own, possibly hostile, input)."""
        if sent_by_tagd and any(family.fullmatch(topic) for family in self._inputs):
            return None
        for channel_id, pattern, validators in self._channels:
            if not pattern.fullmatch(topic):
                continue
            if not payload and channel_id in _RETAINED_CLEAR:
                return None
            try:
                value = json.loads(payload)
            except ValueError as exc:
                return f"{topic}: not JSON ({exc})"
            errors = [list(validator.iter_errors(value)) for validator in validators]
            if any(not found for found in errors):
                return None
            best = min(errors, key=len)
            shown = "; ".join(
                f"{'/'.join(map(str, e.absolute_path)) or 'payload'}: {e.message}" for e in best[:3]
            )
            return f"{topic}: not valid against channel {channel_id}: {shown}"
        return f"{topic}: no channel of docs/asyncapi.yaml describes this topic"


def _level(level: str) -> str:
    """One level of a channel address as a regex: a {parameter} is any name."""
    return "[^/]+" if level.startswith("{") else re.escape(level)
