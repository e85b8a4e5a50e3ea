import pytest

from aftercare.core.errors import Conflict, ValidationFailed
from aftercare.customers.models import Contact, Customer
from aftercare.customers.services import (
    add_contact,
    find_or_create_customer,
    normalise_mobile,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("(138) 0013 8000", "13800138000"),
        ("+85291234567", "+85291234567"),
    ],
)
def test_normalise_mobile(raw, expected):
    assert normalise_mobile(raw) == expected


@pytest.mark.parametrize("raw", ["12345", "1380013800", "abc", "+0123", "23800138000"])
def test_bad_mobile_is_refused(raw):
    with pytest.raises(ValidationFailed) as caught:
        normalise_mobile(raw)
    assert caught.value.code == "invalid_mobile"


def test_existing_mobile_or_email_finds_customer():
    first = find_or_create_customer(name="张三", mobile="13900001111")
    by_mobile = find_or_create_customer(
        name="张先生", mobile="+86 139 0000 1111", email="ZHANG@Example.com"
    )
    by_email = find_or_create_customer(name="Zhang San", email="zhang@example.com")
    assert first.created and not by_mobile.created and not by_email.created
    assert {by_mobile.customer.pk, by_email.customer.pk} == {first.customer.pk}
    assert Customer.objects.count() == 1
    # The email given with the second request was added to the existing contact.
    assert Contact.objects.get().email == "zhang@example.com"


def test_contact_point_of_another_customer_is_refused():
    zhang = find_or_create_customer(name="张三", mobile="13900001111").customer
    li = find_or_create_customer(name="李四", mobile="13900002222").customer
    with pytest.raises(Conflict) as caught:
        add_contact(customer=li, name="李四", mobile="13900001111")
    assert caught.value.code == "contact_point_taken"
    assert Contact.objects.get(mobile="13900001111").customer == zhang


def test_customer_needs_a_contact_point():
    with pytest.raises(ValidationFailed) as caught:
        find_or_create_customer(name="无名")
    assert caught.value.code == "contact_required"
