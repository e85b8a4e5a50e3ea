"""The mail channel against real servers on loopback: Dovecot for IMAP, aiosmtpd for SMTP."""

import threading
import time
import uuid
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from django.utils import timezone

from aftercare.intake.choices import MailSecurity, OutboundStatus
from aftercare.intake.imap import (
    PROCESSED_KEYWORD,
    poll_mailbox,
    wait_for_new_mail,
    watch_mailbox,
)
from aftercare.intake.models import InboundEmail, Mailbox, OutboundEmail
from aftercare.intake.tasks import deliver_due_email
from aftercare.tickets.models import Ticket

from .mailfactory import compose, unique_id
from .servers import free_port, imap_server, smtp_server  # noqa: F401 (fixtures)

# Real commits (on_commit work, other threads and processes see the rows); serialized_rollback
# brings back what migrations created (calendars, SLA policies) for the tests that follow.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def imap_mailbox(personas, imap_server):  # noqa: F811
    user = f"service-{uuid.uuid4().hex[:8]}"
    return Mailbox.objects.create(
        name=user,
        address=f"{user}@huaning.example",
        team=personas.team_a,
        imap_host=imap_server.host,
        imap_port=imap_server.port,
        imap_security=MailSecurity.NONE,
        imap_username=user,
        imap_password=imap_server.password,
    )


def flags(imap_server, user: str, folder: str = "INBOX") -> list[bytes]:  # noqa: F811
    client = imap_server.client(user)
    try:
        client.select(folder)
        _status, data = client.uid("FETCH", "1:*", "(FLAGS)")
        return [line for line in data if line]
    finally:
        client.logout()


def test_polling_takes_each_message_once_and_marks_it_after_storing(
    imap_server,  # noqa: F811
    imap_mailbox,
):
    user = imap_mailbox.imap_username
    imap_server.deliver(user, compose(message_id=unique_id(), subject="洗衣机漏水"))
    imap_server.deliver(user, compose(message_id=unique_id(), subject="热水器不加热"))

    report = poll_mailbox(imap_mailbox)

    assert (report.fetched, report.error) == (2, "")
    assert [r.status for r in report.results] == ["created", "created"]
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == [
        "洗衣机漏水",
        "热水器不加热",
    ]
    marked = flags(imap_server, user)
    assert len(marked) == 2
    assert all(PROCESSED_KEYWORD.encode() in line and b"\\Seen" in line for line in marked)
    assert poll_mailbox(imap_mailbox).fetched == 0
    imap_mailbox.refresh_from_db()
    assert imap_mailbox.last_error == ""
    assert imap_mailbox.last_polled_at is not None


def test_processed_mail_moves_to_the_archive_folder_when_one_is_set(
    imap_server,  # noqa: F811
    imap_mailbox,
):
    imap_mailbox.imap_archive_folder = "Processed"
    imap_mailbox.save()
    user = imap_mailbox.imap_username
    client = imap_server.client(user)
    client.create("Processed")
    client.logout()
    imap_server.deliver(user, compose(message_id=unique_id()))

    assert poll_mailbox(imap_mailbox).fetched == 1

    assert flags(imap_server, user, "INBOX") == []
    assert len(flags(imap_server, user, "Processed")) == 1


def test_a_message_already_taken_through_another_path_is_only_marked(
    imap_server,  # noqa: F811
    imap_mailbox,
):
    raw = compose(message_id=unique_id())
    from aftercare.intake.inbound import receive_email

    receive_email(source=raw, via="webhook", mailbox=imap_mailbox)
    imap_server.deliver(imap_mailbox.imap_username, raw)

    report = poll_mailbox(imap_mailbox)

    assert [r.status for r in report.results] == ["duplicate"]
    assert Ticket.objects.count() == 1
    assert InboundEmail.objects.count() == 1


def test_an_unreachable_server_is_reported_on_the_mailbox(imap_mailbox):
    imap_mailbox.imap_port = free_port()
    imap_mailbox.save()

    report = poll_mailbox(imap_mailbox)

    assert report.fetched == 0
    assert "ConnectionRefusedError" in report.error
    imap_mailbox.refresh_from_db()
    assert imap_mailbox.last_error == report.error


def test_idle_wakes_up_when_mail_arrives(imap_server, imap_mailbox):  # noqa: F811
    outcome = {}

    def wait():
        started = time.monotonic()
        outcome["arrived"] = wait_for_new_mail(imap_mailbox, seconds=20)
        outcome["seconds"] = time.monotonic() - started

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(1.0)
    imap_server.deliver(imap_mailbox.imap_username, compose(message_id=unique_id()))
    waiter.join(25)

    assert outcome["arrived"] is True
    assert outcome["seconds"] < 10


def test_the_watcher_fetches_mail_as_soon_as_it_arrives(imap_server, imap_mailbox):  # noqa: F811
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_mailbox, args=(imap_mailbox.pk, stop), kwargs={"idle_seconds": 3}
    )
    watcher.start()
    try:
        time.sleep(1.0)
        imap_server.deliver(imap_mailbox.imap_username, compose(message_id=unique_id()))
        deadline = time.monotonic() + 10
        while not Ticket.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert Ticket.objects.count() == 1
    finally:
        stop.set()
        watcher.join(10)
    assert not watcher.is_alive()


def test_replies_go_out_over_smtp_with_threading_headers(
    personas,
    smtp_server,  # noqa: F811
):
    mailbox = Mailbox.objects.create(
        name="service",
        address="service@huaning.example",
        display_name="华宁售后",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=MailSecurity.NONE,
    )
    first_id = unique_id()
    from aftercare.intake.inbound import receive_email

    receive_email(source=compose(message_id=first_id), via="import", mailbox=mailbox)

    ((sender, recipients, content),) = smtp_server.received
    sent = message_from_bytes(content, policy=default_policy)
    outbound = OutboundEmail.objects.get()
    assert (sender, recipients) == ("service@huaning.example", ["zhangwei@example.cn"])
    assert sent["Message-ID"] == f"<{outbound.message_id}>"
    assert sent["In-Reply-To"] == f"<{first_id}>"
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["Reply-To"] == "华宁售后 <service@huaning.example>"
    assert str(sent["Subject"]).endswith("我们已收到您的服务请求：空调不制冷")
    assert "工单号" in sent.get_content()


def test_mail_queued_while_smtp_is_down_goes_out_when_it_is_back(personas):
    port = free_port()
    mailbox = Mailbox.objects.create(
        name="service",
        address="service@huaning.example",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=MailSecurity.NONE,
    )
    from aftercare.intake.inbound import receive_email

    receive_email(source=compose(message_id=unique_id()), via="import", mailbox=mailbox)
    outbound = OutboundEmail.objects.get()
    assert (outbound.status, outbound.attempts) == (OutboundStatus.QUEUED, 1)

    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert deliver_due_email.call_local() == 0  # not due yet: the back-off holds
        OutboundEmail.objects.update(next_attempt_at=timezone.now())
        assert deliver_due_email.call_local() == 1
    finally:
        controller.stop()

    outbound.refresh_from_db()
    assert (outbound.status, outbound.attempts, outbound.last_error) == ("sent", 2, "")
    assert len(received) == 1
