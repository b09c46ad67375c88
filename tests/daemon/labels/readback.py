"""Label PDFs read back with Debian's poppler-utils and zbar-tools, as a person with a scanner would."""

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image

from tagd.daemon.labels.sheets import SheetLayout

DPI = 300
_ZBAR = "{http://zbar.sourceforge.net/2008/barcode}"


def rasterise(pdf: Path, workdir: Path, dpi: int = DPI) -> list[Path]:
    """One PNG per page (pdftoppm)."""
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(workdir / "page")], check=True)
    return sorted(workdir.glob("page-*.png"))


def text(pdf: Path) -> str:
    """The PDF's text in reading layout (pdftotext -layout)."""
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def decode_cells(pdf: Path, layout: SheetLayout, count: int, workdir: Path) -> list[list[str]]:
    """What zbarimg reads in each of the first `count` label cells, cell by cell: a crop per cell."""
    pages = [Image.open(path) for path in rasterise(pdf, workdir)]
    scale = DPI / 25.4
    crops = []
    for index, cell in zip(range(count), layout.cells(), strict=False):
        box = (cell.x, cell.y, cell.x + cell.width, cell.y + cell.height)
        crop = pages[cell.page].crop(tuple(round(value * scale) for value in box))
        path = workdir / f"cell-{index:04d}.png"
        crop.save(path)
        crops.append(path)
    command = ["zbarimg", "--xml", "-q", *map(str, crops)]
    run = subprocess.run(command, check=False, capture_output=True, text=True)
    assert run.returncode in (0, 4), run.stderr  # 4: some image had no symbol (then that cell reads [])
    found: dict[str, list[str]] = {str(path): [] for path in crops}
    for source in ET.fromstring(run.stdout).iter(f"{_ZBAR}source"):
        found[source.attrib["href"]] = [
            f"{symbol.attrib['type']}:{symbol.findtext(f'{_ZBAR}data')}"
            for symbol in source.iter(f"{_ZBAR}symbol")
        ]
    return [found[str(path)] for path in crops]
