"""The feed and `tagd monitor`: every event type has a renderer that shows its facts, and the monitor
follows a real mosquitto (status, events, a broker restart) as a feed or as JSON lines."""

import asyncio
import contextvars
import io
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import aiomqtt
import pytest
from rich.console import Console
from tagd_docs.examples import EVENT_EXAMPLES

from tagd.daemon.cli import main
from tagd.daemon.monitor.follow import Connection, run_monitor
from tagd.daemon.monitor.render import (
    RENDERERS,
    Entry,
    EventPrinter,
    Kind,
    entry_for_envelope,
    entry_for_message,
    use_language,
)
from tagd.protocols import events as ev
from tagd.protocols.tagtypes import TagProduct

from .broker import Broker

TIMEOUT_S = 10.0
NOW = datetime(2025, 4, 1, 9, 2, tzinfo=UTC)
ON_PAD = ev.ReaderStatus(url="sim:pad", state=ev.ReaderState.CONNECTED)

# For each event type of the contract: the kind of line and facts it must show.
EXPECTED: dict[str, tuple[Kind, list[str]]] = {
    "item.detected": (Kind.INFO, ["123456782", "E0040150A1B2C3D4", "U-TAG-L301", "secured"]),
    "item.removed": (Kind.INFO, ["123456782", "left"]),
    "item.encoded": (Kind.SUCCESS, ["123456782", "はらぺこあおむし", "U-TAG-L1000M", "hardcover"]),
    "item.encode_rejected": (
        Kind.ALARM,
        ["WRONG TAG TYPE", "123456782", "needs U-TAG-L1000M, found U-TAG-L301"],
    ),
    "barcode.scanned": (Kind.INFO, ["A123456782B", "123456782"]),
    "security.changed": (Kind.SUCCESS, ["123456782", "released for loan", "AFI 0xC2", "EAS off"]),
    "security.failed": (Kind.ALARM, ["NOT secured", "123456782", "not_on_pad", "the tag is not on the pad"]),
    "gate.alarm": (Kind.ALARM, ["ALARM", "E0040150A1B2C3D4", "still secured"]),
    "gate.identified": (Kind.ALARM, ["ALARM", "123456782", "はらぺこあおむし", "identified"]),
    "set.incomplete": (Kind.WARNING, ["123456782", "2 of 3 parts", "missing part 2"]),
    "hold.arrived": (
        Kind.SUCCESS,
        ["H-2025-000123", "p-7f3a9c", "123456782", "hold shelf", "2025-04-08", "email", "今回は携帯に"],
    ),
    "hold.transit": (Kind.WARNING, ["H-2025-000124", "send item 123456782", "north"]),
    "hold.deferred": (Kind.WARNING, ["H-2025-000125", "volume 2 waits for volume 1"]),
    "patron.card": (Kind.INFO, ["2100012345678"]),
    "reader.connected": (Kind.INFO, ["reader connected", "feig:tcp://10.0.0.21:10001"]),
    "reader.lost": (Kind.WARNING, ["reader lost", "connection reset", "2.0 s"]),
    "command.rejected": (Kind.ALARM, ["tagd/enc1/cmd/encode", "not JSON"]),
    "holds.rejected": (Kind.ALARM, ["tagd/holds/123456782", "notify"]),
}


def envelope(data: ev.EventData, station: str = "desk-1", event_id: str = "e-1") -> ev.Envelope:
    return ev.envelope(data, station=station, library="central", event_id=event_id, time=NOW)


def status(state: str = "online", **changes: object) -> ev.Status:
    online = ev.Status(state=state, role=ev.Role.ENCODER, library="central", readers={"reader": ON_PAD})
    return online.model_copy(update=changes)


# -- rendering ----------------------------------------------------------------------------------------------


def test_every_event_type_of_the_contract_has_a_renderer_and_an_expectation() -> None:
    assert set(RENDERERS) == set(ev.EVENT_TYPES.values())
    assert set(EXPECTED) == set(ev.EVENT_TYPES) == set(EVENT_EXAMPLES)


@pytest.mark.parametrize("kind", sorted(ev.EVENT_TYPES))
def test_each_event_renders_its_facts(kind: str) -> None:
    entry = entry_for_envelope(envelope(EVENT_EXAMPLES[kind]))
    want_kind, facts = EXPECTED[kind]
    assert (entry.kind, entry.station, entry.what) == (want_kind, "desk-1", kind)
    for fact in facts:
        assert fact in entry.text, f"{kind}: {fact!r} not in {entry.text!r}"
    assert "\n" not in entry.plain()


JAPANESE: dict[str, list[str]] = {
    "item.encoded": ["123456782", "はらぺこあおむし", "U-TAG-L1000M", "書き込みました", "ハードカバー"],
    "item.encode_rejected": ["WRONG TAG TYPE", "資料 123456782", "必要なタグ U-TAG-L1000M"],
    "gate.alarm": ["警報", "E0040150A1B2C3D4", "セキュリティが掛かったまま"],
    "gate.identified": ["警報", "123456782", "はらぺこあおむし", "特定しました"],
    "hold.arrived": ["予約棚", "2025-04-08", "メールで連絡", "今回は携帯に"],
    "hold.transit": ["回送", "north"],
    "hold.deferred": ["取り置き"],
    "reader.lost": ["切断", "2.0秒後"],
}


@pytest.mark.parametrize("kind", sorted(JAPANESE))
def test_the_feed_speaks_japanese_with_lang_ja(kind: str) -> None:
    def rendered() -> str:
        use_language("ja")
        return entry_for_envelope(envelope(EVENT_EXAMPLES[kind])).text

    text = contextvars.copy_context().run(rendered)  # the language stays in that context
    for words in JAPANESE[kind]:
        assert words in text, f"{kind}: {words!r} not in {text!r}"
    assert entry_for_envelope(envelope(EVENT_EXAMPLES[kind])).text != text  # English here, still


def test_asking_a_librarian_is_a_warning_not_a_fault() -> None:
    data = ev.ItemEncodeRejected(
        reason=ev.RejectReason.ASK_LIBRARIAN, detail="cloth book: ask a librarian", item_id="100000058"
    )
    entry = entry_for_envelope(envelope(data))
    assert entry.kind is Kind.WARNING
    assert "ASK LIBRARIAN" in entry.text
    assert "100000058" in entry.text


def test_detected_blank_and_foreign_tags() -> None:
    blank = ev.ItemDetected(
        reader="reader", uid="E004011012345678", content=ev.TagContent.BLANK, product=TagProduct.L301
    )
    foreign = ev.ItemDetected(reader="reader", uid="E004011012345679", content=ev.TagContent.FOREIGN)
    assert entry_for_envelope(envelope(blank)).text == "blank U-TAG-L301 tag E004011012345678 arrived"
    assert entry_for_envelope(envelope(foreign)).kind is Kind.WARNING


def test_status_lines() -> None:
    online = entry_for_message("tagd/desk-1/status", status().to_json(), now=NOW)
    assert online is not None
    assert (online.kind, online.what, online.station) == (Kind.SUCCESS, "status", "desk-1")
    assert online.text == "online · encoder at central · reader connected"
    offline = entry_for_message("tagd/desk-1/status", status("offline").to_json(), now=NOW)
    assert offline is not None
    assert offline.kind is Kind.WARNING
    full_status = status(outbox_full=True, outbox_depth=9)
    full = entry_for_message("tagd/desk-1/status", full_status.to_json(), now=NOW)
    assert full is not None
    assert full.kind is Kind.ALARM
    assert "OUTBOX FULL" in full.text
    assert "9 events" in full.text
    lost = status(readers={"reader": ev.ReaderStatus(url="sim:pad", state=ev.ReaderState.LOST)})
    entry = entry_for_message("tagd/desk-1/status", lost.to_json(), now=NOW)
    assert entry is not None
    assert entry.kind is Kind.WARNING
    assert "reader lost" in entry.text


def test_messages_that_are_not_for_the_feed_or_not_readable() -> None:
    assert entry_for_message("tagd/desk-1/status", b"", now=NOW) is None, "a cleared retained status"
    assert entry_for_message("tagd/desk-1/reply/r1", b"{}", now=NOW) is None
    assert entry_for_message("other/desk-1/status", status().to_json(), now=NOW) is None
    bad = entry_for_message("tagd/desk-1/events/item.detected", b"{not json", now=NOW)
    assert bad is not None
    assert (bad.kind, bad.station, bad.what) == (Kind.WARNING, "desk-1", "item.detected")
    assert bad.text.startswith("unreadable event:")
    unknown = json.loads(envelope(EVENT_EXAMPLES["patron.card"]).to_json())
    unknown["type"] = "jp.tagd.item.teleported"
    odd = entry_for_message("tagd/desk-1/events/item.teleported", json.dumps(unknown).encode(), now=NOW)
    assert odd is not None
    assert odd.kind is Kind.WARNING
    assert "not a tagd event type" in odd.text
    garbled = entry_for_message("tagd/desk-1/status", b'{"state": "sleeping"}', now=NOW)
    assert garbled is not None
    assert garbled.text.startswith("unreadable status:")


def test_a_longer_prefix() -> None:
    entry = entry_for_message("lib/x/desk-1/status", status().to_json(), prefix="lib/x", now=NOW)
    assert entry is not None
    assert entry.station == "desk-1"


def test_plain_text_off_a_terminal_and_colour_on_one() -> None:
    entry = entry_for_envelope(envelope(EVENT_EXAMPLES["gate.alarm"]))
    plain, tty = io.StringIO(), io.StringIO()
    EventPrinter(Console(file=plain, width=200)).show(entry)
    EventPrinter(Console(file=tty, width=200, force_terminal=True, color_system="standard")).show(entry)
    assert plain.getvalue() == entry.plain() + "\n"
    assert "\x1b[" not in plain.getvalue()
    assert "\x1b[1;31m" in tty.getvalue(), "an alarm is bold red"


# -- the monitor against mosquitto --------------------------------------------------------------------------


class Recorder(EventPrinter):
    """Keeps what the monitor would print, and wakes a test waiting for a line."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Entry] = []
        self.notices: list[str] = []
        self.changed = asyncio.Condition()

    def show(self, entry: Entry) -> None:
        self.entries.append(entry)
        asyncio.get_running_loop().create_task(self._wake())

    def say(self, text: str, style: str = "") -> None:
        self.notices.append(text)
        asyncio.get_running_loop().create_task(self._wake())

    async def _wake(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT_S), self.changed:
            await self.changed.wait_for(predicate)

    def texts(self) -> list[str]:
        return [entry.plain() for entry in self.entries]


async def publish(port: int, messages: list[tuple[str, bytes, bool]]) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        for topic, payload, retain in messages:
            await client.publish(topic, payload, qos=1, retain=retain)


async def test_the_monitor_shows_retained_status_then_live_events(broker: Broker) -> None:
    await publish(broker.port, [("tagd/desk-1/status", status().to_json(), True)])
    recorder, subscribed = Recorder(), asyncio.Event()
    connection = Connection.from_url(f"mqtt://127.0.0.1:{broker.port}")
    monitor = asyncio.create_task(run_monitor(connection, printer=recorder, subscribed=subscribed))
    try:
        await recorder.wait_for(lambda: len(recorder.entries) == 1)
        assert recorder.entries[0].what == "status"
        assert "online" in recorder.entries[0].text
        await asyncio.wait_for(subscribed.wait(), TIMEOUT_S)
        kinds = ["item.encoded", "item.encode_rejected", "gate.alarm"]
        await publish(
            broker.port,
            [
                (f"tagd/desk-1/events/{kind}", envelope(EVENT_EXAMPLES[kind], event_id=kind).to_json(), False)
                for kind in kinds
            ]
            + [
                ("tagd/desk-1/cmd/encode", b"{}", False),
                ("tagd/desk-1/status", status("offline").to_json(), True),
            ],
        )
        await recorder.wait_for(lambda: len(recorder.entries) == 5)
    finally:
        monitor.cancel()
        await asyncio.gather(monitor, return_exceptions=True)
    assert [entry.what for entry in recorder.entries] == ["status", *kinds, "status"]
    encoded = recorder.entries[1]
    assert encoded.envelope is not None
    assert encoded.envelope.id == "item.encoded"
    assert "はらぺこあおむし" in encoded.text
    assert "U-TAG-L1000M" in encoded.text
    assert "offline" in recorder.entries[4].text


async def test_the_monitor_follows_through_a_broker_restart(broker: Broker) -> None:
    recorder, subscribed = Recorder(), asyncio.Event()
    connection = Connection.from_url(f"mqtt://127.0.0.1:{broker.port}")
    monitor = asyncio.create_task(run_monitor(connection, printer=recorder, subscribed=subscribed))
    try:
        await asyncio.wait_for(subscribed.wait(), TIMEOUT_S)
        subscribed.clear()
        broker.restart()
        await recorder.wait_for(lambda: bool(recorder.notices))
        await asyncio.wait_for(subscribed.wait(), TIMEOUT_S)
        card = envelope(EVENT_EXAMPLES["patron.card"])
        await publish(broker.port, [("tagd/desk-1/events/patron.card", card.to_json(), False)])
        await recorder.wait_for(lambda: len(recorder.entries) == 1)
    finally:
        monitor.cancel()
        await asyncio.gather(monitor, return_exceptions=True)
    assert "no connection to the broker" in recorder.notices[0]
    assert "2100012345678" in recorder.entries[0].text


async def test_json_lines(broker: Broker) -> None:
    lines: list[str] = []
    arrived = asyncio.Event()

    def write(line: str) -> None:
        lines.append(line)
        arrived.set()

    subscribed = asyncio.Event()
    connection = Connection.from_url(f"mqtt://127.0.0.1:{broker.port}")
    monitor = asyncio.create_task(
        run_monitor(connection, json_lines=True, write=write, subscribed=subscribed)
    )
    try:
        await asyncio.wait_for(subscribed.wait(), TIMEOUT_S)
        alarm = envelope(EVENT_EXAMPLES["gate.alarm"])
        await publish(broker.port, [("tagd/gate-1/events/gate.alarm", alarm.to_json(), False)])
        await asyncio.wait_for(arrived.wait(), TIMEOUT_S)
    finally:
        monitor.cancel()
        await asyncio.gather(monitor, return_exceptions=True)
    message = json.loads(lines[0])
    assert (message["topic"], message["retain"]) == ("tagd/gate-1/events/gate.alarm", False)
    assert message["payload"]["data"]["uid"] == "E0040150A1B2C3D4"


def test_the_command_line_follows_and_stops_cleanly_on_sigint(broker: Broker) -> None:
    """`tagd monitor --json` as a process: the retained status is its first line; SIGINT exits 0."""
    asyncio.run(publish(broker.port, [("tagd/desk-1/status", status().to_json(), True)]))
    url = f"mqtt://127.0.0.1:{broker.port}"
    command = [sys.executable, "-m", "tagd.daemon", "monitor", "--mqtt-url", url, "--json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            readable, _, _ = select.select([process.stdout], [], [], TIMEOUT_S)
            assert readable, "no output from tagd monitor"
            first = json.loads(process.stdout.readline())
            assert first["topic"] == "tagd/desk-1/status"
            assert first["payload"]["state"] == "online"
            os.kill(process.pid, signal.SIGINT)
            assert process.wait(timeout=TIMEOUT_S) == 0
        finally:
            if process.poll() is None:
                process.kill()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mqtt-url", "http://127.0.0.1:1883"], "--mqtt-url: 'http://127.0.0.1:1883': expected mqtt://"),
        (["--prefix", "tagd/#"], "--prefix: 'tagd/#'"),
    ],
)
def test_a_bad_url_or_prefix_exits_78(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["monitor", *argv]) == 78
    assert message in capsys.readouterr().err
