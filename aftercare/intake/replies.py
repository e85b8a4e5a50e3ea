"""What is new in a reply: quoted text, reply headers, forwarded blocks and signatures removed.

`strip_reply` is what the ticket conversation shows. It is built from three parts that can
also be used (and are tested) alone:

* `extract_reply` / `extract_reply_html` cut the quotation: "On … wrote:" and
  "在 … 写道：" attributions, Outlook/Foxmail/QQ/NetEase/Alibaba header blocks ("From:",
  "发件人："), "-----Original Message-----" and "------------------ 原始邮件
  ------------------" separators, ">" quote blocks, and the HTML markers of Gmail, Outlook,
  Apple Mail, Thunderbird and Yahoo. Bottom-posted replies keep the text below the quote;
  replies written between quoted lines are kept whole.
* `extract_signature` finds a trailing signature: the "-- " separator, "Sent from my
  iPhone" / "发自我的iPhone" lines, and a short closing block naming the sender.
* `split_fragments` splits text into fragments the way GitHub's email_reply_parser does
  (quoted, signature, hidden), for views that fold quoted parts instead of removing them.

Why not a library: the maintained candidates (mail-parser-reply, quotequail) missed the
Chinese clients' formats in our tests and left separators behind, and talon is unmaintained.
Every pattern here matches one line at a time with bounded repetition, so run time is
linear in the input (GitHub's pathological fixture included).
"""

import re
from dataclasses import dataclass, field

from aftercare.intake.html_text import (
    QUOTE_CLASSES,
    QUOTE_IDS,
    Node,
    TextLine,
    parse_html,
    render_lines,
    serialize,
    text_lines,
)

__all__ = [
    "Fragment",
    "extract_reply",
    "extract_reply_html",
    "extract_signature",
    "split_fragments",
    "strip_reply",
    "visible_text",
]

_MAX_LINE = 400  # longer lines are never headers or separators; not worth matching

_WROTE = re.compile(
    r"(?:\bwrote|\bwrites|\bschrieb|\ba écrit|\bescribió|\bescribio|\bha scritto|\bscrisse|"
    r"\bнаписал[аи]?|\bпишет|\bescreveu|\bschreef|\bskrev|\bnapisał[a]?|\bkirjoitti|"
    r"写道|寫道|書きました|のメッセージ)\s*[:：]?\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(r"^(?:On|Am|Le|El|Il|Op|Den|W dniu|在|于)\b", re.IGNORECASE)
_DATE_OR_ADDRESS = re.compile(r"\d|@")
_SEPARATOR_WORDS = (
    r"original message|original-nachricht|original nachricht|ursprüngliche nachricht|"
    r"message d'origine|mensaje original|messaggio originale|исходное сообщение|"
    r"oorspronkelijk bericht|原始邮件|原始郵件|原邮件|邮件原文|original|回复的原邮件"
)
_ORIGINAL = re.compile(
    rf"^[-_=*~\s]*[-_=~]{{2,}}\s*(?:{_SEPARATOR_WORDS})\s*[-_=~]{{2,}}[-_=*~\s]*$", re.IGNORECASE
)
_FORWARD_WORDS = (
    r"forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|"
    r"messaggio inoltrato|пересылаемое сообщение|转发的邮件|轉寄的郵件|转发邮件信息|转发邮件"
)
_FORWARD = re.compile(
    rf"^(?:[-_=*~\s]*[-_=~]{{2,}}\s*(?:{_FORWARD_WORDS})\s*[-_=~]{{2,}}[-_=*~\s]*|"
    r"begin forwarded message\s*:|开始转发的邮件\s*[:：]|転送されたメッセージ\s*[:：]?)$",
    re.IGNORECASE,
)
_FROM_LABEL = r"from|von|de|da|van|от|od|från|fra|发件人|發件人|寄件者|寄件人|差出人"
_OTHER_LABELS = (
    r"sent|date|to|cc|subject|gesendet|datum|an|betreff|envoyé|à|objet|enviado|para|asunto|"
    r"fecha|inviato|oggetto|a|cc|отправлено|кому|тема|дата|копия|skickat|till|ämne|"
    r"发送时间|发送日期|日期|时间|收件人|抄送|主题|寄件日期|收件者|主旨|副本|送信日時|宛先|件名"
)


def _spaced(labels: str) -> str:
    # Chinese clients pad labels with spaces ("主　题：", "收 件 人："); allow them.
    return "|".join(
        r"\s?".join(label) if not label.isascii() else label for label in labels.split("|")
    )


_FROM_LINE = re.compile(rf"^[*\s]*(?:{_spaced(_FROM_LABEL)})[*\s]*[:：]", re.IGNORECASE)
_LABEL_LINE = re.compile(
    rf"^[*\s]*(?:{_spaced(_FROM_LABEL)}|{_spaced(_OTHER_LABELS)})[*\s]*[:：]", re.IGNORECASE
)
_INLINE_LABEL = re.compile(rf"\s\*?(?:{_spaced(_OTHER_LABELS)})\*?\s*[:：]", re.IGNORECASE)
_RULE = re.compile(r"^\s*(?:[-_=~—―─]\s*){6,}$")
_QUOTE = re.compile(r"^\s*>")


def _clean(line: str) -> str:
    return line.replace("\u00a0", " ").replace("\u3000", " ").strip()


def _kind(lines: list[str], index: int) -> str:
    """One letter per line: e(mpty), m (quoted with ">"), s (start of a quotation header),
    f (forwarded-message marker), r (a rule line), t(ext)."""
    raw = lines[index]
    if len(raw) > _MAX_LINE:
        return "t"
    line = _clean(raw)
    if not line:
        return "e"
    if _QUOTE.match(line):
        return "m"
    if _FORWARD.match(line):
        return "f"
    if _ORIGINAL.match(line):
        return "s"
    if _RULE.match(line):
        return "r"
    if _header_block_at(lines, index):
        return "s"
    if _WROTE.search(line) and (_DATE_OR_ADDRESS.search(line) or _ATTRIBUTION_START.match(line)):
        return "s"
    if line.endswith((":", "：")) and _quote_follows(lines, index):
        return "s"  # an attribution in any language, directly above a ">" block
    if _ATTRIBUTION_START.match(line) and _wrote_within(lines, index):
        return "s"  # "On <date>, <name>" broken over lines, "wrote:" below
    return "t"


def _header_block_at(lines: list[str], index: int) -> bool:
    """A quoted message's header block ("From: …" / "发件人：…" and more fields) starts here."""
    line = _clean(lines[index])
    if not _LABEL_LINE.match(line):
        return False
    if _FROM_LINE.match(line) and _INLINE_LABEL.search(line):
        return True  # "From: a Sent: b To: c" run together on one line
    labels, from_seen = 1, bool(_FROM_LINE.match(line))
    for following in lines[index + 1 : index + 8]:
        following = _clean(following)
        if not following:
            continue
        if len(following) > _MAX_LINE or not _LABEL_LINE.match(following):
            break
        labels += 1
        from_seen = from_seen or bool(_FROM_LINE.match(following))
    return from_seen and labels >= 2


def _quote_follows(lines: list[str], index: int) -> bool:
    for following in lines[index + 1 : index + 4]:
        if following.strip():
            return bool(_QUOTE.match(following))
    return False


def _wrote_within(lines: list[str], index: int) -> bool:
    for following in lines[index + 1 : index + 4]:
        following = _clean(following)
        if not following or len(following) > _MAX_LINE:
            return False
        if _WROTE.search(following):
            return True
    return False


def _attribution_start(lines: list[str], index: int) -> int:
    """Move a wrote-style header's start up over the first half of a broken header line
    ("02.04.2012 14:20 пользователь "bob" <" / "bob@example.com> написал:")."""
    if index == 0 or not _WROTE.search(_clean(lines[index])):
        return index
    previous = _clean(lines[index - 1])
    if previous and (
        previous.endswith(("<", ",", "，"))
        or re.search(r"\d{1,4}[./\-年]\d{1,2}[./\-月]\d{1,4}|\d{1,2}:\d{2}", previous)
    ):
        return index - 1
    return index


def _quotation_range(lines: list[str]) -> tuple[int, int] | None:
    """The [start, end) line range of the quotation, or None when there is none (or the
    reply is written between quoted lines, which is then kept whole)."""
    kinds = [_kind(lines, index) for index in range(len(lines))]
    marks = "".join(kinds)
    forward = marks.find("f")
    if forward >= 0 and "t" not in marks[:forward]:
        return None  # a forward with nothing written above it is the content itself
    splitter = next((index for index, kind in enumerate(kinds) if kind in "sf"), -1)
    if splitter >= 0:
        start = _attribution_start(lines, splitter)
        start = _back_over_separators(kinds, start)
        # Bottom posting: header, quoted lines, then only new text below.
        end = splitter + 1
        while end < len(kinds) and kinds[end] in "me":
            end += 1
        below = marks[end:]
        if (
            _WROTE.search(_clean(lines[splitter]))
            and "m" in marks[splitter + 1 : end]
            and "t" in below
            and not re.search("[msf]", below)
        ):
            return start, end
        return start, len(lines)
    if "m" not in marks:
        return None
    if re.search(r"m[er]*t[ter]*m", marks):
        return None  # an inline reply between quoted lines
    first_quote = marks.find("m")
    last_quote = marks.rfind("m")
    if "t" not in marks[last_quote:]:
        # Top posting: the quote runs to the end, with its attribution line above it.
        start = first_quote
        previous = start - 1
        while previous >= 0 and kinds[previous] == "e":
            previous -= 1
        if previous >= 0 and _clean(lines[previous]).endswith((":", "：")):
            start = previous
        return _back_over_separators(kinds, start), len(lines)
    if "t" not in marks[:first_quote]:
        return 0, last_quote + 1  # bottom posting without attribution
    return None


def _back_over_separators(kinds: list[str], start: int) -> int:
    while start > 0 and kinds[start - 1] in "er":
        start -= 1
    return start


def extract_reply(text: str) -> str:
    """Plain text without its quotation (signatures are kept; see `strip_reply`)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found = _quotation_range(lines)
    if found is not None:
        start, end = found
        lines = lines[:start] + lines[end:]
    return "\n".join(lines).strip()


def extract_reply_html(markup: str) -> str:
    """HTML without its quotation: known editor markers first, then the same line rules as
    `extract_reply` applied to the rendered lines, cutting the tree where the quote starts.
    A whole document keeps its <html><head><body> frame."""
    root = _reply_tree(markup)
    document = next((node for node in root.children if node.tag == "html"), None)
    if document is not None and not any(node.tag == "head" for node in document.children):
        head = Node("head", parent=document)
        document.children.insert(0, head)
    return serialize(root)


def _reply_tree(markup: str) -> Node:
    root = parse_html(markup)
    for node in root.iter():
        if node.parent is None or node.tag is None:
            continue
        classes = set(node.attr("class").split())
        marked = classes & QUOTE_CLASSES or node.attr("id") in QUOTE_IDS
        if marked and _has_text_before(root, node):
            _cut_from(_back_over_rules(node))
            break
    lines = text_lines(root)
    found = _quotation_range([_rendered(line) for line in lines])
    if found is not None:
        start, end = found
        if end >= len(lines) and start > 0:
            anchor = next((line.anchor for line in lines[start:] if line.anchor), None)
            if anchor is not None and _has_text_before(root, anchor):
                _cut_from(anchor)
    return root


def _rendered(line: TextLine) -> str:
    if line.rule:
        return "-" * 8
    return ("> " * line.depth + line.text) if line.depth else line.text


def _has_text_before(root: Node, stop: Node) -> bool:
    for node in root.iter():
        if node is stop:
            return False
        if node.tag is None and node.text.strip("\u00a0 \t\r\n"):
            return True
    return False


def _back_over_rules(node: Node) -> Node:
    """An <hr> (or a block holding only one) right before the quote goes with it."""
    parent = node.parent
    while parent is not None:
        siblings = parent.children
        index = siblings.index(node)
        previous = index - 1
        while (
            previous >= 0 and siblings[previous].tag is None and not siblings[previous].text.strip()
        ):
            previous -= 1
        if previous >= 0 and _only_rule(siblings[previous]):
            return siblings[previous]
        return node
    return node


def _only_rule(node: Node) -> bool:
    if node.tag == "hr":
        return True
    return (
        node.tag is not None
        and any(child.tag == "hr" for child in node.iter())
        and not (node.text_content().strip("\u00a0 \t\r\n"))
    )


def _cut_from(node: Node) -> None:
    """Remove `node` and everything after it in document order."""
    current: Node | None = node
    first = True
    while current is not None and current.parent is not None:
        parent = current.parent
        index = parent.children.index(current)
        del parent.children[index if first else index + 1 :]
        first = False
        current = parent


_SIGNATURE_DELIMITER = re.compile(r"^(?:--|—|__) ?\s*$")
_MOBILE_SIGNOFF = re.compile(
    r"^(?:sent from (?:my )?[\w .'-]{1,40}|sent (?:via|with) [\w .'-]{1,40}|"
    r"get outlook for [\w .-]{1,20}|envoyé de mon [\w .-]{1,30}|von meinem [\w .-]{1,30}"
    r"gesendet|enviado desde mi [\w .-]{1,30}|inviato da [\w .-]{1,30}|"
    r"отправлено с [\w .-]{1,30}|"
    r"(?:发自|来自|來自|寄自)\s*(?:我的)?\s*[\w .]{0,20}"
    r"(?:手机|手機|iPhone|iPad|Android|邮箱|郵箱|邮件|郵件|客户端|大师|Mail|Outlook)[\w .]{0,10}|"
    r"从我的\s*[\w .]{1,20}\s*发送|從我的\s*[\w .]{1,20}\s*傳送|获取\s*Outlook[\w .]{0,20})$",
    re.IGNORECASE,
)
_CONTACT = re.compile(
    r"@|https?://|www\.|\+?\d[\d ()./-]{6,}\d|\b(?:tel|phone|mobile|fax|skype|wechat)\b|"
    r"电话|手机|传真|微信|地址|邮箱|网址",
    re.IGNORECASE,
)
_MAX_SIGNATURE_LINES = 15


def extract_signature(text: str, sender: str | None = None) -> tuple[str, str | None]:
    """Split a trailing signature off `text`: (text without it, signature or None).

    Recognised: a "-- " (or "--", "__", "----------------") separator within the last lines,
    a mobile sign-off ("Sent from my iPhone", "发自我的iPhone", "来自网易邮箱大师") as the
    last line, and a short last paragraph that starts with the sender's name or is mostly
    contact details.
    """
    lines = text.rstrip().split("\n")
    non_empty = [index for index, line in enumerate(lines) if line.strip()]
    if len(non_empty) < 2:
        return text.rstrip(), None
    window = non_empty[-_MAX_SIGNATURE_LINES:]
    for index in window:
        stripped = lines[index].strip()
        if index > non_empty[0] and (
            _SIGNATURE_DELIMITER.match(lines[index]) or _RULE.match(stripped)
        ):
            return _split_at(lines, index)
    last = non_empty[-1]
    if len(lines[last]) <= 80 and _MOBILE_SIGNOFF.match(_clean(lines[last])):
        return _split_at(lines, last)
    start = last
    while start > 0 and lines[start - 1].strip():
        start -= 1
    block = [line.strip() for line in lines[start : last + 1]]
    if start == non_empty[0] or len(block) > 6 or any(len(line) > 70 for line in block):
        return text.rstrip(), None
    if _names_sender(block[0], sender) or sum(bool(_CONTACT.search(line)) for line in block) >= 2:
        return _split_at(lines, start)
    return text.rstrip(), None


def _split_at(lines: list[str], index: int) -> tuple[str, str]:
    return "\n".join(lines[:index]).rstrip(), "\n".join(lines[index:]).strip()


def _names_sender(line: str, sender: str | None) -> bool:
    if not sender:
        return False
    sender = sender.strip()
    name, _, domain = (
        sender.partition("@") if "@" in sender and " " not in sender else (sender, "", "")
    )
    tokens = [token for token in re.split(r"[\s._+-]+", name) if len(token) >= 2]
    words = {word.lower() for word in re.findall(r"\w+", line)}
    if tokens and all(token.lower() in words for token in tokens[:2]):
        return True
    return bool(domain) and bool(tokens) and tokens[0].lower() in words


def strip_reply(text: str, *, html: str | None = None, sender: str | None = None) -> str:
    """The new part of a reply: quotation, reply headers, forwarded blocks and the signature
    removed. `html` (the sanitised HTML body, when there is one) is used for its structural
    quote markers; `sender` (the From address or name) helps recognise the signature.

    Returns "" only when there is nothing new (a bare quote); a forward without any text of
    its own is returned whole.
    """
    source = text
    if html and html.strip():
        from_html = render_lines(text_lines(_reply_tree(html)))
        if from_html.strip() or not text.strip():
            source = from_html
    reply = extract_reply(source)
    reply, _signature = extract_signature(reply, sender)
    return reply.strip()


@dataclass
class Fragment:
    """A run of lines sharing quoted/signature status (GitHub email_reply_parser model).

    `hidden` marks quoted and signature fragments below all new text, and blank ones."""

    lines: list[str]
    quoted: bool
    signature: bool = False
    hidden: bool = False
    content: str = field(default="")


_GITHUB_SIGNATURE = re.compile(r"^\s*(?:--|__)|^-\w")
_SENT_FROM_MY = re.compile(r"^Sent from my(?:\s+\w+){1,3}$")
_ON_WROTE_LINE = re.compile(r"^On.*wrote:$")
_HEADER_FIELD_LINE = re.compile(r"^(?:From|Sent|To|Subject):")
_RSTRIP = " \t\n\v\f\r\x00"
_ON_SPACE = re.compile(r"^On\s")


def _github_signature(line: str) -> bool:
    return bool(_GITHUB_SIGNATURE.match(line) or _SENT_FROM_MY.match(line))


def split_fragments(text: str) -> list[Fragment]:
    """Split `text` into fragments, reading from the bottom up as email_reply_parser does:
    quoted runs (">" lines with their "On … wrote:" header), signatures (a block that starts
    with "--", "__", "-Name" or "Sent from my …" and is followed by a blank line above), and
    the rest. Fragments below the last new text that are quoted, signatures or blank are
    hidden."""
    lines = _join_broken_attribution(text.replace("\r\n", "\n").split("\n"))
    if len(lines) > 1 and lines[0] == "":
        lines = lines[1:]
    lines = _blank_before_underscore_rules(lines)
    fragments: list[Fragment] = []
    current: Fragment | None = None
    found_visible = False

    def finish() -> None:
        nonlocal current, found_visible
        if current is None:
            return
        current.lines.reverse()
        current.content = "\n".join(current.lines)
        if not found_visible:
            if current.quoted or current.signature or not current.content.strip():
                current.hidden = True
            else:
                found_visible = True
        fragments.append(current)
        current = None

    for raw in reversed(lines):
        line = raw if _github_signature(raw) else raw.rstrip(_RSTRIP)
        quoted = line.startswith(">")
        if current is not None and line == "" and _github_signature(current.lines[-1]):
            current.signature = True
            finish()
        joins_quote = (
            current is not None
            and current.quoted
            and (line == "" or _ON_WROTE_LINE.match(line) or _HEADER_FIELD_LINE.match(line))
        )
        if current is not None and (current.quoted == quoted or joins_quote):
            current.lines.append(line)
        else:
            finish()
            current = Fragment([line], quoted)
    finish()
    fragments.reverse()
    return fragments


def _join_broken_attribution(lines: list[str]) -> list[str]:
    """Join the first "On <date>, <name>" header that a client broke over up to five lines
    back into the one line that ends in "wrote:"."""
    for index, line in enumerate(lines):
        if not _ON_SPACE.match(line) or len(line) > _MAX_LINE:
            continue
        for end in range(index, min(index + 5, len(lines))):
            if end > index and _ON_SPACE.match(lines[end]):
                break
            if lines[end].rstrip().endswith("wrote:"):
                if end > index:
                    joined = " ".join(lines[index : end + 1])
                    return [*lines[:index], joined, *lines[end + 1 :]]
                return lines
    return lines


def _blank_before_underscore_rules(lines: list[str]) -> list[str]:
    """Outlook puts its "________" rule right under the reply; a blank line above the rule
    lets it start a signature fragment as a rule after a blank line does."""
    spaced: list[str] = []
    for line in lines:
        if line.startswith("________") and spaced and spaced[-1] != "":
            spaced.append("")
        spaced.append(line)
    return spaced


def visible_text(fragments: list[Fragment]) -> str:
    """The text of the fragments that are not hidden, as email_reply_parser shows it."""
    return "\n".join(fragment.content for fragment in fragments if not fragment.hidden).rstrip()
