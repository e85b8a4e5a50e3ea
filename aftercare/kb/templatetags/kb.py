from django import template
from django.utils import translation

from aftercare.accounts import policy

from .. import selectors
from ..choices import reader_language

register = template.Library()


@register.inclusion_tag("kb/_template_picker.html", takes_context=True)
def reply_template_picker(context, ticket):
    """Pick a reply template on the ticket page and insert it, filled in, into the reply box.
    Shown only to those who may reply to the ticket."""
    user = context["request"].user
    usable = policy.is_kb_staff(user) and policy.can_work_ticket(user, ticket)
    templates = []
    if usable:
        language = reader_language(translation.get_language())
        for article, variant in selectors.reply_templates(user, language):
            assert variant.published_version is not None
            templates.append((article.pk, variant.published_version.title))
    return {"ticket": ticket, "templates": templates}
