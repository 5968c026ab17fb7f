"""A longer fuzzing run of the mail parser than CI's bounded one (tests/test_fuzz_parser.py).

    .venv/bin/python benchmarks/fuzz_parser.py --seconds 120                  # hypothesis
    .venv/bin/python benchmarks/fuzz_parser.py --engine atheris --seconds 120 # coverage-guided

``hypothesis`` (always available) draws hostile MIME trees and raw bytes from
tests/fuzz_mime.py; ``atheris`` (``pip install atheris``, optional: not a project
dependency) is libFuzzer, coverage-guided, on raw bytes, seeded with the mail fixtures.
Both check that :func:`intake.parse.message.parse_message` never raises and returns a
contract-shaped result, and print the examples per second and any crash (exit status 1
on a crash).
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_hypothesis(seconds: float) -> int:
    from hypothesis import HealthCheck, given, settings

    from tests.fuzz_mime import any_input, check_contract

    count = {"n": 0, "bytes": 0}
    deadline = time.monotonic() + seconds
    crashes: list[str] = []

    @settings(max_examples=500, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(any_input)
    def one(raw: bytes) -> None:
        count["n"] += 1
        count["bytes"] += len(raw)
        check_contract(raw)

    start = time.monotonic()
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        try:
            one()
        except Exception:  # noqa: BLE001 - report the (shrunk) failing example and stop
            crashes.append(traceback.format_exc())
            print(crashes[-1], file=sys.stderr)
            break
    took = time.monotonic() - start
    print(f"hypothesis: {count['n']} examples ({count['bytes'] / 1e6:.1f} MB) in "
          f"{took:.0f} s = {count['n'] / took:.0f} examples/s over {rounds} rounds; "
          f"crashes: {len(crashes)}")
    return 1 if crashes else 0


def run_atheris(seconds: float, corpus: Path) -> int:
    try:
        import atheris
    except ImportError:
        print("atheris is not installed (pip install atheris); use --engine hypothesis",
              file=sys.stderr)
        return 2
    with atheris.instrument_imports():
        import bot.registry.fields  # noqa: F401
        import intake.parse.classify  # noqa: F401
        import intake.parse.decode  # noqa: F401
        import intake.parse.html_text  # noqa: F401
        import intake.parse.quotes  # noqa: F401
        import intake.parse.reply_form  # noqa: F401
        from intake.parse.message import parse_message  # noqa: F401
    from tests.fuzz_mime import check_contract

    corpus.mkdir(parents=True, exist_ok=True)
    for eml in (ROOT / "tests" / "fixtures").rglob("*.eml"):
        target = corpus / eml.name
        if not target.exists():
            target.write_bytes(eml.read_bytes())
    count = {"n": 0}
    start = time.monotonic()

    def one(data: bytes) -> None:
        count["n"] += 1
        check_contract(data)
        if count["n"] % 20000 == 0:
            took = time.monotonic() - start
            print(f"atheris: {count['n']} execs, {count['n'] / took:.0f}/s", flush=True)

    import atexit

    def report() -> None:
        took = max(time.monotonic() - start, 1e-9)
        print(f"atheris: {count['n']} examples in {took:.0f} s = "
              f"{count['n'] / took:.0f} examples/s", flush=True)

    atexit.register(report)
    atheris.Setup([sys.argv[0], f"-max_total_time={int(seconds)}", "-max_len=20000",
                   "-rss_limit_mb=2048", "-print_final_stats=1", str(corpus)], one)
    atheris.Fuzz()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engine", choices=("hypothesis", "atheris"), default="hypothesis")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/landkort-fuzz-corpus"))
    args = ap.parse_args()
    if args.engine == "atheris":
        return run_atheris(args.seconds, args.corpus)
    return run_hypothesis(args.seconds)


if __name__ == "__main__":
    sys.exit(main())
