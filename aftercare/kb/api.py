"""/api/v1/kb/…: articles, their versions and review, search, feedback, reply templates,
categories and synonyms. Handlers parse, ask the policy module, call one service, answer."""

from django.http import FileResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import File, Header, Query, Router, Schema
from ninja import Status as Reply
from ninja.files import UploadedFile

from aftercare.accounts import policy
from aftercare.accounts.models import User
from aftercare.catalog.models import Product, ProductLine
from aftercare.core.api_support import (
    create_once,
    decode_cursor,
    encode_cursor,
)
from aftercare.core.errors import NotFound, ValidationFailed
from aftercare.core.http import AuthedRequest
from aftercare.core.schemas import ObjectId

from . import selectors, services, templating
from .choices import ArticleStatus, ArticleType, Audience, Language, reader_language
from .content import render_body
from .diffing import diff_versions
from .models import Article, ArticleAttachment, ArticleFeedback, Category, SynonymGroup
from .schemas import (
    ArticleIn,
    ArticleOut,
    ArticlePage,
    ArticlePatch,
    AttachmentOut,
    CategoryIn,
    CategoryOut,
    DiffOut,
    FeedbackIn,
    FeedbackOut,
    HistoryOut,
    RenderOut,
    SearchOut,
    StepIn,
    SynonymIn,
    SynonymOut,
    SynonymPatch,
    TemplatePreviewIn,
    TemplateRenderIn,
    VariableOut,
    VersionIn,
)

router = Router(tags=["knowledge base"])
# The upload is optional in the signature so that permission is checked before a missing
# file is reported (a Ninja File() parameter would refuse the request first).
OPTIONAL_FILE = File(None)
# Request field → article setting it changes.
SETTINGS_FIELDS = {
    "type": "type",
    "audience": "audience",
    "category_id": "category",
    "product_ids": "products",
    "product_line_ids": "product_lines",
}


def _ref(obj, name: str | None = None) -> dict | None:
    if obj is None:
        return None
    return {"id": obj.pk, "name": name if name is not None else str(obj)}


def _language(requested: str | None) -> str:
    return reader_language(requested or translation.get_language())


def attachment_out(attachment: ArticleAttachment) -> dict:
    return {
        "id": attachment.pk,
        "name": attachment.original_name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "is_image": attachment.is_image,
        "reference": f"attachment:{attachment.pk}",
        "download_url": reverse(
            "api-1.0.0:kb_download_attachment", kwargs={"attachment_id": attachment.pk}
        ),
        "created_at": attachment.created_at,
    }


def summary_out(article: Article, user: User, language: str, *, latest: bool = False) -> dict:
    staff = policy.is_kb_staff(user)
    variant = selectors.pick_variant(article, language, live=not staff)
    version = selectors.shown_version(variant, latest=latest) if variant else None
    return {
        "id": article.pk,
        "type": article.type,
        "audience": article.audience,
        "status": article.status,
        "is_live": article.is_live,
        "category": _ref(article.category, article.category.label(language))
        if article.category
        else None,
        "language": variant.language if variant else language,
        "version": version.number if version else None,
        "title": version.title if version else "",
        "summary": version.summary if version else "",
        "languages": [
            {
                "language": v.language,
                "latest_version": v.latest_version.number if staff and v.latest_version else None,
                "published_version": v.published_version.number if v.published_version else None,
            }
            for v in article.variants.all()
            if staff or v.published_version_id
        ],
        "counts": {
            "views": article.view_count,
            "insertions": article.insert_count,
            "deflections": article.deflection_count,
            "helpful": article.helpful_count,
            "not_helpful": article.not_helpful_count,
        },
        "updated_at": article.updated_at,
        "published_at": article.published_at,
    }


def article_out(article: Article, user: User, language: str, *, latest: bool = False) -> dict:
    out = summary_out(article, user, language, latest=latest)
    staff = policy.is_kb_staff(user)
    variant = selectors.pick_variant(article, language, live=not staff)
    version = selectors.shown_version(variant, latest=latest) if variant else None
    body = selectors.full_version(version.pk).body if version else ""
    keywords = version.keywords if version else ""
    attachments = list(article.attachments.all())
    urls = {a.pk: attachment_out(a)["download_url"] for a in attachments}
    out.update(
        {
            "body": body,
            "body_html": render_body(body, urls.get),
            "keywords": keywords,
            "product_ids": [p.pk for p in article.products.all()],
            "product_line_ids": [p.pk for p in article.product_lines.all()],
            "attachments": [attachment_out(a) for a in attachments],
            "created_at": article.created_at,
        }
    )
    return out


def _detail(user: User, article_id: int, language: str, *, latest: bool = False) -> dict:
    article = policy.get_visible_article(user, article_id, selectors.article_queryset())
    return article_out(article, user, language, latest=latest)


def _category(category_id: int | None) -> Category | None:
    if category_id is None:
        return None
    category = Category.objects.filter(pk=category_id).first()
    if category is None:
        raise ValidationFailed(_("分类不存在"), code="category_not_found")
    return category


def _products(ids: list[int]) -> list[Product]:
    found = list(Product.objects.filter(pk__in=ids))
    if len(found) != len(set(ids)):
        raise ValidationFailed(_("产品不存在"), code="product_not_found")
    return found


def _product_lines(ids: list[int]) -> list[ProductLine]:
    found = list(ProductLine.objects.filter(pk__in=ids))
    if len(found) != len(set(ids)):
        raise ValidationFailed(_("产品线不存在"), code="product_line_not_found")
    return found


class ArticleListQuery(Schema):
    type: ArticleType | None = None
    status: ArticleStatus | None = None
    audience: Audience | None = None
    category_id: ObjectId | None = None
    product_id: ObjectId | None = None
    product_line_id: ObjectId | None = None
    language: Language | None = None
    cursor: str | None = None
    limit: int = 50


def _filters(query) -> selectors.ArticleFilters:
    return selectors.ArticleFilters(
        type=query.type,
        status=getattr(query, "status", None),
        audience=getattr(query, "audience", None),
        category_id=query.category_id,
        product_id=query.product_id,
        product_line_id=query.product_line_id,
    )


@router.get("/kb/articles", response=ArticlePage, summary="List knowledge articles")
def list_articles(request: AuthedRequest, query: Query[ArticleListQuery]):
    if not 1 <= query.limit <= 200:
        raise ValidationFailed(_("limit 必须在 1 到 200 之间"), code="invalid_limit")
    cursor = decode_cursor(query.cursor, 2) if query.cursor else None
    rows, next_values = selectors.list_articles(
        request.user, _filters(query), cursor_values=cursor, limit=query.limit
    )
    language = _language(query.language)
    return {
        "items": [summary_out(a, request.user, language) for a in rows],
        "next_cursor": encode_cursor(next_values) if next_values else None,
    }


@router.post(
    "/kb/articles",
    response={201: ArticleOut, 200: ArticleOut},
    summary="Write a new article (draft)",
)
def create_article(
    request: AuthedRequest,
    payload: ArticleIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
):
    user = request.user
    policy.check_article_write(user)
    sent = payload.model_dump(mode="json")

    def write_it():
        return services.create_article(
            actor=user,
            type=payload.type,
            audience=payload.audience,
            language=payload.language,
            title=payload.title,
            summary=payload.summary,
            body=payload.body,
            keywords=payload.keywords,
            category=_category(payload.category_id),
            products=_products(payload.product_ids),
            product_lines=_product_lines(payload.product_line_ids),
            note=payload.note,
        )

    article, article_id = create_once(
        user=user, scope="kb_article", key=idempotency_key, payload=sent, create=write_it
    )
    if article is None:
        return Reply(200, _detail(user, article_id, payload.language, latest=True))
    return Reply(201, _detail(user, article.pk, payload.language, latest=True))


class ArticleReadQuery(Schema):
    language: Language | None = None
    latest: bool = False


@router.get("/kb/articles/{int:article_id}", response=ArticleOut, summary="Read an article")
def get_article(request: AuthedRequest, article_id: int, query: Query[ArticleReadQuery]):
    user = request.user
    latest = query.latest and policy.is_kb_staff(user)
    out = _detail(user, article_id, _language(query.language), latest=latest)
    if out["is_live"] and not latest:
        services.record_article_view(article=Article(pk=article_id))
    return out


@router.patch(
    "/kb/articles/{int:article_id}", response=ArticleOut, summary="Change type, audience, links"
)
def update_article(request: AuthedRequest, article_id: int, payload: ArticlePatch):
    user = request.user
    article = policy.get_visible_article(user, article_id)
    sent = payload.model_dump(exclude_unset=True)
    policy.check_article_settings(user, article, {SETTINGS_FIELDS[k] for k in sent})
    changes: dict = {}
    for key, value in sent.items():
        if key == "category_id":
            changes["category"] = _category(value)
        elif key == "product_ids":
            changes["products"] = _products(value or [])
        elif key == "product_line_ids":
            changes["product_lines"] = _product_lines(value or [])
        elif value is None:
            raise ValidationFailed(_("%(field)s 不能为空") % {"field": key}, code="field_required")
        else:
            changes[key] = value
    services.update_article_settings(actor=user, article=article, changes=changes)
    return _detail(user, article_id, _language(None), latest=True)


@router.post(
    "/kb/articles/{int:article_id}/versions",
    response={201: ArticleOut, 200: ArticleOut},
    summary="Save a new version of one language",
)
def save_version(request: AuthedRequest, article_id: int, payload: VersionIn):
    user = request.user
    article = policy.get_visible_article(user, article_id)
    policy.check_article_write(user)
    before = article.variants.filter(language=payload.language).values_list(
        "latest_version_id", flat=True
    )
    previous = next(iter(before), None)
    version = services.save_article_version(
        actor=user,
        article=article,
        language=payload.language,
        title=payload.title,
        summary=payload.summary,
        body=payload.body,
        keywords=payload.keywords,
        note=payload.note,
        base_version=payload.base_version,
    )
    status = 200 if version.pk == previous else 201
    return Reply(status, _detail(user, article_id, payload.language, latest=True))


class HistoryQuery(Schema):
    language: Language | None = None


@router.get(
    "/kb/articles/{int:article_id}/history",
    response=HistoryOut,
    summary="Versions and review history",
)
def get_history(request: AuthedRequest, article_id: int, query: Query[HistoryQuery]):
    user = request.user
    article = policy.get_visible_article(user, article_id)
    policy.check_kb_staff(user)
    published = set(
        article.variants.exclude(published_version=None).values_list(
            "published_version_id", flat=True
        )
    )
    languages = [query.language] if query.language else list(Language.values)
    versions = [
        {
            "language": language,
            "number": v.number,
            "title": v.title,
            "summary": v.summary,
            "keywords": v.keywords,
            "note": v.note,
            "author": _ref(v.created_by),
            "created_at": v.created_at,
            "is_published": v.pk in published,
        }
        for language in languages
        for v in selectors.article_versions(article, language)
    ]
    events = [
        {
            "id": e.pk,
            "kind": e.kind,
            "actor": _ref(e.actor),
            "from_status": e.from_status,
            "to_status": e.to_status,
            "note": e.note,
            "data": e.data,
            "created_at": e.created_at,
        }
        for e in selectors.article_events(article)
    ]
    return {"versions": versions, "events": events}


@router.get(
    "/kb/articles/{int:article_id}/diff",
    response=DiffOut,
    summary="What changed between two versions",
)
def get_diff(
    request: AuthedRequest,
    article_id: int,
    to_version: int,
    language: Language = Language.ZH_HANS,
    from_version: int = 1,
):
    user = request.user
    article = policy.get_visible_article(user, article_id)
    policy.check_kb_staff(user)
    old = selectors.get_version(article, language, from_version)
    new = selectors.get_version(article, language, to_version)
    return {
        "language": language,
        "from_version": old.number,
        "to_version": new.number,
        "fields": diff_versions(old, new),
    }


def _step(request: AuthedRequest, article_id: int, action, *, review: bool, **kwargs):
    user = request.user
    article = policy.get_visible_article(user, article_id)
    if review:
        policy.check_article_review(user)
    else:
        policy.check_article_write(user)
    action(actor=user, article=article, **kwargs)
    return _detail(user, article_id, _language(None), latest=True)


@router.post(
    "/kb/articles/{int:article_id}/submit", response=ArticleOut, summary="Submit for review"
)
def submit_article(request: AuthedRequest, article_id: int, payload: StepIn):
    return _step(
        request,
        article_id,
        services.submit_article_for_review,
        review=False,
        note=payload.note,
    )


@router.post(
    "/kb/articles/{int:article_id}/request-changes",
    response=ArticleOut,
    summary="Send back to the authors with what to change",
)
def request_changes(request: AuthedRequest, article_id: int, payload: StepIn):
    return _step(
        request, article_id, services.request_article_changes, review=True, note=payload.note
    )


@router.post(
    "/kb/articles/{int:article_id}/publish", response=ArticleOut, summary="Approve and publish"
)
def publish_article(request: AuthedRequest, article_id: int, payload: StepIn):
    return _step(request, article_id, services.publish_article, review=True, note=payload.note)


@router.post("/kb/articles/{int:article_id}/archive", response=ArticleOut, summary="Archive")
def archive_article(request: AuthedRequest, article_id: int, payload: StepIn):
    return _step(request, article_id, services.archive_article, review=True, note=payload.note)


@router.post(
    "/kb/articles/{int:article_id}/restore",
    response=ArticleOut,
    summary="Bring an archived article back as a draft",
)
def restore_article(request: AuthedRequest, article_id: int, payload: StepIn):
    return _step(request, article_id, services.restore_article, review=True, note=payload.note)


@router.post(
    "/kb/articles/{int:article_id}/attachments",
    response={201: AttachmentOut},
    summary="Upload an image or file",
)
def upload_attachment(
    request: AuthedRequest, article_id: int, file: UploadedFile | None = OPTIONAL_FILE
):
    user = request.user
    article = policy.get_visible_article(user, article_id)
    policy.check_article_write(user)
    if file is None:
        raise ValidationFailed(_("请选择要上传的文件"), code="file_required")
    attachment = services.add_article_attachment(actor=user, article=article, upload=file)
    return Reply(201, attachment_out(attachment))


@router.get(
    "/kb/attachments/{int:attachment_id}/download",
    url_name="kb_download_attachment",
    summary="Download an article's file",
)
def download_attachment(request: AuthedRequest, attachment_id: int):
    attachment = ArticleAttachment.objects.filter(pk=attachment_id).first()
    if (
        attachment is None
        or not policy.visible_articles(request.user).filter(pk=attachment.article_id).exists()
    ):
        raise NotFound(_("附件不存在"), code="attachment_not_found")
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.original_name,
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@router.post(
    "/kb/articles/{int:article_id}/feedback",
    response={201: FeedbackOut},
    summary="Say whether an article helped",
)
def give_feedback(request: AuthedRequest, article_id: int, payload: FeedbackIn):
    user = request.user
    article = policy.get_visible_article(user, article_id)
    feedback = services.give_article_feedback(
        actor=user,
        article=article,
        language=_language(payload.language),
        helpful=payload.helpful,
        comment=payload.comment,
    )
    return Reply(201, feedback_out(feedback))


def feedback_out(feedback: ArticleFeedback) -> dict:
    return {
        "id": feedback.pk,
        "helpful": feedback.helpful,
        "comment": feedback.comment,
        "language": feedback.language,
        "user": _ref(feedback.user),
        "created_at": feedback.created_at,
    }


@router.get(
    "/kb/articles/{int:article_id}/feedback",
    response=list[FeedbackOut],
    summary="Readers' verdicts and comments",
)
def list_feedback(request: AuthedRequest, article_id: int):
    user = request.user
    article = policy.get_visible_article(user, article_id)
    policy.check_kb_staff(user)
    return [feedback_out(f) for f in article.feedback.select_related("user")[:200]]


@router.post(
    "/kb/articles/{int:article_id}/solved",
    response={204: None},
    summary="Record that an article solved a problem without a ticket",
)
def record_solved(request: AuthedRequest, article_id: int):
    article = policy.get_visible_article(request.user, article_id)
    services.record_article_deflection(article=article)
    return Reply(204, None)


class SearchQuery(Schema):
    q: str
    language: Language | None = None
    type: ArticleType | None = None
    category_id: ObjectId | None = None
    product_id: ObjectId | None = None
    product_line_id: ObjectId | None = None
    limit: int = 10
    offset: int = 0


@router.get("/kb/search", response=SearchOut, summary="Search articles (Chinese and English)")
def search_articles(request: AuthedRequest, query: Query[SearchQuery]):
    if not 1 <= query.limit <= 50 or not 0 <= query.offset <= 100:
        raise ValidationFailed(
            _("limit 须在 1 到 50 之间，offset 须在 0 到 100 之间"), code="invalid_limit"
        )
    language = _language(query.language)
    rows, outcome = selectors.search_articles(
        request.user,
        query.q,
        language=language,
        filters=_filters(query),
        limit=query.limit,
        offset=query.offset,
    )
    return {
        "items": [
            {
                "article_id": row.article.pk,
                "language": row.variant.language,
                "type": row.article.type,
                "title": row.version.title,
                "snippet": row.snippet,
                "category": _ref(row.article.category, row.article.category.label(language))
                if row.article.category
                else None,
                "score": round(row.score, 4),
            }
            for row in rows
        ],
        "total": outcome.total,
        "terms": outcome.terms,
        "synonyms": outcome.synonyms,
        "corrections": outcome.corrections,
    }


# --- reply templates --------------------------------------------------------------------------


@router.get(
    "/kb/templates/variables",
    response=list[VariableOut],
    summary="Variables a reply template may use",
)
def list_variables(request: AuthedRequest):
    policy.check_kb_staff(request.user)
    return [
        {"name": name, "label": str(label), "sample": templating.SAMPLE_VALUES[name]}
        for name, label in templating.VARIABLES.items()
    ]


@router.post(
    "/kb/templates/preview",
    response=RenderOut,
    summary="Check and preview a reply template",
)
def preview_template(request: AuthedRequest, payload: TemplatePreviewIn):
    """Renders with the ticket's data when `ticket_id` is given, otherwise with sample data.
    Any unknown or malformed placeholder is a 422 `template_problems` listing them."""
    user = request.user
    policy.check_kb_staff(user)
    language = _language(payload.language)
    if payload.ticket_id is not None:
        ticket = policy.get_visible_ticket(user, payload.ticket_id)
        values = templating.ticket_values(ticket, agent=user, language=language)
    else:
        values = templating.SAMPLE_VALUES
    rendered = templating.render(payload.text, values)
    if rendered.problems:
        raise ValidationFailed(
            _("话术模板中有无法识别的变量"),
            code="template_problems",
            details=[p.as_dict() for p in rendered.problems],
        )
    return {"text": rendered.text, "language": language, "problems": [], "unknown_variables": []}


@router.post(
    "/kb/articles/{int:article_id}/render",
    response=RenderOut,
    summary="Fill a reply template for a ticket (counts an insertion)",
)
def render_template(request: AuthedRequest, article_id: int, payload: TemplateRenderIn):
    user = request.user
    article = policy.get_visible_article(user, article_id)
    ticket = policy.get_visible_ticket(user, payload.ticket_id)
    policy.check_reply_template_use(user, ticket)
    rendered, language = services.render_reply_template(
        actor=user, article=article, ticket=ticket, language=_language(payload.language)
    )
    return {
        "text": rendered.text,
        "language": language,
        "problems": [p.as_dict() for p in rendered.problems],
        "unknown_variables": rendered.unknown_variables,
    }


# --- configuration ----------------------------------------------------------------------------


def category_out(category: Category) -> dict:
    return {
        "id": category.pk,
        "name": category.name,
        "name_hant": category.name_hant,
        "name_en": category.name_en,
        "slug": category.slug,
        "parent_id": category.parent_id,
        "position": category.position,
    }


@router.get("/kb/categories", response=list[CategoryOut], summary="Article categories")
def list_categories(request: AuthedRequest):
    return [category_out(c) for c in Category.objects.all()]


@router.post("/kb/categories", response={201: CategoryOut}, summary="Add a category")
def create_category(request: AuthedRequest, payload: CategoryIn):
    policy.check_kb_config(request.user)
    parent = _category(payload.parent_id)
    category = services.create_category(
        actor=request.user,
        name=payload.name,
        slug=payload.slug,
        name_hant=payload.name_hant,
        name_en=payload.name_en,
        parent=parent,
        position=payload.position,
    )
    return Reply(201, category_out(category))


def synonym_out(group: SynonymGroup) -> dict:
    return {
        "id": group.pk,
        "phrases": group.phrase_list(),
        "note": group.note,
        "is_active": group.is_active,
        "updated_at": group.updated_at,
    }


@router.get("/kb/synonyms", response=list[SynonymOut], summary="Synonym groups of search")
def list_synonyms(request: AuthedRequest):
    policy.check_kb_staff(request.user)
    return [synonym_out(g) for g in SynonymGroup.objects.all()]


@router.post("/kb/synonyms", response={201: SynonymOut}, summary="Add a synonym group")
def create_synonyms(request: AuthedRequest, payload: SynonymIn):
    policy.check_kb_config(request.user)
    group = services.create_synonym_group(
        actor=request.user, phrases=payload.phrases, note=payload.note
    )
    return Reply(201, synonym_out(group))


@router.patch(
    "/kb/synonyms/{int:group_id}", response=SynonymOut, summary="Change or switch off a group"
)
def update_synonyms(request: AuthedRequest, group_id: int, payload: SynonymPatch):
    policy.check_kb_config(request.user)
    group = SynonymGroup.objects.filter(pk=group_id).first()
    if group is None:
        raise NotFound(_("同义词组不存在"), code="synonym_group_not_found")
    sent = payload.model_dump(exclude_unset=True)
    if any(value is None for value in sent.values()):
        raise ValidationFailed(_("字段不能为空"), code="field_required")
    group = services.update_synonym_group(actor=request.user, group=group, **sent)
    return synonym_out(group)
