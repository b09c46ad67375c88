"""`tagd demo`: the scripted day runs end to end on the embedded broker, and each step gives its events.

A subscriber of our own could not see more than the demo's desk does (it subscribes to the same topics on
the same broker), so the events `run_demo` returns are what a circulation system would have received.
"""

import asyncio
import io
import socket
import subprocess
import sys
from typing import Any, cast

import pytest
from rich.console import Console

from tagd.daemon.cli import main
from tagd.daemon.demo.desk import DemoClient
from tagd.daemon.demo.runner import DemoOptions, DemoStepError, run_demo
from tagd.daemon.monitor.render import EventPrinter
from tagd.protocols import events as ev

from . import contract

DAY_TIMEOUT_S = 60.0
PAPERBACK, HARDCOVER, KAMISHIBAI, CLOTH_BOOK = "100000017", "100000025", "100000041", "100000058"


def of(events: list[ev.Envelope], station: str, kind: type[ev.EventData]) -> list[Any]:
    return [e.data for e in events if e.station == station and isinstance(e.data, kind)]


async def test_the_scripted_day_gives_every_event_it_tells_of(monkeypatch: pytest.MonkeyPatch) -> None:
    """Also: every message the demo's desk receives (every event, status and reply of the day) is checked
    against docs/schemas/ by the contract fixture."""
    seen: list[str] = []
    receive = DemoClient.receive

    def checked(desk: DemoClient, message: Any) -> None:
        seen.append(message.topic)
        contract.note(message.topic, message.payload)
        receive(desk, message)

    # Not a mock: a spy that validates what the real client receives, then hands it on unchanged.
    monkeypatch.setattr(DemoClient, "receive", checked)
    out = io.StringIO()
    async with asyncio.timeout(DAY_TIMEOUT_S):
        printer = EventPrinter(Console(file=out, width=200))
        events = await run_demo(DemoOptions(speed=0, once=True), printer=printer)

    encoded = of(events, "demo-encoder", ev.ItemEncoded)
    assert [(e.item_id, e.product.value) for e in encoded] == [
        (PAPERBACK, "U-TAG-L301"),
        (HARDCOVER, "U-TAG-L1000M"),
        (KAMISHIBAI, "U-TAG-L1000M"),
    ]
    rejected = of(events, "demo-encoder", ev.ItemEncodeRejected)
    assert [(r.item_id, r.reason) for r in rejected] == [
        (HARDCOVER, ev.RejectReason.WRONG_TAG_TYPE),
        (CLOTH_BOOK, ev.RejectReason.ASK_LIBRARIAN),
    ]
    assert (rejected[0].required, rejected[0].found) == ("U-TAG-L1000M", "U-TAG-L301")

    assert [card.card_id for card in of(events, "demo-checkout", ev.PatronCard)] == ["2100012345678"]
    released = of(events, "demo-checkout", ev.SecurityChanged)
    assert sorted((s.item_id, s.secured) for s in released) == [(PAPERBACK, False), (HARDCOVER, False)]
    (alarm,) = of(events, "demo-gate", ev.GateAlarm)
    (identified,) = of(events, "demo-gate", ev.GateIdentified)
    assert (alarm.item_id, identified.item_id, identified.uid) == (None, KAMISHIBAI, alarm.uid)
    secured = of(events, "demo-checkin", ev.SecurityChanged)
    assert sorted((s.item_id, s.secured) for s in secured) == [(PAPERBACK, True), (HARDCOVER, True)]
    (arrived,) = of(events, "demo-checkin", ev.HoldArrived)
    assert (arrived.item_id, arrived.hold_id, arrived.pickup_library) == (HARDCOVER, "H-DEMO-1", "demo")
    assert len({envelope.id for envelope in events}) == len(events), "no event shown twice"
    assert any("/reply/" in topic for topic in seen)
    assert any(topic.endswith("/status") for topic in seen)

    feed = out.getvalue()
    for line in ("09:02  A new paperback", "11:15  A visitor", "⇢ demo-checkout cmd/security", "gate.alarm"):
        assert line in feed
    assert feed.count(" status ") >= 8, "every station shown online, then offline"
    assert "End of the scripted day" in feed


def test_the_command_exits_0_after_the_day_with_plain_text_off_a_terminal() -> None:
    command = [sys.executable, "-m", "tagd.daemon", "demo", "--once", "--speed", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=DAY_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\x1b[" not in done.stdout
    for kind in ("item.encoded", "item.encode_rejected", "security.changed", "gate.alarm"):
        assert kind in done.stdout
    assert "WRONG TAG TYPE" in done.stdout
    assert "ASK LIBRARIAN" in done.stdout


def test_a_taken_port_exits_69(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--port", str(port), "--once", "--speed", "0"]) == 69
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--speed", "-1"], ["--speed", "fast"], ["--port", "70000"]])
def test_bad_options_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["demo", *argv])
    assert exit_.value.code == 2


async def test_a_step_without_its_event_names_what_it_waited_for() -> None:
    desk = DemoClient(cast("Any", None), EventPrinter(Console(file=io.StringIO())), timeout=0.05)
    expected = r"no item\.encoded from demo-encoder \(100000017\) within 0\.05 s"
    with pytest.raises(DemoStepError, match=expected):
        await desk.expect("demo-encoder", ev.ItemEncoded, since=0, what=PAPERBACK)
