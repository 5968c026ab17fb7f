"""Running ``landkort`` in tests: in-process (``run_cli``) or as a subprocess
(``landkort_command``, ``clean_env``), with settings only from what the test sets."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> None:
    """Run in tmp_path with no LANDKORT_* variables but the test's own (and the test
    suite's LANDKORT_TEST_*), so a developer's settings cannot leak in."""
    for key in list(os.environ):
        if key.startswith("LANDKORT_") and not key.startswith("LANDKORT_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> CliResult:
    """``landkort ARGV`` in this process; argparse exits become exit codes."""
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**env: str) -> dict[str, str]:
    """os.environ without LANDKORT_* settings, plus ``env``."""
    base = {k: v for k, v in os.environ.items()
            if not (k.startswith("LANDKORT_") and not k.startswith("LANDKORT_TEST_"))}
    base.update(env)
    return base


def landkort_command(*argv: str) -> list[str]:
    """A command line running ``landkort`` with this interpreter."""
    return [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())",
            *argv]


def wait_for_health(proc: subprocess.Popen[Any], port: int, timeout: float = 30.0,
                    log: Path | None = None) -> dict[str, Any]:
    """Poll /healthz until it answers 200 (fails early if the process dies)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = log.read_text(errors="replace") if log else ""
            pytest.fail(f"landkort exited with {proc.returncode} before serving:\n{output}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                data: dict[str, Any] = json.loads(r.read())
                return data
        except (OSError, urllib.error.URLError) as exc:
            last = exc
            time.sleep(0.1)
    output = log.read_text(errors="replace") if log else ""
    pytest.fail(f"/healthz did not answer within {timeout}s ({last}):\n{output}")


def stop(proc: subprocess.Popen[Any], timeout: float = 30.0) -> int | None:
    """SIGTERM, wait; kill if it does not stop. Returns the exit code after SIGTERM, or
    None when it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.terminate()
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None
