from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .models import TrainingLabel, TriageHead, TriageModel, TriagePrediction
from .selectors import head_warnings
from .services import check_models_in_use


@admin.register(TriageHead)
class TriageHeadAdmin(admin.ModelAdmin):
    list_display = ["name", "display_name", "threshold", "is_enabled"]
    list_editable = ["threshold", "is_enabled"]
    readonly_fields = ["name"]

    def changelist_view(self, request, extra_context=None):
        _warn_unusable(request)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request) -> bool:
        # Heads come into being when a model is trained for them (manage.py triage_train).
        return False


MODEL_FIELDS = (
    "head",
    "version",
    "is_active",
    "load_error",
    "load_error_at",
    "labels",
    "metrics",
    "source",
    "training_rows",
    "file",
    "sha256",
    "size",
    "created_by",
    "created_at",
)


@admin.register(TriageModel)
class TriageModelAdmin(admin.ModelAdmin):
    """Models are written by triage_train; an admin may only switch a version off (to fall
    back to the previous one) and read why a model failed to load."""

    list_display = [
        "head",
        "version",
        "training_rows",
        "cv_accuracy",
        "is_active",
        "status",
        "created_at",
    ]
    list_filter = ["head", "is_active"]
    fields = MODEL_FIELDS
    readonly_fields = tuple(f for f in MODEL_FIELDS if f != "is_active")

    @admin.display(description=_("交叉验证准确率"))
    def cv_accuracy(self, obj: TriageModel):
        return obj.metrics.get("cv_accuracy")

    @admin.display(description=_("状态"))
    def status(self, obj: TriageModel) -> str:
        if obj.load_error:
            return str(_("无法加载，该维度已停用：%(error)s") % {"error": obj.load_error})
        return str(_("正常"))

    def changelist_view(self, request, extra_context=None):
        _warn_unusable(request)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(TriagePrediction)
class TriagePredictionAdmin(admin.ModelAdmin):
    list_display = ["ticket", "head", "label", "confidence", "angry", "outcome", "final_label"]
    list_filter = ["head", "outcome"]
    list_select_related = ["ticket", "head"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TrainingLabel)
class TrainingLabelAdmin(admin.ModelAdmin):
    list_display = ["head", "label", "predicted_label", "source", "ticket", "created_at"]
    list_filter = ["head", "source"]
    list_select_related = ["head", "ticket"]
    readonly_fields = ["ticket", "prediction", "created_by", "created_at"]


def _warn_unusable(request) -> None:
    check_models_in_use()
    for warning in head_warnings():
        messages.warning(
            request,
            gettext("“%(head)s”模型 v%(version)s 无法使用，该维度已停用：%(message)s")
            % {
                "head": warning["head_label"],
                "version": warning["model_version"],
                "message": warning["message"],
            },
        )
