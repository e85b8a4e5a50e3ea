from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from .api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("aftercare.accounts.urls")),
    path("", include("aftercare.catalog.urls")),
    path("", include("aftercare.tickets.urls")),
    path("", include("aftercare.kb.urls")),
    path("", include("aftercare.intake.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.STATIC_URL, document_root=settings.STATIC_ROOT)
