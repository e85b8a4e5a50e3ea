import math

import pytest
from django.test import TestCase

from aftercare.kb import search, services
from aftercare.kb.analysis import normalise, stem, terms
from aftercare.kb.choices import ArticleType, Audience
from aftercare.kb.models import SearchDocument, SearchPosting, SearchStats, SearchTerm

pytestmark = pytest.mark.django_db


def ids(outcome):
    return [hit.article_id for hit in outcome.hits]


def find(query, *, language="zh-hans", public_only=False, **kw):
    return search.search(query, language=language, public_only=public_only, **kw)


def test_terms_segment_chinese_with_domain_words_and_fold_traditional():
    assert list(terms("空调不制冷，E1故障码是什么意思？")) == [
        "空调",
        "制冷",
        "不制冷",
        "e1",
        "故障",
        "故障码",
        "意思",
    ]
    assert normalise("熱水器顯示E1") == "热水器显示e1"
    assert list(terms("熱水器不加熱")) == ["热水", "水器", "热水器", "不加", "加热", "不加热"]


@pytest.mark.parametrize(
    "word,stemmed",
    [
        ("cooling", "cool"),
        ("filters", "filter"),
        ("batteries", "battery"),
        ("stopped", "stop"),
        ("running", "run"),
        ("filling", "fill"),
        ("glass", "glass"),
        ("status", "status"),
        ("speed", "speed"),
        ("e1", "e1"),
    ],
)
def test_stem(word, stemmed):
    assert stem(word) == stemmed


@pytest.mark.parametrize(
    "a,b,limit,distance",
    [
        ("compressor", "compresor", 2, 1),
        ("cooling", "cooilng", 2, 1),
        ("noise", "noize", 1, 1),
        ("heater", "heaters", 1, 1),
        ("drain", "brian", 1, 2),
        ("filter", "filter", 1, 0),
    ],
)
def test_edit_distance(a, b, limit, distance):
    assert search.edit_distance(a, b, limit) == distance


@pytest.fixture
def corpus(personas, publish):
    lead = personas.lena
    return {
        "ac": publish(
            lead,
            "空调不制冷排查",
            "先检查滤网是否堵塞，再确认室外机是否运转。制冷模式下设定温度低于室温。",
            variants={
                "zh-hant": ("空調不製冷排查", "先檢查濾網是否堵塞，再確認室外機是否運轉。"),
                "en": (
                    "Air conditioner not cooling",
                    "Clean the filters first, then check that the outdoor unit is running.",
                ),
            },
        ),
        "fridge": publish(
            lead, "冰箱冷藏室不制冷", "冷藏室温度偏高时，检查门封条是否贴合，化霜是否正常。"
        ),
        "washer": publish(lead, "洗衣机不排水", "排水泵被异物堵住时，清理排水泵过滤器。"),
        "heater": publish(
            lead,
            "热水器显示 E1 故障码",
            "E1 表示点火失败，请检查燃气阀门是否打开。",
            variants={"en": ("Water heater shows error E1", "E1 means the burner did not ignite.")},
        ),
        "compressor": publish(
            lead,
            "Refrigerator compressor noise",
            "A loud compressor noise after installation usually means the unit is not level.",
            language="en",
        ),
        "internal": publish(
            lead,
            "空调不制冷的内部判定标准",
            "压力低于标准值时按漏氟处理，上门补加冷媒。",
            audience=Audience.INTERNAL,
            type=ArticleType.SPARE_PART_STANDARD,
        ),
    }


def test_ranking_is_exact_for_a_small_corpus(corpus):
    outcome = find("空调不制冷")
    assert ids(outcome) == [corpus["ac"].pk, corpus["internal"].pk, corpus["fridge"].pk]
    assert outcome.terms == ["空调", "制冷", "不制冷"]
    # The title match outranks the same words in a longer internal standard.
    scores = [hit.score for hit in outcome.hits]
    assert scores == sorted(scores, reverse=True)


def test_public_readers_never_get_internal_articles(corpus):
    assert ids(find("空调不制冷", public_only=True)) == [corpus["ac"].pk, corpus["fridge"].pk]
    assert ids(find("漏氟 冷媒", public_only=True)) == []
    assert ids(find("漏氟 冷媒")) == [corpus["internal"].pk]


def test_reader_language_decides_the_variant(corpus):
    hant = find("空調不製冷", language="zh-hant", public_only=True)
    assert [(h.article_id, h.language) for h in hant.hits] == [
        (corpus["ac"].pk, "zh-hant"),
        (corpus["fridge"].pk, "zh-hans"),
    ]
    hans = find("空调不制冷", language="zh-hans", public_only=True)
    assert [h.language for h in hans.hits] == ["zh-hans", "zh-hans"]
    english = find("E1", language="en", public_only=True)
    assert [(h.article_id, h.language) for h in english.hits] == [(corpus["heater"].pk, "en")]
    chinese = find("E1", language="zh-hans", public_only=True)
    assert [(h.article_id, h.language) for h in chinese.hits] == [(corpus["heater"].pk, "zh-hans")]


def test_english_typos_are_corrected_against_the_index(corpus):
    outcome = find("refrigerater compresor noize", language="en")
    assert outcome.corrections == {
        "refrigerater": "refrigerator",
        "compresor": "compressor",
        "noize": "noise",
    }
    assert ids(outcome) == [corpus["compressor"].pk]
    # A transposition, and a word too far from anything indexed.
    assert find("conditoiner", language="en").corrections == {"conditoiner": "conditioner"}
    assert find("xylophone", language="en").corrections == {}
    assert ids(find("xylophone", language="en")) == []


def test_synonyms_widen_the_query_and_are_editable(corpus, personas):
    assert ids(find("空调不够凉")) == [corpus["internal"].pk, corpus["ac"].pk]
    group = services.create_synonym_group(
        actor=personas.ada, phrases="不制冷, 不冷，制冷效果差\n不够凉"
    )
    outcome = find("空调不够凉")
    assert outcome.synonyms == ["不制冷", "不冷", "制冷效果差"]
    assert ids(outcome) == [corpus["ac"].pk, corpus["internal"].pk, corpus["fridge"].pk]
    services.update_synonym_group(actor=personas.ada, group=group, is_active=False)
    assert ids(find("空调不够凉")) == [corpus["internal"].pk, corpus["ac"].pk]


def test_filters_narrow_candidates(corpus):
    narrowed = find(
        "不制冷",
        articles=services.Article.objects.filter(type=ArticleType.SPARE_PART_STANDARD),
    )
    assert ids(narrowed) == [corpus["internal"].pk]


def test_stopwords_only_query_finds_nothing(corpus):
    outcome = find("怎么办？")
    assert outcome.terms == []
    assert outcome.hits == []


def test_bm25_score_matches_the_formula(personas, publish):
    first = publish(personas.lena, "滤网", "")
    publish(personas.lena, "外机", "")
    (hit,) = find("滤网").hits
    assert hit.article_id == first.pk
    # One term in two documents of length 3 (a title word counts three times).
    idf = math.log(1 + (2 - 1 + 0.5) / (1 + 0.5))
    tf = 3.0
    expected = idf * tf * (search.K1 + 1) / (tf + search.K1 * (1 - search.B + search.B * 3 / 3))
    assert hit.score == pytest.approx(expected, rel=1e-9)


def test_archiving_removes_the_article_from_the_index_and_counts(corpus, personas):
    term = SearchTerm.objects.get(text="不制冷")
    assert term.document_count == 4  # ac in zh-hans and zh-hant, fridge, internal
    stats_before = SearchStats.objects.get(pk=1)
    assert stats_before.document_count == SearchDocument.objects.count() == 9
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.archive_article(actor=personas.lena, article=corpus["ac"])
    term.refresh_from_db()
    assert term.document_count == 2
    stats = SearchStats.objects.get(pk=1)
    assert stats.document_count == SearchDocument.objects.count() == 6
    assert ids(find("空调不制冷")) == [corpus["internal"].pk, corpus["fridge"].pk]


def test_rebuild_gives_the_same_index_as_incremental_updates(corpus):
    def snapshot():
        return sorted(
            SearchPosting.objects.values_list(
                "term__text", "document_id", "frequency", "length", "is_public", "language"
            )
        ), sorted(
            SearchTerm.objects.filter(document_count__gt=0).values_list("text", "document_count")
        )

    incremental = snapshot()
    stats = SearchStats.objects.values_list("document_count", "total_length").get(pk=1)
    assert search.rebuild_index() == 9
    assert snapshot() == incremental
    assert SearchStats.objects.values_list("document_count", "total_length").get(pk=1) == stats


def test_search_reads_postings_of_its_terms_in_a_fixed_number_of_queries(
    corpus, django_assert_num_queries
):
    # synonyms, terms, totals, ranking
    with django_assert_num_queries(4):
        find("空调不制冷")
    # plus one spelling look-up per unknown English word
    with django_assert_num_queries(5):
        find("compresor", language="en")


def test_index_recreates_missing_totals(personas, publish):
    SearchStats.objects.all().delete()
    publish(personas.lena, "滤网", "")
    assert SearchStats.objects.values_list("document_count", "total_length").get(pk=1) == (1, 3)
