"""One declarative settings object for the whole service.

Every setting is a field of the frozen dataclass :class:`Settings` with a default and a
help text (``metadata["help"]``). Values are read once, at start-up, from

1. the defaults below,
2. a TOML file (``landkort.toml``; path from ``--config`` or ``LANDKORT_CONFIG``),
3. ``LANDKORT_<NAME>`` environment variables (``LANDKORT_DATABASE_URL`` …),

later sources winning. The resulting object is passed explicitly to whoever needs it;
nothing reads the environment behind its back. :func:`Settings.validate` checks that the
values make sense for a given use (``run`` needs a secret key, an enabled IMAP worker needs
a host …) and raises :class:`SettingsError` with a message a person can act on.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import socket
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bot.core.i18n import languages
from bot.core.mailheaders import is_mail_address

ENV_PREFIX = "LANDKORT_"
CONFIG_ENV = "LANDKORT_CONFIG"
DEFAULT_CONFIG_FILE = "landkort.toml"


class SettingsError(Exception):
    """A setting is missing or invalid; the message says which and how to fix it."""


def setting(default: Any, help: str, *, secret: bool = False, choices: tuple[str, ...] = ()) -> Any:
    """Declare one setting: its default, a help text, and whether it is a secret."""
    return field(default=default, metadata={"help": help, "secret": secret, "choices": choices})


@dataclass(frozen=True)
class Settings:
    """Every knob of landkort. See ``landkort config check`` for the effective values."""

    # --- runtime -------------------------------------------------------------------------
    data_dir: str = setting("var", "Folder for the embedded SQLite database, the demo's mail "
                            "sandbox and generated secrets.")
    database_url: str = setting("", "SQLAlchemy URL. Empty means an SQLite file in data_dir "
                                "(sqlite+aiosqlite:///DATA_DIR/landkort.db). For several "
                                "instances use postgresql+asyncpg://user@host/db.")
    sqlite_driver: str = setting("inline", "How SQLite statements run: 'inline' on the event "
                                 "loop's thread (fast; bot/core/sqlite_inline.py, which uses "
                                 "SQLAlchemy internals) or 'aiosqlite' (its own thread; the "
                                 "fallback if a SQLAlchemy upgrade breaks the inline driver).",
                                 choices=("inline", "aiosqlite"))
    secret_key: str = setting("", "Secret used to sign sessions and CSRF tokens (32+ random "
                              "characters). Required by 'landkort run'; 'landkort demo' makes one.",
                              secret=True)
    instance_name: str = setting("", "Name of this instance in leases and logs. Empty means "
                                 "HOSTNAME-PID.")
    log_level: str = setting("INFO", "Logging level.",
                             choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    log_format: str = setting("text", "Log lines as text, or as one JSON object per line "
                              "(for a log collector).", choices=("text", "json"))
    access_log: bool = setting(False, "Log every HTTP request (method, route pattern, status, "
                               "time; never the path, which may carry a token).")
    language: str = setting("da", "Default language of pages and mails: one with catalogues "
                                  "under bot/locale (da, en; docs/translating.md adds more).")

    # --- web -----------------------------------------------------------------------------
    http_host: str = setting("127.0.0.1", "Address the web app listens on.")
    http_port: int = setting(8080, "Port the web app listens on.")
    base_url: str = setting("http://127.0.0.1:8080", "Public URL of the web app, used in links "
                            "in mails (reminder links, one-click unsubscribe).")
    trusted_proxies: str = setting("", "Comma-separated addresses of reverse proxies whose "
                                   "X-Forwarded-For and X-Forwarded-Proto headers are believed "
                                   "(e.g. 127.0.0.1 behind a local nginx). Empty: none.")
    metrics_allow: str = setting("127.0.0.1,::1", "Comma-separated addresses or networks "
                                 "(CIDR) that may read /metrics and the detailed /healthz "
                                 "(the client address after trusted_proxies).")
    metrics_token: str = setting("", "A bearer token that also opens /metrics and the "
                                 "detailed /healthz from anywhere (Authorization: Bearer "
                                 "TOKEN). Empty: addresses only.", secret=True)
    health_stuck_seconds: float = setting(900.0, "/healthz answers 503 when a running worker "
                                        "has not finished a round without error for this "
                                        "long.")
    session_max_age_hours: int = setting(12, "How long a moderator stays logged in.")
    login_max_failures: int = setting(5, "Failed logins (per account and per address) before "
                                      "logins are throttled.")
    login_lockout_minutes: int = setting(15, "How long login is throttled after too many failures.")
    claim_timeout_minutes: int = setting(30, "A moderator's claim on a queue item expires after "
                                         "this long without activity.")

    # --- mail addresses ------------------------------------------------------------------
    mail_domain: str = setting("example.org", "Domain of the service's own addresses.")
    auth_serv_id: str = setting("", "The authserv-id (RFC 8601) your receiving mail server "
                                    "writes in Authentication-Results; only its verdicts are "
                                    "shown to moderators (empty: none are).")
    mailbox_local_part: str = setting("landkort", "Local part of the intake address; replies go "
                                      "to LOCAL+TOKEN@mail_domain.")
    from_name: str = setting("Det telemedicinske landkort", "Display name on outgoing mail.")
    moderator_emails: str = setting("", "Comma-separated addresses that get the daily digest.")

    # --- IMAP intake ---------------------------------------------------------------------
    imap_enabled: bool = setting(False, "Fetch the intake mailbox over IMAP.")
    imap_host: str = setting("", "IMAP server.")
    imap_port: int = setting(993, "IMAP port (993 for TLS, 143 for STARTTLS or plain).")
    imap_security: str = setting("tls", "IMAP transport security. 'plain' is for loopback only.",
                                 choices=("tls", "starttls", "plain"))
    imap_user: str = setting("", "IMAP login.")
    imap_password: str = setting("", "IMAP password.", secret=True)
    imap_mailbox: str = setting("INBOX", "Mailbox to fetch.")
    imap_after_store: str = setting("flag", "What to do with a message on the server after it is "
                                    "committed: flag it \\Seen or move it.",
                                    choices=("flag", "move"))
    imap_move_to: str = setting("Processed", "Folder for imap_after_store = move.")
    imap_poll_seconds: float = setting(60.0, "Poll interval when the server has no IDLE.")
    imap_idle: bool = setting(True, "Use IMAP IDLE when the server offers it.")
    max_message_bytes: int = setting(25_000_000, "Mail over this size is stored quarantined, "
                                     "not parsed.")
    imap_lease_seconds: int = setting(60, "Several instances: the one fetching a mailbox holds a "
                                      "lease this long and renews it; another takes over "
                                      "when it expires.")
    processing_lease_seconds: int = setting(300, "A stored message claimed for processing is "
                                            "free again after this long (a dead worker's "
                                            "claim expires).")
    processing_max_attempts: int = setting(3, "A stored message that fails this many times is "
                                           "quarantined.")
    parse_processes: int = setting(1, "Worker processes that parse stored mail, so parsing "
                                   "uses another core while outcomes are written; 0 parses "
                                   "in a thread of the service's own process.")
    auto_answers_per_day: int = setting(3, "At most this many automatic answers per address "
                                        "per day.")

    # --- LMTP intake ---------------------------------------------------------------------
    lmtp_enabled: bool = setting(False, "Listen for LMTP deliveries from the local mail server.")
    lmtp_host: str = setting("127.0.0.1", "LMTP listen address.")
    lmtp_port: int = setting(8024, "LMTP listen port.")

    # --- SMTP out ------------------------------------------------------------------------
    smtp_enabled: bool = setting(False, "Send queued mail over SMTP.")
    smtp_host: str = setting("", "SMTP relay.")
    smtp_port: int = setting(587, "SMTP port (465 TLS, 587 STARTTLS, 25 plain).")
    smtp_security: str = setting("starttls", "SMTP transport security.",
                                 choices=("tls", "starttls", "plain"))
    smtp_user: str = setting("", "SMTP login (empty: no AUTH).")
    smtp_password: str = setting("", "SMTP password.", secret=True)
    smtp_concurrency: int = setting(2, "SMTP connections used at once.")
    smtp_rate_per_minute: int = setting(120, "At most this many mails per minute.")
    smtp_max_attempts: int = setting(8, "Temporary failures (4xx, connection) are retried with "
                                     "exponential backoff up to this many attempts.")
    outbox_lease_seconds: int = setting(300, "A claimed outbox row is free again after this long.")

    # --- campaigns -----------------------------------------------------------------------
    campaign_enabled: bool = setting(False, "Run the yearly reminder campaign scheduler.")
    refresh_interval_days: int = setting(365, "An entry not confirmed for this long gets a "
                                         "reminder.")
    reminder_step2_days: int = setting(14, "Days without an answer before the second reminder.")
    reminder_link_days: int = setting(180, "How long a reminder's personal links (answering "
                                          "by mail, the confirm button, the form, the chat) "
                                          "keep working: about the cycle's length.")
    reminder_last_step_days: int = setting(14, "Days after the second reminder before the "
                                           "last one.")
    unconfirmed_after_days: int = setting(14, "Days after the last reminder before the entry is "
                                          "marked unconfirmed.")
    sending_days: str = setting("mon,tue,wed,thu,fri", "Weekdays on which reminders go out.")
    sending_window: str = setting("08:00-16:00", "Local time window in which reminders go out.")
    timezone: str = setting("Europe/Copenhagen", "Time zone of the sending window and the digest.")
    campaign_tick_seconds: float = setting(300.0, "How often the scheduler looks for due steps.")
    digest_hour: int = setting(7, "Local hour at which the moderators' daily digest is sent.")

    # --- chat ----------------------------------------------------------------------------
    chat_max_message_chars: int = setting(2000, "Longest chat message accepted.")
    chat_messages_per_minute: int = setting(30, "Chat messages per session per minute.")
    chat_sessions_per_ip_per_hour: int = setting(20, "New chat conversations per IP per hour.")
    retention_days: int = setting(180, "Unverified chat submissions and chat conversations "
                                       "older than this many days are deleted, with their "
                                       "personal data in audit rows (0 keeps them).")
    chat_sockets_per_ip: int = setting(10, "Open chat WebSockets per client address.")
    chat_sockets_total: int = setting(500, "Open chat WebSockets in all (keep it well under "
                                           "the unit's LimitNOFILE).")
    chat_verify_hours: int = setting(48, "How long the e-mail verification link of a chat "
                                     "submission is valid.")
    answer_posts_per_token: int = setting(10, "Presses per minute of the confirm button or "
                                          "the form of one personal link.")
    answer_posts_per_client: int = setting(60, "Presses per minute of confirm buttons and "
                                           "forms from one client address.")
    link_check_enabled: bool = setting(False, "Check the entries' website and evaluation "
                                              "links in the background (it asks the web).")
    link_check_days: int = setting(30, "Check each link again after this many days.")
    link_check_concurrency: int = setting(8, "Link checks at a time, in all.")
    link_check_host_delay: float = setting(2.0, "Seconds between two checks of links on the "
                                                "same host (one at a time per host).")
    link_check_timeout: float = setting(15.0, "Seconds to wait for a link's answer.")
    link_check_failures: int = setting(3, "Checks in a row a link must fail before it is "
                                          "flagged dead (moderators see it; the next "
                                          "reminder asks for the new address).")
    link_check_allow_private: bool = setting(False, "Also check links to loopback and "
                                                    "private addresses (tests only: a link "
                                                    "from mail must not probe our network).")
    stats_reference_day: str = setting("10-01", "The day of the year (MM-DD) the yearly "
                                               "figures are counted on (MedCom: primo "
                                               "oktober).")
    data_licence: str = setting("CC BY 4.0", "The licence the registry's data is published "
                                             "under (pages, API, exports).")
    data_licence_url: str = setting("https://creativecommons.org/licenses/by/4.0/",
                                    "Where the data licence's text is.")
    content_dir: str = setting("", "A folder with the public pages' Markdown files "
                                   "({da,en}/om.md, tilgaengelighed.md, privatliv.md, "
                                   "licens.md) to use instead of the packaged ones.")
    thanks_mail: bool = setting(True, "Mail a contact 'the map is updated' after a "
                                      "moderator approves the contact's own change or "
                                      "confirmation.")

    # --- demo ----------------------------------------------------------------------------
    sandbox_enabled: bool = setting(False, "Embedded SMTP and IMAP servers and a page listing "
                                    "sent mail (on in 'landkort demo' only).")
    sandbox_smtp_port: int = setting(8025, "Port of the sandbox SMTP server.")
    sandbox_imap_port: int = setting(8143, "Port of the sandbox IMAP server.")

    # ------------------------------------------------------------------------------------
    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in data_dir."""
        if self.database_url:
            return self.database_url
        path = Path(self.data_dir).resolve() / "landkort.db"
        return f"sqlite+aiosqlite:///{path}"

    @property
    def effective_instance_name(self) -> str:
        return self.instance_name or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def intake_address(self) -> str:
        return f"{self.mailbox_local_part}@{self.mail_domain}"

    def reply_address(self, token: str) -> str:
        """The per-mail reply address carrying a reply token (``landkort+TOKEN@domain``)."""
        return f"{self.mailbox_local_part}+{token}@{self.mail_domain}"

    @property
    def trusted_proxy_list(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.trusted_proxies.split(",") if a.strip())

    @property
    def moderator_email_list(self) -> list[str]:
        return [a.strip() for a in self.moderator_emails.split(",") if a.strip()]

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (tests, demo)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------------------------
    def validate(self, *, need_secret: bool = False) -> None:
        """Raise SettingsError naming every invalid or missing value."""
        problems: list[str] = []
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices") or ()
            value = getattr(self, f.name)
            if choices and value not in choices:
                problems.append(f"{f.name} = {value!r}: must be one of {', '.join(choices)}")
        if self.language not in languages():  # the catalogues decide which languages exist
            problems.append(f"language = {self.language!r}: must be one of "
                            f"{', '.join(languages())} (the catalogues under bot/locale)")
        if need_secret and len(self.secret_key) < 16:
            problems.append("secret_key is missing or shorter than 16 characters: set "
                            "LANDKORT_SECRET_KEY or secret_key in landkort.toml (e.g. "
                            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
        if self.metrics_token and len(self.metrics_token) < 32:
            problems.append("metrics_token is shorter than 32 characters (at least 128 "
                            "bits: python3 -c 'import secrets; print(secrets.token_urlsafe"
                            "(32))')")
        for entry in filter(None, (e.strip() for e in self.metrics_allow.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                problems.append(f"metrics_allow: {entry!r} is not an address or network")
        if self.imap_enabled:
            for name in ("imap_host", "imap_user", "imap_password"):
                if not getattr(self, name):
                    problems.append(f"{name} is required when imap_enabled is true")
        if self.smtp_enabled and not self.smtp_host:
            problems.append("smtp_host is required when smtp_enabled is true")
        if self.database_url and not (self.database_url.startswith("sqlite+aiosqlite://")
                                      or self.database_url.startswith("postgresql+asyncpg://")):
            problems.append("database_url must start with sqlite+aiosqlite:// or "
                            "postgresql+asyncpg://")
        try:
            start, end = self.sending_window.split("-")
            for part in (start, end):
                h, m = part.split(":")
                if not (0 <= int(h) < 24 and 0 <= int(m) < 60):
                    raise ValueError
        except ValueError:
            problems.append(f"sending_window = {self.sending_window!r}: write it as HH:MM-HH:MM")
        try:
            month, day = (int(x) for x in self.stats_reference_day.split("-"))
            date(2001, month, day)  # a day every year has (not 29 February)
        except ValueError:
            problems.append(f"stats_reference_day = {self.stats_reference_day!r}: write it as "
                            "MM-DD, e.g. 10-01")
        days = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
        bad_days = [d for d in self.sending_days.split(",") if d.strip() not in days]
        if bad_days:
            problems.append(f"sending_days: unknown day(s) {', '.join(bad_days)}; use mon,tue,…")
        for name in ("http_port", "imap_port", "smtp_port", "lmtp_port", "smtp_concurrency",
                     "processing_max_attempts", "refresh_interval_days"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if self.parse_processes < 0:
            problems.append("parse_processes must be 0 or more")
        if not is_mail_address(self.intake_address):
            problems.append(f"mailbox_local_part and mail_domain make {self.intake_address!r}, "
                            "which is no usable mail address (a domain needs a dot)")
        if problems:
            raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, shown value, help) for every setting, secrets masked."""
        rows = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret"):
                shown = "********" if value else "(not set)"
            elif f.name == "database_url":  # user:PASSWORD@host → user:***@host
                shown = repr(re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", value))
            else:
                shown = repr(value)
            rows.append((f.name, shown, f.metadata.get("help", "")))
        return rows

    def secret_values(self) -> list[str]:
        """The secret values that are set (so tests can prove they never reach a log)."""
        return [getattr(self, f.name) for f in dataclasses.fields(self)
                if f.metadata.get("secret") and getattr(self, f.name)]


def _coerce(name: str, kind: Any, raw: Any, source: str) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise SettingsError(f"{name} from {source}: {raw!r} is not true/false")
    if kind is int:
        if isinstance(raw, bool):
            raise SettingsError(f"{name} from {source}: {raw!r} is not a whole number")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise SettingsError(f"{name} from {source}: {raw!r} is not a whole number") from None
    if kind is float:
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise SettingsError(f"{name} from {source}: {raw!r} is not a number") from None
    if not isinstance(raw, str):
        raise SettingsError(f"{name} from {source}: expected text, got {raw!r}")
    return raw


def load_settings(config_path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Load settings from defaults, the TOML file and ``LANDKORT_*`` variables.

    ``config_path`` wins over ``LANDKORT_CONFIG``; without either, ``./landkort.toml`` is read
    when it exists. Unknown keys in the file or the environment are errors (a typo must not
    silently fall back to a default).
    """
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(Settings)
    known = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}

    path_text = str(config_path) if config_path else env.get(CONFIG_ENV, "")
    path = Path(path_text) if path_text else Path(DEFAULT_CONFIG_FILE)
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read {path}: {exc}") from None
        section = data.get("landkort", data)
        for key, raw in section.items():
            if key not in known:
                raise SettingsError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(key, hints[key], raw, str(path))
    elif path_text:
        raise SettingsError(f"config file {path} does not exist")

    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key == CONFIG_ENV:
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name.startswith("test_"):
            continue  # LANDKORT_TEST_* belongs to the test suite, not the service
        if name not in known:
            raise SettingsError(f"environment variable {key}: unknown setting {name!r}")
        values[name] = _coerce(name, hints[name], raw, key)

    for key, raw in overrides.items():
        if key not in known:
            raise SettingsError(f"unknown setting {key!r}")
        values[key] = raw
    settings = Settings(**values)
    settings.validate()
    return settings
