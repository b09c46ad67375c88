"""Hostile MQTT payloads: every command, simulator and holds-feed payload gives its model or a PayloadError
that names the problem, and the router answers each message exactly once (a reply or a rejected event).

Generated payloads: arbitrary bytes, valid payloads with one field given a wrong type or a wrong item id,
unknown or missing fields, invalid UTF-8, numbers too long to convert, deep nesting and oversized bodies.
"""

import asyncio
import json
import random
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from tagd.daemon.mqtt.router import Router, Topics
from tagd.protocols.commands import (
    COMMANDS,
    MAX_PAYLOAD,
    SIM_COMMANDS,
    Command,
    HoldsFeed,
    PayloadError,
    Reply,
    Request,
    parse_holds,
    parse_payload,
)
from tagd.protocols.events import EventData
from tagd.protocols.nw7 import SCHEMES

ITEM = "123456782"  # m10w21
UID = "E0040150A1B2C3D4"
HOLD = {
    "hold_id": "H1",
    "patron_ref": "p-1",
    "pickup_library": "central",
    "notify": "email",
    "placed_at": "2025-03-20T09:15:00+09:00",
    "type": "single",
}
VALID: dict[type[Request] | type[HoldsFeed], dict[str, Any]] = {
    COMMANDS["encode"]: {"request_id": "r-1", "item_id": ITEM, "call_number": "E エ", "force": False},
    COMMANDS["security"]: {"request_id": "r-2", "items": [ITEM, UID], "secured": True},
    SIM_COMMANDS["place"]: {"request_id": "s-1", "profile": "U-TAG-L301", "memory_hex": "00ff"},
    SIM_COMMANDS["remove"]: {"request_id": "s-2", "uid": UID},
    SIM_COMMANDS["scan"]: {"raw": "A12345678B"},
    SIM_COMMANDS["card"]: {"request_id": "s-3", "id": "P-0001"},
    HoldsFeed: {"holds": [HOLD | {"type": "set", "set_id": "S1", "position": 2}]},
}
MODELS = list(VALID)
T = TypeVar("T")
LONG = "long number"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

FULL_WIDTH = {ord(char): ord(char) + 0xFEE0 for char in "0123456789"}
WRONG_ITEM_IDS = ["123456789", "12345678", "1234567820", ITEM.translate(FULL_WIDTH), "12345678\uff12"]
WRONG_ITEM_IDS += ["E0040150a1b2c3d4", "E00X12", ""]
TEXT_RANGES = [(0x20, 0x7F), (0x00, 0x20), (0x3000, 0x3100), (0xD800, 0xE000), (0x80, 0x110000)]
FLOATS = [float("nan"), float("inf"), -float("inf"), -0.0, 1e308, 5e-324, 0.5]
KINDS = [*["damaged"] * 4, "any_json", "bytes", "invalid_utf8", "cut", "nested", "long_number", "huge"]
seeds = st.integers(0, 2**64 - 1).map(random.Random)
"""A seeded generator, not strategies: at 100,000 examples, drawing every value would be most of the cost."""


def random_text(rng: random.Random, size: int) -> str:
    """ASCII, controls, kana, lone surrogates (JSON writes them as \\udXXX escapes) or anything."""
    return "".join(chr(rng.randrange(*rng.choice(TEXT_RANGES))) for _ in range(rng.randrange(size + 1)))


def wrong_item_id(rng: random.Random) -> str:
    match rng.randrange(3):
        case 0:
            return rng.choice(WRONG_ITEM_IDS)
        case 1:
            return "".join(rng.choices("0123456789", k=rng.randrange(7, 12)))
        case _:
            return "E0" + "".join(rng.choices("0123456789ABCDEFabcdef", k=rng.randrange(13, 16)))


def json_value(rng: random.Random, depth: int = 0) -> object:  # noqa: PLR0911 - a return per kind
    """Any JSON value, with wrong item ids among the strings; arrays and objects nest up to 4 deep."""
    match rng.randrange(9 if depth < 4 else 7):
        case 0:
            return rng.choice([None, True, False])
        case 1:
            return rng.choice([rng.randrange(-(2**70), 2**70), rng.randrange(-3, 300)])
        case 2:
            return rng.choice([*FLOATS, rng.uniform(-1e6, 1e6)])
        case 3:
            return random_text(rng, 40)
        case 4 | 5:
            return wrong_item_id(rng)
        case 6:
            return rng.choice(list(VALID.values()))
        case 7:
            return [json_value(rng, depth + 1) for _ in range(rng.randrange(6))]
        case _:
            return {random_text(rng, 12): json_value(rng, depth + 1) for _ in range(rng.randrange(6))}


def dumps(value: object) -> bytes:
    """Python's JSON, which writes NaN, Infinity and lone surrogates (as \\udXXX escapes) as they are."""
    return json.dumps(value).encode()


def damaged_object(rng: random.Random, model: type) -> bytes:
    """The model's valid payload with one field wrong, gone, or added."""
    value = dict(VALID[model])
    key = rng.choice(sorted({*value, *model.model_fields})) if rng.random() < 0.8 else random_text(rng, 12)
    match rng.randrange(4):
        case 0:
            value[key] = json_value(rng)
        case 1:
            value.pop(key, None)
        case 2:
            value[key] = wrong_item_id(rng) if rng.random() < 0.5 else [wrong_item_id(rng), ITEM]
        case _:  # more digits than int() converts by default (4300)
            value[key] = LONG
            return dumps(value).replace(dumps(LONG), b"9" * rng.randrange(4200, 4401))
    return dumps(value)


def hostile_payload(rng: random.Random, model: type) -> bytes:  # noqa: PLR0911 - a return per kind
    valid = dumps(VALID[model])
    match rng.choice(KINDS):
        case "damaged":
            return damaged_object(rng, model)
        case "any_json":
            return dumps(json_value(rng))
        case "bytes":
            return rng.randbytes(rng.randrange(300))
        case "invalid_utf8":
            at = rng.randrange(len(valid) + 1)
            return valid[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]) + valid[at:]
        case "cut":
            return valid[: rng.randrange(len(valid))]
        case "nested":
            depth = rng.randrange(1, 5001)
            opener, closer = rng.choice([("[", "]"), ('{"a":', "}"), ('{"holds":[', "]}")])
            return (opener * depth + "1" + closer * depth).encode()
        case "long_number":
            return valid[:-1] + b', "request_id": 1' + b"7" * rng.randrange(4300, 6001) + b"}"
        case _:
            size = rng.randrange(MAX_PAYLOAD - 2, MAX_PAYLOAD + 3)
            return valid[:-1] + b', "title": "' + b"x" * size + b'"}'


def outcome(parse: Callable[[], T]) -> T | PayloadError:
    try:
        return parse()
    except PayloadError as exc:
        return exc


def check_outcome(model: type, payload: bytes, scheme: str | None) -> None:
    """The model, or a PayloadError whose message can be published in a reply and names a problem."""
    parsed = outcome(lambda: parse_payload(model, payload, scheme=scheme))
    if isinstance(parsed, PayloadError):
        message = str(parsed)
        assert message.strip()
        assert "set_int_max_str_digits" not in message, "Python's advice, not a reason"
        message.encode("utf-8")  # publishable: no lone surrogates
        assert parsed.request_id is None or _REQUEST_ID.fullmatch(parsed.request_id)
        Reply(ok=False, error=message[:500]).to_json()
    else:
        assert isinstance(parsed, model)
        parsed.model_dump_json()


@given(st.sampled_from(MODELS), seeds, st.sampled_from([None, "m10w21", *SCHEMES]))
def test_fuzz_hostile_payloads_give_the_model_or_a_payload_error(model, rng, scheme):
    check_outcome(model, hostile_payload(rng, model), scheme)


@given(st.sampled_from(MODELS), st.binary(max_size=200))
def test_fuzz_arbitrary_bytes_give_the_model_or_a_payload_error(model, payload):
    check_outcome(model, payload, "m10w21")


@given(seeds)
def test_fuzz_holds_feeds_give_holds_nothing_or_a_payload_error(rng):
    payload = b"" if rng.random() < 0.05 else hostile_payload(rng, HoldsFeed)
    feed = outcome(lambda: parse_holds(payload))
    if isinstance(feed, PayloadError):
        assert str(feed).strip()
    else:
        assert (feed is None) == (payload == b"")


def test_the_generators_reach_the_limits_they_claim():
    """The bounds the strategies aim at are real refusals, each with its own reason."""
    encode = COMMANDS["encode"]
    cases = {
        b'{"request_id": "r", "item_id": 1' + b"7" * 5000 + b"}": "value has 5001 digits",
        b"[" * 5000 + b"]" * 5000: "nested too deeply",
        b'{"a":' * 300 + b"1" + b"}" * 300: "recursion limit exceeded",
        b"x" * (MAX_PAYLOAD + 1): f"the limit is {MAX_PAYLOAD}",
        b'{"request_id": "r\xff"}': "not UTF-8: byte 0xff at 17",
        dumps({"request_id": "r", "item_id": "123456789"}): "bad check digit",
        dumps({"request_id": "r", "item_id": ITEM.translate(FULL_WIDTH)}): "item_id: String should match",
    }
    for payload, reason in cases.items():
        with pytest.raises(PayloadError, match=re.escape(reason)):
            parse_payload(encode, payload, scheme="m10w21")


class RecordingSink:
    """The router's Sink interface, recording what the MQTT link would publish (the end-to-end test in
    tests/integration/test_hostile_payloads.py runs the real link)."""

    def __init__(self) -> None:
        self.answers: list[bytes] = []
        self.refusals = 0
        self.changed = asyncio.Event()

    def _add(self, published: bytes) -> None:
        self.answers.append(published)
        self.changed.set()

    async def reply(self, request_id: str, reply: Reply) -> None:
        assert _REQUEST_ID.fullmatch(request_id)
        self.refusals += not reply.ok
        self._add(reply.to_json())

    async def report(self, data: EventData) -> None:
        self.refusals += 1
        self._add(data.model_dump_json().encode())


def topic_for(model: type) -> str:
    if model is HoldsFeed:
        return f"tagd/holds/{ITEM}"
    kind = "cmd" if issubclass(model, Command) else "sim"
    return f"tagd/st1/{kind}/{model.NAME}"  # type: ignore[attr-defined]


async def route(messages: list[tuple[str, bytes]]) -> tuple[int, int, int, int]:
    """Every message through a router: the answers published, the handler calls nobody is told of, the
    refusals among the answers, and the warnings logged."""
    sink, silent = RecordingSink(), []

    async def handled(request: Request) -> Reply | None:
        if request.reply_to is None:
            silent.append(request)
            sink.changed.set()
        return None

    async def holds(item_id: str, feed: HoldsFeed | None) -> None:
        silent.append(item_id)
        sink.changed.set()

    router = Router(sink, Topics("tagd", "st1"))
    for model in (*COMMANDS.values(), *SIM_COMMANDS.values()):
        (router.command if issubclass(model, Command) else router.sim)(model, handled)  # type: ignore[operator]
    router.holds(holds)
    router.start()
    try:
        with structlog.testing.capture_logs() as logged:
            for topic, payload in messages:
                router.dispatch(topic, payload)
            async with asyncio.timeout(10):
                while len(sink.answers) + len(silent) < len(messages):
                    sink.changed.clear()
                    await sink.changed.wait()
    finally:
        await router.close()
    warnings = [entry for entry in logged if entry["log_level"] == "warning"]
    return len(sink.answers), len(silent), sink.refusals, len(warnings)


JUNK_TOPICS = ["tagd/st1/cmd/wipe", "tagd/st1/sim/zap", "tagd/holds/12345", "tagd/holds/"]


def messages(rng: random.Random) -> list[tuple[str, bytes]]:
    """One to five messages: mostly hostile, some valid, some on topics that are no command or item."""
    out = []
    for _ in range(rng.randrange(1, 6)):
        model = rng.choice(MODELS)
        topic = topic_for(model) if rng.random() < 0.8 else rng.choice(JUNK_TOPICS)
        out.append((topic, dumps(VALID[model]) if rng.random() < 0.2 else hostile_payload(rng, model)))
    return out


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    """One event loop for all examples: a loop per example would be most of the cost at 100,000."""
    with asyncio.Runner() as runner:
        yield runner


@given(rng=seeds)
def test_fuzz_the_router_answers_every_hostile_message_once(loop, rng):
    sent = messages(rng)
    answered, silent, refusals, warnings = loop.run(route(sent))
    assert answered + silent == len(sent)
    assert warnings == refusals, "every refusal is logged, once"
