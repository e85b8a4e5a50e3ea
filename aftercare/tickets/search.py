"""Substring search for Chinese and English without a full table scan.

Chinese has no spaces, so the index holds character bigrams of every run of CJK text and
trigrams (plus each word's last bigram) of every Latin or digit word. A query is split the
same way and every one of its grams must be present. The same token list feeds SQLite FTS5
(external-content table kept in sync by triggers) and a PostgreSQL GIN index over
array_to_tsvector(tokens); see migration 0002.
"""

import re
import unicodedata

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

MIN_QUERY_CHARS = 2
DOCUMENT_CHAR_LIMIT = 20_000
# Hangul, kana and Han ranges are written without spaces, so they get bigrams.
_CJK = r"\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
_RUN = re.compile(rf"([{_CJK}]+)|([^\W_]+)", re.UNICODE)


class SearchQueryTooShort(ValueError):
    pass


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _runs(text: str):
    for match in _RUN.finditer(_normalise(text)):
        cjk, word = match.groups()
        if cjk:
            yield "cjk", cjk
        else:
            # [^\W_] also matches CJK; the alternation above takes those first.
            yield "word", word


def document_tokens(*texts: str) -> list[str]:
    """Unique grams of the given texts, in first-seen order."""
    seen: dict[str, None] = {}
    budget = DOCUMENT_CHAR_LIMIT
    for text in texts:
        if not text or budget <= 0:
            continue
        text = text[:budget]
        budget -= len(text)
        for kind, run in _runs(text):
            if kind == "cjk":
                grams = [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
            elif len(run) <= 3:
                grams = [run]
            else:
                grams = [run[i : i + 3] for i in range(len(run) - 2)] + [run[-2:]]
            for gram in grams:
                seen.setdefault(gram, None)
    return list(seen)


def query_terms(query: str) -> list[tuple[str, bool]]:
    """(gram, is_prefix) pairs that a matching document must all contain.

    Raises SearchQueryTooShort when the query has fewer than MIN_QUERY_CHARS searchable
    characters: a one-character search would match most of the table.
    """
    terms: dict[tuple[str, bool], None] = {}
    for kind, run in _runs(query):
        if kind == "cjk":
            if len(run) == 1:
                terms.setdefault((run, True), None)
            else:
                for i in range(len(run) - 1):
                    terms.setdefault((run[i : i + 2], False), None)
        elif len(run) < 3:
            terms.setdefault((run, True), None)
        else:
            for i in range(len(run) - 2):
                terms.setdefault((run[i : i + 3], False), None)
    if sum(len(gram) for gram, _ in terms) < MIN_QUERY_CHARS or not terms:
        raise SearchQueryTooShort(query)
    return list(terms)


def _fts5_expression(terms: list[tuple[str, bool]]) -> str:
    return " AND ".join(f'"{gram}"' + ("*" if prefix else "") for gram, prefix in terms)


def _tsquery_expression(terms: list[tuple[str, bool]]) -> str:
    return " & ".join(f"'{gram}'" + (":*" if prefix else "") for gram, prefix in terms)


def matching_ticket_ids_sql(query: str) -> tuple[str, list[str]]:
    """SQL selecting the ids of tickets whose document contains every gram of `query`."""
    terms = query_terms(query)
    if connection.vendor == "postgresql":
        return (
            "SELECT ticket_id FROM tickets_ticketsearchdocument "
            "WHERE array_to_tsvector(string_to_array(tokens, ' ')) @@ %s::tsquery",
            [_tsquery_expression(terms)],
        )
    return (
        "SELECT rowid FROM tickets_search_fts WHERE tickets_search_fts MATCH %s",
        [_fts5_expression(terms)],
    )


def filter_by_text(queryset: QuerySet, query: str) -> QuerySet:
    sql, params = matching_ticket_ids_sql(query)
    return queryset.filter(id__in=RawSQL(sql, params))
