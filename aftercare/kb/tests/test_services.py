import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from aftercare.core.errors import Conflict, ValidationFailed
from aftercare.kb import services
from aftercare.kb.choices import ArticleStatus, ArticleType, Audience
from aftercare.kb.diffing import diff_text, diff_versions
from aftercare.kb.models import Article, ArticleFeedback, ArticleVersion

pytestmark = pytest.mark.django_db


def draft(actor, **kw):
    fields = {
        "type": ArticleType.FAQ,
        "language": "zh-hans",
        "title": "E1 故障码",
        "body": "E1 表示通讯故障。",
    }
    return services.create_article(actor=actor, **{**fields, **kw})


def variant(article, language="zh-hans"):
    return article.variants.select_related("latest_version", "published_version").get(
        language=language
    )


def test_create_makes_draft_with_version_one(personas):
    article = draft(personas.agnes, summary="  空调 E1  ", keywords="E1, 通讯")
    assert article.status == ArticleStatus.DRAFT
    assert article.audience == Audience.INTERNAL
    assert not article.is_live
    v = variant(article)
    assert (v.latest_version.number, v.latest_version.summary) == (1, "空调 E1")
    assert v.published_version is None
    assert list(article.events.values_list("kind", "to_status")) == [("created", "draft")]


def test_saving_versions_keeps_history_and_refuses_stale_edits(personas):
    article = draft(personas.agnes)
    second = services.save_article_version(
        actor=personas.agnes,
        article=article,
        language="zh-hans",
        title="E1 故障码",
        body="E1 表示室内外机通讯故障。",
        base_version=1,
    )
    assert second.number == 2
    same = services.save_article_version(
        actor=personas.lena,
        article=article,
        language="zh-hans",
        title="E1 故障码",
        body="E1 表示室内外机通讯故障。",
    )
    assert same.pk == second.pk
    with pytest.raises(Conflict) as refused:
        services.save_article_version(
            actor=personas.lena,
            article=article,
            language="zh-hans",
            title="E1",
            body="别的内容",
            base_version=1,
        )
    assert refused.value.code == "version_conflict"
    assert refused.value.details == {"latest_version": 2}
    assert list(
        ArticleVersion.objects.filter(variant__article=article).values_list("number", "body")
    ) == [(1, "E1 表示通讯故障。"), (2, "E1 表示室内外机通讯故障。")]


def test_review_workflow_keeps_readers_on_the_published_version(personas):
    agent, lead = personas.agnes, personas.lena
    article = draft(agent)
    services.submit_article_for_review(actor=agent, article=article)
    with pytest.raises(ValidationFailed) as no_note:
        services.request_article_changes(actor=lead, article=article, note=" ")
    assert no_note.value.code == "note_required"
    services.request_article_changes(actor=lead, article=article, note="补充处理步骤")
    services.submit_article_for_review(actor=agent, article=article)
    services.publish_article(actor=lead, article=article)
    article.refresh_from_db()
    assert article.status == ArticleStatus.PUBLISHED and article.is_live
    assert variant(article).published_version.number == 1

    services.save_article_version(
        actor=agent, article=article, language="zh-hans", title="E1 故障码", body="新的说明"
    )
    article.refresh_from_db()
    assert article.status == ArticleStatus.DRAFT
    assert article.is_live  # readers still get version 1
    assert (variant(article).latest_version.number, variant(article).published_version.number) == (
        2,
        1,
    )
    services.publish_article(actor=lead, article=article)
    assert variant(article).published_version.number == 2
    assert list(article.events.values_list("kind", "from_status", "to_status", "note")) == [
        ("created", "", "draft", ""),
        ("submitted", "draft", "in_review", ""),
        ("changes_requested", "in_review", "draft", "补充处理步骤"),
        ("submitted", "draft", "in_review", ""),
        ("published", "in_review", "published", ""),
        ("version_saved", "published", "draft", ""),
        ("published", "draft", "published", ""),
    ]


@pytest.mark.parametrize(
    "step,status",
    [
        ("submit_article_for_review", ArticleStatus.PUBLISHED),
        ("publish_article", ArticleStatus.PUBLISHED),
        ("restore_article", ArticleStatus.DRAFT),
        ("archive_article", ArticleStatus.ARCHIVED),
    ],
)
def test_steps_from_the_wrong_status_are_conflicts(personas, step, status):
    article = draft(personas.agnes)
    Article.objects.filter(pk=article.pk).update(status=status)
    with pytest.raises(Conflict) as refused:
        getattr(services, step)(actor=personas.lena, article=article)
    assert refused.value.code == "invalid_article_transition"
    assert Article.objects.get(pk=article.pk).status == status


def test_archive_and_restore_need_a_new_publication(personas):
    article = draft(personas.agnes, audience=Audience.PUBLIC)
    services.publish_article(actor=personas.lena, article=article)
    services.archive_article(actor=personas.lena, article=article, note="政策已更新")
    article.refresh_from_db()
    assert not article.is_live
    with pytest.raises(Conflict) as archived:
        services.save_article_version(
            actor=personas.agnes, article=article, language="zh-hans", title="x", body="y"
        )
    assert archived.value.code == "article_archived"
    services.restore_article(actor=personas.lena, article=article)
    article.refresh_from_db()
    assert (article.status, article.published_at, article.is_live) == ("draft", None, False)
    assert variant(article).published_version is None


def test_reply_template_with_unknown_variable_is_not_published(personas):
    template = draft(
        personas.agnes,
        type=ArticleType.REPLY_TEMPLATE,
        body="{{ customer.nmae }}您好，您的工单 {{ ticket.number }} 已受理。",
    )
    with pytest.raises(ValidationFailed) as refused:
        services.publish_article(actor=personas.lena, article=template)
    assert refused.value.code == "template_problems"
    assert refused.value.details == {
        "zh-hans": [
            {"code": "unknown_variable", "expression": "customer.nmae", "message": "没有这个变量"}
        ]
    }
    assert Article.objects.get(pk=template.pk).status == ArticleStatus.DRAFT


def test_settings_changes_are_recorded(personas):
    article = draft(personas.agnes)
    services.update_article_settings(
        actor=personas.agnes,
        article=article,
        changes={"audience": "public", "products": [personas.product]},
    )
    event = article.events.get(kind="settings_changed")
    assert event.data == {
        "before": {"audience": "internal", "products": []},
        "after": {"audience": "public", "products": [personas.product.pk]},
    }
    with pytest.raises(ValidationFailed) as unknown:
        services.update_article_settings(
            actor=personas.agnes, article=article, changes={"status": "published"}
        )
    assert unknown.value.code == "unknown_fields"


def test_feedback_once_per_reader_with_counters(personas):
    article = draft(personas.agnes, audience=Audience.PUBLIC)
    services.publish_article(actor=personas.lena, article=article)
    give = services.give_article_feedback
    give(actor=personas.alice, article=article, language="zh-hans", helpful=True)
    give(actor=personas.alice, article=article, language="zh-hans", helpful=False, comment="没讲清")
    give(actor=None, visitor="v1", article=article, language="en", helpful=True)
    give(actor=None, visitor="v1", article=article, language="en", helpful=True)
    article.refresh_from_db()
    assert (article.helpful_count, article.not_helpful_count) == (1, 1)
    assert sorted(ArticleFeedback.objects.values_list("helpful", "comment", "visitor")) == [
        (False, "没讲清", ""),
        (True, "", "v1"),
    ]
    services.record_article_view(article=article)
    services.record_article_deflection(article=article)
    article.refresh_from_db()
    assert (article.view_count, article.deflection_count) == (1, 1)


def test_attachment_is_checked_and_stored(personas):
    article = draft(personas.agnes)
    attachment = services.add_article_attachment(
        actor=personas.agnes, article=article, upload=SimpleUploadedFile("说明.txt", b"E1")
    )
    assert (attachment.original_name, attachment.content_type, attachment.size) == (
        "说明.txt",
        "text/plain",
        2,
    )
    with pytest.raises(ValidationFailed) as refused:
        services.add_article_attachment(
            actor=personas.agnes, article=article, upload=SimpleUploadedFile("x.exe", b"MZ")
        )
    assert refused.value.code == "attachment_type_refused"
    assert article.attachments.count() == 1


def test_synonym_groups_need_two_phrases(personas):
    with pytest.raises(ValidationFailed) as refused:
        services.create_synonym_group(actor=personas.ada, phrases="不制冷\n不制冷")
    assert refused.value.code == "synonyms_too_few"
    group = services.create_synonym_group(actor=personas.ada, phrases=" 漏水，滴水、渗水 ")
    assert group.phrase_list() == ["漏水", "滴水", "渗水"]


def test_diff_marks_changed_characters_of_a_chinese_line():
    rows = diff_text(
        "第一步：清洗滤网。\n第二步：重启。", "第一步：清洗过滤网。\n第二步：重启。\n第三步：报修。"
    )
    assert rows == [
        {
            "op": "change",
            "old": "第一步：清洗滤网。",
            "new": "第一步：清洗过滤网。",
            "segments": [
                {"op": "equal", "text": "第一步：清洗"},
                {"op": "insert", "text": "过"},
                {"op": "equal", "text": "滤网。"},
            ],
        },
        {"op": "equal", "old": "第二步：重启。", "new": "第二步：重启。"},
        {"op": "insert", "old": "", "new": "第三步：报修。"},
    ]


def test_diff_versions_reports_each_field(personas):
    article = draft(personas.agnes)
    services.save_article_version(
        actor=personas.agnes, article=article, language="zh-hans", title="E1 故障码", body="新"
    )
    old, new = ArticleVersion.objects.filter(variant__article=article).order_by("number")
    diff = diff_versions(old, new)
    assert [name for name, field in diff.items() if field["changed"]] == ["body"]
    assert diff["body"]["unified"] == "--- v1\n+++ v2\n@@ -1 +1 @@\n-E1 表示通讯故障。\n+新"
