"""Test fixtures: a migrated database per test, factories, a small two-region world, and a login helper.

The database is SQLite by default (a template migrated once per run, copied for each test) and PostgreSQL when
TEST_DATABASE_URL is set (a database created and migrated once per run and worker, truncated after each test).
Tests run against the schema the Alembic migrations build, never `create_all`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.auth.models import Role, User
from portal.extensions import db
from portal.registry import operations as ops
from portal.registry.models import (
    Category,
    DuesForm,
    Education,
    Gender,
    InstitutionKind,
    Member,
    Organisation,
    OrgLevel,
)

PASSWORD = "correct-horse-battery"
DATA = Path(__file__).parent / "data"

BASE_CONFIG = {
    "TESTING": True,
    "WTF_CSRF_ENABLED": False,
    "SESSION_COOKIE_SECURE": False,
    "SECRET_KEY": "test-secret",
    "PASSWORD_HASH_COST": "test",  # argon2's cheapest parameters: the standard cost made accounts most of the suite's time
}


def _pg_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _migrate(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    """Session-wide: where each test's database comes from ({'kind': 'sqlite', 'template': path} or PostgreSQL)."""
    pg = _pg_url()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    instance = tmp_path_factory.mktemp("instance")
    os.environ["PORTAL_INSTANCE"] = str(instance)
    if pg:
        name = f"portal_test_{worker}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(make_url(pg), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(pg).set(database=name).render_as_string(hide_password=False)
        _migrate(create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url}))
        yield {"kind": "postgresql", "url": url}
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        template = instance / "template.sqlite3"
        _migrate(create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{template}"}))
        yield {"kind": "sqlite", "template": template, "dir": instance}


def _truncate_all(app) -> None:
    with app.app_context():
        db.session.remove()
        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture
def db_url(database, tmp_path):
    """A fresh, migrated, empty database for one test."""
    if database["kind"] == "sqlite":
        path = tmp_path / "portal.sqlite3"
        shutil.copy(database["template"], path)
        yield f"sqlite:///{path}"
    else:
        yield database["url"]


@pytest.fixture
def make_app(db_url, tmp_path):
    """Build an app on this test's database with config overrides; cleaned up after the test."""
    apps = []

    def factory(**overrides):
        # The search index lives beside the test's database: an index left by another test would answer for rows
        # that are not there.
        cfg = {**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": db_url, "UPLOAD_DIR": str(tmp_path / "uploads"),
               "SEARCH_INDEX_DIR": str(tmp_path / "search_index"), **overrides}
        a = create_app(cfg)
        apps.append(a)
        return a

    yield factory
    for a in apps:
        with a.app_context():
            db.session.remove()
            db.engine.dispose()
    if apps and db_url.startswith("postgresql"):
        _truncate_all(apps[0])


@pytest.fixture
def app(make_app):
    a = make_app()
    with a.app_context():
        yield a
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


# ---- factories --------------------------------------------------------------------------------------------------


_counter = {"n": 0}


def _next() -> int:
    _counter["n"] += 1
    return _counter["n"]


def create_org(parent: Organisation | None, level: OrgLevel, name: str | None = None, **kw) -> Organisation:
    """An organisation under `parent` (commits)."""
    n = _next()
    if level == OrgLevel.PRIMARY:
        kw.setdefault("kind", InstitutionKind.SCHOOL)
        kw.setdefault("staff_count", 40)
    org = ops.add_organisation(None, parent, level, name or f"Организация {level.value} {n}",
                               short_name=kw.pop("short_name", f"Орг {n}"), **kw)
    db.session.commit()
    return org


def member_data(**overrides) -> dict:
    data = {
        "last_name": "Иванова", "first_name": "Мария", "patronymic": "Петровна",
        "birth_date": date(1985, 3, 14), "gender": Gender.FEMALE, "department": "",
        "position": "учитель математики", "education": Education.HIGHER, "dues_form": DuesForm.CASHLESS,
        "joined_on": date(2010, 9, 1), "category": Category.WORKING, "address": "", "phone": "", "email": "",
    }
    data.update(overrides)
    return data


# What the consent form needs beyond the mandatory card (152-FZ art. 9 part 4: the subject's address and identity
# document; the workplace and the operator's address from the passport). `world` members have all of it.
CONSENT_REQUISITES = {
    "address": "г. Липецк, ул. Советская, д. 1, кв. 1", "id_doc_type": "паспорт гражданина Российской Федерации",
    "id_doc_number": "42 10 123456", "id_doc_issued_on": date(2010, 3, 1),
    "id_doc_issuer": "Отделом УФМС России по Липецкой области в г. Липецке",
}


def ready_for_consent(member: Member) -> Member:
    """Fill what the consent form needs on the member's card and organisation's passport (commits)."""
    for key, value in CONSENT_REQUISITES.items():
        if not getattr(member, key):
            setattr(member, key, value)
    org = member.org
    org.address = org.address or "г. Липецк, ул. Профсоюзная, д. 1"
    org.institution_name = org.institution_name or f"Учреждение при {org.name}"
    db.session.commit()
    return member


def create_member(org: Organisation, **overrides) -> Member:
    """A member of a primary organisation (commits); unique names unless given."""
    if "last_name" not in overrides:
        overrides["last_name"] = f"Иванова-{_roman(_next())}"
    m = ops.create_member(None, org, member_data(**overrides))
    db.session.commit()
    return m


def _roman(n: int) -> str:
    letters = "абвгдежзиклмнопрстуфхцчшэюя"
    out = ""
    while True:
        out = letters[n % len(letters)] + out
        n //= len(letters)
        if not n:
            return out.capitalize()


def create_user(org: Organisation, role: Role, login: str | None = None, password: str = PASSWORD) -> User:
    user = User(login=login or f"user{_next()}", role=role, org_id=org.id, full_name="Тестовый пользователь",
                must_change_password=False)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def login(client, user_or_login, password: str = PASSWORD):
    """Log a test client in; asserts the login worked."""
    name = user_or_login if isinstance(user_or_login, str) else user_or_login.login
    r = client.post("/login", data={"login": name, "password": password})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return r


@dataclass
class World:
    """Two regions, each with territorials and primaries, members in every primary, and one user per role in region A."""

    central: Organisation
    region_a: Organisation
    region_b: Organisation
    terr_a: Organisation
    terr_a2: Organisation
    terr_b: Organisation
    school_a: Organisation
    school_a2: Organisation
    school_a3: Organisation  # under terr_a2
    college_a: Organisation  # directly under region_a
    school_b: Organisation
    members: dict[str, Member] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)


@pytest.fixture
def world(app) -> World:
    c = create_org(None, OrgLevel.CENTRAL, "ЦС Профсоюза")
    ra = create_org(c, OrgLevel.REGIONAL, "Липецкая областная организация")
    rb = create_org(c, OrgLevel.REGIONAL, "Омская областная организация")
    ta = create_org(ra, OrgLevel.TERRITORIAL, "Городская организация г. Липецка")
    ta2 = create_org(ra, OrgLevel.TERRITORIAL, "Районная организация г. Ельца")
    tb = create_org(rb, OrgLevel.TERRITORIAL, "Городская организация г. Омска")
    sa = create_org(ta, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 17 г. Липецка")
    sa2 = create_org(ta, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 5 г. Липецка")
    sa3 = create_org(ta2, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 1 г. Ельца")
    ca = create_org(ra, OrgLevel.PRIMARY, "ППО Липецкого педагогического колледжа", kind=InstitutionKind.COLLEGE)
    sb = create_org(tb, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 3 г. Омска")
    w = World(c, ra, rb, ta, ta2, tb, sa, sa2, sa3, ca, sb)
    for key, org, surname in [("a", sa, "Алексеева"), ("a2", sa2, "Борисова"), ("a3", sa3, "Васильева"),
                              ("college", ca, "Григорьева"), ("b", sb, "Дмитриева")]:
        w.members[key] = ready_for_consent(create_member(org, last_name=surname, first_name="Анна"))
    w.users = {
        "central_admin": create_user(c, Role.CENTRAL_ADMIN, "central"),
        "regional_chair": create_user(ra, Role.REGIONAL_CHAIR, "regchair"),
        "regional_staff": create_user(ra, Role.REGIONAL_STAFF, "regstaff"),
        "territorial_chair": create_user(ta, Role.TERRITORIAL_CHAIR, "terrchair"),
        "primary_chair": create_user(sa, Role.PRIMARY_CHAIR, "schoolchair"),
        "other_region_chair": create_user(rb, Role.REGIONAL_CHAIR, "omskchair"),
    }
    return w
