"""CLI subcommands of this capability (registered by bot.cli)."""
from __future__ import annotations

import argparse
from typing import Any


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    """Add this capability's subcommands."""
