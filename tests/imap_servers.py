"""Real IMAP servers for tests and the benchmark: pymap (always) and Dovecot (when installed).

Both run as subprocesses on a free loopback port with one user, and offer the same small
interface: ``start()``, ``stop()``, ``restart()``, ``append()``, ``recreate()``,
``flags()``, ``uids()``. Helpers talk to the server with the standard library's
:mod:`imaplib` (in a thread), independent of the aioimaplib code under test.

- **pymap** (``pymap --no-tls dict``): in-memory; a restart starts with empty mailboxes
  and a new UIDVALIDITY.
- **Dovecot** (Debian's ``dovecot-imapd``): maildir under a temporary folder that keeps
  mail across restarts. The configuration is the project's own copy of how Dovecot runs
  on these machines (as root it runs its login processes as ``dovecot``/``dovenull``).

With a certificate (``cert``/``key``, e.g. from :func:`make_test_cert`) pymap offers
STARTTLS (and still takes a plain LOGIN from loopback); Dovecot requires TLS
(``ssl = required``: no LOGIN before STARTTLS) and also listens for implicit TLS on
``tls_port``. The helpers then talk to the server over STARTTLS themselves.
"""
from __future__ import annotations

import asyncio
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

USER = "intake"
PASSWORD = "intake-secret"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_greeting(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), 0.5) as s:
                s.settimeout(2.0)
                if s.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"IMAP server on port {port} did not answer")


def wait_port_closed(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), 0.2):
                pass
        except OSError:
            return
        time.sleep(0.05)


def descendants(pid: int) -> list[int]:
    """The process ids below ``pid`` (Linux /proc), deepest last."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def dovecot_available() -> bool:
    return shutil.which("dovecot") is not None or Path("/usr/sbin/dovecot").exists()


class ImapServer:
    """Common helpers; subclasses start and stop the process."""

    kind = "imap"

    def __init__(self) -> None:
        self.port = free_port()
        self.user = USER
        self.password = PASSWORD
        self.host = "127.0.0.1"
        self.cafile: Path | None = None  # the server's certificate, when it has one

    # -- process ---------------------------------------------------------------------
    def start(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- client helpers (blocking; use the async wrappers from async code) -------------
    def _client(self) -> imaplib.IMAP4:
        c = imaplib.IMAP4(self.host, self.port, timeout=30)
        if self.cafile is not None:
            c.starttls(ssl.create_default_context(cafile=str(self.cafile)))
        c.login(self.user, self.password)
        return c

    def append_sync(self, raws: list[bytes], mailbox: str = "INBOX") -> None:
        c = self._client()
        try:
            if mailbox != "INBOX":
                c.create(mailbox)
            for raw in raws:
                typ, data = c.append(mailbox, None, None, raw)
                if typ != "OK":
                    raise RuntimeError(f"APPEND failed: {data!r}")
        finally:
            c.logout()

    def recreate_sync(self, mailbox: str) -> tuple[int, int]:
        """Delete and create ``mailbox`` again; (old, new) UIDVALIDITY (guaranteed to differ)."""
        old = self.uidvalidity_sync(mailbox)
        for _ in range(30):
            c = self._client()
            try:
                c.delete(mailbox)
                c.create(mailbox)
            finally:
                c.logout()
            new = self.uidvalidity_sync(mailbox)
            if new != old:
                return old, new
            time.sleep(0.2)  # Dovecot derives UIDVALIDITY from the clock
        raise RuntimeError("UIDVALIDITY did not change")

    def uidvalidity_sync(self, mailbox: str = "INBOX") -> int:
        c = self._client()
        try:
            typ, data = c.status(mailbox, "(UIDVALIDITY)")
            m = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
            assert m is not None, data
            return int(m.group(1))
        finally:
            c.logout()

    def flags_sync(self, mailbox: str = "INBOX") -> dict[int, str]:
        """UID → FLAGS text of every message in ``mailbox``."""
        c = self._client()
        try:
            typ, _ = c.select(mailbox)
            if typ != "OK":
                return {}
            typ, data = c.uid("FETCH", "1:*", "(UID FLAGS)")
            out: dict[int, str] = {}
            for item in data or []:
                if not isinstance(item, bytes):
                    continue
                m = re.search(rb"UID (\d+)", item)
                f = re.search(rb"FLAGS \(([^)]*)\)", item)
                if m:
                    out[int(m.group(1))] = (f.group(1) if f else b"").decode()
            return out
        finally:
            c.logout()

    async def append(self, raws: list[bytes] | bytes, mailbox: str = "INBOX") -> None:
        await asyncio.to_thread(self.append_sync, [raws] if isinstance(raws, bytes) else raws,
                                mailbox)

    async def recreate(self, mailbox: str) -> tuple[int, int]:
        return await asyncio.to_thread(self.recreate_sync, mailbox)

    async def flags(self, mailbox: str = "INBOX") -> dict[int, str]:
        return await asyncio.to_thread(self.flags_sync, mailbox)

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def arestart(self) -> None:
        await asyncio.to_thread(self.restart)

    def settings_overrides(self, mailbox: str = "INBOX") -> dict[str, Any]:
        """Settings that point the fetcher at this server."""
        return {"imap_enabled": True, "imap_host": self.host, "imap_port": self.port,
                "imap_security": "plain", "imap_user": self.user,
                "imap_password": self.password, "imap_mailbox": mailbox}

    def __enter__(self) -> ImapServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PymapServer(ImapServer):
    """pymap's in-memory backend as a subprocess."""

    kind = "pymap"

    def __init__(self, *, cert: Path | None = None, key: Path | None = None) -> None:
        super().__init__()
        self.proc: subprocess.Popen[bytes] | None = None
        self.tls = ["--cert", str(cert), "--key", str(key)] if cert and key else ["--no-tls"]
        self.cafile = cert if cert and key else None

    def start(self) -> None:
        exe = Path(sys.executable).with_name("pymap")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pymap"]
        self.proc = subprocess.Popen(
            [*cmd, "--host", "127.0.0.1", "--port", str(self.port), *self.tls, "dict",
             "--demo-user", self.user, "--demo-password", self.password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_greeting(self.port)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        wait_port_closed(self.port)


DOVECOT_CONF = """\
base_dir = {dir}/run
state_dir = {dir}/state
protocols = imap
shutdown_clients = yes
listen = {host}
{ssl_settings}
auth_mechanisms = plain login
mail_location = maildir:{dir}/mail/%u
log_path = {dir}/dovecot.log
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 1
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
{imaps_listener}}}
service anvil {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
"""
DOVECOT_NO_SSL = "ssl = no\ndisable_plaintext_auth = no"
# ssl = required: no authentication before TLS. Dovecot counts a connection whose two ends
# have the same address as secure, so a TLS server listens on 127.0.0.2 (clients on
# loopback connect from 127.0.0.1).
DOVECOT_SSL = """\
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes"""
DOVECOT_IMAPS = """\
  inet_listener imaps {{
    address = {host}
    port = {tls_port}
    ssl = yes
  }}
"""


class DovecotServer(ImapServer):
    """Dovecot with maildir storage in a temporary folder (kept across restarts)."""

    kind = "dovecot"

    def __init__(self, *, cert: Path | None = None, key: Path | None = None) -> None:
        super().__init__()
        self.cafile = cert if cert and key else None
        self.tls_port = free_port() if self.cafile else None
        if self.cafile:
            self.host = "127.0.0.2"
        self.dir = Path(tempfile.mkdtemp(prefix="landkort-dovecot-"))
        self.dir.chmod(0o755)
        self.running = False
        if os.geteuid() == 0:
            internal_user = internal_group = "dovecot"
            login_user = "dovenull"
            uid = gid = "dovecot"
        else:
            me = pwd.getpwuid(os.geteuid())
            internal_user = login_user = me.pw_name
            internal_group = str(os.getegid())
            uid, gid = str(os.geteuid()), str(os.getegid())
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir()
        (self.dir / "users").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        ssl_settings, imaps = DOVECOT_NO_SSL, ""
        if cert and key:
            ssl_settings = DOVECOT_SSL.format(cert=cert, key=key)
            imaps = DOVECOT_IMAPS.format(host=self.host, tls_port=self.tls_port)
        (self.dir / "dovecot.conf").write_text(DOVECOT_CONF.format(
            dir=self.dir, host=self.host, port=self.port, internal_user=internal_user,
            internal_group=internal_group, login_user=login_user, uid=uid, gid=gid,
            ssl_settings=ssl_settings, imaps_listener=imaps))
        if os.geteuid() == 0:
            shutil.chown(self.dir / "mail", "dovecot", "dovecot")

    def start(self) -> None:
        exe = shutil.which("dovecot") or "/usr/sbin/dovecot"
        # The daemon forks and keeps its descriptors: no pipes, or run() never returns.
        with open(self.dir / "start.log", "ab") as out:
            subprocess.run([exe, "-c", str(self.dir / "dovecot.conf")], check=True,
                           stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self.running = True
        try:
            wait_for_greeting(self.port, host=self.host)
        except RuntimeError as exc:
            log = (self.dir / "dovecot.log")
            text = log.read_text()[-2000:] if log.exists() else ""
            self.stop()
            raise RuntimeError(f"{exc}\n{text}") from None

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        pid_file = self.dir / "run" / "master.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        # Dovecot's session processes outlive the master; a real restart drops them too.
        children = descendants(pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for proc in [pid, *children]:
            while time.monotonic() < deadline:
                try:
                    os.kill(proc, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        wait_port_closed(self.port, host=self.host)

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.cleanup()

    def cleanup(self) -> None:
        # Dovecot's last processes may still write their logs for a moment.
        for _ in range(50):
            shutil.rmtree(self.dir, ignore_errors=True)
            if not self.dir.exists():
                return
            time.sleep(0.1)


def make_server(kind: str, *, cert: Path | None = None, key: Path | None = None
                ) -> ImapServer:
    if kind == "dovecot":
        return DovecotServer(cert=cert, key=key)
    return PymapServer(cert=cert, key=key)


def make_test_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for ``localhost``, 127.0.0.1 and 127.0.0.2
    (a Dovecot that requires TLS listens there), made with
    the ``openssl`` command; (cert.pem, key.pem) in ``directory``."""
    from tests.conftest import skip_or_fail

    if shutil.which("openssl") is None:
        skip_or_fail("openssl is not installed (apt-get install -y openssl)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.0.2"],
                   check=True, capture_output=True)
    return cert, key


__all__ = ["DovecotServer", "ImapServer", "PymapServer", "dovecot_available", "free_port",
           "make_server", "make_test_cert"]
