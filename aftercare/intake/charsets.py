"""Turning the bytes of real-world mail into text.

Mail declares its charset in a header, and the declaration is often wrong or missing: GB2312
mail carries GBK characters, "us-ascii" or "iso-8859-1" mail carries UTF-8 or Windows-1252,
Japanese mail uses the Microsoft extensions of ISO-2022-JP. `decode_bytes` therefore decodes
with the declared charset's superset, falls back to UTF-8 and to charset detection, and as a
last resort replaces what cannot be decoded, so text is never lost and never raises.
`decode_encoded_words` decodes RFC 2047 header text with the same rules.
"""

import binascii
import codecs
import re
from collections.abc import Callable

import charset_normalizer

# Declared names mapped to the codec that decodes what such mail really contains.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gb_2312": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "chinese": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    # WHATWG decodes these as Windows-1252, and so does every mail client in practice.
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}
# Declarations that say nothing: treat as missing.
_MEANINGLESS = {"", "default", "unknown", "unknown-8bit", "x-unknown", "x-user-defined", "none"}
# Single-byte Western charsets that mislabelled UTF-8 mail hides behind most often.
_WESTERN = {"cp1252", "iso8859-15", "iso8859-2", "cp1250"}
_ISO_2022_JP = {"iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_ext"}
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def codec_for(declared: str | None) -> str | None:
    """The Python codec name that best decodes text declared as `declared`, or None when the
    declaration is missing or names no known charset."""
    if declared is None:
        return None
    name = declared.strip().strip("\"'").lower()
    if name in _MEANINGLESS:
        return None
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode `data` declared as charset `declared` (may be None or wrong); never raises."""
    if not data:
        return ""
    codec = codec_for(declared)
    if codec in _ISO_2022_JP:
        return _decode_iso_2022_jp(data)
    if codec not in ("utf-7", "utf-16", "utf-32", "hz") and not _NON_ASCII.search(data):
        return data.decode("ascii")
    if codec is None or codec in _WESTERN:
        # Mislabelled UTF-8 is far more common than Latin text that happens to be valid UTF-8.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    guessed = _detect_cjk(data)
    if guessed is not None:
        return guessed
    if codec in (None, "utf-8"):
        mixed = _mostly_utf8(data)
        if mixed is not None:
            return mixed
    guessed = _detect_statistically(data)
    if guessed is not None:
        return guessed
    # Last resort: the declared charset (or UTF-8) if only a few characters are broken (each
    # UTF-8 character has two or more high bytes), else Windows-1252, which maps nearly every
    # byte to a character.
    lenient = data.decode(codec or "utf-8", errors="replace")
    high_bytes = len(_NON_ASCII.findall(data))
    if lenient.count("\ufffd") * 4 <= high_bytes:
        return lenient
    return data.decode("cp1252", errors="replace")


def _cp1252_for_invalid_bytes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return bytes(bad).decode("cp1252", errors="replace"), error.end


codecs.register_error("aftercare-cp1252", _cp1252_for_invalid_bytes)


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 text with a few stray Windows-1252 bytes (pasted or concatenated text, spam):
    the valid sequences decode as UTF-8, each stray byte as Windows-1252."""
    lenient = data.decode("utf-8", errors="replace")
    invalid = lenient.count("\ufffd")
    high_bytes = len(_NON_ASCII.findall(data))
    if invalid * 2 > high_bytes - invalid or high_bytes == invalid:
        return None
    return data.decode("utf-8", errors="aftercare-cp1252")


def decode_header_bytes(data: bytes, hint: str | None = None) -> str:
    """Decode raw 8-bit header text (not allowed, yet common in Chinese mail).

    `hint` is the charset the message declares for its body. A Western hint is only trusted
    after the CJK check, because spam and old clients label GBK mail as ISO-8859-1.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    codec = codec_for(hint)
    if codec is not None and codec not in _WESTERN and codec not in _ISO_2022_JP:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    return _detect_cjk(data) or decode_bytes(data, hint)


def _detect_cjk(data: bytes) -> str | None:
    """Chinese or Japanese text in GBK/GB18030, Big5 or Shift_JIS, recognised by a test that
    works on short text, where statistical detection fails: the text must decode, and most
    of its characters must be among the commonly used ones of that charset (a Latin-1 "ü"
    decodes as a rare GBK character and is rejected)."""
    sample = data[:20_000]
    best_ratio, best_codec = 0.0, None
    for codec, is_common in _CJK_CANDIDATES:
        text = _strict_decode(sample, codec, cut=len(sample) < len(data))
        if text is None:
            continue
        wide = [char for char in text if ord(char) > 0x7F]
        if not wide:
            continue
        ratio = sum(1 for char in wide if is_common(char)) / len(wide)
        if ratio > best_ratio:
            best_ratio, best_codec = ratio, codec
    if best_codec is not None and best_ratio >= 0.8:
        return data.decode(best_codec, errors="replace")
    return None


def _detect_statistically(data: bytes) -> str | None:
    """charset-normalizer's guess among the single-byte charsets, for longer text."""
    if len(data) < 200:
        return None
    try:
        best = charset_normalizer.from_bytes(data[:20_000], cp_isolation=_DETECTABLE).best()
    except Exception:  # the detector is a heuristic; any failure just means "no guess"
        return None
    if best is None or best.encoding is None:
        return None
    return data.decode(best.encoding, errors="replace")


def _strict_decode(sample: bytes, codec: str, *, cut: bool) -> str | None:
    try:
        return sample.decode(codec)
    except UnicodeDecodeError:
        pass
    if cut:  # a multi-byte character may be split at the end of the sample
        try:
            return sample[:-1].decode(codec)
        except UnicodeDecodeError:
            pass
    return None


def _common_in(codec: str, lead_ranges: tuple[tuple[int, int], ...]) -> "_CharTest":
    def is_common(char: str) -> bool:
        if "\u3040" <= char <= "\u30ff" or "\uff01" <= char <= "\uff5e":
            return True  # kana and full-width ASCII
        try:
            encoded = char.encode(codec)
        except UnicodeEncodeError:
            return False
        return len(encoded) == 2 and any(low <= encoded[0] <= high for low, high in lead_ranges)

    return is_common


_CharTest = Callable[[str], bool]
# Lead-byte ranges of the frequently used characters and punctuation of each charset:
# GB2312 level 1 hanzi, Big5 frequent hanzi, JIS level 1 kanji.
_CJK_CANDIDATES: tuple[tuple[str, _CharTest], ...] = (
    ("gb18030", _common_in("gb2312", ((0xA1, 0xA9), (0xB0, 0xD7)))),
    ("big5hkscs", _common_in("big5", ((0xA1, 0xA3), (0xA4, 0xC6)))),
    ("cp932", _common_in("shift_jis", ((0x81, 0x84), (0x88, 0x98)))),
)
_DETECTABLE = ["cp1252", "cp1250", "cp1251", "koi8_r", "iso8859_7", "cp1254", "cp1257"]


# ISO-2022-JP as Japanese mailers really send it (CP50221: NEC specials such as ①, half-width
# katakana) is decoded by rewriting its JIS X 0208 byte pairs as Shift_JIS and decoding CP932.
_JIS_ESCAPE = re.compile(rb"\x1b(\(B|\(J|\(I|\$@|\$B|\$\(D|\$\(Q|\$\(O|&@\x1b\$B)")


def _decode_iso_2022_jp(data: bytes) -> str:
    try:
        return data.decode("iso2022_jp")
    except UnicodeDecodeError:
        pass
    out = bytearray()
    mode = b"(B"
    position = 0
    for match in _JIS_ESCAPE.finditer(data):
        out += _jis_run_to_sjis(data[position : match.start()], mode)
        mode = match.group(1)
        position = match.end()
    out += _jis_run_to_sjis(data[position:], mode)
    return out.decode("cp932", errors="replace")


def _jis_run_to_sjis(run: bytes, mode: bytes) -> bytes:
    if mode in (b"(B", b"(J"):
        return run
    if mode == b"(I":
        return bytes(byte + 0x80 if 0x21 <= byte <= 0x5F else byte for byte in run)
    out = bytearray()
    index = 0
    while index < len(run):
        first = run[index]
        if first in (0x0A, 0x0D) or index + 1 >= len(run):
            out.append(first)
            index += 1
            continue
        second = run[index + 1]
        index += 2
        if not (0x21 <= first <= 0x7E and 0x21 <= second <= 0x7E):
            out += b"?"
            continue
        lead = (first + 1) // 2 + (0x70 if first <= 0x5E else 0xB0)
        trail = second + (0x1F if first % 2 else 0x7E)
        if first % 2 and second >= 0x60:
            trail += 1
        out += bytes((lead, trail))
    return bytes(out)


# Encoded text may not contain spaces by the RFC, but mailers put them in Q words and every
# client decodes those; a word never spans a line break.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+?)\?([bBqQ])\?([^?\r\n]*?)\?=")
_BETWEEN_WORDS = re.compile(r"[ \t\r\n]*")


def decode_encoded_words(value: str) -> str:
    """Decode RFC 2047 encoded words in a header value.

    Adjacent words in one charset are joined before decoding, so a character split across two
    words (common for UTF-8 and GBK subjects) survives. Text around the words is kept as is;
    malformed words stay undecoded rather than raising.
    """
    if "=?" not in value:
        return value
    pieces: list[str] = []
    position = 0
    pending: list[tuple[str, bytes]] = []

    def flush() -> None:
        charset = None
        buffer = b""
        for word_charset, raw in pending:
            if charset is not None and word_charset != charset:
                pieces.append(decode_bytes(buffer, charset))
                buffer = b""
            charset = word_charset
            buffer += raw
        if charset is not None:
            pieces.append(decode_bytes(buffer, charset))
        pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if pending and not _BETWEEN_WORDS.fullmatch(between):
            flush()
        if not pending:
            pieces.append(between)
        charset = match.group(1).split("*", 1)[0]
        pending.append((charset.lower(), _word_bytes(match.group(2), match.group(3))))
        position = match.end()
    flush()
    pieces.append(value[position:])
    return "".join(pieces)


def _word_bytes(encoding: str, text: str) -> bytes:
    raw = text.encode("ascii", errors="replace")
    if encoding in "qQ":
        raw = raw.replace(b"_", b" ")
        return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes((int(m.group(1), 16),)), raw)
    raw = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
    raw = raw[: len(raw) - len(raw) % 4] if len(raw) % 4 == 1 else raw
    raw += b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(raw)
    except ValueError:
        return b""
