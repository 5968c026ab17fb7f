"""``landkort parse [--json] FILE|-`` on the command line."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import skip_or_fail

MAIL = Path(__file__).parent / "fixtures" / "mail"
# Version 2 of the contract (../shared/contracts/parse.md) added inferred and attachments.
KEYS = ["kind", "reply_token", "reply_text", "fields", "confirmed_unchanged", "bounce",
        "problems", "inferred", "attachments"]


def test_parse_json_prints_one_contract_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--json", str(MAIL / "outlook_da_reply.eml")]) == 0
    out = capsys.readouterr().out
    obj, end = json.JSONDecoder().raw_decode(out.strip())
    assert out.strip()[end:] == ""
    assert list(obj) == KEYS
    assert obj["kind"] == "reply"
    assert obj["fields"]["status"] == "i_drift"


def test_parse_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(MAIL / "bounce_postfix.eml")]) == 0
    out = capsys.readouterr().out
    assert "kind:        bounce" in out and "5.1.1" in out


def test_parse_stdin(monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    data = (MAIL / "afmeld.eml").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["parse", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "unsubscribe"


def test_unreadable_file_exits_non_zero(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--json", str(tmp_path / "missing.eml")]) != 0
    captured = capsys.readouterr()
    assert captured.out == "" and "cannot read" in captured.err


def test_console_script_on_garbage(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "landkort"
    if not exe.exists():
        skip_or_fail("landkort console script not installed next to the interpreter")
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\xff\xfe\x00Content-Type: multipart/mixed; boundary=\n\n--\n\x00")
    proc = subprocess.run([str(exe), "parse", "--json", str(junk)], capture_output=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout.decode("utf-8"))) == KEYS
