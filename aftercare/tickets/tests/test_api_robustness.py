"""Malformed input found by fuzzing the OpenAPI schema (schemathesis) must never give a 500."""

import pytest

from aftercare.tickets import services

pytestmark = pytest.mark.django_db


def test_id_beyond_64_bits_is_a_clear_error(personas, api):
    agent = api(personas.ada)
    response = agent.get("tickets", {"customer_id": -103041578910518863724544})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    # A path id that large cannot name a row: 404 on PostgreSQL, 422 where SQLite cannot bind it.
    assert agent.get("tickets/103041578910518863724544").status_code in (404, 422)


def test_multipart_without_boundary_is_400(personas, api):
    agent = api(personas.ada)
    response = agent.client.post(
        "/api/v1/tickets/1/attachments",
        data=b"x",
        content_type="multipart/form-data",
        headers=agent.headers,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


@pytest.mark.parametrize("body", [b"[]", b"null", b'"x"', b"1", b'{"kind": null}', b"\xff\xfe"])
def test_strange_json_bodies_are_client_errors(personas, api, body):
    agent = api(personas.agnes)
    response = agent.client.post(
        "/api/v1/tickets", data=body, content_type="application/json", headers=agent.headers
    )
    assert 400 <= response.status_code < 500
    assert "code" in response.json()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("customers/{customer}", {"tags": ["vip\x00"]}),
        ("tickets/{ticket}", {"subject": "空调\x00不制冷"}),
    ],
)
def test_a_nul_character_in_json_is_refused_the_same_on_every_database(personas, api, path, body):
    ticket = services.open_ticket(
        actor=personas.agnes,
        kind="repair",
        channel="phone",
        subject="空调不制冷",
        customer=personas.alice_customer,
    )
    url = path.format(customer=personas.alice_customer.pk, ticket=ticket.pk)
    response = api(personas.ada).patch(url, body)
    assert (response.status_code, response.json()["code"]) == (422, "text_contains_nul")
