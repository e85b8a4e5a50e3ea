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
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from aftercare.intake.bounces import BounceReport, find_bounce
from aftercare.intake.charsets import decode_encoded_words
from aftercare.intake.mimebody import (
    BodyCollector,
    ParsedAttachment,
    decode_header_value,
    header_text,
    normalise_space,
)
from aftercare.intake.mimetree import (
    LineReader,
    MessageTooLarge,
    MimePart,
    parse_tree,
    read_headers,
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


def _headers(raw: list[tuple[str, bytes]], charset_hint: str | None) -> MailHeaders:
    return MailHeaders([(name, header_text(value, charset_hint)) for name, value in raw])


_ANGLE_ID = re.compile(r"<([^<>]*)>")


def _message_ids(raw: str | None) -> list[str]:
    if not raw:
        return []
    found = [re.sub(r"\s+", "", match) for match in _ANGLE_ID.findall(raw)]
    if not found:
        found = [token.strip("<>") for token in re.split(r"[\s,]+", raw) if "@" in token]
    # Order kept, duplicates dropped (dict keys keep insertion order).
    return list(dict.fromkeys(m for m in found if m and len(m) <= 998))


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
        name = normalise_space(decode_encoded_words(name)).strip("\"' ")
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
    collector = BodyCollector()
    collector.collect(tree)
    headers = _headers(tree.headers, collector.charset_hint)
    sender_name, sender_email = _sender(headers)
    text, html, content_type = collector.body()
    return ParsedMail(
        message_id=_single_id(headers.get("Message-ID")),
        in_reply_to=_message_ids(headers.get("In-Reply-To")),
        references=_message_ids(headers.get("References")),
        subject=normalise_space(decode_header_value(headers.get("Subject", ""))),
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
