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


def test_the_demo_region_has_its_own_regulation_and_documents_fit_to_sign(app):
    """Issue 9 items 6–9 on the demo: Lipetsk's regulation is made from the template (its addressee in the dative,
    no Saratov), and a demo member's consent and the demo petitions print with their requisites."""
    from portal.aid import operations as aid_ops
    from portal.aid.models import AidPetition
    from portal.documents import consent_docx
    from portal.documents.aid import petition_docx
    from tests.document_helpers import docx_text

    assert app.test_cli_runner().invoke(args=["demo-data", "--members", "150", "--regions", "2"]).exit_code == 0
    region = db.session.scalar(select(User).where(User.login == "region")).org
    assert region.name.startswith("Липецкая областная")
    reg = aid_ops.current_regulation(region)
    assert reg.addressee.splitlines()[:2] == ["Председателю", "Липецкой областной организации Общероссийского "
                                              "Профсоюза образования"]
    assert "Саратов" not in reg.addressee + reg.programme_name and reg.programme_name
    petition = db.session.scalar(select(AidPetition).limit(1))
    text = docx_text(petition_docx(aid_ops.petition_doc(petition)))
    assert "Председателю Липецкой областной организации" in text and "Саратов" not in text
    assert f"Санаторно-курортное учреждение: {petition.sanatorium}" in text
    member = db.session.scalar(select(Member).where(Member.org_id == petition.org_id).limit(1))
    assert member.consent_missing() == []
    consent = docx_text(consent_docx(member))
    assert f"Место работы (учёбы) {member.org.institution_name}" in consent  # the DOCX's table: label, value
    assert not member.org.institution_name.startswith("Первичная") and f"ИНН {member.org.inn}" in consent
    assert f"Серия и номер документа {member.id_doc_number}" in consent


def test_demo_members_log_in_to_the_cabinet(app):
    result = app.test_cli_runner().invoke(args=["demo-data", "--members", "300", "--regions", "3"])
    assert result.exit_code == 0, result.output
    assert "2202000000000010" in result.output  # the README's member login
    c = app.test_client()
    r = c.post("/cabinet/login", data={"card_number": "2202 0000 0000 0010", "password": DEMO_PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    assert "2202000000000010" in c.get("/cabinet/card").get_data(as_text=True)
