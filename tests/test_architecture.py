"""The house rules of docs/architecture.md that a linter does not see.

``make lint`` runs the import-linter contracts (layers, purity, sibling cycles); these
tests hold the rest: no import cycle between any two modules (imports inside functions
included), each domain rule written once, distinct names for distinct things, and an
architecture document that names every module.
"""
from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import grimp
import pytest

from bot.registry.record import FIELD_KEYS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "intake", "moderation")


def product_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                  if "migrations" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child.split(".")[0] not in PACKAGES:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(
                        graph.find_modules_directly_imported_by(child)))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_takes_part_in_an_import_cycle(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    g = grimp.ImportGraph()
    for name in ("bot", "bot.a", "bot.b", "bot.c"):
        g.add_module(name)
    g.add_import(importer="bot.a", imported="bot.b")
    g.add_import(importer="bot.b", imported="bot.a")
    g.add_import(importer="bot.c", imported="bot.a")
    assert _cycles(g) == [["bot.a", "bot.b"]]


def test_core_and_registry_import_nothing_above_them(graph: grimp.ImportGraph) -> None:
    """The two bottom layers, said plainly (the layers contract says it for all)."""
    for low, allowed in (("bot.core", ("bot.core",)),
                         ("bot.registry", ("bot.core", "bot.registry"))):
        for module in graph.find_descendants(low) | {low}:
            for imported in graph.find_modules_directly_imported_by(module):
                if imported.split(".")[0] in PACKAGES:
                    assert imported.startswith(allowed), f"{module} imports {imported}"


def _submission_state_writes(path: Path) -> list[int]:
    """Lines that change a submission's state: ``sub.state = …`` on a submission-named
    object, or ``update(Submission) … .values(state=…)``."""
    tree = ast.parse(path.read_text())
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if (isinstance(t, ast.Attribute) and t.attr == "state"
                        and isinstance(t.value, ast.Name) and "sub" in t.value.id.lower()):
                    lines.append(node.lineno)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "values"
                and any(k.arg == "state" for k in node.keywords)
                and "update(Submission)" in ast.unparse(node.func.value)):
            lines.append(node.lineno)
    return lines


def test_only_moderation_submissions_changes_a_submission_state() -> None:
    writers = {module_name(p): lines for p in product_files()
               if (lines := _submission_state_writes(p))}
    assert set(writers) == {"moderation.submissions"}, writers


def test_the_state_write_finder_sees_both_forms() -> None:
    src = ("sub.state = 'pending'\n"
           "stmt = update(Submission).where(x).values(state='approved')\n")
    probe = ROOT / "tests" / ".probe_state_writes.py"
    probe.write_text(src)
    try:
        assert _submission_state_writes(probe) == [1, 2]
    finally:
        probe.unlink()


def test_the_field_list_is_written_once() -> None:
    """No module but bot.registry.record spells out the registry's fields (half of them or
    more in one literal: a copy of the list, not a purposeful pick of a few): models,
    parser, form, chat, CSV and API derive their lists from it."""
    keys = set(FIELD_KEYS)
    offenders = []
    for path in product_files():
        # The definition itself, and the demo's records (data naming every field).
        if module_name(path) in ("bot.registry.record", "bot.demo.data"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict):
                elements = node.keys if isinstance(node, ast.Dict) else node.elts
                named = {e.value for e in elements
                         if isinstance(e, ast.Constant) and e.value in keys}
                if len(named) >= len(keys) // 2:
                    offenders.append(f"{module_name(path)}:{node.lineno}")
    assert offenders == []


def test_distinct_classes_have_distinct_names() -> None:
    names: Counter[str] = Counter()
    for path in product_files():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                names[node.name] += 1
    assert [n for n, c in names.items() if c > 1] == []


def test_architecture_doc_names_every_module() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)`", doc))
    missing = [m for m in map(module_name, product_files())
               if m not in named and m not in PACKAGES and not m.endswith("__main__")]
    assert missing == []


def test_a_process_that_loaded_part_of_the_schema_fails_at_start() -> None:
    """``Database`` cannot import the schema (it is below it); a process that loaded only
    some tables fails when it opens the database, naming what is missing, instead of at
    its first flush."""
    import subprocess
    import sys

    script = ("from moderation.models import Submission\n"
              "from bot.core.db import Database\n"
              "Database('sqlite+aiosqlite:///:memory:')\n")
    partial = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    assert partial.returncode != 0
    assert "IncompleteSchema" in partial.stderr and "import bot.schema" in partial.stderr
    whole = subprocess.run([sys.executable, "-c", "import bot.schema\n" + script], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert whole.returncode == 0, whole.stderr
