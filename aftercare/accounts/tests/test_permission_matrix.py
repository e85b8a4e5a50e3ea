"""Every role × every endpoint × own/other object. A refused write must change nothing.

"own" is an object the persona has a claim on (their own ticket or unit, a ticket of their
team); "other" is one they have none on. The expected status comes from the rules in
aftercare/accounts/policy.py, restated here independently.
"""

import hashlib
import json

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile

from aftercare.accounts.choices import Department, Role
from aftercare.accounts.models import Team, TeamMembership
from aftercare.assist.tests.matrix import TRIAGE_ENDPOINTS
from aftercare.catalog.models import ProductUnit
from aftercare.collab.tests.matrix import COLLAB_ENDPOINTS
from aftercare.conftest import make_user
from aftercare.kb.tests.matrix import KB_ENDPOINTS
from aftercare.tickets import services

pytestmark = pytest.mark.django_db

ROLES = [
    "customer",
    "agent",
    "support_engineer",
    "field_technician",
    "logistics",
    "department_member",
    "qc_inspector",
    "analyst",
    "team_lead",
    "admin",
]
READ_ALL = {"qc_inspector", "analyst", "admin"}
WORKING = {
    "agent",
    "support_engineer",
    "field_technician",
    "logistics",
    "department_member",
    "team_lead",
    "admin",
}
CRM_WRITERS = {"agent", "team_lead", "admin", "logistics", "support_engineer", "field_technician"}


class World:
    """Two customers, two teams; every staff persona is in team A except the read-all ones."""

    def __init__(self, personas):
        p = personas
        self.p = p
        self.users = {
            "customer": p.alice,
            "agent": p.agnes,
            "team_lead": p.lena,
            "admin": p.ada,
            "analyst": p.anna,
            "qc_inspector": p.quinn,
        }
        for role in ("support_engineer", "field_technician", "logistics", "department_member"):
            self.users[role] = make_user(role.replace("_", ""), role, teams=[p.team_a])
        self.own = self._ticket(p.alice, p.alice_customer, p.team_a, p.alice_unit)
        self.own_second = self._ticket(p.alice, p.alice_customer, p.team_a, None)
        self.other = self._ticket(p.bob, p.bob_customer, p.team_b, p.bob_unit)
        self.other_second = self._ticket(p.bob, p.bob_customer, p.team_b, None)
        upload = SimpleUploadedFile("a.txt", b"hello")
        self.own_file = services.add_attachment(actor=p.alice, ticket=self.own, upload=upload)
        upload = SimpleUploadedFile("b.txt", b"hello")
        self.other_file = services.add_attachment(actor=p.bob, ticket=self.other, upload=upload)

    @staticmethod
    def _ticket(actor, customer, team, unit):
        ticket = services.open_ticket(
            actor=actor,
            kind="repair",
            channel="portal",
            subject="空调不制冷",
            customer=customer,
            product_unit=unit,
        )
        ticket.team = team
        ticket.save(update_fields=["team"])
        return ticket


def sees_ticket(role: str, which: str) -> bool:
    return role in READ_ALL or which == "own"


def ticket_read(role, which):
    return 200 if sees_ticket(role, which) else 404


def ticket_work(ok_status):
    def rule(role, which):
        if not sees_ticket(role, which):
            return 404
        return ok_status if role in WORKING else 403

    return rule


def customer_may(ok_status, staff_rule=None):
    def rule(role, which):
        if role == "customer":
            return ok_status if which == "own" else 404
        return (staff_rule or ticket_work(ok_status))(role, which)

    return rule


def internal_note(role, which):
    if not sees_ticket(role, which):
        return 404
    if role == "customer":
        return 403
    return 201 if role in WORKING or role == "qc_inspector" else 403


def follow(role, which):
    if not sees_ticket(role, which):
        return 404
    return 403 if role == "customer" else 204


def customer_patch_priority(role, which):
    if not sees_ticket(role, which):
        return 404
    return 200 if role in WORKING else 403


def customer_record_read(role, which):
    return 404 if role == "customer" and which == "other" else 200


def customer_record_write(role, which):
    if role == "customer":
        return 404 if which == "other" else 403
    return 200 if role in CRM_WRITERS else 403


def unit_read(role, which):
    return 404 if role == "customer" and which == "other" else 200


def staff_only(role, which):
    return 403 if role == "customer" else 200


def admin_only(ok):
    return lambda role, which: ok if role == "admin" else 403


def anyone(ok):
    return lambda role, which: ok


def create_ticket_for(role, which):
    if role == "customer":
        return 201 if which == "own" else 404
    return 201 if role in WORKING else 403


def customer_create(role, which):
    return 200 if role in CRM_WRITERS else 403


def unit_register(role, which):
    if role == "customer":
        return 201 if which == "own" else 404
    return 201 if role in CRM_WRITERS else 403


def _t(w, which):
    return getattr(w, which)


def _second(w, which):
    return getattr(w, f"{which}_second")


def _customer(w, which):
    return w.p.alice_customer if which == "own" else w.p.bob_customer


def _unit(w, which):
    return w.p.alice_unit if which == "own" else w.p.bob_unit


def _quarantined(world):
    """A mail waiting in the quarantine (made before the snapshot, by the body function)."""
    if not hasattr(world, "quarantined"):
        from aftercare.intake.inbound import receive_email

        result = receive_email(source=b"no headers, not a mail", via="import")
        world.quarantined = apps.get_model("intake", "InboundEmail").objects.get(
            pk=result.inbound_id
        )
    return world.quarantined


# name, method, path(world, which), body(world, which), expected(role, which)
ENDPOINTS = [
    ("ticket.read", "get", lambda w, o: f"tickets/{_t(w, o).pk}", None, ticket_read),
    ("ticket.timeline", "get", lambda w, o: f"tickets/{_t(w, o).pk}/timeline", None, ticket_read),
    ("ticket.messages", "get", lambda w, o: f"tickets/{_t(w, o).pk}/messages", None, ticket_read),
    (
        "ticket.attachments",
        "get",
        lambda w, o: f"tickets/{_t(w, o).pk}/attachments",
        None,
        ticket_read,
    ),
    ("ticket.links", "get", lambda w, o: f"tickets/{_t(w, o).pk}/links", None, ticket_read),
    (
        "attachment.download",
        "get",
        lambda w, o: f"attachments/{(w.own_file if o == 'own' else w.other_file).pk}/download",
        None,
        ticket_read,
    ),
    (
        "ticket.create",
        "post",
        lambda w, o: "tickets",
        lambda w, o: {"kind": "repair", "subject": "新问题", "customer_id": _customer(w, o).pk},
        create_ticket_for,
    ),
    (
        "ticket.patch.subject",
        "patch",
        lambda w, o: f"tickets/{_t(w, o).pk}",
        lambda w, o: {"subject": "改过的标题"},
        customer_may(200),
    ),
    (
        "ticket.patch.priority",
        "patch",
        lambda w, o: f"tickets/{_t(w, o).pk}",
        lambda w, o: {"priority": "urgent"},
        lambda r, o: (
            (403 if o == "own" else 404) if r == "customer" else customer_patch_priority(r, o)
        ),
    ),
    (
        "ticket.transition",
        "post",
        lambda w, o: f"tickets/{_t(w, o).pk}/transition",
        lambda w, o: {"status": "on_hold"},
        lambda r, o: (403 if o == "own" else 404) if r == "customer" else ticket_work(200)(r, o),
    ),
    (
        "ticket.reply",
        "post",
        lambda w, o: f"tickets/{_t(w, o).pk}/messages",
        lambda w, o: {"text": "您好"},
        customer_may(201),
    ),
    (
        "ticket.note",
        "post",
        lambda w, o: f"tickets/{_t(w, o).pk}/messages",
        lambda w, o: {"text": "备注", "visibility": "internal"},
        internal_note,
    ),
    (
        "ticket.link",
        "post",
        lambda w, o: f"tickets/{_t(w, o).pk}/links",
        lambda w, o: {"target_id": _second(w, o).pk, "kind": "related"},
        lambda r, o: (403 if o == "own" else 404) if r == "customer" else ticket_work(201)(r, o),
    ),
    (
        "ticket.merge",
        "post",
        lambda w, o: f"tickets/{_t(w, o).pk}/merge",
        lambda w, o: {"target_id": _second(w, o).pk},
        lambda r, o: (403 if o == "own" else 404) if r == "customer" else ticket_work(200)(r, o),
    ),
    (
        "ticket.follow",
        "post",
        lambda w, o: f"tickets/{_t(w, o).pk}/followers",
        lambda w, o: {"user_id": "SELF"},
        follow,
    ),
    (
        "customer.read",
        "get",
        lambda w, o: f"customers/{_customer(w, o).pk}",
        None,
        customer_record_read,
    ),
    (
        "customer.patch",
        "patch",
        lambda w, o: f"customers/{_customer(w, o).pk}",
        lambda w, o: {"notes": "改"},
        customer_record_write,
    ),
    (
        "customer.create",
        "post",
        lambda w, o: "customers",
        lambda w, o: {"name": "王丽", "mobile": "13800000001"},
        customer_create,
    ),
    ("customer.list", "get", lambda w, o: "customers", None, anyone(200)),
    ("unit.read", "get", lambda w, o: f"units/{_unit(w, o).serial}", None, unit_read),
    ("unit.warranty", "get", lambda w, o: f"units/{_unit(w, o).serial}/warranty", None, unit_read),
    (
        "unit.register",
        "post",
        lambda w, o: "units",
        lambda w, o: {
            "serial": "NEW-001",
            "product_id": w.p.product.pk,
            "owner_id": _customer(w, o).pk,
        },
        unit_register,
    ),
    (
        "product.create",
        "post",
        lambda w, o: "products",
        lambda w, o: {"line_id": w.p.product.line_id, "model_number": "X-1", "name": "新品"},
        admin_only(201),
    ),
    ("product.list", "get", lambda w, o: "products", None, anyone(200)),
    ("team.list", "get", lambda w, o: "teams", None, staff_only),
    (
        "sla.compliance",
        "get",
        lambda w, o: "sla/compliance?start=2026-01-01T00:00:00Z&end=2027-01-01T00:00:00Z",
        None,
        staff_only,
    ),
    ("intake.quarantine", "get", lambda w, o: "intake/quarantine", None, admin_only(200)),
    (
        "intake.email",
        "post",
        lambda w, o: "intake/email",
        lambda w, o: {"not": "a mail"},
        admin_only(200),
    ),
    (
        "intake.reprocess",
        "post",
        lambda w, o: f"intake/quarantine/{_quarantined(w).pk}/reprocess",
        lambda w, o: _quarantined(w) and {},
        admin_only(200),
    ),
    (
        "intake.discard",
        "post",
        lambda w, o: f"intake/quarantine/{_quarantined(w).pk}/discard",
        lambda w, o: _quarantined(w) and {},
        admin_only(200),
    ),
    (
        "intake.raw",
        "get",
        lambda w, o: f"intake/inbound/{_quarantined(w).pk}/raw",
        None,
        admin_only(200),
    ),
    ("me", "get", lambda w, o: "users/me", None, anyone(200)),
    ("tokens", "get", lambda w, o: "tokens", None, anyone(200)),
    *KB_ENDPOINTS,
    *TRIAGE_ENDPOINTS,
    *COLLAB_ENDPOINTS,
]


def snapshot() -> str:
    """A digest of every row of every AfterCare table, except API tokens' last-use times."""
    digest = hashlib.sha256()
    for model in apps.get_models():
        if (
            not model.__module__.startswith("aftercare.")
            or model._meta.label == "accounts.ApiToken"
        ):
            continue
        for row in model.objects.order_by("pk").values():
            digest.update(json.dumps(row, default=str, sort_keys=True).encode())
    return digest.hexdigest()


@pytest.mark.parametrize("which", ["own", "other"])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(personas, api, role, endpoint, which):
    world = World(personas)
    name, method, path, body, expected_rule = endpoint
    user = world.users[role]
    client = api(user)
    payload = body(world, which) if body else None
    if payload and payload.get("user_id") == "SELF":
        payload["user_id"] = user.pk
    expected = expected_rule(role, which)
    before = snapshot() if method != "get" else None
    response = getattr(client, method)(path(world, which), payload)
    assert response.status_code == expected, (name, role, which, response.content[:300])
    if method != "get" and expected >= 400:
        assert snapshot() == before, f"refused {name} by {role} changed data"
        assert set(response.json()) == {"code", "message", "details"}


def test_matrix_covers_every_api_operation():
    from config.api import api as ninja_api

    schema = ninja_api.get_openapi_schema()
    operations = {(m, p) for p, methods in schema["paths"].items() for m in methods}
    # Token create/revoke and unit/product details are covered by their own tests.
    assert len(operations) <= len(ENDPOINTS) + 12


def test_team_b_agent_sees_team_b_ticket_only(personas, api):
    team_c = Team.objects.create(
        name="上门服务组", slug="field", department=Department.FIELD_SERVICE
    )
    outsider = make_user("otto", Role.AGENT, teams=[team_c])
    world = World(personas)
    client = api(outsider)
    assert client.get(f"tickets/{world.own.pk}").status_code == 404
    TeamMembership.objects.create(team=personas.team_b, user=outsider)
    assert client.get(f"tickets/{world.other.pk}").status_code == 200
    assert ProductUnit.objects.count() == 2
