"""The installed aioimaplib still has every part intake/mail/imap_client.py relies on beyond
its documented commands. When upstream renames one, this fails here, loudly, instead of
the IMAP intake failing at run time (STARTTLS and session teardown live there)."""
from __future__ import annotations

import inspect
import re

import pytest
from aioimaplib import aioimaplib

from intake.mail.imap_client import RELIED_ON


@pytest.mark.parametrize("owner,attribute", RELIED_ON)
def test_aioimaplib_still_has(owner: str, attribute: str) -> None:
    if owner == "aioimaplib":
        assert hasattr(aioimaplib, attribute)
        return
    cls = getattr(aioimaplib, owner)
    # Class attributes and methods directly; instance attributes by their assignment.
    assigned = re.search(rf"self\.{re.escape(attribute)}\s*[:=]", inspect.getsource(cls))
    assert hasattr(cls, attribute) or assigned, (
        f"aioimaplib.{owner} has no {attribute!r} any more: update intake/mail/imap_client.py")
