"""Outreach (administrators): the address book of organisations (a CSV import that
lists each row it could not read) and the outreach campaigns — make one, see exactly whom
it would mail, start or stop it, and follow how it went."""
from __future__ import annotations

from aiohttp import web

from bot.core.appkeys import DB
from bot.core.pages import PageError
from bot.registry.vocabulary import PARTICIPANTS, REGIONS
from moderation import address_book, outreach
from moderation.web.security import require_admin
from moderation.web.views import actor_of, int_param, lang_of, page, redirect

routes = web.RouteTableDef()
MAX_FILE = 2 * 1024 * 1024 - 64 * 1024  # under the app's request limit


async def _overview(request: web.Request, *, status: int = 200, error: str | None = None,
                    imported: address_book.ImportResult | None = None,
                    errors: list[address_book.RowError] | None = None) -> web.Response:
    db = request.app[DB]
    return page(request, "outreach.html", status=status, error=error,
                organisations=await address_book.organisation_count(db),
                campaigns=await outreach.list_campaigns(db),
                recipients=await outreach.recipient_counts(db), kinds=PARTICIPANTS,
                kind_label={t.key: t.label(lang_of(request)) for t in PARTICIPANTS},
                columns=address_book.COLUMNS, imported=imported, row_errors=errors or [],
                done=request.query.get("done"))


@routes.get("/moderation/outreach", name="outreach")
async def overview(request: web.Request) -> web.Response:
    """The address book's size, its import form, the campaigns and a form for a new one."""
    require_admin(request)
    return await _overview(request)


@routes.post("/moderation/outreach/import")
async def import_file(request: web.Request) -> web.Response:
    """Import an address book: the readable rows are added or updated (by address), and
    every other row is listed with its line, column and what to fix."""
    require_admin(request)
    form = await request.post()
    upload = form.get("file")
    data = upload.file.read(MAX_FILE + 1) if isinstance(upload, web.FileField) else b""
    if not data:
        return await _overview(request, status=400, error="err.outreach_no_file")
    if len(data) > MAX_FILE:
        return await _overview(request, status=400, error="err.outreach_file_size")
    book = address_book.parse_address_book(data, lang_of(request))
    result = await address_book.import_address_book(request.app[DB], book.rows,
                                                    actor=actor_of(request))
    return await _overview(request, status=200 if not book.errors else 422,
                           imported=result, errors=book.errors)


@routes.post("/moderation/outreach/new")
async def new_campaign(request: web.Request) -> web.Response:
    """A new campaign, as a draft: its page shows whom it would mail."""
    require_admin(request)
    form = await request.post()
    threshold = int_param(form.get("max_initiatives"))
    try:
        campaign = await outreach.create_campaign(
            request.app[DB], name=str(form.get("name") or ""),
            max_initiatives=threshold if threshold is not None else -1,
            kinds=[str(k) for k in form.getall("kind", [])],
            note=str(form.get("note") or ""), actor=actor_of(request))
    except outreach.OutreachError as exc:
        return await _overview(request, status=400, error=exc.key)
    raise redirect(f"/moderation/outreach/{campaign.id}", done="outreach_created")


def _campaign_id(request: web.Request) -> int:
    campaign_id = int_param(request.match_info["campaign_id"])
    if campaign_id is None:
        raise PageError(404, "err.outreach_unknown")
    return campaign_id


@routes.get(r"/moderation/outreach/{campaign_id:\d+}", name="outreach_campaign")
async def campaign_page(request: web.Request) -> web.Response:
    """One campaign: whom it mails (or would), and how it went, overall, by kind and by
    region."""
    require_admin(request)
    db = request.app[DB]
    campaign_id = _campaign_id(request)
    campaign = await outreach.get_campaign(db, campaign_id)
    if campaign is None:
        raise PageError(404, "err.outreach_unknown")
    total, by_kind, by_region = await outreach.outreach_stats(db, campaign_id)
    lang = lang_of(request)
    chosen = campaign.kinds or [t.key for t in PARTICIPANTS]
    return page(request, "outreach_campaign.html", campaign=campaign,
                rule_kinds=", ".join(t.label(lang) for t in PARTICIPANTS if t.key in chosen),
                targets=await outreach.targets(db, campaign_id), total=total,
                by_kind=by_kind, by_region=by_region,
                kind_label={t.key: t.label(lang) for t in PARTICIPANTS},
                region_label={t.key: t.label(lang) for t in REGIONS},
                done=request.query.get("done"), error=request.query.get("error"))


@routes.post(r"/moderation/outreach/{campaign_id:\d+}/start")
async def start(request: web.Request) -> web.Response:
    """Start the campaign: its recipients are fixed now, and the scheduler mails them
    inside the sending window."""
    require_admin(request)
    campaign_id = _campaign_id(request)
    try:
        await outreach.start_campaign(request.app[DB], campaign_id, actor=actor_of(request))
    except outreach.OutreachError as exc:
        raise PageError(409, exc.key) from None
    raise redirect(f"/moderation/outreach/{campaign_id}", done="outreach_started")


@routes.post(r"/moderation/outreach/{campaign_id:\d+}/stop")
async def stop(request: web.Request) -> web.Response:
    """Stop a running campaign: no further mail."""
    require_admin(request)
    campaign_id = _campaign_id(request)
    try:
        await outreach.stop_campaign(request.app[DB], campaign_id, actor=actor_of(request))
    except outreach.OutreachError as exc:
        raise PageError(409, exc.key) from None
    raise redirect(f"/moderation/outreach/{campaign_id}", done="outreach_stopped")


__all__ = ["routes"]
