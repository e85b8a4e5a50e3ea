import datetime as dt

import pytest

from aftercare.kb import templating
from aftercare.tickets import services as tickets

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(personas):
    return tickets.open_ticket(
        actor=personas.agnes,
        kind="repair",
        channel="phone",
        subject="空调不制冷",
        customer=personas.alice_customer,
        contact=personas.alice_customer.contacts.first(),
        product_unit=personas.alice_unit,
    )


def test_ticket_values_are_plain_whitelisted_text(personas, ticket):
    values = templating.ticket_values(
        ticket, agent=personas.agnes, language="zh-hans", today=dt.date(2026, 12, 1)
    )
    assert set(values) == set(templating.VARIABLES)
    assert values["customer.name"] == "王丽"
    assert values["ticket.kind"] == "报修"
    assert values["unit.purchase_date"] == "2026-11-18"
    assert values["unit.warranty_until"] == "2027-11-18"
    assert values["unit.warranty_status"] == "在15天换货期内，截至 2026-12-03"
    assert values["agent.name"] == "Agnes"
    english = templating.ticket_values(
        ticket, agent=personas.agnes, language="en", today=dt.date(2026, 12, 1)
    )
    assert english["ticket.kind"] == "Repair"


def test_render_fills_known_variables_and_defaults(personas, ticket):
    values = templating.ticket_values(
        ticket, agent=personas.agnes, language="zh-hans", today=dt.date(2026, 12, 1)
    )
    values["unit.serial"] = ""
    rendered = templating.render(
        "{{customer.name}}您好！工单 {{ ticket.number }}，机器 {{ unit.serial|default:'未登记' }}，"
        '保修至 {{ unit.warranty_until | default:"—" }}。',
        values,
    )
    assert rendered.problems == []
    assert rendered.text == (f"王丽您好！工单 {ticket.number}，机器 未登记，保修至 2027-11-18。")


@pytest.mark.parametrize(
    "template,text,problems",
    [
        ("您好 {{ customer.nmae }}！", "您好 ！", [("unknown_variable", "customer.nmae")]),
        # No way from a whitelisted name to the model behind it.
        ("{{ ticket.customer.users }}", "", [("unknown_variable", "ticket.customer.users")]),
        ("{{ ticket.__class__ }}", "", [("unknown_variable", "ticket.__class__")]),
        ("{{ customer.name|upper }}", "", [("invalid_expression", "customer.name|upper")]),
        ("{{ customer.name ", "{{ customer.name ", [("unclosed_placeholder", "{{")]),
        (
            "{% load static %}{{ today }}",
            "{% load static %}2026-07-01",
            [("unsupported_tag", "{%")],
        ),
    ],
)
def test_problems_render_as_nothing_and_are_reported(template, text, problems):
    rendered = templating.render(template, templating.SAMPLE_VALUES)
    assert rendered.text == text
    assert [(p.code, p.expression) for p in rendered.problems] == problems


def test_values_are_not_interpreted_again():
    values = {**templating.SAMPLE_VALUES, "customer.name": "{{ today }}<b>"}
    assert templating.render("{{ customer.name }}", values).text == "{{ today }}<b>"
