from django.urls import path

from . import views

urlpatterns = [
    path("help/", views.help_centre, name="help_centre"),
    path("help/articles/<int:article_id>/", views.help_article, name="help_article"),
    path("help/articles/<int:article_id>/feedback", views.help_feedback, name="help_feedback"),
    path("help/files/<int:attachment_id>", views.help_attachment, name="help_attachment"),
    path("kb/", views.article_list, name="kb_list"),
    path("kb/new", views.article_new, name="kb_new"),
    path("kb/<int:article_id>/", views.article_detail, name="kb_detail"),
    path("kb/<int:article_id>/edit", views.article_edit, name="kb_edit"),
    path("kb/<int:article_id>/step", views.article_step, name="kb_step"),
    path("kb/<int:article_id>/upload", views.article_upload, name="kb_upload"),
    path("kb/<int:article_id>/diff", views.article_diff, name="kb_diff"),
    path("kb/files/<int:attachment_id>", views.article_attachment, name="kb_attachment"),
    path("kb/templates/<int:article_id>/insert", views.insert_template, name="kb_insert"),
]
