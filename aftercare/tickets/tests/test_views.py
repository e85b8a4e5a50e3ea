import pytest
from django.test import Client

from aftercare.conftest import PASSWORD
from aftercare.tickets import services
from aftercare.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def bobs_ticket(personas):
    return services.open_ticket(
        actor=personas.bob,
        kind="repair",
        channel="portal",
        subject="洗衣机漏水<script>x</script>",
        customer=personas.bob_customer,
        product_unit=personas.bob_unit,
    )


def test_login_page_and_redirect(db):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    page = Client().get("/accounts/login/")
    assert "登录 AfterCare" in page.content.decode()


def test_customer_sees_own_ticket_page_with_warranty_and_escaped_subject(personas, bobs_ticket):
    page = signed_in(personas.bob).get(f"/tickets/{bobs_ticket.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "洗衣机漏水&lt;script&gt;" in html
    assert "<script>x" not in html
    assert "保修期" in html


def test_other_customer_gets_404_page(personas, bobs_ticket):
    assert signed_in(personas.alice).get(f"/tickets/{bobs_ticket.pk}/").status_code == 404
    assert (
        signed_in(personas.alice)
        .post(f"/tickets/{bobs_ticket.pk}/reply", {"text": "hi"})
        .status_code
        == 404
    )


def test_agent_replies_from_page(personas, bobs_ticket):
    Ticket.objects.filter(pk=bobs_ticket.pk).update(team=personas.team_a)
    client = signed_in(personas.agnes)
    response = client.post(f"/tickets/{bobs_ticket.pk}/reply", {"text": "师傅明天上门"})
    assert response.status_code == 302
    assert bobs_ticket.messages.get().body_text == "师傅明天上门"
    listing = client.get("/tickets/?view=team").content.decode()
    assert bobs_ticket.number in listing


def test_reply_form_needs_csrf(personas, bobs_ticket):
    client = Client(enforce_csrf_checks=True)
    client.login(username="bob", password=PASSWORD)
    assert client.post(f"/tickets/{bobs_ticket.pk}/reply", {"text": "x"}).status_code == 403


def test_warranty_lookup_page(personas):
    html = signed_in(personas.agnes).get("/warranty/?serial=ac35gw0001").content.decode()
    assert "AC35GW0001" in html and "换货期内" in html
    hidden = signed_in(personas.bob).get("/warranty/?serial=AC35GW0001").content.decode()
    assert "序列号不存在" in hidden


def test_english_interface(personas):
    client = signed_in(personas.agnes)
    client.post("/i18n/setlang/", {"language": "en", "next": "/tickets/"})
    html = client.get("/tickets/").content.decode()
    assert 'lang="en"' in html


def test_ticket_page_shows_sla_to_staff_only(personas, bobs_ticket):
    Ticket.objects.filter(pk=bobs_ticket.pk).update(team=personas.team_a)
    staff = signed_in(personas.agnes).get(f"/tickets/{bobs_ticket.pk}/").content.decode()
    assert "服务时效" in staff and "首次响应" in staff and "工作分钟" in staff
    customer = signed_in(personas.bob).get(f"/tickets/{bobs_ticket.pk}/").content.decode()
    assert "服务时效" not in customer
