"""The MQTT link against a real mosquitto: events, status and will, replay, broker kills, commands."""

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from tagd.daemon.config.sections import Mqtt
from tagd.daemon.mqtt.client import make_client
from tagd.daemon.mqtt.link import MqttLink
from tagd.daemon.store.outbox import Outbox, OutboxFull, OutboxSettings, Reporter
from tagd.protocols.commands import (
    EncodeCommand,
    HoldsFeed,
    Reply,
    SecurityCommand,
    SecurityReply,
    SecurityResult,
    SimPlace,
)
from tagd.protocols.events import EventData, ItemDetected, ItemRemoved, ReaderState, ReaderStatus, Role
from tagd.protocols.events import parse_envelope as envelope_of

from .broker import Broker, Brokers, Received, Relay, Subscriber
from .tls import certificates, password_file

UID = "E0040150A1B2C3D4"
ITEM = "123456782"
FAST = {
    "reconnect_min_seconds": 0.05,
    "reconnect_max_seconds": 0.5,
    "keepalive": 5,
    "connect_timeout_seconds": 5,
}


def detected(n: int) -> EventData:
    """Distinct events: the part number carries a sequence number."""
    return ItemDetected(reader="pad", uid=UID, content="item", item_id=ITEM, part=n + 1, parts=100_000)


@contextlib.asynccontextmanager
async def outbox_at(path: Path, **settings: object) -> AsyncIterator[Outbox]:
    outbox = await Outbox.open(OutboxSettings.model_validate({"path": path, **settings}))
    try:
        yield outbox
    finally:
        await outbox.close()


def link_for(port: int, outbox: Outbox, station: str = "enc1", **settings: object) -> MqttLink:
    mqtt = Mqtt.model_validate({"url": f"mqtt://127.0.0.1:{port}", **FAST, **settings})
    return MqttLink(mqtt, Reporter(outbox, station=station, library="central"), role=Role.ENCODER)


@contextlib.asynccontextmanager
async def running(link: MqttLink) -> AsyncIterator[MqttLink]:
    task = asyncio.create_task(link.run())
    try:
        async with asyncio.timeout(10):
            await link.wait_connected()
        yield link
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def events_in(messages: list[Received]) -> list[Received]:
    return [m for m in messages if "/events/" in m.topic]


def statuses(messages: list[Received]) -> list[dict[str, object]]:
    return [json.loads(m.payload) for m in messages if m.topic.endswith("/status")]


def replies(messages: list[Received], request_id: str) -> list[dict[str, object]]:
    return [json.loads(m.payload) for m in messages if m.topic.endswith(f"/reply/{request_id}")]


async def test_events_arrive_in_order_as_cloudevents(broker: Broker, tmp_path: Path) -> None:
    sub = Subscriber(broker.port, ["tagd/enc1/#"])
    async with (
        sub.connect(),
        outbox_at(tmp_path / "o.sqlite") as outbox,
        running(link_for(broker.port, outbox)) as link,
    ):
        sent = [await link.emit(detected(n)) for n in range(150)]
        sent.append(await link.emit(ItemRemoved(reader="pad", uid=UID, item_id=ITEM)))
        await sub.wait_for(lambda m: len(events_in(m)) >= len(sent))
        got = events_in(sub.messages)
        assert [envelope_of(m.payload) for m in got] == sent
        assert got[0].topic == "tagd/enc1/events/item.detected"
        assert got[-1].topic == "tagd/enc1/events/item.removed"
        assert {m.content_type for m in got} == {"application/cloudevents+json; charset=utf-8"}
        async with asyncio.timeout(5):
            await outbox.drained()


async def test_status_is_retained_online_and_follows_the_readers(broker: Broker, tmp_path: Path) -> None:
    async with outbox_at(tmp_path / "o.sqlite") as outbox, running(link_for(broker.port, outbox)) as link:
        late = Subscriber(broker.port, ["tagd/+/status"])
        async with late.connect():
            await late.wait_for(lambda m: len(m) >= 1)
            first = late.messages[0]
            assert first.retain
            assert statuses([first]) == [
                {"state": "online", "role": "encoder", "library": "central", "readers": {}, "outbox_depth": 0,
                 "outbox_full": False, "display": None}
            ]  # fmt: skip
            link.set_readers({"pad": ReaderStatus(url="sim:pad", state=ReaderState.CONNECTED)})
            await late.wait_for(lambda m: len(m) >= 2)
            assert statuses(late.messages)[-1]["readers"] == {"pad": {"url": "sim:pad", "state": "connected"}}


async def test_a_stored_event_is_replayed_with_its_id_after_a_restart(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    async with outbox_at(path) as outbox:
        reporter = Reporter(outbox, station="enc1", library="central")
        stored = [await reporter.emit(detected(n)) for n in range(40)]  # tagd is down: nothing published
    sub = Subscriber(broker.port, ["tagd/enc1/events/#"])
    async with sub.connect(), outbox_at(path) as outbox, running(link_for(broker.port, outbox)):
        await sub.wait_for(lambda m: len(m) >= 40)
        assert [envelope_of(m.payload).id for m in sub.messages] == [e.id for e in stored]


async def test_nothing_is_lost_when_the_broker_is_killed_mid_stream(broker: Broker, tmp_path: Path) -> None:
    """SIGKILL mosquitto twice while 3,000 events stream; every event id arrives (duplicates counted).

    tagd connects through a relay that holds new connections while the subscriber re-subscribes to the
    restarted broker: mosquitto keeps nothing across a kill, so an event it acknowledged before anyone
    had subscribed again would be lost to every subscriber, through no fault of tagd.
    """
    relay = await Relay(broker.port).start()
    sub = Subscriber(broker.port, ["tagd/enc1/events/#"])
    total = 3000
    async with outbox_at(tmp_path / "o.sqlite") as outbox:
        link = link_for(relay.port, outbox)
        async with running(link):
            sent: list[str] = []

            async def stream() -> None:
                for n in range(total):
                    sent.append((await link.emit(detected(n))).id)
                    if n % 50 == 0:
                        await asyncio.sleep(0.005)  # a steady stream, not one burst

            streaming: asyncio.Task[None] | None = None
            for kill in (1, 2):
                async with sub.connect():
                    relay.release()
                    streaming = streaming or asyncio.create_task(stream())
                    await sub.wait_for(lambda m, k=kill: len(m) >= k * total // 3, within=20)
                    relay.hold()
                    broker.kill()
                broker.start()
            async with sub.connect():
                relay.release()
                assert streaming is not None
                await streaming
                await sub.wait_for(lambda m: {envelope_of(x.payload).id for x in m} >= set(sent), within=30)
        ids = Counter(envelope_of(m.payload).id for m in sub.messages)
        print(
            f"{total} events, 2 broker kills: {len(ids)} distinct ids received, "
            f"{sum(ids.values()) - len(ids)} duplicates, {link.connections} connections"
        )
        assert set(ids) == set(sent)
        assert link.connections == 3
    await relay.close()


async def test_the_will_says_offline_when_the_process_dies(broker: Broker, tmp_path: Path) -> None:
    sub = Subscriber(broker.port, ["tagd/w1/status"])
    script = Path(__file__).with_name("link_process.py")
    async with sub.connect():
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(script), str(broker.port), str(tmp_path / "o.sqlite"), "w1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            async with asyncio.timeout(15):
                while (await process.stdout.readline()).strip() != b"connected":
                    pass
            await sub.wait_for(lambda m: [s["state"] for s in statuses(m)] == ["online"])
            os.kill(process.pid, signal.SIGKILL)
            await sub.wait_for(lambda m: [s["state"] for s in statuses(m)] == ["online", "offline"])
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    late = Subscriber(broker.port, ["tagd/w1/status"])
    async with late.connect():
        await late.wait_for(lambda m: len(m) == 1)
        assert late.messages[0].retain
        assert late.messages[0].content_type == "application/json"  # as every status publish
        reader = {"url": "feig:tcp://10.0.0.21:10001", "state": "unknown"}  # the same devices as online
        assert statuses(late.messages) == [
            {"state": "offline", "role": "gate", "library": "central", "readers": {"reader": reader},
             "outbox_depth": 0, "outbox_full": False, "display": None}
        ]  # fmt: skip


async def test_a_clean_stop_says_offline_itself(broker: Broker, tmp_path: Path) -> None:
    sub = Subscriber(broker.port, ["tagd/enc1/status"])
    async with sub.connect(), outbox_at(tmp_path / "o.sqlite") as outbox:
        async with running(link_for(broker.port, outbox)):
            await sub.wait_for(lambda m: len(m) == 1)
        await sub.wait_for(lambda m: [s["state"] for s in statuses(m)] == ["online", "offline"])


async def test_status_is_republished_after_a_reconnect(broker: Broker, tmp_path: Path) -> None:
    async with outbox_at(tmp_path / "o.sqlite") as outbox, running(link_for(broker.port, outbox)) as link:
        broker.restart()  # the retained status is gone with the old broker
        late = Subscriber(broker.port, ["tagd/enc1/status"])
        async with late.connect():
            await late.wait_for(lambda m: len(m) == 1)
            assert statuses(late.messages)[0]["state"] == "online"
            assert link.connections == 2


async def test_commands_bad_input_gets_specific_answers_and_the_link_goes_on(
    broker: Broker, tmp_path: Path
) -> None:
    placed: list[SimPlace] = []

    async def security(command: SecurityCommand) -> Reply:
        results = [SecurityResult(item=item, ok=True, secured=command.secured) for item in command.items]
        return SecurityReply(ok=True, results=results)

    async def encode(command: EncodeCommand) -> Reply:
        raise RuntimeError(f"no tag for {command.item_id}")

    async def place(command: SimPlace) -> None:
        placed.append(command)

    sub = Subscriber(broker.port, ["tagd/enc1/#"])
    async with sub.connect() as client, outbox_at(tmp_path / "o.sqlite") as outbox:
        link = link_for(broker.port, outbox)
        link.router.command(SecurityCommand, security)
        link.router.command(EncodeCommand, encode)
        link.router.sim(SimPlace, place)
        async with running(link):
            good = {"request_id": "r1", "items": [ITEM, UID], "secured": True}
            await client.publish("tagd/enc1/cmd/security", json.dumps(good))
            await client.publish("tagd/enc1/cmd/security", b"\xff not json")
            bad_item = {"request_id": "r2", "items": [ITEM, UID, "E00X12"], "secured": True}
            await client.publish("tagd/enc1/cmd/security", json.dumps(bad_item))
            await client.publish("tagd/enc1/cmd/encode", json.dumps({"request_id": "r3", "item_id": ITEM}))
            await client.publish("tagd/enc1/cmd/wipe", json.dumps({"request_id": "r4"}))
            await client.publish("tagd/enc1/sim/place", json.dumps({"profile": "U-TAG-L301"}))
            await client.publish("tagd/enc1/sim/place", json.dumps({"request_id": "p2", "uid": "nope"}))
            await client.publish("tagd/enc1/cmd/security", json.dumps(good | {"request_id": "r5"}))
            await sub.wait_for(
                lambda m: all(replies(m, r) for r in ("r1", "r2", "r3", "r4", "p2", "r5")) and events_in(m)
            )
        m = sub.messages
        results = [{"item": ITEM, "ok": True, "secured": True}, {"item": UID, "ok": True, "secured": True}]
        assert replies(m, "r1") == [{"request_id": "r1", "ok": True, "results": results}]
        bad_item = "items[2]: 'E00X12' is neither a 9-digit item id nor a 16-hex UID"
        invalid = {"request_id": "r2", "ok": False, "code": "invalid", "error": bad_item, "results": []}
        assert replies(m, "r2") == [invalid]
        failed = {"ok": False, "code": "internal_error", "error": f"RuntimeError: no tag for {ITEM}"}
        assert replies(m, "r3") == [{"request_id": "r3", **failed}]
        assert replies(m, "r4")[0]["code"] == "unknown_command"
        assert "known: encode, security" in str(replies(m, "r4")[0]["error"])
        assert replies(m, "p2")[0]["code"] == "invalid"
        assert replies(m, "r5")[0]["ok"] is True
        (rejected,) = [envelope_of(e.payload) for e in events_in(m)]
        assert rejected.short_type == "command.rejected"
        assert rejected.data.model_dump()["error"] == "payload is not UTF-8: byte 0xff at 0"
        assert [p.profile for p in placed] == ["U-TAG-L301"]


async def test_sim_control_on_real_hardware_is_refused(broker: Broker, tmp_path: Path) -> None:
    sub = Subscriber(broker.port, ["tagd/enc1/reply/#"])
    async with (
        sub.connect() as client,
        outbox_at(tmp_path / "o.sqlite") as outbox,
        running(link_for(broker.port, outbox)),
    ):
        await client.publish("tagd/enc1/sim/place", json.dumps({"request_id": "s1"}))
        await sub.wait_for(lambda m: len(m) == 1)
    assert replies(sub.messages, "s1")[0]["code"] == "not_simulated"


async def test_a_full_outbox_shows_in_status_and_refuses_work(broker: Broker, tmp_path: Path) -> None:
    async def security(command: SecurityCommand) -> Reply:
        await link.emit(ItemRemoved(reader="pad", uid=UID))
        return Reply(ok=True)

    sub = Subscriber(broker.port, ["tagd/enc1/#"])
    async with sub.connect() as client, outbox_at(tmp_path / "o.sqlite", max_events=5) as outbox:
        link = link_for(broker.port, outbox)
        link.router.command(SecurityCommand, security)
        async with running(link):
            unlinked = Reporter(outbox, station="offline1", library="central")  # no link: never drained
            for n in range(5):
                await unlinked.emit(detected(n))
            with pytest.raises(OutboxFull):
                await link.emit(detected(9))
            await sub.wait_for(lambda m: any(s["outbox_full"] for s in statuses(m)))
            assert next(s for s in statuses(sub.messages) if s["outbox_full"])["outbox_depth"] == 5
            await client.publish("tagd/enc1/cmd/security", json.dumps({"request_id": "f1", "items": [ITEM],
                                                                        "secured": True}))  # fmt: skip
            await sub.wait_for(lambda m: bool(replies(m, "f1")))
            assert replies(sub.messages, "f1")[0]["code"] == "outbox_full"
            await outbox.ack([e.seq for e in await outbox.pending("offline1")])
            await sub.wait_for(lambda m: not statuses(m)[-1]["outbox_full"])


async def test_mqtt_3_1_1(broker: Broker, tmp_path: Path) -> None:
    async def security(command: SecurityCommand) -> Reply:
        return Reply(ok=True)

    sub = Subscriber(broker.port, ["tagd/enc1/#"], protocol="3.1.1")
    async with sub.connect() as client, outbox_at(tmp_path / "o.sqlite") as outbox:
        link = link_for(broker.port, outbox, protocol="3.1.1")
        link.router.command(SecurityCommand, security)
        async with running(link):
            sent = await link.emit(detected(1))
            await client.publish("tagd/enc1/cmd/security", json.dumps({"request_id": "v3", "items": [UID],
                                                                        "secured": False}))  # fmt: skip
            await sub.wait_for(lambda m: bool(events_in(m)) and bool(replies(m, "v3")))
    assert envelope_of(events_in(sub.messages)[0].payload) == sent
    assert events_in(sub.messages)[0].content_type is None
    assert replies(sub.messages, "v3") == [{"request_id": "v3", "ok": True}]


async def test_a_publish_the_broker_refuses_stays_stored_until_it_is_allowed(
    brokers: Brokers, tmp_path: Path
) -> None:
    """MQTT 5 brokers refuse in the PUBACK (here an ACL denial, 0x87): that must not delete the event."""
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite tagd/enc1/status\ntopic read tagd/#\n")
    broker = brokers.start(extra=f"acl_file {acl}")
    try:
        sub = Subscriber(broker.port, ["tagd/enc1/#"])
        async with sub.connect(), outbox_at(tmp_path / "o.sqlite") as outbox:
            link = link_for(broker.port, outbox)
            async with running(link):
                sent = await link.emit(detected(1))
                await sub.wait_for(lambda m: len(statuses(m)) >= 3)  # refused, reconnected, refused again...
                assert outbox.depth == 1
                assert not events_in(sub.messages)
                acl.write_text("topic readwrite tagd/enc1/#\ntopic read tagd/#\n")
                assert broker.process is not None
                broker.process.send_signal(signal.SIGHUP)  # mosquitto re-reads its ACL
                await sub.wait_for(lambda m: bool(events_in(m)), within=15)
            assert envelope_of(events_in(sub.messages)[0].payload) == sent
    finally:
        broker.stop()


async def test_the_holds_feed_reaches_its_handler_and_bad_feeds_are_reported(
    broker: Broker, tmp_path: Path
) -> None:
    feeds: list[tuple[str, HoldsFeed | None]] = []
    got = asyncio.Event()

    async def holds(item_id: str, feed: HoldsFeed | None) -> None:
        feeds.append((item_id, feed))
        got.set()

    hold = {"hold_id": "H1", "patron_ref": "p-1", "pickup_library": "central", "notify": "email",
            "placed_at": "2025-03-20T09:15:00+09:00", "type": "single"}  # fmt: skip
    async with aiomqtt.Client("127.0.0.1", broker.port) as circulation:
        await circulation.publish(f"tagd/holds/{ITEM}", json.dumps({"holds": [hold]}), qos=1, retain=True)
        sub = Subscriber(broker.port, ["tagd/chk1/events/#"])
        async with sub.connect(), outbox_at(tmp_path / "o.sqlite") as outbox:
            link = link_for(broker.port, outbox, station="chk1")
            link.router.holds(holds)
            async with running(link):
                async with asyncio.timeout(10):
                    await got.wait()
                await circulation.publish("tagd/holds/12345", json.dumps({"holds": []}), qos=1)
                await circulation.publish(
                    f"tagd/holds/{ITEM}", json.dumps({"holds": [hold | {"notify": "fax"}]})
                )
                await sub.wait_for(lambda m: len(m) >= 2)
                got.clear()
                await circulation.publish(f"tagd/holds/{ITEM}", b"", qos=1, retain=True)
                async with asyncio.timeout(10):
                    await got.wait()
    assert feeds[0][0] == ITEM
    assert feeds[0][1] is not None
    assert feeds[0][1].holds[0].patron_ref == "p-1"
    assert feeds[-1] == (ITEM, None)
    errors = [envelope_of(m.payload).data.model_dump()["error"] for m in sub.messages]
    assert errors[0] == "'12345' in the topic is not a 9-digit item id"
    assert errors[1].startswith("holds[0].notify: Input should be 'email', 'phone' or 'none'")


@pytest.fixture
def tls_broker(brokers: Brokers, tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    """A broker that takes TLS only, and only user enc1 with password s3cret; and its CA file."""
    made = certificates(tmp_path)
    passwords = password_file(tmp_path / "passwords", {"enc1": "s3cret"})
    broker = brokers.start(
        extra=f"cafile {made.ca}\ncertfile {made.cert}\nkeyfile {made.key}\nallow_anonymous false\n"
        f"password_file {passwords}"
    )
    yield broker, made.ca
    broker.stop()


async def test_tls_with_a_username_and_password(tls_broker: tuple[Broker, Path], tmp_path: Path) -> None:
    broker, ca = tls_broker
    tls = {"tls": {"ca_file": ca}, "username": "enc1"}
    async with outbox_at(tmp_path / "o.sqlite") as outbox:
        wrong = Mqtt.model_validate({"url": f"mqtt://127.0.0.1:{broker.port}", **tls, "password": "guess"})
        with pytest.raises(aiomqtt.MqttError, match=r"[Nn]ot authori[sz]ed"):
            async with make_client(wrong, client_id="intruder", will=aiomqtt.Will("x/status")):
                pass
        async with running(link_for(broker.port, outbox, **tls, password="s3cret")) as link:
            await link.emit(detected(1))
            async with asyncio.timeout(10):
                await outbox.drained()
