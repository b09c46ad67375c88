"""The wheel must import on its own, so the package-dir mapping cannot rot unnoticed."""

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_and_imports_in_a_clean_venv(tmp_path):
    wheelhouse = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheelhouse), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheelhouse.glob("tagd-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    probe = (
        "import importlib.resources, tagd.protocols.crc as c, tagd.protocols.errors;"
        "print(hex(c.crc16_x25(b'123456789')));"
        "print((importlib.resources.files('tagd.config') / 'tag-profiles.toml').is_file());"
        "d = importlib.resources.files('tagd.daemon');"
        "print((d / 'i18n' / 'locale' / 'ja' / 'LC_MESSAGES' / 'tagd.mo').is_file());"
        "print((d / 'display' / 'static' / 'station.js').is_file());"
        "s = importlib.resources.files('tagd.schemas');"
        "print((s / 'events' / 'item.detected.schema.json').is_file());"
        "print((s / 'status.schema.json').is_file())"
    )
    out = subprocess.run([python, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.split() == ["0x906e", "True", "True", "True", "True", "True"]
