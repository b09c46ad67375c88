"""`tagd tag ...` sub-commands."""

import argparse


def register(groups: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    groups.add_parser("tag", help="tag tools")
