"""The contact's own consent to publication: ``/samtykke/{token}``.

The personal link of a reminder or a receipt (the same credential the update chat takes:
a 192-bit token, stored hashed, bound to one contact) opens a page that says plainly what
is published — name, e-mail and phone on the public landkort, in its API and its CSV —
and two buttons: yes or no. Only the POST records the answer (link scanners fetch every
URL in mail); it carries an HMAC of the token, so only our own page can send it.
:func:`bot.mail.contacts.record_consent` records it.
"""
from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from sqlalchemy import select

from bot.core import i18n
from bot.core.appkeys import DB, SETTINGS
from bot.core.pages import personal_page, render
from bot.core.settings import Settings
from bot.mail.contacts import record_consent
from bot.mail.tokens import token_contact
from bot.registry.models import Initiative

# Tokens that stand for the contact: a reminder (sent to the contact's address) and a
# receipt that names the contact (the contact wrote the reply).
PURPOSES = frozenset({"reminder", "receipt"})

i18n.register({
    "da": {
        "consent.title": "Må vi vise dine kontaktoplysninger?",
        "consent.intro": "Det telemedicinske landkort er offentligt. Med dit samtykke viser "
                         "vi disse oplysninger som kontakt for dine initiativer — på "
                         "landkortets sider, i dets API og i CSV-filen, som alle kan hente:",
        "consent.name": "Navn", "consent.email": "E-mail", "consent.phone": "Telefon",
        "consent.entries": "Dine initiativer:",
        "consent.explain": "Uden samtykke vises initiativerne stadig, men uden dine "
                           "oplysninger. Du kan altid ændre dit svar via linket i vores "
                           "mails. Vi viser dem aldrig, hvis du er afmeldt, eller hvis "
                           "mails til dig kommer retur.",
        "consent.yes": "Ja, vis mine kontaktoplysninger",
        "consent.no": "Nej, vis dem ikke",
        "consent.now_yes": "Nu: dine kontaktoplysninger vises.",
        "consent.now_no": "Nu: dine kontaktoplysninger vises ikke.",
        "consent.thanks": "Tak for dit svar",
        "consent.saved_yes": "Dine kontaktoplysninger vises nu på landkortet.",
        "consent.saved_no": "Dine kontaktoplysninger vises ikke på landkortet.",
        "consent.change": "Du kan ændre dit svar her på siden når som helst.",
        "consent.invalid_title": "Linket virker ikke",
        "consent.invalid": "Linket er ukendt eller udløbet. Svar på en af vores mails, så "
                           "hjælper redaktionen dig.",
    },
    "en": {
        "consent.title": "May we show your contact details?",
        "consent.intro": "The Danish telemedicine map is public. With your consent we show "
                         "these details as the contact for your initiatives — on the map's "
                         "pages, in its API and in the CSV file anyone can download:",
        "consent.name": "Name", "consent.email": "E-mail", "consent.phone": "Phone",
        "consent.entries": "Your initiatives:",
        "consent.explain": "Without consent the initiatives are still shown, without your "
                           "details. You can change your answer at any time with the link "
                           "in our mails. We never show them if you have unsubscribed or "
                           "if mail to you bounces.",
        "consent.yes": "Yes, show my contact details",
        "consent.no": "No, do not show them",
        "consent.now_yes": "Now: your contact details are shown.",
        "consent.now_no": "Now: your contact details are not shown.",
        "consent.thanks": "Thank you for your answer",
        "consent.saved_yes": "Your contact details are now shown on the map.",
        "consent.saved_no": "Your contact details are not shown on the map.",
        "consent.change": "You can change your answer on this page at any time.",
        "consent.invalid_title": "This link does not work",
        "consent.invalid": "The link is unknown or has expired. Reply to one of our mails "
                           "and the editors will help you.",
    },
})


def form_mac(settings: Settings, token: str) -> str:
    return hmac.new(settings.secret_key.encode(), f"consent|{token}".encode(),
                    hashlib.sha256).hexdigest()


def _page(request: web.Request, *, status: int = 200, **ctx: object) -> web.StreamResponse:
    return personal_page(render(request, "consent.html", status=status, **ctx))


async def consent_page(request: web.Request) -> web.StreamResponse:
    """GET: what would be published (the contact's own details and entries), the current
    answer, two buttons. Changes nothing. After an answer (``?saved=1``) it thanks."""
    token = request.match_info["token"]
    async with request.app[DB].read() as session:
        contact = await token_contact(session, token, PURPOSES)
        titles = list((await session.scalars(select(Initiative.title).where(
            Initiative.contact_id == contact.id, Initiative.merged_into_id.is_(None))
            .order_by(Initiative.title))).all()) if contact is not None else []
    if contact is None:
        return _page(request, status=404, state="invalid")
    return _page(request, state="saved" if request.query.get("saved") == "1" else "ask",
                 contact=contact, titles=titles, token=token,
                 lang_query=_lang_query(request), current=contact.publish_consent,
                 mac=form_mac(request.app[SETTINGS], token))


def _lang_query(request: web.Request) -> str:
    """Keep an explicit language across the form post (the page sets no cookie)."""
    lang = request.query.get("lang")
    return f"lang={lang}" if lang in i18n.LANGUAGES else ""


async def consent_post(request: web.Request) -> web.StreamResponse:
    """POST: record yes or no for the token's contact, then show the answer (303 to the
    GET, so a reload does not post again)."""
    token = request.match_info["token"]
    form = await request.post()
    settings = request.app[SETTINGS]
    if not hmac.compare_digest(str(form.get("mac") or ""), form_mac(settings, token)):
        raise web.HTTPForbidden(text="Open the link from the mail and press a button.")
    answer = form.get("answer")
    if answer not in ("yes", "no"):
        raise web.HTTPBadRequest(text="Answer yes or no.")
    async with request.app[DB].write() as session:
        contact = await token_contact(session, token, PURPOSES)
        if contact is not None:
            await record_consent(session, contact.id, answer == "yes", source="link")
    if contact is None:
        return _page(request, status=404, state="invalid")
    query = "&".join(q for q in ("saved=1", _lang_query(request)) if q)
    raise web.HTTPSeeOther(f"/samtykke/{token}?{query}")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/samtykke/{token}", consent_page, name="consent")
    app.router.add_post("/samtykke/{token}", consent_post, name="consent_post")
