import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftercare.kb import services
from aftercare.kb.choices import ArticleType, Audience
from aftercare.kb.models import Article
from aftercare.tickets import services as tickets

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def test_agent_drafts_lead_publishes_customer_reads_the_published_version(
    personas, api, django_capture_on_commit_callbacks
):
    agent, lead, customer = api(personas.agnes), api(personas.lena), api(personas.alice)
    created = agent.post(
        "kb/articles",
        {
            "type": "faq",
            "audience": "public",
            "title": "洗衣机不脱水怎么办",
            "summary": "衣物分布不均时会停止脱水",
            "body": "## 处理步骤\n\n1. 把衣物抖散\n2. 重新选择脱水程序",
            "product_line_ids": [personas.product.line_id],
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    article_id = body["id"]
    assert (body["status"], body["is_live"], body["version"]) == ("draft", False, 1)
    assert body["body_html"] == (
        "<h2>处理步骤</h2>\n<ol>\n<li>把衣物抖散</li>\n<li>重新选择脱水程序</li>\n</ol>"
    )
    assert customer.get(f"kb/articles/{article_id}").status_code == 404
    assert agent.post(f"kb/articles/{article_id}/publish", {}).json()["code"] == "review_required"
    with django_capture_on_commit_callbacks(execute=True):
        published = lead.post(f"kb/articles/{article_id}/publish", {"note": "内容准确"})
    assert published.json()["status"] == "published"

    saved = agent.post(
        f"kb/articles/{article_id}/versions",
        {"language": "zh-hans", "title": "洗衣机不脱水", "body": "新步骤", "base_version": 1},
    )
    assert (saved.status_code, saved.json()["status"], saved.json()["version"]) == (
        201,
        "draft",
        2,
    )
    stale = agent.post(
        f"kb/articles/{article_id}/versions",
        {"language": "zh-hans", "title": "又改", "body": "x", "base_version": 1},
    )
    assert (stale.status_code, stale.json()["code"]) == (409, "version_conflict")

    read = customer.get(f"kb/articles/{article_id}").json()
    assert (read["title"], read["version"], read["languages"]) == (
        "洗衣机不脱水怎么办",
        1,
        [{"language": "zh-hans", "latest_version": None, "published_version": 1}],
    )
    assert agent.get(f"kb/articles/{article_id}?latest=true").json()["title"] == "洗衣机不脱水"
    assert Article.objects.get(pk=article_id).view_count == 1
    listed = customer.get("kb/articles").json()["items"]
    assert [(a["id"], a["title"]) for a in listed] == [(article_id, "洗衣机不脱水怎么办")]

    diff = agent.get(f"kb/articles/{article_id}/diff?from_version=1&to_version=2").json()
    assert diff["fields"]["title"]["rows"] == [
        {
            "op": "change",
            "old": "洗衣机不脱水怎么办",
            "new": "洗衣机不脱水",
            "segments": [
                {"op": "equal", "text": "洗衣机不脱水"},
                {"op": "delete", "text": "怎么办"},
            ],
        }
    ]
    history = agent.get(f"kb/articles/{article_id}/history").json()
    assert [(v["number"], v["is_published"]) for v in history["versions"]] == [
        (2, False),
        (1, True),
    ]
    assert [e["kind"] for e in history["events"]] == ["created", "published", "version_saved"]


def test_agent_may_not_make_a_live_article_public(personas, api, publish):
    article = publish(personas.lena, "压缩机更换标准", "内部", audience=Audience.INTERNAL)
    refused = api(personas.agnes).patch(f"kb/articles/{article.pk}", {"audience": "public"})
    assert (refused.status_code, refused.json()["code"]) == (403, "review_required")
    allowed = api(personas.lena).patch(f"kb/articles/{article.pk}", {"audience": "public"})
    assert allowed.json()["audience"] == "public"


def test_search_endpoint(personas, api, publish):
    ac = publish(
        personas.lena,
        "空调不制冷排查",
        "检查滤网",
        variants={"en": ("Air conditioner not cooling", "Clean the filter.")},
    )
    publish(personas.lena, "内部：冷媒压力标准", "不制冷时测压力", audience=Audience.INTERNAL)
    customer = api(personas.alice, language="en")
    found = customer.get("kb/search", {"q": "air conditionr not coolng"}).json()
    assert found == {
        "items": [
            {
                "article_id": ac.pk,
                "language": "en",
                "type": "solution",
                "title": "Air conditioner not cooling",
                "snippet": "Clean the filter.",
                "category": None,
                "score": found["items"][0]["score"],
            }
        ],
        "total": 1,
        "terms": ["air", "conditionr", "not", "coolng"],
        "synonyms": [],
        "corrections": {"conditionr": "conditioner", "coolng": "cool"},
    }
    staff = api(personas.agnes).get("kb/search", {"q": "不制冷"}).json()
    assert [i["title"] for i in staff["items"]] == ["空调不制冷排查", "内部：冷媒压力标准"]
    assert api(personas.alice).get("kb/search", {"q": "不制冷"}).json()["total"] == 1
    bad = customer.get("kb/search", {"q": "x", "limit": 0})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_limit")


@pytest.fixture
def ticket(personas):
    t = tickets.open_ticket(
        actor=personas.agnes,
        kind="repair",
        channel="phone",
        subject="空调不制冷",
        customer=personas.alice_customer,
        product_unit=personas.alice_unit,
        team=personas.team_a,
    )
    return t


def test_reply_template_is_filled_for_a_ticket_and_counted(personas, api, publish, ticket):
    template = publish(
        personas.lena,
        "保修期内免费维修话术",
        "{{ customer.name }}您好，您的 {{ unit.product_name }}（{{ unit.serial }}）"
        "保修至 {{ unit.warranty_until }}，本次上门免费。工单号 {{ ticket.number }}。",
        type=ArticleType.REPLY_TEMPLATE,
        audience=Audience.INTERNAL,
    )
    agent = api(personas.agnes)
    rendered = agent.post(f"kb/articles/{template.pk}/render", {"ticket_id": ticket.pk}).json()
    assert rendered == {
        "text": f"王丽您好，您的 挂壁式空调（AC35GW0001）保修至 2027-11-18，本次上门免费。"
        f"工单号 {ticket.number}。",
        "language": "zh-hans",
        "problems": [],
        "unknown_variables": [],
    }
    assert Article.objects.get(pk=template.pk).insert_count == 1
    faq = publish(personas.lena, "普通文章", "正文")
    not_template = agent.post(f"kb/articles/{faq.pk}/render", {"ticket_id": ticket.pk})
    assert (not_template.status_code, not_template.json()["code"]) == (422, "not_a_reply_template")


def test_preview_lists_every_problem(personas, api, ticket):
    agent = api(personas.agnes)
    ok = agent.post("kb/templates/preview", {"text": "{{ customer.name }}，{{ ticket.kind }}"})
    assert ok.json()["text"] == "张先生，报修"
    with_ticket = agent.post(
        "kb/templates/preview", {"text": "{{ customer.name }}", "ticket_id": ticket.pk}
    )
    assert with_ticket.json()["text"] == "王丽"
    bad = agent.post("kb/templates/preview", {"text": "{{ customer.nmae }} {{ a b }} {{ today"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "template_problems"
    assert bad.json()["details"] == [
        {"code": "unknown_variable", "expression": "customer.nmae", "message": "没有这个变量"},
        {"code": "invalid_expression", "expression": "a b", "message": "无法识别的占位符写法"},
        {"code": "unclosed_placeholder", "expression": "{{", "message": "占位符缺少结尾的 }}"},
    ]
    names = [v["name"] for v in agent.get("kb/templates/variables").json()]
    assert names[:3] == ["customer.name", "customer.tier", "contact.name"]


def test_image_attachment_is_placed_in_the_body(personas, api, django_capture_on_commit_callbacks):
    agent = api(personas.agnes)
    article_id = agent.post(
        "kb/articles", {"type": "solution", "audience": "public", "title": "清洗滤网"}
    ).json()["id"]
    uploaded = agent.post(
        f"kb/articles/{article_id}/attachments",
        files={"file": SimpleUploadedFile("filter.png", PNG, content_type="image/png")},
    )
    assert uploaded.status_code == 201, uploaded.content
    image = uploaded.json()
    assert (image["is_image"], image["reference"]) == (True, f"attachment:{image['id']}")
    agent.post(
        f"kb/articles/{article_id}/versions",
        {
            "language": "zh-hans",
            "title": "清洗滤网",
            "body": f"![滤网位置]({image['reference']}) ![别处](attachment:999999)"
            '<script>alert(1)</script><img src=x onerror="alert(1)">',
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        api(personas.lena).post(f"kb/articles/{article_id}/publish", {})
    read = api(personas.alice).get(f"kb/articles/{article_id}").json()
    assert read["body_html"] == (
        f'<p><img alt="滤网位置" src="{image["download_url"]}"> <img alt="别处" src="">'
        '<img src="x"></p>'
    )
    download = api(personas.alice).get(image["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PNG


def test_article_list_query_count_does_not_grow(personas, api, publish):
    for n in range(3):
        publish(personas.lena, f"文章{n}", "正文", variants={"en": (f"Article {n}", "Body")})
    agent = api(personas.agnes)
    agent.get("kb/articles")  # authentication caches warm up

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert agent.get("kb/articles").status_code == 200
        return len(queries)

    few = count()
    for n in range(3, 9):
        publish(personas.lena, f"文章{n}", "正文")
    assert count() == few


def test_synonyms_and_categories_by_admin(personas, api, publish):
    admin = api(personas.ada)
    created = admin.post("kb/synonyms", {"phrases": "不制冷\n不冷\n制冷效果差", "note": "空调"})
    assert created.json()["phrases"] == ["不制冷", "不冷", "制冷效果差"]
    too_few = admin.post("kb/synonyms", {"phrases": "漏水"})
    assert (too_few.status_code, too_few.json()["code"]) == (422, "synonyms_too_few")
    off = admin.patch(f"kb/synonyms/{created.json()['id']}", {"is_active": False})
    assert off.json()["is_active"] is False
    category = admin.post("kb/categories", {"name": "空调", "slug": "ac", "name_en": "Air con"})
    again = admin.post("kb/categories", {"name": "空调", "slug": "ac"})
    assert (category.status_code, again.status_code, again.json()["code"]) == (
        201,
        409,
        "category_exists",
    )
    services.create_category(actor=personas.ada, name="空调故障", slug="ac-faults")


def test_create_with_idempotency_key_makes_one_article(personas, api):
    agent = api(personas.agnes)
    body = {"type": "faq", "title": "热水器出水量小"}
    headers = {"Idempotency-Key": "kb-import-0001"}
    first = agent.post("kb/articles", body, headers=headers)
    again = agent.post("kb/articles", body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    other = agent.post("kb/articles", {**body, "title": "别的"}, headers=headers)
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert Article.objects.count() == 1
