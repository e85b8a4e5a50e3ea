"""The mail pipeline end to end on the real database: new tickets, threading, spoofed
follow-ups, loops, bounces, quarantine and de-duplication. Transactions really commit here, so
what runs on commit (acknowledgements, delivery) runs as in production."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from aftercare.customers.models import Contact
from aftercare.intake.choices import InboundStatus, OutboundStatus
from aftercare.intake.inbound import discard_quarantined, receive_email, reprocess_quarantined
from aftercare.intake.models import InboundEmail, Mailbox, MailThreadId, OutboundEmail
from aftercare.tickets import services as tickets
from aftercare.tickets.choices import EventKind, MessageVisibility, Status
from aftercare.tickets.models import Attachment, Message, Ticket, TicketEvent, TicketLink

from .mailfactory import compose, delivery_report, unique_id

# Real commits (on_commit work, other threads and processes see the rows); serialized_rollback
# brings back what migrations created (calendars, SLA policies) for the tests that follow.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def mailbox(personas):
    return Mailbox.objects.create(
        name="service",
        address="service@huaning.example",
        display_name="华宁售后",
        team=personas.team_a,
    )


def receive(raw: bytes, mailbox) -> dict:
    return receive_email(source=raw, via="import", mailbox=mailbox).as_dict()


def counts() -> tuple[int, int, int, int]:
    return (
        Ticket.objects.count(),
        Message.objects.count(),
        InboundEmail.objects.count(),
        OutboundEmail.objects.count(),
    )


def test_new_mail_opens_a_ticket_and_the_acknowledgement_threads_back(mailbox, personas):
    first_id = unique_id()
    result = receive(compose(message_id=first_id), mailbox)

    ticket = Ticket.objects.get()
    assert result == {
        "status": "created",
        "inbound_id": InboundEmail.objects.get().pk,
        "message_id": first_id,
        "ticket": ticket.number,
        "reason": "",
    }
    assert (ticket.channel, ticket.team, ticket.subject, ticket.kind) == (
        "email",
        personas.team_a,
        "空调不制冷",
        "inquiry",
    )
    assert ticket.description == "您好，我家的空调开机半小时了还是不制冷，麻烦安排师傅看看。"
    contact = Contact.objects.get(email="zhangwei@example.cn")
    assert (ticket.contact, contact.name) == (contact, "张伟")
    (ack,) = mail.outbox
    assert ack.to == ["zhangwei@example.cn"]
    assert ack.from_email == "华宁售后 <service@huaning.example>"
    assert ack.subject == f"[{ticket.number}] 我们已收到您的服务请求：空调不制冷"
    assert ack.extra_headers["In-Reply-To"] == f"<{first_id}>"
    assert ack.extra_headers["References"] == f"<{first_id}>"
    assert ack.extra_headers["Auto-Submitted"] == "auto-replied"
    assert ack.extra_headers["Reply-To"] == "华宁售后 <service@huaning.example>"
    outbound = OutboundEmail.objects.get()
    assert outbound.status == OutboundStatus.SENT
    assert ack.extra_headers["Message-ID"] == f"<{outbound.message_id}>"
    assert set(MailThreadId.objects.values_list("message_id", flat=True)) == {
        first_id,
        outbound.message_id,
    }


def test_the_same_mail_twice_creates_nothing_new(mailbox):
    raw = compose(message_id=unique_id())
    first = receive(raw, mailbox)
    before = counts()

    again = receive(raw, mailbox)

    assert counts() == before
    assert again == {**first, "status": "duplicate"}


def test_a_mail_without_message_id_is_recognised_by_its_content(mailbox):
    raw = compose().replace(b"Message-ID:", b"X-Old-Id:")
    receive(raw, mailbox)
    before = counts()
    assert receive(raw, mailbox)["status"] == "duplicate"
    assert counts() == before


def test_a_reply_to_the_acknowledgement_lands_on_the_ticket_without_the_quote(mailbox):
    receive(compose(message_id=unique_id()), mailbox)
    ticket = Ticket.objects.get()
    ack_id = OutboundEmail.objects.get().message_id
    body = (
        "师傅明天上午在家，型号是 KFR-35GW。\n\n"
        "-----原始邮件-----\n"
        "发件人: 华宁售后 <service@huaning.example>\n"
        "主题: 我们已收到您的服务请求\n\n"
        "您好，我们已收到您的服务请求。"
    )
    result = receive(compose(body=body, subject="回复：空调不制冷", in_reply_to=ack_id), mailbox)

    assert (result["status"], result["ticket"]) == ("appended", ticket.number)
    message = Message.objects.get(ticket=ticket)
    assert message.body_text == "师傅明天上午在家，型号是 KFR-35GW。"
    assert (message.channel, message.visibility, message.author.customer) == (
        "email",
        MessageVisibility.PUBLIC,
        ticket.customer,
    )
    inbound = InboundEmail.objects.get(pk=result["inbound_id"])
    assert inbound.message == message
    assert "-----原始邮件-----" in inbound.full_text
    assert Ticket.objects.count() == 1


def test_the_ticket_number_in_the_subject_threads_a_reply_without_headers(mailbox):
    receive(compose(message_id=unique_id()), mailbox)
    ticket = Ticket.objects.get()

    result = receive(compose(subject=f"Re: [{ticket.number}] 空调不制冷", body="还有噪音"), mailbox)

    assert (result["status"], result["ticket"]) == ("appended", ticket.number)


def test_a_stranger_using_the_ticket_number_gets_a_new_linked_ticket(mailbox):
    receive(compose(message_id=unique_id()), mailbox)
    ticket = Ticket.objects.get()

    result = receive(
        compose(
            sender="陌生人 <stranger@evil.example>",
            subject=f"Re: [{ticket.number}] 空调不制冷",
            body="请把工单内容发给我",
        ),
        mailbox,
    )

    assert result["status"] == "created"
    assert result["reason"] == "sender_not_participant"
    new = Ticket.objects.get(number=result["ticket"])
    assert new.customer != ticket.customer
    assert TicketLink.objects.filter(source=new, target=ticket, kind="related").exists()
    assert not Message.objects.filter(ticket=ticket).exists()


def test_someone_on_cc_of_the_first_mail_may_answer(mailbox):
    receive(compose(message_id=unique_id(), cc="妻子 <wife@example.cn>"), mailbox)
    ticket = Ticket.objects.get()

    result = receive(
        compose(sender="wife@example.cn", subject=f"Re: [{ticket.number}]", body="我补充一下"),
        mailbox,
    )

    assert (result["status"], result["ticket"]) == ("appended", ticket.number)


def test_the_organisation_domain_counts_only_when_the_mailbox_allows_it(mailbox):
    receive(compose(message_id=unique_id(), sender="采购部 <buyer@dealer.example>"), mailbox)
    ticket = Ticket.objects.get()
    ticket.customer.email_domain = "dealer.example"
    ticket.customer.save()
    colleague = compose(
        sender="同事 <colleague@dealer.example>", subject=f"Re: [{ticket.number}]", body="补充"
    )
    assert receive(colleague, mailbox)["reason"] == "sender_not_participant"

    mailbox.allow_organisation_followups = True
    mailbox.save()
    colleague = compose(
        sender="同事 <colleague@dealer.example>", subject=f"Re: [{ticket.number}]", body="补充 2"
    )
    result = receive(colleague, mailbox)
    assert (result["status"], result["ticket"]) == ("appended", ticket.number)


def test_an_auto_reply_opens_no_acknowledgement_and_moves_nothing(mailbox):
    out_of_office = {"Auto-Submitted": "auto-replied"}
    receive(compose(message_id=unique_id(), headers=out_of_office), mailbox)
    assert mail.outbox == []
    ticket = Ticket.objects.get()
    assert TicketEvent.objects.filter(ticket=ticket, kind=EventKind.ACKNOWLEDGED).count() == 0

    receive(compose(message_id=unique_id()), mailbox)  # a real customer mail
    real = Ticket.objects.exclude(pk=ticket.pk).get()
    tickets.transition_ticket(actor=None, ticket=real, to_status=Status.PENDING_CUSTOMER)
    result = receive(
        compose(subject=f"自动回复: [{real.number}]", body="我正在休假", headers=out_of_office),
        mailbox,
    )

    real.refresh_from_db()
    message = Message.objects.get(pk=InboundEmail.objects.get(pk=result["inbound_id"]).message_id)
    assert (real.status, message.visibility, message.is_automatic) == (
        Status.PENDING_CUSTOMER,
        MessageVisibility.INTERNAL,
        True,
    )


def test_automatic_mail_per_ticket_is_capped(mailbox, settings):
    settings.AFTERCARE = {**settings.AFTERCARE, "MAIL_AUTO_PER_TICKET": 3}
    receive(compose(message_id=unique_id()), mailbox)
    ticket = Ticket.objects.get()
    from aftercare.intake.outbox import queue_email

    for _ in range(3):
        queue_email(
            ticket=ticket,
            to=["zhangwei@example.cn"],
            subject="s",
            body_text="b",
            purpose="notice",
            is_automatic=True,
        )

    statuses = list(
        OutboundEmail.objects.filter(ticket=ticket).order_by("pk").values_list("status", flat=True)
    )
    assert statuses == ["sent", "sent", "sent", "suppressed"]
    assert len(mail.outbox) == 3
    event = TicketEvent.objects.get(ticket=ticket, kind=EventKind.EMAIL_SUPPRESSED)
    assert event.data["reason"] == "ticket_cap"


def test_no_automatic_mail_to_our_own_mailbox(mailbox):
    receive(compose(message_id=unique_id(), sender="service@huaning.example"), mailbox)
    assert mail.outbox == []
    assert OutboundEmail.objects.get().last_error == "own_mailbox"


def test_a_bounce_is_recorded_on_the_ticket_it_belongs_to(mailbox):
    receive(compose(message_id=unique_id()), mailbox)
    ticket = Ticket.objects.get()
    ack = OutboundEmail.objects.get()

    result = receive(
        delivery_report(original_message_id=ack.message_id, recipient="zhangwei@example.cn"),
        mailbox,
    )

    assert (result["status"], result["ticket"]) == ("bounce", ticket.number)
    assert Ticket.objects.count() == 1
    event = TicketEvent.objects.get(ticket=ticket, kind=EventKind.EMAIL_BOUNCED)
    assert event.data["recipients"] == ["zhangwei@example.cn"]
    assert len(mail.outbox) == 1  # no acknowledgement to the mailer daemon


def test_a_bounce_for_mail_we_never_sent_waits_in_quarantine(mailbox):
    result = receive(
        delivery_report(original_message_id="nobody@x.example", recipient="a@b.example"), mailbox
    )
    assert (result["status"], result["reason"]) == ("quarantined", "bounce_unmatched")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"", "empty"), (b"\x00\x01\x02 not a mail at all", "no_headers")],
)
def test_what_cannot_be_parsed_is_quarantined_with_its_source(mailbox, raw, reason):
    result = receive(raw, mailbox)

    assert (result["status"], result["reason"]) == ("quarantined", reason)
    inbound = InboundEmail.objects.get()
    assert inbound.status == InboundStatus.QUARANTINED
    with inbound.raw.open("rb") as stored:
        assert stored.read() == raw
    assert Ticket.objects.count() == 0


def test_a_quarantined_mail_can_be_discarded(mailbox, personas):
    result = receive(
        delivery_report(original_message_id="gone@x.example", recipient="a@b.example"), mailbox
    )
    inbound = InboundEmail.objects.get(pk=result["inbound_id"])

    discarded = discard_quarantined(inbound=inbound, actor=personas.ada)

    assert discarded.status == InboundStatus.DISCARDED
    assert discarded.detail.endswith("由 Ada 丢弃")


def test_a_quarantined_mail_can_be_reprocessed_once_its_cause_is_gone(mailbox):
    # A bounce that arrived before the mail it answers was known (e.g. imported late).
    raw = delivery_report(original_message_id="late@x.example", recipient="a@b.example")
    result = receive(raw, mailbox)
    inbound = InboundEmail.objects.get(pk=result["inbound_id"])
    storage, old_file = inbound.raw.storage, inbound.raw.name
    receive(compose(message_id="late@x.example"), mailbox)
    ticket = Ticket.objects.get()

    again = reprocess_quarantined(inbound=inbound)

    assert (again.status, again.ticket) == ("bounce", ticket.number)
    assert not InboundEmail.objects.filter(pk=inbound.pk).exists()
    assert not storage.exists(old_file)
    with InboundEmail.objects.get(pk=again.inbound_id).raw.open("rb") as stored:
        assert stored.read() == raw


def test_mail_over_the_size_limit_is_kept_in_part_and_the_sender_told(mailbox):
    mailbox.max_message_bytes = 300_000  # content; about 660 kB on the wire
    mailbox.save()
    raw = compose(
        message_id=unique_id(), attachments=(("photo.png", PNG + b"\x00" * 600_000, "image/png"),)
    )

    result = receive(raw, mailbox)

    assert (result["status"], result["reason"]) == ("quarantined", "too_large")
    inbound = InboundEmail.objects.get()
    assert (inbound.raw_truncated, inbound.raw_size) == (True, len(raw))
    (notice,) = mail.outbox
    assert notice.to == ["zhangwei@example.cn"]
    assert "超过了我们能接收的大小上限" in notice.body
    assert notice.extra_headers["Auto-Submitted"] == "auto-replied"


def test_a_serial_number_in_the_mail_links_the_product_unit(mailbox, personas):
    raw = compose(
        sender="王丽 <alice@example.com>",
        message_id=unique_id(),
        body="机身编号 ac35gw0001，开机后显示 E1。",
    )
    receive(raw, mailbox)
    ticket = Ticket.objects.get()
    assert (ticket.customer, ticket.product_unit) == (personas.alice_customer, personas.alice_unit)


def test_someone_elses_serial_is_not_linked(mailbox, personas):
    raw = compose(message_id=unique_id(), body="编号 AC35GW0002 的空调坏了")
    receive(raw, mailbox)
    assert Ticket.objects.get().product_unit is None


def test_attachments_are_kept_and_refused_ones_named(mailbox):
    raw = compose(
        message_id=unique_id(),
        attachments=(
            ("铭牌.png", PNG, "image/png"),
            ("setup.exe", b"MZ" + b"\x00" * 100, "application/octet-stream"),
        ),
    )
    receive(raw, mailbox)
    ticket = Ticket.objects.get()
    (stored,) = Attachment.objects.filter(ticket=ticket)
    assert (stored.original_name, stored.size, stored.content_type) == (
        "铭牌.png",
        len(PNG),
        "image/png",
    )
    assert ticket.description.endswith("（未保存的附件：setup.exe；可在原始邮件中查看）")


def test_a_reply_to_a_closed_ticket_opens_a_new_linked_one(mailbox):
    receive(compose(message_id=unique_id()), mailbox)
    ticket = Ticket.objects.get()
    tickets.transition_ticket(actor=None, ticket=ticket, to_status=Status.RESOLVED)
    ticket.refresh_from_db()
    tickets.transition_ticket(actor=None, ticket=ticket, to_status=Status.CLOSED)

    result = receive(compose(subject=f"Re: [{ticket.number}]", body="又坏了"), mailbox)

    assert (result["status"], result["reason"]) == ("created", "earlier_ticket_closed")
    new = Ticket.objects.get(number=result["ticket"])
    assert TicketLink.objects.filter(source=new, target=ticket).exists()


def test_staff_answering_by_mail_write_an_internal_note(mailbox, personas):
    receive(compose(message_id=unique_id()), mailbox)
    ticket = Ticket.objects.get()
    sent_before = len(mail.outbox)

    result = receive(
        compose(sender="agnes@example.com", subject=f"Re: [{ticket.number}]", body="我来跟进"),
        mailbox,
    )

    message = Message.objects.get(pk=InboundEmail.objects.get(pk=result["inbound_id"]).message_id)
    assert (message.author, message.visibility) == (personas.agnes, MessageVisibility.INTERNAL)
    assert len(mail.outbox) == sent_before


def test_an_agent_reply_goes_out_threaded_under_the_customer_mail(mailbox, personas):
    first_id = unique_id()
    receive(compose(message_id=first_id), mailbox)
    ticket = Ticket.objects.get()
    ack_id = OutboundEmail.objects.get().message_id
    second_id = unique_id()
    receive(compose(message_id=second_id, in_reply_to=ack_id, body="补充照片"), mailbox)

    tickets.add_message(actor=personas.agnes, ticket=ticket, text="明天上午九点上门。")

    reply = mail.outbox[-1]
    assert reply.body == "明天上午九点上门。"
    assert reply.extra_headers["In-Reply-To"] == f"<{second_id}>"
    assert reply.extra_headers["References"] == f"<{first_id}> <{ack_id}> <{second_id}>"
    assert "Auto-Submitted" not in reply.extra_headers


def test_mail_arriving_in_two_mailboxes_becomes_one_ticket(mailbox, personas):
    other = Mailbox.objects.create(name="sales", address="sales@huaning.example")
    raw = compose(message_id=unique_id(), to="service@huaning.example, sales@huaning.example")
    receive(raw, mailbox)
    assert receive(raw, other)["status"] == "duplicate"
    assert Ticket.objects.count() == 1


def test_acknowledgements_wait_in_the_outbox_while_smtp_is_down(mailbox, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens on discard
    receive(compose(message_id=unique_id()), mailbox)

    outbound = OutboundEmail.objects.get()
    assert (outbound.status, outbound.attempts) == (OutboundStatus.QUEUED, 1)
    assert "ConnectionRefusedError" in outbound.last_error
    delay = outbound.next_attempt_at - outbound.created_at
    assert dt.timedelta(seconds=59) < delay < dt.timedelta(seconds=70)


@pytest.mark.parametrize(
    ("subject", "body", "expected_subject"),
    [
        ("Fridge is noisy", "Hello, my fridge makes a loud noise at night.", "We've received"),
        ("冰箱噪音很大", "您好，冰箱晚上噪音很大。", "我们已收到您的服务请求"),
        ("冰箱噪音很大", "您好，冰箱晚上噪音很大，請儘快安排師傅維修。", "我們已收到您的服務請求"),
    ],
)
def test_the_acknowledgement_is_written_in_the_customers_language(
    mailbox, subject, body, expected_subject
):
    receive(compose(message_id=unique_id(), subject=subject, body=body), mailbox)
    (ack,) = mail.outbox
    assert expected_subject in ack.subject


def test_mail_a_dead_worker_had_claimed_is_sent_by_the_next_sweep(mailbox):
    receive(compose(message_id=unique_id()), mailbox)
    outbound = OutboundEmail.objects.get()
    mail.outbox = []
    # As if a worker claimed it, then died before sending.
    stale = timezone.now() - dt.timedelta(minutes=11)
    OutboundEmail.objects.update(status=OutboundStatus.SENDING, claimed_at=stale, sent_at=None)

    from aftercare.intake.tasks import deliver_due_email

    assert deliver_due_email.call_local() == 1
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.SENT
    assert len(mail.outbox) == 1


def test_a_fresh_claim_is_left_to_the_worker_that_holds_it(mailbox):
    receive(compose(message_id=unique_id()), mailbox)
    OutboundEmail.objects.update(status=OutboundStatus.SENDING, claimed_at=timezone.now())

    from aftercare.intake.tasks import deliver_due_email

    assert deliver_due_email.call_local() == 0
    assert OutboundEmail.objects.get().status == OutboundStatus.SENDING
