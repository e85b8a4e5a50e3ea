"""Conformance of the mail parser and reply stripping with three public fixture suites.

Shared by ``aftercare/intake/tests/test_conformance.py`` (one parametrised case per fixture)
and ``bench/mail_conformance.py`` (pass rates and failures as JSON). The fixtures are read in
place from ``shared/data`` (see each suite's README for format and licence).

Comparison rules, per suite:

``zammad`` (email-zammad-mail, raw .box files through `parse_message`): every key in the
fixture's ``expected`` must match:

* ``from_email``: equal ignoring case (AfterCare lowercases addresses).
* ``from_display_name``: equal after whitespace normalisation (runs of spaces, tabs and line
  breaks become one space; ends stripped) to ``ParsedMail.from_name``.
* ``from``, ``to``, ``cc``, ``reply-to``: Zammad prints address lists in its own format
  ("Name <a@b>", quotes only sometimes). Both sides are compared as lists of
  (name, lowercased address) pairs: the expected string is split with
  ``email.utils.getaddresses`` and names whitespace-normalised with outer quotes removed;
  ours is the decoded From header split the same way, and ``ParsedMail.to`` / ``cc`` /
  ``reply_to``. Entries without "@" (group names such as "undisclosed-recipients:;") are
  dropped on both sides.
* ``subject``: equal after whitespace normalisation (ParsedMail.subject is normalised by
  design; Zammad keeps raw runs of spaces); a missing subject (None) equals "".
* ``content_type``: equal.
* ``body``: Zammad's body is its own sanitised HTML (or text), so the visible text is
  compared: HTML on either side is rendered with `html_to_text`, then all whitespace is
  removed from both sides; Zammad's placeholder "no visible content" means an empty body.
* attachments: every expected attachment must be among ours with the same MD5, size and
  file name. Zammad's ``content-alternative`` entry (its copy of the HTML body, stored as
  "message.html") has no counterpart in AfterCare, which keeps that HTML as the body: it
  is satisfied when our content_type is "text/html".

``github`` (email-reply-parser-github, through `split_fragments`): fragment count,
quoted/signature/hidden flags, exact fragment text, regex matches (multi-line) and substring
tests of each assertion block, `visible_text` for ``parse_reply_equals``, and the time limit.

``talon`` (email-talon): standard replies: the first text/plain part of the .eml through
`extract_reply` equals the expected reply exactly; HTML replies: `extract_reply_html` then
`html_to_text` equal the expected text after deleting all whitespace; signatures:
`extract_signature(body, sender)` returns the expected signature and body as the fixture's
JSON describes; misc as described in each JSON.
"""

import email.utils
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aftercare.core.shared_data import shared_data_dir
from aftercare.intake.html_text import html_to_text
from aftercare.intake.mime import ParsedMail, address_list, parse_message
from aftercare.intake.replies import (
    extract_reply,
    extract_reply_html,
    extract_signature,
    split_fragments,
    visible_text,
)

SUITE_DIRS = {
    "zammad": "email-zammad-mail",
    "github": "email-reply-parser-github",
    "talon": "email-talon",
}

# Fixtures we fail on purpose, keyed "suite/fixture": in each, the expectation records a
# decoding defect of the reference implementation, or we follow the RFC where it does not.
KNOWN_FAILURES: dict[str, str] = {
    "zammad/mail021": (
        "spam HTML declared UTF-8 with stray Latin bytes: we decode the valid UTF-8 (Russian "
        "text) as UTF-8 and each stray byte as Windows-1252 ('oïered'); Zammad decoded the "
        "whole part as ISO-8859-2 ('oďered', the Russian as mojibake)"
    ),
    "zammad/mail035": (
        "From is a bare quoted string '\"finances8@…\"' without angle brackets: we take the "
        "address without the quotes; Zammad keeps the quotes in from_email"
    ),
    "zammad/mail046": (
        "display name in raw 8-bit GBK (no RFC 2047): we detect GBK and show '武兰成'; "
        "Zammad shows the bytes as ISO-8859-2 ('ÎäŔźłÉ')"
    ),
    "zammad/mail054": (
        "Content-Type's boundary parameter is on an unindented continuation line: we read it "
        "as folded (known header fields follow) and show the text and HTML; Zammad loses the "
        "boundary and reports no body"
    ),
    "zammad/mail064": (
        "attachment name RFC 2047-encoded in windows-1258 with combining accents: we decode "
        "Windows-1258 ('d’écran … à'); Zammad decodes the bytes as Latin-1 ('d’eìcran … aÌ')"
    ),
    "zammad/mail072": (
        "HTML body in windows-1258: we decode Windows-1258 ('à', 'août'); Zammad's body has "
        "ISO-8859-2 letters in their place ('ŕ', 'aoűt')"
    ),
    "zammad/mail073": (
        "RFC 2231 file name declared us-ascii but containing %F6: we decode the stray byte as "
        "Windows-1252 ('Wölbung'); Zammad shows a replacement character ('W�lbung')"
    ),
    "zammad/mail076": (
        "malformed From '\"Millions Lottery Spain transfer\"@example.com>': Zammad keeps the "
        "stray '>' in from_email and glues the address into the display name; we return the "
        "address without the '>' and no display name"
    ),
    "zammad/mail087": (
        "the second MIME part has no Content-Type, which RFC 2045 makes text/plain: we show the "
        "fax notice as the body; Zammad stores it as an attachment 'file' with an empty body "
        "(and takes 'Test test@example.com' from the unbracketed From as display name)"
    ),
    "talon/misc/reply-separated-by-hr": (
        "talon removes the whole <div> around the 'From:' block, including 'Bob' above the "
        "<hr>, which the sender wrote; we cut at the <hr> and keep it"
    ),
}


@dataclass
class CaseResult:
    suite: str
    fixture: str
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems


def suite_dir(suite: str) -> Path:
    return shared_data_dir() / SUITE_DIRS[suite]


def fixtures(suite: str) -> list[str]:
    """The fixture names of a suite, sorted (empty when the data set is absent)."""
    folder = suite_dir(suite)
    if not folder.is_dir():
        return []
    found = sorted(folder.rglob("*.expected.json"))
    return [str(path.relative_to(folder))[: -len(".expected.json")] for path in found]


def run_fixture(suite: str, fixture: str) -> CaseResult:
    result = CaseResult(suite, fixture)
    expectation = json.loads((suite_dir(suite) / f"{fixture}.expected.json").read_text("utf-8"))
    started = time.perf_counter()
    try:
        _RUNNERS[suite](fixture, expectation, result)
    except Exception as exc:  # a crash is a failed case, reported like the others
        result.problems.append(f"raised {type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - started
    return result


def _space(text: str | None) -> str:
    return re.sub(r"[ \t\r\n]+", " ", text or "").strip()


def _no_space(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _address_list(value: str | None) -> list[tuple[str, str]]:
    pairs = email.utils.getaddresses([value or ""])
    return [
        (_space(name).strip("\"' "), address.strip().lower())
        for name, address in pairs
        if "@" in address
    ]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


# --- zammad -----------------------------------------------------------------------------


def _run_zammad(fixture: str, expectation: dict[str, Any], result: CaseResult) -> None:
    with (suite_dir("zammad") / f"{fixture}.box").open("rb") as source:
        parsed = parse_message(source)
    with parsed:
        expected = expectation["expected"]
        for key, value in expected.items():
            if key == "body":
                html = expected.get("content_type") == "text/html"
                problem = _check_body(value, parsed, html=html)
            else:
                problem = _ZAMMAD_CHECKS[key](value, parsed)
            if problem:
                result.problems.append(f"{key}: {problem}")
        result.problems.extend(_zammad_attachments(expectation["attachments"], parsed))


def _mismatch(expected: Any, got: Any) -> str | None:
    return None if expected == got else f"expected {_short(expected)}, got {_short(got)}"


def _our_body_text(parsed: ParsedMail) -> str:
    if parsed.html is not None:
        return html_to_text(parsed.html)
    return parsed.text


# HTML 4 and HTML 5 map &lang; / &rang; to different code points.
_ANGLES = str.maketrans(
    {"\u2329": "\u27e8", "\u3008": "\u27e8", "\u232a": "\u27e9", "\u3009": "\u27e9"}
)


def _check_body(value: str, parsed: ParsedMail, *, html: bool) -> str | None:
    if value == "no visible content":
        value = ""
    if html:
        value = html_to_text(value)
    expected = _no_space(value).translate(_ANGLES)
    got = _no_space(_our_body_text(parsed)).translate(_ANGLES)
    if expected == got:
        return None
    index = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b), None)
    index = min(len(expected), len(got)) if index is None else index
    return (
        f"visible text differs at character {index}: expected "
        f"{_short(expected[max(0, index - 20) : index + 40])}, "
        f"got {_short(got[max(0, index - 20) : index + 40])}"
    )


_ZAMMAD_CHECKS: dict[str, Callable[[Any, ParsedMail], str | None]] = {
    "from": lambda value, parsed: _mismatch(_address_list(value), _our_from(parsed)),
    "from_email": lambda value, parsed: _mismatch(
        (value or "").lower(), (parsed.from_email or "").lower()
    ),
    "from_display_name": lambda value, parsed: _mismatch(_space(value), parsed.from_name),
    "to": lambda value, parsed: _mismatch(_address_list(value), _pairs(parsed.to)),
    "cc": lambda value, parsed: _mismatch(_address_list(value), _pairs(parsed.cc)),
    "reply-to": lambda value, parsed: _mismatch(_address_list(value), _pairs(parsed.reply_to)),
    "subject": lambda value, parsed: _mismatch(_space(value), parsed.subject),
    "content_type": lambda value, parsed: _mismatch(value, parsed.content_type),
}


def _our_from(parsed: ParsedMail) -> list[tuple[str, str]]:
    # The From field the parser took the sender from (spam repeats From with junk first).
    for value in parsed.headers.get_all("From"):
        if address_list(value):
            return _pairs(address_list(value))
    return []


def _pairs(addresses: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(_space(name).strip("\"' "), address) for name, address in addresses]


def _zammad_attachments(expected: list[dict[str, Any]], parsed: ParsedMail) -> list[str]:
    problems = []
    ours = {attachment.md5: attachment for attachment in parsed.attachments}
    for attachment in expected:
        if attachment["preferences"].get("content-alternative"):
            if parsed.content_type != "text/html":
                problems.append(f"attachment {attachment['filename']!r}: no HTML body")
            continue
        found = ours.get(attachment["md5"])
        if found is None:
            problems.append(
                f"attachment {attachment['filename']!r} ({attachment['size']} bytes): no "
                f"attachment with its MD5; ours: "
                f"{_short([(a.filename, a.size) for a in parsed.attachments])}"
            )
        elif found.filename != attachment["filename"] or found.size != attachment["size"]:
            problems.append(
                f"attachment name/size: expected {_short(attachment['filename'])} "
                f"({attachment['size']}), got {_short(found.filename)} ({found.size})"
            )
    return problems


# --- github ------------------------------------------------------------------------------


def _run_github(fixture: str, expectation: dict[str, Any], result: CaseResult) -> None:
    text = (suite_dir("github") / expectation["fixture"]).read_text("utf-8")
    started = time.perf_counter()
    fragments = split_fragments(text)
    seconds = time.perf_counter() - started
    problems = result.problems
    for block in expectation["assertions"]:
        name = block["test"]
        count = block.get("fragment_count")
        if count is not None and count != len(fragments):
            problems.append(f"{name}: {len(fragments)} fragments, expected {count}")
        for flag in ("quoted", "signature", "hidden"):
            if flag in block:
                got = [getattr(fragment, flag) for fragment in fragments]
                if got != block[flag]:
                    problems.append(f"{name}: {flag} {got}, expected {block[flag]}")

        def fragment(index: str) -> str | None:
            position = int(index)
            return fragments[position].content if position < len(fragments) else None

        for index, wanted in block.get("fragment_equals", {}).items():
            if fragment(index) != wanted:
                problems.append(f"{name}: fragment {index} is {_short(fragment(index))}")
        for index, patterns in block.get("fragment_matches", {}).items():
            for pattern in patterns:
                if not re.search(pattern, fragment(index) or "", re.MULTILINE):
                    problems.append(f"{name}: fragment {index} does not match {pattern!r}")
        for index, needle in block.get("fragment_contains", {}).items():
            if needle not in (fragment(index) or ""):
                problems.append(f"{name}: fragment {index} lacks {needle!r}")
        if "parse_reply_equals" in block:
            got_text = visible_text(fragments)
            if got_text != block["parse_reply_equals"]:
                problems.append(f"{name}: visible text {_short(got_text)}")
        if "max_seconds" in block and seconds > block["max_seconds"]:
            problems.append(f"{name}: took {seconds:.2f} s, limit {block['max_seconds']} s")
        if block["test"] == "test_encoding_should_be_maintained":
            # Nothing lost or altered: the fragments hold exactly the input's characters.
            joined = "".join(fragment.content for fragment in fragments)
            if not fragments or _no_space(joined) != _no_space(text):
                problems.append(f"{name}: fragments do not reproduce the text")


# --- talon -------------------------------------------------------------------------------


def _run_talon(fixture: str, expectation: dict[str, Any], result: CaseResult) -> None:
    folder = suite_dir("talon") / fixture.rsplit("/", 1)[0]
    group = fixture.split("/", 1)[0]
    problems = result.problems
    if group == "standard_replies":
        with (folder / expectation["input"]).open("rb") as source:
            parsed = parse_message(source)
        with parsed:
            got = extract_reply(parsed.text)
        if got != expectation["expected_reply_text"]:
            problems.append(f"reply {_short(got)}")
    elif group == "html_replies":
        markup = (folder / expectation["input"]).read_text("utf-8")
        got = html_to_text(extract_reply_html(markup))
        if _no_space(got) != _no_space(expectation["expected_plain_reply"]):
            problems.append(f"reply text {_short(got)}")
    elif group == "signature_stripped":
        stem = folder / expectation["input"][0].removesuffix("_body")
        body = stem.with_name(stem.name + "_body").read_text("utf-8")
        sender = stem.with_name(stem.name + "_sender").read_text("utf-8").strip()
        raw_signature = stem.with_name(stem.name + "_signature").read_text("utf-8")
        text, signature = extract_signature(body, sender)
        if (signature or "").strip() != expectation["expected_signature"]:
            problems.append(f"signature {_short(signature)}")
        kept = body.strip()[: len(body.strip()) - len(raw_signature)].strip()
        if text.strip() != kept:
            problems.append(f"text without signature {_short(text.strip()[-80:])}")
    elif fixture.endswith("reply-quotations-share-block"):
        got = extract_reply((folder / expectation["input"]).read_text("utf-8"))
        if not got or "From" in got:
            problems.append(f"reply {_short(got)}")
    elif fixture.endswith("reply-separated-by-hr"):
        got = extract_reply_html((folder / expectation["input"]).read_text("utf-8"))
        if _no_space(got) != expectation["expected_html_no_whitespace"]:
            problems.append(f"html {_short(_no_space(got))}")
    else:
        problems.append("no comparison rule for this fixture")


_RUNNERS: dict[str, Callable[[str, dict[str, Any], CaseResult], None]] = {
    "zammad": _run_zammad,
    "github": _run_github,
    "talon": _run_talon,
}
