"""Delivery status notifications (bounces): the standard kind (RFC 3464 multipart/report with
a message/delivery-status part) and the common non-standard ones (a mailer-daemon's plain
text, often with the original message attached or quoted)."""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aftercare.intake.mimetree import MimePart, read_part_headers, unfold


@dataclass(frozen=True)
class BounceReport:
    """What a bounce says about the message it returns.

    `failed_recipients` lists the addresses that permanently failed (a delay notice has none);
    `status` is the first RFC 3463 status code ("5.1.1"), `diagnostic` the remote server's
    explanation, `original_message_id` the Message-ID of the returned message, when known.
    """

    original_message_id: str | None
    failed_recipients: list[str]
    status: str | None
    diagnostic: str | None

    @property
    def permanent(self) -> bool:
        """True unless the report is only about a delay or a temporary (4.x.x) failure."""
        if self.status:
            return self.status.startswith("5")
        return bool(self.failed_recipients)


_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status notification|delivery (?:has )?fail|mail delivery fail|"
    r"returned mail|failure notice|non-?delivery|could not be delivered|unzustellbar|"
    r"nicht zugestellt|退信|退回|未能送达|无法送达|投递失败|发送失败|递送失败|未送达",
    re.IGNORECASE,
)
_DAEMONS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_ORIGINAL_STARTS = re.compile(
    r"^(?:-+ ?(?:this is a copy|original message|below this line|undelivered message)|"
    r"received: |return-path: |message-id: |原邮件|原始邮件)",
    re.IGNORECASE | re.MULTILINE,
)
_TEXT_MESSAGE_ID = re.compile(r"^message-id:\s*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)


def find_bounce(
    tree: MimePart, headers: Mapping[str, str], text: str, attachments: list[Any]
) -> BounceReport | None:
    """The BounceReport of a delivery status notification, or None for other mail."""
    parts = list(_walk(tree))
    original_id = _original_message_id(parts)
    for part in parts:
        if part.content_type in ("message/delivery-status", "message/global-delivery-status"):
            return _standard_report(part, original_id)
    sender = headers.get("From", "").lower()
    from_daemon = any(f"{name}@" in sender for name in _DAEMONS)
    subject_says_so = bool(_BOUNCE_SUBJECT.search(headers.get("Subject", "")))
    has_original = any(part.content_type == "message/rfc822" for part in parts)
    if not (subject_says_so and (from_daemon or has_original)):
        return None
    return _text_report(text, headers, original_id)


def _walk(part: MimePart) -> Iterator[MimePart]:
    yield part
    for child in part.children:
        yield from _walk(child)


def _original_message_id(parts: list[MimePart]) -> str | None:
    for part in parts:
        if part.content_type in ("message/rfc822", "text/rfc822-headers", "message/global"):
            embedded = read_part_headers(part)
            raw = embedded.header("Message-ID")
            if raw is not None:
                match = re.search(rb"<([^<>\s]+)>", raw)
                value = match.group(1) if match else unfold(raw)
                if value:
                    return value.decode("utf-8", "replace")
    return None


def _standard_report(part: MimePart, original_id: str | None) -> BounceReport:
    data = part.body.read_bytes(256 * 1024) if part.body is not None else b""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    failed: list[str] = []
    status = diagnostic = None
    for block in re.split(r"\n\s*\n", text):
        fields = _fields(block)
        recipient = fields.get("final-recipient") or fields.get("original-recipient")
        if recipient is None:
            continue
        address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
        action = fields.get("action", "").lower()
        block_status = _STATUS.search(fields.get("status", ""))
        if status is None and block_status:
            status = block_status.group(1)
        if diagnostic is None and fields.get("diagnostic-code"):
            diagnostic = fields["diagnostic-code"].split(";", 1)[-1].strip()
        permanent = action == "failed" or (
            not action and block_status is not None and block_status.group(1).startswith("5")
        )
        if permanent and address and address not in failed:
            failed.append(address)
    return BounceReport(original_id, failed, status, diagnostic)


def _fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    last = None
    for line in block.split("\n"):
        if line[:1] in (" ", "\t") and last is not None:
            fields[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if colon and name.strip():
            last = name.strip().lower()
            fields.setdefault(last, value.strip())
    return fields


def _text_report(text: str, headers: Mapping[str, str], original_id: str | None) -> BounceReport:
    original_start = _ORIGINAL_STARTS.search(text)
    explanation = text[: original_start.start()] if original_start else text
    if original_id is None:
        match = _TEXT_MESSAGE_ID.search(text)
        original_id = match.group(1) if match else None
    own = {address.lower() for address in _ADDRESS.findall(headers.get("To", ""))}
    own |= {address.lower() for address in _ADDRESS.findall(headers.get("From", ""))}
    failed: list[str] = []
    for address in _ADDRESS.findall(explanation):
        address = address.lower().strip(".")
        local_part = address.split("@", 1)[0]
        if address not in own and local_part not in _DAEMONS and address not in failed:
            failed.append(address)
    status_match = _STATUS.search(explanation)
    diagnostic = None
    for line in explanation.split("\n"):
        if (status_match and status_match.group(1) in line) or re.search(r"\b5\d\d\b", line):
            diagnostic = line.strip()
            break
    return BounceReport(
        original_id, failed, status_match.group(1) if status_match else None, diagnostic
    )
