"""``landkort campaign preview|run|stats``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cli import build_parser
from bot.core.db import Database
from bot.mail.models import CampaignStep, OutboxMessage, ReplyToken
from bot.registry.models import Initiative
from tests.conftest import MakeInitiative

ALWAYS = {"LANDKORT_SENDING_DAYS": "mon,tue,wed,thu,fri,sat,sun",
          "LANDKORT_SENDING_WINDOW": "00:00-23:59"}


@pytest.fixture
def cli_env(sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LANDKORT_CONFIG", raising=False)
    monkeypatch.setenv("LANDKORT_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("LANDKORT_DATA_DIR", str(tmp_path / "var"))
    for k, v in ALWAYS.items():
        monkeypatch.setenv(k, v)


async def run(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return int(await args.func(args))


async def count(db: Database, model: type) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def make(sqlite_db: Database) -> MakeInitiative:
    """Entries on the SQLite database only (the CLI opens the database by URL)."""
    from bot.registry.repository import create_initiative
    from tests.conftest import sample_record

    n = [0]

    async def factory(**kw: Any) -> Initiative:
        n[0] += 1
        kw.setdefault("contact_email", f"kontakt{n[0]}@example.dk")
        async with sqlite_db.write() as session:
            return await create_initiative(session, sample_record(**kw), actor="test",
                                           channel="import")
    return factory


@pytest.mark.asyncio
@pytest.mark.usefixtures("cli_env")
async def test_preview_writes_eml_and_stores_nothing(
        sqlite_db: Database, make: MakeInitiative, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        await make()
    await make(contact_email=None, contact_name=None, contact_phone=None)
    out = tmp_path / "preview"
    assert await run("campaign", "preview", "--out", str(out)) == 0
    text = capsys.readouterr().out
    assert "step 1 send: 3" in text and "step 1 skip: 1" in text
    files = sorted(out.glob("*.eml"))
    assert len(files) == 3
    raw = files[0].read_bytes()
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    assert b"X-Landkort-Preview" in raw
    for model in (OutboxMessage, CampaignStep, ReplyToken):
        assert await count(sqlite_db, model) == 0


@pytest.mark.asyncio
@pytest.mark.usefixtures("cli_env")
async def test_preview_respects_the_window(
        sqlite_db: Database, make: MakeInitiative, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LANDKORT_SENDING_DAYS", "mon")
    await make()
    # 2030-01-05 is a Saturday; the entry was created before that.
    assert await run("campaign", "preview", "--now", "2030-01-05T10:00+01:00") == 0
    text = capsys.readouterr().out
    assert "sending window closed" in text and "nothing is due now" in text
    assert "waiting: 1 step(s)" in text


@pytest.mark.asyncio
@pytest.mark.usefixtures("cli_env")
async def test_run_then_stats(sqlite_db: Database, make: MakeInitiative,
                              capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(4):
        await make()
    assert await run("campaign", "run") == 0
    assert "queued 4 reminder(s)" in capsys.readouterr().out
    assert await count(sqlite_db, OutboxMessage) == 4
    assert await run("campaign", "run") == 0
    assert "queued 0 reminder(s)" in capsys.readouterr().out
    assert await run("campaign", "stats", "--by-region") == 0
    text = capsys.readouterr().out
    assert "entries" in text and "no_answer" in text and "nordjylland" in text
    (line,) = [ln for ln in text.splitlines() if ln[:1].isdigit() and " " not in ln[:8]][:1]
    assert line.split()[1] == "4"  # entries
