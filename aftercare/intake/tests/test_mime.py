"""parse_message on hand-made messages: charsets, structure, attachments, threading fields,
bounces, automatic-mail detection, errors, memory, and fuzzing."""

import base64
import hashlib
import io
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftercare.intake.mime import (
    MailParseError,
    ParsedMail,
    address_list,
    is_automatic,
    parse_message,
)

HEAD = "From: 张三 <ZhangSan@Example.com>\r\nTo: service@example.com\r\n"


def parse(raw: str | bytes) -> ParsedMail:
    return parse_message(raw.encode() if isinstance(raw, str) else raw)


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


# --- charsets ---------------------------------------------------------------------------


def test_gb2312_declared_body_with_gbk_characters_decodes_as_gb18030() -> None:
    body = "朱镕基同志来电询问空调维修进度。".encode("gbk")  # 镕 is GBK, not GB2312
    raw = (HEAD + "Subject: t\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n").encode()
    assert parse(raw + body).text == "朱镕基同志来电询问空调维修进度。"


@pytest.mark.parametrize(
    ("charset", "encoding", "text"),
    [
        ("big5", "big5", "請協助處理保固維修。"),
        ("gb18030", "gb18030", "冰箱压缩机异响𠀀"),
        ("windows-1252", "cp1252", "Grüße – “Reklamation”"),
        ("iso-8859-1", "latin-1", "Prüfung bestätigt"),
        ("iso-2022-jp", "iso2022_jp", "修理をお願いします"),
    ],
)
def test_declared_charsets(charset: str, encoding: str, text: str) -> None:
    raw = (HEAD + f"Subject: t\r\nContent-Type: text/plain; charset={charset}\r\n\r\n").encode()
    assert parse(raw + text.encode(encoding)).text == text


def test_iso_2022_jp_with_microsoft_extensions() -> None:
    # ① is an NEC special character: in CP50221, not in strict ISO-2022-JP.
    body = b"\x1b$B-!\x1b(B 1\x1b$BET\x1b(B"  # ①, " 1", 都
    raw = (HEAD + "Subject: t\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n").encode()
    assert parse(raw + body).text == "① 1都"


def test_missing_charset_gbk_body_is_detected() -> None:
    raw = (HEAD + "Subject: t\r\nContent-Type: text/plain\r\n\r\n").encode()
    assert parse(raw + "洗衣机不脱水".encode("gbk")).text == "洗衣机不脱水"


def test_utf8_mislabelled_as_latin1() -> None:
    raw = (HEAD + "Subject: t\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n").encode()
    assert parse(raw + "发票已开".encode()).text == "发票已开"


def test_wrong_utf8_declaration_latin_text() -> None:
    raw = (HEAD + "Subject: t\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n").encode()
    assert parse(raw + "Größe passt nicht".encode("cp1252")).text == "Größe passt nicht"


def test_utf8_with_stray_latin_bytes_keeps_both() -> None:
    raw = (HEAD + "Subject: t\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n").encode()
    assert parse(raw + "维修 ".encode() + b"caf\xe9").text == "维修 café"


def test_undecodable_bytes_never_raise() -> None:
    raw = (HEAD + "Subject: t\r\nContent-Type: text/plain; charset=x-nonsense\r\n\r\n").encode()
    assert parse(raw + bytes(range(128, 256))).text != ""


def test_encoded_word_subject_split_inside_a_character() -> None:
    encoded = "空调不制冷".encode()
    first, second = base64.b64encode(encoded[:4]), base64.b64encode(encoded[4:])
    raw = HEAD + f"Subject: =?utf-8?B?{first.decode()}?=\r\n =?utf-8?B?{second.decode()}?=\r\n\r\nx"
    assert parse(raw).subject == "空调不制冷"


def test_raw_8bit_gbk_subject_and_name() -> None:
    raw = (
        b"From: " + "王五".encode("gbk") + b" <ww@example.com>\r\n"
        b"Subject: " + "退货申请".encode("gbk") + b"\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nbody"
    )
    parsed = parse(raw)
    assert (parsed.subject, parsed.from_name, parsed.from_email) == (
        "退货申请",
        "王五",
        "ww@example.com",
    )


# --- header fields ----------------------------------------------------------------------


def test_threading_and_address_fields() -> None:
    parsed = parse(
        "From: =?utf-8?B?5byg5LiJ?= <ZhangSan@Example.com>\r\n"
        'To: "Service, HQ" <service@example.com>, li@example.com\r\n'
        "Cc: undisclosed-recipients:;\r\n"
        "Reply-To: Repairs <repairs@example.com>\r\n"
        "Subject:  Re:\t维修   进度\r\n"
        "Message-ID:  <abc.123@mail.example.com> \r\n"
        "In-Reply-To: <ticket-1@aftercare.example>\r\n"
        "References: <a@x> <b@x>\r\n <ticket-1@aftercare.example> <a@x>\r\n"
        "Date: Thu, 26 Nov 2026 09:12:00 +0800\r\n"
        "\r\nhello\r\n"
    )
    assert parsed.message_id == "abc.123@mail.example.com"
    assert parsed.in_reply_to == ["ticket-1@aftercare.example"]
    assert parsed.references == ["a@x", "b@x", "ticket-1@aftercare.example"]
    assert parsed.subject == "Re: 维修 进度"
    assert parsed.date == datetime(2026, 11, 26, 1, 12, tzinfo=UTC)
    assert parsed.date.utcoffset() == timedelta(hours=8)
    assert (parsed.from_name, parsed.from_email) == ("张三", "zhangsan@example.com")
    assert parsed.to == [("Service, HQ", "service@example.com"), ("", "li@example.com")]
    assert parsed.cc == []
    assert parsed.reply_to == [("Repairs", "repairs@example.com")]
    assert parsed.text == "hello\n"
    assert parsed.content_type == "text/plain"


def test_headers_are_raw_and_case_insensitive() -> None:
    parsed = parse(
        HEAD + "Subject: =?utf-8?B?5rWL6K+V?=\r\nReceived: one\r\nRECEIVED: two\r\n"
        "X-Long: part one\r\n\tpart two\r\n\r\nbody"
    )
    assert parsed.headers["subject"] == "=?utf-8?B?5rWL6K+V?="
    assert parsed.headers["Received"] == "one"
    assert parsed.headers.get_all("received") == ["one", "two"]
    assert parsed.headers["x-long"] == "part one\tpart two"
    assert "x-missing" not in parsed.headers


def test_missing_and_odd_header_fields() -> None:
    parsed = parse(
        "From: someone@example.com\r\nDate: not a date\r\nMessage-ID: bare-id@example.com\r\n\r\n"
    )
    assert (parsed.message_id, parsed.date, parsed.subject, parsed.to) == (
        "bare-id@example.com",
        None,
        "",
        [],
    )


def test_date_without_zone_is_utc() -> None:
    parsed = parse(HEAD + "Date: Thu, 26 Nov 2026 09:12:00 -0000\r\n\r\nx")
    assert parsed.date == datetime(2026, 11, 26, 9, 12, tzinfo=UTC)
    assert parsed.date.tzinfo == UTC


def test_sender_falls_back_to_reply_to_when_from_is_missing() -> None:
    parsed = parse("Reply-To: <Buyer@Example.com>\r\nSubject: x\r\n\r\nbody")
    assert (parsed.from_name, parsed.from_email) == ("", "buyer@example.com")


def test_address_list_splits_before_decoding() -> None:
    assert address_list('=?utf-8?Q?M=C3=BCller=2C_Bernd?= <b@x.de>, "A, B" <a@x.de>') == [
        ("Müller, Bernd", "b@x.de"),
        ("A, B", "a@x.de"),
    ]
    assert address_list("MAILER-DAEMON (Mail Delivery System) <pm@x.de>") == [
        ("MAILER-DAEMON", "pm@x.de")
    ]


# --- structure and attachments ----------------------------------------------------------

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def test_alternative_with_related_inline_image_and_attachments() -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 8
    raw = (
        HEAD + "Subject: 报修\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        "This is a multi-part message in MIME format.\r\n"
        '--outer\r\nContent-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "=E6=9C=BA=E5=99=A8=E5=9D=8F=E4=BA=86=EF=BC=8C=E8=A7=81=E5=9B=BE=E3=80=82 soft=\r\n"
        "break\r\n"
        '--alt\r\nContent-Type: multipart/related; boundary="rel"\r\n\r\n'
        "--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        '<p onclick="x()">机器坏了，见图。<img src="cid:photo1@example.com"></p>'
        "<script>alert(1)</script>\r\n"
        "--rel\r\nContent-Type: image/png\r\nContent-ID: <photo1@example.com>\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + b64(IMAGE) + "--rel--\r\n"
        "--alt--\r\n"
        "--outer\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment;\r\n filename*=utf-8''%E5%8F%91%E7%A5%A8.pdf\r\n\r\n"
        + b64(pdf)
        + "--outer--\r\nepilogue is ignored\r\n"
    )
    with parse(raw) as parsed:
        assert parsed.content_type == "text/html"
        # The line break before a boundary belongs to the boundary (RFC 2046).
        assert parsed.text == "机器坏了，见图。 softbreak"
        assert parsed.html == '<p>机器坏了，见图。<img src="cid:photo1@example.com"></p>'
        assert [
            (a.filename, a.content_type, a.size, a.md5, a.content_id, a.inline)
            for a in parsed.attachments
        ] == [
            (
                "image.png",
                "image/png",
                len(IMAGE),
                hashlib.md5(IMAGE).hexdigest(),
                "photo1@example.com",
                True,
            ),
            ("发票.pdf", "application/pdf", len(pdf), hashlib.md5(pdf).hexdigest(), None, False),
        ]
        assert parsed.attachments[1].read_bytes() == pdf
        assert parsed.attachments[1].file.read() == pdf  # read_bytes rewinds


def test_forwarded_message_tnef_and_calendar_are_kept() -> None:
    embedded = "From: a@example.com\r\nSubject: 原始投诉\r\n\r\n内容\r\n"
    raw = (
        HEAD + 'Subject: fw\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\n见附件\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\n" + embedded + "--b\r\n"
        "Content-Type: application/ms-tnef\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b64(b"\x78\x9f\x3e\x22TNEF")
        + '--b\r\nContent-Type: text/calendar; method=REQUEST; charset="utf-8"\r\n\r\n'
        "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b--\r\n"
    )
    with parse(raw) as parsed:
        assert parsed.text == "见附件"
        names = [(a.filename, a.content_type, a.size) for a in parsed.attachments]
        assert names == [
            # 7bit line breaks stored as LF; the last one belongs to the boundary.
            ("原始投诉.eml", "message/rfc822", len(embedded.replace("\r\n", "\n").encode()) - 1),
            ("winmail.dat", "application/ms-tnef", 8),
            ("calendar.ics", "text/calendar", len(b"BEGIN:VCALENDAR\nEND:VCALENDAR")),
        ]


@pytest.mark.parametrize(
    ("header", "filename"),
    [
        ('Content-Type: image/jpeg; name="=?utf-8?B?5pWF6Zqc54Wn54mHLmpwZw==?="', "故障照片.jpg"),
        ("Content-Disposition: attachment; filename*=gb2312''%B7%A2%C6%B1.pdf", "发票.pdf"),
        ('Content-Disposition: attachment; filename="C:\\\\Users\\\\a\\\\报告.doc"', "报告.doc"),
        ("Content-Type: image/jpeg", "image.jpg"),
        ('Content-Type: text/plain; name="' + "很长" * 150 + '.txt"', "很长" * 98 + ".txt"),
        ("Content-Type: application/octet-stream", "file"),
        ("Content-Type: application/x-unknown-thing", "file"),
    ],
)
def test_attachment_file_names(header: str, filename: str) -> None:
    raw = (
        HEAD + 'Subject: x\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\n\r\nbody\r\n--b\r\n" + header + "\r\n\r\ndata\r\n--b--\r\n"
    )
    with parse(raw) as parsed:
        assert [a.filename for a in parsed.attachments] == [filename]


def test_text_part_with_a_file_name_is_an_attachment() -> None:
    raw = (
        HEAD + 'Subject: x\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\n正文\r\n"
        "--b\r\nContent-Type: text/plain; name=log.txt\r\n\r\nerror 42\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\n第二段\r\n--b--\r\n"
    )
    with parse(raw) as parsed:
        assert parsed.text == "正文\n第二段"
        assert [(a.filename, a.read_bytes()) for a in parsed.attachments] == [
            ("log.txt", b"error 42")
        ]


def test_sanitised_html_allows_embedded_images_but_no_data_links() -> None:
    raw = (
        HEAD + "Subject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        '<a href="data:text/html,<script>alert(1)</script>">x</a>'
        '<img src="data:image/png;base64,iVBORw0KGgo="><a href="https://example.com/">y</a>'
    )
    assert parse(raw).html == (
        '<a rel="noopener noreferrer nofollow">x</a><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<a href="https://example.com/" rel="noopener noreferrer nofollow">y</a>'
    )


def test_an_oversized_body_part_is_kept_as_an_attachment() -> None:
    huge = "<p>" + "报表" * (3 * 1024 * 1024) + "</p>"  # 18 MB of UTF-8
    raw = (
        HEAD + 'Subject: x\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\n见附件\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + huge + "\r\n--b--\r\n"
    )
    with parse(raw) as parsed:
        assert (parsed.text, parsed.html) == ("见附件", None)
        assert [(a.filename, a.size) for a in parsed.attachments] == [
            ("message.html", len(huge.encode()))
        ]


def test_html_only_mail_gets_plain_text() -> None:
    raw = (
        HEAD + "Subject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<html><head><style>p{}</style></head><body><p>第一行</p><div>第二行<br>第三行"
        "</div><blockquote>引用</blockquote></body></html>"
    )
    parsed = parse(raw)
    assert parsed.text == "第一行\n第二行\n第三行\n> 引用"
    assert parsed.html == "<p>第一行</p><div>第二行<br>第三行</div><blockquote>引用</blockquote>"


def test_broken_structure_loses_no_text() -> None:
    # No closing boundary, a part without headers, LF line ends, an mbox envelope line.
    raw = (
        "From sender@example.com Thu Nov 26 09:12:00 2026\n"
        + HEAD.replace("\r\n", "\n")
        + 'Subject: x\nContent-Type: multipart/mixed; boundary="b"\n\n'
        "--b\n\n第一部分\n--b\nContent-Type: text/plain\n\n第二部分\n"
    )
    assert parse(raw).text == "第一部分\n第二部分\n"


def test_multipart_whose_boundary_never_appears_is_text() -> None:
    raw = HEAD + 'Subject: x\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\n仅有正文\r\n'
    assert parse(raw).text == "仅有正文\n"


def test_header_block_without_blank_line_and_unindented_continuation() -> None:
    raw = (
        HEAD + "X-Tracker: AAAA\r\nBBBB\r\nSubject: folded\r\n"
        "Content-Type: text/plain\r\nthis line starts the body\r\n"
    )
    parsed = parse(raw)
    assert parsed.headers["X-Tracker"] == "AAAA BBBB"
    assert parsed.subject == "folded"
    assert parsed.text == "this line starts the body\n"


def test_base64_with_junk_and_padding_inside() -> None:
    data = base64.b64encode(b"ab") + b"\r\n" + b"!!" + base64.b64encode(b"cd")
    raw = (
        (
            HEAD
            + 'Subject: x\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\n.\r\n'
            "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64"
            "\r\n\r\n"
        ).encode()
        + data
        + b"\r\n--b--\r\n"
    )
    with parse(raw) as parsed:
        assert parsed.attachments[0].read_bytes() == b"abcd"


def test_parts_beyond_the_limit_are_skipped() -> None:
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\n{i}\r\n" for i in range(1500))
    raw = HEAD + 'Subject: x\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts
    parsed = parse(raw + "--b--\r\n")
    # The message itself is part 1, so its first 999 sub-parts are read.
    assert parsed.text.split("\n") == [str(i) for i in range(999)]


# --- bounces and automatic mail ---------------------------------------------------------

DSN = (
    "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
    "To: service@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    "Auto-Submitted: auto-replied\r\n"
    'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
    "--r\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
    "--r\r\nContent-Type: message/delivery-status\r\n\r\n"
    "Reporting-MTA: dns; mx.example.com\r\n\r\n"
    "Final-Recipient: rfc822; Nobody@Example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient address rejected\r\n\r\n"
    "Final-Recipient: rfc822; slow@example.org\r\nAction: delayed\r\nStatus: 4.4.7\r\n\r\n"
    "--r\r\nContent-Type: message/rfc822\r\n\r\n"
    "Message-ID: <reply-7@aftercare.example>\r\nSubject: [AC-2026-000123]\r\n\r\nhi\r\n"
    "--r--\r\n"
)


def test_standard_delivery_status_report() -> None:
    with parse(DSN) as parsed:
        bounce = parsed.bounce
        assert bounce is not None
        assert (
            bounce.original_message_id,
            bounce.failed_recipients,
            bounce.status,
            bounce.diagnostic,
            bounce.permanent,
        ) == (
            "reply-7@aftercare.example",
            ["nobody@example.org"],
            "5.1.1",
            "550 5.1.1 <nobody@example.org>: Recipient address rejected",
            True,
        )
        assert is_automatic(parsed) == "auto_submitted"


def test_non_standard_bounce_from_a_mailer_daemon() -> None:
    raw = (
        "From: postmaster@mail.example.cn\r\nTo: service@example.com\r\n"
        "Subject: 系统退信\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "您发送的邮件无法送达以下收件人：\r\n\r\n<lost@example.cn>: 550 Mailbox not found\r\n\r\n"
        "------ 原邮件 ------\r\nMessage-ID: <out-9@aftercare.example>\r\n"
        "From: service@example.com\r\n"
    )
    bounce = parse(raw).bounce
    assert bounce is not None
    assert (bounce.original_message_id, bounce.failed_recipients, bounce.status) == (
        "out-9@aftercare.example",
        ["lost@example.cn"],
        None,
    )
    assert bounce.diagnostic == "<lost@example.cn>: 550 Mailbox not found"


def test_a_normal_mail_is_no_bounce_and_not_automatic() -> None:
    parsed = parse(HEAD + "Subject: 无法送达的快递\r\nAuto-Submitted: no\r\n\r\n快递没送到。")
    assert (parsed.bounce, is_automatic(parsed)) == (None, None)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Auto-Submitted: auto-generated", "auto_submitted"),
        ("Precedence: bulk", "precedence"),
        ("Precedence: junk", "precedence"),
        ("Precedence: list", "precedence"),
        ("X-Auto-Response-Suppress: All", "auto_response_suppress"),
        ("X-Autoreply: yes", "autoreply_header"),
        ("X-Autorespond: on", "autoreply_header"),
        ("List-Id: <dealers.example.com>", "mailing_list"),
    ],
)
def test_is_automatic_reasons(header: str, reason: str) -> None:
    assert is_automatic(parse(HEAD + f"Subject: x\r\n{header}\r\n\r\nbody")) == reason


def test_mail_from_postmaster_is_automatic() -> None:
    parsed = parse("From: Postmaster <POSTMASTER@example.com>\r\nSubject: hi\r\n\r\nbody")
    assert is_automatic(parsed) == "mailer_daemon"


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "reason"),
    [(b"", "empty"), (b"just some words\r\nno header here\r\n", "no_headers")],
)
def test_unparseable_input(source: bytes, reason: str) -> None:
    with pytest.raises(MailParseError) as caught:
        parse_message(source)
    assert caught.value.reason_code == reason


@pytest.mark.parametrize("as_stream", [False, True])
def test_too_large_keeps_the_headers(as_stream: bool) -> None:
    raw = (HEAD + "Subject: big\r\nMessage-ID: <big@x>\r\n\r\n").encode() + b"x" * 5000
    with pytest.raises(MailParseError) as caught:
        parse_message(io.BytesIO(raw) if as_stream else raw, max_bytes=1000)
    error = caught.value
    assert error.reason_code == "too_large"
    assert error.headers is not None and error.headers["Message-ID"] == "<big@x>"
    assert str(error.message) == "邮件大小超过上限（1000 字节）。"


def test_unreadable_stream() -> None:
    class Broken(io.RawIOBase):
        def readline(self, size: int | None = -1) -> bytes:
            raise OSError("disk gone")

    with pytest.raises(MailParseError) as caught:
        parse_message(Broken())  # type: ignore[arg-type]
    assert caught.value.reason_code == "unreadable"


# --- memory --------------------------------------------------------------------------------


def test_large_attachment_is_spooled_not_held_in_memory() -> None:
    payload = bytes(range(256)) * (8 * 4096)  # 8 MiB
    head = (
        HEAD + 'Subject: x\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\n\r\nsee attachment\r\n--b\r\nContent-Type: video/mp4; name=a.mp4\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    source = io.BytesIO(head + base64.encodebytes(payload) + b"--b--\r\n")
    tracemalloc.start()
    parsed = parse_message(source)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    with parsed:
        attachment = parsed.attachments[0]
        assert (attachment.size, attachment.md5) == (
            len(payload),
            hashlib.md5(payload).hexdigest(),
        )
        assert attachment.file._rolled  # type: ignore[attr-defined]  # spilled to disk
    assert peak < len(payload) // 2


# --- fuzzing -------------------------------------------------------------------------------

SAMPLE = DSN.encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_only_raise_mail_parse_error(data: bytes) -> None:
    try:
        parse_message(data).close()
    except MailParseError as error:
        assert error.reason_code in {"empty", "no_headers"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_mail_parses_or_fails_cleanly(data: st.DataObject) -> None:
    raw = bytearray(SAMPLE)
    for _ in range(data.draw(st.integers(1, 12))):
        position = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        byte = data.draw(st.sampled_from([0, 10, 13, 45, 58, 59, 61, 62, 0x80, 0xFF, 0xE4]))
        if action == "replace":
            raw[position] = byte
        elif action == "delete":
            del raw[position]
        else:
            raw.insert(position, byte)
    try:
        parse_message(bytes(raw)).close()
    except MailParseError as error:
        assert error.reason_code in {"empty", "no_headers"}
