"""Article bodies are Markdown. They are rendered to HTML and then cleaned with nh3, so that
whatever an editor pastes, a reader's browser gets no script, style or event handler.

Images and files of the article are written as ![说明](attachment:12) or [说明](attachment:12);
the reference becomes the URL that serves that attachment, and a reference to an attachment
of another article becomes nothing.
"""

import re
from collections.abc import Callable

import markdown
import nh3

_ALLOWED_TAGS = {
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "em",
    "h2",
    "h3",
    "h4",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
_ATTACHMENT_REF = re.compile(r"\(attachment:(\d+)\)")
_MARKUP = re.compile(r"!\[[^\]]*\]\([^)]*\)|[#>*_`|\[\]]|\(attachment:\d+\)")
_SPACES = re.compile(r"\s+")


def render_body(body: str, attachment_url: Callable[[int], str | None]) -> str:
    """Safe HTML of a Markdown body; `attachment_url` maps an attachment id of this article
    to its URL (None for any other id)."""

    def link(match: re.Match) -> str:
        url = attachment_url(int(match.group(1)))
        return f"({url})" if url else "()"

    source = _ATTACHMENT_REF.sub(link, body)
    html = markdown.markdown(source, extensions=["tables", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def plain_excerpt(body: str, length: int = 120) -> str:
    """The first characters of a body without Markdown signs, for result lists."""
    text = _SPACES.sub(" ", _MARKUP.sub(" ", body)).strip()
    return text if len(text) <= length else text[: length - 1] + "…"
