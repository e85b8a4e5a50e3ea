"""Real mail servers on loopback for the tests: Debian's Dovecot (IMAP) and aiosmtpd (SMTP)."""

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PASSWORD = "imap-test-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ImapServer:
    host: str
    port: int
    password: str

    def client(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port)
        client.login(user, self.password)
        return client

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            client.create(folder)
            status, _ = client.append(folder, None, None, raw)
            assert status == "OK"
        finally:
            client.logout()


def _dovecot_config(root: Path, port: int) -> str:
    nobody = pwd.getpwnam("nobody")
    return f"""
base_dir = {root}/run
state_dir = {root}/run/state
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root}/dovecot.log
first_valid_uid = 1
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture(scope="session")
def imap_server():
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not os.path.exists(binary):
        # CI installs it (.ci/run); on a developer machine without it the IMAP tests say why.
        message = "Dovecot is not installed: apt-get install dovecot-imapd (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # Not under pytest's private temp folder: Dovecot reads mail as an unprivileged user.
    root = Path(tempfile.mkdtemp(prefix="aftercare-dovecot-"))
    (root / "home").mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(root / "home", nobody.pw_uid, nobody.pw_gid)
    os.chmod(root, 0o755)
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(_dovecot_config(root, port))
    subprocess.run([binary, "-c", str(config)], check=True)
    server = ImapServer("127.0.0.1", port, PASSWORD)
    for _ in range(50):
        try:
            server.client("probe").logout()
            break
        except OSError:
            time.sleep(0.1)
    yield server
    subprocess.run([binary, "-c", str(config), "stop"], check=False)
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class SmtpSink:
    host: str
    port: int
    received: list = field(default_factory=list)


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    sink = SmtpSink("127.0.0.1", free_port())

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            sink.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            return "250 OK"

    controller = Controller(Handler(), hostname=sink.host, port=sink.port)
    controller.start()
    yield sink
    controller.stop()
