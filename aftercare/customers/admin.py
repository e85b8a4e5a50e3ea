from django.contrib import admin

from .models import Address, Contact, Customer


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "tier", "created_at"]
    list_filter = ["kind", "tier"]
    search_fields = ["name", "contacts__mobile", "contacts__email"]
    inlines = [ContactInline, AddressInline]
    raw_id_fields = ["organisation"]
