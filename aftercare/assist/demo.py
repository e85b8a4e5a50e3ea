"""Initial triage models for the demo, trained from the demo's own tickets.

Kind, priority and product category are the tickets' values. The demo has no sentiment
labels, so they are derived from its content: complaints carrying an anger cue are angry,
other complaints and every report of a fault or a bad delivery are negative, questions and
appointments are neutral; the customers' own replies add positive and neutral examples.
"""

from django.db.models import Q

from aftercare.tickets.choices import MessageVisibility, Status, TicketKind
from aftercare.tickets.models import Message, Ticket

from . import services
from .choices import ANGRY, Head, Sentiment
from .models import TriageModel

DEMO_ANGER_CUES = ("非常不满意", "第三次", "打不通", "一直没人处理")
FAULT_KINDS = {TicketKind.REPAIR, TicketKind.OTHER}
NEGATIVE_KINDS = {TicketKind.REPAIR, TicketKind.RETURN, TicketKind.EXCHANGE, TicketKind.OTHER}
# The demo customers' replies (aftercare/demo/content.py CUSTOMER_REPLIES) by mood.
REPLY_SENTIMENT = {
    "谢谢": Sentiment.POSITIVE,
    "好了": Sentiment.POSITIVE,
    "还是不行": Sentiment.NEGATIVE,
    "已经等了": Sentiment.NEGATIVE,
}
# The newest open tickets get a prediction at seed time, so the demo shows triage at once.
TRIAGE_AT_SEED = 40
# A short grid: the demo's texts are few and the seed must stay quick.
DEMO_C_GRID = (1.0,)


def demo_sentiment(kind: str, text: str) -> str:
    if kind == TicketKind.COMPLAINT:
        return ANGRY if any(cue in text for cue in DEMO_ANGER_CUES) else Sentiment.NEGATIVE
    return Sentiment.NEGATIVE if kind in NEGATIVE_KINDS else Sentiment.NEUTRAL


def reply_sentiment(text: str) -> str:
    for cue, sentiment in REPLY_SENTIMENT.items():
        if cue in text:
            return sentiment
    return Sentiment.NEUTRAL


def train_demo_models() -> list[TriageModel]:
    """Train one model per ticket head from the demo tickets (skipped when models exist)."""
    if TriageModel.objects.exists():
        return []
    rows = list(
        Ticket.objects.values_list(
            "subject", "description", "kind", "priority", "product_unit__product__category"
        )
    )
    texts = [f"{subject}\n{description}" for subject, description, *_ in rows]
    replies = list(
        Message.objects.filter(
            visibility=MessageVisibility.PUBLIC, author__isnull=True, is_automatic=False
        )
        .order_by("body_text")
        .values_list("body_text", flat=True)
        .distinct()
    )
    columns = {
        Head.KIND: (texts, [row[2] for row in rows]),
        Head.PRIORITY: (texts, [row[3] for row in rows]),
        # Only fault reports name the product in their words; a question about an invoice
        # says nothing of the unit it is about.
        Head.CATEGORY: (
            [t for t, row in zip(texts, rows, strict=True) if row[4] and row[2] in FAULT_KINDS],
            [row[4] for row in rows if row[4] and row[2] in FAULT_KINDS],
        ),
        Head.SENTIMENT: (
            texts + replies,
            [demo_sentiment(row[2], t) for t, row in zip(texts, rows, strict=True)]
            + [reply_sentiment(reply) for reply in replies],
        ),
    }
    models = []
    for head, (head_texts, labels) in columns.items():
        if len(set(labels)) < 2:
            continue
        models.append(
            services.train_head(
                head=head, texts=head_texts, labels=labels, source="demo", c_grid=DEMO_C_GRID
            )
        )
    newest = Ticket.objects.filter(Q(status=Status.NEW) | Q(status=Status.OPEN)).order_by(
        "-created_at"
    )
    for ticket_id in newest.values_list("pk", flat=True)[:TRIAGE_AT_SEED]:
        services.triage_ticket(ticket_id=ticket_id)
    return models
