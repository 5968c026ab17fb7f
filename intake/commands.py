"""CLI subcommands of e-mail intake (registered by bot.cli)."""
from __future__ import annotations

import argparse
from typing import Any

from intake import intake_command, parse_command


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this capability's subcommands: ``parse``."""
    parse_command.add_parser(sub)
    intake_command.add_parser(sub)
