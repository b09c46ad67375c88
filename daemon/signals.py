"""SIGTERM and SIGINT (Ctrl-C) as an asyncio.Event: how `tagd run`, `tagd demo`, `tagd monitor` and
`tagd sim feig` learn to stop cleanly."""

import asyncio
import contextlib
import signal
from collections.abc import Iterator

__all__ = ["stop_on_signals"]


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """While inside: SIGTERM and SIGINT set `stop` (where the loop can take signals: the main thread)."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
