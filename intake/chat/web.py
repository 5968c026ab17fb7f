"""The chat's web edge: the chat page, its WebSocket, the plain HTML form fallback,
personal links from reminders and receipts, and e-mail verification.

Both the WebSocket handler and the form fallback are thin: they read the person's text,
hand it to :class:`intake.chat.store.ChatStore` (which runs the pure conversation in
:mod:`intake.chat.conversation`) and show the replies. Routes:

``GET /chat``                  the chat window (``/static/chat.js``; ``<noscript>`` → form)
``GET /chat/ws``               WebSocket; the Origin must be this site's
``GET|POST /chat/form``        the same conversation without JavaScript (CSRF token)
``GET /chat/u/{token}``        a reminder's / receipt's personal link: the entry, prefilled
``GET|POST /chat/verify/{token}``  GET shows a button; only POST verifies
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from bot.core.appkeys import DB, SETTINGS
from bot.core.clients import client_key
from bot.core.i18n import (
    N_,
    babel_locale,
    languages,
    ngettext,
    other_languages,
    text,
    texts_for,
)
from bot.core.pages import render, request_language
from bot.core.settings import Settings
from intake.chat import conversation as chat
from intake.chat.store import (
    COOKIE_NAME,
    IDLE_DAYS,
    ChatStore,
    Opened,
    View,
    check_csrf,
    csrf_token,
    new_key,
    valid_key,
)

log = logging.getLogger(__name__)

STORE = web.AppKey("chat_store", ChatStore)
TEXT_FIELD = "text"
CHOICE_FIELD = "choice"
CSRF_FIELD = "csrf"

# ---------------------------------------------------------------------------------------
# Texts: the ``chat`` catalogue (bot/locale/<language>/LC_MESSAGES/chat.po)

#: Texts the browser script needs, in every language (the chat can switch mid-way).
JS_TEXT_KEYS = (N_("chat.send"), N_("chat.continue"), N_("chat.connecting"),
                N_("chat.reconnecting"), N_("chat.offline"), N_("chat.you"), N_("chat.bot"),
                N_("chat.typing"), N_("chat.changed"), N_("chat.before"),
                N_("chat.placeholder"), N_("chat.use_form"), N_("chat.error.too_long"),
                N_("chat.error.empty"), N_("chat.error.rate_limited"),
                N_("chat.error.session_limit"), N_("chat.error.no_session"),
                N_("chat.error.bad_message"), N_("chat.error.server"))
#: Errors the plain form shows (``?error=<code>``), by code.
_FORM_ERRORS = {"too_long": N_("chat.error.too_long"), "empty": N_("chat.error.empty"),
                "rate_limited": N_("chat.error.rate_limited"),
                "session_limit": N_("chat.error.session_limit"),
                "no_session": N_("chat.error.no_session"), "csrf": N_("chat.error.csrf"),
                "server": N_("chat.error.server")}


def _by_plural_category(lang: str, form: Callable[[int], str]) -> dict[str, str]:
    """A text with a count, once for each CLDR plural category of ``lang`` ("one",
    "other", …): the browser picks one with ``Intl.PluralRules`` and fills in ``%(n)s``."""
    rule = babel_locale(lang).plural_form
    samples: dict[str, int] = {}
    for n in range(1000):
        samples.setdefault(rule(n), n)
        if len(samples) > len(rule.tags):  # every tag and "other"
            break
    return {category: form(n) for category, n in samples.items()}


def _chars_left(lang: str) -> dict[str, str]:
    n_ = ngettext(lang)

    def form(n: int) -> str:
        # n="%(n)s" leaves the placeholder for the browser to fill in.
        return n_("chat.chars_left", "chat.chars_left.plural", n, n="%(n)s")
    return _by_plural_category(lang, form)


def js_texts() -> dict[str, dict[str, Any]]:
    """The words chat.js shows, by language."""
    return {lang: {**texts_for(JS_TEXT_KEYS, lang), "chat.chars_left": _chars_left(lang)}
            for lang in languages()}


def language_switch(lang: str) -> list[dict[str, str]]:
    """The chat's language buttons: every other language, named in that language, and what
    the button says to the conversation to continue in it."""
    return [{"lang": code, "label": text(code, "language.name"),
             "command": chat.switch_command(code)}
            for code in other_languages(lang)]


# ---------------------------------------------------------------------------------------
# Helpers

def store(request: web.Request) -> ChatStore:
    return request.app[STORE]


def _key(request: web.Request) -> tuple[str, bool]:
    """The conversation key from the cookie, or a new one (True: set the cookie)."""
    key = request.cookies.get(COOKIE_NAME)
    if valid_key(key):
        return str(key), False
    return new_key(), True


def set_key_cookie(response: web.StreamResponse, request: web.Request, key: str) -> None:
    settings = request.app[SETTINGS]
    secure = settings.base_url.startswith("https://") or request.secure
    response.set_cookie(COOKIE_NAME, key, httponly=True, samesite="Lax", secure=secure,
                        path="/chat", max_age=IDLE_DAYS * 24 * 3600)


def _explicit_lang(request: web.Request) -> str | None:
    lang = request.query.get("lang")
    return lang if lang in languages() else None


def _lang(request: web.Request) -> str:
    return request_language(request, request.app[SETTINGS].language)


def origin_allowed(request: web.Request) -> bool:
    """The WebSocket handshake must come from a page of this site (no cross-site
    WebSocket hijacking): Origin equals base_url's origin or the request's own."""
    origin = (request.headers.get("Origin") or "").strip().rstrip("/").lower()
    if not origin or origin == "null":
        return False
    base = urlsplit(request.app[SETTINGS].base_url)
    allowed = {f"{base.scheme}://{base.netloc}".lower(),
               f"{request.scheme}://{request.host}".lower()}
    return origin in allowed


async def _view(request: web.Request, key: str) -> View:
    """The conversation in the language asked for. When the site's language link was
    followed (``?lang=``), the stored conversation switches language too."""
    wanted = _explicit_lang(request)
    view = await store(request).view(key, wanted or _lang(request))
    if wanted and view.stored and view.lang != wanted:
        await store(request).say(key, chat.switch_command(wanted), ip=request.remote,
                                 lang=wanted)
        view = await store(request).view(key, wanted)
    return view


# ---------------------------------------------------------------------------------------
# The chat page and its WebSocket

async def chat_page(request: web.Request) -> web.Response:
    slug = request.query.get("initiative")
    if slug:  # "correct this entry" on an entry's public page
        return await _opened_response(request, await store(request).open_page_entry(
            slug, key=request.cookies.get(COOKIE_NAME), ip=request.remote,
            lang=_explicit_lang(request) or _lang(request)))
    key, is_new = _key(request)
    view = await _view(request, key)
    return _chat_response(request, key, is_new, view.lang, update=view.step == "update_menu")


def _chat_response(request: web.Request, key: str, set_cookie: bool, lang: str, *,
                   update: bool = False) -> web.Response:
    settings = request.app[SETTINGS]
    response = render(request, "chat.html", lang=lang, texts=js_texts(),
                      switch=language_switch(lang), max_chars=settings.chat_max_message_chars,
                      update=update)
    response.headers["Cache-Control"] = "no-store"
    if set_cookie:
        set_key_cookie(response, request, key)
    return response


class SocketCount:
    """Open chat WebSockets per client address and in total (each holds a file
    descriptor and a task: one client must not take them all)."""

    def __init__(self) -> None:
        self.per_client: dict[str, int] = {}
        self.total = 0

    def take(self, client: str, *, per_client: int, total: int) -> bool:
        if self.total >= total or self.per_client.get(client, 0) >= per_client:
            return False
        self.per_client[client] = self.per_client.get(client, 0) + 1
        self.total += 1
        return True

    def release(self, client: str) -> None:
        self.total -= 1
        left = self.per_client.get(client, 1) - 1
        if left > 0:
            self.per_client[client] = left
        else:
            self.per_client.pop(client, None)


SOCKETS = web.AppKey("chat_sockets", SocketCount)


async def chat_ws(request: web.Request) -> web.StreamResponse:
    if not origin_allowed(request):
        log.info("chat: WebSocket refused, Origin %r", request.headers.get("Origin"))
        raise web.HTTPForbidden(text="Origin not allowed")
    settings = request.app[SETTINGS]
    sockets = request.app[SOCKETS]
    client = client_key(request.remote)
    if not sockets.take(client, per_client=settings.chat_sockets_per_ip,
                        total=settings.chat_sockets_total):
        log.info("chat: WebSocket refused, too many open (%s)", client)
        raise web.HTTPTooManyRequests(text="Too many open chat connections",
                                      headers={"Retry-After": "60"})
    try:
        return await _chat_socket(request, settings)
    finally:
        sockets.release(client)


async def _chat_socket(request: web.Request, settings: Settings) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30.0,
                               max_msg_size=max(65536, settings.chat_max_message_chars * 8))
    await ws.prepare(request)
    key = request.cookies.get(COOKIE_NAME)
    lang = _explicit_lang(request) or _lang(request)
    if not valid_key(key):
        await ws.send_json({"type": "error", "code": "no_session"})
        await ws.close()
        return ws
    view = await store(request).view(key, lang)
    await ws.send_json({"type": "history", "lang": view.lang,
                        "switch": language_switch(view.lang), "messages": view.transcript})
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            if msg.type == WSMsgType.ERROR:
                break
            continue
        try:
            data = json.loads(msg.data)
            said = data.get("text") if isinstance(data, dict) else None
            if data.get("type") != "say" or not isinstance(said, str):
                raise ValueError
        except (ValueError, AttributeError, RecursionError):
            # RecursionError: a deeply nested JSON array (30,000 "[") from a stranger.
            await ws.send_json({"type": "error", "code": "bad_message"})
            continue
        try:
            turn = await store(request).say(str(key), said, ip=request.remote, lang=lang)
        except Exception:  # ours, not the person's: log it, tell them, keep the socket
            log.exception("chat: a message could not be handled")
            await ws.send_json({"type": "error", "code": "server"})
            continue
        if turn.error:
            await ws.send_json({"type": "error", "code": turn.error, "lang": turn.lang})
            if turn.error == "session_limit":
                await ws.close()
                break
            continue
        lang = turn.lang
        await ws.send_json({"type": "bot", "lang": turn.lang,
                            "switch": language_switch(turn.lang),
                            "replies": [r.as_dict() for r in turn.replies]})
    return ws


# ---------------------------------------------------------------------------------------
# The form fallback (no JavaScript)

def _entries(transcript: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Transcript entries with their replies parsed, and the index where the current
    turn's bot replies start (they carry the live controls)."""
    entries = []
    for item in transcript:
        if item.get("from") == "bot":
            entries.append({"from": "bot", "reply": chat.Reply.from_dict(item["reply"])})
        else:
            entries.append({"from": "user", "text": str(item.get("text", ""))})
    start = len(entries)
    while start > 0 and entries[start - 1]["from"] == "bot":
        start -= 1
    return entries, start


async def form_page(request: web.Request) -> web.Response:
    key, is_new = _key(request)
    view = await _view(request, key)
    return _form_response(request, key, is_new, view.transcript, view.lang,
                          error=request.query.get("error"))


def _form_response(request: web.Request, key: str, set_cookie: bool,
                   transcript: list[dict[str, Any]], lang: str, *, error: str | None = None,
                   status: int = 200) -> web.Response:
    settings = request.app[SETTINGS]
    entries, live = _entries(transcript)
    earlier_from = max(0, live - 8)
    response = render(request, "chat_form.html", status=status, lang=lang,
                      earlier=entries[:earlier_from], recent=entries[earlier_from:live],
                      current=entries[live:], csrf=csrf_token(settings, key),
                      csrf_field=CSRF_FIELD, error=_FORM_ERRORS.get(error or ""),
                      switch=language_switch(lang),
                      max_chars=settings.chat_max_message_chars)
    response.headers["Cache-Control"] = "no-store"
    if set_cookie:
        set_key_cookie(response, request, key)
    return response


async def form_post(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    form = await request.post()
    key = request.cookies.get(COOKIE_NAME)
    token = form.get(CSRF_FIELD)
    if not check_csrf(settings, key, token if isinstance(token, str) else None):
        fresh, is_new = _key(request)
        view = await store(request).view(fresh, _lang(request))
        return _form_response(request, fresh, is_new, view.transcript, view.lang,
                              error="csrf", status=403)
    assert key is not None
    said = form.get(TEXT_FIELD)
    choices = [str(c) for c in form.getall(CHOICE_FIELD, []) if isinstance(c, str)]
    if choices and not (isinstance(said, str) and said.strip()):
        said = ", ".join(choices)
    location = "/chat/form"
    try:
        turn = await store(request).say(key, said if isinstance(said, str) else "",
                                        ip=request.remote, lang=_lang(request))
    except Exception:  # ours: log it and say so on the page
        log.exception("chat: a form message could not be handled")
        raise web.HTTPSeeOther(location + "?error=server#now") from None
    if turn.error:
        location += f"?error={turn.error}"
    raise web.HTTPSeeOther(location + "#now")


# ---------------------------------------------------------------------------------------
# Personal links from reminders and receipts

async def entry_link(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    key = request.cookies.get(COOKIE_NAME)
    wanted = _explicit_lang(request)
    opened = await store(request).open_entry(token, key=key, ip=request.remote, lang=wanted)
    return await _opened_response(request, opened)


# Why a personal link did not open a conversation: (heading, text, HTTP status).
_LINK_NOTICES = {
    "session_limit": (N_("chat.link.limit_title"), N_("chat.error.session_limit"), 429),
    "waiting": (N_("chat.link.waiting_title"), N_("chat.link.waiting"), 200),
    "invalid": (N_("chat.link.invalid_title"), N_("chat.link.invalid"), 404),
}


async def _opened_response(request: web.Request, opened: Opened) -> web.Response:
    """The chat (or the plain form with ?form=1) for a conversation opened on an entry,
    or a friendly page saying why it could not be opened."""
    key = request.cookies.get(COOKIE_NAME)
    wanted = _explicit_lang(request)
    if opened.key is None:
        title, body, status = _LINK_NOTICES.get(opened.error or "", _LINK_NOTICES["invalid"])
        response = render(request, "chat_notice.html", status=status, heading=title,
                          body=body, link="/chat", link_text=N_("chat.link.to_chat"))
        response.headers["Cache-Control"] = "no-store"
        return response
    view = await store(request).view(opened.key, wanted or _lang(request))
    if request.query.get("form") == "1":
        return _form_response(request, opened.key, opened.key != key, view.transcript,
                              view.lang)
    return _chat_response(request, opened.key, opened.key != key, view.lang, update=True)


# ---------------------------------------------------------------------------------------
# E-mail verification

async def verify_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    result = await store(request).verification(token)
    return _verify_response(request, token, result.status, result)


async def verify_post(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    result = await store(request).verify(token)
    return _verify_response(request, token, result.status, result)


def _verify_response(request: web.Request, token: str, status: str,
                     result: Any) -> web.Response:
    lang = _explicit_lang(request) or (
        result.lang if status in ("ready", "verified", "done") else _lang(request))
    code = {"invalid": 404, "expired": 410}.get(status, 200)
    response = render(request, "chat_verify.html", status=code, lang=lang, state=status,
                      title=result.title or "", kind=result.kind or "new", token=token)
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------------------

def setup(app: web.Application) -> None:
    """Add the chat's routes."""
    app[STORE] = ChatStore(app[SETTINGS], app[DB])
    app[SOCKETS] = SocketCount()
    app.router.add_get("/chat", chat_page, name="chat")
    app.router.add_get("/chat/ws", chat_ws, name="chat_ws")
    app.router.add_get("/chat/form", form_page, name="chat_form")
    app.router.add_post("/chat/form", form_post)
    app.router.add_get("/chat/u/{token}", entry_link, name="chat_entry")
    app.router.add_get("/chat/verify/{token}", verify_page, name="chat_verify")
    app.router.add_post("/chat/verify/{token}", verify_post)
