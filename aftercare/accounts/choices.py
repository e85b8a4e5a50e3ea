from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CUSTOMER = "customer", _("客户")
    AGENT = "agent", _("客服专员")
    SUPPORT_ENGINEER = "support_engineer", _("技术支持工程师")
    FIELD_TECHNICIAN = "field_technician", _("上门工程师")
    LOGISTICS = "logistics", _("退换货/物流专员")
    DEPARTMENT_MEMBER = "department_member", _("部门协同人员")
    QC_INSPECTOR = "qc_inspector", _("质检员")
    ANALYST = "analyst", _("数据分析师")
    TEAM_LEAD = "team_lead", _("主管")
    ADMIN = "admin", _("管理员")


# Roles that work tickets for the organisation (as opposed to customers and read-only roles).
WORKING_ROLES = frozenset(
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
# Roles that read every ticket but change none of them (QC may still add internal notes).
READ_ALL_ROLES = frozenset({Role.QC_INSPECTOR, Role.ANALYST, Role.ADMIN})


class Department(models.TextChoices):
    CUSTOMER_SERVICE = "customer_service", _("客服")
    TECH_SUPPORT = "tech_support", _("技术支持")
    FIELD_SERVICE = "field_service", _("上门服务")
    LOGISTICS = "logistics", _("物流")
    RETURNS = "returns", _("退换货")
    QA = "qa", _("质量")
    PRODUCTION = "production", _("生产")
    SALES = "sales", _("销售")
    FINANCE = "finance", _("财务")
    RND = "rnd", _("研发")
