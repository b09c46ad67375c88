"""Generators for the docs (a development tool, not part of the service or its wheel).

`make docs` runs them: `events` writes docs/events.md from the models; `examples` holds the examples it shows,
which the tests also check against the models.
"""
