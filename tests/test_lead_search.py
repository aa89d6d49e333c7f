"""The list's search: every word given is the start of a word of the lead's name, email,
company, phone or external id, looked up in one text-search index."""

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from leads.filters import SORTS, LeadFilter
from leads.models import Lead
from leads.selectors import counts, search
from leads.services import update_lead
from tests.conftest import CURRENT_TIME
from tests.helpers import make_lead

URL = "/api/v1/leads/"


def _found(api, search: str) -> set[str]:
    response = api.get(URL, {"search": search})
    assert response.status_code == 200, response.content
    return {row["email"] for row in response.json()["results"]}


@pytest.fixture
def people(db):
    make_lead(email="ada@acme.io", first_name="Ada", last_name="Lovelace", company="Acme")
    make_lead(email="bo@uni.edu", first_name="Bo", last_name="Berg", company="Uni",
              phone="+14155550100")  # fmt: skip
    make_lead(email="cy@initech.com", first_name="Cy", last_name="Müller", company="Initech",
              external_id="SF-0042", source="referral")  # fmt: skip
    make_lead(email="di@globex.de", first_name="Di", last_name="Ada-Smith", company="Globex Ltd")


@pytest.mark.django_db
def test_a_word_matches_the_start_of_any_word_of_any_searched_field(marketer, api_as, people):
    api = api_as(marketer)
    assert _found(api, "lovel") == {"ada@acme.io"}  # last name, a prefix
    assert _found(api, "acme") == {"ada@acme.io"}  # company and the email's domain
    assert _found(api, "initech.com") == {"cy@initech.com"}  # the email's domain
    assert _found(api, "sf-00") == {"cy@initech.com"}  # external id
    assert _found(api, "+1415") == {"bo@uni.edu"}  # phone, as stored (E.164)
    assert _found(api, "14155550100") == {"bo@uni.edu"}
    assert _found(api, "glob ltd") == {"di@globex.de"}
    assert _found(api, "ada") == {"ada@acme.io", "di@globex.de"}  # first name; Ada-Smith
    assert _found(api, "ADA lov") == {"ada@acme.io"}  # every word, any case
    assert _found(api, "müll") == {"cy@initech.com"}
    assert _found(api, "bo@uni.edu") == {"bo@uni.edu"}  # a whole email


@pytest.mark.django_db
def test_a_word_inside_another_word_does_not_match(marketer, api_as, people):
    api = api_as(marketer)
    assert _found(api, "velace") == set()  # was a substring match before the index
    assert _found(api, "cme") == set()
    assert _found(api, "5550100") == set()  # the middle of a phone number


@pytest.mark.django_db
def test_punctuation_and_query_syntax_in_a_search_are_plain_text(marketer, api_as, people):
    api = api_as(marketer)
    everyone = {"ada@acme.io", "bo@uni.edu", "cy@initech.com", "di@globex.de"}
    assert _found(api, "@ - ...") == everyone  # no word with a letter or digit: no filter
    for hostile in ["ada&lov", "ada | bo", "!ada", "ada:*", "'ada'", "(ada", "ada\\", "a<->b"]:
        api.get(URL, {"search": hostile})  # never a syntax error
    assert _found(api, "ada&lov") == {"ada@acme.io"}  # split like the fields: ada, lov
    assert _found(api, "!ada") == {"ada@acme.io", "di@globex.de"}


@pytest.mark.django_db
def test_few_matches_are_read_from_the_index_by_the_exact_parts_of_each_word(
    marketer, api_as, people
):
    """The GIN index is asked for a word's parts but the last (no prefix to expand:
    "edu" would be every word starting with it); the whole query then decides."""
    whole, indexed = search.search_queries("bo@uni.edu lov")
    assert whole == "( 'bo' <-> 'uni' <-> 'edu':* ) & ( 'lov':* )"
    assert indexed == ["'bo' & 'uni'", "'lov':*"]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = search._indexed(Lead.objects.all(), search._all(indexed)).explain()
    assert "lead_search_words_idx" in plan
    make_lead(email="x@y.com", first_name="Bo", last_name="Uni")  # bo, uni: not in a row
    assert _found(api_as(marketer), "bo@uni.edu") == {"bo@uni.edu"}


@pytest.mark.django_db
def test_the_searched_words_follow_every_edit(marketer, api_as, people):
    lead = Lead.objects.get(email="ada@acme.io")
    update_lead(lead_id=lead.pk, changes={"company": "Zenith", "last_name": "King"},
                by=marketer, now=CURRENT_TIME)  # fmt: skip
    api = api_as(marketer)
    assert _found(api, "zenith king") == {"ada@acme.io"}
    assert _found(api, "lovelace") == set()


def _listed(query: str) -> tuple[list[str], tuple[int, bool] | None]:
    filterset = LeadFilter(QueryDict(query), queryset=Lead.objects.all())
    assert filterset.is_valid()
    # In the list's order, as its paginator puts it (the filter set only selects: without
    # it, the index and the walk each gave their own order and the tests failed now and
    # then).
    sort = SORTS[filterset.form.cleaned_data.get("sort") or "newest"]
    return list(filterset.qs.order_by(*sort).values_list("email", flat=True)), filterset.matches


@pytest.mark.django_db
def test_a_search_finds_the_same_leads_whether_it_matches_few_or_many(people, monkeypatch):
    """Up to EXACT_UP_TO matches the list is their ids, read from the index first; past
    it, the search itself (both in the list's order)."""
    for i in range(4):
        make_lead(email=f"ada{i}@example.com", first_name="Ada")
    few, counted = _listed("search=ada&stage=new&sort=oldest")
    assert counted == (6, True) and "ada@acme.io" in few and "ada3@example.com" in few
    monkeypatch.setattr(search, "EXACT_UP_TO", 2)
    many, estimated = _listed("search=ada&stage=new&sort=oldest")
    assert many == few and estimated[0] >= 3 and not estimated[1]
    # The search counts the leads the other filters leave, whatever their order.
    assert _listed("search=ada&source=referral")[1] == (0, True)


@pytest.mark.django_db
def test_a_search_a_sample_finds_common_walks_the_list_and_estimates(people, monkeypatch):
    """When a sample of the table says the matches are surely past EXACT_UP_TO, the index
    is not read: the list is walked in its order, the count is the sample's."""
    for i in range(30):
        make_lead(email=f"ada{i}@example.com", first_name="Ada")
    few, counted = _listed("search=ada&sort=oldest")
    assert counted == (32, True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    monkeypatch.setattr(counts, "SAMPLE_FROM", 0)  # every page of these few is the sample
    monkeypatch.setattr(search, "EXACT_UP_TO", 3)
    monkeypatch.setattr(search, "_first_ids", None)  # never called
    many, estimated = _listed("search=ada&sort=oldest")
    assert many == few and estimated == (32, False)


@pytest.mark.django_db
def test_the_index_is_asked_only_for_the_words_it_finds_few_of(people, monkeypatch):
    """A common word is tested lead by lead, not read from the index (its bitmap of every
    lead is what costs); a search the sample finds past EXACT_UP_TO whose words the index
    would read many of is walked, with the sample's figure."""
    for i in range(30):
        make_lead(email=f"ada{i}@example.com", first_name="Ada")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    monkeypatch.setattr(counts, "SAMPLE_FROM", 0)  # every page of these few is the sample
    monkeypatch.setattr(search, "INDEX_READS_UP_TO", 10)
    with CaptureQueriesContext(connection) as queries:
        assert _listed("search=ada+lov") == (["ada@acme.io"], (1, True))
    (read,) = [q["sql"] for q in queries if '"search_words" @@' in q["sql"]]
    assert "'lov'" in read.split('"search_words" @@')[1] and "'ada'" not in read.split("@@")[1]
    monkeypatch.setattr(search, "EXACT_UP_TO", 20)  # the sample: 32, but not surely past 20
    monkeypatch.setattr(search, "_first_ids", None)  # never called
    many, estimated = _listed("search=ada&sort=oldest")
    assert len(many) == 32 and estimated == (32, False)
