from django.contrib import admin

from .models import CollaborationRequest, Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "kind", "title", "read_at", "emailed_at"]
    list_filter = ["kind"]
    raw_id_fields = ["user", "ticket"]


@admin.register(CollaborationRequest)
class CollaborationRequestAdmin(admin.ModelAdmin):
    list_display = ["created_at", "ticket", "kind", "target_department", "status", "due_at"]
    list_filter = ["status", "kind", "target_department"]
    raw_id_fields = [
        "ticket",
        "requested_by",
        "requesting_team",
        "target_team",
        "target_user",
        "accepted_by",
        "closed_by",
    ]
