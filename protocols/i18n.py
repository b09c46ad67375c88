"""Marking texts for translation, sans-IO: `N_` marks an English text for `make i18n` (Babel extracts it);
the daemon translates it through its gettext catalogs (tagd.daemon.i18n) when staff read it."""

from typing import Literal

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "N_", "Language"]

Language = Literal["ja", "en"]
LANGUAGES: tuple[Language, ...] = ("ja", "en")
DEFAULT_LANGUAGE: Language = "ja"


def N_(text: str) -> str:  # noqa: N802 - the gettext convention Babel's extractor looks for
    """The text itself: marked for extraction, translated where it is shown."""
    return text
