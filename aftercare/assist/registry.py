"""Trained classifiers kept in memory, one per head, read from the media storage on first use.

Reading a model never runs code from the file (classifier.TextClassifier.loads reads plain
arrays with allow_pickle=False), and the bytes must match the SHA-256 stored with the model
row before they are parsed at all.
"""

import hashlib
import threading

from django.utils.translation import gettext as _

from .classifier import ModelFormatError, TextClassifier
from .models import TriageModel


class ModelUnavailable(Exception):
    """The model's file is missing, altered or unreadable; its head cannot predict."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


# head id → (model id, sha256, classifier). One entry per head, so old versions are let go.
_cache: dict[int, tuple[int, str, TextClassifier]] = {}
_lock = threading.Lock()


def load_classifier(model: TriageModel, *, verify_file: bool = False) -> TextClassifier:
    """The model's classifier, from memory when it was read before. verify_file reads and
    checks the file even then, so that a file lost or altered since shows up."""
    cached = _cache.get(model.head_id)
    if cached is not None and cached[:2] == (model.pk, model.sha256):
        if verify_file:
            read_model_file(model)
        return cached[2]
    data = read_model_file(model)
    try:
        classifier = TextClassifier.loads(data)
    except ModelFormatError as exc:
        raise ModelUnavailable(_("模型文件无法读取：%(error)s") % {"error": exc}) from exc
    if classifier.labels != list(model.labels):
        raise ModelUnavailable(_("模型文件的标签集与数据库记录不一致"))
    with _lock:
        _cache[model.head_id] = (model.pk, model.sha256, classifier)
    return classifier


def read_model_file(model: TriageModel) -> bytes:
    if not model.file.name:
        raise ModelUnavailable(_("模型文件缺失"))
    try:
        with model.file.storage.open(model.file.name, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ModelUnavailable(
            _("模型文件缺失或无法打开：%(name)s") % {"name": model.file.name}
        ) from exc
    if hashlib.sha256(data).hexdigest() != model.sha256:
        raise ModelUnavailable(_("模型文件校验失败（SHA-256 不一致），文件可能已损坏或被替换"))
    return data


def forget_classifiers() -> None:
    with _lock:
        _cache.clear()
