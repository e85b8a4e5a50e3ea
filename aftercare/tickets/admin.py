from django.contrib import admin

from .models import CustomFieldDefinition, Ticket, TicketEvent


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(admin.ModelAdmin):
    list_display = ["key", "label", "kind", "field_type", "required", "agent_only", "is_active"]
    list_filter = ["kind", "field_type", "is_active"]


class EventInline(admin.TabularInline):
    model = TicketEvent
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "actor", "field", "before", "after", "data", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Read-only: ticket changes go through the services so the timeline stays complete."""

    list_display = ["number", "subject", "kind", "status", "priority", "team", "created_at"]
    list_filter = ["status", "kind", "priority", "team"]
    search_fields = ["number"]
    list_select_related = ["team"]
    inlines = [EventInline]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
