"""Who may see and change what. Pages and the API both ask this module; nothing else decides.

Visibility rules:
- a customer sees only tickets and units of their own customer record;
- admins, QC inspectors and analysts see every ticket;
- every other staff role sees tickets of their teams, tickets assigned to them, tickets they
  follow, and, for customer-service agents and team leads, the untriaged tickets with no team.
Objects a user may not see are reported as "not found", never as "forbidden", so that ids
cannot be probed.
"""

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from aftercare.core.errors import Forbidden, NotFound

from .choices import Role
from .models import User

# Fields only the service side may set on a ticket.
CUSTOMER_TICKET_FIELDS = frozenset(
    {"subject", "description", "product_unit", "contact", "custom_fields"}
)
AGENT_ONLY_CREATE_FIELDS = frozenset({"priority", "team_id", "assignee_id", "tags", "customer"})
TRIAGE_ROLES = frozenset({Role.AGENT, Role.TEAM_LEAD})
CUSTOMER_TARGET_STATUSES = frozenset({"closed", "open"})
CRM_WRITERS = frozenset(
    {
        Role.AGENT,
        Role.TEAM_LEAD,
        Role.ADMIN,
        Role.LOGISTICS,
        Role.SUPPORT_ENGINEER,
        Role.FIELD_TECHNICIAN,
    }
)


def _require_active(user: User) -> None:
    if not user.is_authenticated or not user.is_active:
        raise Forbidden()


# --- tickets ---------------------------------------------------------------------------------


def visible_tickets(
    user: User, queryset: QuerySet | None = None, *, include_collaboration: bool = True
) -> QuerySet:
    """`include_collaboration`: also the tickets the user sees only because a collaboration
    request on them is targeted at them, their team or their department (read, not work)."""
    from aftercare.tickets.models import Ticket

    qs = queryset if queryset is not None else Ticket.objects.all()
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_customer:
        return qs.filter(customer_id=user.customer_id or 0)
    if user.reads_all_tickets:
        return qs
    team_ids = list(user.memberships.values_list("team_id", flat=True))
    condition = (
        Q(team_id__in=team_ids)
        | Q(assignee_id=user.pk)
        | Q(id__in=Ticket.followers.through.objects.filter(user_id=user.pk).values("ticket_id"))
    )
    if user.role in TRIAGE_ROLES:
        condition |= Q(team__isnull=True)
    if include_collaboration:
        condition |= Q(id__in=collaboration_requests_for(user).values("ticket_id"))
    return qs.filter(condition)


def get_visible_ticket(user: User, ticket_id: int, queryset: QuerySet | None = None):
    ticket = visible_tickets(user, queryset).filter(pk=ticket_id).first()
    if ticket is None:
        raise NotFound(_("工单不存在"), code="ticket_not_found")
    return ticket


def can_work_ticket(user: User, ticket) -> bool:
    """Change fields, status, replies of a ticket the user can see (customers excepted)."""
    if user.is_customer or not user.is_working_staff:
        return False
    return (
        user.role == Role.ADMIN
        or visible_tickets(user, include_collaboration=False).filter(pk=ticket.pk).exists()
    )


def check_ticket_update(user: User, ticket, fields: set[str]) -> None:
    if user.is_customer:
        refused = fields - CUSTOMER_TICKET_FIELDS
        if refused:
            raise Forbidden(
                _("客户不能修改这些字段：%(fields)s") % {"fields": ", ".join(sorted(refused))},
                code="fields_refused",
                details={"fields": sorted(refused)},
            )
        return
    if not can_work_ticket(user, ticket):
        raise Forbidden()


def check_ticket_create(user: User, fields: set[str], customer_id: int | None) -> None:
    _require_active(user)
    if user.is_customer:
        refused = fields & AGENT_ONLY_CREATE_FIELDS
        if refused:
            raise Forbidden(
                _("客户不能设置这些字段：%(fields)s") % {"fields": ", ".join(sorted(refused))},
                code="fields_refused",
                details={"fields": sorted(refused)},
            )
        if customer_id is not None and customer_id != user.customer_id:
            raise NotFound(_("客户不存在"), code="customer_not_found")
        return
    if not user.is_working_staff:
        raise Forbidden()


def check_transition(user: User, ticket, to_status: str) -> None:
    if user.is_customer:
        if to_status not in CUSTOMER_TARGET_STATUSES:
            raise Forbidden(_("客户只能关闭或重新打开自己的工单"), code="transition_refused")
        if to_status == "open" and ticket.status not in ("resolved", "closed"):
            raise Forbidden(_("客户只能关闭或重新打开自己的工单"), code="transition_refused")
        return
    if not can_work_ticket(user, ticket):
        raise Forbidden()


def check_message(user: User, ticket, visibility: str) -> None:
    if user.is_customer:
        if visibility != "public":
            raise Forbidden(_("客户不能添加内部备注"), code="internal_note_refused")
        return
    if visibility == "internal" and user.role == Role.QC_INSPECTOR:
        return
    if not can_work_ticket(user, ticket):
        raise Forbidden()


def can_see_internal(user: User) -> bool:
    return not user.is_customer


def check_merge(user: User, source, target) -> None:
    if not (can_work_ticket(user, source) and can_work_ticket(user, target)):
        raise Forbidden()


def check_follow(user: User, ticket, follower: User) -> None:
    if user.is_customer:
        raise Forbidden()
    if follower.pk != user.pk and user.role not in (Role.TEAM_LEAD, Role.ADMIN, Role.AGENT):
        raise Forbidden()
    if not (user.reads_all_tickets or can_work_ticket(user, ticket)):
        raise Forbidden()


# --- collaboration requests and hand-offs ----------------------------------------------------
# A request is answered by its target: the person named, the members of the team named, or,
# when only a department is named, the members of that department's teams. They may read the
# ticket it belongs to, and nothing else of the owning team. The owning side (whoever may work
# the ticket) asks, cancels and, as a lead or admin, resolves over open requests.


def collaboration_requests_for(user: User) -> QuerySet:
    """Requests (in any status) whose target is the user, one of their teams, or a department
    of one of their teams where no team was named."""
    from aftercare.accounts.models import Team
    from aftercare.collab.models import CollaborationRequest

    my_teams = Team.objects.filter(memberships__user_id=user.pk)
    return CollaborationRequest.objects.filter(
        Q(target_user_id=user.pk)
        | Q(target_team_id__in=my_teams.values("id"))
        | Q(target_team__isnull=True, target_department__in=my_teams.values("department"))
    )


def visible_collaboration_requests(user: User, queryset: QuerySet | None = None) -> QuerySet:
    from aftercare.collab.models import CollaborationRequest

    qs = queryset if queryset is not None else CollaborationRequest.objects.all()
    if not user.is_authenticated or not user.is_active or user.is_customer:
        return qs.none()
    if user.reads_all_tickets:
        return qs
    return qs.filter(ticket_id__in=visible_tickets(user).values("id"))


def get_visible_collaboration_request(user: User, request_id: int, queryset=None):
    found = visible_collaboration_requests(user, queryset).filter(pk=request_id).first()
    if found is None:
        raise NotFound(_("协同请求不存在"), code="collab_request_not_found")
    return found


def check_collaboration_request(user: User, ticket) -> None:
    """Ask another department for help on a ticket."""
    if user.is_customer or not can_work_ticket(user, ticket):
        raise Forbidden()


def check_collaboration_answer(user: User, request) -> None:
    """Accept, complete or decline: the target side (or an admin)."""
    if not user.is_working_staff:
        raise Forbidden()
    if user.role == Role.ADMIN:
        return
    if not collaboration_requests_for(user).filter(pk=request.pk).exists():
        raise Forbidden(_("只有被请求的部门或人员可以处理此协同请求"), code="not_request_target")


def check_collaboration_cancel(user: User, request) -> None:
    """Withdraw a request: the requesting side, i.e. whoever may work the ticket."""
    if request.requested_by_id == user.pk and user.is_working_staff:
        return
    if not can_work_ticket(user, request.ticket):
        raise Forbidden()


def can_override_open_requests(user: User | None, ticket) -> bool:
    """Resolve a ticket while collaboration requests are open: admins and the leads of the
    ticket's team (any team lead while the ticket has no team)."""
    if user is None or not user.is_active:
        return False
    if user.role == Role.ADMIN:
        return True
    if ticket.team_id is None:
        return user.role == Role.TEAM_LEAD
    return user.memberships.filter(team_id=ticket.team_id, is_lead=True).exists()


def check_handoffs_read(user: User, ticket) -> None:
    """The hand-off chain, with its internal notes, is for the service side."""
    if user.is_customer:
        raise Forbidden()


# --- customers and units ----------------------------------------------------------------------


def visible_customers(user: User, queryset: QuerySet | None = None) -> QuerySet:
    from aftercare.customers.models import Customer

    qs = queryset if queryset is not None else Customer.objects.all()
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_customer:
        return qs.filter(pk=user.customer_id or 0)
    return qs


def check_customer_write(user: User, customer=None) -> None:
    _require_active(user)
    if user.role not in CRM_WRITERS:
        raise Forbidden()


def visible_units(user: User, queryset: QuerySet | None = None) -> QuerySet:
    from aftercare.catalog.models import ProductUnit

    qs = queryset if queryset is not None else ProductUnit.objects.all()
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_customer:
        return qs.filter(owner_id=user.customer_id)
    return qs


def check_unit_write(user: User) -> None:
    _require_active(user)
    if user.role not in CRM_WRITERS:
        raise Forbidden()


def check_catalog_write(user: User) -> None:
    _require_active(user)
    if user.role != Role.ADMIN:
        raise Forbidden()


def check_staff(user: User) -> None:
    """Directory data (teams, users) is for the service side only."""
    _require_active(user)
    if user.is_customer:
        raise Forbidden()


def check_mail_admin(user: User) -> None:
    """Mailboxes, the quarantine and raw mail (which may hold anyone's data) are for admins."""
    _require_active(user)
    if user.role != Role.ADMIN:
        raise Forbidden()


# --- knowledge base ---------------------------------------------------------------------------
# Everyone who works tickets may write articles: whoever found the answer to a new fault is
# the one to write it down. What customers are told, and what every agent will then repeat, is
# decided by team leads and admins: only they publish, send back, archive and restore, and
# only they may turn a live article public. QC inspectors and analysts read everything and
# write nothing. Categories and synonyms shape everyone's navigation and search: admins only.
KB_AUTHORS = frozenset(
    {
        Role.AGENT,
        Role.SUPPORT_ENGINEER,
        Role.FIELD_TECHNICIAN,
        Role.LOGISTICS,
        Role.DEPARTMENT_MEMBER,
        Role.TEAM_LEAD,
        Role.ADMIN,
    }
)
KB_REVIEWERS = frozenset({Role.TEAM_LEAD, Role.ADMIN})


def is_kb_staff(user) -> bool:
    """Signed-in service staff: they read internal articles and drafts."""
    return bool(user.is_authenticated and user.is_active and not user.is_customer)


def visible_articles(user, queryset: QuerySet | None = None) -> QuerySet:
    """Staff see every article; customers and anonymous visitors only live public ones."""
    from aftercare.kb.choices import Audience
    from aftercare.kb.models import Article
    from aftercare.kb.search import live_article_condition

    qs = queryset if queryset is not None else Article.objects.all()
    if is_kb_staff(user):
        return qs
    return qs.filter(live_article_condition(), audience=Audience.PUBLIC)


def get_visible_article(user, article_id: int, queryset: QuerySet | None = None):
    article = visible_articles(user, queryset).filter(pk=article_id).first()
    if article is None:
        raise NotFound(_("文章不存在"), code="article_not_found")
    return article


def check_kb_staff(user) -> None:
    """Drafts, history, feedback comments and reply-template tools are for staff."""
    if not is_kb_staff(user):
        raise Forbidden()


def check_article_write(user) -> None:
    """Create an article, save a new version, attach a file."""
    check_kb_staff(user)
    if user.role not in KB_AUTHORS:
        raise Forbidden()


def check_article_settings(user, article, fields: set[str]) -> None:
    check_article_write(user)
    if article.is_live and "audience" in fields and user.role not in KB_REVIEWERS:
        raise Forbidden(_("只有主管或管理员可以更改已发布文章的可见范围"), code="review_required")


def check_article_review(user) -> None:
    """Publish, send back for changes, archive, restore."""
    check_kb_staff(user)
    if user.role not in KB_REVIEWERS:
        raise Forbidden(_("只有主管或管理员可以审核和发布文章"), code="review_required")


def check_kb_config(user) -> None:
    """Categories and synonym groups."""
    check_kb_staff(user)
    if user.role != Role.ADMIN:
        raise Forbidden()


def check_reply_template_use(user, ticket) -> None:
    """Fill a reply template with a ticket's data to put it in a reply to that ticket."""
    check_kb_staff(user)
    if not can_work_ticket(user, ticket):
        raise Forbidden()
