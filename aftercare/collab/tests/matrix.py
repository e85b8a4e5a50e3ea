"""Collaboration rows of the permission matrix (accounts/tests/test_permission_matrix.py).

The world's staff are all in team A (customer service); "own" is a request on team A's ticket
asking team B (tech support), "other" a request on team B's ticket, also to team B. So team A
people ask and cancel on their own tickets, only the target side (or an admin) answers, and a
request is seen by whoever sees its ticket. Expected statuses restate aftercare/accounts/policy.py.
"""

from aftercare.collab import requests

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


class CollabWorld:
    def __init__(self, world):
        p = world.p
        self.own = requests.request_collaboration(
            actor=p.lena,
            ticket=world.own,
            kind="diagnose",
            question="请诊断",
            target_department="tech_support",
            target_team=p.team_b,
        )
        self.other = requests.request_collaboration(
            actor=p.ada,
            ticket=world.other,
            kind="failure_analysis",
            question="请分析",
            target_department="tech_support",
            target_team=p.team_b,
        )


def collab(world) -> CollabWorld:
    if not hasattr(world, "collab"):
        world.collab = CollabWorld(world)
    return world.collab


def _request(w, which):
    return getattr(collab(w), which).pk


def _sees(role, which):
    return role in READ_ALL or which == "own"


def staff_list(role, which):
    return 403 if role == "customer" else 200


def request_read(role, which):
    if role == "customer" or not _sees(role, which):
        return 404
    return 200


def request_create(role, which):
    if role == "customer":
        return 403 if which == "own" else 404
    if not _sees(role, which):
        return 404
    return 201 if role in WORKING else 403


def request_answer(role, which):
    """Only team B (nobody of the world's team A) or an admin answers."""
    if role == "customer" or not _sees(role, which):
        return 404
    return 200 if role == "admin" else 403


def request_cancel(role, which):
    if role == "customer" or not _sees(role, which):
        return 404
    return 200 if role in WORKING else 403


def handoffs_read(role, which):
    if role == "customer":
        return 403 if which == "own" else 404
    return 200 if _sees(role, which) else 404


def handoff_patch(role, which):
    if role == "customer":
        return 403 if which == "own" else 404
    if not _sees(role, which):
        return 404
    return 200 if role in WORKING else 403


def _answer_body(payload):
    return lambda w, o: collab(w) and payload


COLLAB_ENDPOINTS = [
    ("collab.list", "get", lambda w, o: "collab/requests", None, staff_list),
    (
        "collab.read",
        "get",
        lambda w, o: f"collab/requests/{_request(w, o)}",
        None,
        request_read,
    ),
    (
        "collab.create",
        "post",
        lambda w, o: "collab/requests",
        lambda w, o: {
            "ticket_id": (w.own if o == "own" else w.other).pk,
            "kind": "pickup",
            "question": "请安排取件",
            "target_department": "tech_support",
        },
        request_create,
    ),
    (
        "collab.accept",
        "post",
        lambda w, o: f"collab/requests/{_request(w, o)}/accept",
        _answer_body({}),
        request_answer,
    ),
    (
        "collab.complete",
        "post",
        lambda w, o: f"collab/requests/{_request(w, o)}/complete",
        _answer_body({"response": "已诊断"}),
        request_answer,
    ),
    (
        "collab.decline",
        "post",
        lambda w, o: f"collab/requests/{_request(w, o)}/decline",
        _answer_body({"reason": "不属于本部门"}),
        request_answer,
    ),
    (
        "collab.cancel",
        "post",
        lambda w, o: f"collab/requests/{_request(w, o)}/cancel",
        _answer_body({"reason": "不需要了"}),
        request_cancel,
    ),
    (
        "ticket.handoffs",
        "get",
        lambda w, o: f"tickets/{(w.own if o == 'own' else w.other).pk}/handoffs",
        None,
        handoffs_read,
    ),
    (
        "ticket.handoff",
        "patch",
        lambda w, o: f"tickets/{(w.own if o == 'own' else w.other).pk}",
        lambda w, o: {
            "team_id": (w.p.team_b if o == "own" else w.p.team_a).pk,
            "handoff_note": "转交",
        },
        handoff_patch,
    ),
]
