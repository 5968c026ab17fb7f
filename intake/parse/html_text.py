"""HTML mail → plain text, without the quoted original.

Only the standard library's :mod:`html.parser` is used. Block elements and ``<br>``
become line breaks, so paragraphs and the lines of a ``Label: value`` form survive.
The quoted part of a reply is dropped while converting, because in HTML it is marked
up far more reliably than in text:

* ``<blockquote>`` (Apple Mail, Thunderbird, Gmail, most webmails);
* Gmail's ``div.gmail_quote`` / ``div.gmail_extra`` / ``gmail_attr``, Yahoo's
  ``yahoo_quoted`` and Thunderbird's ``moz-cite-prefix`` attribution line;
* Outlook's ``#divRplyFwdMsg``, ``#OLK_SRC_BODY_SECTION``, ``hr#stopSpelling`` and the
  ``border-top`` divider above its "From:/Sent:" block — there the original is not
  nested, so everything *after* the marker is dropped.
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                   "meta", "param", "source", "track", "wbr"})
_BLOCK = frozenset({"p", "div", "tr", "li", "ul", "ol", "dl", "dt", "dd", "table", "pre",
                    "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header",
                    "footer", "address", "center", "form", "fieldset", "blockquote", "hr"})
_INVISIBLE = frozenset({"script", "style", "head", "title", "template", "noscript",
                        "xml"})
_QUOTE_CLASSES = frozenset({"gmail_quote", "gmail_extra", "gmail_attr", "yahoo_quoted",
                            "moz-cite-prefix", "protonmail_quote", "zmail_extra",
                            "ms-outlook-mobile-reference-message", "gmail_signature",
                            "moz-signature"})
_SIGNATURE_IDS = frozenset({"signature", "ms-outlook-mobile-signature",
                            "ms-outlook-ios-signature"})
_STOP_IDS = frozenset({"divrplyfwdmsg", "olk_src_body_section", "stopspelling",
                       "appendonsend", "mail-editor-reference-message-container",
                       "messagereplysection"})
_BORDER_TOP = re.compile(r"border-top\s*:\s*solid", re.IGNORECASE)
_HIDDEN = re.compile(r"display\s*:\s*none", re.IGNORECASE)


class _Converter(HTMLParser):
    def __init__(self, drop_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.drop_quotes = drop_quotes
        self.parts: list[str] = []
        self.stack: list[str] = []
        self.open_count: dict[str, int] = {}  # tag → how often it is on the stack
        self.skip_at: int | None = None   # stack depth of the element being skipped
        self.stopped = False
        self.pre = 0
        self.at_line_start = True

    # -- helpers
    def _skipping(self) -> bool:
        return self.stopped or self.skip_at is not None

    def _newline(self) -> None:
        """A ``<br>``: always a line break."""
        if not self._skipping():
            self.parts.append("\n")
            self.at_line_start = True

    def _rule(self) -> None:
        """An ``<hr>``: a delimiter line, which ends the own text like ``____`` does."""
        self._block_edge()
        if not self._skipping():
            self.parts.append("________________________________\n")
            self.at_line_start = True

    def _block_edge(self) -> None:
        """The edge of a block element: start a new line unless already at one."""
        if not self._skipping() and not self.at_line_start:
            self.parts.append("\n")
            self.at_line_start = True

    def _starts_quote(self, tag: str, attrs: dict[str, str]) -> bool:
        if tag in _INVISIBLE:
            return True
        if _HIDDEN.search(attrs.get("style", "")):
            return True
        if not self.drop_quotes:
            return False
        if tag == "blockquote":
            return True
        classes = set(attrs.get("class", "").lower().split())
        if attrs.get("id", "").lower() in _SIGNATURE_IDS:
            return True
        return bool(classes & _QUOTE_CLASSES) or attrs.get("data-smartmail") == "gmail_signature"

    def _stops_all(self, tag: str, attrs: dict[str, str]) -> bool:
        if not self.drop_quotes:
            return False
        if attrs.get("id", "").lower() in _STOP_IDS or attrs.get("name", "").lower() in _STOP_IDS:
            return True
        # Outlook puts its "From:/Sent:/To:" block in a div with only a top border.
        return tag in ("div", "p") and bool(_BORDER_TOP.search(attrs.get("style", "")))

    # -- HTMLParser interface
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        amap = {k.lower(): (v or "") for k, v in attrs}
        if not self._skipping() and self._stops_all(tag, amap):
            self.stopped = True
        if tag == "br":
            self._newline()
            return
        if tag == "hr":
            self._rule()
            return
        if tag in _BLOCK:
            self._block_edge()
        if tag in _VOID:
            return
        self.stack.append(tag)
        self.open_count[tag] = self.open_count.get(tag, 0) + 1
        if tag == "pre":
            self.pre += 1
        if self.skip_at is None and not self.stopped and self._starts_quote(tag, amap):
            self.skip_at = len(self.stack)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        amap = {k.lower(): (v or "") for k, v in attrs}
        if not self._skipping() and self._stops_all(tag, amap):
            self.stopped = True
        if tag == "br":
            self._newline()
        elif tag == "hr":
            self._rule()
        elif tag in _BLOCK:
            self._block_edge()

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if not self.open_count.get(tag):
            return  # a stray end tag
        while self.stack:
            top = self.stack.pop()
            self.open_count[top] -= 1
            if top == "pre":
                self.pre = max(0, self.pre - 1)
            if self.skip_at is not None and len(self.stack) < self.skip_at:
                self.skip_at = None
            if top == tag:
                break
        if tag in _BLOCK:
            self._block_edge()

    def handle_data(self, data: str) -> None:
        if self._skipping():
            return
        text = data if self.pre else re.sub(r"[ \t\r\n\f]+", " ", data)
        self.parts.append(text)
        if text.strip(" \xa0"):
            self.at_line_start = text.endswith("\n")
        elif "\xa0" in text and self.at_line_start:
            self.parts.append("\n")  # Outlook's empty paragraph <p>&nbsp;</p>


def _tidy(text: str) -> str:
    text = text.replace("\xa0", " ").replace("\u200b", "")
    lines = [line.strip() for line in text.split("\n")]
    out: list[str] = []
    blank = 0
    for line in lines:
        if not line:
            blank += 1
            if blank <= 1:
                out.append("")
            continue
        blank = 0
        out.append(line)
    return "\n".join(out).strip()


def html_to_text(markup: str, drop_quotes: bool = True) -> str:
    """Plain text of an HTML body; with ``drop_quotes`` the quoted original is left out.

    Malformed markup never raises: as a last resort tags are stripped crudely.
    """
    conv = _Converter(drop_quotes)
    try:
        conv.feed(markup)
        conv.close()
    except Exception:
        return _tidy(html.unescape(re.sub(r"<[^<>]*>", " ", markup)))
    return _tidy("".join(conv.parts))
