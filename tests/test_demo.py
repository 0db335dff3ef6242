"""`portal demo-data`: a realistic hierarchy, members and one working account per role; never over real data."""

from sqlalchemy import func, select

from portal.auth.models import Role, User
from portal.demo import DEMO_PASSWORD
from portal.extensions import db
from portal.registry.models import Member, MemberEvent, Organisation, OrgLevel
from tests.conftest import login


def test_demo_data_builds_a_registry_with_accounts_that_log_in(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo-data", "--members", "300", "--regions", "3"])
    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.output
    levels = dict(db.session.execute(select(Organisation.level, func.count()).group_by(Organisation.level)).all())
    assert levels[OrgLevel.CENTRAL] == 1 and levels[OrgLevel.REGIONAL] == 3
    assert levels[OrgLevel.TERRITORIAL] >= 3 and levels[OrgLevel.PRIMARY] >= 20
    assert db.session.scalar(select(func.count()).select_from(Member)) == 300
    assert db.session.scalar(select(func.count()).select_from(MemberEvent)) == 300
    # Every organisation's path names its ancestors: the subtree query depends on it.
    for org in db.session.scalars(select(Organisation)):
        parent = db.session.get(Organisation, org.parent_id) if org.parent_id else None
        assert org.path == f"{parent.path if parent else '/'}{org.id}/"
    roles = {u.login: u.role for u in db.session.scalars(select(User))}
    assert set(roles.values()) == set(Role)
    for login_name in roles:
        c = app.test_client()
        login(c, login_name, DEMO_PASSWORD)
        assert c.get("/", follow_redirects=True).status_code == 200
    school = db.session.scalar(select(User).where(User.login == "school"))
    assert school.org.level == OrgLevel.PRIMARY


def test_demo_data_refuses_a_registry_that_has_data(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo-data", "--members", "10", "--regions", "1"]).exit_code == 0
    again = runner.invoke(args=["demo-data", "--members", "10", "--regions", "1"])
    assert again.exit_code != 0 and "только в пустую базу" in again.output
    quiet = runner.invoke(args=["demo-data", "--if-empty"])
    assert quiet.exit_code == 0 and "уже загружены" in quiet.output
    assert db.session.scalar(select(func.count()).select_from(Member)) == 10


def test_demo_data_rejects_bad_numbers(app):
    result = app.test_cli_runner().invoke(args=["demo-data", "--regions", "40"])
    assert result.exit_code != 0 and "регионов" in result.output


def test_demo_members_log_in_to_the_cabinet(app):
    result = app.test_cli_runner().invoke(args=["demo-data", "--members", "300", "--regions", "3"])
    assert result.exit_code == 0, result.output
    assert "2202000000000010" in result.output  # the README's member login
    c = app.test_client()
    r = c.post("/cabinet/login", data={"card_number": "2202 0000 0000 0010", "password": DEMO_PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    assert "2202000000000010" in c.get("/cabinet/card").get_data(as_text=True)
