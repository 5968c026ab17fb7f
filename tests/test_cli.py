"""The ``landkort`` command line: help, ``run`` and ``demo`` end to end."""
from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.demo.data import DEMO_INITIATIVES
from tests.clihelp import (
    clean_env,
    free_port,
    isolate_env,
    landkort_command,
    run_cli,
    stop,
    wait_for_health,
)

# Commands the README documents; every capability's commands must show up in --help.
CORE_COMMANDS = {"run", "demo", "db", "config", "import", "export", "stats", "parse"}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """{name: (help, parser)} of a parser's subcommands."""
    found: dict[str, tuple[str, argparse.ArgumentParser]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                found[name] = (helps.get(name, ""), sub)
    return found


def test_help_lists_every_command_with_help_text(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _subcommands(build_parser())
    assert CORE_COMMANDS <= set(commands)
    missing: list[str] = []

    def walk(prefix: str, tree: dict[str, tuple[str, argparse.ArgumentParser]]) -> None:
        for name, (text, sub) in tree.items():
            if not text.strip():
                missing.append(f"{prefix}{name}")
            walk(f"{prefix}{name} ", _subcommands(sub))
    walk("", commands)
    assert missing == [], f"commands without help text: {missing}"

    result = run_cli(capsys, "--help")
    assert result.code == 0
    for name, (text, _) in commands.items():
        assert name in result.out
        assert text.split()[0] in result.out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    result = run_cli(capsys, "--version")
    assert result.code == 0
    assert result.out.strip() == f"landkort {version('landkort')}"


def test_info_names_version_config_database_and_migration_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "landkort.toml"
    config.write_text('[landkort]\nsmtp_enabled = true\nsmtp_host = "relay.example.dk"\n'
                      'smtp_port = 587\nsmtp_security = "starttls"\n', encoding="utf-8")
    isolate_env(monkeypatch, tmp_path, LANDKORT_DATA_DIR=str(tmp_path / "var"),
                LANDKORT_CONFIG=str(config))
    (tmp_path / "var").mkdir()
    result = run_cli(capsys, "info")
    assert result.code == 1  # an empty database lags the code
    assert "code expects" in result.out and "landkort db upgrade" in result.out
    assert str(config) in result.out
    assert "relay.example.dk:587 (starttls)" in result.out
    assert run_cli(capsys, "db", "upgrade").code == 0
    result = run_cli(capsys, "info")
    assert result.code == 0
    lines = dict(line.split(None, 1) for line in result.out.splitlines()
                 if line.split(None, 1)[0] in ("version", "migrations", "database"))
    assert lines["migrations"].endswith("current")
    assert lines["database"].startswith("sqlite+aiosqlite:///")
    # A password in the database URL is masked.
    monkeypatch.setenv("LANDKORT_DATABASE_URL",
                       "postgresql+asyncpg://landkort:hemmeligt@127.0.0.1:1/none")
    result = run_cli(capsys, "info")
    assert result.code == 1
    assert "hemmeligt" not in result.out and "landkort:***@127.0.0.1:1/none" in result.out
    assert "unreachable" in result.out


def test_run_without_a_secret_exits_1_with_a_clear_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    isolate_env(monkeypatch, tmp_path, LANDKORT_DATA_DIR=str(tmp_path / "var"))
    result = run_cli(capsys, "run")
    assert result.code == 1
    assert result.err.startswith("landkort: ")
    assert "secret_key is missing" in result.err and "LANDKORT_SECRET_KEY" in result.err
    assert "Traceback" not in result.err


def test_demo_seed_only_then_stats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    isolate_env(monkeypatch, tmp_path, LANDKORT_DATA_DIR=str(tmp_path / "var"))
    result = run_cli(capsys, "demo", "--seed-only")
    assert result.code == 0, result.err
    assert f"registry: {len(DEMO_INITIATIVES)} initiatives loaded" in result.out
    assert (tmp_path / "var" / "landkort.db").exists()

    result = run_cli(capsys, "demo", "--seed-only")
    assert "already has data" in result.out

    result = run_cli(capsys, "stats")
    assert result.code == 0, result.err
    assert f"{len(DEMO_INITIATIVES)} offentliggjorte initiativer" in result.out
    for label in ("Monosektorielle", "Tværsektorielle", "Region Nordjylland", "I drift",
                  "Sygehus–kommune–almen praksis"):
        assert label in result.out
    data = json.loads(run_cli(capsys, "stats", "--json").out)
    assert data["total"] == len(DEMO_INITIATIVES)
    assert data["monosectoral"] + data["cross_sectoral"] == len(DEMO_INITIATIVES)


def test_run_serves_healthz_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "landkort.toml"
    config.write_text(f'data_dir = "{tmp_path / "var"}"\n'
                      f'secret_key = "run-test-secret-0123456789abcdef"\n'
                      f"http_port = {port}\n", encoding="utf-8")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(landkort_command("--config", str(config), "run"),
                                cwd=tmp_path, env=clean_env(), stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            health = wait_for_health(proc, port, log=log)
            assert health["status"] == "ok" and health["database"] == "ok"
        finally:
            code = stop(proc)
    assert code == 0, log.read_text(errors="replace")
    output = log.read_text(errors="replace")
    assert f"running on http://127.0.0.1:{port}" in output
    assert "Traceback" not in output


def test_run_logs_json_and_an_access_log_without_tokens(tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    port = free_port()
    token = "Zm9vYmFyLXNlY3JldC10b2tlbi0xMjM0NTY3ODkw"
    config = tmp_path / "landkort.toml"
    config.write_text(f'data_dir = "{tmp_path / "var"}"\n'
                      f'secret_key = "run-test-secret-0123456789abcdef"\n'
                      f'log_format = "json"\naccess_log = true\n'
                      f"http_port = {port}\n", encoding="utf-8")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(landkort_command("--config", str(config), "run"),
                                cwd=tmp_path, env=clean_env(), stdout=subprocess.DEVNULL,
                                stderr=out)
        try:
            wait_for_health(proc, port, log=log)
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/unsubscribe/{token}",
                                       timeout=5).read()
        finally:
            code = stop(proc)
    assert code == 0, log.read_text(errors="replace")
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert records and {"time", "level", "logger", "message"} <= set(records[0])
    access = [r["message"] for r in records if r["logger"] == "landkort.access"]
    assert any(m.startswith("GET /healthz 200") for m in access), access
    assert any(m.startswith("GET /unsubscribe/{token} ") for m in access), access
    assert token not in log.read_text()


def test_demo_serves_healthz(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "demo"
    env = clean_env(LANDKORT_SANDBOX_SMTP_PORT=str(free_port()),
                    LANDKORT_SANDBOX_IMAP_PORT=str(free_port()))
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            landkort_command("demo", "--port", str(port), "--data-dir", str(data_dir)),
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            health = wait_for_health(proc, port, timeout=30.0, log=log)
            assert health["status"] == "ok"
        finally:
            stop(proc)
    assert (data_dir / "landkort.db").exists()
    assert f"registry: {len(DEMO_INITIATIVES)} initiatives loaded" in log.read_text(
        errors="replace")


def test_import_seed_and_stats_on_postgresql_in_fresh_processes(tmp_path: Path) -> None:
    """A fresh process has not imported every model module; writing must still work
    (foreign keys to tables of other capabilities) on PostgreSQL."""
    import asyncio
    import uuid

    from tests.conftest import pg_url, skip_or_fail
    from tests.postgres import admin as pg_admin
    from tests.postgres import database_url as pg_database_url

    base = pg_url()
    if base is None:
        skip_or_fail("LANDKORT_TEST_DATABASE_URL is not set")
        return
    name = f"landkort_cli_{uuid.uuid4().hex[:12]}"

    try:
        asyncio.run(pg_admin(base, f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        skip_or_fail(f"cannot create a PostgreSQL database: {exc}")
    try:
        url = pg_database_url(base, name)
        env = clean_env(LANDKORT_DATABASE_URL=url, LANDKORT_DATA_DIR=str(tmp_path / "var"))

        def landkort(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(landkort_command(*argv), cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=120)

        result = landkort("stats")
        assert result.returncode == 1 and "landkort db upgrade" in result.stderr
        assert landkort("db", "upgrade").returncode == 0
        result = landkort("demo", "--seed-only")
        assert result.returncode == 0, result.stderr
        assert f"{len(DEMO_INITIATIVES)} initiatives loaded" in result.stdout
        csv_file = tmp_path / "in.csv"
        csv_file.write_text("Titel;Status\nNyt initiativ;Projekt\n", encoding="utf-8")
        result = landkort("import", str(csv_file))
        assert result.returncode == 0, result.stderr
        assert "imported 1 entry" in result.stdout
    finally:
        asyncio.run(pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
