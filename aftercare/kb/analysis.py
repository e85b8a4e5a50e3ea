"""How text becomes search terms. Articles and queries go through the same steps:

1. NFKC and case folding; traditional characters are folded to simplified (zhconv), so that a
   zh-Hant query finds zh-Hans text and the other way round.
2. jieba in search mode (long words also yield their shorter dictionary words: 热水器 → 热水,
   热水器), without HMM word guessing: its guesses differ between a short query and a long
   document that contain the same words. After-sales words are added to the dictionary so that
   故障码, 不制冷 and 三包 stay whole.
3. English words lose common suffixes (cooling → cool, filters → filter), the same way on both
   sides; the result only has to agree with itself, not be a dictionary word.
4. Stop words, punctuation and spaces are dropped.
"""

import logging
import re
import threading
import unicodedata
from collections.abc import Iterator

import jieba
import zhconv

MAX_TERM_LENGTH = 64
# Words a home-appliance service desk writes that jieba's general dictionary splits apart.
DOMAIN_WORDS = (
    "故障码",
    "错误码",
    "通讯故障",
    "不制冷",
    "不制热",
    "不加热",
    "不排水",
    "不脱水",
    "不点火",
    "不启动",
    "不通电",
    "制冷效果",
    "制热效果",
    "三包",
    "以旧换新",
    "七天无理由",
    "滤网",
    "外机",
    "内机",
    "室外机",
    "室内机",
    "压缩机",
    "冷媒",
    "加氟",
    "漏氟",
    "排水泵",
    "排水管",
    "进水阀",
    "门封条",
    "化霜",
    "结霜",
    "漏电保护",
    "跳闸",
    "电热水器",
    "燃气热水器",
    "点火针",
    "温控器",
    "主板",
    "电脑板",
    "变频",
    "定频",
    "移机",
    "镁棒",
    "除垢",
    "滚筒",
    "波轮",
    "冷藏室",
    "冷冻室",
    "变温室",
    "遥控器",
    "显示屏",
    "上门",
    "返厂",
    "寄修",
    "备件",
    "保修卡",
    "延保",
    "退换货",
    "安装费",
    "异响",
    "异味",
)
# Chinese function words and question words. 不 and 没 stay: they turn a symptom around.
_CHINESE_STOP_WORDS = (
    "的 了 吗 呢 吧 啊 呀 哦 是 在 和 与 或 及 而 我 你 您 他 她 它 我们 你们 他们 请 请问 "
    "怎么 怎么办 怎样 什么 如何 为什么 一下 一个 这个 那个 这 那 有 也 就 都 还 要 会 能 "
    "可以 把 被 让 给 对 从 到 上 下 中 等 个 又 很 太 啦 哪 哪里"
)
# English function words. "not" and "no" stay, for the same reason.
_ENGLISH_STOP_WORDS = (
    "a an the is are was were be been being am of to in on at for and or with my your our "
    "it its this that these those do does did how what why when where which who can could "
    "i you we me us he she they them there here if then than so as by from"
)
STOP_WORDS = frozenset(_CHINESE_STOP_WORDS.split()) | frozenset(_ENGLISH_STOP_WORDS.split())
_SUFFIXES = (("sses", "ss"), ("ies", "y"))
_WORD = re.compile(r"[^\W_]", re.UNICODE)
_LATIN = re.compile(r"^[a-z]+$")
_PHRASE_SEPARATORS = re.compile(r"[\n\r,，、;；|]+")

_tokenizer: jieba.Tokenizer | None = None
_tokenizer_lock = threading.Lock()


def _jieba() -> jieba.Tokenizer:
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                for word in DOMAIN_WORDS:
                    tokenizer.add_word(word, freq=20000)
                _tokenizer = tokenizer
    return _tokenizer


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return zhconv.convert(folded, "zh-hans")


def is_latin(term: str) -> bool:
    return bool(_LATIN.match(term))


def stem(word: str) -> str:
    """Strip an English plural or -ing/-ed ending; other words are returned unchanged."""
    if not is_latin(word) or len(word) <= 3:
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix):
            return word[: -len(suffix)] + replacement
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4 and not word.endswith("eed"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    else:
        return word
    # stopp → stop, runn → run
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]
    return word


def terms(text: str) -> Iterator[str]:
    """The search terms of a text, in order, repeated as often as they occur."""
    if not text:
        return
    for token in _jieba().cut_for_search(normalise(text), HMM=False):
        token = token.strip()
        if not token or len(token) > MAX_TERM_LENGTH or not _WORD.search(token):
            continue
        if token in STOP_WORDS:
            continue
        if is_latin(token):
            if len(token) == 1:
                continue
            token = stem(token)
        yield token


def split_phrases(raw: str) -> list[str]:
    """Phrases of a synonym group, one per line or separated by commas, without repeats."""
    seen: dict[str, None] = {}
    for part in _PHRASE_SEPARATORS.split(raw or ""):
        part = part.strip()
        if part:
            seen.setdefault(part[:100], None)
    return list(seen)
