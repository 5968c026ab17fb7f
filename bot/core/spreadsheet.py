"""CSV that is safe to open in a spreadsheet: the one rule for every export.

Values come from strangers' mail and chat, and a cell that starts with ``=``, ``+``,
``-`` or ``@`` (or a tab or line break before one of them) is run as a formula by Excel
and LibreOffice ("CSV injection", OWASP). Every such cell gets a leading apostrophe,
which spreadsheets show as text. And since Danish Excel splits on ``;`` while the rest
of the world uses ``,``, a cell holding either is quoted whichever delimiter the file
uses (RFC 4180 §2.6–2.7: quote with ``"``, double any ``"`` inside).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

# ASCII formula starters, their full-width forms (read as formulas in some locales),
# and the controls that let a formula hide behind white space.
FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20", "\t", "\r", "\n")
_NEEDS_QUOTES = frozenset(',;"\r\n\t')


def safe_cell(text: str) -> str:
    """``text`` that no spreadsheet runs as a formula."""
    if text.startswith(FORMULA_START) or text.lstrip(" \t\r\n").startswith(FORMULA_START):
        return "'" + text
    return text


def read_cell(text: str) -> str:
    """The value :func:`safe_cell` wrote: the guarding apostrophe taken off again, so an
    export reads back through ``landkort import`` unchanged."""
    if text.startswith("'") and safe_cell(text[1:]) == text:
        return text[1:]
    return text


def _quoted(cell: str) -> str:
    if any(ch in _NEEDS_QUOTES for ch in cell) or cell != cell.strip(" "):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def csv_document(header: Sequence[str], rows: Iterable[Sequence[str]], *,
                 delimiter: str = ",") -> str:
    """A CSV document (CRLF line ends, RFC 4180) with every cell made safe and quoted
    when it holds a comma, a semicolon, a quote or a line break."""
    if delimiter not in (",", ";", "\t"):
        raise ValueError(f"unsupported delimiter {delimiter!r}")
    lines = [delimiter.join(_quoted(safe_cell(c)) for c in header)]
    lines.extend(delimiter.join(_quoted(safe_cell(c)) for c in row) for row in rows)
    return "\r\n".join(lines) + "\r\n"


__all__ = ["FORMULA_START", "csv_document", "read_cell", "safe_cell"]
