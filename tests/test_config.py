"""``landkort config check``: effective settings with secrets masked, clear errors."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clihelp import CliResult, isolate_env, run_cli

SECRET = "s3cret-value-that-must-never-show-0123"
Check = Callable[..., CliResult]


@pytest.fixture
def check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Check:
    """``check(*extra_args, **env)`` runs ``landkort config check`` in an isolated env."""
    isolate_env(monkeypatch, tmp_path)

    def run(*args: str, **env: str) -> CliResult:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        if "--config" in args:  # a global option: before the command
            return run_cli(capsys, *args, "config", "check")
        return run_cli(capsys, "config", "check", *args)
    return run


def _value(out: str, name: str) -> str:
    for line in out.splitlines():
        if line.split(" ", 1)[0] == name:
            return line[len(name):].strip()
    raise AssertionError(f"{name} not in output:\n{out}")


def test_prints_every_setting_with_secrets_masked(check: Check) -> None:
    result = check(LANDKORT_SECRET_KEY=SECRET, LANDKORT_SMTP_PASSWORD="smtp-" + SECRET,
                   LANDKORT_DATABASE_URL="postgresql+asyncpg://landkort:dbpw-" + SECRET
                                         + "@db.example.org/landkort")
    assert result.code == 0, result.err
    assert SECRET not in result.out + result.err
    assert _value(result.out, "secret_key") == "********"
    assert _value(result.out, "smtp_password") == "********"
    assert _value(result.out, "imap_password") == "(not set)"
    masked = "postgresql+asyncpg://landkort:***@db.example.org/landkort"
    assert _value(result.out, "(database)") == masked
    assert _value(result.out, "database_url") == repr(masked)
    assert _value(result.out, "http_port") == "8080"
    assert result.out.rstrip().endswith("settings OK")


@pytest.mark.parametrize(("env", "expected"), [
    ({"LANDKORT_LOG_LEVEL": "LOUD"},
     "log_level = 'LOUD': must be one of DEBUG, INFO, WARNING, ERROR"),
    ({"LANDKORT_HTTP_PORT": "eighty"},
     "http_port from LANDKORT_HTTP_PORT: 'eighty' is not a whole number"),
    ({"LANDKORT_IMAP_IDLE": "maybe"},
     "imap_idle from LANDKORT_IMAP_IDLE: 'maybe' is not true/false"),
    ({"LANDKORT_HTTP_PROT": "8080"},
     "environment variable LANDKORT_HTTP_PROT: unknown setting 'http_prot'"),
    ({"LANDKORT_IMAP_ENABLED": "true"}, "imap_host is required when imap_enabled is true"),
    ({"LANDKORT_DATABASE_URL": "mysql://x/y"}, "database_url must start with"),
])
def test_invalid_values_exit_1_with_a_clear_message(check: Check, env: dict[str, str],
                                                    expected: str) -> None:
    result = check(**env)
    assert result.code == 1
    assert expected in result.err
    assert "Traceback" not in result.err
    assert result.err.startswith("landkort: ")


def test_for_run_requires_a_secret_key(check: Check) -> None:
    result = check("--for-run")
    assert result.code == 1
    assert "secret_key is missing" in result.err and "LANDKORT_SECRET_KEY" in result.err
    assert check("--for-run", LANDKORT_SECRET_KEY=SECRET).code == 0


def test_toml_file_and_env_overrides(check: Check, tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[landkort]\nhttp_port = 9000\nmail_domain = "landkort.example.dk"\n'
                      'imap_poll_seconds = 30\n', encoding="utf-8")
    result = check("--config", str(config))
    assert result.code == 0, result.err
    assert _value(result.out, "http_port") == "9000"
    assert _value(result.out, "mail_domain") == "'landkort.example.dk'"
    assert _value(result.out, "imap_poll_seconds") == "30.0"

    result = check("--config", str(config), LANDKORT_HTTP_PORT="9100")
    assert _value(result.out, "http_port") == "9100"  # the environment wins
    assert _value(result.out, "mail_domain") == "'landkort.example.dk'"


def test_default_file_and_config_variable(check: Check, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "landkort.toml").write_text("http_port = 9200\n", encoding="utf-8")
    assert _value(check().out, "http_port") == "9200"
    other = tmp_path / "other.toml"
    other.write_text("http_port = 9300\n", encoding="utf-8")
    assert _value(check(LANDKORT_CONFIG=str(other)).out, "http_port") == "9300"


@pytest.mark.parametrize(("content", "expected"), [
    ("http_prot = 1\n", "unknown setting 'http_prot'"),
    ("http_port = 'x'\n", "http_port from"),
    ("http_port = \n", "cannot read"),
])
def test_bad_toml_files_exit_1(check: Check, tmp_path: Path, content: str,
                               expected: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content, encoding="utf-8")
    result = check("--config", str(config))
    assert result.code == 1 and expected in result.err


def test_missing_config_file_is_an_error(check: Check, tmp_path: Path) -> None:
    result = check("--config", str(tmp_path / "nope.toml"))
    assert result.code == 1 and "does not exist" in result.err


def _readme() -> str:
    return (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_example_config_loads_and_names_every_setting(tmp_path: Path) -> None:
    """The landkort.toml example in README.md is valid and documents every setting."""
    import dataclasses
    import re

    from bot.core.settings import Settings, load_settings

    text = _readme()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "landkort.toml"
    config.write_text(block, encoding="utf-8")
    load_settings(config, environ={"LANDKORT_IMAP_PASSWORD": "x", "LANDKORT_SMTP_PASSWORD": "y"})
    named = set(re.findall(r"^#?\s*([a-z0-9_]+)\s*[=:]", block, re.MULTILINE))
    undocumented = [f.name for f in dataclasses.fields(Settings)
                    if f.name not in named and not f.name.startswith("sandbox_")]
    assert undocumented == [], f"add these settings to the README example: {undocumented}"


def test_readme_documents_every_command() -> None:
    import argparse

    from bot.cli import build_parser

    text = _readme()
    missing: list[str] = []

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            if f"`{prefix}" not in text:
                missing.append(prefix)
            return
        for name, sub in subs[0].choices.items():
            walk(f"{prefix} {name}".strip() if prefix else f"landkort {name}", sub)
    walk("", build_parser())
    assert missing == [], f"document these commands in README.md: {missing}"
