"""HTML of mail bodies: a small lenient DOM, conversion to plain text, and sanitising.

Mail HTML is rarely well-formed (Outlook's Word output, unclosed paragraphs, stray end tags),
so the tree builder follows the browser's habits where they matter for text: void elements,
implicit paragraph/list/table-cell closing, end tags without a start tag ignored. The same
line model (`text_lines`) feeds the plain text of HTML-only mail and the quote detection of
`aftercare.intake.replies`, which cuts the tree at a line's anchor node.
"""

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import nh3

_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr", "basefont", "frame", "isindex", "keygen",
}  # fmt: skip
# Elements whose content is never visible text.
_HIDDEN = {"head", "title", "script", "style", "template", "noscript", "xml", "object", "iframe"}
_BLOCK = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "ul", "body", "html", "caption", "details", "summary", "listing",
}  # fmt: skip
# Starting one of these closes an open element of the key's kind first (as browsers do).
_CLOSES = {
    "p": _BLOCK - {"td", "th", "tr", "tbody", "thead", "tfoot", "caption", "body", "html"},
    "li": {"li"},
    "dt": {"dt", "dd"},
    "dd": {"dt", "dd"},
    "td": {"td", "th"},
    "th": {"td", "th"},
    "tr": {"tr", "td", "th"},
    "option": {"option"},
}
# ...but not across these container boundaries.
_SCOPE = {"table", "ul", "ol", "dl", "blockquote", "div", "td", "th", "body", "html", "select"}


# Deeper elements become siblings: rendering recurses, and hostile mail nests thousands deep.
_MAX_NESTING = 200


@dataclass(eq=False)
class Node:
    """An element (tag set) or a text node (tag None, text set) of the parsed document."""

    tag: str | None
    attrs: list[tuple[str, str | None]] = field(default_factory=list)
    text: str = ""
    children: list["Node"] = field(default_factory=list)
    parent: "Node | None" = None

    def attr(self, name: str) -> str:
        for key, value in self.attrs:
            if key == name:
                return value or ""
        return ""

    def append(self, child: "Node") -> "Node":
        child.parent = self
        self.children.append(child)
        return child

    def iter(self) -> "list[Node]":
        """This node and all its descendants in document order."""
        found: list[Node] = []
        stack = [self]
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(reversed(node.children))
        return found

    def text_content(self) -> str:
        return "".join(node.text for node in self.iter() if node.tag is None)

    def remove(self) -> None:
        if self.parent is not None:
            self.parent.children.remove(self)
            self.parent = None


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        closes = {name for name, openers in _CLOSES.items() if tag in openers}
        if closes:
            for depth in range(len(self.stack) - 1, 0, -1):
                open_tag = self.stack[depth].tag
                if open_tag in closes:
                    del self.stack[depth:]
                    break
                if open_tag in _SCOPE:
                    break
        element = self.stack[-1].append(Node(tag, attrs))
        if tag not in _VOID and len(self.stack) < _MAX_NESTING:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].append(Node(tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        parent = self.stack[-1]
        if parent.children and parent.children[-1].tag is None:
            parent.children[-1].text += data
        else:
            parent.append(Node(None, text=data))


def parse_html(markup: str) -> Node:
    """Parse `markup` into a Node tree under a "#document" root; never raises."""
    builder = _TreeBuilder()
    try:
        builder.feed(markup)
        builder.close()
    except (AssertionError, ValueError, IndexError):  # html.parser on hostile markup
        pass
    return builder.root


def serialize(node: Node) -> str:
    """The markup of `node`'s children (a "#document") or of `node` itself."""
    parts: list[str] = []
    _serialize_into(node, parts)
    return "".join(parts)


def _serialize_into(node: Node, parts: list[str]) -> None:
    if node.tag is None:
        parts.append(html.escape(node.text, quote=False))
        return
    if node.tag != "#document":
        attributes = "".join(
            f' {name}="{html.escape(value or "", quote=True)}"' for name, value in node.attrs
        )
        parts.append(f"<{node.tag}{attributes}>")
        if node.tag in _VOID:
            return
    for child in node.children:
        _serialize_into(child, parts)
    if node.tag != "#document":
        parts.append(f"</{node.tag}>")


@dataclass
class TextLine:
    """One line of rendered text: its quote depth (blockquote nesting), and the node where
    the line starts, so that cutting the tree there removes this line and all that follows."""

    text: str
    depth: int
    anchor: Node | None
    rule: bool = False  # an <hr>


_SPACES = re.compile(r"[ \t\r\n\f\u200b]+")


def text_lines(root: Node) -> list[TextLine]:
    """Render the tree as lines of text (block elements and <br> break lines)."""
    renderer = _LineRenderer()
    renderer.visit(root, preformatted=False)
    renderer.break_line()
    return renderer.lines


class _LineRenderer:
    def __init__(self) -> None:
        self.lines: list[TextLine] = []
        self.current: list[str] = []
        self.anchor: Node | None = None
        # Blocks opened since the last line break: the next line starts at the first of them.
        self.opened: list[Node] = []
        self.depth = 0

    def start(self, node: Node) -> None:
        if self.anchor is None:
            self.anchor = self.opened[0] if self.opened else node

    def break_line(self) -> None:
        # A non-breaking space makes a line visible (Outlook's empty paragraphs) but is
        # plain space in the text.
        text = "".join(self.current).replace("\u00a0", " ").strip(" ")
        if text or self.anchor is not None:
            self.lines.append(TextLine(text, self.depth, self.anchor))
        self.current.clear()
        self.anchor = None
        self.opened.clear()

    def visit(self, node: Node, *, preformatted: bool) -> None:
        if node.tag is None:
            self.visit_text(node, preformatted)
            return
        tag = node.tag
        if tag in _HIDDEN:
            return
        if tag == "br":
            self.start(node)
            self.break_line()
            return
        if tag == "hr":
            if self.current:
                self.break_line()
            self.lines.append(
                TextLine("", self.depth, self.opened[0] if self.opened else node, True)
            )
            self.opened.clear()
            return
        block = tag in _BLOCK
        if block:
            if self.current:
                self.break_line()
            if tag == "blockquote":
                self.depth += 1
            self.opened.append(node)
        elif tag in ("td", "th") and self.current:
            self.current.append(" ")
        if tag == "li":
            self.start(node)
            self.current.append("- ")
        for child in list(node.children):
            self.visit(child, preformatted=preformatted or tag in ("pre", "listing"))
        if block:
            if self.current:
                self.break_line()
            elif node in self.opened:
                self.opened.remove(node)
            if tag == "blockquote":
                self.depth -= 1

    def visit_text(self, node: Node, preformatted: bool) -> None:
        if preformatted:
            for index, chunk in enumerate(node.text.replace("\r\n", "\n").split("\n")):
                if index:
                    self.break_line()
                if chunk:
                    self.start(node)
                    self.current.append(chunk)
            return
        text = _SPACES.sub(" ", node.text)
        if not text.strip():
            if text and self.current and not self.current[-1].endswith(" "):
                self.current.append(" ")
            return
        self.start(node)
        if text.startswith(" ") and (not self.current or self.current[-1].endswith(" ")):
            text = text[1:]
        self.current.append(text)


def render_lines(lines: list[TextLine]) -> str:
    """Lines as plain text: quoted lines prefixed with "> ", blank runs collapsed to one."""
    out: list[str] = []
    for line in lines:
        text = "-" * 8 if line.rule else line.text.rstrip()
        if line.depth:
            text = ("> " * line.depth + text).rstrip()
        if not text and (not out or not out[-1]):
            continue
        out.append(text)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def html_to_text(markup: str) -> str:
    """The visible text of an HTML document or fragment."""
    return render_lines(text_lines(parse_html(markup)))


# What mail HTML may keep: nh3's default tags plus legacy formatting that mail relies on.
_TAGS = set(nh3.ALLOWED_TAGS) | {"font", "center", "big"}
_ATTRIBUTES = {
    "*": {"style", "align", "valign", "dir", "lang", "title", "width", "height"},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "font": {"color", "face", "size"},
    "td": {"colspan", "rowspan", "bgcolor"},
    "th": {"colspan", "rowspan", "bgcolor"},
    "table": {"border", "cellpadding", "cellspacing", "bgcolor"},
    "ol": {"start", "type"},
    "blockquote": {"type", "cite"},
}
_STYLES = {
    "color", "background-color", "font-weight", "font-style", "font-size", "font-family",
    "text-decoration", "text-align", "vertical-align", "white-space", "border", "border-left",
    "border-top", "padding", "padding-left", "margin", "margin-left", "width", "height",
    "list-style-type", "line-height",
}  # fmt: skip


# Reply editors' quote markers survive sanitising, so reply stripping can use them later.
QUOTE_CLASSES = {"gmail_quote", "gmail_quote_container", "yahoo_quoted", "moz-cite-prefix"}
QUOTE_IDS = {
    "divRplyFwdMsg", "x_divRplyFwdMsg", "appendonsend", "x_appendonsend", "isReplyContent",
    "stopSpelling", "OLK_SRC_BODY_SECTION",
}  # fmt: skip


def sanitize_html(markup: str) -> str:
    """Markup safe to show in the agent UI: no scripts, styles sheets, event handlers, forms
    or remote-loading tricks; links get rel="noopener noreferrer nofollow"; cid: image
    sources are kept so the caller can point them at the stored inline attachments."""
    return nh3.clean(
        markup,
        tags=_TAGS,
        # The <title> text stays, as a first line (as Zammad and text browsers show it).
        clean_content_tags={"script", "style", "template", "xml", "noscript"},
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        filter_style_properties=_STYLES,
        allowed_classes={tag: QUOTE_CLASSES for tag in ("div", "blockquote", "span")},
        attribute_filter=_inline_images_only,
        tag_attribute_values={tag: {"id": QUOTE_IDS} for tag in ("div", "blockquote", "hr")},
    ).strip()


def _inline_images_only(tag: str, attribute: str, value: str) -> str | None:
    """data: URLs are allowed for embedded images, never for links (a data:text/html link
    is a script in disguise)."""
    if value.lstrip()[:5].lower() == "data:" and not (
        tag == "img" and attribute == "src" and value.lstrip()[:11].lower() == "data:image/"
    ):
        return None
    return value


def text_to_html(text: str) -> str:
    """Plain text as a minimal HTML fragment (for mixing text parts into an HTML body)."""
    return "<div>" + html.escape(text).replace("\n", "<br>\n") + "</div>"
