from django.urls import path

from . import views

urlpatterns = [
    path("tickets/", views.ticket_list, name="ticket_list"),
    path("tickets/<int:ticket_id>/", views.ticket_detail, name="ticket_detail"),
    path("tickets/<int:ticket_id>/reply", views.ticket_reply, name="ticket_reply"),
    path("tickets/<int:ticket_id>/transition", views.ticket_transition, name="ticket_transition"),
]
