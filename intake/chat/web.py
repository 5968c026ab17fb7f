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
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from bot.core.appkeys import DB, SETTINGS
from bot.core.clients import client_key
from bot.core.i18n import LANGUAGES, gettext, register, request_language
from bot.core.pages import render
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
# Page texts

TEXTS: dict[str, dict[str, str]] = {
    "da": {
        "chat.title": "Indmeld et telemedicinsk initiativ",
        "chat.update_title": "Opdatér et initiativ",
        "chat.intro": "Svar på spørgsmålene – det tager omkring 5 minutter. Redaktionen "
                      "hos MedCom gennemgår alt, før det vises i landkortet.",
        "chat.noscript": "Chatten kræver JavaScript. Du kan bruge den enkle formular i "
                         "stedet:",
        "chat.noscript_link": "Åbn formularen",
        "chat.use_form": "Virker chatten ikke? Brug den enkle formular",
        "chat.answer": "Dit svar",
        "chat.placeholder": "Skriv dit svar …",
        "chat.send": "Send",
        "chat.continue": "Fortsæt",
        "chat.lang_button": "English",
        "chat.lang_command": "English please",
        "chat.connecting": "Forbinder …",
        "chat.reconnecting": "Forbindelsen blev afbrudt. Prøver igen …",
        "chat.offline": "Chatten kan ikke komme i forbindelse. Brug den enkle formular:",
        "chat.you": "Du",
        "chat.bot": "Landkortet",
        "chat.typing": "Landkortet skriver …",
        "chat.changed": "ændret",
        "chat.before": "før",
        "chat.chars_left": "tegn tilbage",
        "chat.error.too_long": "Beskeden er for lang. Forkort den, og prøv igen.",
        "chat.error.empty": "Skriv et svar først.",
        "chat.error.rate_limited": "Du skriver lidt for hurtigt. Vent et øjeblik, og prøv "
                                   "igen.",
        "chat.error.session_limit": "Der er startet for mange samtaler fra din forbindelse. "
                                    "Prøv igen om en time.",
        "chat.error.no_session": "Samtalen kunne ikke findes. Genindlæs siden.",
        "chat.error.csrf": "Formularen var forældet. Prøv igen.",
        "chat.error.bad_message": "Beskeden kunne ikke læses.",
        "chat.error.server": "Noget gik galt hos os. Prøv igen om lidt – dit svar er ikke "
                             "gemt.",
        "chat.form.title": "Indmeld et telemedicinsk initiativ (enkel formular)",
        "chat.form.choose": "Vælg en eller flere, og tryk Fortsæt",
        "chat.form.to_chat": "Skift til chatten",
        "chat.form.earlier": "Tidligere i samtalen",
        "chat.link.invalid_title": "Linket virker ikke længere",
        "chat.link.invalid": "Linket er udløbet eller ugyldigt. Du kan stadig svare på "
                             "påmindelsesmailen – eller indmelde et initiativ i chatten.",
        "chat.link.limit_title": "For mange samtaler",
        "chat.link.waiting_title": "Dit forslag venter på redaktionen",
        "chat.link.waiting": "Redaktionen har ikke behandlet dit forslag endnu. Når det er "
                             "godkendt, åbner dette link initiativet, så du kan rette det. "
                             "Vil du tilføje noget nu, så svar på vores mail.",
        "chat.link.to_chat": "Gå til chatten",
        "chat.verify.title": "Bekræft din e-mailadresse",
        "chat.verify.intro_new": "Tryk på knappen for at bekræfte din indmelding af",
        "chat.verify.intro_update": "Tryk på knappen for at bekræfte dine oplysninger om",
        "chat.verify.after": "Derefter går det videre til MedCom's redaktion, som "
                             "gennemgår det, før det vises i landkortet.",
        "chat.verify.button": "Bekræft",
        "chat.verify.done_title": "Tak – det er bekræftet",
        "chat.verify.done": "Det er nu sendt til redaktionen, som gennemgår det, før det "
                            "vises i landkortet.",
        "chat.verify.already_title": "Allerede bekræftet",
        "chat.verify.already": "Det er allerede bekræftet og sendt til redaktionen – tak.",
        "chat.verify.expired_title": "Linket er udløbet",
        "chat.verify.expired": "Bekræftelseslinket virker kun i en begrænset tid. Du er "
                               "velkommen til at indmelde initiativet igen.",
        "chat.verify.invalid_title": "Linket er ugyldigt",
        "chat.verify.invalid": "Linket kunne ikke genkendes. Tjek, at hele linket fra "
                               "mailen er med.",
    },
    "en": {
        "chat.title": "Register a telemedicine initiative",
        "chat.update_title": "Update an initiative",
        "chat.intro": "Answer the questions – it takes about 5 minutes. MedCom's editors "
                      "review everything before it appears in the map.",
        "chat.noscript": "The chat needs JavaScript. You can use the simple form instead:",
        "chat.noscript_link": "Open the form",
        "chat.use_form": "Chat not working? Use the simple form",
        "chat.answer": "Your answer",
        "chat.placeholder": "Type your answer …",
        "chat.send": "Send",
        "chat.continue": "Continue",
        "chat.lang_button": "Dansk",
        "chat.lang_command": "På dansk",
        "chat.connecting": "Connecting …",
        "chat.reconnecting": "The connection was lost. Trying again …",
        "chat.offline": "The chat cannot connect. Use the simple form:",
        "chat.you": "You",
        "chat.bot": "The map",
        "chat.typing": "The map is typing …",
        "chat.changed": "changed",
        "chat.before": "before",
        "chat.chars_left": "characters left",
        "chat.error.too_long": "The message is too long. Shorten it and try again.",
        "chat.error.empty": "Type an answer first.",
        "chat.error.rate_limited": "You are typing a little too fast. Wait a moment and "
                                   "try again.",
        "chat.error.session_limit": "Too many conversations have been started from your "
                                    "connection. Please try again in an hour.",
        "chat.error.no_session": "The conversation could not be found. Reload the page.",
        "chat.error.csrf": "The form had expired. Please try again.",
        "chat.error.bad_message": "The message could not be read.",
        "chat.error.server": "Something went wrong on our side. Please try again in a "
                             "moment – your answer was not saved.",
        "chat.form.title": "Register a telemedicine initiative (simple form)",
        "chat.form.choose": "Choose one or more, then press Continue",
        "chat.form.to_chat": "Switch to the chat",
        "chat.form.earlier": "Earlier in the conversation",
        "chat.link.invalid_title": "This link no longer works",
        "chat.link.invalid": "The link has expired or is not valid. You can still answer "
                             "the reminder e-mail – or register an initiative in the chat.",
        "chat.link.limit_title": "Too many conversations",
        "chat.link.waiting_title": "Your proposal is waiting for the editors",
        "chat.link.waiting": "The editors have not handled your proposal yet. Once it is "
                             "approved, this link opens the initiative so you can correct "
                             "it. To add something now, reply to our mail.",
        "chat.link.to_chat": "Go to the chat",
        "chat.verify.title": "Confirm your e-mail address",
        "chat.verify.intro_new": "Press the button to confirm your registration of",
        "chat.verify.intro_update": "Press the button to confirm your details about",
        "chat.verify.after": "It then goes on to MedCom's editors, who review it before it "
                             "appears in the map.",
        "chat.verify.button": "Confirm",
        "chat.verify.done_title": "Thank you – it is confirmed",
        "chat.verify.done": "It has been sent to the editors, who review it before it "
                            "appears in the map.",
        "chat.verify.already_title": "Already confirmed",
        "chat.verify.already": "It has already been confirmed and sent to the editors – "
                               "thank you.",
        "chat.verify.expired_title": "The link has expired",
        "chat.verify.expired": "The confirmation link only works for a limited time. You "
                               "are welcome to register the initiative again.",
        "chat.verify.invalid_title": "The link is not valid",
        "chat.verify.invalid": "The link was not recognised. Check that the whole link "
                               "from the e-mail is there.",
    },
}
register(TEXTS)
# Texts the browser script needs, in both languages (the chat can switch mid-way).
JS_TEXT_KEYS = ("chat.send", "chat.continue", "chat.lang_button", "chat.lang_command",
                "chat.connecting", "chat.reconnecting", "chat.offline", "chat.you",
                "chat.bot", "chat.typing", "chat.changed", "chat.before",
                "chat.chars_left", "chat.placeholder", "chat.use_form",
                "chat.error.too_long", "chat.error.empty", "chat.error.rate_limited",
                "chat.error.session_limit", "chat.error.no_session",
                "chat.error.bad_message", "chat.error.server")


def js_texts() -> dict[str, dict[str, str]]:
    return {lang: {k: gettext(lang)(k) for k in JS_TEXT_KEYS} for lang in LANGUAGES}


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
    return lang if lang in LANGUAGES else None


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


def _switch_command(lang: str) -> str:
    return "English please" if lang == "en" else "På dansk"


async def _view(request: web.Request, key: str) -> View:
    """The conversation in the language asked for. When the site's language link was
    followed (``?lang=``), the stored conversation switches language too."""
    wanted = _explicit_lang(request)
    view = await store(request).view(key, wanted or _lang(request))
    if wanted and view.stored and view.lang != wanted:
        await store(request).say(key, _switch_command(wanted), ip=request.remote,
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
                      max_chars=settings.chat_max_message_chars, update=update)
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
    await ws.send_json({"type": "history", "lang": view.lang, "messages": view.transcript})
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
    error = request.query.get("error")
    return _form_response(request, key, is_new, view.transcript, view.lang,
                          error=error if error in _FORM_ERRORS else None)


_FORM_ERRORS = ("too_long", "empty", "rate_limited", "session_limit", "no_session", "csrf",
                "server")


def _form_response(request: web.Request, key: str, set_cookie: bool,
                   transcript: list[dict[str, Any]], lang: str, *, error: str | None = None,
                   status: int = 200) -> web.Response:
    settings = request.app[SETTINGS]
    entries, live = _entries(transcript)
    earlier_from = max(0, live - 8)
    response = render(request, "chat_form.html", status=status, lang=lang,
                      earlier=entries[:earlier_from], recent=entries[earlier_from:live],
                      current=entries[live:], csrf=csrf_token(settings, key),
                      csrf_field=CSRF_FIELD, error=error,
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
    "session_limit": ("chat.link.limit_title", "chat.error.session_limit", 429),
    "waiting": ("chat.link.waiting_title", "chat.link.waiting", 200),
    "invalid": ("chat.link.invalid_title", "chat.link.invalid", 404),
}


async def _opened_response(request: web.Request, opened: Opened) -> web.Response:
    """The chat (or the plain form with ?form=1) for a conversation opened on an entry,
    or a friendly page saying why it could not be opened."""
    key = request.cookies.get(COOKIE_NAME)
    wanted = _explicit_lang(request)
    if opened.key is None:
        title, body, status = _LINK_NOTICES.get(opened.error or "", _LINK_NOTICES["invalid"])
        response = render(request, "chat_notice.html", status=status, heading=title,
                          body=body, link="/chat", link_text="chat.link.to_chat")
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
