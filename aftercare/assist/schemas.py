import datetime as dt
from typing import Any

from ninja import Field, Schema

from .choices import Outcome


class DrivingTerm(Schema):
    term: str
    # None for an anger cue, which is matched rather than weighted.
    weight: float | None


class PredictionOut(Schema):
    head: str
    head_label: str
    label: str
    label_display: str
    confidence: float
    threshold: float
    outcome: Outcome
    applied: bool
    angry: bool
    terms: list[DrivingTerm]
    final_label: str
    model_version: int | None
    created_at: dt.datetime


class HeadWarning(Schema):
    head: str
    model_version: int
    message: str
    since: dt.datetime | None


class TriageOut(Schema):
    ticket_id: int
    predictions: list[PredictionOut]
    warnings: list[HeadWarning]


class TriageLabelIn(Schema):
    label: str = Field(..., min_length=1, max_length=100)


class ModelOut(Schema):
    id: int
    head: str
    version: int
    labels: list[str]
    metrics: dict[str, Any]
    source: str
    training_rows: int
    size: int
    sha256: str
    is_active: bool
    in_use: bool
    load_error: str
    created_at: dt.datetime


class ModelPage(Schema):
    items: list[ModelOut]
    next_cursor: str | None


class ModelListQuery(Schema):
    head: str | None = Field(None, max_length=50)
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)
