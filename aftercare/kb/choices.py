from django.db import models
from django.utils.translation import gettext_lazy as _


class ArticleType(models.TextChoices):
    FAQ = "faq", _("常见问题")
    SOLUTION = "solution", _("故障排查方案")
    REPLY_TEMPLATE = "reply_template", _("话术模板")
    SPARE_PART_STANDARD = "spare_part_standard", _("备件更换标准")
    POLICY = "policy", _("政策")


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    IN_REVIEW = "in_review", _("审核中")
    PUBLISHED = "published", _("已发布")
    ARCHIVED = "archived", _("已归档")


class Audience(models.TextChoices):
    PUBLIC = "public", _("公开")
    INTERNAL = "internal", _("仅内部")


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", _("简体中文")
    ZH_HANT = "zh-hant", _("繁體中文")
    EN = "en", _("English")


# Which variant a reader of each language gets when the article has several: their own first,
# then the other Chinese script, then whatever is left.
LANGUAGE_PREFERENCE: dict[str, tuple[str, ...]] = {
    Language.ZH_HANS: (Language.ZH_HANS, Language.ZH_HANT, Language.EN),
    Language.ZH_HANT: (Language.ZH_HANT, Language.ZH_HANS, Language.EN),
    Language.EN: (Language.EN, Language.ZH_HANS, Language.ZH_HANT),
}


def reader_language(code: str | None) -> str:
    """The variant language for a Django language code ("zh-hant", "en-us", "zh-tw" …)."""
    code = (code or "").lower()
    if code.startswith("en"):
        return Language.EN
    if code in ("zh-hant", "zh-tw", "zh-hk", "zh-mo"):
        return Language.ZH_HANT
    return Language.ZH_HANS


class ArticleEventKind(models.TextChoices):
    CREATED = "created", _("创建")
    VERSION_SAVED = "version_saved", _("保存新版本")
    SETTINGS_CHANGED = "settings_changed", _("设置变更")
    SUBMITTED = "submitted", _("提交审核")
    CHANGES_REQUESTED = "changes_requested", _("退回修改")
    PUBLISHED = "published", _("发布")
    ARCHIVED = "archived", _("归档")
    RESTORED = "restored", _("恢复为草稿")
    ATTACHMENT_ADDED = "attachment_added", _("添加附件")
