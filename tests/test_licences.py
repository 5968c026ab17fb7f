"""The licences of everything landkort installs to run fit its own, GPL-3.0-or-later.

The runtime dependencies (not the test or demo extras) are walked from the installed
metadata, and each one's licence — its SPDX ``License-Expression``, else its ``License``
field, else its trove classifiers — must be one a GPL-3.0-or-later work may combine
with. An unknown or incompatible licence fails the test with the package's name.
"""
from __future__ import annotations

import importlib.metadata as metadata
import re

from packaging.requirements import Requirement

OURS = "GPL-3.0-or-later"
# Licences a GPL-3.0-or-later program may use (FSF's list of GPL-compatible licences).
COMPATIBLE = {"MIT", "MIT-0", "BSD-2-Clause", "BSD-3-Clause", "BSD", "ISC", "0BSD",
              "Apache-2.0", "PSF-2.0", "Python-2.0", "MPL-2.0", "LGPL-2.1-or-later",
              "LGPL-3.0-or-later", "LGPL-3.0-only", "GPL-3.0-only", "GPL-3.0-or-later",
              "Unlicense", "CC0-1.0", "Zlib",
              # The Historical Permission Notice and Disclaimer (on the FSF's list) and its
              # CMU variant, which Pillow (fpdf2's image library) declares.
              "HPND", "MIT-CMU"}
# How packages spell them outside SPDX (License field or trove classifier).
SPELLINGS = [
    (r"MPL-2\.0 AND MIT", "MPL-2.0 AND MIT"),
    (r"\bMIT-0\b", "MIT-0"),
    (r"\bMIT\b", "MIT"),
    (r"Apache(?: Software License|[ -]?2)", "Apache-2.0"),
    (r"BSD-3-Clause|BSD 3", "BSD-3-Clause"),
    (r"\bBSD\b", "BSD"),
    (r"Python Software Foundation|PSF-2\.0", "PSF-2.0"),
    (r"MPL-2\.0|Mozilla Public License 2", "MPL-2.0"),
    (r"\bISC\b", "ISC"),
    (r"GPLv3\+|GPL-3\.0-or-later", "GPL-3.0-or-later"),
]


def runtime_distributions() -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    todo = [req for req in metadata.requires("landkort") or []]
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an extra (test, demo) or another platform's dependency
        key = req.name.lower().replace("_", "-")
        if key in found:
            continue
        dist = metadata.distribution(req.name)
        found[key] = dist
        todo.extend(dist.requires or [])
    return found


def licence_terms(dist: metadata.Distribution) -> list[str]:
    """SPDX identifiers of a distribution's licence; several mean all apply (AND)."""
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        # "A AND B": all apply; "A OR B": the first alternative is enough here.
        first = re.split(r"\s+OR\s+", expression.strip("() "))[0]
        return [t.strip("() ") for t in re.split(r"\s+AND\s+", first)]
    text = " ".join([meta.get("License") or "", *(c for c in meta.get_all("Classifier") or []
                                                 if c.startswith("License ::"))])
    for pattern, spdx in SPELLINGS:
        if re.search(pattern, text):
            return spdx.split(" AND ")
    return [f"unknown: {text[:80]!r}"]


def test_our_own_licence_is_declared() -> None:
    assert metadata.metadata("landkort").get("License-Expression") == OURS


def test_every_runtime_dependency_has_a_compatible_licence() -> None:
    dists = runtime_distributions()
    assert "aioimaplib" in dists and "sqlalchemy" in dists  # the walk found them
    assert "pymap" not in dists  # the demo's, not the service's
    wrong = {name: terms for name, dist in sorted(dists.items())
             if not set(terms := licence_terms(dist)) <= COMPATIBLE}
    assert wrong == {}, f"licences that do not fit {OURS}: {wrong}"
