"""Knowledge-base search: an inverted index in ordinary tables, ranked with BM25.

The index holds one document per live variant (the published version's title, keywords,
summary and body, see analysis.py for how text becomes terms) and one posting per term and
document with the term's weighted frequency. A search reads the postings of its own terms
through the covering index kb_posting_term and adds up their BM25 weights in one grouped
query; the same SQL runs on SQLite and PostgreSQL. Nothing else is read per article.

Before ranking, a query is widened in two ways:
- synonyms (SynonymGroup): when the query contains one phrase of a group, the other phrases'
  terms are searched too, each phrase at SYNONYM_WEIGHT shared among its terms;
- spelling: an English word of four letters or more that no live document contains is
  replaced by the nearest indexed word (edit distance 1, or 2 from six letters up), found
  through SearchTermKey rows instead of comparing against the whole vocabulary.

Results are whole articles. Variants in the reader's language come first, then the other
Chinese script, then the rest (choices.LANGUAGE_PREFERENCE); within each tier by score.
"""

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum

from .analysis import is_latin, normalise, split_phrases, terms
from .choices import LANGUAGE_PREFERENCE, ArticleStatus, Audience
from .models import (
    Article,
    ArticleVariant,
    ArticleVersion,
    SearchDocument,
    SearchPosting,
    SearchStats,
    SearchTerm,
    SearchTermKey,
    SynonymGroup,
)

K1 = 1.2
B = 0.75
FIELD_WEIGHTS = {"title": 3.0, "keywords": 2.0, "summary": 1.5, "body": 1.0}
SYNONYM_WEIGHT = 0.8
SPELLING_WEIGHT = 0.8
# Documents ranked in SQL before they are folded into articles and paged.
CANDIDATES = 200
MAX_RESULTS = 100
MAX_QUERY_CHARS = 200
SPELLING_MIN_LENGTH = 4
_FLOAT = "CAST(%s AS DOUBLE PRECISION)"


@dataclass(frozen=True)
class Hit:
    article_id: int
    variant_id: int
    language: str
    score: float


@dataclass
class SearchOutcome:
    hits: list[Hit]
    total: int
    terms: list[str] = field(default_factory=list)
    synonyms: list[str] = field(default_factory=list)
    corrections: dict[str, str] = field(default_factory=dict)


# --- building the index -----------------------------------------------------------------------


def version_terms(version: ArticleVersion) -> dict[str, float]:
    """Weighted term frequencies of one version: a word in the title counts three times."""
    counts: dict[str, float] = defaultdict(float)
    for name, weight in FIELD_WEIGHTS.items():
        for term in terms(getattr(version, name)):
            counts[term] += weight
    return counts


def spelling_keys(term: str) -> set[str]:
    """The term and every form of it with one letter removed."""
    return {term} | {term[:i] + term[i + 1 :] for i in range(len(term))}


def live_variants(article_ids: Iterable[int] | None = None) -> QuerySet[ArticleVariant]:
    qs = ArticleVariant.objects.filter(
        published_version__isnull=False, article__published_at__isnull=False
    ).exclude(article__status=ArticleStatus.ARCHIVED)
    if article_ids is not None:
        qs = qs.filter(article_id__in=list(article_ids))
    return qs.select_related("published_version", "article")


def _term_ids(texts: set[str]) -> dict[str, int]:
    """Ids of the given terms, creating the missing ones (with their spelling keys)."""
    ids: dict[str, int] = {}
    pending = sorted(texts)
    for start in range(0, len(pending), 500):
        chunk = pending[start : start + 500]
        ids.update(SearchTerm.objects.filter(text__in=chunk).values_list("text", "id"))
    missing = [t for t in pending if t not in ids]
    if missing:
        SearchTerm.objects.bulk_create(
            [SearchTerm(text=t) for t in missing], ignore_conflicts=True, batch_size=500
        )
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            ids.update(SearchTerm.objects.filter(text__in=chunk).values_list("text", "id"))
        keys = [
            SearchTermKey(key=key, term_id=ids[t])
            for t in missing
            if is_latin(t) and len(t) >= SPELLING_MIN_LENGTH - 1
            for key in sorted(spelling_keys(t))
        ]
        SearchTermKey.objects.bulk_create(keys, ignore_conflicts=True, batch_size=1000)
    return ids


def _adjust_counts(changes: Counter[int]) -> None:
    """Add each delta to its term's document_count, one UPDATE per distinct delta."""
    by_delta: dict[int, list[int]] = defaultdict(list)
    for term_id, delta in changes.items():
        if delta:
            by_delta[delta].append(term_id)
    for delta, term_ids in by_delta.items():
        for start in range(0, len(term_ids), 500):
            SearchTerm.objects.filter(id__in=term_ids[start : start + 500]).update(
                document_count=F("document_count") + delta
            )


def _build_documents(variants: list[ArticleVariant]) -> tuple[list, set[str]]:
    built = []
    vocabulary: set[str] = set()
    for variant in variants:
        version = variant.published_version
        assert version is not None
        counts = version_terms(version)
        vocabulary.update(counts)
        length = max(1, round(sum(counts.values())))
        built.append((variant, counts, length))
    return built, vocabulary


def _write_documents(built: list, term_ids: dict[str, int]) -> tuple[Counter[int], int]:
    documents = SearchDocument.objects.bulk_create(
        [
            SearchDocument(
                variant=variant,
                article_id=variant.article_id,
                language=variant.language,
                is_public=variant.article.audience == Audience.PUBLIC,
                length=length,
            )
            for variant, _, length in built
        ]
    )
    postings = []
    added: Counter[int] = Counter()
    total_length = 0
    for document, (_, counts, length) in zip(documents, built, strict=True):
        total_length += length
        for text, frequency in counts.items():
            term_id = term_ids[text]
            added[term_id] += 1
            postings.append(
                SearchPosting(
                    term_id=term_id,
                    document=document,
                    article_id=document.article_id,
                    language=document.language,
                    is_public=document.is_public,
                    frequency=frequency,
                    length=length,
                )
            )
    SearchPosting.objects.bulk_create(postings, batch_size=2000)
    return added, total_length


@transaction.atomic
def index_article(article_id: int) -> int:
    """Bring the index of one article in line with its live variants; returns how many
    documents it now has. Safe to run twice or out of order: it reads the current state."""
    if not Article.objects.select_for_update().filter(pk=article_id).exists():
        return 0
    old = list(SearchDocument.objects.filter(article_id=article_id).values_list("pk", "length"))
    removed: Counter[int] = Counter(
        SearchPosting.objects.filter(document_id__in=[d for d, _ in old]).values_list(
            "term_id", flat=True
        )
    )
    SearchDocument.objects.filter(pk__in=[d for d, _ in old]).delete()
    built, vocabulary = _build_documents(list(live_variants([article_id])))
    added, total_length = _write_documents(built, _term_ids(vocabulary))
    added.subtract(removed)
    _adjust_counts(added)
    # Migration 0001 creates the row; a test database flushed since has lost it.
    SearchStats.objects.get_or_create(pk=1)
    SearchStats.objects.filter(pk=1).update(
        document_count=F("document_count") + len(built) - len(old),
        total_length=F("total_length") + total_length - sum(length for _, length in old),
    )
    return len(built)


@transaction.atomic
def rebuild_index(*, batch_size: int = 500, progress=None) -> int:
    """Drop the whole index and build it again from the live variants; returns the number of
    documents. For `manage.py kb_reindex`, the benchmark and after a change to analysis.py."""
    SearchPosting.objects.all().delete()
    SearchDocument.objects.all().delete()
    SearchTermKey.objects.all().delete()
    SearchTerm.objects.all().delete()
    term_ids: dict[str, int] = {}
    total = 0
    variant_ids = list(live_variants().order_by("id").values_list("id", flat=True))
    for start in range(0, len(variant_ids), batch_size):
        chunk = list(live_variants().filter(id__in=variant_ids[start : start + batch_size]))
        built, vocabulary = _build_documents(chunk)
        new = vocabulary - term_ids.keys()
        if new:
            term_ids.update(_term_ids(new))
        _write_documents(built, term_ids)
        total += len(built)
        if progress:
            progress(total, len(variant_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE kb_searchterm SET document_count = (SELECT count(*) FROM kb_searchposting p"
            " WHERE p.term_id = kb_searchterm.id)"
        )
    stats = SearchDocument.objects.aggregate(n=Count("pk"), total=Sum("length"))
    SearchStats.objects.update_or_create(
        pk=1, defaults={"document_count": stats["n"], "total_length": stats["total"] or 0}
    )
    return total


# --- querying ---------------------------------------------------------------------------------


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of neighbours counts once); limit + 1 when it
    is larger than limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1] if previous[-1] <= limit else limit + 1


def allowed_distance(word: str) -> int:
    return 1 if len(word) < 6 else 2


def _query_keys(word: str, depth: int) -> set[str]:
    keys = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        keys |= frontier
    return keys


def correct_spelling(word: str) -> tuple[str, int, int] | None:
    """(term, id, document count) of the indexed word nearest to a misspelt English word.

    Each indexed word is stored under its spelling keys (itself and each one-letter deletion);
    the query word is looked up under its deletions up to the allowed distance. Two words
    within that distance share a key, except two words two substitutions apart: those need
    two deletions on the indexed side, whose keys hold one.
    """
    limit = allowed_distance(word)
    keys = _query_keys(word, limit)
    rows = (
        SearchTermKey.objects.filter(key__in=sorted(keys), term__document_count__gt=0)
        .values_list("term__text", "term_id", "term__document_count")
        .distinct()
    )
    best = None
    for text, term_id, count in rows:
        distance = edit_distance(word, text, limit)
        if distance > limit:
            continue
        rank = (distance, -count, text)
        if best is None or rank < best[0]:
            best = (rank, (text, term_id, count))
    return best[1] if best else None


def _phrase_in(phrase: str, query: str) -> bool:
    if is_latin(phrase.replace(" ", "")):
        return re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", query) is not None
    return phrase in query


def expand_synonyms(query: str) -> list[str]:
    """Phrases of the active synonym groups that the query does not contain but one of whose
    fellows it does."""
    folded = normalise(query)
    extra: dict[str, None] = {}
    for raw in SynonymGroup.objects.filter(is_active=True).values_list("phrases", flat=True):
        phrases = [normalise(p) for p in split_phrases(raw)]
        present = [p for p in phrases if _phrase_in(p, folded)]
        if present:
            for phrase in phrases:
                if phrase not in present:
                    extra.setdefault(phrase, None)
    return list(extra)


def _stats() -> tuple[int, float]:
    row = SearchStats.objects.filter(pk=1).values_list("document_count", "total_length").first()
    count, total = row or (0, 0)
    return count, (total / count if count else 1.0)


def _idf(document_count: int, documents: int) -> float:
    return math.log(1 + (documents - document_count + 0.5) / (document_count + 0.5))


def _article_filter_sql(articles: QuerySet | None) -> tuple[str, list]:
    if articles is None:
        return "", []
    sql, params = articles.values("id").query.sql_with_params()
    return f" AND p.article_id IN ({sql})", list(params)


def rank_documents(
    weights: dict[int, float],
    *,
    language: str,
    public_only: bool,
    articles: QuerySet | None = None,
    average_length: float | None = None,
    limit: int = CANDIDATES,
) -> list[Hit]:
    """Documents holding any of the weighted terms, best first (reader's language tier, then
    BM25 score). `weights` maps term id → query weight × idf."""
    if not weights:
        return []
    if average_length is None:
        _, average_length = _stats()
    # Typed parameters: PostgreSQL would otherwise do the arithmetic in numeric, several
    # times slower per posting than double precision.
    cases = " ".join(f"WHEN %s THEN {_FLOAT}" for _ in weights)
    case_params: list = [value for pair in weights.items() for value in pair]
    placeholders = ", ".join(["%s"] * len(weights))
    preference = LANGUAGE_PREFERENCE[language]
    filter_sql, filter_params = _article_filter_sql(articles)
    sql = (
        "SELECT p.document_id, p.article_id, p.language,"
        f" SUM((CASE p.term_id {cases} END) * p.frequency * {_FLOAT}"
        f" / (p.frequency + {_FLOAT} * ({_FLOAT} + {_FLOAT} * p.length))) AS score"
        " FROM kb_searchposting p"
        f" WHERE p.term_id IN ({placeholders})"
        + (" AND p.is_public = %s" if public_only else "")
        + filter_sql
        + " GROUP BY p.document_id, p.article_id, p.language"
        " ORDER BY CASE p.language WHEN %s THEN 0 WHEN %s THEN 1 ELSE 2 END, score DESC,"
        " p.document_id LIMIT %s"
    )
    params = [
        *case_params,
        K1 + 1,
        K1,
        1 - B,
        B / average_length,
        *weights,
        *([True] if public_only else []),
        *filter_params,
        preference[0],
        preference[1],
        limit,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        Hit(article_id, variant, lang, float(score)) for variant, article_id, lang, score in rows
    ]


def search(
    query: str,
    *,
    language: str,
    public_only: bool,
    articles: QuerySet | None = None,
    limit: int = 10,
    offset: int = 0,
) -> SearchOutcome:
    """Best articles for a query, one hit per article. `articles` narrows the candidates
    (type, category, product filters); visibility is `public_only`."""
    query = query[:MAX_QUERY_CHARS]
    asked: dict[str, float] = dict.fromkeys(terms(query), 1.0)
    synonyms = expand_synonyms(query)
    wanted = dict(asked)
    for phrase in synonyms:
        # A phrase stands for one thing however many words it has: its terms share the weight,
        # so that 制冷效果差 (four terms) does not outweigh the 不制冷 the customer typed.
        phrase_terms = set(terms(phrase))
        for term in phrase_terms:
            wanted.setdefault(term, SYNONYM_WEIGHT / len(phrase_terms))
    outcome = SearchOutcome(hits=[], total=0, terms=list(asked), synonyms=synonyms)
    if not wanted:
        return outcome
    found = {
        text: (term_id, count)
        for text, term_id, count in SearchTerm.objects.filter(
            text__in=list(wanted), document_count__gt=0
        ).values_list("text", "id", "document_count")
    }
    for word in asked:
        if word in found or not is_latin(word) or len(word) < SPELLING_MIN_LENGTH:
            continue
        corrected = correct_spelling(word)
        if corrected is not None:
            text, term_id, count = corrected
            outcome.corrections[word] = text
            if text not in found:
                found[text] = (term_id, count)
                wanted[text] = SPELLING_WEIGHT
    documents, average_length = _stats()
    weights: dict[int, float] = {}
    for text, (term_id, count) in found.items():
        weight = wanted[text] * _idf(count, documents)
        weights[term_id] = max(weights.get(term_id, 0.0), weight)
    seen: set[int] = set()
    folded: list[Hit] = []
    for hit in rank_documents(
        weights,
        language=language,
        public_only=public_only,
        articles=articles,
        average_length=average_length,
    ):
        if hit.article_id not in seen:
            seen.add(hit.article_id)
            folded.append(hit)
    folded = folded[:MAX_RESULTS]
    outcome.total = len(folded)
    outcome.hits = folded[offset : offset + limit]
    return outcome


def live_article_condition(prefix: str = "") -> Q:
    """Articles that readers can see: published at least once and not archived."""
    return Q(**{f"{prefix}published_at__isnull": False}) & ~Q(
        **{f"{prefix}status": ArticleStatus.ARCHIVED}
    )
