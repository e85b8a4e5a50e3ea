import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import ArticleEventKind, ArticleStatus, ArticleType, Audience, Language


class Category(models.Model):
    name = models.CharField(_("名称"), max_length=100)
    name_hant = models.CharField(_("繁体名称"), max_length=100, blank=True)
    name_en = models.CharField(_("英文名称"), max_length=100, blank=True)
    slug = models.SlugField(_("标识"), max_length=50, unique=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级分类"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    position = models.PositiveSmallIntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("知识分类")
        verbose_name_plural = _("知识分类")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    def label(self, language: str) -> str:
        if language == Language.EN and self.name_en:
            return self.name_en
        if language == Language.ZH_HANT and self.name_hant:
            return self.name_hant
        return self.name


class Article(models.Model):
    """One piece of knowledge, written in up to three languages (its variants).

    `status` is where the pending changes stand in review; what readers see is each variant's
    published version, which stays in place while a new draft is written and reviewed. An
    article is live when it has been published and is not archived.
    """

    type = models.CharField(_("类型"), max_length=32, choices=ArticleType.choices)
    audience = models.CharField(
        _("可见范围"), max_length=16, choices=Audience.choices, default=Audience.INTERNAL
    )
    status = models.CharField(
        _("状态"), max_length=16, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    category = models.ForeignKey(
        Category,
        verbose_name=_("分类"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="articles",
    )
    product_lines = models.ManyToManyField(
        "catalog.ProductLine", verbose_name=_("适用产品线"), blank=True, related_name="+"
    )
    products = models.ManyToManyField(
        "catalog.Product", verbose_name=_("适用型号"), blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)
    # Last time the article went live; cleared when an archived article is restored.
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    view_count = models.PositiveIntegerField(_("浏览次数"), default=0)
    insert_count = models.PositiveIntegerField(_("插入回复次数"), default=0)
    deflection_count = models.PositiveIntegerField(_("自助解决次数"), default=0)
    helpful_count = models.PositiveIntegerField(_("有帮助"), default=0)
    not_helpful_count = models.PositiveIntegerField(_("没帮助"), default=0)

    class Meta:
        verbose_name = _("知识文章")
        verbose_name_plural = _("知识文章")
        indexes = [
            models.Index(fields=["status", "updated_at"], name="kb_article_status_updated"),
            models.Index(fields=["audience", "published_at"], name="kb_article_live"),
            models.Index(fields=["type", "updated_at"], name="kb_article_type_updated"),
        ]

    def __str__(self) -> str:
        return f"KB-{self.pk}"

    @property
    def is_live(self) -> bool:
        return self.published_at is not None and self.status != ArticleStatus.ARCHIVED

    @property
    def has_pending_changes(self) -> bool:
        return self.status in (ArticleStatus.DRAFT, ArticleStatus.IN_REVIEW)


class ArticleVariant(models.Model):
    """The article in one language, with its newest and its published version."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="variants")
    language = models.CharField(_("语言"), max_length=8, choices=Language.choices)
    latest_version = models.ForeignKey(
        "ArticleVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_version = models.ForeignKey(
        "ArticleVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("语言版本")
        verbose_name_plural = _("语言版本")
        constraints = [
            models.UniqueConstraint(fields=["article", "language"], name="kb_one_variant_per_lang")
        ]

    def __str__(self) -> str:
        return f"{self.article} {self.language}"


class ArticleVersion(models.Model):
    """One saved text of a variant. Never changed once written."""

    variant = models.ForeignKey(ArticleVariant, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("版本号"))
    title = models.CharField(_("标题"), max_length=200)
    summary = models.CharField(_("摘要"), max_length=500, blank=True)
    body = models.TextField(_("正文"), blank=True)
    keywords = models.CharField(_("关键词"), max_length=500, blank=True)
    note = models.CharField(_("修改说明"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("作者"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("保存时间"), default=timezone.now)

    class Meta:
        verbose_name = _("文章版本")
        verbose_name_plural = _("文章版本")
        ordering = ["variant", "number"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "number"], name="kb_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.variant} v{self.number}"

    def same_text(self, *, title: str, summary: str, body: str, keywords: str) -> bool:
        return (self.title, self.summary, self.body, self.keywords) == (
            title,
            summary,
            body,
            keywords,
        )


class ArticleEvent(models.Model):
    """Append-only history of an article: edits, review decisions, publication."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=32, choices=ArticleEventKind.choices)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    note = models.CharField(max_length=1000, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("文章事件")
        verbose_name_plural = _("文章事件")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["article", "created_at"], name="kb_event_article")]


def attachment_path(instance: "ArticleAttachment", filename: str) -> str:
    now = timezone.now()
    return f"kb/{now:%Y/%m}/{secrets.token_hex(16)}"


class ArticleAttachment(models.Model):
    """An image or file of an article. Images are placed in the body as ![说明](attachment:ID);
    every attachment is readable by whoever can read the article."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=200)
    original_name = models.CharField(_("文件名"), max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("文章附件")
        verbose_name_plural = _("文章附件")
        ordering = ["created_at", "id"]

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class ArticleFeedback(models.Model):
    """A reader's verdict on an article. One per signed-in user or per browser session; a
    second verdict replaces the first."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="feedback")
    language = models.CharField(max_length=8, choices=Language.choices)
    helpful = models.BooleanField(_("有帮助"))
    comment = models.CharField(_("意见"), max_length=1000, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A hash of the anonymous visitor's session key, so that one visitor votes once.
    visitor = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("文章反馈")
        verbose_name_plural = _("文章反馈")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "user"],
                condition=models.Q(user__isnull=False),
                name="kb_feedback_once_per_user",
            ),
            models.UniqueConstraint(
                fields=["article", "visitor"],
                condition=~models.Q(visitor=""),
                name="kb_feedback_once_per_visitor",
            ),
        ]


class SynonymGroup(models.Model):
    """Words that mean the same to a customer (不制冷 = 不冷 = 制冷效果差). A search for any of
    them also looks for the others; changes apply to the next search, no re-indexing needed."""

    phrases = models.TextField(_("同义词"), help_text=_("每行一个，或用逗号分隔"))
    note = models.CharField(_("备注"), max_length=200, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)

    class Meta:
        verbose_name = _("同义词组")
        verbose_name_plural = _("同义词组")
        ordering = ["id"]

    def __str__(self) -> str:
        return " = ".join(self.phrase_list())

    def phrase_list(self) -> list[str]:
        from .analysis import split_phrases

        return split_phrases(self.phrases)


# --- search index (see search.py) -------------------------------------------------------------


class SearchTerm(models.Model):
    """One word of the index vocabulary with the number of live variants containing it."""

    text = models.CharField(max_length=64, unique=True)
    document_count = models.IntegerField(default=0)


class SearchTermKey(models.Model):
    """A spelling key of a Latin term: the term and each form with one letter removed. A
    misspelt query word is matched by looking up its own keys (see search.correct_spelling)."""

    key = models.CharField(max_length=64, db_index=True)
    term = models.ForeignKey(SearchTerm, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "term"], name="kb_term_key")]


class SearchDocument(models.Model):
    """The published text of one live variant, as indexed. Its id is the variant's."""

    variant = models.OneToOneField(
        ArticleVariant, primary_key=True, on_delete=models.CASCADE, related_name="search_document"
    )
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="+")
    language = models.CharField(max_length=8)
    is_public = models.BooleanField()
    length = models.PositiveIntegerField()


class SearchPosting(models.Model):
    """Term → document with the term's weighted frequency. The document's language, audience
    and length are copied in, so that ranking reads the postings of the query terms and
    nothing else."""

    # The covering index below starts with the term; no second index for it.
    term = models.ForeignKey(SearchTerm, on_delete=models.CASCADE, related_name="+", db_index=False)
    document = models.ForeignKey(SearchDocument, on_delete=models.CASCADE, related_name="postings")
    article_id = models.BigIntegerField()
    language = models.CharField(max_length=8)
    is_public = models.BooleanField()
    frequency = models.FloatField()
    length = models.PositiveIntegerField()

    class Meta:
        indexes = [
            # Covering: ranking is answered from this index alone.
            models.Index(
                fields=[
                    "term",
                    "is_public",
                    "document",
                    "frequency",
                    "length",
                    "article_id",
                    "language",
                ],
                name="kb_posting_term",
            )
        ]


class SearchStats(models.Model):
    """Totals for BM25 (number of documents, summed length); a single row, id 1."""

    document_count = models.IntegerField(default=0)
    total_length = models.BigIntegerField(default=0)
