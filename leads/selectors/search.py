"""The list's search: the leads with, for every word given, a word of their name, email,
company, phone or external id that starts with it (leads.filters: filter_search), read
the fast way for how many leads it matches.

A search is a text-search query over the generated column `Lead.search_words`. Neither
way of reading it is fast for every search, and PostgreSQL cannot tell which to take (it
guesses the same share for any prefix, and "+1415" is the start of many numbers each seen
once), so a sample of the list says first (leads.selectors.counts: sampled_rows):

- few matches: their ids from the GIN index lead_search_words_idx, by the words' exact
  parts only when a word has some ("ada@uni.edu": ada and uni, not every word starting
  with "edu"), and only the words a sample finds in few leads ("ada lovel": lovel), each
  lead then tested against the whole query; up to EXACT_UP_TO of them are the whole
  list, counted;
- many (or more than that): the list in its order, testing each lead's stored words (a
  page at once), counted by the sample. The GIN index is not asked: its bitmap of every
  match costs what the walk saves (a quarter of a second for "ada" at 1M leads).

Still slow (0.3 s at 1M leads): a search of common words that are rarely together
("ada bo"): the index ANDs their bitmaps of 125,000 leads each, walking would find none.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchQueryField
from django.db import connection, transaction
from django.db.models import BooleanField, F, Func, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from leads.models import Lead
from leads.models.leads import SEARCH_SPLIT
from leads.selectors import counts
from leads.selectors.counts import EXACT_UP_TO, planned_rows, sampled_rows, table_rows

# The GIN index is read for a search only where it reads few leads: its bitmap of every
# lead a prefix matches costs about 2 µs a lead (a quarter of a second for "ada" at 1M).
INDEX_READS_UP_TO = 50_000


def search_queries(value: str) -> tuple[str, list[str]] | None:
    """(whole, indexed): the text-search query of a search (as text) and what the GIN
    index may be asked for each word, or None when no word of `value` has a letter or a
    digit. Whole: every word matches, each as its parts split as the documents are split,
    one after the other (<->), the last a prefix (:*). Indexed, matching at least the
    word's leads: its parts but the last (exact, no prefix to expand), or the whole word
    when it has one part.
    PostgreSQL splits them, so a search and the documents it looks in split alike."""
    words = [word for word in value.split() if any(c.isalnum() for c in word)]
    if not words:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_tsquery('simple', array_to_string(parts, ' <-> ') || ':*')::text, "
            "CASE WHEN cardinality(parts) > 1 THEN to_tsquery('simple', "
            "array_to_string(parts[1:cardinality(parts) - 1], ' & '))::text ELSE '' END "
            "FROM (SELECT ord, regexp_split_to_array(btrim(regexp_replace(word, %s, ' ', "
            "'g')), ' ') AS parts FROM unnest(%s::text[]) WITH ORDINALITY AS w(word, ord)) p "
            "ORDER BY ord",
            [SEARCH_SPLIT, words],
        )
        queries = cursor.fetchall()
    whole = [query for query, _ in queries if query]
    indexed = [exact or query for query, exact in queries if query]
    return _all(whole), indexed


def _all(queries: list[str]) -> str:
    return " & ".join(f"( {q} )" for q in queries)


def matching(queryset: QuerySet, query: str) -> QuerySet:
    """The leads of `queryset` whose words match `query` (a search_queries text), tested
    lead by lead (ts_match_vq: the function of `@@`, which no index answers)."""
    return queryset.filter(
        Func(F("search_words"), _tsquery(query), function="ts_match_vq",
             output_field=BooleanField())
    )  # fmt: skip


def _indexed(queryset: QuerySet, query: str) -> QuerySet:
    return queryset.filter(
        Func(F("search_words"), _tsquery(query), template="%(expressions)s", arg_joiner=" @@ ",
             output_field=BooleanField())
    )  # fmt: skip


def _one_of(ids: list[int]) -> Func:
    """The lead's id is one of `ids`, sent as one array (`pk__in` prepares each of up to
    10,000 values in Python: a fifth of a search's time for 550 of them)."""
    return Func(F("pk"), RawSQL("%s::bigint[]", (ids,)), template="%(expressions)s)",
                arg_joiner=" = ANY(", output_field=BooleanField())  # fmt: skip


def _tsquery(query: str) -> Cast:
    return Cast(Value(query), SearchQueryField())


def search(queryset: QuerySet, value: str) -> tuple[QuerySet, tuple[int, bool]] | None:
    """The leads of `queryset` the search `value` finds, and (count, exact) of them: as
    their ids when there are at most EXACT_UP_TO (counted), else tested in the list's
    order with an estimate of how many (never below EXACT_UP_TO + 1). None when `value`
    has no word to search for.

    In a table of SAMPLE_FROM leads or more, a sample says first: the index is read
    unless the sample is sure of more than EXACT_UP_TO matches, or it finds more than
    EXACT_UP_TO and the index would read more than INDEX_READS_UP_TO leads for them (the
    figure is then the sample's, shown as an estimate)."""
    queries = search_queries(value)
    if queries is None:
        return None
    whole, indexed = queries
    if not indexed:  # no word has a part PostgreSQL reads as a word: none match
        return queryset.none(), (0, True)
    found = matching(queryset, whole)
    estimate = None
    if table_rows(found) >= counts.SAMPLE_FROM:
        estimate, lower = sampled_rows(found)
        if lower > EXACT_UP_TO:
            return found, (max(estimate, EXACT_UP_TO + 1), False)
        if estimate > EXACT_UP_TO or len(indexed) > 1:  # else: the one word is read
            indexed, reads = _words_to_read(indexed)
            if estimate > EXACT_UP_TO and reads > INDEX_READS_UP_TO:
                return found, (estimate, False)
    ids = _first_ids(_indexed(found, _all(indexed)))
    if len(ids) <= EXACT_UP_TO:
        return queryset.filter(_one_of(ids)), (len(ids), True)
    if estimate is None:
        estimate = planned_rows(found)
    return found, (max(estimate, EXACT_UP_TO + 1), False)


def _words_to_read(indexed: list[str]) -> tuple[list[str], int]:
    """The words to ask the GIN index for (of their `indexed` queries): those a sample
    of the whole table finds in at most INDEX_READS_UP_TO leads (the others are tested
    lead by lead), else all; and how many leads the index reads for them."""
    table = connection.ops.quote_name(Lead._meta.db_table)
    percent = min(100.0, 100.0 * counts.SAMPLE_ROWS / max(table_rows(Lead.objects.all()), 1))
    hits = ", ".join(
        ["count(*) FILTER (WHERE ts_match_vq(search_words, %s::tsquery))"] * len(indexed)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {hits} FROM {table} TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE (0)",  # noqa: S608
            indexed,
        )
        estimates = [round(found * 100.0 / percent) for found in cursor.fetchone()]
    few = [
        (query, n) for query, n in zip(indexed, estimates, strict=True) if n <= INDEX_READS_UP_TO
    ]
    if not few:  # every word is common: the index still ANDs their bitmaps fastest
        few = list(zip(indexed, estimates, strict=True))
    return [query for query, _ in few], sum(n for _, n in few)


def _first_ids(found: QuerySet) -> list[int]:
    """Up to EXACT_UP_TO + 1 ids of `found`, in no order, from the GIN index."""
    rows = found.order_by().values_list("pk", flat=True)[: EXACT_UP_TO + 1]
    with transaction.atomic(), connection.cursor() as cursor:
        # Room for an exact bitmap of every match: a lossy one tests every lead of the
        # pages it covers again.
        cursor.execute("SELECT current_setting('work_mem')")
        (work_mem,) = cursor.fetchone()
        cursor.execute("SET LOCAL work_mem = '64MB'")
        ids = list(rows)
        cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
    return ids
