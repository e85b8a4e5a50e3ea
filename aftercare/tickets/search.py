"""Substring search for Chinese and English without a full table scan.

Chinese has no spaces, so the index holds character bigrams of every run of CJK text and
trigrams (plus each word's last bigram) of every Latin or digit word. A query is split the
same way and every one of its grams must be present. The same token list feeds SQLite FTS5
(external-content table kept in sync by triggers) and a PostgreSQL GIN index over
array_to_tsvector(tokens); see migration 0002.

The newest matches among a million tickets need one of two plans: for a rare text, look up
the few matching tickets and sort them; for a common one, walk the tickets newest first and
stop at the first page's worth of matches. Neither database picks reliably on its own (SQLite
cannot see how many rows an FTS5 match returns; PostgreSQL multiplies the frequencies of
the grams of "门锁打不开" as if they were independent and expects one row out of 20,000),
so first_matches() decides, per database, and writes the SQL so that only that plan is open.
"""

import math
import re
import unicodedata

from django.db import connection
from django.db.models import BigIntegerField, F, Func, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.lookups import In

MIN_QUERY_CHARS = 2
# Above this many FTS5 matches, walking the tickets newest first beats sorting the matches
# (1M tickets: 20k matches sort in 65 ms, the walk finds the first 51 in 6 ms; below about
# 2k matches the walk's share of the table grows and looking them up wins).
SQLITE_WALK_ABOVE = 2000
# PostgreSQL first looks for a page of matches among this many newest tickets, checking each
# one's tokens directly (~3 µs a ticket: 15 ms). That finds any text on more than 1 % of the
# tickets the user sees. Seeing some matches but too few, it looks again in a window sized by
# the rate it saw, up to the maximum; seeing none, the text is rare enough to fetch all its
# matches through the GIN index. (An agent's search for another team's common fault has few
# matches the agent may see among many the index returns: the second window serves it.)
POSTGRES_PROBE_WINDOW = 5000
POSTGRES_PROBE_MAX = 20000
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


class _NotIndexable(Func):
    """SQLite's unary plus: the same value, but the planner may not use an index for it."""

    template = "+%(expressions)s"
    output_field = BigIntegerField()


def text_match(query: str, *, by_creation_time: bool = False) -> Q:
    """Condition on tickets whose search document contains every gram of `query`.

    `by_creation_time`: the caller orders by created_at, which the ticket_created index can
    walk. On SQLite this then runs one query first: the number of FTS5 matches, counted up to
    SQLITE_WALK_ABOVE. Raises SearchQueryTooShort like query_terms().
    """
    sql, params = matching_ticket_ids_sql(query)
    matching = RawSQL(sql, params)
    if connection.vendor != "sqlite" or not by_creation_time:
        return Q(id__in=matching)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql} LIMIT {SQLITE_WALK_ABOVE + 1})", params)
        (found,) = cursor.fetchone()
    if found <= SQLITE_WALK_ABOVE:
        return Q(id__in=matching)
    # `+id IN (...)` cannot be answered by rowid lookups, so SQLite walks the ordering's index
    # and checks each ticket against the set of matches, stopping when the page is full.
    return Q(In(_NotIndexable(F("id")), matching))


def _postgres_probe(
    queryset: QuerySet, terms: list[tuple[str, bool]], order: list[str], fields, window, size
) -> list[tuple]:
    """The first `size` matches among the first `window` tickets of `queryset` in `order`.

    Each ticket's tokens are tested directly, the same test as the GIN match (tokens are
    space-separated grams, so ' gram ' finds a gram and ' gram' a prefix). The window is a
    derived table: a LIMIT there is computed first, which keeps the plan a short index walk
    (as `id IN (window)` the planner may hash the window and scan every ticket against it).
    """
    inner, params = queryset.order_by(*order).values_list(*fields)[:window].query.sql_with_params()
    checks = []
    for gram, prefix in terms:
        checks.append("strpos(' ' || d.tokens || ' ', %s) > 0")
        params = (*params, f" {gram}" if prefix else f" {gram} ")
    names = ", ".join(fields)
    ordering = ", ".join(f"w.{f.lstrip('-')} {'DESC' if f[0] == '-' else 'ASC'}" for f in order)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {names} FROM ({inner}) AS w ({names}) WHERE EXISTS ("
            " SELECT 1 FROM tickets_ticketsearchdocument d WHERE d.ticket_id = w.id AND "
            + " AND ".join(checks)
            + f") ORDER BY {ordering} LIMIT {int(size)}",
            params,
        )
        return [tuple(row) for row in cursor.fetchall()]


def first_matches(
    queryset: QuerySet, query: str, *, order: list[str], fields: tuple[str, ...], size: int
) -> list[tuple]:
    """Values of `fields` of the first `size` tickets of `queryset` in `order` whose document
    contains every gram of `query`. Raises SearchQueryTooShort like query_terms()."""
    by_creation_time = fields[0] == "created_at"
    if connection.vendor != "postgresql":
        matching = queryset.filter(text_match(query, by_creation_time=by_creation_time))
        return list(matching.order_by(*order).values_list(*fields)[:size])
    terms = query_terms(query)
    window = POSTGRES_PROBE_WINDOW if by_creation_time else 0
    while 0 < window <= POSTGRES_PROBE_MAX:
        found = _postgres_probe(queryset, terms, order, fields, window, size)
        if len(found) >= size or not queryset[window - 1 : window].exists():
            return found  # a full page, or the window held every ticket there is
        window = math.ceil(window * size / len(found) * 1.25) if found else 0
    # A rare text: every match through the GIN index, then sorted. MATERIALIZED keeps the
    # planner from walking the tickets instead and rebuilding each one's tsvector.
    sql, params = matching_ticket_ids_sql(query)
    ids = RawSQL(f"WITH matches AS MATERIALIZED ({sql}) SELECT ticket_id FROM matches", params)
    return list(queryset.filter(id__in=ids).order_by(*order).values_list(*fields)[:size])
