from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import Head, LabelSource, Outcome

DEFAULT_THRESHOLD = 0.8


class TriageHead(models.Model):
    """One thing triage predicts for a ticket, with the confidence an admin wants before a
    prediction is applied without a person looking at it."""

    name = models.SlugField(_("名称"), max_length=50, unique=True)
    threshold = models.FloatField(
        _("自动应用阈值"),
        default=DEFAULT_THRESHOLD,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("置信度达到该值时直接写入工单，否则只作为建议显示。设为 1 则只给建议。"),
    )
    is_enabled = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("分诊维度")
        verbose_name_plural = _("分诊维度")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return str(Head(self.name).label) if self.name in Head.values else self.name


def model_path(instance: "TriageModel", filename: str) -> str:
    return f"triage/{instance.head.name}/{filename}"


class TriageModel(models.Model):
    """A trained classifier of one head. Versions only grow; the newest active one is used.

    The classifier itself is a NumPy archive in the media storage (see classifier.py); its
    SHA-256 is checked before it is read, and a file that is missing or fails to load sets
    load_error, which disables the head and is shown in the admin and on ticket pages.
    """

    head = models.ForeignKey(
        TriageHead, verbose_name=_("分诊维度"), on_delete=models.PROTECT, related_name="models"
    )
    version = models.PositiveIntegerField(_("版本"))
    labels = models.JSONField(_("标签集"), default=list)
    metrics = models.JSONField(_("训练指标"), default=dict, blank=True)
    source = models.CharField(_("训练数据来源"), max_length=200, blank=True)
    training_rows = models.PositiveIntegerField(_("训练样本数"), default=0)
    file = models.FileField(_("模型文件"), upload_to=model_path, max_length=200)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(_("文件大小"), default=0)
    is_active = models.BooleanField(_("启用"), default=True)
    load_error = models.TextField(_("加载错误"), blank=True)
    load_error_at = models.DateTimeField(_("加载失败时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("分诊模型")
        verbose_name_plural = _("分诊模型")
        ordering = ["head", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["head", "version"], name="unique_triage_model_version")
        ]

    def __str__(self) -> str:
        return f"{self.head.name} v{self.version}"


class TriagePrediction(models.Model):
    """What one head predicted for one ticket, and what became of it."""

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="triage_predictions"
    )
    head = models.ForeignKey(TriageHead, on_delete=models.CASCADE, related_name="predictions")
    model = models.ForeignKey(
        TriageModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="predictions"
    )
    label = models.CharField(_("预测结果"), max_length=100)
    confidence = models.FloatField(_("置信度"))
    threshold = models.FloatField(_("当时阈值"))
    # [[term, weight], …]: the words that pushed the prediction most.
    terms = models.JSONField(_("关键词"), default=list, blank=True)
    angry = models.BooleanField(_("愤怒"), default=False)
    outcome = models.CharField(_("处理结果"), max_length=16, choices=Outcome.choices)
    # The value a person confirmed or chose instead; blank until then.
    final_label = models.CharField(_("最终结果"), max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("分诊预测")
        verbose_name_plural = _("分诊预测")
        ordering = ["ticket", "head__name"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "head"], name="unique_triage_per_head")
        ]

    def __str__(self) -> str:
        return f"{self.head.name}={self.label} ({self.confidence:.2f})"


class TrainingLabel(models.Model):
    """A label a person gave a ticket's text: the training data of the next model."""

    head = models.ForeignKey(TriageHead, on_delete=models.CASCADE, related_name="training_labels")
    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="triage_labels",
    )
    prediction = models.ForeignKey(
        TriagePrediction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(_("文本"))
    label = models.CharField(_("标签"), max_length=100)
    predicted_label = models.CharField(_("原预测"), max_length=100, blank=True)
    source = models.CharField(_("来源"), max_length=16, choices=LabelSource.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("训练标签")
        verbose_name_plural = _("训练标签")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["head", "created_at"], name="training_label_head")]

    def __str__(self) -> str:
        return f"{self.head.name}: {self.label}"
