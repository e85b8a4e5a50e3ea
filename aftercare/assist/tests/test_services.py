"""Triage of real tickets: trained heads, the task queued on commit, apply or suggest,
timeline events, corrections as training labels, broken model files."""

import hashlib

import pytest
from django.core.files.storage import default_storage

from aftercare.assist import registry, services
from aftercare.assist.choices import LabelSource, Outcome
from aftercare.assist.models import TrainingLabel, TriageHead, TriageModel, TriagePrediction
from aftercare.assist.selectors import ticket_triage
from aftercare.assist.tests.factories import train_kind, train_sentiment
from aftercare.core.errors import ValidationFailed
from aftercare.tickets import services as ticket_services
from aftercare.tickets.choices import EventKind
from aftercare.tickets.models import TicketEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_models():
    registry.forget_classifiers()
    yield
    registry.forget_classifiers()


def open_ticket(personas, subject, description="", **kwargs):
    return ticket_services.open_ticket(
        actor=personas.alice,
        kind=kwargs.pop("kind", "inquiry"),
        channel="portal",
        subject=subject,
        description=description,
        customer=personas.alice_customer,
        **kwargs,
    )


def open_and_triage(personas, capture, subject, description="", **kwargs):
    with capture(execute=True):
        ticket = open_ticket(personas, subject, description, **kwargs)
    ticket.refresh_from_db()
    return ticket


def test_default_heads_and_thresholds():
    assert dict(TriageHead.objects.values_list("name", "threshold")) == {
        "category": 0.8,
        "kind": 0.85,
        "priority": 0.9,
        "sentiment": 0.6,
    }


def test_train_head_stores_a_versioned_file_with_its_digest():
    first = train_kind()
    second = train_kind()
    assert (first.version, second.version) == (1, 2)
    assert first.labels == ["complaint", "inquiry", "repair"]
    assert first.training_rows == 27
    assert first.source == "tests"
    assert first.file.name.startswith("triage/kind/v1-")
    with default_storage.open(first.file.name, "rb") as handle:
        data = handle.read()
    assert hashlib.sha256(data).hexdigest() == first.sha256
    assert len(data) == first.size
    assert set(first.metrics) >= {"C", "cv_accuracy", "rows", "class_counts", "features"}
    assert services.active_models() == [second]


def test_labels_must_fit_a_built_in_head():
    with pytest.raises(ValidationFailed) as caught:
        services.train_head(
            head="kind", texts=["空调不制冷"] * 8, labels=["报修", "咨询"] * 4, source="t"
        )
    assert caught.value.code == "triage_labels_unknown"
    assert caught.value.details["unknown"] == ["咨询", "报修"]
    assert not TriageModel.objects.exists()


@pytest.mark.parametrize(
    "texts, labels, code",
    [
        (["空调不制冷", "请问保修"] * 4, ["repair"] * 8, "training_single_class"),
        (["空调不制冷", "", "<p></p>"], ["repair", "inquiry", "inquiry"], "training_too_few_rows"),
    ],
)
def test_unusable_training_data_is_refused(texts, labels, code):
    with pytest.raises(ValidationFailed) as caught:
        services.train_head(head="kind", texts=texts, labels=labels, source="t")
    assert caught.value.code == code


def test_invalid_head_name_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        services.train_head(head="Kind!", texts=["a"], labels=["b"], source="t")
    assert caught.value.code == "triage_head_invalid"


def test_no_model_no_task_no_prediction(personas, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        ticket = open_ticket(personas, "空调不制冷")
    # Only the acknowledgement is queued.
    assert len(callbacks) == 1
    assert not TriagePrediction.objects.filter(ticket=ticket).exists()


def test_confident_prediction_is_applied_with_a_timeline_event(
    personas, django_capture_on_commit_callbacks
):
    model = train_kind()
    ticket = open_and_triage(
        personas, django_capture_on_commit_callbacks, "冰箱不制冷", "冷藏室温度很高，食物都坏了"
    )
    prediction = TriagePrediction.objects.get(ticket=ticket)
    assert (prediction.head.name, prediction.label) == ("kind", "repair")
    assert prediction.confidence >= 0.85
    assert prediction.outcome == Outcome.APPLIED
    assert prediction.model == model
    assert prediction.threshold == 0.85
    assert [term for term, _ in prediction.terms][:2] == ["冰箱", "制冷"]
    assert ticket.kind == "repair"
    event = TicketEvent.objects.get(ticket=ticket, kind=EventKind.FIELD_CHANGED)
    assert (event.actor, event.field, event.before, event.after) == (
        None,
        "kind",
        "inquiry",
        "repair",
    )


def test_below_threshold_is_only_suggested(personas, django_capture_on_commit_callbacks):
    train_kind()
    TriageHead.objects.filter(name="kind").update(threshold=1.0)
    ticket = open_and_triage(personas, django_capture_on_commit_callbacks, "冰箱不制冷")
    prediction = TriagePrediction.objects.get(ticket=ticket)
    assert (prediction.label, prediction.outcome, prediction.threshold) == (
        "repair",
        Outcome.SUGGESTED,
        1.0,
    )
    assert ticket.kind == "inquiry"
    assert not TicketEvent.objects.filter(ticket=ticket, kind=EventKind.FIELD_CHANGED).exists()


def test_disabled_head_does_not_predict(personas, django_capture_on_commit_callbacks):
    train_kind()
    TriageHead.objects.filter(name="kind").update(is_enabled=False)
    ticket = open_and_triage(personas, django_capture_on_commit_callbacks, "冰箱不制冷")
    assert not TriagePrediction.objects.filter(ticket=ticket).exists()


def test_running_twice_predicts_once(personas, django_capture_on_commit_callbacks):
    train_kind()
    ticket = open_and_triage(personas, django_capture_on_commit_callbacks, "冰箱不制冷")
    events = TicketEvent.objects.filter(ticket=ticket).count()
    assert services.triage_ticket(ticket_id=ticket.pk) == []
    assert TriagePrediction.objects.filter(ticket=ticket).count() == 1
    assert TicketEvent.objects.filter(ticket=ticket).count() == events


def test_a_value_a_person_set_is_not_overwritten(personas, django_capture_on_commit_callbacks):
    train_kind()
    ticket = open_ticket(personas, "冰箱不制冷")
    ticket_services.update_ticket(actor=personas.agnes, ticket=ticket, changes={"kind": "return"})
    services.triage_ticket(ticket_id=ticket.pk)
    ticket.refresh_from_db()
    assert ticket.kind == "return"
    assert TriagePrediction.objects.get(ticket=ticket).outcome == Outcome.SUGGESTED


def test_sentiment_angry_flag_and_internal_event(personas, django_capture_on_commit_callbacks):
    train_sentiment()
    ticket = open_and_triage(
        personas, django_capture_on_commit_callbacks, "师傅迟到", "等了一上午没人来，我要投诉！！！"
    )
    prediction = TriagePrediction.objects.get(ticket=ticket)
    assert (prediction.label, prediction.angry, prediction.outcome) == (
        "negative",
        True,
        Outcome.APPLIED,
    )
    assert "投诉" in [term for term, _ in prediction.terms]
    event = TicketEvent.objects.get(ticket=ticket, kind=EventKind.FIELD_CHANGED)
    assert event.is_internal
    assert (event.field, event.after) == (
        "sentiment",
        {"value": "negative", "label": "负面（愤怒）"},
    )
    assert event.data["source"] == "triage"


def test_empty_text_gets_no_prediction(personas, django_capture_on_commit_callbacks):
    train_kind()
    ticket = open_and_triage(personas, django_capture_on_commit_callbacks, " ", "<p><br></p>")
    assert not TriagePrediction.objects.filter(ticket=ticket).exists()


def test_mixed_scripts_emoji_and_html_are_triaged(personas, django_capture_on_commit_callbacks):
    train_kind()
    ticket = open_and_triage(
        personas,
        django_capture_on_commit_callbacks,
        "Fridge 冰箱 not cooling 😡",
        "<div>冷藏室<b>不制冷</b></div>" + "😡" * 500 + "x" * 60_000,
    )
    assert TriagePrediction.objects.get(ticket=ticket).label == "repair"


@pytest.mark.parametrize("damage", ["missing", "altered", "garbage"])
def test_broken_model_file_disables_only_that_head(
    personas, django_capture_on_commit_callbacks, damage
):
    kind = train_kind()
    train_sentiment()
    if damage == "missing":
        default_storage.delete(kind.file.name)
    else:
        with default_storage.open(kind.file.name, "rb") as handle:
            data = handle.read()
        default_storage.delete(kind.file.name)
        replacement = data[:-100] + b"x" * 100 if damage == "altered" else b"garbage"
        default_storage.save(kind.file.name, __import__("io").BytesIO(replacement))
        if damage == "garbage":
            # A file replaced together with its digest: the parser must refuse it.
            TriageModel.objects.filter(pk=kind.pk).update(
                sha256=hashlib.sha256(b"garbage").hexdigest()
            )
    ticket = open_and_triage(personas, django_capture_on_commit_callbacks, "师傅迟到，我要投诉")
    assert list(
        TriagePrediction.objects.filter(ticket=ticket).values_list("head__name", flat=True)
    ) == ["sentiment"]
    kind.refresh_from_db()
    expected = {
        "missing": "模型文件缺失或无法打开",
        "altered": "模型文件校验失败",
        "garbage": "模型文件无法读取",
    }[damage]
    assert kind.load_error.startswith(expected)
    warnings = ticket_triage(ticket)["warnings"]
    assert [(w["head"], w["model_version"]) for w in warnings] == [("kind", 1)]


def test_training_a_new_version_clears_the_warning(personas, django_capture_on_commit_callbacks):
    kind = train_kind()
    default_storage.delete(kind.file.name)
    services.check_models_in_use()
    assert ticket_triage(open_ticket(personas, "x"))["warnings"] != []
    train_kind()
    assert ticket_triage(open_ticket(personas, "y"))["warnings"] == []


def test_agent_correction_becomes_a_training_label(personas, django_capture_on_commit_callbacks):
    train_kind()
    ticket = open_and_triage(personas, django_capture_on_commit_callbacks, "冰箱不制冷")
    ticket_services.update_ticket(actor=personas.agnes, ticket=ticket, changes={"kind": "exchange"})
    label = TrainingLabel.objects.get()
    assert (label.head.name, label.label, label.predicted_label, label.source) == (
        "kind",
        "exchange",
        "repair",
        LabelSource.CORRECTION,
    )
    assert (label.ticket, label.created_by, label.text) == (ticket, personas.agnes, "冰箱不制冷\n")
    prediction = TriagePrediction.objects.get(ticket=ticket)
    assert (prediction.outcome, prediction.final_label) == (Outcome.CORRECTED, "exchange")
    texts, labels = services.ticket_training_rows("kind")
    assert labels[texts.index("冰箱不制冷\n")] == "exchange"


def test_changes_without_a_prediction_or_by_the_system_store_no_label(personas):
    ticket = open_ticket(personas, "冰箱不制冷")
    ticket_services.update_ticket(actor=personas.agnes, ticket=ticket, changes={"kind": "repair"})
    ticket_services.update_ticket(actor=None, ticket=ticket, changes={"priority": "urgent"})
    assert not TrainingLabel.objects.exists()


def test_agent_confirms_a_suggestion(personas, django_capture_on_commit_callbacks):
    train_kind()
    TriageHead.objects.filter(name="kind").update(threshold=1.0)
    ticket = open_and_triage(personas, django_capture_on_commit_callbacks, "冰箱不制冷")
    services.label_triage(actor=personas.agnes, ticket=ticket, head="kind", label="repair")
    ticket.refresh_from_db()
    assert ticket.kind == "repair"
    prediction = TriagePrediction.objects.get(ticket=ticket)
    assert (prediction.outcome, prediction.final_label) == (Outcome.ACCEPTED, "repair")
    assert TrainingLabel.objects.get().source == LabelSource.CONFIRMATION


def test_agent_corrects_sentiment(personas, django_capture_on_commit_callbacks):
    train_sentiment()
    ticket = open_and_triage(personas, django_capture_on_commit_callbacks, "我要投诉！！！")
    services.label_triage(actor=personas.agnes, ticket=ticket, head="sentiment", label="neutral")
    prediction = TriagePrediction.objects.get(ticket=ticket)
    assert (prediction.outcome, prediction.final_label, prediction.angry) == (
        Outcome.CORRECTED,
        "neutral",
        False,
    )
    event = TicketEvent.objects.filter(ticket=ticket, field="sentiment").last()
    assert (event.actor, event.before["label"], event.after["label"]) == (
        personas.agnes,
        "负面（愤怒）",
        "中性",
    )
    assert TrainingLabel.objects.get().label == "neutral"


def test_label_for_a_head_without_prediction_is_refused(personas):
    ticket = open_ticket(personas, "冰箱不制冷")
    with pytest.raises(ValidationFailed) as caught:
        services.label_triage(actor=personas.agnes, ticket=ticket, head="kind", label="repair")
    assert caught.value.code == "triage_not_found"


def test_training_rows_leave_out_what_the_model_applied_itself(
    personas, django_capture_on_commit_callbacks
):
    train_kind()
    applied = open_and_triage(personas, django_capture_on_commit_callbacks, "冰箱不制冷")
    assert applied.kind == "repair"
    typed = open_ticket(personas, "想问一下发票", kind="inquiry")
    texts, labels = services.ticket_training_rows("kind")
    assert list(zip(texts, labels, strict=True)) == [("想问一下发票\n", "inquiry")]
    ticket_services.update_ticket(actor=personas.agnes, ticket=applied, changes={"kind": "return"})
    texts, labels = services.ticket_training_rows("kind")
    assert sorted(zip(texts, labels, strict=True)) == [
        ("冰箱不制冷\n", "return"),
        ("想问一下发票\n", "inquiry"),
    ]
    assert typed.kind == "inquiry"
