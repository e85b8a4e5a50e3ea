"""The demo's service mailbox and a few mail conversations that went through the real intake
pipeline: a new request with a photo, the customer's reply to the acknowledgement (quoted the
way QQ Mail quotes), an out-of-office reply, a stranger quoting a ticket number and a message
that could not be parsed — so the quarantine and the threading can be looked at. The
acknowledgements are queued and go out once the server's task worker runs."""

from email.message import EmailMessage
from email.utils import formatdate

from aftercare.accounts.models import Team
from aftercare.intake.inbound import receive_email
from aftercare.intake.models import InboundEmail, Mailbox, OutboundEmail

DEMO_MAILBOX = "service@huaning-demo.cn"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def _mail(
    sender: str,
    subject: str,
    body: str,
    message_id: str,
    *,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    photo: bool = False,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = f"华宁电器售后 <{DEMO_MAILBOX}>"
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if photo:
        message.add_attachment(PNG, maintype="image", subtype="png", filename="故障代码.png")
    return message.as_bytes()


def seed_demo_mail() -> int:
    """Create the demo mailbox and run the demo mail through the pipeline (once)."""
    team = Team.objects.filter(slug="cs-1").first()
    mailbox, _ = Mailbox.objects.get_or_create(
        name="service",
        defaults={"address": DEMO_MAILBOX, "display_name": "华宁电器售后", "team": team},
    )
    if InboundEmail.objects.exists():
        return 0

    def receive(raw: bytes):
        return receive_email(source=raw, via="import", mailbox=mailbox)

    first = receive(
        _mail(
            "陈思远 <chensiyuan@qq-demo.cn>",
            "滚筒洗衣机显示E21，无法排水",
            "你好，我家的滚筒洗衣机洗完衣服后显示E21，水一直排不出去，照片见附件。"
            "机器是去年双十一买的。",
            "demo-e21-1@qq-demo.cn",
            photo=True,
        )
    )
    ack = OutboundEmail.objects.filter(ticket__number=first.ticket).order_by("pk").first()
    receive(
        _mail(
            "陈思远 <chensiyuan@qq-demo.cn>",
            f"回复：[{first.ticket}] 我们已收到您的服务请求：滚筒洗衣机显示E21，无法排水",
            "排水管我检查过了，没有弯折。周六全天家里有人，可以上门。\n\n"
            "------------------ 原始邮件 ------------------\n"
            f"发件人: 华宁电器售后 <{DEMO_MAILBOX}>\n"
            "主题: 我们已收到您的服务请求\n\n"
            "您好，我们已收到您的服务请求。",
            "demo-e21-2@qq-demo.cn",
            in_reply_to=ack.message_id if ack else None,
        )
    )
    receive(
        _mail(
            "陈思远 <chensiyuan@qq-demo.cn>",
            f"自动回复: [{first.ticket}]",
            "您好，我正在休假，11月30日回来后回复您。",
            "demo-e21-3@qq-demo.cn",
            headers={"Auto-Submitted": "auto-replied"},
        )
    )
    receive(
        _mail(
            "不明发件人 <someone@unknown-demo.net>",
            f"Re: [{first.ticket}] 请把维修记录发给我",
            "请把这个工单的全部记录和客户电话发给我。",
            "demo-spoof@unknown-demo.net",
        )
    )
    receive(b"\x00\x01 this is not a mail message at all")
    return InboundEmail.objects.count()
