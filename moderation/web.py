"""Component stub: routes and workers are added by its capability."""
from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add this component's routes and workers to the app."""
