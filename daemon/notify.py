"""systemd's notify protocol: READY, STATUS, WATCHDOG and STOPPING datagrams to $NOTIFY_SOCKET.

With Type=notify systemd counts tagd as started only after READY=1, and with WatchdogSec it restarts a
tagd that stops sending WATCHDOG=1 (a hung event loop). The protocol is newline-separated assignments in
one AF_UNIX datagram to the socket named by $NOTIFY_SOCKET; a leading '@' names an abstract socket.
Outside systemd (no $NOTIFY_SOCKET) every call is a no-op, so the daemon never asks where it runs.
"""

import asyncio
import os
import socket
from collections.abc import Callable, Mapping

from tagd.daemon.logs import get_logger

__all__ = ["Notifier"]

_log = get_logger(__name__)


def _always() -> bool:
    return True


class Notifier:
    """Sends to one notify socket; `from_environ` reads where, and the watchdog period, from systemd."""

    def __init__(self, address: str | None, watchdog_seconds: float | None = None) -> None:
        self.address = address
        self.watchdog_seconds = watchdog_seconds
        self._socket: socket.socket | None = None
        self._failed = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "Notifier":
        """$NOTIFY_SOCKET, and $WATCHDOG_USEC when $WATCHDOG_PID is unset or this process."""
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET") or None
        watchdog: float | None = None
        pid = environ.get("WATCHDOG_PID")
        try:
            usec = int(environ.get("WATCHDOG_USEC", "0"))
            if usec > 0 and (pid is None or int(pid) == os.getpid()):
                watchdog = usec / 1_000_000
        except ValueError:
            _log.warning("ignoring a malformed watchdog setting", watchdog_usec=environ.get("WATCHDOG_USEC"))
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def keepalive_interval(self) -> float | None:
        """Half the watchdog period, as sd_watchdog_enabled(3) advises; None when there is no watchdog."""
        return None if self.watchdog_seconds is None else self.watchdog_seconds / 2

    def send(self, *assignments: str) -> bool:
        """One datagram of KEY=VALUE lines; False when not under systemd or the send failed (logged once)."""
        if self.address is None:
            return False
        message = "\n".join(assignments).encode("utf-8")
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.setblocking(False)  # noqa: FBT003 - the socket API's own flag
            self._socket.sendto(message, target)
        except OSError as exc:
            if not self._failed:
                _log.warning("cannot notify systemd", socket=self.address, error=str(exc))
            self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *_status(status))

    def status(self, text: str) -> bool:
        return self.send(*_status(text))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *_status(status))

    async def keep_alive(self, healthy: Callable[[], bool] = _always) -> None:
        """Sends WATCHDOG=1 every half period while `healthy()` says so; returns at once without a watchdog.

        Run it as a task for the daemon's life: if the event loop hangs, or `healthy` turns false, the pings
        stop and systemd restarts tagd.
        """
        interval = self.keepalive_interval
        if interval is None or not self.enabled:
            return
        while True:
            if healthy():
                self.watchdog()
            await asyncio.sleep(interval)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _status(text: str | None) -> tuple[str, ...]:
    """STATUS is one line of text: newlines would start new assignments."""
    return () if text is None else ("STATUS=" + " ".join(text.splitlines()),)
