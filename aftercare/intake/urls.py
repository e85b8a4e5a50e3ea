from django.urls import path

from . import views

urlpatterns = [
    path("mail/<int:inbound_id>/", views.inbound_detail, name="inbound_detail"),
]
