"""Event pipeline: tagd's outbox -> aiomqtt -> mosquitto -> subscriber vs bare aiomqtt (issue 7, figure 1).

In one run, against one mosquitto on loopback and one subscriber process, RUNS rounds of EVENTS
item.detected events each, in turn: bare aiomqtt publishing ready-made envelopes at QoS 1, then tagd
(Reporter.emit -> SQLite outbox -> MqttLink) with the outbox synchronous=full (durable, the default) and
normal. Each is driven as a burst (all emitted at once) and one at a time (each emit awaited). Events/s
run from the first emit to the last arrival at the subscriber, every id checked. Both clients allow
INFLIGHT unacknowledged publishes; bare keeps aiomqtt's other defaults, tagd its own (TCP_NODELAY).
Latency is emit -> subscriber at a paced rate (no queueing).
"""

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import structlog
from _broker import NO_DELAY, Broker
from _machine import disk, load
from _subscriber import Record, Subscriber
from _tagd import DATA, INFLIGHT, LIBRARY, Tagd, pace, tagd_station
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tagd.daemon.mqtt.client import CLOUDEVENTS_JSON
from tagd.protocols.events import EventIds, envelope

RUNS = 5
EVENTS = 2_000
PACED_EVENTS = 1_000
PACED_INTERVAL_S = 0.002
GOAL = 0.8
WITHIN_S = 60.0
OUTBOX_DIR = "/var/tmp"
"""On a disk (/tmp may be tmpfs, where an fsync costs nothing), as /var/lib/tagd would be."""

Drive = Callable[[int], Awaitable[dict[str, int]]]
"""Emit n events; returns {event id: monotonic_ns when its emit (or publish) was called}."""


@dataclass
class Result:
    rate: float
    latencies_ms: list[float]


async def measure(drive: Drive, subscriber: Subscriber, n: int) -> Result:
    sent = await drive(n)
    return check(sent, await subscriber.collect(n, WITHIN_S))


def check(sent: dict[str, int], records: list[Record]) -> Result:
    """Every id arrived (else exit); the rate from the first emit to the last first arrival."""
    arrived = {event_id: at for at, event_id in reversed(records)}  # the first arrival of each id
    missing = set(sent) - set(arrived)
    if missing:
        raise SystemExit(f"LOST: {len(missing)} of {len(sent)} events never reached the subscriber")
    start, end = min(sent.values()), max(arrived[event_id] for event_id in sent)
    latencies = [(arrived[event_id] - at) / 1e6 for event_id, at in sent.items()]
    return Result(len(sent) / ((end - start) / 1e9), latencies)


class Bare:
    """aiomqtt alone: the same payloads (envelopes made beforehand) to the same kind of topic."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.topic = "tagd/bench-bare/events/item.detected"
        self.properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self.properties.ContentType = CLOUDEVENTS_JSON
        self.ids = EventIds()

    def payloads(self, n: int) -> list[tuple[str, bytes]]:
        out = []
        for _ in range(n):
            now_ms = time.time_ns() // 1_000_000
            event_id = self.ids.next(now_ms, b"\x00" * 8)
            event = envelope(DATA, station="bench-bare", library=LIBRARY, event_id=event_id, time=_now())
            out.append((event_id, event.to_json()))
        return out

    async def burst(self, n: int) -> dict[str, int]:
        payloads = self.payloads(n)
        now = time.monotonic_ns()
        publish, topic, properties = self.client.publish, self.topic, self.properties
        await asyncio.gather(*(publish(topic, body, qos=1, properties=properties) for _, body in payloads))
        return {event_id: now for event_id, _ in payloads}

    async def one_at_a_time(self, n: int, interval: float = 0.0) -> dict[str, int]:
        sent = {}
        start = time.monotonic()
        for i, (event_id, body) in enumerate(self.payloads(n)):
            await pace(start, i, interval)
            sent[event_id] = time.monotonic_ns()
            await self.client.publish(self.topic, body, qos=1, properties=self.properties)
        return sent


async def main() -> None:
    print(f"machine at the start: {load()}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings and up
    scratch = tempfile.TemporaryDirectory(prefix="tagd-bench-events-", dir=OUTBOX_DIR)
    subscribed = "tagd/+/events/#"
    with scratch as tmp, Broker(NO_DELAY) as broker, Subscriber(broker.port, subscribed) as subscriber:
        directory = Path(tmp)
        bare_client = aiomqtt.Client(
            "127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5, max_inflight_messages=INFLIGHT
        )
        bare_client.pending_calls_threshold = EVENTS * 2
        async with (
            bare_client,
            # bench-full, bench-norm: topics as long as bench-bare's
            tagd_station(broker.port, directory / "full.sqlite", "bench-full", "full") as full,
            tagd_station(broker.port, directory / "normal.sqlite", "bench-norm", "normal") as normal,
        ):
            bare = Bare(bare_client)
            contenders: dict[str, Bare | Tagd] = {"bare": bare, "full": full, "normal": normal}
            rates: dict[tuple[str, str], list[float]] = {}
            for _ in range(RUNS):
                for mode in ("burst", "one"):
                    for name, contender in contenders.items():
                        drive = contender.burst if mode == "burst" else contender.one_at_a_time
                        result = await measure(drive, subscriber, EVENTS)
                        rates.setdefault((name, mode), []).append(result.rate)
                        if isinstance(contender, Tagd):
                            await contender.settle()
            latencies = {}
            for name, contender in contenders.items():
                sent = await contender.one_at_a_time(PACED_EVENTS, PACED_INTERVAL_S)
                latencies[name] = check(sent, await subscriber.collect(PACED_EVENTS, WITHIN_S)).latencies_ms
    report(rates, latencies)
    print(f"machine at the end: {load()}; {disk(OUTBOX_DIR)}")


def report(rates: dict[tuple[str, str], list[float]], latencies: dict[str, list[float]]) -> None:
    sample = envelope(DATA, station="bench-full", library=LIBRARY, event_id="x" * 36, time=_now())
    size = len(sample.to_json())
    print(
        f"event pipeline: {RUNS} rounds x {EVENTS} item.detected events ({size}-byte payloads, QoS 1, "
        f"{INFLIGHT} in flight), medians; outbox in {OUTBOX_DIR}"
    )
    names = {"bare": "bare aiomqtt", "full": "tagd, outbox full", "normal": "tagd, outbox normal"}
    print(f"{'':22} {'burst ev/s':>11} {'x bare':>7}   {'one-at-a-time ev/s':>19} {'x bare':>7}")
    for name, label in names.items():
        cells = []
        for mode in ("burst", "one"):
            mine, bare = rates[(name, mode)], rates[("bare", mode)]
            ratio = statistics.median(m / b for m, b in zip(mine, bare, strict=True))
            verdict = "" if name == "bare" else f" (goal >= {GOAL}x: {'met' if ratio >= GOAL else 'MISSED'})"
            width = 11 if mode == "burst" else 19
            cells.append(f"{statistics.median(mine):>{width},.0f} {ratio:>6.2f}x{verdict}")
        print(f"{label:22} {cells[0]:<40} {cells[1]}")
    print(f"emit -> subscriber latency, {PACED_EVENTS} events paced every {PACED_INTERVAL_S * 1e3:.0f} ms:")
    bare_p50, bare_p99 = _percentiles(latencies["bare"])
    for name, label in names.items():
        p50, p99 = _percentiles(latencies[name])
        versus = "" if name == "bare" else f"  ({p50 / bare_p50:.1f}x / {p99 / bare_p99:.1f}x bare)"
        print(f"  {label:22} p50 {p50:5.2f} ms  p99 {p99:5.2f} ms{versus}")


def _now() -> datetime:
    return datetime.now(UTC)


def _percentiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100)
    return statistics.median(values), cuts[98]


if __name__ == "__main__":
    asyncio.run(main())
