"""The spine label rule sets as data: config/spine-rules.toml, or the file `spine_rules` names in tagd.toml.

The file has a [palette] shared by every [rules.NAME]; each rule set is checked whole (protocols/spine.py's
RuleSet), and a problem is a ConfigError naming the rule set and key.
"""

import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tagd.daemon.config.errors import ConfigError, describe
from tagd.daemon.store.delivery import CatalogItem
from tagd.protocols.spine import RuleSet, SpineInput

__all__ = ["SHIPPED_RULES", "load_rule_set", "spine_input"]

SHIPPED_RULES = "spine-rules.toml"


def load_rule_set(name: str, path: Path | None = None) -> RuleSet:
    """The rule set `name` from `path`, or from the shipped rules."""
    if path is None:
        source = f"the shipped {SHIPPED_RULES}"
        text = files("tagd.config").joinpath(SHIPPED_RULES).read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read the spine rules: {exc}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    rules: dict[str, Any] = document.get("rules", {})
    if name not in rules:
        raise ConfigError(f"{source}: no rules {name!r}; known: {', '.join(sorted(rules)) or 'none'}")
    try:
        return RuleSet.model_validate({**rules[name], "palette": document.get("palette", {})})
    except ValidationError as exc:
        raise describe(exc, RuleSet, source=f"{source}: rules.{name}") from None


def spine_input(item: CatalogItem) -> SpineInput:
    """What a delivery list's row says for the spine rules."""
    return SpineInput(
        item_id=item.item_id,
        title=item.title,
        call_number=item.call_number,
        kind=item.kind,
        audience=item.audience,
        origin=item.origin,
        genre=item.genre,
    )
