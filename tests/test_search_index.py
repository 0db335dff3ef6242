"""search_index: morphology through `terms()`, and the same search tests against both backends (Whoosh always;
PostgreSQL when the test database is PostgreSQL): word forms, ё, phrases, prefixes, scope filtering, ranking,
paging, escaped highlighting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from portal.extensions import db
from search_index import Document, Scope, ancestor_paths, parse, terms
from search_index.pg_backend import PostgresBackend
from search_index.whoosh_backend import WhooshBackend

# ---- terms(): the one place morphology is decided ------------------------------------------------------------


@pytest.mark.parametrize("a,b", [
    ("профсоюза", "профсоюзом"), ("Профсоюз", "профсоюзе"), ("билеты", "билет"), ("билетов", "Билетам"),
    ("ёлка", "елка"), ("ЁЛКИ", "ёлкой"), ("организации", "организация"), ("членов", "член"),
])
def test_word_forms_make_one_term(a, b):
    assert terms(a) == terms(b) and len(terms(a)) == 1


def test_terms_lowercase_fold_yo_and_drop_stop_words():
    assert terms("Члены Профсоюза и их семьи, ещё раз") == terms("члены профсоюза семьи еще")
    assert terms("и в на с по") == []
    assert "ё" not in "".join(terms("Всё о ёлках и её работе"))


def test_different_words_stay_different():
    assert terms("профсоюз") != terms("профессия")
    assert terms("билет") != terms("балет")


# ---- both backends -------------------------------------------------------------------------------------------------

REGION_A, REGION_B = "/1/2/", "/1/3/"
SCHOOL_A = "/1/2/20/200/"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def doc(i, title, body, *, orgs=("all",), cats=("all",), state="published", public=False, days_ago=0,
        category="union", lead=""):
    return Document(kind="news", id=i, title=title, lead=lead, body=body, category=category, state=state,
                    public=public, published_at=NOW - timedelta(days=days_ago), audience_orgs=tuple(orgs),
                    audience_cats=tuple(cats))


CORPUS = [
    doc(1, "Заседание президиума", "Президиум рассмотрел работу профсоюза и утвердил план.", days_ago=5),
    doc(2, "Новые электронные билеты", "Члены Профсоюза получат электронные профсоюзные билеты в январе.",
        public=True, days_ago=3),
    doc(3, "Конкурс региона Юг", "Региональный конкурс профсоюзом объявлен для учителей.", orgs=(REGION_A,),
        days_ago=2, category="contests"),
    doc(4, "Конкурс региона Север", "Региональный конкурс профсоюзом объявлен для учителей.",
        orgs=(REGION_B,), days_ago=1, category="contests"),
    doc(5, "Архивная заметка", "Старый отчёт профсоюза о ёлке.", state="archived", days_ago=40),
    doc(6, "Для пенсионеров", "Ветераны профсоюза приглашаются на встречу.", cats=("pensioner",), days_ago=4),
    doc(7, "Школьная новость", "Школа провела собрание профсоюза.", orgs=(SCHOOL_A,), days_ago=6),
    doc(8, "Опасный <script>", "Текст <b>с</b> тегами & амперсандом про билеты.", days_ago=7),
]

MEMBER_A = Scope(ancestors=ancestor_paths(SCHOOL_A), category="working")
MEMBER_B = Scope(ancestors=ancestor_paths("/1/3/30/300/"), category="working")
CENTRAL = Scope(ancestors=None, archives=True)
REGIONAL_STAFF_A = Scope(ancestors=ancestor_paths(REGION_A), subtree=REGION_A, archives=True)
PUBLIC = Scope(ancestors=None, public_only=True)


@pytest.fixture(params=["whoosh", "postgresql"])
def backend(request, app, tmp_path):
    if request.param == "whoosh":
        b = WhooshBackend(tmp_path / "ix")
    else:
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the PostgreSQL backend needs TEST_DATABASE_URL")
        b = PostgresBackend()
    b.clear()
    b.index(CORPUS)
    db.session.commit()
    return b


def ids(backend, q, scope=CENTRAL, **kw):
    return [h.id for h in backend.search(parse(q), scope, kind="news", **kw).hits]


def test_word_form_finds_other_forms(backend):
    assert set(ids(backend, "профсоюзом")) >= {1, 2, 3, 4, 5}
    assert ids(backend, "билет") and set(ids(backend, "билет")) == set(ids(backend, "билетами")) == {2, 8}
    assert ids(backend, "ЕЛКА") == [5]


def test_phrase_and_prefix(backend):
    assert ids(backend, '"электронные профсоюзные билеты"') == [2]
    assert ids(backend, '"билеты электронные"') == []
    assert set(ids(backend, "президиу*")) == {1}
    assert set(ids(backend, "конкурс регион*")) == {3, 4}


def test_scope_of_a_member(backend):
    found = set(ids(backend, "профсоюз", MEMBER_A))
    assert 3 in found and 7 in found  # their region's and their school's
    assert 4 not in found  # another region's targeted item
    assert 5 not in found  # archived: members do not see archives
    assert 6 not in found  # for pensioners only
    assert 4 in ids(backend, "север", MEMBER_B) and 3 not in ids(backend, "конкурс", MEMBER_B)


def test_scope_of_staff_public_and_central(backend):
    staff = set(ids(backend, "профсоюз", REGIONAL_STAFF_A))
    assert {3, 5, 7}.issubset(staff) and 4 not in staff
    assert ids(backend, "профсоюз", PUBLIC) == [2]
    assert {4, 5}.issubset(set(ids(backend, "профсоюз", CENTRAL)))


def test_category_filter(backend):
    assert set(ids(backend, "конкурс", CENTRAL, category="contests")) == {3, 4}
    assert ids(backend, "конкурс", CENTRAL, category="finance") == []


def test_ranking_relevance_then_newer(backend):
    # 3 and 4 have the same text but 4 is newer: equal relevance, newer first.
    order = ids(backend, "региональный конкурс")
    assert order[:2] == [4, 3]
    # A title match outranks a body mention.
    assert ids(backend, "президиум")[0] == 1


def test_paging(backend):
    everything = ids(backend, "профсоюз", per_page=50)
    first, second = ids(backend, "профсоюз", per_page=3), ids(backend, "профсоюз", per_page=3, page=2)
    assert first + second == everything[:6] and not set(first) & set(second)
    assert backend.search(parse("профсоюз"), CENTRAL, kind="news", per_page=3).total == len(everything)


def test_snippets_mark_matches_and_escape_the_rest(backend):
    hit = backend.search(parse("билеты"), CENTRAL, kind="news").hits
    snippet = next(h.snippet for h in hit if h.id == 8)
    assert "<mark>билеты</mark>" in snippet
    # Whoosh shows the tag as text, PostgreSQL's parser drops it; neither lets it through as markup.
    assert "<b>" not in snippet and "&amp;" in snippet


def test_update_and_delete(backend):
    backend.index([doc(2, "Новые электронные билеты", "Текст заменён полностью.", public=True)])
    backend.delete("news", [1])
    db.session.commit()
    assert 2 not in ids(backend, "январе") and 1 not in ids(backend, "президиум")
    assert ids(backend, "заменён") == [2]


def test_phrase_found_wherever_it_ranks(backend):
    # Decoys hold the phrase's words many times but never the phrase (for three words: each of its pairs, apart),
    # so by relevance they all rank above the one real match: a long item that says it once, near the end.
    apart = [doc(100 + i, f"Заметка {i}", "профсоюза отдельно членам отдельно " * 8, days_ago=i % 7)
             for i in range(40)]
    pairs = [doc(150 + i, f"Записка {i}", "профсоюза выданы отдельно выданы билеты отдельно " * 6, days_ago=i % 5)
             for i in range(40)]
    real = doc(200, "Отчёт", "Текст отчёта о работе. " * 40 + "Профсоюз сообщает: членам профсоюза выданы билеты.",
               days_ago=30)
    backend.index([*apart, *pairs, real])
    db.session.commit()
    assert set(ids(backend, '"членам профсоюза"', per_page=10)) == {2, 200}  # 2: «Члены Профсоюза получат…»
    assert ids(backend, '"профсоюза выданы билеты"', per_page=5) == [200]
    assert ids(backend, '"членам профсоюза выданы билеты"', per_page=5) == [200]
    found = backend.search(parse('"членам профсоюза"'), CENTRAL, kind="news")
    assert found.total == 2 and not found.total_is_lower_bound
    # The same words without quotes rank the decoys first.
    assert 200 not in ids(backend, "профсоюза выданы билеты", per_page=10)


def test_phrase_with_a_stop_word_inside(backend):
    backend.index([doc(300, "Собрание", "Члены нашего профсоюза собрались."),
                   doc(301, "Другое", "Члены профсоюза нашего собрались.")])
    db.session.commit()
    assert ids(backend, '"члены нашего профсоюза"') == [300]
    assert set(ids(backend, '"члены профсоюза"')) >= {2, 301} and 300 not in ids(backend, '"члены профсоюза"')


def test_the_commonest_words_rank_the_recent_tier(backend, monkeypatch):
    # Bounded work: a query matching most of the index ranks only the newest items (the tier), newer first on
    # equal relevance; a narrower query, or a scope the tier cannot fill a page from, ranks everything.
    from search_index import pg_backend, whoosh_backend

    monkeypatch.setattr(whoosh_backend, "TIER_SIZE", 12)
    monkeypatch.setattr(whoosh_backend, "TIER_ABOVE", 20)
    monkeypatch.setattr(pg_backend, "CANDIDATES", 12)
    everyday = [doc(400 + i, f"Будни {i}", "Профсоюз работает каждый день.", days_ago=i) for i in range(40)]
    best = doc(499, "Профсоюз, профсоюз и профсоюз", "Профсоюз профсоюза профсоюзом.", days_ago=100, public=True)
    backend.index([*everyday, best])
    db.session.commit()
    common = backend.search(parse("профсоюз"), CENTRAL, kind="news", per_page=10)
    assert 499 not in [h.id for h in common.hits]
    assert all(h.published_at >= NOW - timedelta(days=12) for h in common.hits)
    assert common.total >= 12
    assert ids(backend, "профсоюз будни")[:1] != [499] and ids(backend, "профсоюз президиум") == [1]
    assert ids(backend, "профсоюз", PUBLIC)[:1] == [499]  # the scope leaves the tier too few: everything ranked


def test_empty_and_stop_word_queries(backend):
    assert ids(backend, "и в на") == []
    assert parse("и в на").empty


def test_postgresql_stems_like_terms(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    words = ("профсоюза профсоюзом билеты билет ёлка организации членов учителей конкурсы регионального "
             "электронные пенсионеров ветераны собрание президиума").split()
    for word in words:
        lexemes = db.session.execute(text("SELECT array_to_string(tsvector_to_array(to_tsvector('russian', :w)), ' ')"),
                                     {"w": word.lower().replace("ё", "е")}).scalar()
        assert lexemes.split() == terms(word), word
