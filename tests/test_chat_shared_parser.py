"""The chat and e-mail share one field parser: for the same free answer, the value the
chat stores equals ``bot.registry.fields.normalise`` and equals what
``intake.parse.message.parse_message`` reads from a mail with the same ``Label: value`` line — and a
misunderstood answer gets the same hint in both."""
from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from bot.registry.fields import form_label, normalise
from intake.chat import conversation as chat
from intake.parse.message import parse_message

ANSWERS: list[tuple[str, str]] = [
    # free text
    ("title", "  KOL   i hjemmet "),
    ("organisation", "Region Nordjylland"),
    ("contact_name", "Mette  Jensen"),
    ("description", "Borgere måler puls hjemme.\n\nSygeplejersker følger op."),
    # status synonyms
    ("status", "I drift"), ("status", "pilot"), ("status", "under implementering"),
    ("status", "Afsluttet."), ("status", "in operation"), ("status", "I drift siden 2020"),
    ("status", "projekt"), ("status", "rolling out"),
    # participants
    ("participants", "Kommune og sygehus"), ("participants", "Almen praksis, Aalborg Kommune"),
    ("participants", "GP; hospital"), ("participants", "praktiserende læger"),
    ("participants", "Rigshospitalet"),
    # regions
    ("regions", "Region Midt"), ("regions", "Hovedstaden og Sjælland"),
    ("regions", "hele landet"), ("regions", "Capital Region"),
    ("regions", "Region Syddanmark, Region Nordjylland"), ("regions", "Region H"),
    # municipalities, with aliases
    ("municipalities", "Aalborg, Hjørring"), ("municipalities", "Kbh"),
    ("municipalities", "Århus og Odense"), ("municipalities", "Københavns Kommune"),
    ("municipalities", "Nordfyn"), ("municipalities", "Lyngby; Taastrup"),
    ("municipalities", "alle kommuner"),
    # dates in every contract format
    ("start_date", "2024-03-01"), ("start_date", "2024-03"), ("start_date", "1/3/2024"),
    ("start_date", "01.03.2024"), ("start_date", "1-3-2024"), ("start_date", "3/2024"),
    ("start_date", "1. marts 2024"), ("start_date", "marts 2024"),
    ("start_date", "March 1, 2024"), ("start_date", "1 March 2024"),
    ("start_date", "Mar 2024"), ("end_date", "31-12-2025"), ("end_date", "dec. 2025"),
    # phones
    ("contact_phone", "12 34 56 78"), ("contact_phone", "+45 12345678"),
    ("contact_phone", "0045 1234 5678"), ("contact_phone", "+46 8 123 456 78"),
    # e-mails
    ("contact_email", "Mette.Jensen@Example.DK"),
    ("contact_email", "Mette Jensen <mette@example.dk>"),
    ("contact_email", "mailto:mette@example.dk"),
    # links
    ("website", "https://example.dk/kol"), ("website", "www.example.dk"),
    ("evaluation_url", "<https://example.dk/eval.pdf>"),
    # lists
    ("patient_groups", "KOL, hjertesvigt og diabetes"),
    ("technology", "- Tablet\n- App\n- Pulsoximeter"),
    ("technology", "Video; app / sensor"),
]

MISUNDERSTOOD: list[tuple[str, str]] = [
    ("municipalities", "Nordby"), ("municipalities", "Aalborg, Hjøring"),
    ("regions", "Syddanmak"), ("status", "måske"), ("participants", "apoteket"),
    ("contact_email", "mette@"), ("start_date", "snart"), ("contact_phone", "1234"),
    ("website", "ikke endnu"),
]


def chat_answer(key: str, raw: str, lang: str = "da") -> chat.ChatStep:
    """Answer one question of the chat (the conversation standing at ``key``)."""
    values: dict[str, Any] = {"status": "projekt"} if key == "end_date" else {}
    state = chat.ChatState(lang=lang, step=key, values=values)
    outcome = chat.handle(state, raw)
    assert outcome.effect is None
    return outcome


def mail_with(key: str, raw: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Mette Jensen <mette@example.dk>"
    msg["To"] = "landkort@example.org"
    msg["Subject"] = "Nyt initiativ"
    msg["Message-ID"] = "<a1@example.dk>"
    lines = [] if key == "title" else ["Titel: Et initiativ"]
    label = form_label(key, "da")
    lines.append(f"{label}:\n{raw}" if "\n" in raw and key != "description"
                 else f"{label}: {raw}")
    msg.set_content("Hej\n\n" + "\n".join(lines) + "\n\nVenlig hilsen\nMette\n")
    return msg.as_bytes()


@pytest.mark.parametrize(("key", "raw"), ANSWERS)
def test_chat_stores_what_the_shared_parser_gives(key: str, raw: str) -> None:
    expected = normalise(key, raw, "da")
    assert expected.ok, f"test table: {raw!r} must be valid for {key}"
    outcome = chat_answer(key, raw)
    assert outcome.state.values.get(key) == expected.value
    assert outcome.state.step != key, "the chat moved on"
    parsed = parse_message(mail_with(key, raw), own_domain="example.org")
    assert parsed.problems == []
    assert parsed.fields.get(key) == expected.value


@pytest.mark.parametrize(("key", "raw"), MISUNDERSTOOD)
def test_chat_gives_the_same_hint_as_email(key: str, raw: str) -> None:
    problem = normalise(key, raw, "da").problem
    assert problem is not None
    outcome = chat_answer(key, raw)
    assert outcome.state.step == key and key not in outcome.state.values
    reply = outcome.replies[-1]
    assert reply.tone == "problem" and reply.text.startswith(problem.message)
    if problem.suggestion:
        assert problem.suggestion in [b.label for b in reply.buttons if b.kind == "suggestion"]
    parsed = parse_message(mail_with(key, raw), own_domain="example.org")
    assert [p.message for p in parsed.problems if p.field == problem.field] == [
        problem.message]


def test_english_hints_match_too() -> None:
    problem = normalise("municipalities", "Nordby", "en").problem
    assert problem is not None
    outcome = chat_answer("municipalities", "Nordby", lang="en")
    assert outcome.replies[-1].text.startswith(problem.message)
    assert "Did you mean Nordfyns?" in problem.message
