"""Bounded fuzzing of the mail parser in CI: ``parse_message`` never raises and always
returns a contract-shaped result, for hostile MIME trees (tests/fuzz_mime.py) and raw
random bytes.

``LANDKORT_TEST_FUZZ_EXAMPLES`` (default 300) sets the number of examples per strategy; the
longer run is ``benchmarks/fuzz_parser.py``. tests/test_parse_property.py covers simpler
shapes (line soup, a fixed header list); this one builds deep, damaged trees.
"""
from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_mime import check_contract, mime_messages

EXAMPLES = int(os.environ.get("LANDKORT_TEST_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def _run(name: str, test: object, capsys: pytest.CaptureFixture[str]) -> None:
    seen = {"n": 0}

    @FUZZ
    @given(st.data())
    def counted(data: st.DataObject) -> None:
        seen["n"] += 1
        test(data)  # type: ignore[operator]

    start = time.perf_counter()
    counted()
    took = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n[fuzz] {name}: {seen['n']} examples in {took:.1f} s "
              f"({seen['n'] / max(took, 1e-9):.0f}/s)")


def test_fuzz_mime_trees(capsys: pytest.CaptureFixture[str]) -> None:
    _run("MIME trees", lambda data: check_contract(data.draw(mime_messages())), capsys)


def test_fuzz_random_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    _run("random bytes", lambda data: check_contract(data.draw(st.binary(max_size=4000))),
         capsys)


def test_fuzz_header_soup(capsys: pytest.CaptureFixture[str]) -> None:
    """Raw bytes after a plausible header start: exercises the header parser hardest."""
    start = b"From: a@b.dk\r\nTo: landkort@example.org\r\nContent-Type: multipart/mixed; "
    _run("header soup", lambda data: check_contract(
        start + data.draw(st.binary(max_size=1500))), capsys)


@pytest.mark.parametrize("raw", [
    b"", b"\x00", b"\r\n", b"\n\n\n", b":", b"From:", b"--\n--\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\n" * 3,
    b"Content-Type: text/plain; charset=utf-7\n\n+AGEAYgBj-+ZZZ-+",
    b"Content-Transfer-Encoding: base64\n\nQQ=\n=\n===",
    b"Content-Transfer-Encoding: quoted-printable\n\nabc=\r=\n=",
    b"Subject: =?utf-8?B?" + b"A" * 10_000 + b"?=\n\nx",
    b"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\n----\n",
])
def test_known_nasty_inputs(raw: bytes) -> None:
    check_contract(raw)
