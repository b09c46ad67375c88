"""The wheel carries compiled gettext catalogs: build_py compiles each locale/*/LC_MESSAGES/*.po to .mo with
Babel (pyproject.toml holds everything else; `make venv` compiles them in the source tree)."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogs(build_py):
    def run(self) -> None:
        from babel.messages.mofile import write_mo  # noqa: PLC0415 - a build requirement only
        from babel.messages.pofile import read_po  # noqa: PLC0415

        for po in Path("daemon/i18n/locale").glob("*/LC_MESSAGES/*.po"):
            with po.open("rb") as source:
                catalog = read_po(source)
            with po.with_suffix(".mo").open("wb") as target:
                write_mo(target, catalog)
        super().run()


setup(cmdclass={"build_py": BuildWithCatalogs})
