"""The chat conversation as a pure state machine (intake/chat/conversation.py): no database, no
network — state and text in, state, replies and effects out."""
from __future__ import annotations

from typing import Any

import pytest

from intake.chat import conversation as chat
from intake.chat.conversation import ChatState, Reply
from tests.conftest import sample_record


class Talk:
    """Drives the pure machine and plays the edge: answers effects with canned data."""

    def __init__(self, outcome: chat.ChatStep, *, duplicates: list[dict[str, Any]] | None = None,
                 entries: dict[int, dict[str, Any]] | None = None) -> None:
        self.state = outcome.state
        self.replies: list[Reply] = list(outcome.replies)
        self.duplicates = duplicates or []
        self.entries = entries or {}
        self.submitted: list[chat.Submit] = []
        self.lookups: list[dict[str, Any]] = []
        self.leads: list[chat.RecordLeads] = []

    def say(self, text: str) -> list[Reply]:
        before = self.state.to_json()
        outcome = chat.handle(self.state, text)
        assert self.state.to_json() == before, "handle must not change its input state"
        replies = list(outcome.replies)
        while outcome.effect is not None:
            effect = outcome.effect
            if isinstance(effect, chat.FindDuplicates):
                self.lookups.append(effect.record)
                outcome = chat.on_duplicates(outcome.state, self.duplicates)
            elif isinstance(effect, chat.LoadEntry):
                outcome = chat.on_entry(outcome.state, self.entries.get(effect.initiative_id),
                                        initiative_id=effect.initiative_id, version=3)
            elif isinstance(effect, chat.RecordLeads):
                self.leads.append(effect)
                outcome = chat.on_leads(outcome.state, len(effect.text.splitlines()))
            else:
                assert isinstance(effect, chat.Submit)
                self.submitted.append(effect)
                verify = None if self.state.origin == "token" else effect.sender_email
                outcome = chat.on_submitted(outcome.state, stored=True, verify_email=verify,
                                            verify_hours=48)
            replies.extend(outcome.replies)
        # The state always survives a JSON round trip (it is stored between messages).
        self.state = ChatState.from_json(outcome.state.to_json())
        self.replies = replies
        return replies

    @property
    def last(self) -> Reply:
        return self.replies[-1]

    def button(self, label: str) -> chat.Button:
        for reply in self.replies:
            for b in reply.buttons:
                if b.label == label:
                    return b
        labels = [b.label for r in self.replies for b in r.buttons]
        raise AssertionError(f"no button {label!r} in {labels}")

    def press(self, label: str) -> list[Reply]:
        return self.say(self.button(label).value)


MANDATORY_ANSWERS = [
    ("title", "Video til KOL-patienter"),
    ("organisation", "Aalborg Kommune"),
    ("description", "Sygeplejersker ser borgerne over video.\n\nDet sparer kørsel."),
    ("status", "I drift"),
    ("participants", "Kommune, Sygehus"),
    ("regions", "Region Nordjylland"),
    ("contact_name", "Mette Jensen"),
    ("contact_email", "Mette.Jensen@Aalborg.dk"),
]


def answer_mandatory(talk: Talk) -> None:
    for key, answer in MANDATORY_ANSWERS:
        assert talk.state.step == key
        talk.say(answer)


def test_whole_registration() -> None:
    talk = Talk(chat.start("da"))
    assert "indmelde" in talk.replies[0].text
    assert talk.replies[-1].field == "title" and talk.replies[-1].progress == "Spørgsmål 1 af 8"
    answer_mandatory(talk)
    assert talk.state.step == "municipalities"
    talk.say("Aalborg og Hjørring")
    talk.say("KOL; hjertesvigt")
    talk.say("Video, tablet")
    assert talk.state.step == "pro"
    talk.say("Hjemmemålinger")
    talk.say("marts 2021")
    assert talk.state.step == "contact_phone", "no end date for an initiative in operation"
    talk.say("12 34 56 78")
    assert talk.state.step == "experiences"
    talk.say("Borgerne sparer turen til sygehuset.")
    assert talk.state.step == "evaluation_status"
    talk.say("Under evaluering")
    talk.say("https://example.dk/evaluering.pdf")
    talk.say("www.example.dk/kol")
    assert talk.state.step == "summary"
    summary = talk.last
    assert summary.tone == "summary"
    shown = {row.key: row.value for row in summary.rows}
    assert shown["status"] == "I drift" and shown["regions"] == "Region Nordjylland"
    talk.press("Send indmelding")
    assert len(talk.submitted) == 1
    sub = talk.submitted[0]
    assert sub.kind == "new" and sub.initiative_id is None and sub.seq == 1
    assert sub.proposed == {
        "title": "Video til KOL-patienter", "organisation": "Aalborg Kommune",
        "description": "Sygeplejersker ser borgerne over video.\n\nDet sparer kørsel.",
        "status": "i_drift", "participants": ["kommune", "sygehus"],
        "regions": ["nordjylland"], "contact_name": "Mette Jensen",
        "contact_email": "mette.jensen@aalborg.dk", "municipalities": ["Aalborg", "Hjørring"],
        "patient_groups": ["KOL", "hjertesvigt"], "technology": ["Video", "tablet"],
        "start_date": "2021-03", "contact_phone": "+4512345678",
        "pro": ["hjemmemaaling"], "evaluation_status": "under_evaluering",
        "experiences": "Borgerne sparer turen til sygehuset.",
        "evaluation_url": "https://example.dk/evaluering.pdf",
        "website": "https://www.example.dk/kol"}
    assert sub.sender_email == "mette.jensen@aalborg.dk" and sub.language == "da"
    assert any("mette.jensen@aalborg.dk" in r.text and "48 timer" in r.text
               for r in talk.replies)
    # One more, optional question: initiatives that are not on the map (leads).
    assert talk.state.step == "leads" and "ikke er på landkortet" in talk.last.text
    talk.say("Sårapp i Vejle Kommune\nVideotolkning i Region Midtjylland")
    (lead,) = talk.leads
    assert lead.sender_email == "mette.jensen@aalborg.dk" and lead.seq == 1
    assert "2 tip" in talk.replies[0].text and talk.state.step == "done"
    # Anything else now offers a new registration; pressing it starts afresh.
    talk.say("hej")
    talk.press("Indmeld et nyt initiativ")
    assert talk.state.step == "title" and talk.state.values == {}
    assert talk.state.submissions == 1, "the next submission gets a new idempotency number"


@pytest.mark.parametrize("no", ["Nej tak", "nej", "No thanks"])
def test_no_leads_is_one_tap(no: str) -> None:
    talk = Talk(chat.start("da"))
    answer_mandatory(talk)
    talk.press("Spring resten over")
    talk.press("Send indmelding")
    assert talk.state.step == "leads"
    talk.say(no)
    assert talk.state.step == "done" and talk.leads == []
    assert talk.button("Indmeld et nyt initiativ")


def test_misunderstood_answer_gets_hint_and_suggestion_button() -> None:
    talk = Talk(chat.start("da"))
    answer_mandatory(talk)
    talk.say("Aalborg, Nordby")
    reply = talk.last
    assert talk.state.step == "municipalities"
    assert reply.tone == "problem"
    assert 'Ukendt kommune "Nordby". Mente du Nordfyns?' in reply.text
    suggestion = talk.button("Nordfyns")
    assert suggestion.kind == "suggestion" and suggestion.value == "Aalborg, Nordfyns"
    talk.press("Nordfyns")
    assert talk.state.values["municipalities"] == ["Aalborg", "Nordfyns"]
    assert talk.state.step == "patient_groups"


def test_unknown_status_is_reasked_with_the_medcom_definitions() -> None:
    talk = Talk(chat.start("da"))
    for _key, answer in MANDATORY_ANSWERS[:3]:
        talk.say(answer)
    talk.say("måske snart")
    reply = talk.last
    assert reply.tone == "problem" and 'Ukendt status "måske snart"' in reply.text
    options = [b for b in reply.buttons if b.kind == "option"]
    assert [b.label for b in options] == ["Projekt", "Under udbredelse", "I drift", "Afsluttet"]
    assert "Udbredt og i daglig brug." in [b.help for b in options]
    talk.press("Under udbredelse")
    assert talk.state.values["status"] == "under_udbredelse"


def test_participants_and_regions_are_multi_select() -> None:
    talk = Talk(chat.start("da"))
    for _key, answer in MANDATORY_ANSWERS[:4]:
        talk.say(answer)
    assert talk.last.multi and talk.last.field == "participants"
    talk.say("Almen praksis, Sygehus")
    assert talk.state.values["participants"] == ["almen_praksis", "sygehus"]
    assert talk.last.multi and talk.last.field == "regions"
    talk.press("Hele landet")
    assert len(talk.state.values["regions"]) == 5


def test_go_back_and_change_an_answer() -> None:
    talk = Talk(chat.start("da"))
    talk.say("tilbage")
    assert "allerede ved det første" in talk.last.text and talk.state.step == "title"
    for _key, answer in MANDATORY_ANSWERS[:6]:
        talk.say(answer)
    assert talk.state.step == "contact_name"
    talk.press("Tilbage")
    assert talk.state.step == "regions"
    assert "Nu: Region Nordjylland" in talk.last.text
    regions_pressed = [b for b in talk.last.buttons if b.selected]
    assert [b.label for b in regions_pressed] == ["Region Nordjylland"]
    talk.say("back")
    assert talk.state.step == "participants"
    talk.say("Kommune")
    # Forward again: the regions answer is kept, so the person is back where they were.
    assert talk.state.step == "contact_name"
    assert talk.state.values["participants"] == ["kommune"]
    assert talk.state.values["regions"] == ["nordjylland"]
    talk.say("tilbage")
    talk.press("Behold")
    assert talk.state.step == "contact_name"


def test_optional_fields_can_be_skipped_one_by_one_or_all_at_once() -> None:
    talk = Talk(chat.start("da"))
    talk.say("spring over")
    assert talk.state.step == "title" and "skal udfyldes" in talk.last.text
    answer_mandatory(talk)
    assert talk.last.progress == "Valgfrit"
    talk.press("Spring over")
    assert talk.state.step == "patient_groups"
    talk.say("ved ikke")
    assert talk.state.step == "technology"
    talk.press("Spring resten over")
    assert talk.state.step == "summary"
    talk.say("tilbage")
    assert talk.state.step == "technology"
    talk.say("App")
    assert talk.state.step == "summary", "skipped fields are not asked again"
    talk.press("Send indmelding")
    proposed = talk.submitted[0].proposed
    assert proposed["technology"] == ["App"]
    assert "municipalities" not in proposed and "website" not in proposed


def test_end_date_is_asked_for_projects() -> None:
    talk = Talk(chat.start("da"))
    for key, answer in MANDATORY_ANSWERS:
        talk.say("Projekt" if key == "status" else answer)
    for _ in range(5):  # municipalities, patient groups, technology, PRO, start date
        talk.press("Spring over")
    assert talk.state.step == "end_date"
    talk.say("31.12.2025")
    assert talk.state.values["end_date"] == "2025-12-31"


def test_summary_edits() -> None:
    talk = Talk(chat.start("da"))
    answer_mandatory(talk)
    talk.press("Spring resten over")
    rows = {row.key: row for row in talk.last.rows}
    assert rows["status"].edit == "ret status" and rows["status"].action == "Ret"
    assert rows["website"].action == "Tilføj"
    talk.say(rows["status"].edit)
    assert talk.state.step == "status" and "Nu: I drift" in talk.last.text
    talk.press("Afsluttet")
    assert talk.state.step == "summary" and talk.state.values["status"] == "afsluttet"
    # "Label: value" lines at the summary are read with the e-mail form's reader.
    talk.say("Telefon: 87 65 43 21\nKommuner: Kbh")
    assert talk.state.values["contact_phone"] == "+4587654321"
    assert talk.state.values["municipalities"] == ["København"]
    talk.say("Kommuner: Nordby")
    assert "Ukendt kommune" in talk.last.text and talk.state.step == "summary"
    talk.say("ret e-mail")
    talk.say("ikke en adresse")
    assert talk.last.tone == "problem" and talk.state.step == "contact_email"
    talk.say("ny@example.dk")
    assert talk.state.step == "summary"
    talk.say("send")
    assert talk.submitted[0].proposed["contact_email"] == "ny@example.dk"
    assert talk.submitted[0].proposed["status"] == "afsluttet"


def test_jumping_ahead_to_a_later_field_and_back() -> None:
    talk = Talk(chat.start("da"))
    talk.say("Video til KOL-patienter")
    talk.say("ret status")
    assert talk.state.step == "status"
    talk.press("Projekt")
    assert talk.state.step == "organisation" and talk.state.values["status"] == "projekt"
    for _key, answer in MANDATORY_ANSWERS[1:3]:
        talk.say(answer)
    assert talk.state.step == "participants", "status was answered already"


def test_too_long_title_is_refused() -> None:
    talk = Talk(chat.start("da"))
    talk.say("x" * 301)
    assert talk.state.step == "title" and "højst 300 tegn" in talk.last.text


def test_english_on_request() -> None:
    talk = Talk(chat.start("da"))
    assert talk.button("English please")
    talk.say(MANDATORY_ANSWERS[0][1])
    talk.say("English please")
    assert talk.state.lang == "en" and talk.state.step == "organisation"
    assert talk.replies[0].text.startswith("OK, let's continue in English")
    assert "Which organisation" in talk.last.text
    talk.say("Aalborg Kommune")
    talk.say("A description.")
    talk.say("soon")
    assert 'Unknown status "soon"' in talk.last.text
    assert [b.label for b in talk.last.buttons if b.kind == "option"] == [
        "Project", "Being rolled out", "In operation", "Ended"]
    talk.press("In operation")
    talk.say("Municipality, Hospital")
    talk.press("Region Zealand")
    talk.say("Jane Doe")
    talk.say("jane@example.org")
    talk.press("Skip the rest")
    assert talk.last.text.startswith("Here is your registration")
    talk.press("Send registration")
    assert talk.submitted[0].language == "en"
    assert talk.submitted[0].proposed["regions"] == ["sjaelland"]
    talk.say("på dansk")
    assert talk.state.lang == "da"


CANDIDATE = {"initiative_id": 7, "title": "Telemedicinsk hjemmemonitorering af KOL",
             "score": 91.0}


def test_duplicate_yes_turns_into_an_update_with_only_changed_fields() -> None:
    entry = sample_record()
    weak = {**CANDIDATE, "initiative_id": 8, "score": 70.0}
    talk = Talk(chat.start("da"), duplicates=[CANDIDATE, weak], entries={7: entry})
    talk.say("Hjemmemonitorering af KOL")
    talk.say("Region Nordjylland")
    assert talk.lookups == [{"title": "Hjemmemonitorering af KOL",
                             "organisation": "Region Nordjylland"}]
    assert talk.state.step == "dup_question"
    assert "Telemedicinsk hjemmemonitorering af KOL" in talk.last.text
    talk.press("Ja, det er det")
    assert talk.state.mode == "update" and talk.state.step == "update_menu"
    menu = talk.last
    shown = {row.key: row.value for row in menu.rows}
    assert shown["title"] == entry["title"] and shown["status"] == "I drift"
    assert not any(row.changed for row in menu.rows)
    talk.say("ret status")
    talk.press("Afsluttet")
    talk.say("ret tlf")
    talk.press("Behold")
    menu = talk.last
    assert [row.key for row in menu.rows if row.changed] == ["status"]
    talk.press("Send ændringer")
    assert talk.state.step == "sender_email"
    talk.say("ikke-en-adresse")
    assert talk.state.step == "sender_email" and talk.last.tone == "question"
    talk.say("kollega@example.dk")
    sub = talk.submitted[0]
    assert sub.kind == "update" and sub.initiative_id == 7 and sub.base_version == 3
    assert sub.proposed == {"status": "afsluttet"}
    assert sub.sender_email == "kollega@example.dk"
    assert any("kollega@example.dk" in r.text for r in talk.replies)


def test_duplicate_no_and_weak_candidates_continue_the_registration() -> None:
    talk = Talk(chat.start("da"), duplicates=[{**CANDIDATE, "score": 60.0}])
    talk.say("Hjemmemonitorering")
    talk.say("Region Nordjylland")
    assert talk.state.step == "description", "a weak candidate is not put to the person"
    talk = Talk(chat.start("da"), duplicates=[CANDIDATE])
    talk.say("Hjemmemonitorering")
    talk.say("Region Nordjylland")
    talk.say("måske")
    assert "Svar ja eller nej" in talk.last.text
    talk.press("Nej, mit er et andet")
    assert talk.state.step == "description"
    # Going back and forth does not ask about the declined entry again.
    talk.say("tilbage")
    talk.say("Region Nordjylland.")
    assert talk.state.step == "description"


def test_back_from_a_duplicate_update_returns_to_the_question() -> None:
    talk = Talk(chat.start("da"), duplicates=[CANDIDATE], entries={7: sample_record()})
    talk.say("Hjemmemonitorering")
    talk.say("Region Nordjylland")
    talk.say("ja")
    assert talk.state.mode == "update"
    talk.press("Tilbage")
    assert talk.state.mode == "new" and talk.state.step == "dup_question"
    assert talk.state.values == {"title": "Hjemmemonitorering",
                                 "organisation": "Region Nordjylland"}
    talk.say("nej")
    assert talk.state.step == "description"


def test_personal_link_confirmation() -> None:
    record = sample_record()
    talk = Talk(chat.start_update(record, initiative_id=5, version=2, lang="da"))
    assert talk.state.origin == "token" and talk.state.step == "update_menu"
    assert talk.last.text.startswith("Hej Mette!")
    talk.press("Alt er korrekt")
    sub = talk.submitted[0]
    assert sub.kind == "confirmation" and sub.proposed == {}
    assert sub.initiative_id == 5 and sub.base_version == 2
    assert sub.sender_email == record["contact_email"]
    assert any("stadig er korrekte" in r.text for r in talk.replies)


def test_personal_link_update_sends_only_changed_fields() -> None:
    record = sample_record()
    talk = Talk(chat.start_update(record, initiative_id=5, version=2, lang="en"))
    talk.say("change status")
    assert "Current answer: In operation" in talk.last.text
    talk.press("Ended")
    talk.say("Phone: 11 22 33 44\nWebsite: unchanged")
    talk.say("change regions")
    talk.say("Nordjylland")  # the same as before: not a change
    talk.press("Send changes")
    sub = talk.submitted[0]
    assert sub.kind == "update"
    assert sub.proposed == {"status": "afsluttet", "contact_phone": "+4511223344"}
    assert any("sent to the editors" in r.text for r in talk.replies)


def test_discarding_changes_in_the_update_menu() -> None:
    talk = Talk(chat.start_update(sample_record(), initiative_id=5, version=2))
    talk.say("Status: Projekt")
    assert talk.last.buttons[0].label == "Send ændringer"
    talk.press("Fortryd ændringer")
    assert chat.changes(talk.state) == {}
    assert talk.last.buttons[0].label == "Alt er korrekt"


def test_state_is_plain_json() -> None:
    talk = Talk(chat.start("da"))
    answer_mandatory(talk)
    import json
    text = json.dumps(talk.state.to_json())
    assert ChatState.from_json(json.loads(text)) == talk.state
    # A reply survives its JSON form too (the transcript stores it).
    reply = talk.last
    assert Reply.from_dict(json.loads(json.dumps(reply.as_dict()))) == reply
