"""The contract as an integrator meets it, against a real mosquitto (every message here is also checked
against docs/schemas/ by the autouse fixture in conftest.py)."""

from pathlib import Path

from tagd.protocols.commands import MAX_PAYLOAD
from tagd.protocols.nw7 import with_check_digit

from .broker import Broker
from .pads import memory
from .stations import Circulation, running, sim_station, station_config


async def test_a_station_name_with_a_dot_reports_every_event(tmp_path: Path, broker: Broker) -> None:
    """The example config allows '.'; the events must too (they once failed validation and were lost)."""
    table = sim_station("checkout", name="chuo.co-1")
    config = station_config(tmp_path, broker.port, [table])
    async with Circulation(broker.port) as desk, running(config):
        await desk.wait_for("reader.connected", station="chuo.co-1")
        item_id = with_check_digit("10000001")
        placed = await desk.sim("chuo.co-1", "place", memory_hex=memory(item_id))
        assert placed["ok"] is True
        assert placed["uid"].startswith("E0")  # sim/place's reply names the tag (documented now)
        event = await desk.wait_for("item.detected", station="chuo.co-1")
        assert (event.source, event.data.item_id) == ("tagd/chuo.co-1", item_id)
        request_id = await desk.cmd("chuo.co-1", "security", items=[item_id], secured=False)
        reply = await desk.wait_reply(request_id)
        assert reply["ok"] is True
        await desk.wait_status("chuo.co-1", lambda s: s["state"] == "online")


async def test_error_replies_have_their_commands_shape(tmp_path: Path, broker: Broker) -> None:
    """cmd/security's reply always has `results`, even when the payload is invalid or the station has no
    such command (an encoder)."""
    encoder = sim_station("encoder", name="enc-r")
    checkout = sim_station("checkout", name="co-r")
    config = station_config(tmp_path, broker.port, [encoder, checkout])
    async with Circulation(broker.port) as desk, running(config):
        bad = await desk.cmd("co-r", "security", items=[], secured=True)
        assert (await desk.wait_reply(bad)) | {"error": ""} == {
            "request_id": bad,
            "ok": False,
            "code": "invalid",
            "error": "",
            "results": [],
        }
        elsewhere = await desk.cmd("enc-r", "security", items=["123456782"], secured=True)
        reply = await desk.wait_reply(elsewhere)
        assert (reply["code"], reply["results"]) == ("unknown_command", [])


async def test_an_oversize_or_too_deep_command_with_its_request_id_first_gets_a_reply(
    tmp_path: Path, broker: Broker
) -> None:
    """Such a payload cannot be parsed, but a request_id at its head is read safely: the sender gets its
    answer on its reply topic, not only a command.rejected event."""
    checkout = sim_station("checkout", name="co-big")
    config = station_config(tmp_path, broker.port, [checkout])
    big = b'{"request_id": "big-1", "items": ["' + b"1" * (MAX_PAYLOAD + 10) + b'"], "secured": true}'
    deep = b'{"request_id":"deep-1","items":' + b"[" * 20_000 + b"]" * 20_000 + b',"secured":true}'
    tail = b'{"items": ["' + b"1" * (MAX_PAYLOAD + 10) + b'"], "request_id": "tail-1"}'
    async with Circulation(broker.port) as desk, running(config):
        for payload in (big, deep, tail):
            await desk.publish("tagd/co-big/cmd/security", payload)
        too_big = await desk.wait_reply("big-1")
        assert (too_big["ok"], too_big["code"], too_big["results"]) == (False, "invalid", [])
        assert "limit" in too_big["error"]
        too_deep = await desk.wait_reply("deep-1")
        assert (too_deep["code"], too_deep["results"]) == ("invalid", [])
        assert "nested too deeply" in too_deep["error"]
        rejected = await desk.wait_for("command.rejected", station="co-big")  # not at its head: not read
        assert "limit" in rejected.data.error
        assert "tail-1" not in desk.replies
