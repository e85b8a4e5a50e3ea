from django.db import models
from django.utils.translation import gettext_lazy as _


class Head(models.TextChoices):
    """The heads a new ticket is triaged with. Other head names may be trained and evaluated
    (e.g. an intent head); their predictions are only ever suggestions."""

    KIND = "kind", _("工单类型")
    PRIORITY = "priority", _("优先级")
    SENTIMENT = "sentiment", _("情绪")
    CATEGORY = "category", _("产品类别")


# Heads whose prediction, once applied, sets the ticket field of the same name.
TICKET_FIELD_HEADS = frozenset({Head.KIND, Head.PRIORITY})


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", _("负面")
    NEUTRAL = "neutral", _("中性")
    POSITIVE = "positive", _("正面")


# A sentiment training label meaning "negative, and angry": the prediction is stored as
# negative with the angry flag set.
ANGRY = "angry"
SENTIMENT_LABELS = frozenset({*Sentiment.values, ANGRY})


class Outcome(models.TextChoices):
    APPLIED = "applied", _("已自动应用")
    SUGGESTED = "suggested", _("建议")
    ACCEPTED = "accepted", _("已确认")
    CORRECTED = "corrected", _("已更正")


class LabelSource(models.TextChoices):
    CORRECTION = "correction", _("坐席更正")
    CONFIRMATION = "confirmation", _("坐席确认")
