import pytest

from aftercare.accounts.choices import Role
from aftercare.conftest import make_user
from aftercare.kb import search
from aftercare.kb.demo import ARTICLES, seed_knowledge_base
from aftercare.kb.models import Article

pytestmark = pytest.mark.django_db


def test_demo_knowledge_base_is_published_and_searchable():
    make_user("lead", Role.TEAM_LEAD)
    make_user("agent", Role.AGENT)
    assert seed_knowledge_base() == len(ARTICLES) == 32
    assert seed_knowledge_base() == 0
    assert Article.objects.filter(status="published").count() == 32
    assert sorted(Article.objects.exclude(status="published").values_list("status", flat=True)) == [
        "draft",
        "in_review",
    ]

    def titles(query, language="zh-hans", public_only=True):
        outcome = search.search(query, language=language, public_only=public_only, limit=3)
        found = {
            a.pk: a for a in Article.objects.filter(pk__in=[h.article_id for h in outcome.hits])
        }
        return [
            found[h.article_id].variants.get(language=h.language).published_version.title
            for h in outcome.hits
        ]

    assert titles("空调不冷")[0] == "空调不制冷排查"
    assert titles("空調不製冷", language="zh-hant")[0] == "空調不製冷排查"
    assert titles("washing machne not draning", language="en")[0] == (
        "Washing machine not draining (E21)"
    )
    assert titles("七天能退货吗")[0] == "三包退换货政策"
    assert "热水器漏电保护跳闸处理规范" not in titles("漏电 跳闸")
    assert titles("漏电 跳闸", public_only=False)[0] == "热水器漏电保护跳闸处理规范"
