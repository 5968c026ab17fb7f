"""The campaign planner as a pure function: cycles, steps, the sending window."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.campaigns.reminders import (
    DueEntry,
    StepInfo,
    cycle_of,
    cycle_start,
    in_sending_window,
    next_step,
    plan,
)
from bot.core.settings import Settings

T0 = datetime(2026, 3, 2, 9, 0)  # a Monday, 10:00 in Copenhagen (CET)


def entry(i: int = 1, *, confirmed: datetime | None = None, status: str = "ok",
          email: str | None = "a@example.dk", created: datetime | None = None) -> DueEntry:
    return DueEntry(i, created or datetime(2024, 1, 1), confirmed, 10 + i if email else None,
                    email, status if email else None, "da")


def test_cycle_is_the_date_the_entry_became_due(settings: Settings) -> None:
    e = entry(confirmed=datetime(2025, 3, 1, 12, 0))
    assert cycle_start(e, settings) == datetime(2026, 3, 1, 12, 0)
    assert cycle_of(cycle_start(e, settings)) == 20260301
    never = entry(created=datetime(2025, 6, 7, 8, 0))
    assert cycle_of(cycle_start(never, settings)) == 20250607


def test_steps_follow_each_other(settings: Settings) -> None:
    e = entry(confirmed=datetime(2025, 1, 1))
    cycle = cycle_of(cycle_start(e, settings))
    assert next_step(e, None, settings) == (cycle, 1, datetime(2026, 1, 1))
    s1 = StepInfo(cycle, 1, "sent", T0)
    assert next_step(e, s1, settings) == (cycle, 2, T0 + timedelta(days=14))
    s2 = StepInfo(cycle, 2, "sent", T0)
    assert next_step(e, s2, settings) == (cycle, 3, T0 + timedelta(days=14))
    s3 = StepInfo(cycle, 3, "sent", T0)
    assert next_step(e, s3, settings) == (cycle, 4, T0 + timedelta(days=14))
    assert next_step(e, StepInfo(cycle, 4, "closed", T0), settings) is None
    # A step of an older cycle does not count: a confirmation started a new cycle.
    assert next_step(e, StepInfo(20250101, 4, "closed", T0), settings) == (
        cycle, 1, datetime(2026, 1, 1))


def test_plan_sends_skips_and_closes(settings: Settings) -> None:
    entries = [entry(1), entry(2, status="opted_out"), entry(3, status="bouncing"),
               entry(4, email=None), entry(5)]
    steps = {5: StepInfo(20240101, 3, "sent", T0 - timedelta(days=15))}
    result = plan(entries, steps, T0, settings)
    assert result.in_window
    got = [(p.initiative_id, p.step, p.action) for p in result.due]
    assert got == [(1, 1, "send"), (2, 1, "skip"), (3, 1, "skip"), (4, 1, "skip"),
                   (5, 4, "close")]
    assert result.due[1].reason == "contact opted out"
    assert result.due[3].reason == "no contact e-mail"


def test_steps_wait_for_their_day(settings: Settings) -> None:
    steps = {1: StepInfo(20240101, 1, "sent", T0 - timedelta(days=13))}
    result = plan([entry(1)], steps, T0, settings)
    assert result.due == []
    assert [(p.step, p.due_at) for p in result.waiting] == [(2, T0 + timedelta(days=1))]


def test_outside_the_window_reminders_wait_but_cycles_close(settings: Settings) -> None:
    saturday = datetime(2026, 3, 7, 10, 0)
    steps = {2: StepInfo(20240101, 3, "sent", saturday - timedelta(days=20))}
    result = plan([entry(1), entry(2)], steps, saturday, settings)
    assert not result.in_window
    assert [(p.initiative_id, p.action) for p in result.due] == [(2, "close")]
    assert [p.initiative_id for p in result.waiting] == [1]
    forced = plan([entry(1)], {}, saturday, settings, ignore_window=True)
    assert [p.action for p in forced.due] == ["send"]


@pytest.mark.parametrize(("utc", "expected"), [
    (datetime(2026, 3, 2, 6, 59), False),   # 07:59 CET
    (datetime(2026, 3, 2, 7, 0), True),     # 08:00 CET
    (datetime(2026, 3, 2, 15, 0), True),    # 16:00 CET: the end minute counts
    (datetime(2026, 3, 2, 15, 1), False),   # 16:01 CET
    (datetime(2026, 7, 6, 6, 0), True),     # 08:00 CEST (summer time)
    (datetime(2026, 7, 6, 14, 30), False),  # 16:30 CEST
    (datetime(2026, 3, 8, 10, 0), False),   # Sunday
])
def test_sending_window_in_copenhagen(settings: Settings, utc: datetime,
                                      expected: bool) -> None:
    assert in_sending_window(utc, settings) is expected


def test_window_over_midnight_and_all_day(settings: Settings) -> None:
    night = settings.replace(sending_window="22:00-06:00", sending_days="fri")
    assert in_sending_window(datetime(2026, 3, 6, 22, 0), night)   # Fri 23:00 CET
    assert in_sending_window(datetime(2026, 3, 7, 3, 0), night)    # Sat 04:00, Fri's window
    assert not in_sending_window(datetime(2026, 3, 7, 22, 0), night)  # Sat 23:00
    always = settings.replace(sending_window="00:00-23:59",
                              sending_days="mon,tue,wed,thu,fri,sat,sun")
    assert all(in_sending_window(T0 + timedelta(minutes=17 * k), always) for k in range(600))


def test_plan_is_ordered_by_entry(settings: Settings) -> None:
    result = plan([entry(3), entry(1), entry(2)], {}, T0, settings)
    assert [p.initiative_id for p in result.due] == [1, 2, 3]
