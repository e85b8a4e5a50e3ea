"""Reply stripping: the Chinese and English client formats the issue names, signatures,
HTML quote markers, GitHub-style fragments, and run time on hostile input."""

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aftercare.intake.mime import parse_message
from aftercare.intake.replies import (
    extract_reply,
    extract_reply_html,
    extract_signature,
    split_fragments,
    strip_reply,
    visible_text,
)

ORIGINAL = "您好，请将机器寄回维修中心。\n"

# Replies as each client composes them (plain-text part), new text first.
CLIENT_REPLIES = {
    "qq_mail": (
        "好的，我明天把机器寄回。\n\n"
        "------------------\u00a0原始邮件\u00a0------------------\n"
        '发件人: "售后服务部"<service@example.com>;\n'
        "发送时间: 2026年11月26日(星期四) 上午9:12\n"
        '收件人: "张三"<zhangsan@qq.com>;\n'
        "主题: 回复：维修进度 [AC-2026-000123]\n\n" + ORIGINAL,
        "好的，我明天把机器寄回。",
    ),
    "qq_mail_english_ui": (
        "Received, thanks.\n\n"
        "------------------ Original ------------------\n"
        'From:  "售后服务部"<service@example.com>;\n'
        "Date:  Thu, Nov 26, 2026 09:12 AM\n"
        'To:  "张三"<zhangsan@qq.com>;\n'
        "Subject:  维修进度\n\n" + ORIGINAL,
        "Received, thanks.",
    ),
    "foxmail": (
        "已收到，谢谢！\n\n\n"
        "From: 售后服务部\nDate: 2026-11-26 09:12\nTo: zhangsan\nSubject: 回复：维修进度\n"
        + ORIGINAL,
        "已收到，谢谢！",
    ),
    "netease_163_unquoted": (
        "收到，下午寄出。\n\n\n\n"
        '在 2026-11-26 09:12:34，"售后服务部" <service@example.com> 写道：\n\n' + ORIGINAL,
        "收到，下午寄出。",
    ),
    "netease_126_quoted": (
        "收到，下午寄出。\n\n"
        '在 2026-11-26 09:12:34，"售后服务部" <service@example.com> 写道：\n'
        "> 您好，请将机器寄回维修中心。\n>\n",
        "收到，下午寄出。",
    ),
    "alibaba_mail": (
        "已寄出，单号 SF1234567890。\n"
        "------------------------------------------------------------------\n"
        "发件人：售后服务部<service@example.com>\n"
        "发送时间：2026年11月26日(星期四) 09:12\n"
        "收件人：张三<zhangsan@aliyun.com>\n"
        "主　题：回复：维修进度\n\n" + ORIGINAL,
        "已寄出，单号 SF1234567890。",
    ),
    "outlook_chinese": (
        "好的，谢谢。\n\n________________________________\n"
        "发件人: 售后服务部 <service@example.com>\n发送时间: 2026年11月26日 9:12\n"
        "收件人: 张三 <zhangsan@example.com>\n主题: 回复: 维修进度\n\n" + ORIGINAL,
        "好的，谢谢。",
    ),
    "outlook_original_message_chinese": (
        "好的\n\n-----原始邮件-----\n发件人: 售后服务部 <service@example.com>\n"
        "发送时间: 2026年11月26日 9:12\n收件人: 张三\n主题: 维修\n\n请重启。\n",
        "好的",
    ),
    "outlook_english": (
        "Thanks, it works now.\n\n-----Original Message-----\n"
        "From: Service <service@example.com>\nSent: Thursday, November 26, 2026 9:12 AM\n"
        "To: Zhang San\nSubject: RE: repair\n\nPlease restart.\n",
        "Thanks, it works now.",
    ),
    "gmail_chinese": (
        "明白了。\n\n张三 <zhangsan@gmail.com> 于2026年11月26日周四 09:12写道：\n\n"
        "> 您好，请将机器寄回维修中心。\n>\n",
        "明白了。",
    ),
    "gmail_english": (
        "Will do.\n\nOn Thu, Nov 26, 2026 at 9:12 AM Service <service@example.com> wrote:\n\n"
        "> Please send the unit back.\n",
        "Will do.",
    ),
    "apple_mail_chinese_iphone": (
        "好的\n\n发自我的iPhone\n\n"
        "> 在 2026年11月26日，09:12，售后服务部 <service@example.com> 写道：\n> \n"
        "> 您好，请将机器寄回维修中心。\n",
        "好的",
    ),
    "thunderbird_chinese": (
        "在 2026/11/26 09:12, 售后服务部 写道:\n> 您好，请将机器寄回维修中心。\n\n已经寄出了。\n",
        "已经寄出了。",
    ),
    "netease_mail_master_signoff": (
        "好的，收到。\n\n来自网易邮箱大师\n在2026年11月26日 09:12，售后服务部写道：\n您好\n",
        "好的，收到。",
    ),
    "signature_separator": (
        "机器已经修好了，谢谢！\n\n-- \n张三\n华东区经销商\n电话：0755-12345678\n",
        "机器已经修好了，谢谢！",
    ),
    "sent_from_my_iphone": ("Here you go.\n\nSent from my iPhone\n", "Here you go."),
    "huawei_signoff": ("图片见附件。\n\n发自我的华为手机\n", "图片见附件。"),
}


@pytest.mark.parametrize(
    ("text", "expected"), list(CLIENT_REPLIES.values()), ids=list(CLIENT_REPLIES)
)
def test_strip_reply_client_formats(text: str, expected: str) -> None:
    assert strip_reply(text, sender="zhangsan@example.com") == expected


def test_inline_answers_between_quoted_lines_are_kept() -> None:
    text = "> 序列号是多少？\n序列号 SN20261126001。\n> 哪天购买的？\n2026年10月1日。\n"
    assert strip_reply(text) == text.strip()


def test_forward_without_own_text_is_kept_whole() -> None:
    text = (
        "---------- Forwarded message ---------\nFrom: 李四 <lisi@example.com>\n"
        "Date: Thu, Nov 26, 2026\nSubject: 投诉\nTo: <service@example.com>\n\n产品有异味。\n"
    )
    assert strip_reply(text) == text.strip()


def test_forward_below_own_text_is_cut() -> None:
    text = (
        "请处理下面这封客户投诉。\n\n---------- 转发的邮件 ----------\n"
        "发件人：李四 <lisi@example.com>\n日期：2026年11月26日\n主题：投诉\n\n产品有异味。\n"
    )
    assert strip_reply(text) == "请处理下面这封客户投诉。"


def test_a_bare_quote_leaves_nothing() -> None:
    assert strip_reply("> 您好，请将机器寄回维修中心。\n> 谢谢\n") == ""


def test_ordinary_sentences_with_colons_are_not_headers() -> None:
    text = "故障现象如下：\n开机后风扇不转。\n\n型号：AC-200\n"
    assert strip_reply(text) == "故障现象如下：\n开机后风扇不转。\n\n型号：AC-200"


def test_sent_from_in_a_sentence_is_not_a_signature() -> None:
    text = "Here it is.\n\nSent from my desk, which is easier than my phone."
    assert strip_reply(text) == text


def test_signature_block_naming_the_sender() -> None:
    text = "附件是发票。\n\n张三\n华东区经销商"
    assert extract_signature(text, "张三") == ("附件是发票。", "张三\n华东区经销商")
    assert strip_reply(text) == text  # without the sender it is not recognisable


def test_signature_block_of_contact_details() -> None:
    text = "请尽快上门。\n\n王五\n手机：13800138000\n邮箱：wangwu@example.com"
    assert extract_signature(text) == (
        "请尽快上门。",
        "王五\n手机：13800138000\n邮箱：wangwu@example.com",
    )


def test_gmail_html_quote_is_cut_after_sanitising() -> None:
    raw = (
        "From: 张三 <zhangsan@example.com>\r\nTo: service@example.com\r\nSubject: Re: 维修\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        '<div dir="ltr">已寄出。</div><br><div class="gmail_quote"><div>张三 于 2026年11月26日'
        '</div><blockquote class="gmail_quote">请寄回。</blockquote></div>\r\n'
    ).encode()
    with parse_message(raw) as parsed:
        assert parsed.html is not None and 'class="gmail_quote"' in parsed.html
        assert strip_reply(parsed.text, html=parsed.html) == "已寄出。"


def test_outlook_html_reply_header_block_is_cut() -> None:
    markup = (
        '<div><p>好的，谢谢。</p></div><div id="divRplyFwdMsg"><b>发件人:</b> 售后服务部<br>'
        "<b>发送时间:</b> 2026年11月26日 9:12<br><b>主题:</b> 维修</div><div>请重启。</div>"
    )
    assert extract_reply_html(markup) == "<div><p>好的，谢谢。</p></div>"


def test_html_blockquote_with_attribution_line_is_cut() -> None:
    markup = (
        "<p>收到<br><br>在 2026年11月26日 09:12，客服 &lt;kefu@example.com&gt; 写道：</p>"
        "<blockquote>请寄回。</blockquote>"
    )
    assert extract_reply_html(markup) == "<p>收到<br></p>"


def test_extract_reply_keeps_the_signature() -> None:
    text = "Hello\n\nSent from my iPhone\n\nOn Apr 3, 2012, at 4:19 PM, bob wrote:\n\n> Hi"
    assert extract_reply(text) == "Hello\n\nSent from my iPhone"


def test_fragments_of_a_top_post() -> None:
    text = "Sounds good.\n\nOn Thu, Nov 26, 2026 at 9:12 AM, Li wrote:\n> Shall we?\n"
    fragments = split_fragments(text)
    # Read bottom-up: the trailing newline, the quote with its header and the blank line
    # above it, then the new text.
    assert [(f.content, f.quoted, f.hidden) for f in fragments] == [
        ("Sounds good.", False, False),
        ("\nOn Thu, Nov 26, 2026 at 9:12 AM, Li wrote:\n> Shall we?", True, True),
        ("", False, True),
    ]
    assert visible_text(fragments) == "Sounds good."


@pytest.mark.parametrize(
    "text",
    [
        "On " + "a " * 50_000 + "\n> x\n",  # an attribution line that never says "wrote:"
        ("> " + "引用" * 40 + "\n") * 20_000,  # 1 MB of quote
        "发件人: x\n" * 20_000,  # a header block that never ends
        "-" * 200_000 + "\n" + "Sent from my " + "word " * 10_000,
        "\n".join(f"On {i} wrote:" for i in range(20_000)),
    ],
    ids=["long-on-line", "long-quote", "endless-header-block", "long-rules", "many-on-lines"],
)
def test_hostile_input_is_handled_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    strip_reply(text, sender="a@example.com")
    split_fragments(text)
    assert time.perf_counter() - started < 2.0


def test_deeply_nested_html_does_not_exhaust_the_stack() -> None:
    markup = "<div>" * 50_000 + "新内容" + "</div>" * 50_000
    assert strip_reply("", html=markup) == "新内容"


_LINES = st.sampled_from(
    [
        "",
        "> 引用",
        ">> nested",
        "-- ",
        "--",
        "________________________________",
        "-----Original Message-----",
        "------------------ 原始邮件 ------------------",
        "发件人: 客服 <kefu@example.com>",
        "发送时间: 2026年11月26日 9:12",
        "From: a@example.com",
        "Sent: Thursday",
        "On Thu, Nov 26, 2026 at 9:12 AM, Li wrote:",
        "在 2026年11月26日 09:12，客服 写道：",
        "Sent from my iPhone",
        "发自我的iPhone",
        "好的，谢谢。",
        "Please send the unit back.",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_LINES, st.text(max_size=40)), max_size=40))
def test_stripping_only_removes_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    kept = {"", *(line.strip() for line in text.replace("\r", "\n").split("\n"))}
    result = strip_reply(text, sender="li@example.com")
    assert all(line.strip() in kept for line in result.split("\n"))
    fragments = split_fragments(text)
    joined = "".join(fragment.content for fragment in fragments)
    # Trailing whitespace and NULs are trimmed per line (as email_reply_parser does).
    assert re.sub(r"[\s\x00]", "", joined) == re.sub(r"[\s\x00]", "", text)
