"""Every regular expression that can see mail text runs in linear time (issue: a
``Hjemmeside:`` line of 100,000 dots froze the service for 80 s in a backtracking URL
pattern).

Each pattern is collected from the packages themselves — compiled patterns held by a
module, and literal patterns passed to ``re.match``/``re.search``/… found in the source —
so a new pattern is checked without anyone remembering to add it here. For each one the
most expensive of a set of adversarial shapes (long runs of the characters patterns
backtrack over, behind prefixes that get a pattern going, before a tail that makes it
fail) is picked at a small size, then run at 200,000 characters. A linear pattern takes
milliseconds there; a quadratic one takes minutes, which the test runner's timeout turns
into a failure. No duration is asserted.
"""
from __future__ import annotations

import ast
import importlib
import itertools
import pkgutil
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("intake", "bot", "moderation")

UNITS = [".", "a", " ", "\t", "-", ">", ":", "0", "1.", "a ", "a.", "=", "_", "<", "@",
         "a@", "/", "\n", "æ", "A", "Aa ", "a-", "0 ", "> ", "-a", " \n", "a,", "ab",
         "\n\n ", "aA", "0:", "a@a.", "a\n", "a'", "A.", "1 ", "<a", "a:", "a>", "On ",
         "og ", "[a](", "<a:", "http://a"]
PREFIXES = ["", "https://a", "On ", "Den ", "- ", "Hjemmeside: ", "www.", "A", "[", "<a:",
            "reply "]
SUFFIXES = [" x", "!", "\n", "", "\x00", ")"]
SMALL, LARGE = 400, 200_000


def _module_patterns() -> dict[str, re.Pattern[str] | re.Pattern[bytes]]:
    found: dict[str, re.Pattern[str] | re.Pattern[bytes]] = {}
    for pkg in PACKAGES:
        for info in pkgutil.walk_packages(importlib.import_module(pkg).__path__,
                                          prefix=f"{pkg}."):
            if info.name.endswith("__main__") or ".migrations" in info.name:
                continue
            module = importlib.import_module(info.name)
            for attr, value in vars(module).items():
                if isinstance(value, re.Pattern):
                    found[f"{info.name}.{attr}"] = value
                elif isinstance(value, list | tuple) and value and all(
                        isinstance(v, re.Pattern) for v in value):
                    for i, v in enumerate(value):
                        found[f"{info.name}.{attr}[{i}]"] = v
    return found


_RE_FUNCS = {"match", "search", "fullmatch", "sub", "subn", "split", "findall", "finditer",
             "compile"}


def _literal_patterns() -> dict[str, re.Pattern[str] | re.Pattern[bytes]]:
    """``re.X("literal", …)`` calls in the source (module-level compiles included; a
    pattern built with an f-string is covered by the compiled object it becomes)."""
    found: dict[str, re.Pattern[str] | re.Pattern[bytes]] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "re" and node.func.attr in _RE_FUNCS
                        and node.args and isinstance(node.args[0], ast.Constant)
                        and isinstance(node.args[0].value, str | bytes)):
                    rel = path.relative_to(ROOT)
                    found[f"{rel}:{node.lineno}"] = re.compile(node.args[0].value)
    return found


PATTERNS = {**_module_patterns(), **_literal_patterns()}


def test_patterns_were_found() -> None:
    # The collection itself must work, or the test below proves nothing.
    assert len(PATTERNS) > 60
    assert "bot.registry.fields._LIST_SEPARATORS" in PATTERNS


def _text(pattern: re.Pattern[str] | re.Pattern[bytes], prefix: str, unit: str,
          suffix: str, size: int) -> str | bytes:
    text = prefix + unit * (size // len(unit)) + suffix
    return text.encode() if isinstance(pattern.pattern, bytes) else text


def _run(pattern: re.Pattern[str] | re.Pattern[bytes], text: str | bytes) -> None:
    pattern.search(text)  # type: ignore[arg-type]
    pattern.match(text)  # type: ignore[arg-type]
    for _ in itertools.islice(pattern.finditer(text), 50):  # type: ignore[arg-type]
        pass


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_pattern_is_linear_on_adversarial_input(name: str) -> None:
    pattern = PATTERNS[name]
    worst: tuple[float, tuple[str, str, str]] = (-1.0, ("", "a", ""))
    for shape in itertools.product(PREFIXES, UNITS, SUFFIXES):
        text = _text(pattern, *shape, SMALL)
        t0 = time.perf_counter()  # only chooses the shape to scale up; never asserted
        _run(pattern, text)
        worst = max(worst, (time.perf_counter() - t0, shape))
    _run(pattern, _text(pattern, *worst[1], LARGE))
