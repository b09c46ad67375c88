"""Staff read Japanese: every text a person reads goes through the gettext catalogs here (Babel extracts,
`make i18n` updates the .po files in locale/, the .mo files are compiled by `make venv` and in the wheel).

Japanese is the default, English available. Machines keep codes: a display state is rendered from its code
and parameters (protocols/display.py), an event's reason codes through the texts of protocols/ marked N_.
"""

import gettext
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from typing import Any

from tagd.daemon.i18n.texts import derived
from tagd.protocols.display import SUFFIXES, TEMPLATES, DisplayState
from tagd.protocols.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, Language

__all__ = ["DEFAULT_LANGUAGE", "DOMAIN", "LANGUAGES", "N_", "Language", "render", "translation"]

DOMAIN = "tagd"
SEPARATOR = N_("; ")
"""Between a line and its notes."""


@cache
def translation(language: Language) -> gettext.NullTranslations:
    """The compiled catalog of `language`; English falls back to the msgids themselves."""
    locale_dir = files("tagd.daemon.i18n") / "locale"
    mo = locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not mo.is_file():
        if language == "en":
            return gettext.NullTranslations()
        raise FileNotFoundError(f"{mo}: the {language} catalog is not compiled (run `make venv`)")
    with mo.open("rb") as handle:
        return gettext.GNUTranslations(handle)


def gettext_for(language: Language) -> Callable[[str], str]:
    """`_` for one language."""
    return translation(language).gettext


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render(state: DisplayState, language: Language = DEFAULT_LANGUAGE) -> str:
    """The desk's line in `language`, from the state's code and parameters."""
    _ = gettext_for(language)
    values = _Blank(state.params)
    values.update(derived(state.params, _))
    line = _(TEMPLATES[state.code]).format_map(values)
    notes = [_(SUFFIXES[key]).format_map(values) for key in SUFFIXES if state.params.get(key)]
    return _(SEPARATOR).join([line, *notes])
