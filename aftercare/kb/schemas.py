import datetime as dt
from typing import Any

from ninja import Field, Schema

from aftercare.core.schemas import ObjectId

from .choices import ArticleStatus, ArticleType, Audience, Language


class ArticleIn(Schema):
    type: ArticleType
    audience: Audience = Audience.INTERNAL
    language: Language = Language.ZH_HANS
    title: str = Field(..., min_length=1, max_length=200)
    summary: str = Field("", max_length=500)
    body: str = Field("", max_length=100_000)
    keywords: str = Field("", max_length=500)
    category_id: ObjectId | None = None
    product_ids: list[ObjectId] = Field(default_factory=list, max_length=200)
    product_line_ids: list[ObjectId] = Field(default_factory=list, max_length=50)
    note: str = Field("", max_length=200)


class ArticlePatch(Schema):
    type: ArticleType | None = None
    audience: Audience | None = None
    category_id: ObjectId | None = None
    product_ids: list[ObjectId] | None = Field(None, max_length=200)
    product_line_ids: list[ObjectId] | None = Field(None, max_length=50)


class VersionIn(Schema):
    language: Language
    title: str = Field(..., min_length=1, max_length=200)
    summary: str = Field("", max_length=500)
    body: str = Field("", max_length=100_000)
    keywords: str = Field("", max_length=500)
    note: str = Field("", max_length=200)
    base_version: int | None = Field(None, ge=0)


class StepIn(Schema):
    note: str = Field("", max_length=1000)


class FeedbackIn(Schema):
    helpful: bool
    comment: str = Field("", max_length=1000)
    language: Language | None = None


class CategoryIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    slug: str = Field(..., pattern=r"^[-a-zA-Z0-9_]+$", max_length=50)
    name_hant: str = Field("", max_length=100)
    name_en: str = Field("", max_length=100)
    parent_id: ObjectId | None = None
    position: int = Field(0, ge=0, le=32767)


class SynonymIn(Schema):
    phrases: str = Field(..., min_length=1, max_length=5000)
    note: str = Field("", max_length=200)


class SynonymPatch(Schema):
    phrases: str | None = Field(None, min_length=1, max_length=5000)
    note: str | None = Field(None, max_length=200)
    is_active: bool | None = None


class TemplatePreviewIn(Schema):
    text: str = Field(..., max_length=20_000)
    ticket_id: ObjectId | None = None
    language: Language | None = None


class TemplateRenderIn(Schema):
    ticket_id: ObjectId
    language: Language | None = None


class Ref(Schema):
    id: int
    name: str


class CategoryOut(Schema):
    id: int
    name: str
    name_hant: str
    name_en: str
    slug: str
    parent_id: int | None
    position: int


class VariantOut(Schema):
    language: str
    latest_version: int | None
    published_version: int | None


class CountsOut(Schema):
    views: int
    insertions: int
    deflections: int
    helpful: int
    not_helpful: int


class AttachmentOut(Schema):
    id: int
    name: str
    content_type: str
    size: int
    is_image: bool
    reference: str
    download_url: str
    created_at: dt.datetime


class ArticleSummaryOut(Schema):
    id: int
    type: ArticleType
    audience: Audience
    status: ArticleStatus
    is_live: bool
    category: Ref | None
    language: str
    version: int | None
    title: str
    summary: str
    languages: list[VariantOut]
    counts: CountsOut
    updated_at: dt.datetime
    published_at: dt.datetime | None


class ArticleOut(ArticleSummaryOut):
    body: str
    body_html: str
    keywords: str
    product_ids: list[int]
    product_line_ids: list[int]
    attachments: list[AttachmentOut]
    created_at: dt.datetime


class ArticlePage(Schema):
    items: list[ArticleSummaryOut]
    next_cursor: str | None


class VersionOut(Schema):
    language: str
    number: int
    title: str
    summary: str
    keywords: str
    note: str
    author: Ref | None
    created_at: dt.datetime
    is_published: bool


class EventOut(Schema):
    id: int
    kind: str
    actor: Ref | None
    from_status: str
    to_status: str
    note: str
    data: dict[str, Any]
    created_at: dt.datetime


class HistoryOut(Schema):
    versions: list[VersionOut]
    events: list[EventOut]


class DiffRowOut(Schema):
    op: str
    old: str
    new: str
    segments: list[dict[str, str]] | None = None


class FieldDiffOut(Schema):
    changed: bool
    rows: list[DiffRowOut]
    unified: str


class DiffOut(Schema):
    language: str
    from_version: int
    to_version: int
    fields: dict[str, FieldDiffOut]


class SearchHitOut(Schema):
    article_id: int
    language: str
    type: ArticleType
    title: str
    snippet: str
    category: Ref | None
    score: float


class SearchOut(Schema):
    items: list[SearchHitOut]
    total: int
    terms: list[str]
    synonyms: list[str]
    corrections: dict[str, str]


class FeedbackOut(Schema):
    id: int
    helpful: bool
    comment: str
    language: str
    user: Ref | None
    created_at: dt.datetime


class SynonymOut(Schema):
    id: int
    phrases: list[str]
    note: str
    is_active: bool
    updated_at: dt.datetime


class VariableOut(Schema):
    name: str
    label: str
    sample: str


class ProblemOut(Schema):
    code: str
    expression: str
    message: str


class RenderOut(Schema):
    text: str
    language: str
    problems: list[ProblemOut]
    unknown_variables: list[str]
