from django.urls import path

from . import views

urlpatterns = [path("warranty/", views.warranty_lookup, name="warranty_lookup")]
