"""The gettext catalogues: complete in every language, one per domain, no language picked
by ``if`` in code or templates, and a pseudo-locale run that shows every user-facing text
comes from a catalogue (issue #13)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bot.app import create_app
from bot.core import i18n
from bot.core.db import Database
from bot.core.settings import Settings
from bot.registry.record import LABELS
from bot.registry.vocabulary import CHOICES, MUNICIPALITIES, SECTORS
from tests.moderation_support import add_user, login, use_fast_hashes
from tests.public_seed import sample_entries, seed_sample

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _catalogues() -> dict[str, dict[str, Catalog]]:
    out: dict[str, dict[str, Catalog]] = {}
    for lang_dir in sorted(i18n.LOCALE_DIR.iterdir()):
        if not (lang_dir / "LC_MESSAGES").is_dir():
            continue
        for po in sorted((lang_dir / "LC_MESSAGES").glob("*.po")):
            with po.open("rb") as fp:
                out.setdefault(lang_dir.name, {})[po.stem] = read_po(fp)
    return out


def _key(message: Any) -> str:
    return str(message.id[0] if isinstance(message.id, tuple) else message.id)


def _strings(message: Any) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def test_every_message_has_a_translation_in_every_language() -> None:
    catalogues = _catalogues()
    assert {"da", "en"} <= set(catalogues)
    keys_by_lang = {}
    for lang, domains in catalogues.items():
        assert set(domains) <= set(i18n.DOMAINS), lang
        keys = set()
        for domain, catalog in domains.items():
            for message in catalog:
                if not message.id:
                    continue
                key = _key(message)
                assert i18n.domain_of(key) == domain, f"{lang}/{domain}.po holds {key}"
                assert all(s.strip() for s in _strings(message)), f"{lang}: {key} is empty"
                assert not message.fuzzy, f"{lang}: {key} is fuzzy"
                keys.add(key)
        keys_by_lang[lang] = keys
    assert keys_by_lang["da"], "no Danish texts"
    for lang, keys in keys_by_lang.items():
        assert keys == keys_by_lang["da"], (
            lang, sorted(keys ^ keys_by_lang["da"])[:20])


def test_placeholders_agree_between_languages() -> None:
    catalogues = _catalogues()
    danish = {_key(m): m for c in catalogues["da"].values() for m in c if m.id}
    for lang, domains in catalogues.items():
        for catalog in domains.values():
            for message in catalog:
                if not message.id:
                    continue
                wanted = set(PLACEHOLDER.findall(" ".join(_strings(danish[_key(message)]))))
                got = set(PLACEHOLDER.findall(" ".join(_strings(message))))
                assert got == wanted, (lang, _key(message), got, wanted)


def test_every_key_the_sources_use_is_in_the_catalogues() -> None:
    """``tools/messages.py --check`` extracts every literal key from Python and Jinja2
    and fails on one that a catalogue lacks or leaves untranslated."""
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "messages.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout[-3000:]


# A language chosen by comparing with a literal code: `lang == "en"`, `'da' if …`.
PICKS_LANGUAGE = re.compile(
    r"""(==|!=|===|!==)\s*["'](da|en)["']|["'](da|en)["']\s*(==|!=|===|!==)"""
    r"""|["'](da|en)["']\s+if\s+\w""")
# Demo people write their replies in their own language: content, not UI text. The
# parser's language guess returns a code; it shows nothing.
ALLOWED_PICKS = {"bot/demo/mail.py", "intake/parse/message.py"}


def test_no_code_or_template_picks_a_language_by_if() -> None:
    found = []
    for folder in ("bot", "intake", "moderation", "templates"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".html", ".txt", ".js") or "migrations" in path.parts:
                continue
            rel = str(path.relative_to(ROOT))
            if rel in ALLOWED_PICKS:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if PICKS_LANGUAGE.search(line):
                    found.append(f"{rel}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


def test_a_new_language_is_a_folder_not_code(tmp_path: Path) -> None:
    """Copy the English catalogues to a third language: it is offered at once."""
    folder = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, folder, ignore=shutil.ignore_patterns("*.mo"))
    shutil.copytree(folder / "en", folder / "sv")
    with _using(folder):
        assert i18n.languages() == ("da", "en", "sv")
        assert i18n.language_of("sv-SE") == "sv"
        assert i18n.text("sv", "pub.search") == i18n.text("en", "pub.search")
        assert i18n.language_of("fr") == "da"


def test_dates_numbers_and_plurals_come_from_babel() -> None:
    from datetime import date
    assert i18n.format_date("2019-03-01") == "1. marts 2019"
    assert i18n.format_date("2019-03-01", "en") == "1 March 2019"
    assert i18n.format_date("2021-11") == "november 2021"
    assert i18n.format_date("2021") == "2021"
    assert i18n.format_date("engang i 2019") == "engang i 2019"
    assert i18n.format_date("2021-13-01") == "2021-13-01"
    assert i18n.format_date(date(2026, 5, 4), "en") == "4 May 2026"
    assert i18n.format_date(None) == "" and i18n.format_date("") == ""
    n_da, n_en = i18n.ngettext("da"), i18n.ngettext("en")
    assert n_da("pub.count", "pub.count.plural", 1) == "1 initiativ"
    assert n_da("pub.count", "pub.count.plural", 1234) == "1.234 initiativer"
    assert n_en("pub.count", "pub.count.plural", 0) == "0 initiatives"
    assert i18n.format_share(0.125, "da", decimals=1) == "12,5\xa0%"
    assert i18n.format_share(0.125, "en", decimals=1) == "12.5%"


# ---------------------------------------------------------------------------------------
# The pseudo-locale: every text wrapped in brackets; what is left unwrapped is not ours.

class _using:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> None:
        i18n.use_catalogues(self.folder)

    def __exit__(self, *exc: object) -> None:
        i18n.use_catalogues(i18n.LOCALE_DIR)


def _pseudo_catalogues(target: Path) -> None:
    """da, en and ``xx``: the Danish texts, each wrapped in ⟦ ⟧ (placeholders kept)."""
    shutil.copytree(i18n.LOCALE_DIR, target, ignore=shutil.ignore_patterns("*.mo"))
    (target / "xx" / "LC_MESSAGES").mkdir(parents=True)
    for po in (target / "da" / "LC_MESSAGES").glob("*.po"):
        with po.open("rb") as fp:
            catalog = read_po(fp)
        pseudo = Catalog(locale="da", domain=po.stem)
        for message in catalog:
            if not message.id:
                continue
            strings = tuple(f"⟦{s}⟧" for s in _strings(message))
            pseudo.add(message.id, strings if isinstance(message.id, tuple) else strings[0])
        with (target / "xx" / "LC_MESSAGES" / po.name).open("wb") as fp:
            write_po(fp, pseudo)


@pytest.fixture
def pseudo(tmp_path: Path) -> Iterator[None]:
    folder = tmp_path / "locale"
    _pseudo_catalogues(folder)
    with _using(folder):
        yield


class _VisibleText(HTMLParser):
    """The text a reader sees (and the labels a screen reader reads)."""

    # Scripts are not read; code (API parameters, a curl line) is not translated.
    HIDDEN = {"script", "style", "code", "pre", "kbd", "samp"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang
        self.parts: list[str] = []
        self._hidden = 0
        self._open: list[bool] = []  # per open element: does it hide its content?

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # Content marked as written in another language (an administrator's page not yet
        # translated) is not interface text.
        foreign = tag != "html" and any(n == "lang" and v != self.lang for n, v in attrs)
        if tag in self.HIDDEN or foreign:
            self._hidden += 1
        if tag not in self.VOID:
            self._open.append(tag in self.HIDDEN or foreign)
        for name, value in attrs:
            if name in ("aria-label", "title", "placeholder", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._open and self._open.pop():
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(data)


def _data_words() -> set[str]:
    """Words that are data, not UI text: the entries, the vocabularies, names."""
    words: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, list | tuple):
            for v in value:
                add(v)
        elif isinstance(value, str):
            words.update(w.casefold() for w in re.findall(r"[^\W\d_]+", value))
    for record in sample_entries(30):
        for value in record.values():
            add(value)
    for vocabulary in (*CHOICES.values(), SECTORS):
        for term in vocabulary:
            add([term.da, term.en])
    add(list(MUNICIPALITIES))
    # The controlled vocabularies' terms (seeded by migration 0013; administrators keep
    # them as data in the database).
    import importlib
    seed = importlib.import_module("bot.migrations.versions.0013_vocabularies").SEED
    add([[da, en] for terms in seed.values() for da, en, _ in terms])
    # Field labels are the reply form's words, which the parser reads back: vocabulary.
    add([label for by_lang in LABELS.values() for labels in by_lang.values()
         for label in labels])
    # Time-zone abbreviations come from the tz database (format_moment), not a catalogue.
    add(["CET", "CEST"])
    # The links to the other languages are named in those languages (their catalogues).
    add([i18n.text(code, "language.name") for code in ("da", "en")])
    add(["MedCom", "anna", "test", "moderator", "admin", "example", "org", "http", "https", "www",
         "landkort", "csv", "json", "xlsx", "api", "atom", "a", "b", "c", "d", "e", "f", "x",
         "projekt", "i_drift", "under_udbredelse", "afsluttet",
         "zzzxq",  # the search the visitor typed, shown back to them
         "CC", "BY"])  # the data licence's name (a setting)
    # Month names and weekdays come from Babel (CLDR), formatted for the language.
    add("januar februar marts april maj juni juli august september oktober november "
        "december jan feb mar apr jun jul aug sep okt nov dec".split())
    return words


def _unwrapped(parts: list[str], allowed: set[str]) -> list[str]:
    # One string: a catalogue text with markup inside (a bold title) spans several nodes.
    text = " ".join(parts)
    text = re.sub(r"[^\s⟦⟧]+@[^\s⟦⟧]+|https?://[^\s⟦⟧]+|/[\w/-]+", " ", text)  # addresses, paths
    while True:
        stripped = re.sub(r"⟦[^⟦⟧]*⟧", " ", text)
        if stripped == text:
            break
        text = stripped
    return [word for word in re.findall(r"[^\W\d_]+", text)
            if word.casefold() not in allowed]


def _assert_wrapped(html: str, where: str, allowed: set[str]) -> None:
    parser = _VisibleText("xx")
    parser.feed(html)
    left = _unwrapped(parser.parts, allowed)
    assert not left, f"{where}: text not from a catalogue: {sorted(set(left))[:30]}"


@pytest_asyncio.fixture
async def app_client(sqlite_db: Database, settings: Settings
                     ) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings, sqlite_db, start_workers=False)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.mark.asyncio
async def test_pseudo_locale_public_and_moderation_pages(
        pseudo: None, sqlite_db: Database, app_client: TestClient[Any, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)
    await seed_sample(sqlite_db, 30)
    allowed = _data_words()
    pages = ["/", "/?q=KOL", "/?status=i_drift&region=nordjylland", "/?q=zzzxq",
             "/statistik", "/api", "/om", "/tilgaengelighed", "/privatliv", "/licens",
             "/indmeld", "/findes-ikke", "/login"]
    first = await app_client.get("/api/initiatives?limit=1")
    item = (await first.json())["items"][0]
    pages.append(f"/initiativ/{item['slug']}")
    # The chat, and the pages a mail links to (with a real token, and with a dead one).
    from bot.mail.tokens import issue_token
    async with sqlite_db.write() as session:
        token = await issue_token(session, purpose="reminder", initiative_id=item["id"])
    pages += ["/chat", "/chat/form", f"/bekraeft/{token}", f"/ret/{token}",
              f"/samtykke/{token}", "/bekraeft/" + "x" * 43, "/ret/" + "x" * 43,
              "/unsubscribe/" + "x" * 43, "/chat/verify/" + "x" * 43]
    for url in pages:
        sep = "&" if "?" in url else "?"
        resp = await app_client.get(f"{url}{sep}lang=xx")
        assert resp.status in (200, 400, 403, 404, 410), (url, resp.status)
        _assert_wrapped(await resp.text(), url, allowed)
    await add_user(sqlite_db, "anna", "admin")
    await login(app_client, "anna")
    for url in ("/moderation", "/moderation/audit", "/moderation/contacts",
                "/moderation/inbound", "/moderation/merge", "/moderation/users"):
        resp = await app_client.get(f"{url}?lang=xx")
        assert resp.status == 200, url
        _assert_wrapped(await resp.text(), url, allowed)


def _mail_cases() -> dict[str, list[dict[str, Any]]]:
    """Every mail with contexts that take its branches (new/update, empty/full, plurals)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Copenhagen")
    entries = [{"id": 1, "title": "KOL hjemme", "slug": "kol"},
               {"id": 2, "title": "Hjertesvigt", "slug": "hjerte"}]
    bounces = [{"address": "a@example.dk", "status": "550", "permanent": True},
               {"address": "b@example.dk", "status": None, "permanent": False}]
    digest = {"date": "2026-03-02", "timezone": zone, "base_url": "http://x", "limit": 1,
              "queue_size": 3, "new_bounces": bounces, "needs_new_contact": entries,
              "needs_new_contact_total": 2, "unconfirmed_new": entries, "unconfirmed_total": 5,
              "oldest": {"id": 7, "created": datetime(2026, 3, 1, 12, 0), "age_days": 1}}
    empty_digest = {**digest, "queue_size": 0, "oldest": None, "new_bounces": [],
                    "needs_new_contact": [], "needs_new_contact_total": 0,
                    "unconfirmed_new": [], "unconfirmed_total": 0}
    person = {"person": "Mette", "title": "KOL hjemme", "submission_id": 1, "base_url": "x"}
    return {
        "chat_verify": [{"title": "KOL", "kind": kind, "link": "http://x/v/T", "hours": h,
                         "site": "Landkort"} for kind, h in (("new", 48), ("update", 1))],
        "digest": [digest, {**digest, "limit": 25, "queue_size": 1}, empty_digest],
        "needs_info": [{**person, "message": "Hvad er status", "kind": kind}
                       for kind in ("new", "update")],
        "opt_out": [{"contact_name": "Mette", "email": "m@example.dk", "titles": ["KOL"]},
                    {"contact_name": "", "email": "m@example.dk", "titles": []}],
        "opt_out_confirm": [{"contact_name": "Mette", "email": "m@example.dk",
                             "link": "http://x/afmeld/T"}],
        "problems": [{"person": "Mette", "title": "KOL", "link": "http://x/chat/u/T",
                      "problems": ["Ukendt felt"], "form": ["Titel: KOL"]},
                     {"person": "", "title": "", "link": "", "problems": ["P"],
                      "form": ["Titel: "]}],
        "receipt": [{"person": "Mette", "title": "KOL", "link": "L", "kind": kind,
                     "changed": changed}
                    for kind, changed in (("new", []), ("confirmation", []),
                                          ("contact_change", ["Status"]),
                                          ("update", ["Status", "Slutdato"]), ("", []))],
        "rejection": [{**person, "reason": "Dublet", "kind": kind}
                      for kind in ("new", "update")],
        "thanks": [{"person": "Mette", "entries": [
            {"title": "KOL", "url": "http://x/initiativ/kol", "confirmed": True},
            {"title": "B", "url": "http://x/initiativ/b", "confirmed": False}]}],
    }


def _context_words(value: Any, into: set[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _context_words(v, into)
    elif isinstance(value, list | tuple):
        for v in value:
            _context_words(v, into)
    elif isinstance(value, str):
        into.update(w.casefold() for w in re.findall(r"[^\W\d_]+", value))


def test_pseudo_locale_mails(pseudo: None, settings: Settings) -> None:
    """Every mail, every branch, in the pseudo-locale: subject, text and HTML part."""
    from bot.campaigns.reminders import render_reminder
    from bot.mail.templates import render_mail

    allowed = _data_words()
    rendered = []
    for name, contexts in _mail_cases().items():
        for context in contexts:
            _context_words(context, allowed)
            rendered.append((name, render_mail(name, "xx", **context)))
    record = {"title": "KOL hjemme", "contact_name": "Mette", "status": "i_drift"}
    _context_words(record, allowed)
    for step in (1, 2, 3):
        for consent in (True, False, None):
            rendered.append((f"reminder {step}", render_reminder(
                settings, record, step=step, lang="xx", reply_token="T" * 32,
                unsubscribe_token="U" * 32, consent=consent)))
    assert len(rendered) > 25
    for name, mail in rendered:
        _assert_wrapped(f"<p>{mail.subject}</p>", f"{name} subject", allowed)
        # The text part is plain text: escape it so a "<" in it is not read as a tag.
        from html import escape
        _assert_wrapped(f"<pre-text>{escape(mail.text)}</pre-text>", f"{name} text", allowed)
        if mail.html:
            _assert_wrapped(mail.html, f"{name} html", allowed)


def test_times_are_shown_in_the_registry_s_zone_with_the_zone_named() -> None:
    """A reply stored at 04:25 UTC reads 05:25 CET in winter and 06:25 CEST in summer,
    in pages and in mails; the database and the API keep UTC."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.app import page_environment
    from bot.core.i18n import format_datetime, format_moment

    winter, summer = datetime(2026, 12, 3, 4, 25), datetime(2026, 7, 3, 4, 25)
    assert format_moment(winter, "Europe/Copenhagen") == "2026-12-03 05:25 CET"
    assert format_moment(summer, "Europe/Copenhagen") == "2026-07-03 06:25 CEST"
    macros = page_environment("Europe/Copenhagen").get_template("moderation/macros.html")
    html = str(macros.module.when(winter))  # type: ignore[attr-defined]
    assert 'datetime="2026-12-03T04:25:00Z"' in html and "05:25 CET" in html
    mail = format_datetime(winter, "da", format="short", tzinfo=ZoneInfo("Europe/Copenhagen"))
    assert "05.25" in mail and mail.endswith(" CET")
