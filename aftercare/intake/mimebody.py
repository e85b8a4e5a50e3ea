"""Choosing the body parts of a MIME tree and turning the other parts into attachments.

Used by `aftercare.intake.mime.parse_message`; see `BodyCollector` for the rules.
"""

import email.utils
import mimetypes
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, Any

from aftercare.intake.charsets import decode_bytes, decode_encoded_words, decode_header_bytes
from aftercare.intake.html_text import html_to_text, sanitize_html, text_to_html
from aftercare.intake.mimetree import MimePart, SpooledBody, read_part_headers, unfold


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


def decode_header_value(raw: str) -> str:
    """A header value as text: unfolded, RFC 2047 encoded words decoded."""
    value = re.sub(r"\r?\n(?=[ \t])", "", raw)
    return decode_encoded_words(value)


def normalise_space(text: str) -> str:
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def header_text(value: bytes, charset_hint: str | None) -> str:
    return decode_header_bytes(unfold(value), charset_hint)


@dataclass
class _Segment:
    """A piece of the body: a text/plain part's text, a text/html part's markup, or both
    versions of a multipart/alternative."""

    plain: str | None = None
    markup: str | None = None

    @cached_property
    def text(self) -> str:
        if self.plain is not None and (self.plain.strip() or self.markup is None):
            return self.plain
        return html_to_text(self.markup or "")

    def as_markup(self) -> str:
        return self.markup if self.markup is not None else text_to_html(self.plain or "")


class BodyCollector:
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
        """(plain text, sanitised HTML or None, content type of the main body)."""
        text = "\n".join(segment.text for segment in self.segments if segment.text)
        if all(segment.markup is None for segment in self.segments):
            return text, None, "text/plain"
        markup = "".join(segment.as_markup() for segment in self.segments)
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
        plain: BodyCollector | None = None
        rich: BodyCollector | None = None
        for child in part.children:
            version = BodyCollector()
            version.collect(child)
            self.attachments.extend(version.attachments)
            self.charset_hint = self.charset_hint or version.charset_hint
            if any(segment.markup is not None for segment in version.segments):
                rich = version  # the last HTML version is the richest
            elif plain is None and version.segments:
                plain = version
        plain_text = "\n".join(s.text for s in plain.segments if s.text) if plain else None
        if rich is not None:
            markup = "".join(segment.as_markup() for segment in rich.segments)
            self.segments.append(_Segment(plain_text, markup))
        elif plain is not None:
            self.segments.extend(plain.segments)

    def _add_text(self, part: MimePart) -> None:
        assert part.body is not None
        data = part.body.read_bytes()
        part.body.close()
        charset = part.params.get_content_charset() or None
        self.charset_hint = self.charset_hint or charset
        if part.content_type == "text/html":
            self.segments.append(
                _Segment(markup=decode_bytes(data, charset or _meta_charset(data)))
            )
        else:
            text = decode_bytes(data, charset)
            self.segments.append(_Segment(plain=text.replace("\r\n", "\n").replace("\r", "\n")))


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


# A text part larger than this is kept as an attachment instead of being decoded, rendered
# and sanitised as the body (a multi-megabyte HTML "body" is a report or an attack).
MAX_BODY_BYTES = 4 * 1024 * 1024


def _is_body_text(part: MimePart) -> bool:
    if part.content_type not in ("text/plain", "text/html"):
        return False
    if _disposition(part) == "attachment":
        return False
    if part.body is not None and part.body.size > MAX_BODY_BYTES:
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
    """A file name safe to store and show: no path, no control characters, at most 200
    characters (the extension kept)."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", name)
    name = re.split(r"[/\\]", name)[-1].strip(". \t")
    if len(name) > 200:
        _stem, dot, extension = name.rpartition(".")
        keep = extension if dot and len(extension) <= 10 else ""
        name = name[: 200 - len(keep) - 1] + "." + keep if keep else name[:200]
    return name


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
    "text/html": "message",
    "text/plain": "message",
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
            stem = normalise_space(decode_header_value(header_text(subject_raw, None)))
    description = part.header("Content-Description")
    if not stem and extension and description is not None:
        stem = normalise_space(decode_header_value(header_text(description, None)))
    stem = _clean_filename(stem)[:200]
    if not extension:
        return stem or _BASE_NAMES.get(kind, "file")
    if not stem:
        stem = _BASE_NAMES.get(kind) or _MAJOR_NAMES.get(kind.split("/", 1)[0], "file")
    return stem + extension
