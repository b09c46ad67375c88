"""Command-line start time: the codec commands against a bare interpreter, side by side (issue 16).

Scripts call `tagd barcode check-digit` once per book. Each command below runs as its own process, in
rounds: every round runs each command once, in the same order, so all of them share the machine's state;
the figure is the median wall time over the rounds (fork + exec to exit, output captured). The bare
interpreter is this venv's python running `import json`, the same executable the `tagd` script starts.
Goal: codec commands (`barcode`, `tag`) within 5x the bare interpreter.
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

from _machine import load

ROUNDS = 21
GOAL_RATIO = 5.0
PYTHON = sys.executable
TAGD = str(Path(sys.executable).with_name("tagd"))
BARE = ("python -c 'import json'", [PYTHON, "-c", "import json"])
CODEC = [
    ("tagd barcode check-digit 12345678", [TAGD, "barcode", "check-digit", "12345678"]),
    ("tagd barcode parse A123456782B", [TAGD, "barcode", "parse", "A123456782B"]),
    ("tagd tag encode", [TAGD, "tag", "encode", "--item", "123456782", "--isil", "JP-1000001"]),
    ("tagd tag rule --kind book", [TAGD, "tag", "rule", "--kind", "book"]),
]
OTHERS = [("tagd --help (every group)", [TAGD, "--help"])]
"""For comparison: the whole command line imported, as every command did before."""


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    print(f"machine at the start: {load()}")
    commands = [BARE, *CODEC, *OTHERS]
    for _, argv in commands:
        timed(argv)  # warm the page cache: the first start reads the files from disk
    times: dict[str, list[float]] = {name: [] for name, _ in commands}
    for _ in range(ROUNDS):
        for name, argv in commands:
            times[name].append(timed(argv))
    medians = {name: statistics.median(values) for name, values in times.items()}
    bare = medians[BARE[0]]
    print(f"command-line start: median wall time of {ROUNDS} rounds, each command once a round")
    print(f"  {BARE[0]:<36} {bare * 1e3:7.1f} ms   1.00x")
    worst = 0.0
    for name, _ in CODEC:
        ratio = medians[name] / bare
        worst = max(worst, ratio)
        print(f"  {name:<36} {medians[name] * 1e3:7.1f} ms  {ratio:5.2f}x")
    for name, _ in OTHERS:
        print(f"  {name:<36} {medians[name] * 1e3:7.1f} ms  {medians[name] / bare:5.2f}x")
    verdict = "met" if worst <= GOAL_RATIO else "MISSED"
    print(f"codec commands: at most {worst:.2f}x a bare interpreter (goal <= {GOAL_RATIO:g}x: {verdict})")
    print(f"machine at the end: {load()}")


if __name__ == "__main__":
    main()
