"""The member list and search pages cost a handful of SQL statements, however many rows they show.

A regression test, not a timing test: the statements of one request are counted with an engine event. Before,
the commit of the audit entry expired every loaded object and the template reloaded them one by one (31–56
statements a page); the rows a page shows are now read once, and nothing is read after the audit commit.
"""

from __future__ import annotations

import json

import pytest
from flask import request
from flask_login import login_user
from sqlalchemy import event, select

from portal.audit import AuditEntry
from portal.auth.models import User
from portal.extensions import db
from portal.registry import views
from portal.registry.models import Member, Organisation
from tests.conftest import create_member, login

# user load, page (with the organisations' names), count, audit insert — and one to spare.
MAX_STATEMENTS = 5


class Statements:
    """The SQL statements the engine runs while the block is open."""

    def __init__(self, engine):
        self.engine = engine
        self.seen: list[str] = []

    def _on(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(" ".join(statement.split()))

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._on)

    def __len__(self) -> int:
        return len(self.seen)


def _get(app, client, url: str) -> tuple[str, Statements]:
    """GET as a server would run it: in an app context (and so a session) of its own, not the test's."""
    with app.app_context(), Statements(db.engine) as st:
        r = client.get(url)
        assert r.status_code == 200, r.status_code
        return r.get_data(as_text=True), st


LETTERS = "абвгдежзиклмнопрстуфхцчшэюя"


_made = {"n": 0}


def _fill(org, n: int, surname: str = "Смирнова") -> None:
    """n members of the organisation, every surname starting with `surname` and each person new."""
    for _ in range(n):
        i = _made["n"] = _made["n"] + 1
        suffix = LETTERS[i // len(LETTERS) % len(LETTERS)] + LETTERS[i % len(LETTERS)]
        create_member(org, last_name=f"{surname}-{suffix}", first_name="Ольга")


def _assert_page_shape(st: Statements) -> None:
    assert len(st) <= MAX_STATEMENTS, "\n".join(st.seen)
    # The audit entry is the last statement: nothing is reloaded after its commit (the old cost: one per row).
    assert st.seen[-1].startswith("INSERT INTO audit_log"), "\n".join(st.seen)
    assert sum(s.startswith("INSERT") for s in st.seen) == 1


def test_primary_list_page_is_a_handful_of_statements_however_many_rows(app, client, world):
    login(client, world.users["primary_chair"])
    url = f"/orgs/{world.school_a.id}/members"
    _, few = _get(app, client, url)
    _assert_page_shape(few)
    _fill(world.school_a, 60)
    html, full = _get(app, client, url)
    _assert_page_shape(full)
    assert html.count('name="member_ids"') == 50 and "страница 1 из 2" in html
    # A full first page needs the count for the pager; a page of a few rows is its own count.
    assert len(full) <= len(few) + 1, "\n".join(full.seen)
    html, second = _get(app, client, url + "?page=2")
    _assert_page_shape(second)
    assert html.count('name="member_ids"') == 11


def test_territorial_search_in_the_list_is_a_handful_of_statements(app, client, world):
    _fill(world.school_a, 30)
    _fill(world.school_a2, 30)
    login(client, world.users["territorial_chair"])
    html, st = _get(app, client, f"/orgs/{world.terr_a.id}/members?q=смирн")
    _assert_page_shape(st)
    assert html.count('name="member_ids"') == 50 and "Найдено: 60" in html
    assert str(world.school_a) in html and str(world.school_a2) in html  # the organisation column is filled


def test_search_page_is_a_handful_of_statements(app, client, world):
    _fill(world.school_a, 40)
    _fill(world.school_a3, 20)
    login(client, world.users["regional_chair"])
    html, st = _get(app, client, "/search?q=Смирн")
    _assert_page_shape(st)
    assert html.count('href="/members/') == 50 and "Показаны первые 50" in html


def test_the_audit_entry_of_a_page_is_committed_with_the_ids_shown(app, client, world):
    _fill(world.school_a, 3)
    login(client, world.users["primary_chair"])
    html, _ = _get(app, client, f"/orgs/{world.school_a.id}/members")
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "member_list")
                                   .order_by(AuditEntry.id.desc())).first()
        shown = set(db.session.scalars(select(Member.id).where(Member.org_id == world.school_a.id)))
        assert entry is not None and entry.actor_login == world.users["primary_chair"].login
        assert set(json.loads(entry.details)["ids"]) == shown
        assert all(f'href="/members/{i}"' in html for i in shown)


def test_a_change_shows_on_the_next_page_view(app, client, world):
    """Nothing loaded by one request outlives it: the page after an edit shows the edit."""
    login(client, world.users["primary_chair"])
    url = f"/orgs/{world.school_a.id}/members"
    assert "Алексеева Анна" in _get(app, client, url)[0]
    with app.app_context():
        m = db.session.get(Member, world.members["a"].id)
        m.last_name = "Прохорова"
        m.refresh_keys()
        db.session.commit()
    html, _ = _get(app, client, url)
    assert "Прохорова Анна" in html and "Алексеева Анна" not in html


def test_page_rows_hold_only_what_the_list_shows(app, world):
    """A template that starts showing another attribute must read it with the page, not one query per row."""
    user_id, org_id = world.users["primary_chair"].id, world.school_a.id
    with app.app_context(), app.test_request_context(f"/orgs/{org_id}/members"):
        login_user(db.session.get(User, user_id))
        rows = views.member_page(db.session.get(Organisation, org_id), request.args)["rows"]
        assert rows and rows[0].full_name == "Алексеева Анна Петровна"
        with pytest.raises(AttributeError):
            _ = rows[0].phone
        with pytest.raises(AttributeError):
            _ = rows[0].org
