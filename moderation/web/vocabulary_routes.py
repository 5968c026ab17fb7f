"""The vocabulary pages: administrators keep the terms of technology and patient groups
(add, rename, give a word, merge); a moderator maps a proposed word from a case to a
term, or adds it as a new one, from the case page."""
from __future__ import annotations

from aiohttp import web

from bot.core.appkeys import DB
from bot.core.pages import PageError
from bot.registry.terms import VOCABULARIES
from moderation import vocabularies
from moderation.web.security import require_admin
from moderation.web.views import actor_of, int_param, page, redirect

routes = web.RouteTableDef()


async def _page(request: web.Request, *, status: int = 200,
                error: str | None = None) -> web.Response:
    found = await vocabularies.overview(request.app[DB])
    return page(request, "vocabularies.html", status=status, error=error,
                vocabularies=VOCABULARIES, index=found.index, synonyms=found.words,
                usage=found.usage, unknown=found.unknown,
                done=request.query.get("done"), rewritten=request.query.get("n"))


@routes.get("/moderation/vocabularies", name="vocabularies")
async def vocabulary_page(request: web.Request) -> web.Response:
    require_admin(request)
    return await _page(request)


async def _change(request: web.Request, call: object, done: str) -> web.Response:
    try:
        result = await call  # type: ignore[misc]
    except vocabularies.VocabularyError as exc:
        return await _page(request, status=400, error=str(exc))
    raise redirect("/moderation/vocabularies", done=done, n=result.entries_rewritten)


@routes.post("/moderation/vocabularies/add")
async def add(request: web.Request) -> web.Response:
    require_admin(request)
    form = await request.post()
    words = [w for w in str(form.get("words") or "").split(",") if w.strip()]
    return await _change(request, vocabularies.add_term(
        request.app[DB], str(form.get("vocabulary") or ""), str(form.get("label_da") or ""),
        str(form.get("label_en") or ""), words=words, actor=actor_of(request)), "term_added")


@routes.post("/moderation/vocabularies/rename")
async def rename(request: web.Request) -> web.Response:
    require_admin(request)
    form = await request.post()
    term_id = int_param(form.get("term_id"))
    if term_id is None:
        raise PageError(400, "err.no_term")
    return await _change(request, vocabularies.rename_term(
        request.app[DB], term_id, str(form.get("label_da") or ""),
        str(form.get("label_en") or ""), actor=actor_of(request)), "term_renamed")


@routes.post("/moderation/vocabularies/word")
async def word(request: web.Request) -> web.Response:
    require_admin(request)
    form = await request.post()
    term_id = int_param(form.get("term_id"))
    if term_id is None:
        raise PageError(400, "err.no_term")
    return await _change(request, vocabularies.add_word(
        request.app[DB], term_id, str(form.get("word") or ""), actor=actor_of(request)),
        "word_added")


@routes.post("/moderation/vocabularies/merge")
async def merge(request: web.Request) -> web.Response:
    require_admin(request)
    form = await request.post()
    source, target = int_param(form.get("term_id")), int_param(form.get("into"))
    if source is None or target is None:
        raise PageError(400, "err.no_term")
    return await _change(request, vocabularies.merge_terms(
        request.app[DB], source, target, actor=actor_of(request)), "terms_merged")


@routes.post("/moderation/vocabularies/map")
async def map_word(request: web.Request) -> web.Response:
    """A moderator's answer to a proposed word: it means this term, or it is a new term.
    Back to the page the form was on (a case, or the vocabulary page)."""
    form = await request.post()
    vocabulary, text = str(form.get("vocabulary") or ""), str(form.get("word") or "")
    target = str(form.get("term") or "")
    back = str(form.get("back") or "")
    if not back.startswith("/moderation/") or "//" in back:
        back = "/moderation/vocabularies"
    try:
        if target == "new":
            await vocabularies.add_term(request.app[DB], vocabulary, text, "",
                                        actor=actor_of(request))
        else:
            term_id = int_param(target)
            if term_id is None:
                raise vocabularies.VocabularyError("err.choose_term")
            await vocabularies.add_word(request.app[DB], term_id, text,
                                        actor=actor_of(request), vocabulary=vocabulary)
    except vocabularies.VocabularyError as exc:
        raise PageError(400, str(exc)) from None
    raise redirect(back, done="word_mapped")


__all__ = ["routes"]
