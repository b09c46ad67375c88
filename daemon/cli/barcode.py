"""`tagd barcode ...` sub-commands."""

import argparse


def register(groups: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    groups.add_parser("barcode", help="barcode tools")
