from django import forms
from django.contrib import admin

from aftercare.core.errors import ValidationFailed

from . import services
from .models import Article, ArticleEvent, Category, SynonymGroup


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "name_en", "slug", "parent", "position"]
    prepopulated_fields = {"slug": ["name_en"]}


class SynonymGroupForm(forms.ModelForm):
    class Meta:
        model = SynonymGroup
        fields = ["phrases", "note", "is_active"]

    def clean_phrases(self) -> str:
        try:
            return services.clean_synonym_phrases(self.cleaned_data["phrases"])
        except ValidationFailed as exc:
            raise forms.ValidationError(str(exc.message)) from exc


@admin.register(SynonymGroup)
class SynonymGroupAdmin(admin.ModelAdmin):
    """Synonyms apply from the next search on; nothing needs re-indexing."""

    form = SynonymGroupForm
    list_display = ["__str__", "note", "is_active", "updated_at"]
    list_filter = ["is_active"]
    fields = ["phrases", "note", "is_active"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            services.update_synonym_group(
                actor=request.user,
                group=obj,
                phrases=obj.phrases,
                note=obj.note,
                is_active=obj.is_active,
            )
        else:
            created = services.create_synonym_group(
                actor=request.user, phrases=obj.phrases, note=obj.note
            )
            obj.pk = created.pk


class EventInline(admin.TabularInline):
    model = ArticleEvent
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "actor", "from_status", "to_status", "note", "data", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    """Read-only: articles change through the services so that versions and review hold."""

    list_display = ["__str__", "type", "audience", "status", "published_at", "view_count"]
    list_filter = ["type", "audience", "status"]
    inlines = [EventInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
