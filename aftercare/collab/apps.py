from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollabConfig(AppConfig):
    name = "aftercare.collab"
    label = "collab"
    verbose_name = _("协同与通知")
