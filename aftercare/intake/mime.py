"""Parse raw RFC 822 mail into what the intake pipeline needs; no database involved.

`parse_message` reads a message (bytes or a binary file object) in one streaming pass
(`aftercare.intake.mimetree`), so a 25 MB attachment is spooled to disk rather than held in
memory several times. It returns a `ParsedMail`: decoded headers, threading ids, the body as
plain text and as sanitised HTML, attachments (forwarded messages as .eml, TNEF and calendar
parts kept), and a `BounceReport` for delivery status notifications. It raises
`MailParseError` with a stable `reason_code` for what cannot be parsed at all, and nothing
else. `is_automatic` tells why a message must never get an automatic reply.

The caller owns the returned attachments' temporary files: close them with
`ParsedMail.close()` (or use the ParsedMail as a context manager) once they are stored.
"""

import email.utils
import io
import logging
import mimetypes
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, BinaryIO

from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from aftercare.intake.bounces import BounceReport, find_bounce
from aftercare.intake.charsets import decode_bytes, decode_encoded_words, decode_header_bytes
from aftercare.intake.html_text import html_to_text, sanitize_html, text_to_html
from aftercare.intake.mimetree import (
    LineReader,
    MessageTooLarge,
    MimePart,
    SpooledBody,
    parse_tree,
    read_headers,
    read_part_headers,
    unfold,
)

__all__ = [
    "BounceReport",
    "MailHeaders",
    "MailParseError",
    "ParsedAttachment",
    "ParsedMail",
    "address_list",
    "decode_header_value",
    "is_automatic",
    "parse_message",
]

logger = logging.getLogger(__name__)


class MailParseError(Exception):
    """A message that cannot be parsed; `reason_code` is stable, `message` translatable.

    Reason codes: "empty" (no bytes), "no_headers" (not a mail message), "too_large" (over
    `max_bytes`), "unreadable" (the source could not be read), "internal_error" (a defect in
    this parser; the cause is chained). For "too_large" the headers read before the limit
    was hit are kept in `headers`, so the sender can still be told.
    """

    def __init__(
        self, reason_code: str, message: str | Promise, *, headers: "MailHeaders | None" = None
    ) -> None:
        super().__init__(reason_code, message)
        self.reason_code = reason_code
        self.message = message
        self.headers = headers

    def __str__(self) -> str:
        return f"{self.reason_code}: {self.message}"


class MailHeaders(Mapping[str, str]):
    """All header fields of a message, looked up case-insensitively.

    Values are the raw field bodies (unfolded, encoded words not decoded), so loop and list
    detection sees exactly what was sent. `headers["Received"]` is the first occurrence;
    `get_all` returns every occurrence in order.
    """

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        self._first: dict[str, str] = {}
        for name, value in fields:
            self._first.setdefault(name.lower(), value)

    def __getitem__(self, name: str) -> str:
        return self._first[name.lower()]

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _value in self._fields:
            if name.lower() not in seen:
                seen.add(name.lower())
                yield name

    def __len__(self) -> int:
        return len(self._first)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self._fields if key.lower() == wanted]

    def raw_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair in message order, duplicates included."""
        return list(self._fields)


@dataclass(frozen=True, eq=False)
class ParsedAttachment:
    """An attachment or inline part. The bytes live in `file` (a spooled temporary file:
    memory up to 1 MB, disk above); `read_bytes()` loads them when that is acceptable."""

    filename: str
    content_type: str
    size: int
    md5: str
    content_id: str | None
    inline: bool
    file: IO[bytes] = field(repr=False)

    def read_bytes(self) -> bytes:
        self.file.seek(0)
        data = self.file.read()
        self.file.seek(0)
        return data

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True, eq=False)
class ParsedMail:
    """A parsed message. Addresses are lowercased; names and subject are decoded text."""

    message_id: str | None
    in_reply_to: list[str]
    references: list[str]
    subject: str
    date: datetime | None
    from_email: str | None
    from_name: str
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    reply_to: list[tuple[str, str]]
    headers: MailHeaders
    # The plain-text body: the text/plain part, or the HTML body's text when only HTML exists.
    text: str
    # The sanitised HTML body, or None for plain-text mail.
    html: str | None
    content_type: str  # "text/html" when an HTML body exists, else "text/plain"
    attachments: list[ParsedAttachment]
    bounce: BounceReport | None
    size: int  # bytes read from the source

    def close(self) -> None:
        """Release the attachments' temporary files."""
        for attachment in self.attachments:
            attachment.close()

    def __enter__(self) -> "ParsedMail":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def parse_message(source: bytes | BinaryIO, *, max_bytes: int | None = None) -> ParsedMail:
    """Parse a raw RFC 822 message from bytes or a binary file object (read from its current
    position to the end; a leading mbox "From " line is skipped).

    Raises MailParseError and no other exception, whatever the input.
    """
    stream: BinaryIO
    if isinstance(source, (bytes, bytearray, memoryview)):
        if max_bytes is not None and len(source) > max_bytes:
            raise _too_large(max_bytes, _header_preview(bytes(source[: 256 * 1024])))
        stream = io.BytesIO(source)
    else:
        stream = source
    reader = LineReader(stream, limit=max_bytes)
    tree = MimePart([])
    try:
        parse_tree(reader, tree)
        if reader.consumed == 0:
            raise MailParseError("empty", _("邮件内容为空。"))
        if not tree.headers:
            raise MailParseError("no_headers", _("内容不是邮件：找不到任何信头。"))
        return _assemble(tree, reader.consumed)
    except MailParseError:
        _close_tree(tree)
        raise
    except MessageTooLarge:
        headers = _headers(tree.headers, None) if tree.headers else None
        _close_tree(tree)
        raise _too_large(max_bytes or 0, headers) from None
    except OSError as exc:
        _close_tree(tree)
        raise MailParseError("unreadable", _("无法读取邮件内容。")) from exc
    except Exception as exc:  # a parser defect must quarantine the mail, not lose it
        logger.exception("mail parser defect")
        _close_tree(tree)
        raise MailParseError("internal_error", _("解析邮件时出现内部错误。")) from exc


def _too_large(limit: int, headers: "MailHeaders | None") -> MailParseError:
    message = format_lazy(_("邮件大小超过上限（{limit} 字节）。"), limit=limit)
    return MailParseError("too_large", message, headers=headers)


def _header_preview(head: bytes) -> "MailHeaders | None":
    fields = read_headers(io.BytesIO(head))
    return _headers(fields, None) if fields else None


def _close_tree(tree: MimePart | None) -> None:
    if tree is not None:
        for body in tree.walk_bodies():
            body.close()


def decode_header_value(raw: str) -> str:
    """A header value as text: unfolded, RFC 2047 encoded words decoded."""
    value = re.sub(r"\r?\n(?=[ \t])", "", raw)
    return decode_encoded_words(value)


def _normalise_space(text: str) -> str:
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def _headers(raw: list[tuple[str, bytes]], charset_hint: str | None) -> MailHeaders:
    return MailHeaders([(name, _header_text(value, charset_hint)) for name, value in raw])


def _header_text(value: bytes, charset_hint: str | None) -> str:
    return decode_header_bytes(unfold(value), charset_hint)


_ANGLE_ID = re.compile(r"<([^<>]*)>")


def _message_ids(raw: str | None) -> list[str]:
    if not raw:
        return []
    found = [re.sub(r"\s+", "", match) for match in _ANGLE_ID.findall(raw)]
    if not found:
        found = [token.strip("<>") for token in re.split(r"[\s,]+", raw) if "@" in token]
    unique: list[str] = []
    for message_id in found:
        if message_id and message_id not in unique and len(message_id) <= 998:
            unique.append(message_id)
    return unique


def _single_id(raw: str | None) -> str | None:
    ids = _message_ids(raw)
    if ids:
        return ids[0]
    if raw and raw.strip().strip("<>").strip():
        return re.sub(r"\s+", "", raw.strip().strip("<>"))[:998]
    return None


def address_list(raw: str | None) -> list[tuple[str, str]]:
    """Parse a raw address header (From, To, Cc …) into (decoded name, lowercased address)
    pairs. The list is split before encoded words are decoded, as RFC 2047 requires;
    comments next to a display name ("Name (comment) <a@b>") are not part of the name.
    Entries without "@" (group names such as "undisclosed-recipients:;") are dropped."""
    return _addresses(raw)


def _addresses(raw: str | None, *, require_at: bool = True) -> list[tuple[str, str]]:
    if not raw:
        return []
    # "Name <addr> (comment)": the comment would be glued onto the name.
    raw = re.sub(r">\s*\([^()]*\)", ">", raw)
    try:
        pairs = email.utils.getaddresses([raw])
    except Exception:  # the stdlib address parser has failed on hostile input before
        return []
    found: list[tuple[str, str]] = []
    for name, address in pairs:
        address = decode_encoded_words(address).strip().lower()
        without_comment = re.sub(r"\s*\([^()]*\)\s*", " ", name).strip()
        if without_comment:
            name = without_comment
        name = _normalise_space(decode_encoded_words(name)).strip("\"' ")
        if ("@" in address) if require_at else (address or name):
            found.append((name, address))
    return found


def _sender(headers: MailHeaders) -> tuple[str, str]:
    """The author: the first From field with an address (spam repeats From with junk), then
    Reply-To, Sender and Return-Path for mail without a usable From."""
    for name in ("From", "Reply-To", "Sender", "Return-Path"):
        for value in headers.get_all(name):
            for pair in _addresses(value):
                return pair
    for value in headers.get_all("From"):
        for pair in _addresses(value, require_at=False):
            return pair
    return "", ""


def _date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _assemble(tree: MimePart, size: int) -> ParsedMail:
    collector = _BodyCollector()
    collector.collect(tree)
    headers = _headers(tree.headers, collector.charset_hint)
    sender_name, sender_email = _sender(headers)
    text, html, content_type = collector.body()
    return ParsedMail(
        message_id=_single_id(headers.get("Message-ID")),
        in_reply_to=_message_ids(headers.get("In-Reply-To")),
        references=_message_ids(headers.get("References")),
        subject=_normalise_space(decode_header_value(headers.get("Subject", ""))),
        date=_date(headers.get("Date")),
        from_email=sender_email or None,
        from_name=sender_name,
        to=_addresses(headers.get("To")),
        cc=_addresses(headers.get("Cc")),
        reply_to=_addresses(headers.get("Reply-To")),
        headers=headers,
        text=text,
        html=html,
        content_type=content_type,
        attachments=collector.attachments,
        bounce=find_bounce(tree, headers, text, collector.attachments),
        size=size,
    )


@dataclass
class _Segment:
    text: str
    html: str | None = None


class _BodyCollector:
    """Walks the MIME tree choosing body parts and attachments.

    multipart/alternative contributes its plain and its HTML version as one segment;
    multipart/related contributes its root, the rest become inline attachments; any other
    multipart contributes its children in order, so text parts split around inline images
    (Apple Mail) are joined. A text part with a file name or `attachment` disposition, and
    every non-text part, is an attachment.
    """

    def __init__(self) -> None:
        self.segments: list[_Segment] = []
        self.attachments: list[ParsedAttachment] = []
        self.charset_hint: str | None = None

    def body(self) -> tuple[str, str | None, str]:
        text = "\n".join(segment.text for segment in self.segments if segment.text)
        if not any(segment.html is not None for segment in self.segments):
            return text, None, "text/plain"
        markup = "".join(
            segment.html if segment.html is not None else text_to_html(segment.text)
            for segment in self.segments
        )
        return text, sanitize_html(markup), "text/html"

    def collect(self, part: MimePart, *, inline_default: bool = False) -> None:
        if part.is_multipart and part.children:
            kind = part.content_type
            if kind == "multipart/alternative":
                self._collect_alternative(part)
            elif kind == "multipart/related":
                root = _related_root(part)
                self.collect(root)
                for child in part.children:
                    if child is not root:
                        self.collect(child, inline_default=True)
            else:
                for child in part.children:
                    self.collect(child)
            return
        if part.is_multipart:
            # A multipart whose boundary never appears: its whole body is plain content.
            kept = [(n, v) for n, v in part.headers if n.lower() != "content-type"]
            part = MimePart(kept, body=part.preamble or part.body)
        if _is_body_text(part):
            self._add_text(part)
        else:
            self.attachments.append(_attachment(part, inline_default=inline_default))

    def _collect_alternative(self, part: MimePart) -> None:
        plain: _Segment | None = None
        rich: _Segment | None = None
        for child in part.children:
            version = _BodyCollector()
            version.collect(child)
            self.attachments.extend(version.attachments)
            self.charset_hint = self.charset_hint or version.charset_hint
            text, html, _kind = version.body()
            if html is not None:
                rich = _Segment(text, html)
            elif plain is None and version.segments:
                plain = _Segment(text)
        if rich is not None:
            if plain is not None and plain.text.strip():
                rich.text = plain.text
            self.segments.append(rich)
        elif plain is not None:
            self.segments.append(plain)

    def _add_text(self, part: MimePart) -> None:
        assert part.body is not None
        data = part.body.read_bytes()
        part.body.close()
        charset = part.params.get_content_charset() or None
        self.charset_hint = self.charset_hint or charset
        if part.content_type == "text/html":
            markup = decode_bytes(data, charset or _meta_charset(data))
            self.segments.append(_Segment(html_to_text(markup), markup))
        else:
            text = decode_bytes(data, charset)
            self.segments.append(_Segment(text.replace("\r\n", "\n").replace("\r", "\n")))


def _related_root(part: MimePart) -> MimePart:
    start = part.params.get_param("start")
    if isinstance(start, str) and start.strip("<> "):
        wanted = start.strip("<> ")
        for child in part.children:
            if _content_id(child) == wanted:
                return child
    return part.children[0]


def _disposition(part: MimePart) -> str | None:
    raw = part.header("Content-Disposition")
    if raw is None:
        return None
    return unfold(raw).split(b";", 1)[0].strip().lower().decode("ascii", "replace") or None


def _is_body_text(part: MimePart) -> bool:
    if part.content_type not in ("text/plain", "text/html"):
        return False
    if _disposition(part) == "attachment":
        return False
    return not _declared_filename(part)


def _content_id(part: MimePart) -> str | None:
    raw = part.header("Content-ID")
    if raw is None:
        return None
    value = unfold(raw).decode("utf-8", "replace").strip().strip("<>").strip()
    return value or None


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def _declared_filename(part: MimePart) -> str:
    params = part.params
    for name, header in (("filename", "content-disposition"), ("name", "content-type")):
        value: Any = params.get_param(name, header=header)
        if value is None:
            continue
        if isinstance(value, tuple):  # RFC 2231: (charset, language, percent-decoded text)
            charset, _language, text = value
            raw = str(text).encode("latin-1", "replace")
            value = decode_bytes(raw, charset or "utf-8")
        else:
            value = email.utils.unquote(str(value))
        cleaned = _clean_filename(decode_encoded_words(value))
        if cleaned:
            return cleaned
    return ""


def _clean_filename(name: str) -> str:
    name = re.sub(r"[\x00-\x1f\x7f]", "", name)
    name = re.split(r"[/\\]", name)[-1]
    return name.strip(". \t")


# Extensions for types where mimetypes guesses badly or not at all.
_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "application/ms-tnef": ".dat",
    "application/octet-stream": "",
    "application/pgp-encrypted": "",
}
_BASE_NAMES = {
    "application/ms-tnef": "winmail",
    "text/calendar": "calendar",
    "message/delivery-status": "delivery-status",
    "message/rfc822": "message",
    "text/rfc822-headers": "headers",
}
_MAJOR_NAMES = {"text": "document", "image": "image", "audio": "audio", "video": "video"}


def _attachment(part: MimePart, *, inline_default: bool) -> ParsedAttachment:
    body = part.body if part.body is not None else SpooledBody()
    kind = part.content_type
    filename = _declared_filename(part) or _generated_filename(part, kind)
    disposition = _disposition(part)
    content_id = _content_id(part)
    inline = disposition == "inline" or (
        disposition is None and (content_id is not None or inline_default)
    )
    body.file.seek(0)
    return ParsedAttachment(
        filename=filename,
        content_type=kind,
        size=body.size,
        md5=body.md5,
        content_id=content_id,
        inline=inline,
        file=body.file,
    )


def _generated_filename(part: MimePart, kind: str) -> str:
    extension = _EXTENSIONS.get(kind)
    if extension is None:
        extension = mimetypes.guess_extension(kind, strict=False) or ""
    stem = ""
    if kind == "message/rfc822":
        embedded = read_part_headers(part)
        subject_raw = embedded.header("Subject")
        if subject_raw is not None:
            stem = _normalise_space(decode_header_value(_header_text(subject_raw, None)))
    description = part.header("Content-Description")
    if not stem and extension and description is not None:
        stem = _normalise_space(decode_header_value(_header_text(description, None)))
    stem = _clean_filename(stem)[:200]
    if not extension:
        return stem or _BASE_NAMES.get(kind, "file")
    if not stem:
        stem = _BASE_NAMES.get(kind) or _MAJOR_NAMES.get(kind.split("/", 1)[0], "file")
    return stem + extension


_AUTO_RESPONSE_VALUES = re.compile(r"\b(bulk|junk|list|auto_reply|auto-reply)\b", re.I)
_DAEMON_LOCAL_PARTS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}


def is_automatic(parsed: ParsedMail) -> str | None:
    """Why this mail must never get an automatic reply (acknowledgement, auto-response), as
    a stable reason code, or None for mail written by a person.

    Codes: "auto_submitted", "precedence", "auto_response_suppress", "autoreply_header",
    "mailer_daemon", "delivery_report", "mailing_list".
    """
    headers = parsed.headers
    auto_submitted = headers.get("Auto-Submitted", "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return "auto_submitted"
    if _AUTO_RESPONSE_VALUES.search(headers.get("Precedence", "")):
        return "precedence"
    suppress = headers.get("X-Auto-Response-Suppress", "").strip().lower()
    if suppress and suppress != "none":
        return "auto_response_suppress"
    if any(name in headers for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated")):
        return "autoreply_header"
    if parsed.from_email and parsed.from_email.split("@", 1)[0] in _DAEMON_LOCAL_PARTS:
        return "mailer_daemon"
    if parsed.bounce is not None:
        return "delivery_report"
    if "List-Id" in headers or "List-Unsubscribe" in headers:
        return "mailing_list"
    return None
