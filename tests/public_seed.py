"""A small, varied registry for the public pages' tests (until and besides the demo data).

Deterministic: the same entries every time, spread over statuses, regions, municipalities,
participants, start years and free-text patient groups/technology.
"""
from __future__ import annotations

from typing import Any

from bot.core.db import Database
from bot.registry.repository import create_initiative
from bot.registry.vocabulary import MUNICIPALITIES_BY_REGION, REGION_KEYS, STATUS_KEYS

PATIENT_GROUPS = ("KOL", "Hjertesvigt", "Diabetes", "Gravide", "Psykiatri", "Sår")
TECHNOLOGY = ("Video", "Tablet", "App", "Blodtryksmåler", "Vægt")
PARTICIPANT_SETS = (["kommune"], ["sygehus"], ["kommune", "sygehus"],
                    ["almen_praksis", "sygehus"], ["almen_praksis", "kommune", "sygehus"],
                    ["almen_praksis", "kommune"])


def sample_entries(n: int = 30) -> list[dict[str, Any]]:
    """``n`` varied records under canonical keys."""
    out = []
    for i in range(n):
        region = REGION_KEYS[i % len(REGION_KEYS)]
        munis = MUNICIPALITIES_BY_REGION[region]
        status = STATUS_KEYS[i % len(STATUS_KEYS)]
        regions = [region] if i % 7 else [region, REGION_KEYS[(i + 1) % len(REGION_KEYS)]]
        out.append({
            "title": f"{PATIENT_GROUPS[i % len(PATIENT_GROUPS)]}: telemedicin nr. {i + 1}",
            "description": f"Borgere følges hjemme med {TECHNOLOGY[i % len(TECHNOLOGY)].lower()}"
                           f" i {munis[i % len(munis)]} Kommune.",
            "status": status,
            "participants": PARTICIPANT_SETS[i % len(PARTICIPANT_SETS)],
            "regions": regions,
            "municipalities": [munis[i % len(munis)], munis[(i * 3 + 1) % len(munis)]],
            "organisation": f"Organisation {chr(65 + i % 6)}",
            "patient_groups": [PATIENT_GROUPS[i % len(PATIENT_GROUPS)]],
            "technology": [TECHNOLOGY[i % len(TECHNOLOGY)]],
            "start_date": f"{2012 + i % 12}-0{1 + i % 9}-01",
            "end_date": "2024-12-31" if status == "afsluttet" else None,
            "contact_name": f"Kontakt {i + 1}",
            "contact_email": f"kontakt{i + 1}@example.dk",
            "contact_phone": "+45 70 10 20 30",
            "evaluation_url": "https://example.dk/evaluering.pdf" if i % 3 == 0 else None,
            "website": f"https://example.dk/initiativ/{i + 1}",
        })
    return out


async def seed_sample(db: Database, n: int = 30) -> int:
    """Create ``n`` sample entries; returns how many."""
    async with db.write() as session:
        for rec in sample_entries(n):
            await create_initiative(session, rec, actor="test", channel="import")
    return n
