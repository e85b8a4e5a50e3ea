"""/api/v1 triage routes and the triage panel of the ticket page."""

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from aftercare.assist import registry
from aftercare.assist.demo import demo_sentiment, reply_sentiment, train_demo_models
from aftercare.assist.models import TriageHead, TriageModel, TriagePrediction
from aftercare.assist.tests.factories import train_kind, train_sentiment
from aftercare.conftest import PASSWORD
from aftercare.tickets import services as ticket_services

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_models():
    registry.forget_classifiers()


@pytest.fixture
def triaged(personas, django_capture_on_commit_callbacks):
    train_kind()
    train_sentiment()
    TriageHead.objects.filter(name="kind").update(threshold=1.0)
    with django_capture_on_commit_callbacks(execute=True):
        ticket = ticket_services.open_ticket(
            actor=personas.alice,
            kind="inquiry",
            channel="portal",
            subject="冰箱不制冷",
            description="师傅来了三次还没修好，我要投诉！！！",
            customer=personas.alice_customer,
        )
    return ticket


def test_agent_reads_the_triage(personas, api, triaged):
    response = api(personas.agnes).get(f"tickets/{triaged.pk}/triage")
    assert response.status_code == 200
    body = response.json()
    assert body["ticket_id"] == triaged.pk
    assert body["warnings"] == []
    by_head = {p["head"]: p for p in body["predictions"]}
    assert list(by_head) == ["kind", "sentiment"]
    kind = by_head["kind"]
    assert (kind["head_label"], kind["label"], kind["label_display"]) == (
        "工单类型",
        "complaint",
        "投诉",
    )
    assert (kind["outcome"], kind["applied"], kind["threshold"]) == ("suggested", False, 1.0)
    assert kind["model_version"] == 1
    assert [t["term"] for t in kind["terms"]][:3] == ["投诉", "我要", "师傅"]
    assert kind["terms"][0]["weight"] > 0
    sentiment = by_head["sentiment"]
    assert (sentiment["label"], sentiment["angry"], sentiment["label_display"]) == (
        "negative",
        True,
        "负面（愤怒）",
    )
    assert (sentiment["outcome"], sentiment["applied"]) == ("applied", True)
    # The model's words, then the anger cues it did not already name (without a weight).
    assert [t["term"] for t in sentiment["terms"]][:2] == ["投诉", "我要"]
    assert sentiment["terms"][-1] == {"term": "!!!", "weight": None}


def test_customer_may_not_see_the_triage_of_their_ticket(personas, api, triaged):
    response = api(personas.alice).get(f"tickets/{triaged.pk}/triage")
    assert response.status_code == 403
    assert response.json()["code"] == "triage_refused"
    assert api(personas.bob).get(f"tickets/{triaged.pk}/triage").status_code == 404


def test_agent_corrects_through_the_api(personas, api, triaged):
    client = api(personas.agnes)
    response = client.post(f"tickets/{triaged.pk}/triage/kind/label", {"label": "repair"})
    assert response.status_code == 200
    kind = next(p for p in response.json()["predictions"] if p["head"] == "kind")
    assert (kind["outcome"], kind["final_label"], kind["label_display"]) == (
        "corrected",
        "repair",
        "报修",
    )
    triaged.refresh_from_db()
    assert triaged.kind == "repair"
    response = client.post(f"tickets/{triaged.pk}/triage/kind/label", {"label": "报修"})
    assert (response.status_code, response.json()["code"]) == (422, "triage_labels_unknown")
    response = client.post(f"tickets/{triaged.pk}/triage/category/label", {"label": "空调"})
    assert (response.status_code, response.json()["code"]) == (422, "triage_not_found")


def test_model_list_pages_newest_first(personas, api):
    train_kind()
    train_kind()
    train_sentiment()
    TriageModel.objects.filter(head__name="kind", version=2).update(is_active=False)
    client = api(personas.lena)
    first = client.get("triage/models", {"limit": 2}).json()
    assert [(m["head"], m["version"], m["in_use"]) for m in first["items"]] == [
        ("sentiment", 1, True),
        ("kind", 2, False),
    ]
    second = client.get("triage/models", {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [(m["head"], m["version"], m["in_use"]) for m in second["items"]] == [("kind", 1, True)]
    assert second["next_cursor"] is None
    only = client.get("triage/models", {"head": "sentiment"}).json()["items"]
    assert [m["labels"] for m in only] == [["angry", "negative", "positive"]]
    response = client.get("triage/models", {"cursor": "bm9wZQ"})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_cursor")
    assert api(personas.alice).get("triage/models").status_code == 403


def _page(user, ticket):
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client.get(f"/tickets/{ticket.pk}/").content.decode()


def test_ticket_page_shows_predictions_and_driving_words(personas, triaged):
    page = _page(personas.agnes, triaged)
    assert 'id="triage"' in page
    assert "负面（愤怒）" in page and "<mark>投诉</mark>" in page
    assert 'id="triage"' not in _page(personas.alice, triaged)


def test_ticket_page_warns_about_a_broken_model(personas, triaged):
    kind = TriageModel.objects.get(head__name="kind")
    default_storage.delete(kind.file.name)
    ticket_services.open_ticket(
        actor=personas.alice,
        kind="repair",
        channel="portal",
        subject="洗衣机漏水",
        customer=personas.alice_customer,
    )
    from aftercare.assist.services import check_models_in_use

    check_models_in_use()
    page = _page(personas.agnes, triaged)
    assert "“工单类型”模型 v1 无法使用，该维度已停用：模型文件缺失或无法打开" in page


def test_demo_sentiment_rules():
    assert demo_sentiment("complaint", "等了一上午，非常不满意") == "angry"
    assert demo_sentiment("complaint", "安装收费不合理") == "negative"
    assert demo_sentiment("repair", "空调漏水") == "negative"
    assert demo_sentiment("inquiry", "请问保修期") == "neutral"
    assert reply_sentiment("已经好了，谢谢师傅！") == "positive"
    assert reply_sentiment("试了一下还是不行，麻烦尽快安排。") == "negative"
    assert reply_sentiment("师傅明天上午能来吗？") == "neutral"


def test_seed_demo_trains_the_four_heads_and_triages_new_tickets(db):
    from aftercare.demo.seed import seed_demo

    seed_demo(tickets=120)
    heads = set(TriageModel.objects.values_list("head__name", flat=True))
    assert heads == {"kind", "priority", "sentiment", "category"}
    assert TriagePrediction.objects.exists()
    assert train_demo_models() == []


def test_admin_lists_models_and_warns_about_a_broken_one(personas):
    kind = train_kind()
    train_sentiment()
    default_storage.delete(kind.file.name)
    personas.ada.is_staff = personas.ada.is_superuser = True
    personas.ada.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    assert client.login(username="ada", password=PASSWORD)
    page = client.get("/admin/assist/triagemodel/").content.decode()
    assert "“工单类型”模型 v1 无法使用，该维度已停用：模型文件缺失或无法打开" in page
    assert page.count("无法加载，该维度已停用") == 1
    heads = client.get("/admin/assist/triagehead/")
    assert heads.status_code == 200
    assert "“工单类型”模型 v1 无法使用" in heads.content.decode()
