"""``landkort intake store|process|list|replay`` on an SQLite data dir."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main

MAIL = Path(__file__).parent / "fixtures" / "mail" / "intake"


def test_intake_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LANDKORT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("LANDKORT_DATABASE_URL", raising=False)
    monkeypatch.delenv("LANDKORT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    eml = str(MAIL / "new_submission_da.eml")
    assert main(["intake", "store", eml]) == 0
    assert "stored as 1" in capsys.readouterr().out
    assert main(["intake", "store", eml]) == 0
    assert "already stored as 1" in capsys.readouterr().out
    assert main(["intake", "process"]) == 0
    assert "processed 1 message" in capsys.readouterr().out
    assert main(["intake", "list"]) == 0
    out = capsys.readouterr().out
    assert "done" in out and "submission" in out and "hanne.krogh@odense.dk" in out
    assert main(["intake", "list", "--quarantined"]) == 0
    assert "no messages" in capsys.readouterr().out
    assert main(["intake", "replay", "1", "--now"]) == 0
    assert "processed 1 message" in capsys.readouterr().out
    assert main(["intake", "replay", "99"]) == 1
