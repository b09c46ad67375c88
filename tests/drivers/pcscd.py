"""A private pcscd with two vpcd readers for the PC/SC tests, and a wait for pcscd to see a card come or go.

pcscd 1.9.9 always serves /run/pcscd/pcscd.comm, whatever PCSCLITE_CSOCK_NAME says, so a test pcscd runs in a
private mount namespace where a temporary directory is bound over /run/pcscd (root and util-linux's unshare
needed). The client library does honour PCSCLITE_CSOCK_NAME, but reads it once per process, at the first PC/SC
context: start() sets it before any test makes one. Without unshare, a root test run may use the system socket
path when no other pcscd serves it; anything else is a skip with its reason.
"""

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SYSTEM_SOCKET = Path("/run/pcscd/pcscd.comm")
READY = "daemon ready"
START_TIMEOUT = 10.0


class Unavailable(Exception):  # noqa: N818 - the reason a test is skipped, not an error
    """What this machine lacks to run a private pcscd."""


def free_port_pair() -> int:
    """A loopback port whose successor is free too: vpcd listens on CHANNELID and CHANNELID + 1."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise Unavailable("no pair of free loopback ports")


@dataclass
class Pcscd:
    """A running pcscd; `reader` is the vpcd reader whose card connects to `port`."""

    directory: Path
    port: int
    friendly_name: str = "tagd vpcd"
    process: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)
    socket_path: Path = SYSTEM_SOCKET
    _ready: threading.Event = field(default_factory=threading.Event)
    _environment: str | None = None

    @property
    def reader(self) -> str:
        return f"{self.friendly_name} 00 00"

    def start(self) -> None:
        command = self._command()
        conf = self.directory / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "vpcd").write_text(
            f'FRIENDLYNAME "{self.friendly_name}"\nDEVICENAME /dev/null:0x{self.port:04X}\n'
            f"LIBPATH {VPCD_DRIVER}\nCHANNELID 0x{self.port:04X}\n",
            encoding="utf-8",
        )
        self._environment = os.environ.get("PCSCLITE_CSOCK_NAME")
        os.environ["PCSCLITE_CSOCK_NAME"] = str(self.socket_path)
        self.process = subprocess.Popen(  # the PID is pcscd's own: unshare and sh exec into it
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.directory
        )
        threading.Thread(target=self._drain, name="pcscd-log", daemon=True).start()
        if not (self._ready.wait(START_TIMEOUT) and self._serving(time.monotonic() + START_TIMEOUT)):
            self.stop()
            refused = [line for line in self.log if line.startswith(("unshare:", "mount:"))]
            if refused:  # root without the right to a mount namespace (an unprivileged container)
                raise Unavailable(refused[0])
            raise RuntimeError("pcscd did not start:\n" + "\n".join(self.log[-30:]))

    def stop(self) -> None:
        """Stops pcscd by its own PID and gives the environment back its socket setting."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5.0)
        if self._environment is None:
            os.environ.pop("PCSCLITE_CSOCK_NAME", None)
        else:
            os.environ["PCSCLITE_CSOCK_NAME"] = self._environment

    def _command(self) -> list[str]:
        if shutil.which("pcscd") is None or not VPCD_DRIVER.exists():
            raise Unavailable("pcscd or vsmartcard-vpcd is not installed (make deps installs them)")
        if os.geteuid() != 0:
            raise Unavailable("a private pcscd needs root: pcscd only serves /run/pcscd/pcscd.comm")
        run = self.directory / "run"
        run.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "conf"
        if shutil.which("unshare") is not None:
            SYSTEM_SOCKET.parent.mkdir(parents=True, exist_ok=True)
            self.socket_path = run / SYSTEM_SOCKET.name
            script = f'mount --bind "{run}" /run/pcscd && exec pcscd -f -i -c "{conf}"'
            return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
        if SYSTEM_SOCKET.exists():
            raise Unavailable("no unshare, and another pcscd serves /run/pcscd/pcscd.comm")
        return ["pcscd", "-f", "-i", "-c", str(conf)]

    def _serving(self, deadline: float) -> bool:
        """pcscd logs 'daemon ready' before it opens its socket: poll, bounded, until a client gets in."""
        from smartcard import scard  # noqa: PLC0415 - only the PC/SC tests load pyscard

        assert self.process is not None
        while self.process.poll() is None and time.monotonic() < deadline:
            if self.socket_path.is_socket():
                result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                if result == scard.SCARD_S_SUCCESS:
                    scard.SCardReleaseContext(context)
                    return True
            time.sleep(0.01)
        return False

    def _drain(self) -> None:
        """Keeps pcscd's log (so its pipe never fills) and tells start() when it is ready."""
        assert self.process is not None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line.rstrip())
            if READY in line:
                self._ready.set()
        self._ready.set()  # exited: start() sees it through poll()


def wait_for_card(reader: str, *, present: bool, timeout: float = 5.0) -> None:
    """Blocks until pcscd reports a card in `reader` (or none), by SCardGetStatusChange; TimeoutError else."""
    from smartcard import scard  # noqa: PLC0415 - only the PC/SC tests load pyscard

    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert result == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(result)
    try:
        deadline = time.monotonic() + timeout
        wanted = scard.SCARD_STATE_PRESENT if present else scard.SCARD_STATE_EMPTY
        result, states = scard.SCardGetStatusChange(context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        while result == scard.SCARD_S_SUCCESS and not states[0][1] & wanted:
            state = states[0][1] & ~scard.SCARD_STATE_CHANGED
            left = max(1, int((deadline - time.monotonic()) * 1000))
            result, states = scard.SCardGetStatusChange(context, left, [(reader, state)])
        if result == scard.SCARD_E_TIMEOUT:
            raise TimeoutError(f"pcscd did not see the card {'arrive in' if present else 'leave'} {reader!r}")
        assert result == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(result)
    finally:
        scard.SCardReleaseContext(context)
