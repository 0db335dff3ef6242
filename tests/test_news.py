"""News (SPEC §8): sanitising, images, the workflow's roles, scheduled publication, reading scopes, search through
the pages (morphology, scope, a missing or stale index, the queue surviving a failed indexing, the rebuild
command), the public pages and feeds, mailings sent once although the job runs twice, unsubscribe."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from io import BytesIO

import pytest
from PIL import Image
from sqlalchemy import func, select

import search_index
from portal import clock
from portal.auth.models import Role, User
from portal.extensions import db
from portal.files import FileRejected
from portal.mail.models import OutboxMessage
from portal.mail.outbox import letter_body, send_pending
from portal.news import mailings
from portal.news import operations as ops
from portal.news.content import plain_text, sanitise, store_image
from portal.news.jobs import news_minute
from portal.news.models import Mailing, NewsCategory, NewsItem, NewsState, Unsubscribe
from portal.news.readers import member_scope
from search_index.models import SearchQueue
from tests.conftest import create_user, login
from tests.security_helpers import fresh_login_per_request  # noqa: F401  (autouse: one request, one user)
from workflows import NEWS_ITEM, WorkflowError, fire

# ---- sanitising ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dirty,gone,kept", [
    ("<p>Текст<script>alert(1)</script></p>", ["<script", "alert"], ["<p>Текст</p>"]),
    ('<p onclick="steal()" onmouseover="x()">Абзац</p>', ["onclick", "onmouseover", "steal"], ["<p>Абзац</p>"]),
    ('<a href="javascript:alert(1)">ссылка</a>', ["javascript"], ["ссылка"]),
    ('<a href="JaVaScRiPt:alert(1)">ссылка</a>', ["alert"], ["ссылка"]),
    ('<a href="https://eseur.ru/">сайт</a>', [], ['href="https://eseur.ru/"', 'rel="noopener noreferrer nofollow"']),
    ('<svg onload="alert(1)"><script>alert(2)</script><circle r="5"/></svg>Текст', ["svg", "alert", "circle"], ["Текст"]),
    ('<img src="x" onerror="alert(1)">', ["<img", "onerror"], []),
    ('<p style="position:fixed">Стиль</p><iframe src="https://evil"></iframe>', ["style=", "iframe"], ["Стиль"]),
    ('<a href="data:text/html;base64,PHNjcmlwdD4=">данные</a>', ["data:"], ["данные"]),
])
def test_sanitise(dirty, gone, kept):
    clean = sanitise(dirty)
    for bad in gone:
        assert bad.lower() not in clean.lower()
    for good in kept:
        assert good in clean


def test_plain_text_keeps_paragraphs():
    assert plain_text(sanitise("<p>Первый&nbsp;абзац</p><ul><li>пункт &amp; ещё</li></ul>")) == "Первый абзац\nпункт & ещё"


# ---- images -------------------------------------------------------------------------------------------------------


def _png(w, h, mode="RGB") -> bytes:
    out = BytesIO()
    Image.new(mode, (w, h), (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128)).save(out, "PNG")
    return out.getvalue()


def test_images_are_checked_by_content_and_resized(app):
    name, mime, w, h = store_image(_png(3200, 1600))
    assert (mime, w, h) == ("image/jpeg", 1600, 800) and name.endswith(".jpeg")
    assert store_image(_png(100, 100, "RGBA"))[1] == "image/png"  # transparency kept
    for bad in (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
                b"GIF89a<script>alert(1)</script>", b"%PDF-1.4 not an image", b""):
        with pytest.raises(FileRejected):
            store_image(bad)


# ---- helpers --------------------------------------------------------------------------------------------------------


@pytest.fixture
def editors(world):
    return {
        "region": create_user(world.region_a, Role.NEWS_EDITOR, "editor-a"),
        "central": create_user(world.central, Role.NEWS_EDITOR, "editor-c"),
        "other": create_user(world.region_b, Role.NEWS_EDITOR, "editor-b"),
    }


def make_item(actor, title="Профсоюз объявил конкурс", body="<p>Членам профсоюза выдадут новые билеты.</p>",
              category="union", orgs=(), cats=(), public=False, publish=True, publish_at=None) -> NewsItem:
    item = ops.save_item(actor, None, {"title": title, "lead": "", "body": body, "category": category,
                                       "audience_orgs": list(orgs), "audience_categories": list(cats),
                                       "is_public": public, "publish_at": publish_at})
    db.session.commit()
    if publish:
        ops.transition(actor, item, "publish")
        db.session.commit()
    search_index.sync()
    return item


# ---- the workflow: role × transition -------------------------------------------------------------------------------

# Hand-written from SPEC §8 and the README: editors (central or regional, in their subtree) and central admins
# publish, archive and restore; nobody else; the scheduled publication is the job's alone.
ALLOWED = {"region_editor": {"publish", "archive", "restore"}, "central_editor": {"publish", "archive", "restore"},
           "central_admin": {"publish", "archive", "restore"}, "regional_chair": set(), "primary_chair": set(),
           "other_region_editor": set()}
SOURCES = {"publish": NewsState.DRAFT, "archive": NewsState.PUBLISHED, "restore": NewsState.ARCHIVED,
           "publish_scheduled": NewsState.DRAFT}
DESTS = {"publish": "published", "archive": "archived", "restore": "published"}


@pytest.mark.parametrize("action", ["publish", "archive", "restore", "publish_scheduled"])
def test_workflow_roles(app, world, editors, action):
    users = {"region_editor": editors["region"], "central_editor": editors["central"],
             "central_admin": world.users["central_admin"], "regional_chair": world.users["regional_chair"],
             "primary_chair": world.users["primary_chair"], "other_region_editor": editors["other"]}
    for role, user in users.items():
        item = make_item(editors["region"], publish=False, publish_at=clock.now() - timedelta(minutes=1))
        if SOURCES[action] != NewsState.DRAFT:
            fire(NEWS_ITEM, item, "publish", editors["region"])
        if SOURCES[action] == NewsState.ARCHIVED:
            fire(NEWS_ITEM, item, "archive", editors["region"])
        db.session.commit()
        client = app.test_client()
        login(client, user)
        before = item.version
        r = client.post(f"/news/edit/{item.id}/{action}")
        db.session.commit()
        db.session.refresh(item)
        if action in ALLOWED[role]:
            assert r.status_code == 302, (role, r.status_code)
            assert item.state.value == DESTS[action] and item.version == before + 1
        else:
            # Roles without the editor's permission, and editors of another region, see no such page (404);
            # the job's own transition answers 409 to an editor.
            assert r.status_code in (404, 409), (role, r.status_code)
            assert r.status_code == (409 if action == "publish_scheduled" and role in (
                "region_editor", "central_editor", "central_admin") else 404), role
            assert item.version == before


def test_the_system_alone_publishes_on_schedule(app, world, editors):
    item = make_item(editors["region"], publish=False, publish_at=clock.now() + timedelta(hours=1))
    with pytest.raises(WorkflowError):
        fire(NEWS_ITEM, item, "publish_scheduled", None)  # not yet due
    db.session.rollback()


# ---- scheduled publication -----------------------------------------------------------------------------------------


def test_scheduled_publication_by_the_job(app, world, editors):
    due = make_item(editors["region"], title="Плановая новость", publish=False,
                    publish_at=clock.now() - timedelta(minutes=2))
    later = make_item(editors["region"], title="Будущая новость", publish=False,
                      publish_at=clock.now() + timedelta(days=1))
    report = news_minute(clock.now())
    db.session.refresh(due)
    db.session.refresh(later)
    assert due.state == NewsState.PUBLISHED and later.state == NewsState.DRAFT
    assert "опубликовано 1" in report
    assert news_minute(clock.now()).startswith("опубликовано 0")  # the job again: nothing twice
    staff = member_scope(world.members["a"])
    assert [h.id for h in search_index.search("news", "плановой", staff).hits] == [due.id]


# ---- reading scopes ---------------------------------------------------------------------------------------------------


def test_members_read_what_is_meant_for_them(app, world, editors):
    for_a = make_item(editors["region"], title="Для Липецка")  # a regional editor's default audience: the region
    for_all = make_item(editors["central"], title="Для всех")
    for_pensioners = make_item(editors["central"], title="Пенсионерам", cats=["pensioner"])
    draft = make_item(editors["central"], title="Черновик", publish=False)

    def visible(member):
        return set(db.session.scalars(select(NewsItem.id).where(ops.visible_condition(member_scope(member)))))

    assert visible(world.members["a"]) == {for_a.id, for_all.id}
    assert visible(world.members["b"]) == {for_all.id}
    assert for_pensioners.id not in visible(world.members["a"]) and draft.id not in visible(world.members["a"])


def test_staff_read_their_scope_and_others_get_404(app, world, editors):
    item = make_item(editors["region"], title="Новость Липецка")
    school_chair, omsk = app.test_client(), app.test_client()
    login(school_chair, world.users["primary_chair"])
    login(omsk, world.users["other_region_chair"])
    assert "Новость Липецка" in school_chair.get("/news/").get_data(as_text=True)
    assert school_chair.get(f"/news/{item.id}").status_code == 200
    assert omsk.get(f"/news/{item.id}").status_code == 404
    assert "Новость Липецка" not in omsk.get("/news/").get_data(as_text=True)
    assert app.test_client().get(f"/news/{item.id}").status_code == 302  # anonymous: to the login page


# ---- search through the pages ----------------------------------------------------------------------------------------


def _found(client, q):
    body = client.get("/news/search", query_string={"q": q}).get_data(as_text=True)
    return re.findall(r'href="/news/(\d+)"', body), body


def test_search_page_morphology_scope_and_highlight(app, world, editors):
    item = make_item(editors["region"], title="Профсоюзом выданы билеты", body="<p>Новые электронные билеты.</p>")
    chair, omsk = app.test_client(), app.test_client()
    login(chair, world.users["territorial_chair"])
    login(omsk, world.users["other_region_chair"])
    ids, body = _found(chair, "профсоюза билет")
    assert ids == [str(item.id)] and "<mark>билеты</mark>" in body
    assert _found(chair, "ПРОФСОЮЗ")[0] == [str(item.id)]
    assert _found(omsk, "профсоюза")[0] == []  # another region's targeted item
    assert _found(chair, '"электронные билеты"')[0] == [str(item.id)]
    assert _found(chair, "электрон*")[0] == [str(item.id)]
    assert chair.get("/news/search", query_string={"q": "<script>\"'*"}).status_code == 200


def test_search_answers_from_the_database_when_the_index_is_missing(app, world, editors, tmp_path):
    app.config["SEARCH_INDEX_DIR"] = str(tmp_path / "nowhere")
    app.extensions.pop("search_index", None)
    item = make_item(editors["central"], title="Билеты профсоюза", public=True)
    import shutil

    shutil.rmtree(tmp_path / "nowhere", ignore_errors=True)
    app.extensions.pop("search_index", None)
    client = app.test_client()
    ids, body = _found(client, "билетов")
    assert ids == [] and f'href="/public/news/{item.id}"' in body  # the public reader finds it, from the database
    result = app.test_cli_runner().invoke(args=["search", "rebuild"])
    assert result.exit_code == 0 and "Проиндексировано новостей: 1" in result.output
    assert search_index.search("news", "билетов", search_index.Scope(public_only=True)).source == "whoosh"


def test_a_failed_indexing_stays_queued_and_the_page_still_answers(app, world, editors, monkeypatch):
    backend = search_index.get_backend()

    def broken(docs):
        raise OSError("disk full")

    monkeypatch.setattr(backend, "index", broken)
    item = make_item(editors["central"], title="Новость о путёвках", public=True)
    assert db.session.scalar(select(func.count()).select_from(SearchQueue)) >= 1  # the update is kept
    app.config["SEARCH_STALE_SECONDS"] = 0
    ids, body = _found(app.test_client(), "путевки")
    assert f'href="/public/news/{item.id}"' in body  # answered from the database meanwhile
    monkeypatch.undo()
    search_index.drain()
    assert search_index.pending() == 0
    assert [h.id for h in search_index.search("news", "путевки", search_index.Scope(public_only=True)).hits] == [item.id]


@pytest.mark.parametrize("backend_name", ["whoosh", "postgresql"])
def test_a_rebuild_loses_nothing_published_or_archived_while_it_runs(app, world, editors, monkeypatch, backend_name):
    if backend_name == "postgresql" and db.engine.dialect.name != "postgresql":
        pytest.skip("the PostgreSQL backend needs TEST_DATABASE_URL")
    app.config["SEARCH_BACKEND"] = backend_name
    app.extensions.pop("search_index", None)
    public = search_index.Scope(public_only=True)
    old = [make_item(editors["central"], title=f"Старая новость номер {i}", public=True).id for i in range(3)]
    source = search_index.service.SOURCES["news"]
    real_batches = source.batches
    during, editor_id = {}, editors["central"].id

    def batches(size):
        # The rebuild reads the database in small batches; once it has read every item, an editor publishes a new
        # one and archives an old one (committed, the index brought up to date as the page does): the rebuilt
        # index, made from what was read before, holds neither change until the rebuild re-applies them.
        yield from real_batches(1)
        editor = db.session.get(User, editor_id)  # the batches let go of what they read
        new = make_item(editor, title="Опубликована во время перестроения", public=True)
        ops.transition(editor, db.session.get(NewsItem, old[0]), "archive")
        db.session.commit()
        search_index.sync()
        during["new"] = new.id
        during["found_at_once"] = [h.id for h in search_index.search("news", "перестроения", public).hits]
        db.session.rollback()

    monkeypatch.setattr(source, "batches", batches)
    assert search_index.rebuild("news") == 3
    assert during["found_at_once"] == [during["new"]]  # publishing went on, searchable at once
    app.extensions.pop("search_index", None)  # what another process would open
    assert [h.id for h in search_index.search("news", "перестроения", public).hits] == [during["new"]]
    assert sorted(h.id for h in search_index.search("news", "старая", public).hits) == old[1:]
    assert search_index.get_backend().count("news") == 4


# ---- editors' pages ---------------------------------------------------------------------------------------------------


def test_editor_form_refuses_without_losing_input_and_saves_sanitised(app, world, editors):
    client = app.test_client()
    login(client, editors["region"])
    r = client.post("/news/edit/new", data={"title": "", "body": "<p>Текст, который нельзя терять</p>",
                                             "category": "union"})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "Обязательное поле." in page and "Текст, который нельзя терять" in page
    r = client.post("/news/edit/new", data={"title": "Заголовок", "body": '<p onclick="x()">Текст<script>1</script></p>',
                                             "category": "regional", "image": (BytesIO(_png(50, 40)), "a.png")},
                    content_type="multipart/form-data")
    assert r.status_code == 302
    item = db.session.scalar(select(NewsItem).where(NewsItem.title == "Заголовок"))
    assert item.body == "<p>Текст</p>" and len(item.images) == 1
    assert client.get(f"/news/edit/{item.id}/preview").status_code == 200
    assert client.get(f"/news/images/{item.images[0].id}").mimetype == "image/jpeg"
    other = app.test_client()
    login(other, editors["other"])
    assert other.get(f"/news/edit/{item.id}").status_code == 404
    assert other.get(f"/news/images/{item.images[0].id}").status_code == 404


# ---- public pages and feeds --------------------------------------------------------------------------------------------


def test_public_pages_and_feeds(app, world, editors):
    public = make_item(editors["central"], title="Открытая новость", public=True)
    closed = make_item(editors["central"], title="Закрытая новость")
    anon = app.test_client()
    assert anon.get(f"/public/news/{public.id}").status_code == 200
    assert anon.get(f"/public/news/{closed.id}").status_code == 404
    rss = ET.fromstring(anon.get("/public/news/feed.rss").data)
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    titles = [i.findtext("title") for i in rss.iter("item")]
    assert titles == ["Открытая новость"]
    assert rss.find("channel/item/link").text.endswith(f"/public/news/{public.id}")
    assert rss.find("channel/item/pubDate").text
    atom = ET.fromstring(anon.get("/public/news/feed.atom").data)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert atom.tag == "{http://www.w3.org/2005/Atom}feed"
    assert [e.findtext("a:title", namespaces=ns) for e in atom.findall("a:entry", ns)] == ["Открытая новость"]
    assert atom.find("a:entry/a:updated", ns).text


# ---- mailings ---------------------------------------------------------------------------------------------------------


MEMBER_PASSWORD = "member-news-2026"


def _with_email(world):
    """Every member opens a cabinet with a confirmed address (where mailings go)."""
    from datetime import UTC, datetime

    from portal.cabinet.models import MemberAccount

    for i, m in enumerate(world.members.values()):
        m.email = f"member{i}@example.org"
        if m.card_number is None:
            m.card_number = f"2202{i:012d}"
        account = MemberAccount(member_id=m.id, email=m.email, phone="", session_version=1,
                                rules_accepted_at=datetime.now(UTC), email_confirmed_at=datetime.now(UTC),
                                verify_token=MemberAccount.new_verify_token(), closed_reason="")
        account.set_password(MEMBER_PASSWORD)
        db.session.add(account)
    db.session.commit()


def test_mail_goes_to_open_confirmed_cabinets_only(app, world, editors):
    _with_email(world)
    from portal.cabinet.models import MemberAccount

    closed = db.session.scalar(select(MemberAccount).where(MemberAccount.member_id == world.members["b"].id))
    closed.closed_at = clock.now()
    db.session.commit()
    make_item(editors["central"], title="Финансовая грамотность: вклады", category="finance")
    [m] = mailings.create_digests(mailings.PLAN["finance"], clock.now() + timedelta(minutes=1))
    assert m.total == len(world.members) - 1


def test_members_read_their_news_in_the_cabinet_and_search_it(app, world, editors):
    _with_email(world)
    mine = make_item(editors["region"], title="Профсоюзом организован семинар")
    other = make_item(editors["other"], title="Омский профсоюз провёл семинар")
    member = app.test_client()
    r = member.post("/cabinet/login", data={"card_number": world.members["a"].card_number, "password": MEMBER_PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    page = member.get("/cabinet/news/").get_data(as_text=True)
    assert "Профсоюзом организован семинар" in page and "Омский профсоюз" not in page
    assert member.get(f"/cabinet/news/{mine.id}").status_code == 200
    assert member.get(f"/cabinet/news/{other.id}").status_code == 404
    found = member.get("/news/search", query_string={"q": "профсоюза семинары"}).get_data(as_text=True)
    assert f'href="/cabinet/news/{mine.id}"' in found and f"/news/{other.id}" not in found
    assert member.get("/news/").status_code == 404  # the staff list is not a member's page


def test_mailing_is_sent_once_although_the_job_runs_twice(app, world, editors):
    _with_email(world)
    make_item(editors["central"], title="Финансовая грамотность: бюджет семьи", category="finance")
    entry = mailings.PLAN["finance"]
    slot = clock.now() + timedelta(minutes=1)
    created = mailings.create_digests(entry, slot)
    db.session.commit()
    assert len(created) == 1 and created[0].total == len(world.members)
    # A crash midway: the first run writes one chunk of two members and dies.
    assert mailings.send(created[0].id, chunk=2, limit_chunks=1) == 2
    # The job runs again, and once more.
    again = mailings.create_digests(entry, slot)
    db.session.commit()
    assert [m.id for m in again] == [created[0].id]  # the same mailing, not a second one
    mailings.send(created[0].id, chunk=2)
    mailings.send(created[0].id, chunk=2)
    letters = db.session.scalars(select(OutboxMessage.to_addr).where(OutboxMessage.kind == "news:finance")).all()
    assert sorted(letters) == sorted(m.email for m in world.members.values())
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.mailing_id == created[0].id)) == len(world.members)
    m = db.session.get(Mailing, created[0].id)
    assert (m.status, m.queued, m.total) == ("done", len(world.members), len(world.members))
    # Queued as references; the text (the digest, the member's own signed links) is rendered when it is sent.
    msg = db.session.scalar(select(OutboxMessage).where(OutboxMessage.mailing_id == m.id).limit(1))
    body = letter_body(msg)
    assert "Финансовая грамотность: бюджет семьи" in body and "/news/unsubscribe/" in body
    assert mailings.unsubscribe_token(msg.member_id, "finance") in body


def test_unsubscribe_without_login_is_honoured_at_once(app, world, editors):
    _with_email(world)
    member = world.members["a"]
    token = mailings.unsubscribe_token(member.id, NewsCategory.PARTNERS.value)
    anon = app.test_client()
    assert "Отписаться" in anon.get(f"/news/unsubscribe/{token}").get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Unsubscribe)) == 0  # a GET (a mail scanner) changes nothing
    r = anon.post(f"/news/unsubscribe/{token}")
    assert r.status_code == 200 and "больше не получите" in r.get_data(as_text=True)
    assert anon.get(f"/news/unsubscribe/{token[:-2]}xx").status_code == 404  # forged
    make_item(editors["central"], title="Скидки партнёров", category="partners")
    [m] = mailings.create_digests(mailings.PLAN["partners"], clock.now() + timedelta(minutes=1))
    db.session.commit()
    mailings.send(m.id)
    to = set(db.session.scalars(select(OutboxMessage.to_addr).where(OutboxMessage.kind == "news:partners")))
    assert member.email not in to and len(to) == len(world.members) - 1


def test_mailing_page_previews_counts_and_shows_progress(app, world, editors):
    _with_email(world)
    make_item(editors["region"], title="Региональный конкурс", category="contests")
    client = app.test_client()
    login(client, editors["region"])
    data = {"category": "contests", "days": "14", "segment_org": str(world.region_a.id), "segment_category": ""}
    page = client.post("/news/mailings", data={**data, "send": "0"}).get_data(as_text=True)
    assert "Получателей: 4" in page and "Региональный конкурс" in page  # region A's four members
    r = client.post("/news/mailings", data={**data, "send": "1"})
    assert r.status_code == 302
    news_minute(clock.now())
    assert "4 из 4" in client.get(r.headers["Location"]).get_data(as_text=True)
    other = app.test_client()
    login(other, editors["other"])
    assert other.get(r.headers["Location"]).status_code == 404


def test_union_news_are_mailed_as_they_appear(app, world, editors):
    _with_email(world)
    make_item(editors["central"], title="Съезд Профсоюза", category="union")
    news_minute(clock.now())
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.subject == "Съезд Профсоюза")) == len(world.members)


def test_welcome_letter_once(app, world):
    _with_email(world)
    member = world.members["a"]
    assert mailings.welcome_member(member) is True
    db.session.commit()
    assert mailings.welcome_member(member) is False
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.to_addr == member.email)) == 1


# ---- the public pages' cache (portal.news.pagecache) ------------------------------------------------------------------


def test_public_page_cache_never_outlives_the_change_that_hides_an_item(app, world, editors):
    shown = make_item(editors["central"], title="Открытая новость о билетах", public=True)
    later = make_item(editors["central"], title="Вторая открытая новость", public=True)
    draft = make_item(editors["central"], title="Черновик для всех", public=True, publish=False)
    anon = app.test_client()
    first = anon.get(f"/public/news/{shown.id}")
    assert first.status_code == 200 and first.headers["ETag"] and "no-cache" in first.headers["Cache-Control"]
    again = anon.get(f"/public/news/{shown.id}")
    assert again.headers["ETag"] == first.headers["ETag"] and again.data == first.data  # served from the cache
    assert anon.get(f"/public/news/{shown.id}", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    listing = anon.get("/public/news/").get_data(as_text=True)
    assert "Открытая новость о билетах" in listing and "Черновик для всех" not in listing
    assert anon.get(f"/public/news/{draft.id}").status_code == 404

    # Made non-public and aimed at region A only: gone from the public pages at the next request.
    ops.save_item(editors["central"], shown, {"title": shown.title, "lead": "", "body": shown.body,
                                              "category": "union", "audience_orgs": [world.region_a],
                                              "audience_categories": [], "is_public": False})
    db.session.commit()
    assert anon.get(f"/public/news/{shown.id}").status_code == 404
    assert anon.get(f"/public/news/{shown.id}", headers={"If-None-Match": first.headers["ETag"]}).status_code == 404
    assert "Открытая новость о билетах" not in anon.get("/public/news/").get_data(as_text=True)
    assert "Открытая новость о билетах" not in anon.get("/public/news/feed.atom").get_data(as_text=True)

    # Archived: the same.
    assert anon.get(f"/public/news/{later.id}").status_code == 200
    ops.transition(editors["central"], later, "archive")
    db.session.commit()
    assert anon.get(f"/public/news/{later.id}").status_code == 404
    assert "Вторая открытая новость" not in anon.get("/public/news/").get_data(as_text=True)


def test_public_page_cache_is_for_anonymous_readers_only(app, world, editors):
    item = make_item(editors["central"], title="Открытая новость", public=True)
    anon = app.test_client()
    assert anon.get(f"/public/news/{item.id}").headers.get("ETag")
    staff = app.test_client()
    login(staff, editors["region"])
    r = staff.get(f"/public/news/{item.id}")
    # Rendered for them (their navigation), never stored for others or by their browser.
    assert r.status_code == 200 and "ETag" not in r.headers and r.headers["Cache-Control"] == "no-store"
    with anon.session_transaction() as s:
        s["_flashes"] = [("info", "Сообщение одному читателю")]
    page = anon.get(f"/public/news/{item.id}").get_data(as_text=True)
    assert "Сообщение одному читателю" in page  # shown to its reader, not from (or into) the shared cache
    other = app.test_client()
    assert "Сообщение одному читателю" not in other.get(f"/public/news/{item.id}").get_data(as_text=True)


def test_every_news_write_advances_the_content_version(app, world, editors):
    from portal.news.pagecache import current_version

    before = current_version()
    item = make_item(editors["central"], title="Новость", publish=False)
    after_save = current_version()
    ops.transition(editors["central"], item, "publish")
    db.session.commit()
    published = current_version()
    assert before < after_save < published
    assert db.session.get(NewsItem, item.id).title == "Новость"  # a read changes nothing
    db.session.commit()
    assert current_version() == published


# ---- mailings: set-based queueing, rendering when sent ----------------------------------------------------------------


def test_mailing_progress_and_a_run_after_a_crash_adds_only_what_is_missing(app, world, editors):
    _with_email(world)
    make_item(editors["central"], title="Конкурс педагогов", category="contests")
    [m] = mailings.create_digests(mailings.PLAN["contests"], clock.now() + timedelta(minutes=1))
    db.session.commit()
    n = len(world.members)
    assert mailings.send(m.id, chunk=3, limit_chunks=1) == 3
    m = db.session.get(Mailing, m.id)
    assert (m.status, m.queued, m.total) == ("sending", 3, n)  # what the editor sees meanwhile: «3 из n»
    assert mailings.send(m.id, chunk=3) == n - 3
    db.session.expire_all()
    assert db.session.get(Mailing, m.id).queued == n
    # And once more, as if the job had crashed before marking it done: nothing is added.
    db.session.get(Mailing, m.id).status = "sending"
    db.session.commit()
    assert mailings.send(m.id) == 0
    ids = db.session.scalars(select(OutboxMessage.message_id).where(OutboxMessage.mailing_id == m.id)).all()
    assert len(ids) == len(set(ids)) == n and all(i.startswith(f"<mailing-{m.id}-") for i in ids)


def test_letters_are_rendered_when_sent_and_cancelled_for_who_unsubscribed_meanwhile(app, world, editors):
    _with_email(world)
    make_item(editors["central"], title="Скидки в книжных", category="partners")
    [m] = mailings.create_digests(mailings.PLAN["partners"], clock.now() + timedelta(minutes=1))
    db.session.commit()
    mailings.send(m.id)
    gone, stays = world.members["a"], world.members["b"]
    assert mailings.unsubscribe(gone.id, mailings.UNSUBSCRIBE_ALL)  # after the queueing, before the sending
    db.session.commit()
    while send_pending(limit=100).sent:
        pass
    rows = {r.member_id: r for r in db.session.scalars(select(OutboxMessage).where(OutboxMessage.mailing_id == m.id))}
    assert rows[gone.id].status == "cancelled" and rows[gone.id].body == ""
    sent = rows[stays.id]
    assert sent.status == "stored" and "Скидки в книжных" in sent.body  # the row keeps the text it was sent with
    assert mailings.unsubscribe_token(stays.id, "partners") in sent.body
    assert mailings.unsubscribe_token(gone.id, "partners") not in sent.body
