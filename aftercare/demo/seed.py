"""The demo organisation: 华宁电器 (a home-appliance maker), its teams, one user per role,
about 300 customers with units, and about 2,000 tickets over the last 90 days."""

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from aftercare.accounts.choices import Department, Role
from aftercare.accounts.models import Team, TeamMembership, User
from aftercare.assist.demo import train_demo_models
from aftercare.catalog.models import Product, ProductLine, ProductUnit, SalesChannel
from aftercare.customers.choices import CustomerKind, CustomerTier
from aftercare.customers.models import Address, Contact, Customer
from aftercare.kb.demo import seed_knowledge_base
from aftercare.sla.models import SlaClock
from aftercare.tickets.choices import OPEN_STATUS_VALUES, CustomFieldType, TicketKind
from aftercare.tickets.models import CustomFieldDefinition, Ticket

from . import content
from .generator import generate_tickets
from .mail import seed_demo_mail

DEMO_PASSWORD = "aftercare-demo"
TEAMS = [
    ("cs-1", "售后客服一组", Department.CUSTOMER_SERVICE),
    ("cs-2", "售后客服二组", Department.CUSTOMER_SERVICE),
    ("tech", "技术支持组", Department.TECH_SUPPORT),
    ("field", "上门服务组", Department.FIELD_SERVICE),
    ("returns", "物流退换货组", Department.RETURNS),
    ("qa", "质量部", Department.QA),
]
# username, display name, role, team slugs, is lead
USERS = [
    ("admin", "系统管理员", Role.ADMIN, [], False),
    ("lead", "主管 周敏", Role.TEAM_LEAD, ["cs-1", "cs-2"], True),
    ("agent", "客服 李娜", Role.AGENT, ["cs-1"], False),
    ("agent2", "客服 王强", Role.AGENT, ["cs-2"], False),
    ("engineer", "技术支持 陈杰", Role.SUPPORT_ENGINEER, ["tech"], False),
    ("technician", "上门工程师 刘磊", Role.FIELD_TECHNICIAN, ["field"], False),
    ("logistics", "退换货专员 赵静", Role.LOGISTICS, ["returns"], False),
    ("qa", "质量工程师 孙涛", Role.DEPARTMENT_MEMBER, ["qa"], False),
    ("inspector", "质检员 吴芳", Role.QC_INSPECTOR, [], False),
    ("analyst", "数据分析师 郑洋", Role.ANALYST, [], False),
]
DEMO_CUSTOMER_MOBILE = "13800138000"


@dataclass
class SeedResult:
    created_tickets: int
    sign_ins: list[tuple[str, str]]


def _person_name(rng: random.Random) -> str:
    return rng.choice(content.SURNAMES) + rng.choice(content.GIVEN_NAMES)


@transaction.atomic
def _seed_reference(rng: random.Random) -> None:
    teams = {}
    for slug, name, department in TEAMS:
        teams[slug], _ = Team.objects.get_or_create(
            slug=slug, defaults={"name": name, "department": department}
        )
    for username, display, role, team_slugs, lead in USERS:
        if User.objects.filter(username=username).exists():
            continue
        user = User.objects.create_user(
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            display_name=display,
            email=f"{username}@huaning-demo.cn",
            is_staff=role == Role.ADMIN,
            is_superuser=role == Role.ADMIN,
        )
        for slug in team_slugs:
            TeamMembership.objects.create(team=teams[slug], user=user, is_lead=lead)

    products = []
    for slug, name, category, models in content.PRODUCT_LINES:
        line, _ = ProductLine.objects.get_or_create(slug=slug, defaults={"name": name})
        for model, product_name, return_days, exchange_days, repair_months in models:
            product, _ = Product.objects.get_or_create(
                model_number=model,
                defaults={
                    "line": line,
                    "name": product_name,
                    "category": category,
                    "return_days": return_days,
                    "exchange_days": exchange_days,
                    "repair_months": repair_months,
                },
            )
            products.append(product)

    for key, label, kind, field_type, choices, agent_only in [
        ("fault_code", "故障代码", TicketKind.REPAIR, CustomFieldType.TEXT, [], False),
        ("visit_slot", "上门时段", "", CustomFieldType.CHOICE, ["上午", "下午", "晚上"], False),
        (
            "repair_outcome",
            "维修结论",
            TicketKind.REPAIR,
            CustomFieldType.CHOICE,
            ["已修复", "需返厂", "需备件", "无故障"],
            True,
        ),
        ("order_amount", "订单金额（元）", TicketKind.RETURN, CustomFieldType.NUMBER, [], False),
    ]:
        CustomFieldDefinition.objects.get_or_create(
            key=key,
            kind=kind,
            defaults={
                "label": label,
                "field_type": field_type,
                "choices": choices,
                "agent_only": agent_only,
            },
        )

    if Customer.objects.exists():
        return
    today = timezone.localdate()
    places = [
        (p, c, districts, coords)
        for p, cities in content.PROVINCES.items()
        for c, districts, coords in cities
    ]
    organisations = []
    for name in content.ORGANISATIONS:
        organisations.append(
            Customer.objects.create(
                kind=CustomerKind.ORGANISATION,
                name=name,
                tier=CustomerTier.VIP,
                notes="企业客户，批量采购，对接人见联系人列表。",
            )
        )
    for index in range(300):
        province, city, districts, (lat, lng) = rng.choice(places)
        name = "王丽" if index == 0 else _person_name(rng)
        tier = CustomerTier.VIP if rng.random() < 0.1 else CustomerTier.STANDARD
        organisation = rng.choice(organisations) if rng.random() < 0.08 else None
        customer = Customer.objects.create(
            name=name,
            tier=tier,
            organisation=organisation,
            tags=rng.sample(
                ["老客户", "以旧换新", "电商客户", "工程客户"], k=rng.choice([0, 0, 1])
            ),
        )
        mobile = DEMO_CUSTOMER_MOBILE if index == 0 else f"1{rng.choice('3456789')}{index:09d}"
        Contact.objects.create(
            customer=customer,
            name=name,
            mobile=mobile,
            is_primary=True,
            email=f"customer{index:03d}@example.cn" if rng.random() < 0.6 or index == 0 else None,
            wechat_id=f"wx_{index:05d}" if rng.random() < 0.5 else None,
        )
        address = Address.objects.create(
            customer=customer,
            label="家",
            province=province,
            city=city,
            district=rng.choice(districts),
            street=f"{rng.choice(content.STREETS)}{rng.randint(1, 300)}号{rng.randint(1, 30)}栋"
            f"{rng.randint(1, 3)}单元{rng.randint(101, 2808)}室",
            latitude=Decimal(f"{lat + rng.uniform(-0.15, 0.15):.6f}"),
            longitude=Decimal(f"{lng + rng.uniform(-0.15, 0.15):.6f}"),
            is_default=True,
        )
        for unit_index in range(rng.choice([1, 1, 2, 2, 3]) if index else 2):
            product = rng.choice(products)
            # Some bought in the last weeks, so every 三包 state shows up in the demo.
            age_days = rng.choice(
                [rng.randint(0, 20), rng.randint(20, 400), rng.randint(400, 2000)]
            )
            if index == 0:
                age_days = [8, 500][unit_index]
            ProductUnit.objects.create(
                serial=f"HN{product.model_number.split('-')[0][:3]}{index:04d}{unit_index}"
                f"{rng.randint(1000, 9999)}",
                product=product,
                owner=customer,
                purchase_date=today - dt.timedelta(days=age_days),
                sales_channel=rng.choice(SalesChannel.values),
                order_reference=f"{rng.randint(10**11, 10**12 - 1)}",
                installation_address=address,
            )
        if index == 0:
            User.objects.get_or_create(
                username="customer",
                defaults={
                    "role": Role.CUSTOMER,
                    "customer": customer,
                    "display_name": name,
                    "email": "customer000@example.cn",
                    "password": _hashed(DEMO_PASSWORD),
                },
            )


def _hashed(raw: str) -> str:
    from django.contrib.auth.hashers import make_password

    return make_password(raw)


def seed_demo(*, tickets: int = 2000, seed: int = 2026, progress=None) -> SeedResult:
    """Create the demo organisation. Running it again adds nothing."""
    rng = random.Random(seed)
    _seed_reference(rng)
    created = 0
    if tickets and not Ticket.objects.exists():
        created = generate_tickets(tickets, seed=seed, days=90, progress=progress)
        start_demo_clocks()
        train_demo_models()
    seed_demo_mail()
    seed_knowledge_base()
    sign_ins = [(u, str(r.label)) for u, _, r, _, _ in USERS]
    sign_ins.append(("customer", str(Role.CUSTOMER.label)))
    return SeedResult(created, sign_ins)


@transaction.atomic
def start_demo_clocks() -> int:
    """Give the demo's open tickets the SLA clocks the services would have started, met where
    the ticket was answered, then let the sweeper catch up on what has fallen due since."""
    from aftercare.sla import engine
    from aftercare.sla.choices import ClockState, Metric

    clocks = []
    tickets = Ticket.objects.filter(status__in=OPEN_STATUS_VALUES).select_related(
        "customer", "product_unit__product"
    )
    for ticket in tickets:
        plan = engine.plan_clocks(ticket, ticket.created_at)
        for clock in plan.clocks:
            clock.ticket = ticket
            if clock.metric == Metric.FIRST_RESPONSE and ticket.first_response_at:
                clock.state, clock.met_at = ClockState.MET, ticket.first_response_at
                clock.stopped_at, clock.next_event_at = ticket.first_response_at, None
            clocks.append(clock)
        running = [c.due_at for c in plan.clocks if c.due_at and c.state == ClockState.RUNNING]
        if running:
            ticket.due_at = min(running)
    SlaClock.objects.bulk_create(clocks, batch_size=1000)
    Ticket.objects.bulk_update(list(tickets), ["due_at"], batch_size=1000)
    engine.sweep()
    return len(clocks)
