"""docs/reliability.md: a half-open uplink. Replies are queued and re-sent after a reconnection (a reply is
not lost once its command ran), they do not hold command slots while they wait, and a PUBACK that never
comes is a dead connection."""

import asyncio
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest

from tagd.daemon.config.sections import Mqtt
from tagd.daemon.mqtt import client as mqtt_client
from tagd.drivers.sim.reader import default_world
from tagd.protocols.iso15693 import parse_uid

from .broker import Broker, Relay
from .pads import memory
from .stations import Circulation, running, sim_station, station_config

ITEM = "100000017"
WAIT_S = 15.0
COMMANDS = 20


async def until(condition: Callable[[], bool], within: float = WAIT_S) -> None:
    """Until `condition()` holds: state inside the daemon that no message shows while the uplink is frozen."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - no message shows this state while the uplink is frozen
            await asyncio.sleep(0.01)


async def test_replies_survive_a_half_open_link_and_do_not_hold_command_slots(
    tmp_path: Path, broker: Broker
) -> None:
    relay = await Relay(broker.port).start()
    table = sim_station("checkout")
    name = table["name"]
    config = station_config(
        tmp_path, relay.port, [table], checkout={"debounce_seconds": 0.0, "poll_seconds": 0.02}
    )
    try:
        async with Circulation(broker.port) as desk, running(config) as app:
            link = app.links[name]
            await desk.sim(name, "place", memory_hex=memory(ITEM))
            await desk.wait_for("item.detected", station=name)
            relay.freeze_uplink()  # commands still reach tagd; nothing it sends reaches the broker
            # (mosquitto delivers at most 20 messages that tagd has not acknowledged: 20 commands)
            sent = [
                await desk.cmd(name, "security", items=[ITEM], secured=n % 2 == 0) for n in range(COMMANDS)
            ]
            await until(lambda: link.pending_replies == COMMANDS)
            assert link.router.running == 0, "a reply waiting for the broker holds no command slot"
            assert not any(request_id in desk.replies for request_id in sent)
            relay.reset()
            for request_id in sent:
                reply = await desk.wait_reply(request_id, WAIT_S)
                assert reply["ok"] is True, reply
            changed = await desk.wait_for(
                "security.changed", lambda _: len(desk.of("security.changed", name)) >= COMMANDS, WAIT_S
            )
            assert changed.data.item_id == ITEM
    finally:
        await relay.close()


async def test_a_puback_that_never_comes_ends_the_session_and_the_reply_goes_out_on_the_next(
    tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not a mock: the real PUBACK timeout, shortened from 10 s so the test stays bounded in time.
    monkeypatch.setattr(mqtt_client, "ACK_TIMEOUT_S", 1.0)
    relay = await Relay(broker.port).start()
    table = sim_station("checkout")
    name = table["name"]
    config = station_config(
        tmp_path, relay.port, [table], checkout={"debounce_seconds": 0.0, "poll_seconds": 0.02}
    )
    try:
        async with Circulation(broker.port) as desk, running(config) as app:
            link = app.links[name]
            await desk.sim(name, "place", memory_hex=memory(ITEM))
            await desk.wait_for("item.detected", station=name)
            relay.freeze_uplink()  # never reset: only the missing PUBACK tells tagd
            request_id = await desk.cmd(name, "security", items=[ITEM], secured=False)
            reply = await desk.wait_reply(request_id, WAIT_S)
            assert reply["ok"] is True
            assert link.connections >= 2
    finally:
        await relay.close()


async def test_a_connection_closed_before_connack_fails_at_once_not_after_the_connect_timeout() -> None:
    """A relay or load balancer that accepts and then closes: tagd tries again after its backoff, instead of
    waiting out the 10 s connect timeout each time."""

    async def accept_and_close(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(accept_and_close, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = Mqtt(url=f"mqtt://127.0.0.1:{port}", connect_timeout_seconds=10.0)
    will = aiomqtt.Will("tagd/x/status", b"{}", qos=1, retain=True)
    try:
        async with asyncio.timeout(5.0):  # half the connect timeout: it must not be what ends the attempt
            with pytest.raises(aiomqtt.MqttError, match="closed before the broker answered"):
                async with mqtt_client.make_client(settings, client_id="x", will=will):
                    pass
    finally:
        server.close()
        await server.wait_closed()


async def test_a_command_sent_while_tagd_is_away_is_never_run_late(tmp_path: Path, broker: Broker) -> None:
    """Clean start, by design (docs/reliability.md §9): the broker keeps nothing for tagd while it is away,
    so a stale cmd/security cannot run minutes later; its sender gets no reply and sends it again once the
    retained status says online."""
    relay = await Relay(broker.port).start()
    table = sim_station("checkout")
    name = table["name"]
    config = station_config(
        tmp_path, relay.port, [table], checkout={"debounce_seconds": 0.0, "poll_seconds": 0.02}
    )
    try:
        async with Circulation(broker.port) as desk, running(config) as app:
            link = app.links[name]
            uid = (await desk.sim(name, "place", memory_hex=memory(ITEM)))["uid"]
            await desk.wait_for("item.detected", station=name)
            relay.hold()
            relay.reset()  # tagd is away; its will says offline
            await desk.wait_status(name, lambda s: s["state"] == "offline", WAIT_S)
            stale = await desk.cmd(name, "security", items=[ITEM], secured=False)
            relay.release()
            await desk.wait_status(name, lambda s: s["state"] == "online", WAIT_S)
            assert link.connections == 2
            fresh = await desk.cmd(name, "security", items=[ITEM], secured=True)
            assert (await desk.wait_reply(fresh))["ok"] is True
            await desk.wait_for("security.changed", station=name)
            assert stale not in desk.replies
            assert [e.data.request_id for e in desk.of("security.changed", name)] == [fresh]
            assert default_world().tags[parse_uid(uid)].afi == 0x07  # secured, never released
    finally:
        await relay.close()
