"""A burst of hostile payloads through a real mosquitto to a running daemon's cmd/, sim/ and holds topics:
every one is answered (an error reply, or a command.rejected / holds.rejected event), and afterwards the
encoder still encodes a tag and the check-in station still takes the holds feed (a hold.arrived).

The payloads come from a seeded generator (bounded: BURST of them) and are all refused: the test parses
each with the daemon's own parser first and keeps only those, so it knows which answer each one is owed.
"""

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from tagd.protocols.commands import (
    COMMANDS,
    MAX_PAYLOAD,
    SIM_COMMANDS,
    PayloadError,
    Request,
    decode_object,
    parse_holds,
    parse_payload,
    request_id_at_head,
    request_id_of,
)

from .broker import Broker
from .stations import LIBRARY, Circulation, running, sim_station, station_config

BURST = 300
SEED = 20261122
ANSWER_S = 30.0
ITEM = "100000025"  # 坊っちゃん, hardcover: the white L1000M
HOLD = {"hold_id": "H1", "patron_ref": "p-1", "pickup_library": LIBRARY, "notify": "email",
        "placed_at": "2025-03-20T09:15:00+09:00", "type": "single"}  # fmt: skip
VALID: dict[str, dict[str, Any]] = {
    "cmd/encode": {"item_id": ITEM, "kind": "book", "binding": "hardcover"},
    "cmd/security": {"items": [ITEM], "secured": True},
    "cmd/wipe": {},
    "sim/place": {"profile": "U-TAG-L301"},
    "sim/remove": {"uid": "E0040150A1B2C3D4"},
    "sim/scan": {"raw": "A100000025B"},
    "sim/card": {"id": "P-0001"},
    "sim/zap": {},
    f"holds/{ITEM}": {"holds": [HOLD]},
    "holds/12345": {"holds": []},
}
FULL_WIDTH = {ord(char): ord(char) + 0xFEE0 for char in "0123456789"}
WRONG = [None, True, -1, 1e308, "", "x" * 600, ITEM.translate(FULL_WIDTH), "E00X12", [], [[2]], {"a": {}}]


def hostile(rng: random.Random, where: str, number: int) -> bytes:  # noqa: PLR0911 - one per kind
    """One hostile payload for topic suffix `where`; most carry a unique request_id."""
    value: dict[str, Any] = dict(VALID[where])
    if not where.startswith("holds/") and rng.random() < 0.8:
        value["request_id"] = f"h-{number}"
    match rng.choice([0, 1, 2, 3, 4, 5, 6, 6, 6, 7, 8, 8, 8]):  # a wrong field most often, as in life
        case 0:
            return json.dumps(value).encode()[: rng.randrange(1, 20)]  # cut short
        case 1:
            return rng.randbytes(rng.randrange(1, 200))  # binary junk
        case 2:
            text = json.dumps(value).encode()
            at = rng.randrange(len(text))
            return text[:at] + b"\xff\xfe" + text[at:]  # invalid UTF-8
        case 3:
            return b"[" * 5000 + b"]" * 5000 if rng.random() < 0.5 else b'{"a":' * 300 + b"1" + b"}" * 300
        case 4:
            value["title"] = "x" * (MAX_PAYLOAD + 1)  # over the size limit
        case 5:
            return json.dumps(value).encode()[:-1] + b', "n": 1' + b"9" * 4400 + b"}"  # too many digits
        case 6:
            value[rng.choice([*value, "unknown"])] = rng.choice(WRONG)  # a wrong type
        case 7:
            return json.dumps(rng.choice(WRONG)).encode()  # not an object
        case _:
            value.pop(rng.choice([*value, "item_id"]), None)
            wrong_id = rng.choice(["123456789", "12".translate(FULL_WIDTH), "E0X"])  # check, width, form
            value["items" if "items" in value else "item_id"] = wrong_id
    return json.dumps(value).encode()


def refused(where: str, payload: bytes) -> bool:
    """True when the daemon's parser refuses `payload` on `where` (only those are sent)."""
    kind, _, name = where.partition("/")
    models: dict[str, type[Request]] = {**COMMANDS} if kind == "cmd" else {**SIM_COMMANDS}
    try:
        if kind == "holds":
            parse_holds(payload)
            return name != ITEM
        model = models.get(name)
        if model is None:
            return True
        parse_payload(model, payload, scheme="m10w21")
    except PayloadError:
        return True
    return False


def rejections(desk: Circulation) -> Counter[tuple[str, str]]:
    """The command.rejected and holds.rejected events so far, by type and the topic they answer."""
    return Counter((e.short_type, e.data.topic) for e in desk.events if e.short_type.endswith(".rejected"))


def request_id(payload: bytes) -> str | None:
    try:
        return request_id_of(decode_object(payload))
    except PayloadError:
        return request_id_at_head(payload)


async def test_a_burst_of_hostile_payloads_is_answered_and_the_station_still_works(
    broker: Broker, tmp_path: Path
) -> None:
    encoder, checkin = sim_station("encoder"), sim_station("checkin")  # the check-in takes the holds feed
    station = encoder["name"]
    config = station_config(
        tmp_path,
        broker.port,
        [encoder, checkin],
        encoder={"poll_seconds": 0.02, "retry_delay_seconds": 0.01},
        checkin={"poll_seconds": 0.02},
    )
    rng = random.Random(SEED)
    burst: list[tuple[str, bytes]] = []
    owed_replies: set[str] = set()
    owed_events: Counter[tuple[str, str]] = Counter()
    while len(burst) < BURST:
        where = rng.choice(list(VALID))
        payload = hostile(rng, where, len(burst))
        rid = None if where.startswith("holds/") else request_id(payload)
        if not refused(where, payload) or rid in owed_replies:  # a reply is known by its request_id
            continue
        topic = f"tagd/{where}" if where.startswith("holds/") else f"tagd/{station}/{where}"
        burst.append((topic, payload))
        if rid is not None:
            owed_replies.add(rid)
        else:
            owed_events["holds.rejected" if "/holds/" in topic else "command.rejected", topic] += 1

    async with Circulation(broker.port) as desk, running(config):
        for table in (encoder, checkin):
            await desk.wait_for("reader.connected", station=table["name"])
        for topic, payload in burst:
            await desk.publish(topic, payload)

        for rid in owed_replies:
            reply = await desk.wait_reply(rid, ANSWER_S)
            assert reply["ok"] is False
            assert reply["code"] in ("invalid", "unknown_command", "busy"), reply
            assert reply["error"].strip()
        for kind in ("command.rejected", "holds.rejected"):
            await desk.wait_for(kind, lambda _: rejections(desk) == owed_events, ANSWER_S)
        assert all(e.data.error.strip() for e in desk.events if e.short_type.endswith(".rejected"))
        assert {e.station for e in desk.of("holds.rejected")} == {checkin["name"]}

        uid = (await desk.sim(station, "place", profile="U-TAG-L1000M"))["uid"]
        encoded = await desk.wait_reply(
            await desk.cmd(station, "encode", item_id=ITEM, kind="book", binding="hardcover")
        )
        assert (encoded["ok"], encoded["uid"], encoded["item_id"]) == (True, uid, ITEM)
        await desk.publish(f"tagd/holds/{ITEM}", json.dumps({"holds": [HOLD]}).encode())
        assert (await desk.sim(checkin["name"], "scan", raw=ITEM))["ok"]  # the feed first: one queue
        arrived = await desk.wait_for("hold.arrived", station=checkin["name"])
        assert (arrived.data.item_id, arrived.data.hold_id) == (ITEM, "H1")
        assert rejections(desk) == owed_events, "an answer came twice"
