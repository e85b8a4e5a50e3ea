"""The two other ways in: the inbound webhook and `mail_import` on files, maildirs and mboxes."""

import json
import mailbox as mailboxes
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from aftercare.intake.models import InboundEmail, Mailbox
from aftercare.intake.services import issue_webhook_token
from aftercare.tickets.models import Ticket

from .mailfactory import compose, unique_id

# Real commits (on_commit work, other threads and processes see the rows); serialized_rollback
# brings back what migrations created (calendars, SLA policies) for the tests that follow.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def mailbox(personas):
    return Mailbox.objects.create(
        name="service", address="service@huaning.example", team=personas.team_a
    )


def post_mail(raw: bytes, token: str | None, query: str = ""):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().post(
        f"/api/v1/intake/email{query}", data=raw, content_type="message/rfc822", headers=headers
    )


def test_a_forwarding_service_posts_raw_mail_with_the_mailbox_token(mailbox, personas):
    token = issue_webhook_token(mailbox=mailbox)
    message_id = unique_id()

    response = post_mail(compose(message_id=message_id), token)

    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert response.json() == {
        "status": "created",
        "inbound_id": InboundEmail.objects.get().pk,
        "message_id": message_id,
        "ticket": ticket.number,
        "reason": "",
    }
    assert ticket.team == personas.team_a
    assert InboundEmail.objects.get().source == "webhook"
    again = post_mail(compose(message_id=message_id), token)
    assert again.json()["status"] == "duplicate"


def test_the_webhook_takes_mail_larger_than_the_form_upload_limit(mailbox):
    token = issue_webhook_token(mailbox=mailbox)
    big = compose(
        message_id=unique_id(), attachments=(("log.txt", b"x" * 3_000_000, "text/plain"),)
    )
    response = post_mail(big, token)
    assert (response.status_code, response.json()["status"]) == (200, "created")


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [(None, 401, "not_authenticated"), ("acm_wrong", 401, "not_authenticated")],
)
def test_the_webhook_refuses_without_a_valid_token(mailbox, token, status, code):
    response = post_mail(compose(), token)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert InboundEmail.objects.count() == 0


def test_only_admins_may_post_mail_with_their_own_token(mailbox, personas, api):
    from aftercare.accounts.services import create_api_token

    _, agent_token = create_api_token(user=personas.agnes, name="t")
    _, admin_token = create_api_token(user=personas.ada, name="t")

    refused = post_mail(compose(), agent_token, "?mailbox=service")
    accepted = post_mail(compose(message_id=unique_id()), admin_token, "?mailbox=service")
    unknown = post_mail(compose(), admin_token, "?mailbox=nope")

    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert accepted.json()["status"] == "created"
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_mailbox")


def test_an_empty_body_is_a_clear_error(mailbox):
    response = post_mail(b"", issue_webhook_token(mailbox=mailbox))
    assert (response.status_code, response.json()["code"]) == (422, "message_empty")


def test_a_revoked_token_stops_working(mailbox):
    old = issue_webhook_token(mailbox=mailbox)
    issue_webhook_token(mailbox=mailbox)
    assert post_mail(compose(), old).status_code == 401


def run_import(*args) -> list[dict]:
    out = StringIO()
    call_command("mail_import", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_mail_import_reads_an_eml_file(tmp_path, mailbox):
    path = tmp_path / "one.eml"
    message_id = unique_id()
    path.write_bytes(compose(message_id=message_id))

    (line,) = run_import(str(path), "--mailbox", "service")

    ticket = Ticket.objects.get()
    assert line == {
        "source": str(path),
        "status": "created",
        "inbound_id": InboundEmail.objects.get().pk,
        "message_id": message_id,
        "ticket": ticket.number,
        "reason": "",
    }
    assert ticket.team is not None


def test_mail_import_reads_an_mbox_and_a_maildir(tmp_path, mailbox):
    box = mailboxes.mbox(str(tmp_path / "archive.mbox"))
    for subject in ("冰箱异响", "冰箱不制冷"):
        box.add(compose(message_id=unique_id(), subject=subject))
    box.flush()
    maildir = mailboxes.Maildir(str(tmp_path / "Maildir"))
    maildir.add(compose(message_id=unique_id(), subject="热水器漏电"))
    maildir.add(b"garbage without any header")

    lines = run_import(str(tmp_path / "archive.mbox")) + run_import(str(tmp_path / "Maildir"))

    assert [line["status"] for line in lines[:2]] == ["created", "created"]
    assert sorted(line["status"] for line in lines[2:]) == ["created", "quarantined"]
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == [
        "冰箱不制冷",
        "冰箱异响",
        "热水器漏电",
    ]
    assert run_import(str(tmp_path / "archive.mbox"))[0]["status"] == "duplicate"


def test_mail_import_names_what_is_wrong_with_its_arguments(tmp_path):
    with pytest.raises(CommandError, match="找不到"):
        run_import(str(tmp_path / "missing.eml"))
    (tmp_path / "x.eml").write_bytes(compose())
    with pytest.raises(CommandError, match="服务邮箱 nope 不存在"):
        run_import(str(tmp_path / "x.eml"), "--mailbox", "nope")


def test_every_channel_goes_through_the_same_intake_a_serial_in_an_api_request(personas, api):
    response = api(personas.alice).post(
        "tickets",
        {"kind": "repair", "subject": "空调漏水", "description": "机身编号 AC35GW0001，室内机漏水"},
    )

    assert response.status_code == 201
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert ticket.product_unit == personas.alice_unit


def test_a_serial_of_another_customer_is_not_taken_from_an_api_request(personas, api):
    response = api(personas.alice).post(
        "tickets", {"kind": "repair", "subject": "空调漏水", "description": "编号 AC35GW0002"}
    )
    assert Ticket.objects.get(pk=response.json()["id"]).product_unit is None


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_open_the_whole_original_mail_from_the_conversation(mailbox, personas):
    from aftercare.intake.inbound import receive_email

    receive_email(source=compose(message_id=unique_id()), via="import", mailbox=mailbox)
    ticket = Ticket.objects.get()
    quoted = (
        "好的，周六上门。\n\n-----原始邮件-----\n发件人: 华宁售后\n\n"
        "<script>alert(1)</script>旧内容"
    )
    result = receive_email(
        source=compose(subject=f"Re: [{ticket.number}]", body=quoted), via="import", mailbox=mailbox
    )
    inbound = InboundEmail.objects.get(pk=result.inbound_id)

    page = signed_in(personas.agnes).get(f"/tickets/{ticket.pk}/")
    assert page.status_code == 200
    assert f'href="/mail/{inbound.pk}/"' in page.content.decode()
    assert "-----原始邮件-----" not in page.content.decode()

    original = signed_in(personas.agnes).get(f"/mail/{inbound.pk}/")
    body = original.content.decode()
    assert original.status_code == 200
    assert "-----原始邮件-----" in body
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_the_original_mail_is_not_for_customers_or_other_teams(mailbox, personas):
    from aftercare.intake.inbound import receive_email

    result = receive_email(
        source=compose(message_id=unique_id(), sender="王丽 <alice@example.com>"),
        via="import",
        mailbox=mailbox,
    )
    url = f"/mail/{result.inbound_id}/"
    assert signed_in(personas.alice).get(url).status_code == 404
    assert signed_in(personas.bert).get(url).status_code == 404  # team B, ticket of team A
    assert signed_in(personas.ada).get(url).status_code == 200
