"""The test suite's own LANDKORT_TEST_* variables never reach the service's settings."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.settings import SettingsError, load_settings


def test_test_variables_are_not_settings() -> None:
    env = {"LANDKORT_TEST_REQUIRE_ALL": "1", "LANDKORT_TEST_DATABASE_URL": "x",
           "LANDKORT_HTTP_PORT": "9000"}
    assert load_settings(environ=env).http_port == 9000


def test_other_unknown_variables_are_errors() -> None:
    with pytest.raises(SettingsError, match="LANDKORT_HTTP_PROT"):
        load_settings(environ={"LANDKORT_HTTP_PROT": "9000"})


def test_the_sqlite_driver_setting_picks_the_fallback(tmp_path: Path) -> None:
    import asyncio

    from bot.core.commandline import open_database

    async def opened(driver: str) -> bool:
        settings = load_settings(environ={}, data_dir=str(tmp_path / driver),
                                 secret_key="k" * 32).replace(sqlite_driver=driver)
        db = await open_database(settings)
        try:
            return db.inline
        finally:
            await db.dispose()

    assert asyncio.run(opened("inline")) is True
    assert asyncio.run(opened("aiosqlite")) is False
