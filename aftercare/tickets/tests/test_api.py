import datetime as dt
import re

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from aftercare.tickets.models import Attachment, Message, Ticket, TicketEvent

pytestmark = pytest.mark.django_db(transaction=False)

NEW_TICKET = {
    "kind": "repair",
    "subject": "空调不制冷",
    "description": "客厅的挂机开了两个小时还是不制冷，外机有异响。",
    "customer": {"name": "张三", "mobile": "+86 139-0000-1234", "email": "zhang@example.com"},
    "serial": None,
    "priority": "urgent",
}


def create(client, **overrides):
    body = {**NEW_TICKET, **overrides}
    body = {k: v for k, v in body.items() if v is not None}
    return client.post("tickets", body)


def test_agent_opens_ticket_for_new_customer(personas, api, django_capture_on_commit_callbacks):
    agent = api(personas.agnes)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        response = create(agent, team_id=personas.team_a.pk)
    assert response.status_code == 201, response.content
    body = response.json()
    year = timezone.localtime().year
    assert re.fullmatch(rf"AC-{year}-\d{{6}}", body["number"])
    assert len(body["public_reference"]) >= 22
    assert body["status"] == "new"
    assert body["priority"] == "urgent"
    assert body["customer"]["name"] == "张三"
    assert body["contact"]["mobile"] == "13900001234"
    # Urgent: first response within 2 hours on the 24x7 calendar, to the second.
    created = dt.datetime.fromisoformat(body["created_at"])
    assert created >= before
    assert dt.datetime.fromisoformat(body["due_at"]) == created.replace(
        microsecond=0
    ) + dt.timedelta(hours=2)
    ticket = Ticket.objects.get(pk=body["id"])
    assert list(ticket.events.values_list("kind", flat=True)) == [
        "created",
        "sla_applied",
        "acknowledged",
    ]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["zhang@example.com"]
    assert body["number"] in mail.outbox[0].subject


def test_second_ticket_same_mobile_reuses_customer(personas, api):
    agent = api(personas.agnes)
    first = create(agent).json()
    second = create(agent, customer={"name": "张先生", "mobile": "13900001234"}).json()
    assert second["customer"]["id"] == first["customer"]["id"]
    assert int(second["number"][-6:]) == int(first["number"][-6:]) + 1


def test_ticket_numbers_count_per_year(personas, api):
    agent = api(personas.agnes)
    numbers = [create(agent).json()["number"] for _ in range(3)]
    serials = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert serials == [serials[0], serials[0] + 1, serials[0] + 2]


def test_idempotency_key_same_body_returns_same_ticket(personas, api):
    agent = api(personas.agnes)
    headers = {"Idempotency-Key": "order-778899-report"}
    first = agent.post("tickets", NEW_TICKET, headers=headers)
    again = agent.post("tickets", NEW_TICKET, headers=headers)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Ticket.objects.count() == 1


def test_idempotency_key_different_body_is_422(personas, api):
    agent = api(personas.agnes)
    headers = {"Idempotency-Key": "k-1"}
    agent.post("tickets", NEW_TICKET, headers=headers)
    other = agent.post("tickets", NEW_TICKET | {"subject": "别的问题"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert Ticket.objects.count() == 1


def test_customer_opens_ticket_for_own_unit(personas, api):
    alice = api(personas.alice)
    response = alice.post("tickets", {"kind": "repair", "subject": "漏水", "serial": "ac35gw0001"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["customer"]["id"] == personas.alice_customer.pk
    assert body["product_unit"]["serial"] == "AC35GW0001"
    assert body["assignee"] is None


def test_customer_cannot_use_someone_elses_unit(personas, api):
    alice = api(personas.alice)
    response = alice.post("tickets", {"kind": "repair", "subject": "漏水", "serial": "AC35GW0002"})
    assert response.status_code == 404
    assert response.json()["code"] == "unit_not_found"


@pytest.mark.parametrize(
    "field,value", [("priority", "urgent"), ("team_id", 1), ("assignee_id", 1), ("tags", ["vip"])]
)
def test_customer_cannot_set_agent_fields(personas, api, field, value):
    alice = api(personas.alice)
    response = alice.post("tickets", {"kind": "repair", "subject": "漏水", field: value})
    assert response.status_code == 403
    assert response.json()["code"] == "fields_refused"
    assert Ticket.objects.count() == 0


def test_validation_error_shape_and_language(personas, api):
    agent = api(personas.agnes, language="en")
    response = agent.post("tickets", {"kind": "teleport", "subject": ""})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["message"] == "Invalid input"
    assert {tuple(d["loc"][-1:]) for d in body["details"]} >= {("kind",), ("subject",)}


def test_malformed_json_is_400(personas, api):
    agent = api(personas.agnes)
    response = agent.client.post(
        "/api/v1/tickets", data="{not json", content_type="application/json", headers=agent.headers
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


def test_unauthenticated_is_401(db, api):
    response = api(None).get("tickets")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_invalid_transition_refused(personas, api):
    agent = api(personas.agnes)
    ticket = create(agent, team_id=personas.team_a.pk).json()
    response = agent.post(f"tickets/{ticket['id']}/transition", {"status": "new"})
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    ok = agent.post(f"tickets/{ticket['id']}/transition", {"status": "resolved"})
    assert ok.json()["status"] == "resolved"
    bad = agent.post(f"tickets/{ticket['id']}/transition", {"status": "on_hold"})
    assert bad.status_code == 409
    assert bad.json()["details"] == {
        "from": "resolved",
        "to": "on_hold",
        "allowed": ["closed", "open"],
    }


def test_reopen_window(personas, api, settings):
    agent = api(personas.agnes)
    ticket_id = create(agent, team_id=personas.team_a.pk).json()["id"]
    agent.post(f"tickets/{ticket_id}/transition", {"status": "resolved"})
    Ticket.objects.filter(pk=ticket_id).update(resolved_at=timezone.now() - dt.timedelta(days=15))
    late = agent.post(f"tickets/{ticket_id}/transition", {"status": "open"})
    assert late.status_code == 409
    assert late.json()["code"] == "reopen_window_passed"
    Ticket.objects.filter(pk=ticket_id).update(resolved_at=timezone.now() - dt.timedelta(days=13))
    assert agent.post(f"tickets/{ticket_id}/transition", {"status": "open"}).status_code == 200


def test_timeline_records_before_and_after(personas, api):
    agent = api(personas.lena)
    ticket_id = create(agent, team_id=personas.team_a.pk).json()["id"]
    agent.patch(
        f"tickets/{ticket_id}",
        {"priority": "complex", "assignee_id": personas.agnes.pk, "subject": "空调不制冷且漏水"},
    )
    events = agent.get(f"tickets/{ticket_id}/timeline").json()
    changes = [
        (e["kind"], e["field"], e["before"], e["after"])
        for e in events
        if e["kind"] in ("field_changed", "assigned", "status_changed")
    ]
    assert changes == [
        ("field_changed", "subject", "空调不制冷", "空调不制冷且漏水"),
        ("field_changed", "priority", "urgent", "complex"),
        ("assigned", "assignee", None, {"id": personas.agnes.pk, "label": "Agnes"}),
        ("status_changed", "status", "new", "open"),
    ]
    system = {"acknowledged", "sla_applied"}
    assert all(e["actor"]["id"] == personas.lena.pk for e in events if e["kind"] not in system)
    # The priority change re-evaluated the SLA: 12 business hours instead of 2 hours.
    reevaluated = [e["data"] for e in events if e["kind"] == "sla_applied" and e["actor"]]
    assert [(d["metric"], d["from_minutes"], d["to_minutes"]) for d in reevaluated] == [
        ("first_response", 120, 720),
        ("resolution", 1440, 2880),
    ]


def test_customer_reply_flow_and_internal_notes_hidden(personas, api):
    agent = api(personas.agnes)
    alice = api(personas.alice)
    ticket_id = alice.post("tickets", {"kind": "inquiry", "subject": "安装预约"}).json()["id"]
    agent.patch(f"tickets/{ticket_id}", {"team_id": personas.team_a.pk})
    note = agent.post(
        f"tickets/{ticket_id}/messages", {"text": "客户是老用户", "visibility": "internal"}
    )
    assert note.status_code == 201
    reply = agent.post(
        f"tickets/{ticket_id}/messages", {"html": "<p>您好<script>alert(1)</script></p>"}
    )
    assert reply.json()["html"] == "<p>您好</p>"
    ticket = Ticket.objects.get(pk=ticket_id)
    assert ticket.first_response_at is not None and ticket.status == "open"
    agent.post(f"tickets/{ticket_id}/transition", {"status": "pending_customer"})
    alice.post(f"tickets/{ticket_id}/messages", {"text": "周六上午可以"})
    assert Ticket.objects.get(pk=ticket_id).status == "open"
    seen_by_alice = alice.get(f"tickets/{ticket_id}/messages").json()
    assert [m["text"] for m in seen_by_alice] == ["您好", "周六上午可以"]
    assert len(agent.get(f"tickets/{ticket_id}/messages").json()) == 3
    timeline_kinds = [e["kind"] for e in alice.get(f"tickets/{ticket_id}/timeline").json()]
    assert timeline_kinds.count("message_added") == 2
    refused = alice.post(f"tickets/{ticket_id}/messages", {"text": "x", "visibility": "internal"})
    assert refused.status_code == 403
    assert Message.objects.filter(ticket_id=ticket_id).count() == 3


def test_customer_closes_and_cannot_reply_after(personas, api):
    alice = api(personas.alice)
    ticket_id = alice.post("tickets", {"kind": "inquiry", "subject": "咨询"}).json()["id"]
    assert alice.post(f"tickets/{ticket_id}/transition", {"status": "closed"}).status_code == 200
    response = alice.post(f"tickets/{ticket_id}/messages", {"text": "还有问题"})
    assert response.status_code == 409
    assert response.json()["code"] == "ticket_closed"


def test_customer_a_gets_404_for_customer_b(personas, api):
    bob = api(personas.bob)
    ticket_id = bob.post("tickets", {"kind": "repair", "subject": "洗衣机漏水"}).json()["id"]
    upload = SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png")
    attachment_id = bob.post(f"tickets/{ticket_id}/attachments", files={"file": upload}).json()[
        "id"
    ]
    alice = api(personas.alice)
    for path in (
        f"tickets/{ticket_id}",
        f"tickets/{ticket_id}/timeline",
        f"tickets/{ticket_id}/messages",
        f"attachments/{attachment_id}/download",
        "units/AC35GW0002",
        "units/AC35GW0002/warranty",
        "tickets/999999",
    ):
        response = alice.get(path)
        assert response.status_code == 404, path
    assert alice.get("tickets").json()["items"] == []


def test_attachment_download_headers(personas, api):
    alice = api(personas.alice)
    ticket_id = alice.post("tickets", {"kind": "repair", "subject": "漏水"}).json()["id"]
    payload = b"%PDF-1.4\n" + b"x" * 200
    upload = SimpleUploadedFile("发票.pdf", payload, "application/pdf")
    created = alice.post(f"tickets/{ticket_id}/attachments", files={"file": upload})
    assert created.status_code == 201, created.content
    response = alice.get(created.json()["download_url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == payload


@pytest.mark.parametrize(
    "name,content,code",
    [
        ("invoice.pdf.exe", b"MZ" + b"\0" * 50, "attachment_type_refused"),
        ("invoice.exe.pdf", b"%PDF-1.4 xx", "attachment_double_extension"),
        ("page.svg", b"<svg onload=alert(1)>", "attachment_type_refused"),
        ("photo.png", b"<html>not an image</html>", "attachment_content_mismatch"),
    ],
)
def test_attachment_refused_leaves_nothing(personas, api, settings, name, content, code):
    alice = api(personas.alice)
    ticket_id = alice.post("tickets", {"kind": "repair", "subject": "漏水"}).json()["id"]
    events_before = TicketEvent.objects.count()
    response = alice.post(
        f"tickets/{ticket_id}/attachments", files={"file": SimpleUploadedFile(name, content)}
    )
    assert response.status_code == 422
    assert response.json()["code"] == code
    assert Attachment.objects.count() == 0
    assert TicketEvent.objects.count() == events_before
    media = settings.MEDIA_ROOT
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_attachment_over_limit(personas, api, settings):
    settings.AFTERCARE = {**settings.AFTERCARE, "ATTACHMENT_MAX_BYTES": 1024}
    alice = api(personas.alice)
    ticket_id = alice.post("tickets", {"kind": "repair", "subject": "漏水"}).json()["id"]
    response = alice.post(
        f"tickets/{ticket_id}/attachments", files={"file": SimpleUploadedFile("a.txt", b"a" * 2048)}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "attachment_too_large"
    assert Attachment.objects.count() == 0


def test_links_and_merge(personas, api):
    agent = api(personas.agnes)
    first = create(agent, team_id=personas.team_a.pk).json()
    second = create(agent, team_id=personas.team_a.pk, subject="又不制冷了").json()
    agent.post(f"tickets/{second['id']}/messages", {"text": "第二次报修"})
    link = agent.post(
        f"tickets/{second['id']}/links", {"target_id": first["id"], "kind": "related"}
    )
    assert link.status_code == 201
    again = agent.post(
        f"tickets/{first['id']}/links", {"target_id": second["id"], "kind": "related"}
    )
    assert again.json()["code"] == "link_exists"
    merged = agent.post(f"tickets/{second['id']}/merge", {"target_id": first["id"]})
    assert merged.status_code == 200
    source = agent.get(f"tickets/{second['id']}").json()
    assert source["status"] == "closed"
    assert source["merged_into"] == {"id": first["id"], "number": first["number"]}
    texts = [m["text"] for m in agent.get(f"tickets/{first['id']}/messages").json()]
    assert texts == ["第二次报修"]
    kinds = [e["kind"] for e in agent.get(f"tickets/{first['id']}/timeline").json()]
    assert "merged_in" in kinds
    assert (
        agent.post(f"tickets/{second['id']}/transition", {"status": "open"}).json()["code"]
        == "ticket_merged"
    )


def test_parent_cycle_refused(personas, api):
    agent = api(personas.agnes)
    a, b = (create(agent, team_id=personas.team_a.pk).json()["id"] for _ in range(2))
    assert (
        agent.post(f"tickets/{a}/links", {"target_id": b, "kind": "parent_of"}).status_code == 201
    )
    response = agent.post(f"tickets/{b}/links", {"target_id": a, "kind": "parent_of"})
    assert response.json()["code"] == "link_cycle"


def test_list_filters_and_cursor(personas, api):
    agent = api(personas.lena)
    ids = [
        create(agent, team_id=personas.team_a.pk, priority=p).json()["id"]
        for p in ("urgent", "regular", "complex", "regular", "regular")
    ]
    page = agent.get("tickets", {"priority": "regular", "limit": 2}).json()
    assert [t["id"] for t in page["items"]] == [ids[4], ids[3]]
    page2 = agent.get(
        "tickets", {"priority": "regular", "limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [t["id"] for t in page2["items"]] == [ids[1]]
    assert page2["next_cursor"] is None
    queue = agent.get(
        "tickets", {"team_id": personas.team_a.pk, "open": True, "ordering": "due_at"}
    ).json()
    assert [t["id"] for t in queue["items"]][:1] == [ids[0]]
    bad = agent.get("tickets", {"cursor": "!!!"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"


def test_search_by_chinese_substring_number_and_mobile(personas, api):
    agent = api(personas.lena)
    first = create(agent, team_id=personas.team_a.pk).json()
    create(
        agent,
        team_id=personas.team_a.pk,
        subject="洗衣机脱水时噪音大",
        description="滚筒洗衣机",
        customer={"name": "赵六", "mobile": "13700000000"},
    )
    agent.post(f"tickets/{first['id']}/messages", {"text": "Compressor replaced by technician"})

    def found(q):
        return [t["id"] for t in agent.get("tickets", {"q": q}).json()["items"]]

    assert found("不制冷") == [first["id"]]
    assert found("制冷") == [first["id"]]
    assert found("噪音") != [] and first["id"] not in found("噪音")
    assert found("compress") == [first["id"]]
    assert found("PRESSOR") == [first["id"]]
    assert found(first["number"]) == [first["id"]]
    assert found("13900001234") == [first["id"]]
    assert found("张三") == [first["id"]]
    assert found("冰箱") == []
    short = agent.get("tickets", {"q": "冷"})
    assert short.status_code == 422
