"""Reads that the API, the help centre and the staff pages share."""

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from aftercare.accounts import policy
from aftercare.core.errors import NotFound

from . import search
from .choices import LANGUAGE_PREFERENCE, ArticleType, Audience
from .content import plain_excerpt
from .models import Article, ArticleVariant, ArticleVersion, Category

ORDERING = ("-updated_at", "-id")


def variants_prefetch() -> Prefetch:
    """Variants with their latest and published versions, bodies left out (lists show titles)."""
    return Prefetch(
        "variants",
        queryset=ArticleVariant.objects.select_related("latest_version", "published_version")
        .defer("latest_version__body", "published_version__body")
        .order_by("language"),
    )


def article_queryset() -> QuerySet[Article]:
    return Article.objects.select_related("category").prefetch_related(
        variants_prefetch(), "products", "product_lines"
    )


@dataclass
class ArticleFilters:
    type: str | None = None
    status: str | None = None
    audience: str | None = None
    category_id: int | None = None
    product_id: int | None = None
    product_line_id: int | None = None

    def apply(self, qs: QuerySet[Article]) -> QuerySet[Article]:
        if self.type:
            qs = qs.filter(type=self.type)
        if self.status:
            qs = qs.filter(status=self.status)
        if self.audience:
            qs = qs.filter(audience=self.audience)
        if self.category_id:
            qs = qs.filter(
                Q(category_id=self.category_id) | Q(category__parent_id=self.category_id)
            )
        if self.product_id:
            from aftercare.catalog.models import Product

            line_id = Product.objects.filter(pk=self.product_id).values("line_id")
            qs = qs.filter(Q(products=self.product_id) | Q(product_lines__in=line_id)).distinct()
        if self.product_line_id:
            qs = qs.filter(product_lines=self.product_line_id)
        return qs

    @property
    def any(self) -> bool:
        return any(vars(self).values())


def list_articles(
    user, filters: ArticleFilters, *, cursor_values: list | None, limit: int
) -> tuple[list[Article], list | None]:
    """A page of articles the user may see, newest change first; the cursor of the next page."""
    qs = filters.apply(policy.visible_articles(user, article_queryset()))
    if cursor_values is not None:
        updated_at, pk = cursor_values
        qs = qs.filter(Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, id__lt=pk))
    rows = list(qs.order_by(*ORDERING)[: limit + 1])
    if len(rows) > limit:
        last = rows[limit - 1]
        return rows[:limit], [last.updated_at.isoformat(), last.pk]
    return rows, None


def pick_variant(article: Article, language: str, *, live: bool) -> ArticleVariant | None:
    """The variant a reader of `language` gets: their own language first (see
    LANGUAGE_PREFERENCE). `live`: only variants with a published version."""
    variants = {
        v.language: v
        for v in article.variants.all()
        if not live or v.published_version_id is not None
    }
    for language_code in LANGUAGE_PREFERENCE[language]:
        if language_code in variants:
            return variants[language_code]
    return None


def shown_version(variant: ArticleVariant, *, latest: bool) -> ArticleVersion | None:
    if latest or variant.published_version_id is None:
        return variant.latest_version
    return variant.published_version


def full_version(version_id: int) -> ArticleVersion:
    return ArticleVersion.objects.select_related("created_by").get(pk=version_id)


def article_versions(article: Article, language: str) -> list[ArticleVersion]:
    return list(
        ArticleVersion.objects.filter(variant__article=article, variant__language=language)
        .select_related("created_by")
        .defer("body")
        .order_by("-number")
    )


def get_version(article: Article, language: str, number: int) -> ArticleVersion:
    version = (
        ArticleVersion.objects.filter(
            variant__article=article, variant__language=language, number=number
        )
        .select_related("created_by")
        .first()
    )
    if version is None:
        raise NotFound(_("版本不存在"), code="version_not_found")
    return version


def article_events(article: Article):
    return article.events.select_related("actor").order_by("created_at", "id")


@dataclass
class SearchRow:
    article: Article
    variant: ArticleVariant
    version: ArticleVersion
    score: float
    snippet: str


def search_articles(
    user,
    query: str,
    *,
    language: str,
    filters: ArticleFilters | None = None,
    limit: int = 10,
    offset: int = 0,
) -> tuple[list[SearchRow], search.SearchOutcome]:
    """Ranked live articles for a query, in the variant the search matched. Customers and
    anonymous visitors get public articles only."""
    public_only = not policy.is_kb_staff(user)
    narrowed = None
    if filters is not None and filters.any:
        narrowed = filters.apply(Article.objects.all())
    outcome = search.search(
        query,
        language=language,
        public_only=public_only,
        articles=narrowed,
        limit=limit,
        offset=offset,
    )
    if not outcome.hits:
        return [], outcome
    articles = Article.objects.select_related("category").in_bulk(
        [h.article_id for h in outcome.hits]
    )
    variants = ArticleVariant.objects.select_related("published_version").in_bulk(
        [h.variant_id for h in outcome.hits]
    )
    rows = []
    for hit in outcome.hits:
        variant = variants.get(hit.variant_id)
        article = articles.get(hit.article_id)
        # The index is updated after commit; skip what went out of view since.
        if variant is None or article is None or variant.published_version is None:
            continue
        if not article.is_live or (public_only and article.audience != Audience.PUBLIC):
            continue
        version = variant.published_version
        rows.append(
            SearchRow(
                article=article,
                variant=variant,
                version=version,
                score=hit.score,
                snippet=version.summary or plain_excerpt(version.body),
            )
        )
    return rows, outcome


def help_centre_categories() -> list[tuple[Category, int]]:
    """Top-level categories with the number of live public articles in them and below."""
    live_public = policy.visible_articles(AnonymousUser(), Article.objects.all())
    counts: dict[int, int] = {}
    for category_id, parent_id in live_public.filter(category__isnull=False).values_list(
        "category_id", "category__parent_id"
    ):
        top = parent_id or category_id
        counts[top] = counts.get(top, 0) + 1
    return [
        (category, counts[category.pk])
        for category in Category.objects.filter(parent__isnull=True)
        if counts.get(category.pk)
    ]


def reply_templates(user, language: str) -> list[tuple[Article, ArticleVariant]]:
    """Live reply templates for the picker on the ticket page, each in the variant for the
    user's language."""
    qs = (
        policy.visible_articles(user, article_queryset())
        .filter(search.live_article_condition(), type=ArticleType.REPLY_TEMPLATE)
        .order_by("category__position", "id")
    )
    picked = []
    for article in qs:
        variant = pick_variant(article, language, live=True)
        if variant is not None:
            picked.append((article, variant))
    return picked
