"""`tagd tag rule`: which IC tag an item needs."""

import argparse


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    commands.add_parser("rule", help="which tag an item needs")
