"""The chat conversation: a pure state machine.

``handle(state, text)`` takes the conversation's state and what the person wrote (or the
button they pressed — a button is only a shortcut for typing its text) and returns an
:class:`ChatStep`: the new state, the bot's replies, and at most one :data:`Effect` the edge
must carry out (look up duplicates, load an entry, store a submission). The edge then
calls :func:`on_duplicates`, :func:`on_entry` or :func:`on_submitted` with the result.
Nothing here touches a database, the network or a clock, so every path is unit-testable.

Field answers go through :func:`bot.registry.fields.normalise` — the same code e-mail uses — and
``Label: value`` lines typed at the summary go through :func:`intake.parse.reply_form.read_form`.

Flow of a new registration: title, organisation (then a duplicate check), the rest of the
mandatory fields, the optional ones (each may be skipped, or all at once), a summary with
"ret X" edits, then submit. An update (after "yes, it is this one", or from a reminder's
personal link) shows the entry's current values, lets the person change fields, and
submits only the changed ones — or a confirmation when nothing changed.
"""
from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bot.core.i18n import (
    DEFAULT_LANGUAGE,
    language_of,
    languages,
    ngettext,
    other_languages,
    text,
)
from bot.registry.fields import (
    Problem,
    form_label,
    format_value,
    key_for_label,
    normalise,
)
from bot.registry.record import (
    FIELD,
    FIELD_KEYS,
    FREE_TEXT_LIMITS,
    LIST_FIELDS,
    MANDATORY_FIELDS,
    OPTIONAL_FIELDS,
)
from bot.registry.repository import diff_record
from bot.registry.vocabulary import CHOICES
from intake.parse.reply_form import confirms_unchanged, read_form
from moderation.states import submission_kind

# ---------------------------------------------------------------------------------------
# Order of questions

# Title and organisation first: they are enough to spot a duplicate before the person
# spends time on a description of an entry that already exists.
MANDATORY_ORDER: tuple[str, ...] = ("title", "organisation") + tuple(
    k for k in MANDATORY_FIELDS if k not in ("title", "organisation"))
OPTIONAL_ORDER: tuple[str, ...] = OPTIONAL_FIELDS
FLOW: tuple[str, ...] = MANDATORY_ORDER + OPTIONAL_ORDER
assert set(FLOW) == set(FIELD_KEYS), "every registry field is asked for"

# An end date is asked for only where one is expected.
END_DATE_STATUSES = frozenset({"projekt", "afsluttet"})

# Column sizes of the registry: longer answers are refused with a hint, not truncated.
MAX_CHARS: dict[str, int] = FREE_TEXT_LIMITS

# A duplicate candidate scoring at least this (0–100) is put to the person.
DUPLICATE_SCORE = 80.0
MAX_DUPLICATE_QUESTIONS = 3

# ---------------------------------------------------------------------------------------
# Words the conversation understands (folded: lower case, single spaces, no end punctuation)

BACK = frozenset({"tilbage", "gå tilbage", "ga tilbage", "back", "go back", "previous",
                  "forrige"})
SKIP = frozenset({"spring over", "spring", "skip", "spring det over", "skip it", "ved ikke",
                  "don't know", "dont know", "i don't know", "pass", "ingen", "none", "nej",
                  "no", "n/a", "-"})
SKIP_MANDATORY = frozenset({"spring over", "spring", "skip", "spring det over", "skip it"})
SKIP_REST = frozenset({"spring resten over", "skip the rest", "gå til opsummering",
                       "go to summary", "spring alle over", "skip all"})
KEEP = frozenset({"behold", "keep", "uændret", "unchanged", "keep it", "behold svaret",
                  "samme", "same"})
CLEAR = frozenset({"fjern", "slet", "remove", "clear", "delete"})
SUBMIT = frozenset({"send", "indsend", "send indmelding", "submit", "send it", "ja, send",
                    "bekræft", "confirm", "send ændringer", "send changes", "ok", "ja", "yes",
                    "send the changes", "send registration"})
CONFIRM_ALL = frozenset({"alt er korrekt", "everything is correct", "all correct",
                         "alt er rigtigt", "det er korrekt"})
DISCARD = frozenset({"fortryd ændringer", "discard changes", "fortryd", "undo changes"})
YES = frozenset({"ja", "yes", "ja, det er det", "yes, that's it", "yes, that is it",
                 "det er det", "jep", "j", "y", "ja tak", "yes please"})
NO = frozenset({"nej", "no", "nej, mit er et andet", "no, mine is different", "n",
                "nej tak", "no thanks", "det er et andet", "it's a different one"})
#: What a person may type to continue in a language, by language code. A language with a
#: catalogue but no words here can still be chosen: its switch button's own label (its
#: "chat.b.language") is understood too.
LANGUAGE_COMMANDS: dict[str, frozenset[str]] = {
    "da": frozenset({"dansk", "på dansk", "pa dansk", "danish", "dansk tak", "dansk, tak",
                     "in danish", "danish please"}),
    "en": frozenset({"english please", "english", "in english", "english, please",
                     "engelsk", "på engelsk", "pa engelsk"}),
}
RESTART = frozenset({"start forfra", "start over", "forfra", "restart", "ny indmelding",
                     "new registration", "indmeld et nyt initiativ",
                     "register another initiative"})
EDIT_RE = re.compile(r"^(?:ret|ændr|aendr|rediger|change|edit|fix)\s+(.+)$")
# "No" to the question about initiatives not on the map.
NO_LEADS = frozenset({"nej", "nej tak", "no", "no thanks", "ingen", "none", "ved ikke",
                      "kender ikke", "don't know", "do not know", "-"})

# ---------------------------------------------------------------------------------------
# Texts: every sentence the bot says is in the ``chat`` catalogue
# (bot/locale/<language>/LC_MESSAGES/chat.po), looked up with ``text(lang, "chat.…")``.

#: The question for each field (``chat.q.<field>``; derived from the one field list, so
#: a new field needs only its question in the catalogue, which tests/test_translations.py
#: checks), and for the sender's own address on an update.
QUESTIONS: dict[str, str] = {key: f"chat.q.{key}" for key in (*FIELD_KEYS, "sender_email")}


# ---------------------------------------------------------------------------------------
# What the bot says

@dataclass(frozen=True)
class Button:
    """A shortcut for typing ``value``. In a multi-select reply, buttons of kind "option"
    are ticked and sent together (labels joined by ", ")."""

    label: str
    value: str
    kind: str = "command"   # option | command | primary | suggestion
    help: str = ""
    selected: bool = False
    lang: str = ""          # set when the label is in another language than the chat's


@dataclass(frozen=True)
class SummaryRow:
    """One line of a summary: a field, its value and the text that edits it."""

    key: str
    label: str
    value: str
    edit: str
    action: str
    changed: bool = False
    old: str = ""


@dataclass(frozen=True)
class Reply:
    """One bot message. ``input`` hints the composer (text, textarea, email, tel, url)."""

    text: str
    tone: str = "info"      # info | question | problem | summary | done
    buttons: tuple[Button, ...] = ()
    multi: bool = False
    rows: tuple[SummaryRow, ...] = ()
    field: str | None = None
    input: str = "text"
    progress: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        d = dict(data)
        d["buttons"] = tuple(Button(**b) for b in d.get("buttons") or ())
        d["rows"] = tuple(SummaryRow(**r) for r in d.get("rows") or ())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ---------------------------------------------------------------------------------------
# What the edge must do

@dataclass(frozen=True)
class FindDuplicates:
    """Look up published entries like ``record``; answer with :func:`on_duplicates`."""

    record: dict[str, Any]


@dataclass(frozen=True)
class LoadEntry:
    """Load the entry's record and version; answer with :func:`on_entry`."""

    initiative_id: int


@dataclass(frozen=True)
class Submit:
    """Store a submission; answer with :func:`on_submitted`.

    ``seq`` numbers the submissions of one conversation (for its idempotency key).
    """

    kind: str                       # new | update | confirmation
    proposed: dict[str, Any]
    initiative_id: int | None
    base_version: int | None
    sender_email: str | None
    sender_name: str | None
    language: str
    seq: int


@dataclass(frozen=True)
class RecordLeads:
    """Record the initiatives the person named as leads (:mod:`moderation.leads`); answer
    with :func:`on_leads`. ``seq`` is the submission they followed (idempotency)."""

    text: str
    sender_email: str | None
    initiative_id: int | None
    seq: int


Effect = FindDuplicates | LoadEntry | Submit | RecordLeads


# ---------------------------------------------------------------------------------------
# State

@dataclass
class ChatState:
    """Everything the conversation remembers (stored as JSON between messages)."""

    lang: str = DEFAULT_LANGUAGE
    mode: str = "new"               # new | update
    origin: str = "chat"            # chat | duplicate | token | page
    step: str = MANDATORY_ORDER[0]  # a field key, dup_question, summary, update_menu,
    #                                 sender_email, done
    values: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    return_to: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    declined: list[int] = field(default_factory=list)
    dup_checked_for: list[str] | None = None
    after_dup: str | None = None
    initiative_id: int | None = None
    base_version: int | None = None
    original: dict[str, Any] = field(default_factory=dict)
    saved_new: dict[str, Any] | None = None
    sender_email: str | None = None
    submissions: int = 0
    awaiting: str | None = None     # duplicates | entry | submit
    last_kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        return copy.deepcopy(asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ChatState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: copy.deepcopy(v) for k, v in (data or {}).items() if k in known})

    def copy(self) -> ChatState:
        return ChatState.from_json(self.to_json())


@dataclass
class ChatStep:
    """The result of one step: new state, replies, and an effect for the edge (or None)."""

    state: ChatState
    replies: list[Reply]
    effect: Effect | None = None


# ---------------------------------------------------------------------------------------
# Helpers

def fold(raw: str) -> str:
    """Lower case, single spaces, no trailing punctuation: how commands are compared."""
    return " ".join(raw.casefold().split()).strip(".!? ")


def _has(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _empty(key: str) -> Any:
    return [] if key in LIST_FIELDS else None


def field_for(name: str) -> str | None:
    """The field a person means by a label ("ret titel", "change e-mail"), or None."""
    name = name.strip().strip("«»\"'")
    key = key_for_label(name)
    if key:
        return key
    if name.replace(" ", "_") in FIELD_KEYS:
        return name.replace(" ", "_")
    return None


def applicable(state: ChatState, key: str) -> bool:
    """Whether a field is asked for in the flow (the end date only for projects and
    ended initiatives)."""
    if key == "end_date":
        return state.values.get("status") in END_DATE_STATUSES or _has(
            state.values.get("end_date"))
    return True


def _display(key: str, value: Any, lang: str) -> str:
    return format_value(key, value, lang) if _has(value) else "—"


def _command(label: str, kind: str = "command") -> Button:
    """A button that types its own label."""
    return Button(label, label, kind)


def _input_kind(key: str) -> str:
    return {"description": "textarea", "experiences": "textarea", "contact_email": "email",
            "contact_phone": "tel",
            "evaluation_url": "url", "website": "url"}.get(key, "text")


def _choices(key: str, lang: str, current: Any) -> tuple[tuple[Button, ...], bool]:
    """Buttons for fields with a vocabulary; (buttons, multi-select)."""
    if key not in CHOICES:
        return (), False
    if not FIELD[key].is_list:
        return tuple(Button(t.label(lang), t.label(lang), "option", t.help(lang),
                            selected=current == t.key) for t in CHOICES[key]), False
    chosen = set(current or [])
    return tuple(Button(t.label(lang), t.label(lang), "option", selected=t.key in chosen)
                 for t in CHOICES[key]), True


# ---------------------------------------------------------------------------------------
# Questions

def _ask(state: ChatState, key: str, *, lead: str = "", tone: str = "question",
         extra: tuple[Button, ...] = ()) -> Reply:
    """The question for one field, with its choices and the commands that apply."""
    lang = state.lang
    current = state.values.get(key)
    parts = [lead] if lead else []
    parts.append(text(lang, QUESTIONS[key]))
    if _has(current):
        parts.append(text(lang, "chat.now", value=format_value(key, current, lang)))
    buttons, multi = _choices(key, lang, current)
    commands: list[Button] = list(extra)
    if key == "regions":
        commands.append(_command(text(lang, "chat.b.whole_country")))
    if _has(current):
        commands.append(_command(text(lang, "chat.b.keep")))
    optional = key not in MANDATORY_FIELDS
    if optional and _has(current):
        commands.append(_command(text(lang, "chat.b.clear")))
    elif optional:
        commands.append(_command(text(lang, "chat.b.skip")))
        if state.mode == "new" and state.return_to is None:
            commands.append(_command(text(lang, "chat.b.skip_rest")))
    if state.history or state.return_to:
        commands.append(_command(text(lang, "chat.b.back")))
    progress = ""
    if state.mode == "new" and state.return_to is None:
        progress = (text(lang, "chat.progress", n=MANDATORY_ORDER.index(key) + 1,
                         total=len(MANDATORY_ORDER))
                    if key in MANDATORY_ORDER else text(lang, "chat.optional"))
    return Reply("\n".join(parts), tone=tone, buttons=buttons + tuple(commands), multi=multi,
                 field=key, input=_input_kind(key), progress=progress)


def _ask_dup(state: ChatState, lead: str = "") -> Reply:
    lang = state.lang
    cand = state.candidates[0]
    org = f" ({cand['organisation']})" if cand.get("organisation") else ""
    body = text(lang, "chat.dup.question", title=cand.get("title") or "?", org=org)
    return Reply("\n".join(p for p in (lead, body) if p), tone="question", buttons=(
        _command(text(lang, "chat.b.yes_dup")),
        _command(text(lang, "chat.b.no_dup")),
        _command(text(lang, "chat.b.back"))))


def _rows(state: ChatState, *, compare: bool) -> tuple[SummaryRow, ...]:
    lang = state.lang
    rows = []
    for key in FIELD_KEYS:
        value = state.values.get(key)
        label = form_label(key, lang)
        changed = False
        old = ""
        if compare:
            before = state.original.get(key)
            changed = bool(diff_record({key: before}, {key: value}))
            old = _display(key, before, lang) if changed else ""
        rows.append(SummaryRow(key, label, _display(key, value, lang),
                        text(lang, "chat.edit.cmd", label=label.casefold()),
                        text(lang, "chat.row.change") if _has(value)
                        else text(lang, "chat.row.add"),
                        changed, old))
    return tuple(rows)


def _summary(state: ChatState, lead: str = "") -> Reply:
    lang = state.lang
    body = "\n".join(p for p in (lead, text(lang, "chat.summary")) if p)
    return Reply(body, tone="summary", rows=_rows(state, compare=False), buttons=(
        _command(text(lang, "chat.b.submit"), "primary"),
        _command(text(lang, "chat.b.back"))))


def changes(state: ChatState) -> dict[str, Any]:
    """The fields an update changes (only those differ from the entry)."""
    return diff_record(state.original, state.values)


def _menu(state: ChatState, lead: str = "") -> Reply:
    lang = state.lang
    changed = changes(state)
    if changed:
        n_ = ngettext(lang)
        body = n_("chat.update.changed", "chat.update.changed.plural", len(changed))
        buttons = [_command(text(lang, "chat.b.submit_changes"), "primary"),
                   _command(text(lang, "chat.b.discard"))]
    else:
        body = text(lang, "chat.update.menu", title=state.original.get("title") or "")
        buttons = [_command(text(lang, "chat.b.all_correct"), "primary")]
    if state.origin == "duplicate":
        buttons.append(_command(text(lang, "chat.b.back")))
    return Reply("\n".join(p for p in (lead, body) if p), tone="summary",
                 rows=_rows(state, compare=True), buttons=tuple(buttons))


def _ask_sender(state: ChatState, lead: str = "") -> Reply:
    lang = state.lang
    body = text(lang, QUESTIONS["sender_email"])
    return Reply("\n".join(p for p in (lead, body) if p), tone="question", input="email",
                 field="contact_email",
                 buttons=(_command(text(lang, "chat.b.back")),))


def _done(state: ChatState) -> Reply:
    lang = state.lang
    return Reply(text(lang, "chat.done.again"), tone="info",
                 buttons=(_command(text(lang, "chat.b.restart")),))


def current(state: ChatState, lead: str = "") -> list[Reply]:
    """The question the conversation is at (resume, language switch, form fallback)."""
    step = state.step
    if step in FIELD_KEYS:
        reply = _ask(state, step, lead=lead)
    elif step == "dup_question" and state.candidates:
        reply = _ask_dup(state, lead)
    elif step == "summary":
        reply = _summary(state, lead)
    elif step == "leads":
        reply = _ask_leads(state)
    elif step == "update_menu":
        reply = _menu(state, lead)
    elif step == "sender_email":
        reply = _ask_sender(state, lead)
    else:
        reply = _done(state)
        if lead:
            return [Reply(lead), reply]
    return [reply]


# ---------------------------------------------------------------------------------------
# Starting

def switch_command(lang: str) -> str:
    """What to say to continue in ``lang``: its switch button, in that language."""
    return text(lang, "chat.b.language")


def language_asked_for(folded: str) -> str | None:
    """The language a message asks to continue in ("English please", "på dansk"), if any."""
    for code in languages():
        if folded in LANGUAGE_COMMANDS.get(code, ()) or folded == fold(switch_command(code)):
            return code
    return None


def _switch_buttons(lang: str) -> tuple[Button, ...]:
    """One button for each other language, in that language."""
    return tuple(Button(switch_command(code), switch_command(code), lang=code)
                 for code in other_languages(lang))


def start(lang: str = DEFAULT_LANGUAGE) -> ChatStep:
    """A fresh registration: the welcome and the first question."""
    state = ChatState(lang=language_of(lang))
    welcome = Reply(text(state.lang, "chat.welcome"), buttons=_switch_buttons(state.lang))
    return ChatStep(state, [welcome, _ask(state, state.step)])


def start_update(record: dict[str, Any], *, initiative_id: int, version: int,
                 lang: str = DEFAULT_LANGUAGE) -> ChatStep:
    """A conversation opened from a reminder's or receipt's personal link: the entry's
    current values, ready to confirm or change."""
    state = ChatState(lang=language_of(lang), mode="update", origin="token", step="update_menu")
    _load_entry(state, record, initiative_id, version)
    name = (record.get("contact_name") or "").split(" ")[0]
    lead = text(state.lang, "chat.update.greeting", name=name) if name else ""
    return ChatStep(state, [_menu(state, lead)])


def start_page_update(record: dict[str, Any], *, initiative_id: int, version: int,
                      lang: str = DEFAULT_LANGUAGE) -> ChatStep:
    """A conversation opened from an entry's public page ("correct this entry"): its
    current values, ready to change. Anyone can open it, so — as after "yes, it is this
    one" — the person gives an e-mail address and the proposal waits for it to be
    verified before it reaches the queue."""
    state = ChatState(lang=language_of(lang), mode="update", origin="page", step="update_menu")
    _load_entry(state, record, initiative_id, version)
    return ChatStep(state, [_menu(state)])


def _load_entry(state: ChatState, record: dict[str, Any], initiative_id: int,
                version: int) -> None:
    original = {k: copy.deepcopy(record.get(k, _empty(k))) for k in FIELD_KEYS}
    for k in LIST_FIELDS:
        original[k] = list(original[k] or [])
    state.initiative_id = initiative_id
    state.base_version = version
    state.original = original
    state.values = copy.deepcopy(original)
    state.skipped = []
    state.return_to = None


# ---------------------------------------------------------------------------------------
# Moving through the flow

def next_field(state: ChatState, after: str) -> str:
    """The first field after ``after`` in the flow that still needs an answer (neither
    answered nor skipped), or the summary. After going back and fixing an answer, the
    person returns to where they were."""
    index = FLOW.index(after) + 1 if after in FLOW else 0
    for key in FLOW[index:]:
        if applicable(state, key) and not _has(state.values.get(key)) \
                and key not in state.skipped:
            return key
    return "summary"


def _missing(state: ChatState) -> list[str]:
    return [k for k in MANDATORY_ORDER if not _has(state.values.get(k))]


def _goto(state: ChatState, step: str, *, push: str | None = None,
          lead: str = "") -> ChatStep:
    if push is not None and push != step:
        state.history.append(push)
    if step == "summary" and state.mode == "new":
        missing = _missing(state)
        if missing:
            step = missing[0]
    state.step = step
    return ChatStep(state, current(state, lead))


def _needs_duplicate_check(state: ChatState) -> bool:
    if state.mode != "new":
        return False
    title, org = state.values.get("title"), state.values.get("organisation")
    return bool(title and org and [title, org] != state.dup_checked_for)


def _after_answer(state: ChatState, key: str) -> ChatStep:
    """Where the conversation goes once a field has its answer."""
    if state.return_to:
        target, push = state.return_to, None
        state.return_to = None
    else:
        target, push = next_field(state, key), key
    if _needs_duplicate_check(state):
        state.dup_checked_for = [state.values["title"], state.values["organisation"]]
        if push is not None:
            state.history.append(push)
        state.after_dup = target
        state.awaiting = "duplicates"
        record = {k: v for k, v in state.values.items() if _has(v)}
        return ChatStep(state, [], FindDuplicates(record))
    return _goto(state, target, push=push)


def _answer(state: ChatState, key: str, raw: str, folded: str) -> ChatStep:
    lang = state.lang
    optional = key not in MANDATORY_FIELDS
    has_value = _has(state.values.get(key))
    editing = state.return_to is not None
    if folded in KEEP and has_value:
        return _after_answer(state, key)
    if optional and folded in SKIP_REST and state.mode == "new" and not editing:
        index = FLOW.index(key)
        for later in FLOW[index:]:
            if later in OPTIONAL_ORDER and not _has(state.values.get(later)) \
                    and later not in state.skipped:
                state.skipped.append(later)
        return _goto(state, "summary", push=key)
    if optional and (folded in SKIP or folded in CLEAR):
        if folded in CLEAR or not (editing and has_value):
            state.values[key] = _empty(key)
        if key not in state.skipped:
            state.skipped.append(key)
        return _after_answer(state, key)
    if not optional and folded in SKIP_MANDATORY:
        return ChatStep(state, [_ask(state, key, lead=text(lang, "chat.required"),
                                    tone="problem")])
    got = normalise(key, raw, lang)
    if got.problem is not None:
        return ChatStep(state, [_problem(state, key, got.problem, raw)])
    if not _has(got.value):
        if optional:
            state.values[key] = _empty(key)
            return _after_answer(state, key)
        return ChatStep(state, [_ask(state, key, lead=text(lang, "chat.required"),
                                    tone="problem")])
    limit = MAX_CHARS.get(key)
    if limit and len(str(got.value)) > limit:
        n_ = ngettext(lang)
        lead = n_("chat.too_long", "chat.too_long.plural", limit)
        return ChatStep(state, [_ask(state, key, lead=lead, tone="problem")])
    state.values[key] = got.value
    if key in state.skipped:
        state.skipped.remove(key)
    return _after_answer(state, key)


def _problem(state: ChatState, key: str, problem: Problem, raw: str) -> Reply:
    """Re-ask with the parser's hint, offering its "did you mean" as a button."""
    extra: tuple[Button, ...] = ()
    if problem.suggestion:
        value = (raw.replace(problem.value, problem.suggestion, 1)
                 if problem.value and problem.value in raw else problem.suggestion)
        extra = (Button(problem.suggestion, value, "suggestion"),)
    lead = " ".join((problem.message, text(state.lang, "chat.retry")))
    return _ask(state, key, lead=lead, tone="problem", extra=extra)


def _back(state: ChatState) -> ChatStep:
    lang = state.lang
    if state.step in FIELD_KEYS and state.return_to:
        target = state.return_to
        state.return_to = None
        return _goto(state, target)
    if state.step == "sender_email":
        return _goto(state, "update_menu")
    if state.mode == "update":
        if state.origin == "duplicate" and state.saved_new is not None:
            saved = state.saved_new
            state.mode, state.origin = "new", "chat"
            state.values = saved["values"]
            state.skipped = saved["skipped"]
            state.history = saved["history"]
            state.candidates = saved["candidates"]
            state.after_dup = saved["after_dup"]
            state.original, state.initiative_id, state.base_version = {}, None, None
            state.saved_new = None
            state.sender_email = None
            return _goto(state, "dup_question")
        return ChatStep(state, [_menu(state, text(lang, "chat.nothing_before"))])
    if not state.history:
        return ChatStep(state, current(state, text(lang, "chat.nothing_before")))
    previous = state.history.pop()
    state.candidates = [] if state.step == "dup_question" else state.candidates
    return _goto(state, previous)


def _edit(state: ChatState, key: str) -> ChatStep:
    """Jump to a field from the summary, the update menu or another question."""
    if state.step == "done":
        return ChatStep(state, current(state))
    if state.return_to is None and state.step != key:
        state.return_to = state.step
    state.step = key
    return ChatStep(state, [_ask(state, key)])


def _apply_form(state: ChatState, raw: str) -> tuple[bool, list[str]]:
    """``Label: value`` lines typed at the summary or the update menu (the e-mail reply
    form's own reader). Returns (anything understood, problem messages)."""
    form = read_form(raw, state.lang)
    for key, value in form.fields.items():
        state.values[key] = value
        if key in state.skipped:
            state.skipped.remove(key)
    return bool(form.fields or form.problems), [p.message for p in form.problems]


def _summary_input(state: ChatState, raw: str, folded: str) -> ChatStep:
    lang = state.lang
    if folded in SUBMIT or folded in CONFIRM_ALL or folded == fold(text(lang, "chat.b.submit")):
        missing = _missing(state)
        if missing:
            names = ", ".join(form_label(k, lang) for k in missing)
            state.step = missing[0]
            return ChatStep(state, [_ask(state, missing[0],
                                        lead=text(lang, "chat.summary.missing", fields=names))])
        state.awaiting = "submit"
        proposed = {k: v for k, v in state.values.items() if k in FIELD_KEYS and _has(v)}
        return ChatStep(state, [], Submit(
            kind="new", proposed=proposed, initiative_id=None, base_version=None,
            sender_email=state.values.get("contact_email"),
            sender_name=state.values.get("contact_name"), language=lang,
            seq=state.submissions + 1))
    understood, problems = _apply_form(state, raw)
    if understood:
        if _needs_duplicate_check(state):
            state.dup_checked_for = [state.values["title"], state.values["organisation"]]
            state.after_dup = "summary"
            state.awaiting = "duplicates"
            return ChatStep(state, [], FindDuplicates(
                {k: v for k, v in state.values.items() if _has(v)}))
        return ChatStep(state, [_summary(state, " ".join(problems))])
    key = field_for(raw)
    if key:
        return _edit(state, key)
    return ChatStep(state, [_summary(state, text(lang, "chat.summary.help"))])


def _menu_input(state: ChatState, raw: str, folded: str) -> ChatStep:
    lang = state.lang
    if folded in DISCARD:
        state.values = copy.deepcopy(state.original)
        return ChatStep(state, [_menu(state)])
    if folded in SUBMIT or folded in CONFIRM_ALL:
        return _submit_update(state)
    understood, problems = _apply_form(state, raw)
    if understood:
        return ChatStep(state, [_menu(state, " ".join(problems))])
    if confirms_unchanged(raw):
        return _submit_update(state)
    key = field_for(raw)
    if key:
        return _edit(state, key)
    return ChatStep(state, [_menu(state, text(lang, "chat.update.help"))])


def _submit_update(state: ChatState) -> ChatStep:
    if state.origin in ("duplicate", "page") and not state.sender_email:
        state.step = "sender_email"
        return ChatStep(state, [_ask_sender(state)])
    changed = changes(state)
    state.awaiting = "submit"
    sender = state.sender_email or state.original.get("contact_email")
    return ChatStep(state, [], Submit(
        kind=submission_kind(changed), proposed=changed,
        initiative_id=state.initiative_id, base_version=state.base_version,
        sender_email=sender,
        sender_name=(None if state.origin in ("duplicate", "page")
                     else state.original.get("contact_name")),
        language=state.lang, seq=state.submissions + 1))


def _sender_input(state: ChatState, raw: str) -> ChatStep:
    got = normalise("contact_email", raw, state.lang)
    if not got.ok:
        lead = (got.problem.message if got.problem else text(state.lang, "chat.required"))
        retry = text(state.lang, "chat.retry")
        return ChatStep(state, [_ask_sender(state, f"{lead} {retry}")])
    state.sender_email = got.value
    return _submit_update(state)


def _dup_input(state: ChatState, folded: str) -> ChatStep:
    if not state.candidates:
        return _goto(state, state.after_dup or "summary")
    lang = state.lang
    if folded in YES or folded == fold(text(lang, "chat.b.yes_dup")):
        state.awaiting = "entry"
        return ChatStep(state, [], LoadEntry(int(state.candidates[0]["initiative_id"])))
    if folded in NO or folded == fold(text(lang, "chat.b.no_dup")):
        state.declined.append(int(state.candidates.pop(0)["initiative_id"]))
        if state.candidates:
            return ChatStep(state, [_ask_dup(state)])
        return _goto(state, state.after_dup or "summary")
    return ChatStep(state, [_ask_dup(state, text(lang, "chat.dup.yes_or_no"))])


# ---------------------------------------------------------------------------------------
# The entry points

def handle(state: ChatState, raw: str) -> ChatStep:
    """One message from the person → the new state, the bot's replies, maybe an effect."""
    state = state.copy()
    state.awaiting = None
    raw = raw.strip()
    folded = fold(raw)
    asked_for = language_asked_for(folded)
    if asked_for is not None:
        state.lang = asked_for
        return ChatStep(state, current(state, text(state.lang, "chat.lang.switched")))
    if folded in RESTART or (state.step in ("done", "leads")
                             and folded == fold(text(state.lang, "chat.b.restart"))):
        fresh = start(state.lang)
        fresh.state.submissions = state.submissions
        return fresh
    if state.step == "done":
        return ChatStep(state, current(state))
    if state.step == "leads":
        return _leads_answer(state, raw, folded)
    if folded in BACK:
        return _back(state)
    m = EDIT_RE.match(folded)
    if m and state.step not in ("dup_question", "sender_email"):
        key = field_for(m[1])
        if key:
            return _edit(state, key)
    if state.step in FIELD_KEYS:
        return _answer(state, state.step, raw, folded)
    if state.step == "dup_question":
        return _dup_input(state, folded)
    if state.step == "summary":
        return _summary_input(state, raw, folded)
    if state.step == "update_menu":
        return _menu_input(state, raw, folded)
    if state.step == "sender_email":
        return _sender_input(state, raw)
    return ChatStep(state, current(state))


def on_duplicates(state: ChatState, candidates: list[dict[str, Any]]) -> ChatStep:
    """Continue after :class:`FindDuplicates` with the candidates found (best first)."""
    state = state.copy()
    state.awaiting = None
    strong = [c for c in candidates
              if float(c.get("score") or 0) >= DUPLICATE_SCORE
              and int(c["initiative_id"]) not in state.declined][:MAX_DUPLICATE_QUESTIONS]
    target = state.after_dup or "summary"
    if not strong:
        return _goto(state, target)
    state.candidates = strong
    state.step = "dup_question"
    return ChatStep(state, [_ask_dup(state)])


def on_entry(state: ChatState, record: dict[str, Any] | None, *, initiative_id: int,
             version: int) -> ChatStep:
    """Continue after :class:`LoadEntry`: the person said "yes, it is this one"."""
    state = state.copy()
    state.awaiting = None
    if record is None:
        state.declined.append(initiative_id)
        state.candidates = [c for c in state.candidates
                            if int(c["initiative_id"]) != initiative_id]
        if state.candidates:
            return ChatStep(state, [_ask_dup(state, text(state.lang, "chat.dup.gone"))])
        return _goto(state, state.after_dup or "summary", lead=text(state.lang, "chat.dup.gone"))
    state.saved_new = {"values": copy.deepcopy(state.values), "skipped": list(state.skipped),
                       "history": list(state.history), "candidates": state.candidates,
                       "after_dup": state.after_dup}
    state.mode, state.origin = "update", "duplicate"
    state.candidates = []
    _load_entry(state, record, initiative_id, version)
    state.step = "update_menu"
    return ChatStep(state, [_menu(state, text(state.lang, "chat.update.switched"))])


def on_submitted(state: ChatState, *, stored: bool, verify_email: str | None = None,
                 verify_hours: int = 48) -> ChatStep:
    """Continue after :class:`Submit`. ``stored`` is False when the same submission was
    stored before (a resent message); ``verify_email`` is where the link went, if any."""
    state = state.copy()
    state.awaiting = None
    lang = state.lang
    kind = "new" if state.mode == "new" else submission_kind(changes(state))
    state.last_kind = kind
    state.submissions += 1
    state.step = "done"
    if not stored:
        message = text(lang, "chat.done.already")
    elif verify_email:
        n_ = ngettext(lang)
        message = n_("chat.done.verify", "chat.done.verify.plural", verify_hours,
                     email=verify_email)
    elif kind == "confirmation":
        message = text(lang, "chat.done.confirmation", title=state.original.get("title") or "")
    else:
        message = text(lang, "chat.done.update")
    # One more, optional question: initiatives that are not on the map (leads, #19).
    state.step = "leads"
    return ChatStep(state, [Reply(message, tone="done"), _ask_leads(state)])


def _ask_leads(state: ChatState) -> Reply:
    lang = state.lang
    return Reply(text(lang, "chat.q.leads"), tone="question", input="textarea",
                 buttons=(_command(text(lang, "chat.b.no_leads")),))


def _leads_answer(state: ChatState, raw: str, folded: str) -> ChatStep:
    """The answer to "do you know of initiatives not on the map?": none, or the names
    (one per line), which the edge records as leads."""
    state = state.copy()
    if folded in NO_LEADS or folded == fold(text(state.lang, "chat.b.no_leads")):
        state.step = "done"
        return ChatStep(state, [_done(state)])
    state.awaiting = "leads"
    return ChatStep(state, [], RecordLeads(
        raw[:5000], state.sender_email or (state.values.get("contact_email") or None),
        state.initiative_id, state.submissions))


def on_leads(state: ChatState, recorded: int) -> ChatStep:
    """Continue after :class:`RecordLeads`: thanks, and the way to start again."""
    state = state.copy()
    state.awaiting = None
    state.step = "done"
    lead = (ngettext(state.lang)("chat.leads.thanks", "chat.leads.thanks.plural", recorded)
            if recorded else text(state.lang, "chat.leads.none"))
    return ChatStep(state, [Reply(lead, tone="done"), _done(state)])


__all__ = [
    "Button", "ChatState", "DUPLICATE_SCORE", "Effect", "FLOW", "FindDuplicates", "RecordLeads",
    "on_leads",
    "LoadEntry", "MANDATORY_ORDER", "OPTIONAL_ORDER", "ChatStep", "Reply", "SummaryRow", "Submit",
    "changes", "current", "field_for", "fold", "handle", "next_field", "on_duplicates",
    "on_entry", "on_submitted", "start", "start_update", "switch_command",
]
