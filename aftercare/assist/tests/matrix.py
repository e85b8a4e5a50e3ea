"""Triage rows of the permission matrix (accounts/tests/test_permission_matrix.py).

The triage of a ticket follows the ticket's visibility (404 for a ticket one may not see);
customers never see it (403 on their own ticket); confirming or correcting it needs a role
that works tickets. The model list is for the service side. Expected statuses restate
aftercare/accounts/policy.py.
"""

from aftercare.assist.choices import Outcome
from aftercare.assist.models import TriageHead, TriagePrediction

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


def _ticket(world, which):
    return getattr(world, which)


def _with_prediction(world, which):
    """The ticket, with a sentiment prediction to confirm or correct."""
    ticket = _ticket(world, which)
    TriagePrediction.objects.get_or_create(
        ticket=ticket,
        head=TriageHead.objects.get(name="sentiment"),
        defaults={
            "label": "negative",
            "confidence": 0.7,
            "threshold": 0.6,
            "terms": [["不制冷", 0.3]],
            "outcome": Outcome.APPLIED,
        },
    )
    return ticket


def _sees(role, which):
    return role in READ_ALL or which == "own"


def triage_read(role, which):
    if role == "customer":
        return 403 if which == "own" else 404
    return 200 if _sees(role, which) else 404


def triage_label(role, which):
    if role == "customer":
        return 403 if which == "own" else 404
    if not _sees(role, which):
        return 404
    return 200 if role in WORKING else 403


def staff_only(role, which):
    return 403 if role == "customer" else 200


TRIAGE_ENDPOINTS = [
    (
        "triage.read",
        "get",
        lambda w, o: f"tickets/{_with_prediction(w, o).pk}/triage",
        None,
        triage_read,
    ),
    (
        "triage.label",
        "post",
        lambda w, o: f"tickets/{_ticket(w, o).pk}/triage/sentiment/label",
        lambda w, o: _with_prediction(w, o) and {"label": "neutral"},
        triage_label,
    ),
    ("triage.models", "get", lambda w, o: "triage/models", None, staff_only),
]
