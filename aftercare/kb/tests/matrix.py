"""Knowledge-base rows of the permission matrix (accounts/tests/test_permission_matrix.py).

"own" is an object the persona has a claim on: for a customer a live public article, for
staff a draft they may work on; "other" is one a customer cannot see (internal) or one in a
state the step does not start from. Expected statuses restate aftercare/accounts/policy.py.
"""

from django.core.files.uploadedfile import SimpleUploadedFile

from aftercare.kb import services
from aftercare.kb.choices import ArticleType, Audience

AUTHORS = {
    "agent",
    "support_engineer",
    "field_technician",
    "logistics",
    "department_member",
    "team_lead",
    "admin",
}
REVIEWERS = {"team_lead", "admin"}
READ_ALL = {"qc_inspector", "analyst", "admin"}


class KbWorld:
    def __init__(self, personas):
        lead = personas.lena
        self.public_live = self._article(lead, "空调不制冷排查", Audience.PUBLIC, publish=True)
        self.internal_live = self._article(lead, "漏氟判定标准", Audience.INTERNAL, publish=True)
        self.draft = self._article(lead, "洗衣机不排水", Audience.INTERNAL)
        self.in_review = self._article(lead, "冰箱结霜", Audience.INTERNAL)
        services.submit_article_for_review(actor=lead, article=self.in_review)
        self.archived = self._article(lead, "旧版三包政策", Audience.PUBLIC, publish=True)
        services.archive_article(actor=lead, article=self.archived)
        self.template = self._article(
            lead,
            "上门预约话术",
            Audience.INTERNAL,
            publish=True,
            type=ArticleType.REPLY_TEMPLATE,
            body="{{ customer.name }}您好，工单 {{ ticket.number }} 已安排上门。",
        )
        self.public_file = services.add_article_attachment(
            actor=lead, article=self.public_live, upload=SimpleUploadedFile("a.txt", b"hello")
        )
        self.internal_file = services.add_article_attachment(
            actor=lead, article=self.internal_live, upload=SimpleUploadedFile("b.txt", b"hello")
        )
        ada = personas.ada
        self.synonyms = services.create_synonym_group(actor=ada, phrases="不制冷\n不冷")
        self.other_synonyms = services.create_synonym_group(actor=ada, phrases="漏水\n滴水")

    @staticmethod
    def _article(actor, title, audience, *, publish=False, type=ArticleType.SOLUTION, body="正文"):
        article = services.create_article(
            actor=actor, type=type, audience=audience, language="zh-hans", title=title, body=body
        )
        if publish:
            services.publish_article(actor=actor, article=article)
        return article


def kb(world) -> KbWorld:
    if not hasattr(world, "kb"):
        world.kb = KbWorld(world.p)
    return world.kb


def article(which_own: str, which_other: str):
    return lambda w, o: getattr(kb(w), which_own if o == "own" else which_other).pk


def status_for(*, customer, staff):
    """customer: (own, other) statuses; staff: role → status (or a function of which)."""

    def rule(role, which):
        if role == "customer":
            return customer[0] if which == "own" else customer[1]
        result = staff(role)
        return result(which) if callable(result) else result

    return rule


def authors(ok, *, else_=403):
    return lambda role: ok if role in AUTHORS else else_


def reviewers(ok):
    return lambda role: ok if role in REVIEWERS else 403


def staff_ok(ok):
    return lambda role: ok


def ticket_for(w, which):
    return (w.own if which == "own" else w.other).pk


def sees_ticket(role, which):
    return role in READ_ALL or which == "own"


public_or_internal = article("public_live", "internal_live")
draft_or_public = article("draft", "public_live")

KB_ENDPOINTS = [
    ("kb.articles", "get", lambda w, o: "kb/articles", None, lambda r, o: 200),
    (
        "kb.article.read",
        "get",
        lambda w, o: f"kb/articles/{public_or_internal(w, o)}",
        None,
        status_for(customer=(200, 404), staff=staff_ok(200)),
    ),
    (
        "kb.article.create",
        "post",
        lambda w, o: "kb/articles",
        lambda w, o: {"type": "faq", "title": "新文章", "body": "正文"},
        status_for(customer=(403, 403), staff=authors(201)),
    ),
    (
        "kb.article.patch",
        "patch",
        lambda w, o: f"kb/articles/{article('draft', 'internal_live')(w, o)}",
        lambda w, o: kb(w) and {"audience": "public"},
        status_for(
            customer=(404, 404),
            staff=lambda r: (
                lambda o: (
                    (200 if r in AUTHORS else 403)
                    if o == "own"
                    else (200 if r in REVIEWERS else 403)
                )
            ),
        ),
    ),
    (
        "kb.version.save",
        "post",
        lambda w, o: f"kb/articles/{draft_or_public(w, o)}/versions",
        lambda w, o: kb(w) and {"language": "zh-hans", "title": "改过的标题", "body": "新正文"},
        status_for(customer=(404, 403), staff=authors(201)),
    ),
    (
        "kb.history",
        "get",
        lambda w, o: f"kb/articles/{draft_or_public(w, o)}/history",
        None,
        status_for(customer=(404, 403), staff=staff_ok(200)),
    ),
    (
        "kb.diff",
        "get",
        lambda w, o: f"kb/articles/{draft_or_public(w, o)}/diff?to_version=1",
        None,
        status_for(customer=(404, 403), staff=staff_ok(200)),
    ),
    (
        "kb.submit",
        "post",
        lambda w, o: f"kb/articles/{article('draft', 'internal_live')(w, o)}/submit",
        lambda w, o: kb(w) and {},
        status_for(
            customer=(404, 404),
            staff=lambda r: lambda o: (200 if o == "own" else 409) if r in AUTHORS else 403,
        ),
    ),
    (
        "kb.request_changes",
        "post",
        lambda w, o: f"kb/articles/{article('in_review', 'draft')(w, o)}/request-changes",
        lambda w, o: kb(w) and {"note": "请补充故障码对照表"},
        status_for(
            customer=(404, 404),
            staff=lambda r: lambda o: (200 if o == "own" else 409) if r in REVIEWERS else 403,
        ),
    ),
    (
        "kb.publish",
        "post",
        lambda w, o: f"kb/articles/{article('in_review', 'draft')(w, o)}/publish",
        lambda w, o: kb(w) and {},
        status_for(customer=(404, 404), staff=reviewers(200)),
    ),
    (
        "kb.archive",
        "post",
        lambda w, o: f"kb/articles/{public_or_internal(w, o)}/archive",
        lambda w, o: kb(w) and {},
        status_for(customer=(403, 404), staff=reviewers(200)),
    ),
    (
        "kb.restore",
        "post",
        lambda w, o: f"kb/articles/{article('archived', 'draft')(w, o)}/restore",
        lambda w, o: kb(w) and {},
        status_for(
            customer=(404, 404),
            staff=lambda r: lambda o: (200 if o == "own" else 409) if r in REVIEWERS else 403,
        ),
    ),
    (
        # Sent without a file: whoever may upload gets file_required, the others are refused.
        "kb.attachment.upload",
        "post",
        lambda w, o: f"kb/articles/{draft_or_public(w, o)}/attachments",
        lambda w, o: kb(w) and {},
        status_for(customer=(404, 403), staff=authors(422)),
    ),
    (
        "kb.attachment.download",
        "get",
        lambda w, o: (
            "kb/attachments/"
            f"{(kb(w).public_file if o == 'own' else kb(w).internal_file).pk}/download"
        ),
        None,
        status_for(customer=(200, 404), staff=staff_ok(200)),
    ),
    (
        "kb.feedback.give",
        "post",
        lambda w, o: f"kb/articles/{public_or_internal(w, o)}/feedback",
        lambda w, o: kb(w) and {"helpful": True, "comment": "有用"},
        status_for(customer=(201, 404), staff=staff_ok(201)),
    ),
    (
        "kb.feedback.list",
        "get",
        lambda w, o: f"kb/articles/{public_or_internal(w, o)}/feedback",
        None,
        status_for(customer=(403, 404), staff=staff_ok(200)),
    ),
    (
        "kb.solved",
        "post",
        lambda w, o: f"kb/articles/{public_or_internal(w, o)}/solved",
        lambda w, o: kb(w) and {},
        status_for(customer=(204, 404), staff=staff_ok(204)),
    ),
    ("kb.search", "get", lambda w, o: "kb/search?q=空调不制冷", None, lambda r, o: 200),
    ("kb.categories", "get", lambda w, o: "kb/categories", None, lambda r, o: 200),
    (
        "kb.category.create",
        "post",
        lambda w, o: "kb/categories",
        lambda w, o: {"name": "空调", "slug": "ac"},
        lambda r, o: 201 if r == "admin" else 403,
    ),
    (
        "kb.synonyms",
        "get",
        lambda w, o: "kb/synonyms",
        None,
        lambda r, o: 403 if r == "customer" else 200,
    ),
    (
        "kb.synonyms.create",
        "post",
        lambda w, o: "kb/synonyms",
        lambda w, o: {"phrases": "噪音大\n声音大"},
        lambda r, o: 201 if r == "admin" else 403,
    ),
    (
        "kb.synonyms.patch",
        "patch",
        lambda w, o: f"kb/synonyms/{(kb(w).synonyms if o == 'own' else kb(w).other_synonyms).pk}",
        lambda w, o: kb(w) and {"is_active": False},
        lambda r, o: 200 if r == "admin" else 403,
    ),
    (
        "kb.template.variables",
        "get",
        lambda w, o: "kb/templates/variables",
        None,
        lambda r, o: 403 if r == "customer" else 200,
    ),
    (
        "kb.template.preview",
        "post",
        lambda w, o: "kb/templates/preview",
        lambda w, o: {"text": "{{ customer.name }}您好", "ticket_id": ticket_for(w, o)},
        lambda r, o: 403 if r == "customer" else (200 if sees_ticket(r, o) else 404),
    ),
    (
        "kb.template.render",
        "post",
        lambda w, o: f"kb/articles/{kb(w).template.pk}/render",
        lambda w, o: kb(w) and {"ticket_id": ticket_for(w, o)},
        lambda r, o: (
            404 if r == "customer" or not sees_ticket(r, o) else (200 if r in AUTHORS else 403)
        ),
    ),
]
