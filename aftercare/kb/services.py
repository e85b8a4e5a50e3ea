"""Every write to the knowledge base. Each function runs in one transaction and records what
happened in ArticleEvent; index updates are queued with transaction.on_commit.

Review workflow: draft → in_review → published → archived. Saving a new version of a
published or in-review article puts it back to draft; readers keep seeing the published
versions until the next publication. Team leads and admins may publish straight from draft.
"""

import datetime as dt
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from aftercare.accounts.models import User
from aftercare.catalog.models import Product, ProductLine
from aftercare.core.errors import Conflict, ValidationFailed
from aftercare.tickets.attachments import check_upload

from . import tasks, templating
from .analysis import split_phrases
from .choices import (
    LANGUAGE_PREFERENCE,
    ArticleEventKind,
    ArticleStatus,
    ArticleType,
    Audience,
    Language,
    reader_language,
)
from .models import (
    Article,
    ArticleAttachment,
    ArticleEvent,
    ArticleFeedback,
    ArticleVariant,
    ArticleVersion,
    Category,
    SynonymGroup,
)

# Which statuses each workflow step starts from.
STEPS = {
    "submit": ({ArticleStatus.DRAFT}, ArticleStatus.IN_REVIEW),
    "request_changes": ({ArticleStatus.IN_REVIEW}, ArticleStatus.DRAFT),
    "publish": ({ArticleStatus.DRAFT, ArticleStatus.IN_REVIEW}, ArticleStatus.PUBLISHED),
    "archive": (
        {ArticleStatus.DRAFT, ArticleStatus.IN_REVIEW, ArticleStatus.PUBLISHED},
        ArticleStatus.ARCHIVED,
    ),
    "restore": ({ArticleStatus.ARCHIVED}, ArticleStatus.DRAFT),
}
SETTINGS_FIELDS = ("type", "audience", "category", "products", "product_lines")
MAX_SYNONYM_PHRASES = 50


def _record(
    article: Article,
    actor: User | None,
    kind: str,
    *,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
    data: dict | None = None,
    at: dt.datetime | None = None,
) -> ArticleEvent:
    return ArticleEvent.objects.create(
        article=article,
        actor=actor,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        note=note[:1000],
        data=data or {},
        created_at=at or timezone.now(),
    )


def _reindex_on_commit(article: Article) -> None:
    article_id = article.pk
    transaction.on_commit(lambda: tasks.reindex_article(article_id))


def _locked(article: Article) -> Article:
    return Article.objects.select_for_update().get(pk=article.pk)


def _clean_text(*, title: str, summary: str, body: str, keywords: str) -> dict[str, str]:
    title = title.strip()
    if not title:
        raise ValidationFailed(_("标题不能为空"), code="title_required")
    return {
        "title": title[:200],
        "summary": summary.strip()[:500],
        "body": body.replace("\r\n", "\n").strip(),
        "keywords": keywords.strip()[:500],
    }


def _check_language(language: str) -> None:
    if language not in Language.values:
        raise ValidationFailed(code="unknown_language", details={"allowed": list(Language.values)})


def _new_version(
    variant: ArticleVariant, actor: User | None, text: dict[str, str], note: str, now
) -> ArticleVersion:
    latest = variant.latest_version
    version = ArticleVersion.objects.create(
        variant=variant,
        number=(latest.number + 1) if latest else 1,
        note=note.strip()[:200],
        created_by=actor,
        created_at=now,
        **text,
    )
    variant.latest_version = version
    variant.save(update_fields=["latest_version"])
    return version


@transaction.atomic
def create_article(
    *,
    actor: User | None,
    type: str,
    language: str,
    title: str,
    body: str,
    summary: str = "",
    keywords: str = "",
    audience: str = Audience.INTERNAL,
    category: Category | None = None,
    products: list[Product] | None = None,
    product_lines: list[ProductLine] | None = None,
    note: str = "",
) -> Article:
    """A new draft with version 1 in one language."""
    _check_language(language)
    if type not in ArticleType.values:
        raise ValidationFailed(code="unknown_article_type")
    text = _clean_text(title=title, summary=summary, body=body, keywords=keywords)
    now = timezone.now()
    article = Article.objects.create(
        type=type,
        audience=audience,
        category=category,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    article.products.set(products or [])
    article.product_lines.set(product_lines or [])
    variant = ArticleVariant.objects.create(article=article, language=language)
    version = _new_version(variant, actor, text, note, now)
    _record(
        article,
        actor,
        ArticleEventKind.CREATED,
        to_status=ArticleStatus.DRAFT,
        at=now,
        data={"language": language, "version": version.number},
    )
    return article


@transaction.atomic
def save_article_version(
    *,
    actor: User | None,
    article: Article,
    language: str,
    title: str,
    body: str,
    summary: str = "",
    keywords: str = "",
    note: str = "",
    base_version: int | None = None,
) -> ArticleVersion:
    """Append a version to the article's variant in `language` (a new variant when there is
    none yet). `base_version` is the version the editor started from; when someone else saved
    in between, the save is refused rather than silently overwriting their text. Saving the
    same text again creates nothing and returns the latest version."""
    _check_language(language)
    text = _clean_text(title=title, summary=summary, body=body, keywords=keywords)
    article = _locked(article)
    if article.status == ArticleStatus.ARCHIVED:
        raise Conflict(_("文章已归档，请先恢复"), code="article_archived")
    variant, _created = ArticleVariant.objects.select_related("latest_version").get_or_create(
        article=article, language=language
    )
    latest = variant.latest_version
    current = latest.number if latest else 0
    if base_version is not None and base_version != current:
        raise Conflict(
            _("有人在您之后保存了新版本，请先查看最新版本"),
            code="version_conflict",
            details={"latest_version": current},
        )
    if latest is not None and latest.same_text(**text):
        return latest
    now = timezone.now()
    version = _new_version(variant, actor, text, note, now)
    before = article.status
    article.status = ArticleStatus.DRAFT
    article.updated_at = now
    article.save(update_fields=["status", "updated_at"])
    _record(
        article,
        actor,
        ArticleEventKind.VERSION_SAVED,
        from_status=before,
        to_status=ArticleStatus.DRAFT,
        note=note,
        at=now,
        data={"language": language, "version": version.number},
    )
    return version


@transaction.atomic
def update_article_settings(
    *, actor: User | None, article: Article, changes: dict[str, Any]
) -> Article:
    """Type, audience, category and product links. They are not versioned; the event keeps the
    old and new values. A change of audience reaches search at once."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationFailed(code="unknown_fields", details={"fields": sorted(unknown)})
    article = _locked(article)
    if "type" in changes and changes["type"] not in ArticleType.values:
        raise ValidationFailed(code="unknown_article_type")
    if "audience" in changes and changes["audience"] not in Audience.values:
        raise ValidationFailed(code="unknown_audience")
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in ("type", "audience", "category"):
        if name in changes and getattr(article, name) != changes[name]:
            old, new = getattr(article, name), changes[name]
            before[name] = old.pk if name == "category" and old else old
            after[name] = new.pk if name == "category" and new else new
            setattr(article, name, new)
    for name in ("products", "product_lines"):
        if name in changes:
            manager = getattr(article, name)
            old_ids = sorted(manager.values_list("id", flat=True))
            new_ids = sorted({item.pk for item in changes[name]})
            if old_ids != new_ids:
                manager.set(changes[name])
                before[name], after[name] = old_ids, new_ids
    if not after:
        return article
    article.updated_at = timezone.now()
    article.save(update_fields=["type", "audience", "category", "updated_at"])
    _record(
        article, actor, ArticleEventKind.SETTINGS_CHANGED, data={"before": before, "after": after}
    )
    if "audience" in after and article.is_live:
        _reindex_on_commit(article)
    return article


def _step(article: Article, step: str) -> tuple[str, str]:
    sources, target = STEPS[step]
    if article.status not in sources:
        raise Conflict(
            _("文章当前状态不能执行此操作"),
            code="invalid_article_transition",
            details={"from": article.status, "to": target},
        )
    return article.status, target


@transaction.atomic
def submit_article_for_review(*, actor: User | None, article: Article, note: str = "") -> Article:
    article = _locked(article)
    before, after = _step(article, "submit")
    article.status, article.updated_at = after, timezone.now()
    article.save(update_fields=["status", "updated_at"])
    _record(
        article, actor, ArticleEventKind.SUBMITTED, from_status=before, to_status=after, note=note
    )
    return article


@transaction.atomic
def request_article_changes(*, actor: User | None, article: Article, note: str) -> Article:
    """Send an article in review back to its authors, saying what to change."""
    if not note.strip():
        raise ValidationFailed(_("请说明需要修改什么"), code="note_required")
    article = _locked(article)
    before, after = _step(article, "request_changes")
    article.status, article.updated_at = after, timezone.now()
    article.save(update_fields=["status", "updated_at"])
    _record(
        article,
        actor,
        ArticleEventKind.CHANGES_REQUESTED,
        from_status=before,
        to_status=after,
        note=note,
    )
    return article


def _template_problems(variants: list[ArticleVariant]) -> dict[str, list[dict]]:
    problems = {}
    for variant in variants:
        assert variant.latest_version is not None
        rendered = templating.render(variant.latest_version.body, templating.SAMPLE_VALUES)
        if rendered.problems:
            problems[variant.language] = [p.as_dict() for p in rendered.problems]
    return problems


@transaction.atomic
def publish_article(*, actor: User | None, article: Article, note: str = "") -> Article:
    """Make the latest version of every language variant the one readers see. A reply
    template with an unknown or malformed placeholder is not published."""
    article = _locked(article)
    before, after = _step(article, "publish")
    variants = list(article.variants.select_related("latest_version").order_by("language"))
    if article.type == ArticleType.REPLY_TEMPLATE:
        problems = _template_problems(variants)
        if problems:
            raise ValidationFailed(
                _("话术模板中有无法识别的变量"), code="template_problems", details=problems
            )
    now = timezone.now()
    published = {}
    for variant in variants:
        variant.published_version = variant.latest_version
        assert variant.latest_version is not None
        published[variant.language] = variant.latest_version.number
    ArticleVariant.objects.bulk_update(variants, ["published_version"])
    article.status, article.published_at, article.updated_at = after, now, now
    article.save(update_fields=["status", "published_at", "updated_at"])
    _record(
        article,
        actor,
        ArticleEventKind.PUBLISHED,
        from_status=before,
        to_status=after,
        note=note,
        at=now,
        data={"versions": published},
    )
    _reindex_on_commit(article)
    return article


@transaction.atomic
def archive_article(*, actor: User | None, article: Article, note: str = "") -> Article:
    """Take an article out of every list and search; its versions stay."""
    article = _locked(article)
    before, after = _step(article, "archive")
    article.status, article.updated_at = after, timezone.now()
    article.save(update_fields=["status", "updated_at"])
    _record(
        article, actor, ArticleEventKind.ARCHIVED, from_status=before, to_status=after, note=note
    )
    _reindex_on_commit(article)
    return article


@transaction.atomic
def restore_article(*, actor: User | None, article: Article, note: str = "") -> Article:
    """Bring an archived article back as a draft. It is not live again until it is published
    anew: what was archived may be out of date."""
    article = _locked(article)
    before, after = _step(article, "restore")
    article.variants.update(published_version=None)
    article.status, article.published_at, article.updated_at = after, None, timezone.now()
    article.save(update_fields=["status", "published_at", "updated_at"])
    _record(
        article, actor, ArticleEventKind.RESTORED, from_status=before, to_status=after, note=note
    )
    return article


@transaction.atomic
def add_article_attachment(
    *, actor: User | None, article: Article, upload: UploadedFile
) -> ArticleAttachment:
    checked = check_upload(upload.name or "", upload, upload.size or 0)
    article = _locked(article)
    if article.status == ArticleStatus.ARCHIVED:
        raise Conflict(_("文章已归档，请先恢复"), code="article_archived")
    attachment = ArticleAttachment(
        article=article,
        original_name=checked.name,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        uploaded_by=actor,
    )
    attachment.file.save(checked.name, upload, save=False)
    try:
        attachment.save()
        _record(
            article,
            actor,
            ArticleEventKind.ATTACHMENT_ADDED,
            data={"attachment_id": attachment.pk, "name": checked.name, "size": checked.size},
        )
    except Exception:
        if attachment.file.name:
            attachment.file.storage.delete(attachment.file.name)
        raise
    return attachment


# --- usage ------------------------------------------------------------------------------------


def record_article_view(*, article: Article) -> None:
    Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)


def record_article_deflection(*, article: Article) -> None:
    """A reader says the article solved the problem without opening a ticket."""
    Article.objects.filter(pk=article.pk).update(deflection_count=F("deflection_count") + 1)


@transaction.atomic
def give_article_feedback(
    *,
    actor: User | None,
    visitor: str = "",
    article: Article,
    language: str,
    helpful: bool,
    comment: str = "",
) -> ArticleFeedback:
    """Record a verdict. A signed-in user (or, anonymously, a browser session: `visitor`) has
    one verdict per article; giving another replaces it and moves the counters accordingly."""
    _check_language(language)
    who: dict[str, Any] = {"user": actor} if actor is not None else {"visitor": visitor}
    if actor is None and not visitor:
        raise ValidationFailed(code="visitor_required")
    counter = {True: "helpful_count", False: "not_helpful_count"}
    comment = comment.strip()[:1000]
    existing = ArticleFeedback.objects.select_for_update().filter(article=article, **who).first()
    if existing is not None:
        if existing.helpful != helpful:
            Article.objects.filter(pk=article.pk).update(
                **{
                    counter[existing.helpful]: F(counter[existing.helpful]) - 1,
                    counter[helpful]: F(counter[helpful]) + 1,
                }
            )
        existing.helpful, existing.comment, existing.language = helpful, comment, language
        existing.created_at = timezone.now()
        existing.save(update_fields=["helpful", "comment", "language", "created_at"])
        return existing
    feedback = ArticleFeedback.objects.create(
        article=article, language=language, helpful=helpful, comment=comment, **who
    )
    Article.objects.filter(pk=article.pk).update(**{counter[helpful]: F(counter[helpful]) + 1})
    return feedback


@transaction.atomic
def render_reply_template(
    *, actor: User, article: Article, ticket, language: str | None = None
) -> tuple[templating.Rendered, str]:
    """Fill a published reply template with a ticket's data for a reply, and count the
    insertion. Returns the rendering and the language used. Unknown placeholders come out
    empty and are listed in the rendering's problems."""
    if article.type != ArticleType.REPLY_TEMPLATE:
        raise ValidationFailed(_("这篇文章不是话术模板"), code="not_a_reply_template")
    variants = {
        v.language: v
        for v in article.variants.select_related("published_version").filter(
            published_version__isnull=False
        )
    }
    if not article.is_live or not variants:
        raise Conflict(_("话术模板尚未发布"), code="template_not_published")
    wanted = reader_language(language)
    chosen = next(lang for lang in LANGUAGE_PREFERENCE[wanted] if lang in variants)
    version = variants[chosen].published_version
    assert version is not None
    values = templating.ticket_values(ticket, agent=actor, language=chosen)
    rendered = templating.render(version.body, values)
    Article.objects.filter(pk=article.pk).update(insert_count=F("insert_count") + 1)
    return rendered, chosen


# --- configuration ----------------------------------------------------------------------------


@transaction.atomic
def create_category(
    *,
    actor: User | None,
    name: str,
    slug: str,
    name_hant: str = "",
    name_en: str = "",
    parent: Category | None = None,
    position: int = 0,
) -> Category:
    if not name.strip():
        raise ValidationFailed(_("名称不能为空"), code="name_required")
    try:
        with transaction.atomic():
            return Category.objects.create(
                name=name.strip(),
                slug=slug,
                name_hant=name_hant.strip(),
                name_en=name_en.strip(),
                parent=parent,
                position=position,
            )
    except IntegrityError as exc:
        raise Conflict(_("分类标识已存在"), code="category_exists") from exc


def clean_synonym_phrases(phrases: str) -> str:
    cleaned = split_phrases(phrases)
    if len(cleaned) < 2:
        raise ValidationFailed(_("同义词组至少需要两个词"), code="synonyms_too_few")
    if len(cleaned) > MAX_SYNONYM_PHRASES:
        raise ValidationFailed(
            _("同义词组最多 %(n)d 个词") % {"n": MAX_SYNONYM_PHRASES}, code="synonyms_too_many"
        )
    return "\n".join(cleaned)


@transaction.atomic
def create_synonym_group(*, actor: User | None, phrases: str, note: str = "") -> SynonymGroup:
    return SynonymGroup.objects.create(
        phrases=clean_synonym_phrases(phrases), note=note.strip()[:200], updated_by=actor
    )


@transaction.atomic
def update_synonym_group(
    *,
    actor: User | None,
    group: SynonymGroup,
    phrases: str | None = None,
    note: str | None = None,
    is_active: bool | None = None,
) -> SynonymGroup:
    group = SynonymGroup.objects.select_for_update().get(pk=group.pk)
    if phrases is not None:
        group.phrases = clean_synonym_phrases(phrases)
    if note is not None:
        group.note = note.strip()[:200]
    if is_active is not None:
        group.is_active = is_active
    group.updated_by, group.updated_at = actor, timezone.now()
    group.save()
    return group
