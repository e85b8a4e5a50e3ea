"""Pages: the public help centre, the staff article pages, and the reply-template insertion
used by the ticket page. Like the API they parse, ask the policy module, call one service and
render."""

import hashlib
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from aftercare.accounts import policy
from aftercare.accounts.models import User
from aftercare.core.api_support import decode_cursor, encode_cursor
from aftercare.core.errors import DomainError, NotFound, ValidationFailed
from aftercare.core.http import AuthedRequest

from . import selectors, services
from .choices import ArticleStatus, ArticleType, Audience, Language, reader_language
from .content import render_body
from .diffing import diff_versions
from .models import Article, ArticleAttachment, Category

PAGE_SIZE = 20


def _language(request: HttpRequest) -> str:
    asked = request.GET.get("lang")
    if asked in Language.values:
        return asked
    return reader_language(translation.get_language())


def _article_or_404(request: HttpRequest, article_id: int) -> Article:
    try:
        return policy.get_visible_article(request.user, article_id, selectors.article_queryset())
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc


def _attachment_urls(article: Article, url_name: str) -> dict[int, str]:
    return {
        a.pk: reverse(url_name, kwargs={"attachment_id": a.pk}) for a in article.attachments.all()
    }


# --- help centre (public) ---------------------------------------------------------------------


def help_centre(request: HttpRequest) -> HttpResponse:
    language = _language(request)
    q = (request.GET.get("q") or "").strip()[:200]
    category = None
    if request.GET.get("category"):
        category = Category.objects.filter(slug=request.GET["category"]).first()
    # The help centre shows what a customer may read, also to staff who browse it.
    public = policy.visible_articles(_anonymous())
    results = []
    if q:
        rows, _outcome = selectors.search_articles(
            _anonymous(),
            q,
            language=language,
            filters=selectors.ArticleFilters(category_id=category.pk if category else None),
            limit=PAGE_SIZE,
        )
        results = [(row.article, row.version, row.variant.language, row.snippet) for row in rows]
    else:
        articles = public.prefetch_related(selectors.variants_prefetch())
        if category is not None:
            articles = selectors.ArticleFilters(category_id=category.pk).apply(articles)
            articles = articles.order_by("-published_at", "-id")
        else:
            articles = articles.order_by("-view_count", "-published_at", "-id")
        for article in articles[:PAGE_SIZE]:
            variant = selectors.pick_variant(article, language, live=True)
            if variant is not None and variant.published_version is not None:
                version = variant.published_version
                results.append((article, version, variant.language, version.summary))
    return render(
        request,
        "kb/help_centre.html",
        {
            "q": q,
            "category": category,
            "categories": [
                (c, c.label(language), n) for c, n in selectors.help_centre_categories()
            ],
            "results": results,
            "language": language,
        },
    )


def _anonymous() -> AnonymousUser:
    return AnonymousUser()


def _is_staff(request: HttpRequest) -> bool:
    return policy.is_kb_staff(request.user)


def _public_article_or_404(article_id: int) -> Article:
    try:
        return policy.get_visible_article(_anonymous(), article_id, selectors.article_queryset())
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc


def help_article(request: HttpRequest, article_id: int) -> HttpResponse:
    article = _public_article_or_404(article_id)
    language = _language(request)
    variant = selectors.pick_variant(article, language, live=True)
    if variant is None or variant.published_version_id is None:
        raise Http404
    version = selectors.full_version(variant.published_version_id)
    services.record_article_view(article=article)
    return render(
        request,
        "kb/help_article.html",
        {
            "article": article,
            "version": version,
            "variant": variant,
            "category_label": article.category.label(language) if article.category else "",
            "body_html": render_body(
                version.body, _attachment_urls(article, "help_attachment").get
            ),
            "attachments": [a for a in article.attachments.all() if not a.is_image],
            "other_languages": [
                (v.language, Language(v.language).label)
                for v in article.variants.all()
                if v.published_version_id and v.language != variant.language
            ],
        },
    )


def _visitor(request: HttpRequest) -> str:
    if not request.session.session_key:
        request.session.save()
    key = request.session.session_key or ""
    return hashlib.sha256(key.encode()).hexdigest()


@require_POST
def help_feedback(request: HttpRequest, article_id: int) -> HttpResponse:
    article = _public_article_or_404(article_id)
    helpful = request.POST.get("helpful")
    if helpful not in ("yes", "no"):
        messages.error(request, _("请选择有帮助或没帮助"))
        return redirect("help_article", article_id=article.pk)
    signed_in = request.user if request.user.is_authenticated else None
    try:
        services.give_article_feedback(
            actor=signed_in,
            visitor="" if signed_in else _visitor(request),
            article=article,
            language=reader_language(request.POST.get("language")),
            helpful=helpful == "yes",
            comment=request.POST.get("comment", "")[:1000],
        )
        messages.success(request, _("感谢您的反馈"))
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return redirect("help_article", article_id=article.pk)


def _serve(attachment: ArticleAttachment) -> FileResponse:
    # Images are shown inside the article; everything else is downloaded.
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=not attachment.is_image,
        filename=attachment.original_name,
        content_type=attachment.content_type if attachment.is_image else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def help_attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    attachment = ArticleAttachment.objects.filter(pk=attachment_id).first()
    if attachment is None:
        raise Http404
    _public_article_or_404(attachment.article_id)
    return _serve(attachment)


# --- staff pages ------------------------------------------------------------------------------


def _staff_only(request: HttpRequest) -> None:
    if not _is_staff(request):
        raise Http404


@login_required
def article_list(request: AuthedRequest) -> HttpResponse:
    _staff_only(request)
    user = request.user
    language = _language(request)
    filters = selectors.ArticleFilters(
        type=request.GET.get("type") if request.GET.get("type") in ArticleType.values else None,
        status=request.GET.get("status")
        if request.GET.get("status") in ArticleStatus.values
        else None,
    )
    q = (request.GET.get("q") or "").strip()[:200]
    rows: list = []
    next_cursor = None
    error = None
    if q:
        found, _outcome = selectors.search_articles(
            user, q, language=language, filters=filters, limit=50
        )
        rows = [(r.article, r.version.title, r.variant.language) for r in found]
    else:
        try:
            cursor = request.GET.get("cursor")
            articles, next_values = selectors.list_articles(
                user,
                filters,
                cursor_values=decode_cursor(cursor, 2) if cursor else None,
                limit=50,
            )
            next_cursor = encode_cursor(next_values) if next_values else None
        except DomainError as exc:
            articles, error = [], exc.message
        for article in articles:
            variant = selectors.pick_variant(article, language, live=False)
            version = selectors.shown_version(variant, latest=True) if variant else None
            rows.append(
                (article, version.title if version else "", variant.language if variant else "")
            )
    return render(
        request,
        "kb/article_list.html",
        {
            "rows": rows,
            "q": q,
            "filters": filters,
            "types": ArticleType.choices,
            "statuses": ArticleStatus.choices,
            "next_cursor": next_cursor,
            "error": error,
            "can_write": user.role in policy.KB_AUTHORS,
        },
    )


def _form_text(request: HttpRequest) -> dict[str, str]:
    return {
        "title": request.POST.get("title", "")[:200],
        "summary": request.POST.get("summary", "")[:500],
        "keywords": request.POST.get("keywords", "")[:500],
        "body": request.POST.get("body", "")[:100_000],
    }


@login_required
def article_new(request: AuthedRequest) -> HttpResponse:
    _staff_only(request)
    form: dict = {"type": ArticleType.FAQ, "audience": Audience.INTERNAL, "language": "zh-hans"}
    error = None
    if request.method == "POST":
        form = {
            **_form_text(request),
            **{k: request.POST.get(k, "") for k in ("type", "audience", "language", "category")},
        }
        try:
            policy.check_article_write(request.user)
            category = (
                Category.objects.filter(pk=form["category"]).first()
                if form["category"].isdigit()
                else None
            )
            article = services.create_article(
                actor=request.user,
                type=form["type"],
                audience=form["audience"]
                if form["audience"] in Audience.values
                else Audience.INTERNAL,
                language=form["language"],
                category=category,
                title=form["title"],
                summary=form["summary"],
                keywords=form["keywords"],
                body=form["body"],
            )
            return redirect("kb_detail", article_id=article.pk)
        except DomainError as exc:
            error = exc.message
    return render(
        request,
        "kb/article_form.html",
        {
            "form": form,
            "error": error,
            "creating": True,
            "types": ArticleType.choices,
            "audiences": Audience.choices,
            "language_choices": Language.choices,
            "categories": Category.objects.all(),
        },
    )


@login_required
def article_edit(request: AuthedRequest, article_id: int) -> HttpResponse:
    _staff_only(request)
    article = _article_or_404(request, article_id)
    language = request.GET.get("lang") or request.POST.get("language") or "zh-hans"
    if language not in Language.values:
        raise Http404
    variant = next((v for v in article.variants.all() if v.language == language), None)
    latest = (
        selectors.full_version(variant.latest_version_id)
        if variant and variant.latest_version_id
        else None
    )
    form = {
        "title": latest.title if latest else "",
        "summary": latest.summary if latest else "",
        "keywords": latest.keywords if latest else "",
        "body": latest.body if latest else "",
    }
    base_version = latest.number if latest else 0
    error = None
    if request.method == "POST":
        form = _form_text(request)
        try:
            policy.check_article_write(request.user)
            base = request.POST.get("base_version", "")
            services.save_article_version(
                actor=request.user,
                article=article,
                language=language,
                note=request.POST.get("note", "")[:200],
                base_version=int(base) if base.isdigit() else None,
                title=form["title"],
                summary=form["summary"],
                keywords=form["keywords"],
                body=form["body"],
            )
            messages.success(request, _("已保存新版本"))
            return redirect(reverse("kb_detail", args=[article.pk]) + f"?lang={language}")
        except DomainError as exc:
            error = exc.message
    return render(
        request,
        "kb/article_form.html",
        {
            "form": form,
            "error": error,
            "creating": False,
            "article": article,
            "language": language,
            "language_label": Language(language).label,
            "base_version": base_version,
        },
    )


def _allowed_steps(user: User, article: Article) -> list[tuple[str, str]]:
    writer = user.role in policy.KB_AUTHORS
    reviewer = user.role in policy.KB_REVIEWERS
    status = article.status
    steps = []
    if writer and status == ArticleStatus.DRAFT:
        steps.append(("submit", _("提交审核")))
    if reviewer and status in (ArticleStatus.DRAFT, ArticleStatus.IN_REVIEW):
        steps.append(("publish", _("批准并发布")))
    if reviewer and status == ArticleStatus.IN_REVIEW:
        steps.append(("request_changes", _("退回修改")))
    if reviewer and status != ArticleStatus.ARCHIVED:
        steps.append(("archive", _("归档")))
    if reviewer and status == ArticleStatus.ARCHIVED:
        steps.append(("restore", _("恢复为草稿")))
    return steps


@login_required
def article_detail(request: AuthedRequest, article_id: int) -> HttpResponse:
    _staff_only(request)
    article = _article_or_404(request, article_id)
    language = _language(request)
    variant = selectors.pick_variant(article, language, live=False)
    latest = published = None
    if variant is not None and variant.latest_version_id:
        latest = selectors.full_version(variant.latest_version_id)
        if variant.published_version_id:
            published = selectors.full_version(variant.published_version_id)
    urls = _attachment_urls(article, "kb_attachment")
    return render(
        request,
        "kb/article_detail.html",
        {
            "article": article,
            "variant": variant,
            "latest": latest,
            "published": published,
            "body_html": render_body(latest.body, urls.get) if latest else "",
            "variants": list(article.variants.all()),
            "missing_languages": [
                (code, label)
                for code, label in Language.choices
                if code not in {v.language for v in article.variants.all()}
            ],
            "versions": selectors.article_versions(article, variant.language) if variant else [],
            "events": list(selectors.article_events(article)),
            "feedback": list(article.feedback.select_related("user")[:20]),
            "attachments": list(article.attachments.all()),
            "steps": _allowed_steps(request.user, article),
            "can_write": request.user.role in policy.KB_AUTHORS,
        },
    )


# Step → (service, needs a reviewer).
STEP_SERVICES: dict[str, tuple[Callable[..., Article], bool]] = {
    "submit": (services.submit_article_for_review, False),
    "request_changes": (services.request_article_changes, True),
    "publish": (services.publish_article, True),
    "archive": (services.archive_article, True),
    "restore": (services.restore_article, True),
}


@login_required
@require_POST
def article_step(request: AuthedRequest, article_id: int) -> HttpResponse:
    _staff_only(request)
    article = _article_or_404(request, article_id)
    step = STEP_SERVICES.get(request.POST.get("step", ""))
    if step is None:
        raise Http404
    action, review = step
    try:
        if review:
            policy.check_article_review(request.user)
        else:
            policy.check_article_write(request.user)
        action(actor=request.user, article=article, note=request.POST.get("note", "")[:1000])
        messages.success(request, _("已更新"))
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return redirect("kb_detail", article_id=article.pk)


@login_required
@require_POST
def article_upload(request: AuthedRequest, article_id: int) -> HttpResponse:
    _staff_only(request)
    article = _article_or_404(request, article_id)
    upload = request.FILES.get("file")
    try:
        policy.check_article_write(request.user)
        if upload is None:
            raise ValidationFailed(_("请选择要上传的文件"), code="file_required")
        attachment = services.add_article_attachment(
            actor=request.user,
            article=article,
            upload=upload,
        )
        messages.success(
            request,
            _("已上传。在正文中写 %(ref)s 即可引用") % {"ref": f"![](attachment:{attachment.pk})"},
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return redirect("kb_detail", article_id=article.pk)


@login_required
def article_attachment(request: AuthedRequest, attachment_id: int) -> FileResponse:
    attachment = ArticleAttachment.objects.filter(pk=attachment_id).first()
    if attachment is None:
        raise Http404
    _article_or_404(request, attachment.article_id)
    return _serve(attachment)


@login_required
def article_diff(request: AuthedRequest, article_id: int) -> HttpResponse:
    _staff_only(request)
    article = _article_or_404(request, article_id)
    language = request.GET.get("lang", "zh-hans")
    try:
        old = selectors.get_version(article, language, int(request.GET.get("from", "1")))
        new = selectors.get_version(article, language, int(request.GET.get("to", "1")))
    except (ValueError, NotFound) as exc:
        raise Http404 from exc
    return render(
        request,
        "kb/article_diff.html",
        {"article": article, "old": old, "new": new, "diff": diff_versions(old, new)},
    )


@login_required
@require_POST
def insert_template(request: AuthedRequest, article_id: int) -> JsonResponse:
    """The ticket page's picker: the template filled with the ticket's data, as JSON."""
    from aftercare.tickets.models import Ticket

    try:
        article = policy.get_visible_article(request.user, article_id)
        ticket_id = request.POST.get("ticket", "")
        ticket = policy.get_visible_ticket(
            request.user,
            int(ticket_id) if ticket_id.isdigit() else 0,
            Ticket.objects.select_related("customer", "contact", "product_unit__product"),
        )
        policy.check_reply_template_use(request.user, ticket)
        rendered, language = services.render_reply_template(
            actor=request.user,
            article=article,
            ticket=ticket,
            language=reader_language(translation.get_language()),
        )
    except DomainError as exc:
        return JsonResponse({"code": exc.code, "message": str(exc.message)}, status=exc.status)
    return JsonResponse(
        {
            "text": rendered.text,
            "language": language,
            "unknown_variables": rendered.unknown_variables,
        }
    )
