"""A mosquitto for the benchmarks: started on a free loopback port in its own directory, stopped or killed.

Benchmarks run as scripts (`python bench/bench_x.py`), so they cannot import the test fixtures in tests/;
this is the small part of them a benchmark needs. `extra` lines are added to the configuration (a bridge,
persistence). The broker gets SIGTERM if the benchmark process dies, so none outlives a killed run.
"""

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
READY_TIMEOUT_S = 5.0
NO_DELAY = "set_tcp_nodelay true"
"""An `extra` line: small packets go out at once, as deployments should run it (docs/performance.md)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Broker:
    """One mosquitto process; `start()` again after `kill()` or `stop()` comes back on the same port."""

    def __init__(self, extra: str = "", directory: Path | None = None) -> None:
        self.directory = directory or Path(tempfile.mkdtemp(prefix="tagd-bench-broker-"))
        self.port = free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "mosquitto.log"

    def start(self) -> "Broker":
        conf = self.directory / "mosquitto.conf"
        # max_queued_messages 0: mosquitto must not drop QoS 1 messages for a subscriber that falls behind.
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
            f"user root\nlog_dest stderr\nlog_type error\nlog_type warning\n{self.extra}\n"
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log, preexec_fn=_die_with_parent  # noqa: PLW1509
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"mosquitto did not listen: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.01)

    def kill(self) -> None:
        """SIGKILL: what survives is what the broker had already written to its persistence file."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)
        self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
