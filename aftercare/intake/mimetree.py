"""Streaming split of a raw RFC 822 message into its MIME tree.

The standard library's parser keeps every part's encoded body in memory as a string and
decodes it into another copy, so a 25 MB attachment costs well over 100 MB. This module reads
the message line by line instead: headers are kept as raw bytes, and each leaf part's body is
transfer-decoded (base64, quoted-printable, uuencode) as it streams past and written to a
spooled temporary file (memory up to 1 MB, disk above) with its MD5 and size computed on the
way. Peak memory stays a small constant however large the attachments are.

It is lenient the way mail demands: a missing closing boundary, parts without headers, a
header block that runs into the body, boundaries that never appear and bare LF line endings
are all accepted. Decoding charsets and choosing the body are left to `aftercare.intake.mime`.
"""

import binascii
import contextlib
import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from email.message import Message
from typing import IO, BinaryIO

from aftercare.intake.charsets import decode_bytes

READ_CHUNK = 64 * 1024  # longest line piece read at once; longer lines arrive in pieces
SPOOL_IN_MEMORY = 1024 * 1024  # a part's decoded body spills to disk above this size
_BATCH = 256 * 1024  # encoded bytes collected before each decode and write
MAX_DEPTH = 40  # deeper multipart nesting is kept as an opaque leaf
# Parts beyond this many are skipped (the raw message, kept by the caller, still has them):
# each part costs a spooled file, and a hostile message could hold millions.
MAX_PARTS = 1000
_MAX_HEADER_BYTES = 1024 * 1024  # per header block; the rest of a monster block is dropped


class MessageTooLarge(Exception):
    """The input passed the byte limit given to `LineReader`."""


class LineReader:
    """Lines of a binary stream, each at most READ_CHUNK bytes, with one-line push-back.

    `at_line_start` tells whether the last line returned starts a line of the message (a
    piece of an overlong line does not, so it can never be taken for a boundary or header).
    """

    def __init__(self, stream: "BinaryIO | IO[bytes]", limit: int | None = None) -> None:
        self._stream = stream
        self._limit = limit
        self._pushed: list[tuple[bytes, bool]] = []
        self._next_starts_line = True
        self.at_line_start = True
        self.consumed = 0
        self.parts = 0

    def readline(self) -> bytes:
        if self._pushed:
            line, self.at_line_start = self._pushed.pop()
            return line
        line = self._stream.readline(READ_CHUNK)
        self.consumed += len(line)
        if self._limit is not None and self.consumed > self._limit:
            raise MessageTooLarge
        self.at_line_start = self._next_starts_line
        self._next_starts_line = line.endswith(b"\n")
        return line

    def unread(self, line: bytes, at_line_start: bool) -> None:
        self._pushed.append((line, at_line_start))


class SpooledBody:
    """A part's decoded bytes in a spooled temporary file, with size and MD5."""

    def __init__(self) -> None:
        # Owned by whoever ends up holding the body; closed by ParsedMail.close().
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, mode="w+b")  # noqa: SIM115
        self._digest = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, data: bytes) -> None:
        if data:
            self.file.write(data)
            self._digest.update(data)
            self.size += len(data)

    @property
    def md5(self) -> str:
        return self._digest.hexdigest()

    def read_bytes(self, limit: int = -1) -> bytes:
        self.file.seek(0)
        data = self.file.read(limit)
        self.file.seek(0)
        return data

    def close(self) -> None:
        self.file.close()


@dataclass(eq=False)
class MimePart:
    """One node of the MIME tree: raw headers plus either children or a decoded body."""

    headers: list[tuple[str, bytes]]
    default_type: str = "text/plain"
    children: list["MimePart"] = field(default_factory=list)
    body: SpooledBody | None = None
    # A multipart whose boundary never shows up keeps its whole body here.
    preamble: SpooledBody | None = None
    _params: Message | None = None

    def header(self, name: str) -> bytes | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def params(self) -> Message:
        """A header-only `email.message.Message` for Content-Type / Content-Disposition
        parameter parsing (RFC 2231 continuations and charsets included)."""
        if self._params is None:
            message = Message()
            for name in ("Content-Type", "Content-Disposition"):
                value = self.header(name)
                if value is not None:
                    # Raw 8-bit parameters (GBK file names) are decoded here, because the
                    # email package would turn them into replacement characters.
                    message[name] = decode_bytes(unfold(value), None)
            self._params = message
        return self._params

    @property
    def content_type(self) -> str:
        raw = self.header("Content-Type")
        if raw is None:
            return self.default_type
        main = unfold(raw).split(b";", 1)[0].strip().lower()
        text = main.decode("ascii", "replace")
        if text.count("/") != 1 or not all(text.split("/")):
            # RFC 2045: an invalid type means text/plain; a bare "text" is common enough.
            return "text/plain"
        return text

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/")

    def boundary(self) -> bytes | None:
        # Read from the raw bytes: the boundary must match the body byte for byte.
        raw = self.header("Content-Type")
        match = _BOUNDARY.search(unfold(raw)) if raw is not None else None
        if match is None:
            return None
        value = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
        return value or None

    def walk_bodies(self) -> list[SpooledBody]:
        bodies = [body for body in (self.body, self.preamble) if body is not None]
        for child in self.children:
            bodies.extend(child.walk_bodies())
        return bodies


_BOUNDARY = re.compile(rb"""(?i)(?:^|[;\s])boundary\s*=\s*(?:"([^"]*)"|([^;\s"]+))""")


def unfold(value: bytes) -> bytes:
    """A header value with its folding line breaks removed, outer whitespace stripped."""
    return re.sub(rb"\r?\n(?=[ \t])", b"", value).strip()


Terminator = tuple[bytes, bool]  # (boundary, is the closing "--boundary--")


def parse_tree(reader: LineReader, root: MimePart | None = None) -> MimePart:
    """Read a whole message from `reader` into a MimePart tree (bodies spooled).

    Pass an empty `root` to keep what was read if reading stops with an exception (the
    headers of a message over the size limit)."""
    root = root if root is not None else MimePart([])
    _read_part(reader, [], depth=0, top=True, part=root)
    return root


def _read_part(
    reader: LineReader,
    boundaries: list[bytes],
    *,
    depth: int,
    top: bool = False,
    part: MimePart | None = None,
) -> tuple[MimePart, Terminator | None]:
    part = part if part is not None else MimePart([])
    reader.parts += 1
    end = _read_headers(reader, boundaries, part.headers, top=top)
    if end is not None:
        part.body = SpooledBody()
        return part, end
    return part, _read_body(reader, part, boundaries, depth)


def read_headers(stream: "BinaryIO | IO[bytes]") -> list[tuple[str, bytes]]:
    """The header fields at the start of `stream` (reads at most 1 MB)."""
    reader = LineReader(stream, limit=_MAX_HEADER_BYTES)
    headers: list[tuple[str, bytes]] = []
    with contextlib.suppress(MessageTooLarge):  # what was read so far is what we keep
        _read_headers(reader, [], headers, top=True)
    return headers


def read_part_headers(part: MimePart) -> MimePart:
    """The headers of an embedded message (a message/rfc822 part's body) as a MimePart."""
    if part.body is None:
        return MimePart([])
    part.body.file.seek(0)
    headers = read_headers(part.body.file)
    part.body.file.seek(0)
    return MimePart(headers)


def _read_body(
    reader: LineReader, part: MimePart, boundaries: list[bytes], depth: int
) -> Terminator | None:
    boundary = part.boundary() if part.is_multipart else None
    if boundary is not None and depth < MAX_DEPTH and boundary not in boundaries:
        return _read_multipart(reader, part, boundary, boundaries, depth)
    part.body = SpooledBody()
    encoding = unfold(part.header("Content-Transfer-Encoding") or b"").lower()
    # 7bit content (the default) can only be lines of text, so its canonical CRLF line
    # breaks become LF as clients store them. 8bit, binary, quoted-printable and base64 may
    # carry binary data (a PDF in quoted-printable) and stay byte-exact.
    seven_bit = encoding in (b"", b"7bit")
    return _stream_leaf(reader, part.body, _decoder_for(encoding), boundaries, lf_breaks=seven_bit)


def _read_multipart(
    reader: LineReader, part: MimePart, boundary: bytes, outer: list[bytes], depth: int
) -> Terminator | None:
    active = [*outer, boundary]
    part.preamble = SpooledBody()
    end = _stream_leaf(reader, part.preamble, _Identity(), active)
    child_type = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
    while end is not None and end == (boundary, False):
        if reader.parts >= MAX_PARTS:
            end = _stream_leaf(reader, None, _Identity(), active)
            continue
        child, end = _read_part(reader, active, depth=depth + 1)
        child.default_type = child_type
        part.children.append(child)
    if end == (boundary, True):
        # The epilogue is not content; skip it up to an outer boundary or the end.
        end = _stream_leaf(reader, None, _Identity(), outer)
    return end


def _match_boundary(line: bytes, boundaries: list[bytes]) -> Terminator | None:
    stripped = line.rstrip(b" \t\r\n")
    for boundary in reversed(boundaries):
        if stripped.startswith(b"--" + boundary):
            rest = stripped[len(boundary) + 2 :]
            if rest == b"":
                return boundary, False
            if rest == b"--":
                return boundary, True
    return None


def _read_headers(
    reader: LineReader, boundaries: list[bytes], headers: list[tuple[str, bytes]], *, top: bool
) -> Terminator | None:
    """Append the header fields of a header block to `headers`; return the boundary that
    ended the block early, if one did."""
    stored = 0
    first = True
    while True:
        line = reader.readline()
        if not line:
            return None
        at_start = reader.at_line_start
        if at_start and boundaries and line.startswith(b"--"):
            end = _match_boundary(line, boundaries)
            if end is not None:
                return end
        if top and first and line.startswith(b"From ") and at_start:
            first = False  # the envelope line of an mbox entry
            continue
        first = False
        if at_start and line in (b"\n", b"\r\n"):
            return None
        stored += len(line)
        if stored > _MAX_HEADER_BYTES:
            continue
        if headers and (not at_start or line[:1] in (b" ", b"\t")):
            name, value = headers[-1]
            headers[-1] = (name, value + line)
            continue
        field_name = _header_name(line)
        if field_name is not None:
            headers.append((field_name, line.partition(b":")[2]))
            continue
        if headers and _more_headers_follow(reader, boundaries):
            # A folded value whose continuation lines lost their indentation.
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line)
            continue
        # Not a header: the body starts without the blank line (common in broken mailers).
        reader.unread(line, at_start)
        return None


_KNOWN_HEADER = re.compile(
    rb"(?i)(x-[\w-]+|from|to|cc|bcc|subject|date|message-id|in-reply-to|references|"
    rb"reply-to|sender|return-path|received|mime-version|content-[\w-]+|thread-[\w-]+|"
    rb"delivered-to|list-[\w-]+|precedence|auto-submitted|importance|priority|user-agent|"
    rb"dkim-signature|authentication-results|arc-[\w-]+|organization)"
)
_LOOKAHEAD_LINES = 100


def _header_name(line: bytes) -> str | None:
    name, colon, _value = line.partition(b":")
    name = name.rstrip(b" \t")
    if colon and name and all(33 <= byte <= 126 for byte in name):
        return name.decode("ascii")
    return None


def _more_headers_follow(reader: LineReader, boundaries: list[bytes]) -> bool:
    """Whether a well-known header field follows within a few lines, before any blank line
    (the lines read ahead are pushed back)."""
    seen: list[tuple[bytes, bool]] = []
    found = False
    while len(seen) < _LOOKAHEAD_LINES:
        line = reader.readline()
        if not line:
            break
        seen.append((line, reader.at_line_start))
        if line in (b"\n", b"\r\n") or (boundaries and _match_boundary(line, boundaries)):
            break
        name = _header_name(line) if reader.at_line_start else None
        if name is not None:
            found = _KNOWN_HEADER.fullmatch(name.encode("ascii")) is not None
            break
    for line, at_start in reversed(seen):
        reader.unread(line, at_start)
    return found


def _stream_leaf(
    reader: LineReader,
    sink: SpooledBody | None,
    decoder: "_Decoder",
    boundaries: list[bytes],
    *,
    lf_breaks: bool = False,
) -> Terminator | None:
    """Copy body lines through `decoder` into `sink` until a boundary or the end.

    The line break before a boundary belongs to the boundary (RFC 2046), so each line's
    break is held back until the next line shows it is not a boundary.
    """
    batch: list[bytes] = []
    batched = 0
    held_break = b""
    end: Terminator | None = None
    while True:
        line = reader.readline()
        if not line:
            batch.append(held_break)
            break
        if boundaries and reader.at_line_start and line.startswith(b"--"):
            end = _match_boundary(line, boundaries)
            if end is not None:
                break
        if line.endswith(b"\r\n"):
            content, line_break = line[:-2], b"\n" if lf_breaks else b"\r\n"
        elif line.endswith(b"\n"):
            content, line_break = line[:-1], b"\n"
        else:
            content, line_break = line, b""
        batch.append(held_break)
        batch.append(content)
        held_break = line_break
        batched += len(line)
        if batched >= _BATCH:
            if sink is not None:
                sink.write(decoder.feed(b"".join(batch)))
            batch.clear()
            batched = 0
    if sink is not None:
        sink.write(decoder.feed(b"".join(batch)))
        sink.write(decoder.close())
    return end


class _Decoder:
    def feed(self, data: bytes) -> bytes:
        raise NotImplementedError

    def close(self) -> bytes:
        return b""


class _Identity(_Decoder):
    def feed(self, data: bytes) -> bytes:
        return data


class _Base64(_Decoder):
    """Incremental, lenient base64: junk characters are skipped, and padding in the middle
    (concatenated encoder output) starts a new run instead of ending the data."""

    _JUNK = re.compile(rb"[^A-Za-z0-9+/=]+")

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        data = self._rest + self._JUNK.sub(b"", data)
        out: list[bytes] = []
        while (pad := data.find(b"=")) >= 0:
            out.append(_decode_base64_run(data[:pad]))
            end = pad
            while end < len(data) and data[end] == 0x3D:
                end += 1
            data = data[end:]
        usable = len(data) - len(data) % 4
        out.append(_decode_base64_run(data[:usable]))
        self._rest = data[usable:]
        return b"".join(out)

    def close(self) -> bytes:
        rest, self._rest = self._rest, b""
        return _decode_base64_run(rest)


def _decode_base64_run(run: bytes) -> bytes:
    if len(run) % 4 == 1:
        run = run[:-1]  # a lone trailing character carries no whole byte
    run += b"=" * (-len(run) % 4)
    try:
        return binascii.a2b_base64(run)
    except binascii.Error:
        return b""


class _QuotedPrintable(_Decoder):
    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        data = self._rest + data
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > READ_CHUNK:
            # An endless line: decode all but a possibly split "=XY" escape at the end.
            escape = data.rfind(b"=", len(data) - 2)
            cut = escape if escape >= 0 else len(data)
        self._rest = data[cut:]
        return binascii.a2b_qp(data[:cut]) if cut else b""

    def close(self) -> bytes:
        rest, self._rest = self._rest, b""
        return binascii.a2b_qp(rest)


class _Uuencode(_Decoder):
    def __init__(self) -> None:
        self._rest = b""
        self._state = "before"

    def feed(self, data: bytes) -> bytes:
        data = self._rest + data
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        return self._lines(data[:cut])

    def close(self) -> bytes:
        rest, self._rest = self._rest, b""
        return self._lines(rest)

    def _lines(self, data: bytes) -> bytes:
        out = bytearray()
        for line in data.splitlines():
            if self._state == "before":
                if line.startswith(b"begin"):
                    self._state = "inside"
            elif self._state == "inside":
                if line.strip() == b"end":
                    self._state = "after"
                elif line.strip():
                    out += _uudecode_line(line)
        return bytes(out)


def _uudecode_line(line: bytes) -> bytes:
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:
        # Some encoders drop trailing spaces; decode the length the line announces.
        length = ((line[0] - 32) & 63) * 4 // 3 + 3 if line else 0
        try:
            return binascii.a2b_uu(line[:length])
        except binascii.Error:
            return b""


def _decoder_for(encoding: bytes) -> _Decoder:
    if encoding == b"base64":
        return _Base64()
    if encoding == b"quoted-printable":
        return _QuotedPrintable()
    if encoding in (b"x-uuencode", b"uuencode", b"x-uue", b"uue"):
        return _Uuencode()
    return _Identity()
