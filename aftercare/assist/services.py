"""Triage: train and store head models, predict for a ticket, apply or suggest, learn from
the agents' corrections. Each write runs in one transaction; ticket changes go through the
tickets app's services so they land in the timeline."""

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Sequence

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from aftercare.accounts.models import User
from aftercare.core.errors import DomainError, ValidationFailed
from aftercare.tickets.choices import EventKind, Priority, TicketKind
from aftercare.tickets.models import Ticket, TicketEvent
from aftercare.tickets.services import record_event, update_ticket

from . import classifier, registry
from .choices import (
    ANGRY,
    SENTIMENT_LABELS,
    TICKET_FIELD_HEADS,
    Head,
    LabelSource,
    Outcome,
    Sentiment,
)
from .models import TrainingLabel, TriageHead, TriageModel, TriagePrediction

logger = logging.getLogger(__name__)

HEAD_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,49}$")
ALLOWED_LABELS = {
    Head.KIND: frozenset(TicketKind.values),
    Head.PRIORITY: frozenset(Priority.values),
    Head.SENTIMENT: SENTIMENT_LABELS,
}
# Words and marks of an angry customer, beyond plain dissatisfaction. A negative prediction
# with one of them gets the angry flag; the cue is shown with the driving words.
ANGER_CUES = (
    "投诉",
    "曝光",
    "12315",
    "消协",
    "媒体",
    "律师",
    "起诉",
    "骗子",
    "欺骗",
    "垃圾",
    "气死",
    "愤怒",
    "忍无可忍",
    "无法忍受",
    "太过分",
    "非常不满",
    "极其不满",
    "给个说法",
    "坑人",
    "恶心",
    "退钱",
    "!!!",
    "furious",
    "outraged",
    "unacceptable",
    "ridiculous",
    "disgusting",
    "scam",
    "fraud",
    "lawyer",
    "lawsuit",
)
# Newest tickets used when a head is trained from the ticket history.
TICKET_TRAINING_LIMIT = 20_000


def ticket_text(ticket: Ticket) -> str:
    """The text every head reads: subject and description as the customer wrote them."""
    return f"{ticket.subject}\n{ticket.description}"


def anger_cues(cleaned_text: str) -> list[str]:
    return [cue for cue in ANGER_CUES if cue in cleaned_text]


# --- heads and models ------------------------------------------------------------------------


def get_head(name: str) -> TriageHead:
    if not HEAD_NAME.match(name or ""):
        raise ValidationFailed(
            _("分诊维度名称只能包含小写字母、数字、下划线和连字符，并以字母开头"),
            code="triage_head_invalid",
        )
    head, _created = TriageHead.objects.get_or_create(name=name)
    return head


def check_labels(head: str, labels: Sequence[str]) -> None:
    """Labels of the built-in heads must be values the ticket (or the sentiment scale) knows."""
    allowed = ALLOWED_LABELS.get(Head(head)) if head in Head.values else None
    if allowed is None:
        return
    unknown = sorted({label for label in labels if label not in allowed})
    if unknown:
        raise ValidationFailed(
            _("标签不属于“%(head)s”的取值：%(unknown)s；可用取值：%(allowed)s")
            % {
                "head": head,
                "unknown": "、".join(unknown[:10]),
                "allowed": "、".join(sorted(allowed)),
            },
            code="triage_labels_unknown",
            details={"unknown": unknown[:50], "allowed": sorted(allowed)},
        )


def train_head(
    *,
    head: str,
    texts: Sequence[str],
    labels: Sequence[str],
    source: str,
    actor: User | None = None,
    c_grid: Sequence[float] = classifier.C_GRID,
) -> TriageModel:
    """Train a new version of a head's model and make it the one in use.

    Raises ValidationFailed (with a message for people) when the labels do not fit the head,
    when fewer than classifier.MIN_ROWS usable rows remain or when they have a single class.
    """
    get_head(head)
    labels = [str(label).strip() for label in labels]
    check_labels(head, [label for label in labels if label])
    try:
        trained = classifier.train(texts, labels, c_grid=c_grid)
    except classifier.TrainingError as exc:
        if str(exc) == "single_class":
            raise ValidationFailed(
                _("训练数据只有一个类别，至少需要两个类别"), code="training_single_class"
            ) from exc
        raise ValidationFailed(
            _("训练数据太少：去掉空文本和空标签后至少需要 %(min)d 行")
            % {"min": classifier.MIN_ROWS},
            code="training_too_few_rows",
        ) from exc
    return store_model(head=head, trained=trained, source=source, actor=actor)


@transaction.atomic
def store_model(
    *, head: str, trained: classifier.TextClassifier, source: str, actor: User | None = None
) -> TriageModel:
    head_row = TriageHead.objects.select_for_update().get(pk=get_head(head).pk)
    version = (head_row.models.aggregate(last=Max("version"))["last"] or 0) + 1
    data = trained.dumps()
    digest = hashlib.sha256(data).hexdigest()
    model = TriageModel(
        head=head_row,
        version=version,
        labels=trained.labels,
        metrics=trained.meta,
        source=source[:200],
        training_rows=trained.meta.get("rows", 0),
        sha256=digest,
        size=len(data),
        created_by=actor,
    )
    model.file.save(f"v{version}-{digest[:12]}.npz", ContentFile(data), save=False)
    try:
        model.save()
    except IntegrityError:
        model.file.storage.delete(model.file.name or "")
        raise
    return model


def active_models() -> list[TriageModel]:
    """The newest active model of every enabled head."""
    newest: dict[int, TriageModel] = {}
    for model in (
        TriageModel.objects.filter(is_active=True, head__is_enabled=True)
        .select_related("head")
        .order_by("head__name", "-version")
    ):
        newest.setdefault(model.head_id, model)
    return list(newest.values())


def _note_load_error(model: TriageModel, message: str) -> None:
    logger.warning(
        "triage head %s disabled: model v%s: %s", model.head.name, model.version, message
    )
    if model.load_error != message:
        TriageModel.objects.filter(pk=model.pk).update(
            load_error=message, load_error_at=timezone.now()
        )
        model.load_error = message


def usable_classifier(
    model: TriageModel, *, verify_file: bool = False
) -> classifier.TextClassifier | None:
    """The model's classifier, or None after recording why it cannot be used."""
    try:
        loaded = registry.load_classifier(model, verify_file=verify_file)
    except registry.ModelUnavailable as exc:
        _note_load_error(model, exc.message)
        return None
    if model.load_error:
        TriageModel.objects.filter(pk=model.pk).update(load_error="", load_error_at=None)
        model.load_error = ""
    return loaded


def check_models_in_use() -> None:
    """Load every model in use, so that a missing or damaged file shows up before a ticket
    needs it (the admin calls this)."""
    for model in active_models():
        usable_classifier(model, verify_file=True)


# --- predicting for a ticket -----------------------------------------------------------------


def triage_ticket(*, ticket_id: int) -> list[TriagePrediction]:
    """Predict every head that has a model and has not predicted for this ticket yet.

    Safe to run twice: a head that already has a prediction for the ticket is skipped. A head
    whose model cannot be loaded is skipped with a warning (see usable_classifier); a ticket
    whose text is empty gets no prediction at all.
    """
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None or ticket.merged_into_id:
        return []
    done = set(
        TriagePrediction.objects.filter(ticket_id=ticket_id).values_list("head_id", flat=True)
    )
    todo = [model for model in active_models() if model.head_id not in done]
    if not todo:
        return []
    cleaned = classifier.clean_text(ticket_text(ticket))
    analysis = classifier.analyze(cleaned)
    if analysis.empty:
        return []
    stored = []
    for model in todo:
        loaded = usable_classifier(model)
        if loaded is None:
            continue
        prediction = loaded.predict(analysis)
        if prediction is None:
            # None of the ticket's words occurs in this head's training data.
            continue
        row = _store_prediction(ticket_id, model, prediction, cleaned)
        if row is not None:
            stored.append(row)
    return stored


def _person_changed(ticket: Ticket, field: str) -> bool:
    return TicketEvent.objects.filter(
        ticket=ticket, field=field, actor__isnull=False, kind=EventKind.FIELD_CHANGED
    ).exists()


@transaction.atomic
def _store_prediction(
    ticket_id: int, model: TriageModel, prediction: classifier.Prediction, cleaned: str
) -> TriagePrediction | None:
    ticket = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket_id)
    head = model.head
    if TriagePrediction.objects.filter(ticket=ticket, head=head).exists():
        return None
    label, angry = prediction.label, False
    terms: list[list] = [[term, weight] for term, weight in prediction.terms]
    if head.name == Head.SENTIMENT:
        cues = anger_cues(cleaned)
        if label == ANGRY:
            label, angry = Sentiment.NEGATIVE.value, True
        elif label == Sentiment.NEGATIVE and cues:
            angry = True
        if angry:
            shown = {term for term, _ in terms}
            terms += [[cue, None] for cue in cues if cue not in shown][:3]
    try:
        with transaction.atomic():
            row = TriagePrediction.objects.create(
                ticket=ticket,
                head=head,
                model=model,
                label=label,
                confidence=round(prediction.confidence, 4),
                threshold=head.threshold,
                terms=terms,
                angry=angry,
                outcome=Outcome.SUGGESTED,
            )
    except IntegrityError:
        # Another run of the task got there first.
        return None
    if _may_apply(ticket, head, label, prediction.confidence) and _apply(ticket, row):
        row.outcome = Outcome.APPLIED
        row.save(update_fields=["outcome"])
    return row


def _may_apply(ticket: Ticket, head: TriageHead, label: str, confidence: float) -> bool:
    if head.name not in Head.values or confidence < head.threshold or not ticket.is_open:
        return False
    # A value a person chose after the ticket was opened is never overwritten.
    return not (head.name in TICKET_FIELD_HEADS and _person_changed(ticket, head.name))


def _apply(ticket: Ticket, row: TriagePrediction) -> bool:
    head = row.head.name
    if head in TICKET_FIELD_HEADS:
        try:
            update_ticket(actor=None, ticket=ticket, changes={head: row.label})
        except DomainError as exc:
            logger.info("triage of %s not applied: %s", ticket.number, exc.message)
            return False
        return True
    record_event(
        ticket,
        None,
        EventKind.FIELD_CHANGED,
        field=head,
        after={"value": row.label, "label": label_display(head, row.label, row.angry)},
        data={
            "source": "triage",
            "model_version": row.model.version if row.model else None,
            "confidence": row.confidence,
            "terms": row.terms,
        },
        is_internal=True,
    )
    return True


def label_display(head: str, label: str, angry: bool = False) -> str:
    if head == Head.KIND and label in TicketKind.values:
        return str(TicketKind(label).label)
    if head == Head.PRIORITY and label in Priority.values:
        return str(Priority(label).label)
    if head == Head.SENTIMENT and label in Sentiment.values:
        text = str(Sentiment(label).label)
        return _("%(sentiment)s（愤怒）") % {"sentiment": text} if angry else text
    return label


# --- learning from people --------------------------------------------------------------------


def record_corrections(*, actor: User, ticket: Ticket, fields: Sequence[str]) -> None:
    """A person set a field a head predicted: store the value as a training label and mark
    the prediction confirmed (same value) or corrected. Runs in the caller's transaction."""
    predictions = TriagePrediction.objects.filter(
        ticket=ticket, head__name__in=list(fields)
    ).select_related("head")
    for prediction in predictions:
        _learn(actor, ticket, prediction, str(getattr(ticket, prediction.head.name)))


def _learn(actor: User, ticket: Ticket, prediction: TriagePrediction, label: str) -> None:
    confirmed = label == prediction.label
    prediction.outcome = Outcome.ACCEPTED if confirmed else Outcome.CORRECTED
    prediction.final_label = label
    prediction.updated_at = timezone.now()
    prediction.save(update_fields=["outcome", "final_label", "updated_at"])
    TrainingLabel.objects.create(
        head=prediction.head,
        ticket=ticket,
        prediction=prediction,
        text=ticket_text(ticket),
        label=label,
        predicted_label=prediction.label,
        source=LabelSource.CONFIRMATION if confirmed else LabelSource.CORRECTION,
        created_by=actor,
    )


@transaction.atomic
def label_triage(*, actor: User, ticket: Ticket, head: str, label: str) -> TriagePrediction:
    """An agent confirms or corrects what a head says about a ticket.

    Kind and priority are ticket fields: they change through update_ticket, whose correction
    hook stores the label. Sentiment, category and other heads live on the prediction; the
    change is written to the (internal) timeline here.
    """
    prediction = (
        TriagePrediction.objects.select_related("head", "model")
        .filter(ticket=ticket, head__name=head)
        .first()
    )
    if prediction is None:
        raise ValidationFailed(_("该工单没有这一维度的分诊结果"), code="triage_not_found")
    if head == Head.SENTIMENT and label == ANGRY:
        label, angry = Sentiment.NEGATIVE.value, True
    else:
        angry = False
    label = label.strip()[:100]
    if not label:
        raise ValidationFailed(_("标签不能为空"), code="triage_label_empty")
    check_labels(head, [label])
    if head in TICKET_FIELD_HEADS:
        if getattr(ticket, head) == label:
            _learn(actor, ticket, prediction, label)
        else:
            update_ticket(actor=actor, ticket=ticket, changes={head: label})
        prediction.refresh_from_db()
        return prediction
    before = prediction.final_label or prediction.label
    before_angry = prediction.angry
    _learn(actor, ticket, prediction, ANGRY if angry else label)
    prediction.final_label = label
    prediction.angry = angry if head == Head.SENTIMENT else prediction.angry
    prediction.save(update_fields=["final_label", "angry"])
    record_event(
        ticket,
        actor,
        EventKind.FIELD_CHANGED,
        field=head,
        before={"value": before, "label": label_display(head, before, before_angry)},
        after={"value": label, "label": label_display(head, label, angry)},
        data={"source": "agent"},
        is_internal=True,
    )
    return prediction


# --- training from the ticket history --------------------------------------------------------


def ticket_training_rows(head: str, since: dt.datetime | None = None) -> tuple[list, list]:
    """Texts and labels for a head from the ticket history: the field values of the newest
    tickets (kind, priority, the product category of the unit), then every stored label,
    which wins over the field value of the same ticket. A value the head applied itself and
    no person has looked at since is left out: the model would only learn its own guesses."""
    texts: dict[object, str] = {}
    labels: dict[object, str] = {}
    tickets = (
        Ticket.objects.filter(merged_into__isnull=True)
        .exclude(
            triage_predictions__head__name=head,
            triage_predictions__outcome=Outcome.APPLIED,
        )
        .order_by("-created_at")
    )
    if since is not None:
        tickets = tickets.filter(created_at__gte=since)
    if head in TICKET_FIELD_HEADS:
        for pk, subject, description, value in tickets.values_list(
            "pk", "subject", "description", head
        )[:TICKET_TRAINING_LIMIT]:
            texts[pk], labels[pk] = f"{subject}\n{description}", value
    elif head == Head.CATEGORY:
        for pk, subject, description, value in tickets.filter(
            product_unit__isnull=False
        ).values_list("pk", "subject", "description", "product_unit__product__category")[
            :TICKET_TRAINING_LIMIT
        ]:
            if value:
                texts[pk], labels[pk] = f"{subject}\n{description}", value
    for pk, ticket_id, text, label in (
        TrainingLabel.objects.filter(head__name=head)
        .order_by("created_at", "id")
        .values_list("pk", "ticket_id", "text", "label")
    ):
        key = ticket_id if ticket_id is not None else f"label-{pk}"
        texts[key], labels[key] = text, label
    keys = list(texts)
    return [texts[k] for k in keys], [labels[k] for k in keys]
