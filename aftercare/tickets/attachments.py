"""What may be attached to a ticket, checked before anything is written to storage."""

import hashlib
from dataclasses import dataclass
from typing import IO, Any

import filetype
from django.utils.translation import gettext as _

from aftercare.core.conf import rule
from aftercare.core.errors import PayloadTooLarge, ValidationFailed

# Extension → content types we accept for it. Sniffed types must agree for binary formats.
ALLOWED_TYPES: dict[str, str] = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "log": "text/plain",
    "csv": "text/csv",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "zip": "application/zip",
    "eml": "message/rfc822",
    # Kept from mail as they came: calendar invitations and Outlook's TNEF container.
    "ics": "text/calendar",
    "dat": "application/ms-tnef",
}
# Names that hide an executable or active content behind a harmless final extension.
DANGEROUS_EXTENSIONS = frozenset(
    {
        "exe",
        "com",
        "bat",
        "cmd",
        "scr",
        "pif",
        "msi",
        "msp",
        "dll",
        "js",
        "jse",
        "vbs",
        "vbe",
        "wsf",
        "wsh",
        "ps1",
        "psm1",
        "hta",
        "jar",
        "sh",
        "php",
        "py",
        "pl",
        "cgi",
        "asp",
        "aspx",
        "jsp",
        "html",
        "htm",
        "xhtml",
        "svg",
        "svgz",
        "lnk",
        "reg",
        "apk",
        "app",
        "dmg",
        "iso",
    }
)
# The sniffed type for these must match; text formats cannot be sniffed reliably.
_SNIFFED = {"jpg", "jpeg", "png", "gif", "webp", "pdf", "mp4", "mov", "zip", "docx", "xlsx"}
_SNIFF_EQUIVALENT = {"docx": {"application/zip"}, "xlsx": {"application/zip"}}


@dataclass(frozen=True)
class CheckedUpload:
    name: str
    content_type: str
    size: int
    sha256: str


def check_upload(
    name: str, stream: IO[bytes] | Any, size: int, *, limit: int | None = None
) -> CheckedUpload:
    """Raise ValidationFailed/PayloadTooLarge unless the upload may be stored. `limit` is the
    channel's size limit (mail has its own); the upload rule's otherwise."""
    limit = limit or rule("ATTACHMENT_MAX_BYTES")
    if size > limit:
        raise PayloadTooLarge(
            _("附件超过大小上限 %(limit)d MB") % {"limit": limit // (1024 * 1024)},
            code="attachment_too_large",
            details={"limit_bytes": limit, "size_bytes": size},
        )
    if size == 0:
        raise ValidationFailed(_("附件为空"), code="attachment_empty")
    clean_name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().strip(".")[:255]
    parts = clean_name.lower().split(".")
    extension = parts[-1] if len(parts) > 1 else ""
    if extension not in ALLOWED_TYPES:
        raise ValidationFailed(
            _("不支持的附件类型：%(ext)s") % {"ext": extension or _("无扩展名")},
            code="attachment_type_refused",
            details={"allowed": sorted(ALLOWED_TYPES)},
        )
    if any(part in DANGEROUS_EXTENSIONS for part in parts[1:-1]):
        raise ValidationFailed(
            _("文件名含有可执行文件的扩展名：%(name)s") % {"name": clean_name},
            code="attachment_double_extension",
        )
    head = stream.read(8192)
    stream.seek(0)
    if extension in _SNIFFED:
        kind = filetype.guess(head)
        expected = {ALLOWED_TYPES[extension], *_SNIFF_EQUIVALENT.get(extension, set())}
        if kind is None or kind.mime not in expected:
            raise ValidationFailed(
                _("文件内容与扩展名 .%(ext)s 不符") % {"ext": extension},
                code="attachment_content_mismatch",
            )
    elif b"\x00" in head and extension in {"txt", "log", "csv", "eml"}:
        raise ValidationFailed(
            _("文件内容与扩展名 .%(ext)s 不符") % {"ext": extension},
            code="attachment_content_mismatch",
        )
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        digest.update(chunk)
    stream.seek(0)
    return CheckedUpload(clean_name, ALLOWED_TYPES[extension], size, digest.hexdigest())
