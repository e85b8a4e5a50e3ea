"""Real RFC 822 messages for the pipeline tests, built with the standard library."""

import datetime as dt
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, formatdate, make_msgid


def compose(
    *,
    sender: str = "张伟 <zhangwei@example.cn>",
    to: str = "service@huaning.example",
    cc: str | None = None,
    subject: str = "空调不制冷",
    body: str = "您好，我家的空调开机半小时了还是不制冷，麻烦安排师傅看看。",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    headers: dict[str, str] | None = None,
    attachments: tuple[tuple[str, bytes, str], ...] = (),
    date: dt.datetime | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(date) if date else formatdate(localtime=True)
    message["Message-ID"] = f"<{message_id}>" if message_id else make_msgid(domain="client.example")
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        message["References"] = " ".join(f"<{r}>" for r in references)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    for filename, data, content_type in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def unique_id() -> str:
    return f"{uuid.uuid4().hex}@client.example"


def delivery_report(*, original_message_id: str, recipient: str) -> bytes:
    """A bounce as Postfix writes it: multipart/report with a message/delivery-status part."""
    boundary = "B0UNCE" + uuid.uuid4().hex[:8]
    return (
        f"From: MAILER-DAEMON@mx.huaning.example (Mail Delivery System)\r\n"
        f"To: service@huaning.example\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {formatdate()}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.huaning.example>\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered.\r\n"
        f"<{recipient}>: host mx.example.cn said: 550 5.1.1 User unknown\r\n\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.huaning.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: failed\r\n"
        f"Status: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: text/rfc822-headers\r\n\r\n"
        f"From: service@huaning.example\r\n"
        f"To: {recipient}\r\n"
        f"Subject: acknowledgement\r\n"
        f"Message-ID: <{original_message_id}>\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()
