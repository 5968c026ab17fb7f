"""Bounces as mail servers really send them (contract v2): evidence of a failed delivery
wins over the signs of an automatic answer; the address we wrote to is the one recorded;
success-only reports are automatic answers; a generic status gives way to the specific
code in the diagnostic.

The fixtures in tests/fixtures/mail/bounces are written for landkort from RFC 3464, RFC
3463 and the formats of the mail servers named in them; none is copied from a corpus.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intake.parse.message import parse_message
from tests.clihelp import run_cli

BOUNCES = Path(__file__).parent / "fixtures" / "mail" / "bounces"


def parse(name: str) -> Any:
    return parse_message((BOUNCES / name).read_bytes(), own_domain="example.org")


@pytest.mark.parametrize(("name", "recipient", "status", "permanent"), [
    # a relay marks it Precedence: bulk and Auto-Submitted, from a no-reply address
    ("relayed_precedence_bulk.eml", "kim.lund@rm.example.dk", "5.1.1", True),
    # a "Failed Recipients" block from a department's own address
    ("failed_recipients_block.eml", "anne.berg@regsj.example.dk", "5.1.10", True),
    # a content filter's notice
    ("virus_gateway.eml", "peter.nielsen@skive.example.dk", None, True),
    # a full mailbox is temporary, in Danish and English
    ("mailbox_full.eml", "lise.holm@odsherred.example.dk", "4.2.2", False),
    # exim's text and X-Failed-Recipients, from a sender that is not MAILER-DAEMON
    ("exim_other_sender.eml", "jens.moeller@kommune-x.example.dk", "5.1.1", True),
    # a cloud mail service's JSON notice
    ("cloud_json.eml", "sofie.krag@gentofte.example.dk", "5.1.1", True),
])
def test_non_standard_bounces_are_bounces(name: str, recipient: str, status: str | None,
                                          permanent: bool) -> None:
    r = parse(name)
    assert r.kind == "bounce"
    assert r.bounce is not None
    assert (r.bounce.recipient, r.bounce.status, r.bounce.permanent) == (
        recipient, status, permanent)


def test_original_recipient_wins_over_a_rewritten_final_recipient() -> None:
    r = parse("dsn_original_recipient.eml")
    assert r.kind == "bounce" and r.bounce is not None
    assert r.bounce.recipient == "sundhed@aabenraa.example.dk"  # the address we wrote to


def test_a_generic_status_gives_way_to_the_diagnostics_code() -> None:
    r = parse("dsn_original_recipient.eml")
    assert r.bounce is not None and r.bounce.status == "5.1.1"  # Status said 5.0.0


def test_a_success_only_report_is_an_automatic_answer() -> None:
    r = parse("dsn_delivered_only.eml")
    assert r.kind == "auto_reply" and r.bounce is None


def test_a_person_forwarding_a_bounce_is_not_a_bounce() -> None:
    r = parse("person_forwards_a_bounce.eml")
    assert r.kind != "bounce" and r.bounce is None


def test_an_out_of_office_stays_an_automatic_answer() -> None:
    raw = (b"From: Ole Dam <ole.dam@horsens.example.dk>\r\nTo: landkort@example.org\r\n"
           b"Subject: Automatisk svar: P\xc3\xa5mindelse\r\nAuto-Submitted: auto-replied\r\n"
           b"Precedence: bulk\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           b"Jeg er p\xc3\xa5 ferie til og med 20. marts og l\xc3\xa6ser ikke mail.\r\n")
    assert parse_message(raw).kind == "auto_reply"


@pytest.mark.parametrize("name", sorted(p.name for p in BOUNCES.glob("*.eml")))
def test_the_command_line_says_the_same(name: str, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    result = run_cli(capsys, "parse", "--json", str(BOUNCES / name))
    assert result.code == 0
    out = json.loads(result.out)
    direct = parse_message((BOUNCES / name).read_bytes())
    assert out["kind"] == direct.kind
    assert out["bounce"] == (direct.bounce.as_dict() if direct.bounce else None)
