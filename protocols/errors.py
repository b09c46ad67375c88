"""One base class so callers (the CLI, the daemon) can tell bad data from a bug."""


class ProtocolError(ValueError):
    """Input that does not follow the protocol or rule; the message says exactly what is wrong."""
