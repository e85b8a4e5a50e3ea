import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftercare.accounts.choices import Role
from aftercare.accounts.models import Team
from aftercare.collab.models import CollaborationRequest, Notification
from aftercare.conftest import make_user
from aftercare.tickets import services as ticket_services
from aftercare.tickets.models import Ticket, TicketEvent

from .factories import open_team_ticket

pytestmark = pytest.mark.django_db


def body(ticket, **fields):
    return {
        "ticket_id": ticket.pk,
        "kind": "liability_judgement",
        "question": "请判定外机漏水是否属于安装责任",
        "target_department": "tech_support",
        **fields,
    }


def test_target_department_reads_that_ticket_only_and_answers_from_its_queue(personas, api):
    asked = open_team_ticket(personas)
    untouched = open_team_ticket(personas, subject="另一张工单")
    agnes, bert = api(personas.agnes), api(personas.bert)
    assert bert.get(f"tickets/{asked.pk}").status_code == 404
    created = agnes.post("collab/requests", body(asked), headers={"Idempotency-Key": "k-1"})
    assert created.status_code == 201, created.content
    request_id = created.json()["id"]
    again = agnes.post("collab/requests", body(asked), headers={"Idempotency-Key": "k-1"})
    assert (again.status_code, again.json()["id"]) == (200, request_id)
    assert CollaborationRequest.objects.count() == 1

    # The asked department sees the ticket, not the rest of the owning team's queue.
    assert bert.get(f"tickets/{asked.pk}").status_code == 200
    assert bert.get(f"tickets/{asked.pk}/timeline").status_code == 200
    assert bert.get(f"tickets/{untouched.pk}").status_code == 404
    listed = bert.get("tickets").json()["items"]
    assert [t["id"] for t in listed] == [asked.pk]
    # Reading is not working it: no status changes or field edits by the asked side.
    moved = bert.post(f"tickets/{asked.pk}/transition", {"status": "on_hold"})
    assert moved.status_code == 403
    assert Ticket.objects.get(pk=asked.pk).status == "new"

    queue = bert.get("collab/requests", {"department": "tech_support", "status": "open"})
    assert queue.status_code == 200
    assert [(r["id"], r["status"], r["ticket"]["id"]) for r in queue.json()["items"]] == [
        (request_id, "open", asked.pk)
    ]
    assert bert.get("collab/requests", {"department": "finance"}).json()["items"] == []
    mine = bert.get("collab/requests", {"mine": True}).json()["items"]
    assert [r["id"] for r in mine] == [request_id]
    assert agnes.get("collab/requests", {"mine": True}).json()["items"] == []

    accepted = bert.post(f"collab/requests/{request_id}/accept")
    assert (accepted.status_code, accepted.json()["status"]) == (200, "accepted")
    twice = bert.post(f"collab/requests/{request_id}/accept")
    assert (twice.status_code, twice.json()["code"]) == (409, "request_already_accepted")
    done = bert.post(f"collab/requests/{request_id}/complete", {"response": "属于安装不规范"})
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["response"]) == ("done", "属于安装不规范")
    assert done.json()["closed_by"] == {"id": personas.bert.pk, "name": "Bert"}
    # A closed request still lets its department read the ticket.
    assert bert.get(f"tickets/{asked.pk}").status_code == 200
    resolved = agnes.post(f"tickets/{asked.pk}/transition", {"status": "resolved"})
    assert resolved.status_code == 200


def test_requester_cannot_answer_and_target_cannot_cancel(personas, api):
    ticket = open_team_ticket(personas)
    agnes, bert = api(personas.agnes), api(personas.bert)
    request_id = agnes.post("collab/requests", body(ticket)).json()["id"]
    refused = agnes.post(f"collab/requests/{request_id}/complete", {"response": "自己答"})
    assert (refused.status_code, refused.json()["code"]) == (403, "not_request_target")
    assert bert.post(f"collab/requests/{request_id}/cancel").status_code == 403
    no_reason = bert.post(f"collab/requests/{request_id}/decline", {"reason": ""})
    assert (no_reason.status_code, no_reason.json()["code"]) == (422, "reason_required")
    assert CollaborationRequest.objects.get().status == "open"
    cancelled = agnes.post(f"collab/requests/{request_id}/cancel", {"reason": "重复发起"})
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    closed = bert.post(f"collab/requests/{request_id}/accept")
    assert (closed.status_code, closed.json()["code"]) == (409, "request_closed")


@pytest.mark.parametrize(
    "fields,status,code",
    [
        ({"target_department": "marketing"}, 422, "department_not_found"),
        ({"target_team_id": 99999}, 422, "team_not_found"),
        ({"target_user_id": 99999}, 422, "user_not_found"),
        ({"due_at": "2020-01-01T08:00:00+08:00"}, 422, "due_in_past"),
        ({"kind": "astrology"}, 422, "validation_error"),
    ],
)
def test_bad_input_gets_a_stable_code_and_changes_nothing(personas, api, fields, status, code):
    ticket = open_team_ticket(personas)
    events = TicketEvent.objects.count()
    response = api(personas.agnes).post("collab/requests", body(ticket, **fields))
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert CollaborationRequest.objects.count() == 0
    assert TicketEvent.objects.count() == events
    assert Notification.objects.count() == 0


def test_resolve_blocked_then_lead_overrides_on_the_timeline(personas, api):
    ticket = open_team_ticket(personas)
    agnes, lena = api(personas.agnes), api(personas.lena)
    request_id = agnes.post("collab/requests", body(ticket)).json()["id"]
    blocked = agnes.post(f"tickets/{ticket.pk}/transition", {"status": "resolved"})
    assert blocked.status_code == 409
    assert blocked.json()["code"] == "open_collaboration_requests"
    assert blocked.json()["details"] == {"request_ids": [request_id]}
    refused = agnes.post(
        f"tickets/{ticket.pk}/transition",
        {"status": "resolved", "reason": "先结了", "override_open_requests": True},
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "override_refused")
    overridden = lena.post(
        f"tickets/{ticket.pk}/transition",
        {"status": "resolved", "reason": "客户接受换机", "override_open_requests": True},
    )
    assert (overridden.status_code, overridden.json()["status"]) == (200, "resolved")
    timeline = lena.get(f"tickets/{ticket.pk}/timeline").json()
    override = [e for e in timeline if e["kind"] == "collab_overridden"]
    assert [(e["actor"]["id"], e["data"]["reason"]) for e in override] == [
        (personas.lena.pk, "客户接受换机")
    ]
    # Customers see neither the requests nor the override on their timeline.
    alice_timeline = api(personas.alice).get(f"tickets/{ticket.pk}/timeline").json()
    assert not [e for e in alice_timeline if e["kind"].startswith("collab_")]


def test_customers_cannot_see_requests(personas, api):
    ticket = open_team_ticket(personas)
    request_id = api(personas.agnes).post("collab/requests", body(ticket)).json()["id"]
    alice = api(personas.alice)
    assert alice.get("collab/requests").status_code == 403
    assert alice.get(f"collab/requests/{request_id}").status_code == 404
    assert alice.post("collab/requests", body(ticket)).status_code == 403
    assert CollaborationRequest.objects.count() == 1


def test_queue_query_count_does_not_grow_with_rows(personas, api):
    bert = api(personas.bert)
    ticket = open_team_ticket(personas)
    for _ in range(2):
        api(personas.agnes).post("collab/requests", body(ticket))
    bert.get("collab/requests")  # token lookup warmed up
    with CaptureQueriesContext(connection) as few:
        assert len(bert.get("collab/requests").json()["items"]) == 2
    for _ in range(5):
        api(personas.agnes).post("collab/requests", body(ticket))
    with CaptureQueriesContext(connection) as many:
        assert len(bert.get("collab/requests").json()["items"]) == 7
    assert len(many.captured_queries) == len(few.captured_queries)


def test_handoff_needs_a_note_and_the_chain_is_listed(personas, api):
    ticket = open_team_ticket(personas)
    lena = api(personas.lena)
    refused = lena.patch(f"tickets/{ticket.pk}", {"team_id": personas.team_b.pk})
    assert (refused.status_code, refused.json()["code"]) == (422, "handoff_note_required")
    assert Ticket.objects.get(pk=ticket.pk).team == personas.team_a
    assert not TicketEvent.objects.filter(ticket=ticket, kind="handoff").exists()
    moved = lena.patch(
        f"tickets/{ticket.pk}",
        {"team_id": personas.team_b.pk, "handoff_note": "疑似主板故障，转技术支持"},
    )
    # Team A no longer sees the ticket, but the answer shows the hand-off that was made.
    assert moved.status_code == 200, moved.content
    assert moved.json()["team"] == {"id": personas.team_b.pk, "name": "技术支持组"}
    assert lena.get(f"tickets/{ticket.pk}").status_code == 404
    chain = api(personas.ada).get(f"tickets/{ticket.pk}/handoffs")
    assert chain.status_code == 200
    assert [
        (h["from_team"]["id"], h["to_team"]["id"], h["note"], h["actor"]["id"])
        for h in chain.json()
    ] == [(personas.team_a.pk, personas.team_b.pk, "疑似主板故障，转技术支持", personas.lena.pk)]
    assert api(personas.alice).get(f"tickets/{ticket.pk}/handoffs").status_code == 403
    # Routing an untriaged ticket to its first team is not a hand-off.
    untriaged = open_team_ticket(personas)
    Ticket.objects.filter(pk=untriaged.pk).update(team=None)
    routed = lena.patch(f"tickets/{untriaged.pk}", {"team_id": personas.team_a.pk})
    assert routed.status_code == 200


def test_bouncing_ticket_alerts_the_leads_once(personas, settings):
    settings.AFTERCARE = {**settings.AFTERCARE, "HANDOFF_BOUNCE_LIMIT": 3}
    lead_b = make_user("bora", Role.TEAM_LEAD, teams=[personas.team_b], lead=True)
    team_c = Team.objects.create(name="上门服务组", slug="field", department="field_service")
    ticket = open_team_ticket(personas)
    route = [personas.team_b, personas.team_a, team_c, personas.team_b, personas.team_a]
    for number, team in enumerate(route, start=1):
        ticket_services.update_ticket(
            actor=personas.ada, ticket=ticket, changes={"team": team}, handoff_note=f"第{number}次"
        )
        bounced = Notification.objects.filter(kind="handoff_bounced")
        assert bounced.count() == (0 if number <= 3 else 2), number
    assert {n.user for n in Notification.objects.filter(kind="handoff_bounced")} == {
        personas.lena,
        lead_b,
    }
    alert = TicketEvent.objects.get(ticket=ticket, kind="handoff_bounced")
    assert alert.data == {
        "handoffs": 4,
        "limit": 3,
        "team_ids": sorted([personas.team_a.pk, personas.team_b.pk, team_c.pk]),
    }
    assert TicketEvent.objects.filter(ticket=ticket, kind="handoff").count() == 5


def test_system_reroute_records_a_handoff_without_a_note(personas):
    ticket = open_team_ticket(personas)
    ticket_services.update_ticket(actor=None, ticket=ticket, changes={"team": personas.team_b})
    event = TicketEvent.objects.get(ticket=ticket, kind="handoff")
    assert event.data == {
        "from_team_id": personas.team_a.pk,
        "to_team_id": personas.team_b.pk,
        "note": "",
    }


def test_nul_characters_in_free_text_are_refused_and_change_nothing(personas, api):
    """PostgreSQL stores no NUL in text or JSON; the API refuses it the same on both databases
    (the services still drop NUL from text that reaches them another way)."""
    ticket = open_team_ticket(personas)
    agnes = api(personas.agnes)
    created = agnes.post("collab/requests", body(ticket, question="压缩机\u0000异响"))
    assert (created.status_code, created.json()["code"]) == (422, "text_contains_nul")
    moved = api(personas.ada).patch(
        f"tickets/{ticket.pk}", {"team_id": personas.team_b.pk, "handoff_note": "转\u0000交"}
    )
    assert (moved.status_code, moved.json()["code"]) == (422, "text_contains_nul")
    assert not CollaborationRequest.objects.exists()
    ticket.refresh_from_db()
    assert ticket.team == personas.team_a


def test_handoff_chain_query_count_does_not_grow(personas, api):
    ticket = open_team_ticket(personas)
    team_c = Team.objects.create(name="上门服务组", slug="field", department="field_service")
    ada = api(personas.ada)
    ada.get(f"tickets/{ticket.pk}/handoffs")  # token lookup warmed up
    ticket_services.update_ticket(
        actor=personas.ada, ticket=ticket, changes={"team": personas.team_b}, handoff_note="一"
    )
    with CaptureQueriesContext(connection) as one:
        assert len(ada.get(f"tickets/{ticket.pk}/handoffs").json()) == 1
    for team in (team_c, personas.team_a):
        ticket_services.update_ticket(
            actor=personas.ada, ticket=ticket, changes={"team": team}, handoff_note="再转"
        )
    with CaptureQueriesContext(connection) as three:
        chain = ada.get(f"tickets/{ticket.pk}/handoffs").json()
    assert [h["to_team"]["name"] for h in chain] == ["技术支持组", "上门服务组", "售后客服一组"]
    assert len(three.captured_queries) == len(one.captured_queries)
