"""Footprint: the daemon's memory and idle CPU with the four simulated stations of config/demo.toml (issue 7,
figure 5).

`tagd run --config config/demo.toml --mqtt-url mqtt://127.0.0.1:PORT` runs as its own process against a real
mosquitto, its state in a temporary directory (TAGD_STATE_DIR overrides the config's state_dir). Measured
from /proc/PID: VmRSS and VmHWM (status), utime + stime (stat).

1. idle: ready, nothing on any pad; RSS, and CPU over IDLE_SECONDS while the gate polls (every 20 ms: an
   AFI inventory and an EAS alarm request) and the pads poll (every 100 ms).
2. load: for LOAD_SECONDS, a pool of POOL tags each goes round the branch, driven only through the sim/ and
   cmd/ topics: encoded at the encoder (cmd/encode with force, every other round a sim/scan of the item it
   carries), carried through the gate (an alarm: it is secured), put on the checkout pad (item.detected),
   released by cmd/security, put on the check-in pad (secured again: security.changed), and a scan of its
   label at check-in. RSS is sampled every SAMPLE_SECONDS.
Growth is the RSS at the end less the RSS once warmed up (the median of the samples in the second tenth of
the run). SOAK_SECONDS=1800 (`make soak`) runs the load for 30 minutes; the default is a short run.
Goals: RSS <= 60 MB; growth <= 1 MB over the 30-minute soak.
"""

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _broker import Broker
from _desk import Desk

ROOT = Path(__file__).parents[1]
TAGD = ROOT / ".venv" / "bin" / "tagd"
STATIONS = {role: f"demo-{role}" for role in ("encoder", "checkout", "gate", "checkin")}
ITEMS = ("100000025", "100000033")
"""Two hardcover items of the demo delivery list: both take the white U-TAG-L1000M."""
POOL = 8
IDLE_SECONDS = 20.0
LOAD_SECONDS = float(os.environ.get("SOAK_SECONDS", "30"))
SAMPLE_SECONDS = 1.0 if LOAD_SECONDS <= 120 else 10.0
GATE_DWELL_S = 0.1
WAIT_S = 10.0
GOAL_RSS_MB = 60.0
GOAL_GROWTH_MB = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def memory(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process so far."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / CLOCK_TICKS


class Branch:
    """Sends the pool's tags round the branch; `rounds` counts the completed trips."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.uids: list[str] = []
        self.carries: list[str] = []
        self.rounds = 0

    async def encode(self, index: int) -> str:
        """A new blank tag, or the pool's tag `index` again: encoded with the other item (a full write,
        cmd/encode with force), or every other time scanned for the item it carries (already there)."""
        desk, encoder = self.desk, STATIONS["encoder"]
        if index == len(self.uids):
            reply = await desk.request(encoder, "sim", "place", profile="U-TAG-L1000M")
            self.uids.append(str(reply["uid"]))
            self.carries.append(ITEMS[1])
        else:
            await desk.request(encoder, "sim", "place", uid=self.uids[index])
        if (self.rounds // POOL) % 2:
            mark = len(desk.events)
            await desk.send(encoder, "sim", "scan", raw=f"A{self.carries[index]}B")
            encoded = "item.encoded"
            await desk.wait_event(lambda e: e.station == encoder and e.short_type == encoded, after=mark)
        else:
            item = ITEMS[ITEMS.index(self.carries[index]) ^ 1]
            book = {"kind": "book", "binding": "hardcover"}
            await desk.request(encoder, "cmd", "encode", item_id=item, force=True, **book)
            self.carries[index] = item
        await desk.request(encoder, "sim", "remove", uid=self.uids[index])
        return self.uids[index]

    async def trip(self) -> None:
        desk = self.desk
        index = self.rounds % POOL
        uid = await self.encode(index)
        _, checkout, gate, checkin = STATIONS.values()
        await desk.request(gate, "sim", "place", uid=uid)
        await asyncio.sleep(GATE_DWELL_S)  # a patron walking through: the tag's time in the gate's field
        await desk.request(gate, "sim", "remove", uid=uid)
        await self.place_until(checkout, uid, "item.detected")
        await desk.request(checkout, "cmd", "security", items=[uid], secured=False)
        await desk.request(checkout, "sim", "remove", uid=uid)
        await self.place_until(checkin, uid, "security.changed")
        await desk.request(checkin, "sim", "remove", uid=uid)
        await desk.send(checkin, "sim", "scan", raw=f"A{self.carries[index]}B")
        self.rounds += 1

    async def place_until(self, station: str, uid: str, kind: str) -> None:
        mark = len(self.desk.events)
        await self.desk.request(station, "sim", "place", uid=uid)
        await self.desk.wait_event(
            lambda e: e.station == station and e.short_type == kind and e.data.uid == uid, after=mark
        )


async def idle(pid: int) -> tuple[float, float, float]:
    """RSS (MB) once settled, then CPU (% of one core) over IDLE_SECONDS; and the RSS after."""
    before_rss, _ = memory(pid)
    cpu, started = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(IDLE_SECONDS)  # the measuring window: nothing is driven, the stations poll
    share = (cpu_seconds(pid) - cpu) / (time.monotonic() - started) * 100
    return before_rss, share, memory(pid)[0]


async def load(pid: int, desk: Desk) -> tuple[Branch, list[tuple[float, float]]]:
    """The trips for LOAD_SECONDS, RSS sampled along the way: (seconds into the run, MB)."""
    branch = Branch(desk)
    samples: list[tuple[float, float]] = []
    started = time.monotonic()

    async def sample() -> None:
        while True:
            samples.append((time.monotonic() - started, memory(pid)[0]))
            await asyncio.sleep(SAMPLE_SECONDS)

    sampler = asyncio.create_task(sample())
    try:
        while time.monotonic() - started < LOAD_SECONDS:
            await branch.trip()
    finally:
        sampler.cancel()
    samples.append((time.monotonic() - started, memory(pid)[0]))
    return branch, samples


def growth(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """The RSS at the end less the warmed-up RSS (median of the second tenth of the run), and that base."""
    end = samples[-1][0]
    warm = [mb for at, mb in samples if end / 10 <= at < end / 5] or [samples[0][1]]
    base = statistics.median(warm)
    return samples[-1][1] - base, base


def verdict(value: float, goal: float) -> str:
    return f"goal <= {goal:g} MB: {'met' if value <= goal else 'MISSED'}"


async def measure(pid: int, port: int) -> None:
    async with Desk(port) as desk:
        await desk.wait_online(list(STATIONS.values()))
        rss, cpu, after = await idle(pid)
        later = f"{after:.1f} MB {IDLE_SECONDS:.0f} s later"
        print(f"  idle RSS   {rss:6.1f} MB ({verdict(rss, GOAL_RSS_MB)}); {later}")
        print(f"  idle CPU   {cpu:6.2f} % of one core over {IDLE_SECONDS:.0f} s (gate polling every 20 ms)")
        cpu, started = cpu_seconds(pid), time.monotonic()
        branch, samples = await load(pid, desk)
        busy = (cpu_seconds(pid) - cpu) / (time.monotonic() - started) * 100
        events = len(desk.events)
    peak = max(mb for _, mb in samples)
    _, hwm = memory(pid)
    grew, base = growth(samples)
    seconds = samples[-1][0]
    trips = f"{branch.rounds} trips round the 4 stations in {seconds:.0f} s"
    print(f"  load       {trips}, {events} events; CPU {busy:.1f} % of one core")
    print(f"  load RSS   {peak:6.1f} MB peak ({verdict(peak, GOAL_RSS_MB)}); VmHWM {hwm:.1f} MB")
    kind = "soak" if LOAD_SECONDS >= 1800 else f"short run (make soak runs {1800 / 60:.0f} min)"
    print(f"  growth     {grew:+6.2f} MB over {seconds:.0f} s from {base:.1f} MB")
    print(f"             ({verdict(grew, GOAL_GROWTH_MB)}), {kind}")
    tenths = [min(samples, key=lambda s: abs(s[0] - seconds * k / 10))[1] for k in range(11)]
    print(f"  RSS at each tenth of the run (MB): {' '.join(f'{mb:.1f}' for mb in tenths)}")


def main() -> None:
    print(f"footprint: tagd run --config config/demo.toml, 4 sim stations; load {LOAD_SECONDS:.0f} s")
    with tempfile.TemporaryDirectory(prefix="tagd-bench-footprint-") as tmp, Broker() as broker:
        env = os.environ | {"TAGD_STATE_DIR": tmp}
        command = [str(TAGD), "run", "--config", str(ROOT / "config" / "demo.toml")]
        with (Path(tmp) / "tagd.log").open("wb") as log:
            daemon = subprocess.Popen(
                [*command, "--mqtt-url", f"mqtt://127.0.0.1:{broker.port}"], env=env, stdout=log, stderr=log
            )
            try:
                asyncio.run(measure(daemon.pid, broker.port))
            finally:
                daemon.terminate()
                code = daemon.wait(timeout=WAIT_S)
        if code != 0:
            print((Path(tmp) / "tagd.log").read_text()[-3000:], file=sys.stderr)
            raise SystemExit(f"tagd run exited {code}")


if __name__ == "__main__":
    main()
