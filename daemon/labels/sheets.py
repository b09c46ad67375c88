"""Label sheet layouts as data: config/label-sheets.toml, or the file `label_sheets` names in tagd.toml.

A layout is a page, a grid of rows x columns, the label size, the margin to the first label and the gaps;
every problem (a grid larger than its page, an unknown key) is a ConfigError naming the sheet and key.
"""

import tomllib
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tagd.daemon.config.errors import ConfigError, describe

__all__ = ["SHIPPED_SHEETS", "Cell", "SheetLayout", "SheetSet", "load_sheets"]

SHIPPED_SHEETS = "label-sheets.toml"
_FIT_MM = 0.05
"""Rounding slack when checking that the grid fits its page."""

Millimetres = Annotated[float, Field(ge=0, le=1000)]
Size = tuple[Annotated[float, Field(gt=0, le=1000)], Annotated[float, Field(gt=0, le=1000)]]


class Cell(BaseModel):
    """One label's place on its page: the top-left corner and the size, in mm from the page's top-left."""

    model_config = ConfigDict(frozen=True)

    page: int
    x: float
    y: float
    width: float
    height: float


class SheetLayout(BaseModel):
    """One kind of sheet; lengths in mm, x to the right and y down from the page's top-left corner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    page_mm: Size
    columns: int = Field(ge=1, le=50)
    rows: int = Field(ge=1, le=100)
    label_mm: Size
    margin_mm: tuple[Millimetres, Millimetres] = (0.0, 0.0)
    gap_mm: tuple[Millimetres, Millimetres] = (0.0, 0.0)
    narrow_mm: float = Field(default=0.3, ge=0.19, le=1.0)

    @model_validator(mode="after")
    def _fits(self) -> "SheetLayout":
        for axis, count, name in ((0, self.columns, "width"), (1, self.rows, "height")):
            used = self.margin_mm[axis] + count * self.label_mm[axis] + (count - 1) * self.gap_mm[axis]
            if used > self.page_mm[axis] + _FIT_MM:
                raise ValueError(
                    f"the labels take {used:.1f} mm of the page's {name} of {self.page_mm[axis]:.1f} mm"
                )
        return self

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def cells(self) -> Iterator[Cell]:
        """Every place on every page, row by row, page after page (without end)."""
        page = 0
        while True:
            for row in range(self.rows):
                for column in range(self.columns):
                    yield Cell(
                        page=page,
                        x=self.margin_mm[0] + column * (self.label_mm[0] + self.gap_mm[0]),
                        y=self.margin_mm[1] + row * (self.label_mm[1] + self.gap_mm[1]),
                        width=self.label_mm[0],
                        height=self.label_mm[1],
                    )
            page += 1


class SheetSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sheet: dict[str, SheetLayout] = Field(min_length=1)

    def get(self, name: str) -> SheetLayout:
        try:
            return self.sheet[name]
        except KeyError:
            known = ", ".join(sorted(self.sheet))
            raise ConfigError(f"no label sheet {name!r}; known: {known}") from None


def load_sheets(path: Path | None = None) -> SheetSet:
    """The layouts in `path`, or the shipped ones."""
    if path is None:
        source = f"the shipped {SHIPPED_SHEETS}"
        text = files("tagd.config").joinpath(SHIPPED_SHEETS).read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read the label sheets: {exc}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return SheetSet.model_validate(document)
    except ValidationError as exc:
        raise describe(exc, SheetSet, source=source) from None
