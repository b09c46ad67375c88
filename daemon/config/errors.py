"""One line per configuration problem, led by its key path as the operator wrote it in TOML.

pydantic reports locations as tuples and messages for programmers; an operator at a library needs
"stations[1].role: 'encodr' is not one of encoder, checkout, gate, checkin" and, for a typo, a suggestion.
Values of secret keys are never echoed.
"""

import difflib
import json
import re
import types
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tagd.protocols.errors import key_path as protocol_key_path

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SECRET_WORDS = ("password", "secret")
_CHOICE_TYPES = frozenset({"enum", "literal_error"})
_SHOWN = 60
_EXPECTED = {
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "path_type": "expected a path (a string)",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "list_type": "expected an array",
}
"""pydantic's type errors in the words of a TOML file."""


class ConfigError(Exception):
    """A configuration that cannot be used (exit 78); `problems` holds one line per problem, and `lines`
    the same led by where each value came from (the file, an environment variable, the command line)."""

    def __init__(self, message: str, problems: Sequence[str] = (), lines: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems) or (message,)
        self.lines = tuple(lines) or (message,)


class ConfigFileMissing(ConfigError):  # noqa: N818 - reads as what it is
    """The configuration file does not exist (exit 66, EX_NOINPUT: no input, rather than a bad one)."""


Origin = Callable[[Sequence[int | str]], str | None]
"""Where the value at a key path came from, when not the file: e.g. "environment variable TAGD_X"."""


def key_path(loc: Sequence[int | str]) -> str:
    """('stations', 1, 'role') -> stations[1].role; keys that are not bare TOML keys are quoted."""
    return protocol_key_path(loc, bare=_BARE_KEY, other=_toml_key)


def _toml_key(key: str, first: bool) -> str:  # noqa: FBT001 - key_path's callback
    if key == "[key]":
        return " (the key)"
    quoted = json.dumps(key, ensure_ascii=False)
    return quoted if first else f".{quoted}"


def describe(
    exc: ValidationError, model: type[BaseModel], *, source: str, origin: Origin | None = None
) -> ConfigError:
    """A ConfigError for every problem in `exc`, each line led by its key path; a value that came from
    elsewhere than `source` (`origin` says where) is reported as from there."""
    problems: list[str] = []
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        path = key_path(error["loc"])
        problem = _problem(error, model)
        line = f"{path}: {problem}" if path else problem
        where = (origin(error["loc"]) if origin is not None else None) or source
        if line not in problems:
            problems.append(line)
            lines.append(f"{where}: {line}")
    if len(problems) == 1:
        return ConfigError(lines[0], problems, lines)
    listed = "".join(f"\n  {line}" for line in lines)
    return ConfigError(f"{len(problems)} configuration problems:{listed}", problems, lines)


def _problem(error: ErrorDetails, model: type[BaseModel]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    secret = any(word in str(part) for part in error["loc"] for word in _SECRET_WORDS)
    shown = "the value given" if secret else _shown(error.get("input"))
    if kind == "extra_forbidden":
        return "unknown key" + _suggestion(error["loc"], model)
    if kind == "missing":
        return "required, but missing"
    if kind in _CHOICE_TYPES:
        choices = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{shown} is not one of {choices}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    message = _EXPECTED.get(kind) or error["msg"][:1].lower() + error["msg"][1:]
    return f"{message}, got {shown}"


def _shown(value: Any) -> str:
    """The value as the operator wrote it, in TOML's words for tables and arrays."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _suggestion(loc: Sequence[int | str], model: type[BaseModel]) -> str:
    parent = _model_at(model, loc[:-1])
    if parent is None:
        return ""
    known = list(parent.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known here: {', '.join(known)})"


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model that the table at `loc` is validated as, following fields, arrays and optionals."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            args = get_args(current) if get_origin(current) is list else ()
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return None
        current = _unwrapped(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrapped(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrapped(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _unwrapped(members[0]) if len(members) == 1 else annotation
    return annotation
