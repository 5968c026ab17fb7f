"""Throw-away PostgreSQL databases for tests and benchmarks: the two statements that
cannot run inside a transaction, and a URL for another database on the same server."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


async def admin(base_url: str, statement: str) -> None:
    """Run one statement that cannot run in a transaction (CREATE/DROP DATABASE)."""
    engine = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def database_url(base_url: str, name: str) -> str:
    """``base_url`` with another database name."""
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)
