from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    name = "aftercare.sla"
    label = "sla"
    verbose_name = _("服务时效（SLA）")
