from django.contrib import admin

from .models import Product, ProductLine, ProductUnit


@admin.register(ProductLine)
class ProductLineAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "model_number",
        "name",
        "line",
        "category",
        "return_days",
        "exchange_days",
        "repair_months",
        "is_active",
    ]
    list_filter = ["line", "is_active"]
    search_fields = ["model_number", "name"]


@admin.register(ProductUnit)
class ProductUnitAdmin(admin.ModelAdmin):
    list_display = ["serial", "product", "owner", "purchase_date", "sales_channel"]
    list_filter = ["sales_channel", "product__line"]
    search_fields = ["serial", "order_reference"]
    raw_id_fields = ["owner", "installation_address"]
    list_select_related = ["product", "owner"]
