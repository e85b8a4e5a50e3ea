"""Fetching a mailbox over IMAP.

A message is marked (\\Seen plus our own keyword) or moved to the archive folder only after the
transaction that stored it has committed, so a crash between fetch and store means the message
is fetched again next time — and Message-ID de-duplication makes that harmless.
"""

import imaplib
import logging
import select
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from django.utils import timezone

from .choices import InboundSource, MailSecurity
from .inbound import IntakeResult, receive_email
from .models import Mailbox

log = logging.getLogger(__name__)

# Our keyword on messages we have taken; other clients on the same mailbox keep working.
PROCESSED_KEYWORD = "AfterCareProcessed"
FETCH_BATCH = 50
TIMEOUT_SECONDS = 60


class MailboxUnreachable(Exception):
    pass


@dataclass
class PollReport:
    mailbox: str
    fetched: int = 0
    results: list[IntakeResult] = field(default_factory=list)
    error: str = ""


@contextmanager
def connect(mailbox: Mailbox) -> Iterator[imaplib.IMAP4]:
    try:
        client: imaplib.IMAP4
        if mailbox.imap_security == MailSecurity.SSL:
            client = imaplib.IMAP4_SSL(
                mailbox.imap_host,
                mailbox.imap_port,
                ssl_context=ssl.create_default_context(),
                timeout=TIMEOUT_SECONDS,
            )
        else:
            client = imaplib.IMAP4(mailbox.imap_host, mailbox.imap_port, timeout=TIMEOUT_SECONDS)
            if mailbox.imap_security == MailSecurity.STARTTLS:
                client.starttls(ssl_context=ssl.create_default_context())
        client.login(mailbox.imap_username, mailbox.imap_password)
    except (TimeoutError, OSError, imaplib.IMAP4.error) as exc:
        raise MailboxUnreachable(f"{type(exc).__name__}: {exc}") from exc
    try:
        yield client
    finally:
        with suppress(OSError, imaplib.IMAP4.error):
            client.logout()


def _check(response: tuple[str, list], what: str) -> list:
    status, data = response
    if status != "OK":
        raise MailboxUnreachable(f"{what}: {status} {data!r}")
    return data


def _unprocessed_uids(client: imaplib.IMAP4) -> list[str]:
    data = _check(client.uid("SEARCH", "UNKEYWORD", PROCESSED_KEYWORD), "SEARCH")
    return data[0].decode().split() if data and data[0] else []


def _fetch(client: imaplib.IMAP4, uid: str) -> bytes | None:
    data = _check(client.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH")
    for part in data:
        if isinstance(part, tuple) and len(part) == 2:
            return bytes(part[1])
    return None


def _mark_done(client: imaplib.IMAP4, mailbox: Mailbox, uid: str) -> None:
    _check(client.uid("STORE", uid, "+FLAGS", f"(\\Seen {PROCESSED_KEYWORD})"), "STORE")
    if mailbox.imap_archive_folder:
        if b"MOVE" in _capabilities(client):
            _check(client.uid("MOVE", uid, mailbox.imap_archive_folder), "MOVE")
        else:
            _check(client.uid("COPY", uid, mailbox.imap_archive_folder), "COPY")
            _check(client.uid("STORE", uid, "+FLAGS", "(\\Deleted)"), "STORE")
            client.expunge()


def _capabilities(client: imaplib.IMAP4) -> set[bytes]:
    """What the server offers once signed in (it may offer more than before)."""
    status, data = client.capability()
    words = data[0].split() if status == "OK" and data and data[0] else []
    return {w.upper() for w in words}


def poll_mailbox(mailbox: Mailbox, *, limit: int = FETCH_BATCH) -> PollReport:
    """Fetch up to `limit` messages not yet taken, run each through the pipeline, then mark it.

    receive_email commits each message on its own, so marking after it returns is marking
    after commit."""
    report = PollReport(mailbox=mailbox.name)
    try:
        with connect(mailbox) as client:
            _check(client.select(f'"{mailbox.imap_folder}"'), "SELECT")
            for uid in _unprocessed_uids(client)[:limit]:
                raw = _fetch(client, uid)
                if raw is None:
                    continue
                report.fetched += 1
                report.results.append(
                    receive_email(source=raw, via=InboundSource.IMAP, mailbox=mailbox)
                )
                _mark_done(client, mailbox, uid)
    except MailboxUnreachable as exc:
        report.error = str(exc)
        log.warning("mailbox %s: %s", mailbox.name, exc)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_polled_at=timezone.now(), last_error=report.error
    )
    return report


def wait_for_new_mail(mailbox: Mailbox, *, seconds: int = 300) -> bool | None:
    """IMAP IDLE (RFC 2177) where the server offers it: block until the server says a message
    arrived or `seconds` pass. Returns True when new mail is there, False on timeout, None when
    the server cannot IDLE (the minute-by-minute poll then does the work)."""
    with connect(mailbox) as client:
        if b"IDLE" not in _capabilities(client):
            return None
        _check(client.select(f'"{mailbox.imap_folder}"'), "SELECT")
        tag = client._new_tag()  # type: ignore[attr-defined]
        client.send(tag + b" IDLE\r\n")
        if not client.readline().startswith(b"+"):
            return False
        arrived = False
        deadline = time.monotonic() + seconds
        # Wait with select() rather than a socket timeout: a timed-out socket file cannot be
        # read again, and the IDLE must still be ended cleanly with DONE.
        while not arrived:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([client.sock], [], [], remaining)[0]:
                break
            line = client.readline()
            if not line:
                break
            arrived = line.startswith(b"*") and (b"EXISTS" in line or b"RECENT" in line)
        client.send(b"DONE\r\n")
        while True:
            line = client.readline()
            if not line or line.startswith(tag):
                break
        return arrived


def watch_mailbox(mailbox_id: int, stop: threading.Event, *, idle_seconds: int = 300) -> None:
    """Fetch new mail the moment the server announces it, for as long as `stop` is not set
    and the mailbox stays active. Errors back off for a minute; the periodic poll is the
    safety net either way."""
    from django.db import close_old_connections

    while not stop.is_set():
        close_old_connections()
        mailbox = Mailbox.objects.filter(pk=mailbox_id, is_active=True).exclude(imap_host="")
        current = mailbox.first()
        if current is None:
            return
        poll_mailbox(current)
        try:
            arrived = wait_for_new_mail(current, seconds=idle_seconds)
        except (MailboxUnreachable, OSError, imaplib.IMAP4.error) as exc:
            log.warning("mailbox %s: %s", current.name, exc)
            arrived = False
            stop.wait(60)
        if arrived is None:
            return


def start_watchers(stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for mailbox_id in (
        Mailbox.objects.filter(is_active=True).exclude(imap_host="").values_list("pk", flat=True)
    ):
        thread = threading.Thread(
            target=watch_mailbox, args=(mailbox_id, stop), daemon=True, name=f"imap-{mailbox_id}"
        )
        thread.start()
        threads.append(thread)
    return threads
