"""One base class so callers (the CLI, the daemon) can tell bad data from a bug; and where in a document a
problem is (a validation error's location as a key path)."""

from collections.abc import Callable, Sequence
from re import Pattern

__all__ = ["ProtocolError", "key_path"]


class ProtocolError(ValueError):
    """Input that does not follow the protocol or rule; the message says exactly what is wrong."""


def key_path(
    loc: Sequence[int | str], *, bare: Pattern[str], other: Callable[[str, bool], str], empty: str = ""
) -> str:
    """A validation error's location as people write it: ('stations', 1, 'role') -> stations[1].role.

    An index is `[i]`; a key that `bare` matches is joined with '.'; any other key is written by
    `other(key, first)` (each document's own quoting: TOML's "…", a payload's ['…']). `empty` for no location.
    """
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif bare.fullmatch(part):
            path += f".{part}" if path else part
        else:
            path += other(part, not path)
    return path or empty
