"""Reply templates (话术): {{ customer.name }} and friends, filled from a fixed whitelist.

The renderer is ours, not a template engine: it knows only `{{ name }}` and
`{{ name|default:"文本" }}`, and each name is looked up in a dict of plain strings that
ticket_values() builds field by field. No expression reaches a model, the database or the
filesystem, whatever the template says. The result is plain text; pages escape it like any
other text.

An unknown or malformed placeholder is a Problem: preview refuses the template with the list
of problems, insertion into a reply renders it as nothing and reports it.
"""

import datetime as dt
import re
from dataclasses import dataclass, field

from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from aftercare.catalog.warranty import Remedy, evaluate_warranty

MAX_TEMPLATE_CHARS = 20_000
VARIABLES = {
    "customer.name": _("客户名称"),
    "customer.tier": _("客户等级"),
    "contact.name": _("联系人姓名"),
    "ticket.number": _("工单号"),
    "ticket.subject": _("工单标题"),
    "ticket.kind": _("工单类型"),
    "ticket.status": _("工单状态"),
    "ticket.created_at": _("提交时间"),
    "ticket.due_at": _("承诺处理时间"),
    "unit.serial": _("序列号"),
    "unit.model_number": _("型号"),
    "unit.product_name": _("产品名称"),
    "unit.purchase_date": _("购买日期"),
    "unit.warranty_until": _("保修截止日期"),
    "unit.warranty_status": _("三包状态"),
    "agent.name": _("客服姓名"),
    "today": _("今天日期"),
}
# What a preview without a ticket shows, so that an editor sees the shape of the reply.
SAMPLE_VALUES = {
    "customer.name": "张先生",
    "customer.tier": "VIP",
    "contact.name": "张先生",
    "ticket.number": "AC-2026-000123",
    "ticket.subject": "空调不制冷",
    "ticket.kind": "报修",
    "ticket.status": "处理中",
    "ticket.created_at": "2026-07-01 09:30",
    "ticket.due_at": "2026-07-01 21:30",
    "unit.serial": "HNKFR00120345",
    "unit.model_number": "KFR-35GW",
    "unit.product_name": "挂壁式空调",
    "unit.purchase_date": "2026-05-20",
    "unit.warranty_until": "2027-05-20",
    "unit.warranty_status": "在12个月保修期内，截至 2027-05-20",
    "agent.name": "客服 李娜",
    "today": "2026-07-01",
}
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_EXPRESSION = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][\w.]*)\s*(?:\|\s*default\s*:\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'))?\s*$"""
)


@dataclass(frozen=True)
class Problem:
    code: str
    expression: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "expression": self.expression, "message": self.message}


@dataclass
class Rendered:
    text: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def unknown_variables(self) -> list[str]:
        return [p.expression for p in self.problems if p.code == "unknown_variable"]


def render(template: str, values: dict[str, str]) -> Rendered:
    """Fill every placeholder from `values`; problems render as empty text."""
    template = template[:MAX_TEMPLATE_CHARS]
    problems: list[Problem] = []

    def fill(match: re.Match) -> str:
        inner = match.group(1)
        parsed = _EXPRESSION.match(inner)
        if parsed is None:
            problems.append(
                Problem("invalid_expression", inner.strip(), str(_("无法识别的占位符写法")))
            )
            return ""
        name = parsed.group("name")
        if name not in VARIABLES:
            problems.append(Problem("unknown_variable", name, str(_("没有这个变量"))))
            return ""
        default = parsed.group("dq") or parsed.group("sq") or ""
        return values.get(name) or default

    text = _PLACEHOLDER.sub(fill, template)
    if "{{" in text:
        problems.append(Problem("unclosed_placeholder", "{{", str(_("占位符缺少结尾的 }}"))))
    if "{%" in template:
        problems.append(Problem("unsupported_tag", "{%", str(_("话术模板不支持 {% %} 标签"))))
    return Rendered(text, problems)


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _moment(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def ticket_values(ticket, *, agent, language: str, today: dt.date | None = None) -> dict[str, str]:
    """The whitelisted values of one ticket, as text in the template's language."""
    today = today or timezone.localdate()
    unit = ticket.product_unit
    with translation.override(language):
        values = {
            "customer.name": ticket.customer.name,
            "customer.tier": str(ticket.customer.get_tier_display()),
            "contact.name": ticket.contact.name if ticket.contact else ticket.customer.name,
            "ticket.number": ticket.number,
            "ticket.subject": ticket.subject,
            "ticket.kind": str(ticket.get_kind_display()),
            "ticket.status": str(ticket.get_status_display()),
            "ticket.created_at": _moment(ticket.created_at),
            "ticket.due_at": _moment(ticket.due_at),
            "agent.name": str(agent) if agent is not None else "",
            "today": today.isoformat(),
        }
        if unit is not None:
            warranty = evaluate_warranty(
                purchase_date=unit.purchase_date,
                policy=unit.product.warranty_policy,
                on_date=today,
            )
            values.update(
                {
                    "unit.serial": unit.serial,
                    "unit.model_number": unit.product.model_number,
                    "unit.product_name": unit.product.name,
                    "unit.purchase_date": _date(unit.purchase_date),
                    "unit.warranty_until": _date(warranty.coverage(Remedy.REPAIR).until),
                    "unit.warranty_status": warranty.summary,
                }
            )
    return values
