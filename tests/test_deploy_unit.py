"""The shipped systemd unit (deploy/landkort@.service) is complete and fits the settings."""
from __future__ import annotations

import configparser
from pathlib import Path

from bot.core.settings import Settings

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "landkort@.service"


def test_the_unit_limits_descriptors_and_keeps_data_writable() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text(encoding="utf-8"))
    service = unit["Service"]
    assert int(service["LimitNOFILE"]) >= 4 * Settings().chat_sockets_total
    assert service["StateDirectory"] == "landkort"
    assert "/var/lib/landkort" in service["ReadWritePaths"]
    assert service["ProtectSystem"] == "strict"
    assert service["ExecStart"].endswith("landkort run")
