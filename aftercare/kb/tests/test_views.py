import json

import pytest
from django.test import Client

from aftercare.conftest import PASSWORD
from aftercare.kb import services
from aftercare.kb.choices import ArticleType, Audience
from aftercare.kb.models import Article, ArticleFeedback, ArticleVersion
from aftercare.tickets import services as tickets

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def articles(personas, publish):
    lead = personas.lena
    return {
        "public": publish(
            lead,
            "空调不制冷<script>alert(1)</script>",
            "1. 清洗滤网\n2. 检查外机",
            summary="先自己检查两处",
            variants={"en": ("Air conditioner not cooling", "Clean the filter.")},
        ),
        "internal": publish(lead, "漏氟判定标准", "内部", audience=Audience.INTERNAL),
    }


def test_help_centre_lists_and_searches_public_articles_for_anyone(articles):
    page = Client().get("/help/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "空调不制冷&lt;script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "漏氟判定标准" not in html
    found = Client().get("/help/", {"q": "不制冷"}).content.decode()
    assert f'href="/help/articles/{articles["public"].pk}/"' in found
    internal = Client().get("/help/", {"q": "漏氟"}).content.decode()
    assert "漏氟判定标准" not in internal
    assert "没有找到相关文章" in internal


def test_help_article_in_the_readers_language_and_counts_the_view(articles):
    article = articles["public"]
    chinese = Client().get(f"/help/articles/{article.pk}/").content.decode()
    assert "<li>清洗滤网</li>" in chinese
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get(f"/help/articles/{article.pk}/")
    assert "Air conditioner not cooling" in english.content.decode()
    chosen = Client().get(f"/help/articles/{article.pk}/?lang=en").content.decode()
    assert "<p>Clean the filter.</p>" in chosen
    assert Article.objects.get(pk=article.pk).view_count == 3
    assert Client().get(f"/help/articles/{articles['internal'].pk}/").status_code == 404


def test_anonymous_feedback_counts_once_per_visitor(articles):
    article = articles["public"]
    visitor = Client()
    url = f"/help/articles/{article.pk}/feedback"
    assert visitor.post(url, {"helpful": "yes", "language": "zh-hans"}).status_code == 302
    visitor.post(url, {"helpful": "no", "comment": "步骤不清楚", "language": "zh-hans"})
    Client().post(url, {"helpful": "yes"})
    article.refresh_from_db()
    assert (article.helpful_count, article.not_helpful_count) == (1, 1)
    assert ArticleFeedback.objects.filter(comment="步骤不清楚").count() == 1
    assert Client().post(f"/help/articles/{articles['internal'].pk}/feedback").status_code == 404


def test_staff_pages_write_review_and_diff(personas, articles):
    agent, lead = signed_in(personas.agnes), signed_in(personas.lena)
    created = agent.post(
        "/kb/new",
        {
            "type": "faq",
            "audience": "public",
            "language": "zh-hans",
            "title": "冰箱结霜",
            "body": "化霜",
        },
    )
    article = Article.objects.get(created_by=personas.agnes)
    assert created["Location"] == f"/kb/{article.pk}/"
    edited = agent.post(
        f"/kb/{article.pk}/edit?lang=zh-hans",
        {"title": "冰箱冷冻室结霜", "body": "手动化霜", "base_version": "1", "language": "zh-hans"},
    )
    assert edited.status_code == 302
    agent.post(f"/kb/{article.pk}/step", {"step": "submit"})
    refused = agent.post(f"/kb/{article.pk}/step", {"step": "publish"}, follow=True)
    assert "只有主管或管理员可以审核和发布文章" in refused.content.decode()
    lead.post(f"/kb/{article.pk}/step", {"step": "publish", "note": "可以"})
    article.refresh_from_db()
    assert (article.status, article.is_live) == ("published", True)
    detail = lead.get(f"/kb/{article.pk}/").content.decode()
    assert "冰箱冷冻室结霜" in detail
    diff = lead.get(f"/kb/{article.pk}/diff?lang=zh-hans&from=1&to=2").content.decode()
    assert "冰箱<ins>冷冻室</ins>结霜" in diff
    assert "<ins>手动</ins>化霜" in diff
    form = agent.get(f"/kb/{article.pk}/edit?lang=zh-hans").content.decode()
    assert '<textarea id="f-body" name="body" rows="16">手动化霜</textarea>' in form
    assert 'name="base_version" value="2"' in form
    assert agent.get("/kb/new").status_code == 200
    searched = agent.get("/kb/", {"q": "漏氟"}).content.decode()
    assert "漏氟判定标准" in searched and "冰箱冷冻室结霜" not in searched
    listing = agent.get("/kb/").content.decode()
    assert "漏氟判定标准" in listing and "冰箱冷冻室结霜" in listing


def test_customers_cannot_open_staff_pages(personas, articles):
    alice = signed_in(personas.alice)
    assert alice.get("/kb/").status_code == 404
    assert alice.get(f"/kb/{articles['public'].pk}/").status_code == 404
    assert alice.post("/kb/new", {"type": "faq", "title": "x"}).status_code == 404


@pytest.fixture
def ticket(personas):
    return tickets.open_ticket(
        actor=personas.agnes,
        kind="repair",
        channel="phone",
        subject="空调不制冷",
        customer=personas.alice_customer,
        product_unit=personas.alice_unit,
        team=personas.team_a,
    )


def test_ticket_page_inserts_a_filled_reply_template(personas, publish, ticket):
    template = publish(
        personas.lena,
        "预约上门话术",
        "{{ customer.name }}您好，工单 {{ ticket.number }} 已安排上门。",
        type=ArticleType.REPLY_TEMPLATE,
        audience=Audience.INTERNAL,
    )
    # An unknown placeholder cannot be published; pretend one slipped in before that rule.
    ArticleVersion.objects.filter(variant__article=template).update(
        body="{{ customer.name }}您好，工单 {{ ticket.number }} 已安排上门。{{ customer.nmae }}"
    )
    agent = signed_in(personas.agnes)
    page = agent.get(f"/tickets/{ticket.pk}/").content.decode()
    assert f'<option value="{template.pk}">预约上门话术</option>' in page
    filled = agent.post(f"/kb/templates/{template.pk}/insert", {"ticket": ticket.pk})
    assert json.loads(filled.content) == {
        "text": f"王丽您好，工单 {ticket.number} 已安排上门。",
        "language": "zh-hans",
        "unknown_variables": ["customer.nmae"],
    }
    assert Article.objects.get(pk=template.pk).insert_count == 1
    customer_page = signed_in(personas.alice).get(f"/tickets/{ticket.pk}/").content.decode()
    assert "kb-template" not in customer_page
    refused = signed_in(personas.alice).post(
        f"/kb/templates/{template.pk}/insert", {"ticket": ticket.pk}
    )
    assert (refused.status_code, json.loads(refused.content)["code"]) == (
        404,
        "article_not_found",
    )


def test_attachment_images_shown_inline_in_the_help_centre(personas, publish):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from .test_api import PNG

    article = publish(personas.lena, "清洗滤网", "见图")
    image = services.add_article_attachment(
        actor=personas.lena,
        article=article,
        upload=SimpleUploadedFile("filter.png", PNG, content_type="image/png"),
    )
    response = Client().get(f"/help/files/{image.pk}")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
