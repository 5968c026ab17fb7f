"""Extract, update and compile the gettext catalogues (``make messages``).

1. Extract every key used literally in Python (``_("…")``, ``n_("…", "…", n)``,
   ``text(lang, "…")``, ``N_("…")``) and in the Jinja2 templates.
2. Put each key into its domain's catalogue (``bot.core.i18n.domain_of``) for every
   language under ``bot/locale``, with an empty translation when it is new, so the
   completeness test (tests/test_translations.py) names what a translator must fill in.
   Keys that are looked up with a computed name (``_("state." ~ s)``) are not found
   literally; they are kept, never dropped, and listed with ``--unused``.
3. Compile every ``.po`` to ``.mo``.

Usage: ``python tools/messages.py [--check] [--unused] [--compile-only]``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.i18n import DOMAINS, LOCALE_DIR, domain_of  # noqa: E402

SOURCES = ("bot", "intake", "moderation", "templates")
KEYWORDS = {"_": None, "gettext": None, "n_": (1, 2), "ngettext": (1, 2), "N_": None,
            "text": (2,), "catalogue_text": (2,)}
METHODS = [("**/migrations/**", "ignore"), ("**.py", "python"),
           ("**.html", "jinja2"), ("**.txt", "jinja2")]
OPTIONS = {"**.html": {"extensions": "jinja2.ext.i18n"},
           "**.txt": {"extensions": "jinja2.ext.i18n"}}


def extracted() -> dict[str, str | None]:
    """Every key found in the sources → its plural key (None when it has none)."""
    found: dict[str, str | None] = {}
    for source in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(
                ROOT / source, METHODS, OPTIONS, KEYWORDS):
            if isinstance(message, tuple):
                if message[0] and "." in message[0]:
                    found[message[0]] = message[1]
            elif message and "." in message and " " not in message:
                found.setdefault(message, None)
    return found


def _catalogue(path: Path, lang: str, domain: str) -> Catalog:
    if path.exists():
        with path.open("rb") as fp:
            return read_po(fp, domain=domain)
    return Catalog(locale=lang, domain=domain, project="landkort",
                   copyright_holder="landkort contributors", fuzzy=False)


def languages() -> Iterable[Path]:
    return sorted(p for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES").is_dir())


def update(keys: dict[str, str | None], *, check: bool) -> list[str]:
    """Add missing keys to every catalogue; returns what is missing or untranslated."""
    problems = []
    for lang_dir in languages():
        for domain in DOMAINS:
            path = lang_dir / "LC_MESSAGES" / f"{domain}.po"
            catalog = _catalogue(path, lang_dir.name, domain)
            changed = False
            for key, plural in sorted(keys.items()):
                if domain_of(key) != domain:
                    continue
                if key not in catalog:
                    problems.append(f"{lang_dir.name}/{domain}: {key} missing")
                    catalog.add((key, plural) if plural else key,
                                ("", "") if plural else "")
                    changed = True
            for message in catalog:
                if message.id and not all(message.string if isinstance(message.string, tuple)
                                          else (message.string,)):
                    problems.append(f"{lang_dir.name}/{domain}: {message.id!r} untranslated")
            if changed and not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("wb") as fp:
                    write_po(fp, catalog, width=100, sort_output=True)
    return problems


def unused(keys: dict[str, str | None]) -> list[str]:
    """Catalogue keys no source names literally (computed keys, or dead ones)."""
    out = set()
    for lang_dir in languages():
        for po in (lang_dir / "LC_MESSAGES").glob("*.po"):
            with po.open("rb") as fp:
                for message in read_po(fp):
                    key = message.id[0] if isinstance(message.id, tuple) else message.id
                    if key and key not in keys:
                        out.add(key)
    return sorted(out)


def compile_all() -> int:
    count = 0
    for lang_dir in languages():
        for po in (lang_dir / "LC_MESSAGES").glob("*.po"):
            with po.open("rb") as fp:
                catalog = read_po(fp, locale=None, domain=po.stem)
            with po.with_suffix(".mo").open("wb") as fp:
                write_mo(fp, catalog, use_fuzzy=False)
            count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a key is missing or untranslated")
    parser.add_argument("--unused", action="store_true",
                        help="list catalogue keys no source names literally")
    parser.add_argument("--compile-only", action="store_true", help="only build the .mo files")
    args = parser.parse_args()
    if not args.compile_only:
        keys = extracted()
        problems = update(keys, check=args.check)
        for problem in problems:
            print(problem)
        if args.unused:
            for key in unused(keys):
                print(f"not named literally: {key}")
        if args.check and problems:
            return 1
    if not args.check:
        print(f"compiled {compile_all()} catalogues")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
