"""``python -m bot`` runs the ``landkort`` command line."""
from __future__ import annotations

import sys

from bot.cli import main

# Guarded: the parser's worker processes (spawn) import the main module again.
if __name__ == "__main__":
    sys.exit(main())
