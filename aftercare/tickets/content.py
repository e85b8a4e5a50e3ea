"""Message bodies: HTML is cleaned with nh3 (a maintained Rust sanitiser) before it is stored."""

import html
import re

import nh3

_ALLOWED_TAGS = {
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "div",
    "em",
    "h1",
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
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
_BLOCK_END = re.compile(r"</(p|div|li|tr|h[1-4]|blockquote|pre)>|<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_BLANK_LINES = re.compile(r"\n{3,}")


def sanitise_html(raw: str) -> str:
    return nh3.clean(
        raw,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def html_to_text(clean_html: str) -> str:
    text = _BLOCK_END.sub("\n", clean_html)
    text = html.unescape(_TAG.sub("", text))
    return _BLANK_LINES.sub("\n\n", text).strip()


def clean_body(*, text: str | None, html_body: str | None) -> tuple[str, str]:
    """Return (plain text, sanitised HTML). Plain text is stored as given, never rendered raw."""
    clean = sanitise_html(html_body) if html_body else ""
    plain = (text or "").strip() or html_to_text(clean)
    return plain, clean
