"""What else the machine was doing while a benchmark ran, printed beside its figures: the load average
(other processes on the same cores) and how long the disk takes to make an appended write durable."""

import os
import statistics
import tempfile
import time

PROBE_WRITE = b"x" * 4096


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.1f} (1 min) {five:.1f} (5 min)"


def fsync_ms(directory: str, samples: int, idle_s: float) -> tuple[float, float]:
    """(median, max) ms of write + fdatasync of 4 KiB appended to a file in `directory`, `idle_s` apart."""
    times = []
    with tempfile.TemporaryFile(dir=directory) as probe:
        for _ in range(samples):
            time.sleep(idle_s)  # the pause is the condition measured, not a synchronisation
            start = time.perf_counter()
            probe.write(PROBE_WRITE)
            probe.flush()
            os.fdatasync(probe.fileno())
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), max(times)


def disk(directory: str) -> str:
    hot = fsync_ms(directory, 200, 0.0)
    idle = fsync_ms(directory, 10, 0.1)
    return (
        f"{directory}: 4 KiB append + fdatasync {hot[0]:.2f} ms back to back (max {hot[1]:.1f}), "
        f"{idle[0]:.2f} ms after 100 ms idle (max {idle[1]:.1f})"
    )
