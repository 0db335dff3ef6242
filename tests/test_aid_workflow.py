"""The aid petition workflow through its operations: the whole path, filing refused, overrides, own petitions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.aid import operations as ops
from portal.clock import today
from portal.extensions import db
from tests.aid_helpers import BIK, account, aid_fixture, attach_proof, decision, file, petition_in, treatment  # noqa: F401
from tests.conftest import create_member
from workflows import AID_PETITION, history


def test_whole_path_records_history_and_amount(aid):
    p = petition_in(aid, "paid")
    assert p.amount == p.computed_amount == Decimal("6000.00")  # joined 2010: 16 years, level under 80 %
    assert [h.action for h in history(AID_PETITION, p)] == ["file", "review", "approve", "pay"]
    assert p.decision_number == "12" and p.payment_reference == "п/п 451" and not p.is_override


def test_ineligible_petition_cannot_be_filed(aid):
    m = create_member(aid.world.school_a)
    with pytest.raises(ops.AidError) as e:
        ops.file_petition(aid.users["primary_chair"], m, treatment(voucher_source="fsb"), today(), "1",
                          account(), BIK, "Банк")
    assert "ФСБ" in e.value.message
    db.session.rollback()
    assert ops.open_petition(m.id) is None


def test_one_open_petition_per_member(aid):
    p = file(aid)
    with pytest.raises(ops.AidError, match="уже есть ходатайство"):
        file(aid, p.member)


def test_demo_data_has_the_regulation_accounts_and_petitions(app):
    from sqlalchemy import select

    from portal.aid.models import AidPetition, AidRegulation
    from portal.auth.models import Role, User
    from workflows.aid import seed_regulation

    result = app.test_cli_runner().invoke(args=["demo-data", "--members", "3000", "--regions", "2"])
    assert result.exit_code == 0, result.output
    users = {u.login: u for u in db.session.scalars(select(User))}
    assert users["presidium"].role == Role.PRESIDIUM_MEMBER and users["accountant"].role == Role.ACCOUNTANT
    region = users["region"].org
    assert users["presidium"].org_id == users["accountant"].org_id == region.id
    reg = db.session.scalar(select(AidRegulation).where(AidRegulation.org_id == region.id))
    assert reg.to_rules().bands == seed_regulation().bands
    states = {p.state.value for p in db.session.scalars(select(AidPetition))}
    assert {"filed", "reviewed", "approved", "paid", "rejected"} <= states
    assert any(p.is_override for p in db.session.scalars(select(AidPetition)))


def test_workflow_diagram_shows_the_aid_petition(aid, client):
    from tests.conftest import login

    login(client, aid.users["regional_chair"])
    page = client.get("/workflows/aid_petition")
    assert page.status_code == 200 and "Оказать помощь на иных условиях" in page.get_data(as_text=True)
    svg = client.get("/workflows/aid_petition.svg")
    assert svg.status_code == 200 and b"<svg" in svg.data


def test_central_admin_writes_a_new_version_for_a_region(aid, client):
    from portal.aid.models import AidRegulation
    from tests.conftest import login

    login(client, aid.users["central_admin"])
    assert "Омская" in client.get("/aid/regulation").get_data(as_text=True)  # the list of regions
    region = aid.world.region_b
    form = client.get(f"/aid/regulation/edit?org_id={region.id}")
    assert form.status_code == 200
    data = {"title": "Положение (Омск)", "valid_from": today().isoformat(), "level_base_max": "75",
            "level_full": "100", "min_tenure_years": "2", "min_stay_days": "10", "repeat_interval_days": "730",
            "excluded": ["mod"], "payers": ["member", "union_programme"], "org_id": str(region.id),
            "addressee": "Председателю\nОмской областной организации\nИванову И.И.",
            "bands-0-min_years": "2", "bands-0-max_years": "", "bands-0-base": "5000", "bands-0-above": "6000",
            "bands-0-full": "7000"}
    assert client.post(f"/aid/regulation/edit?org_id={region.id}", data=data).status_code == 302
    current = ops.current_regulation(region)
    assert current.version == 2 and current.to_rules().level_base_max == Decimal("75.00")
    assert ops.current_regulation(aid.world.region_a).version == 1
    assert db.session.query(AidRegulation).count() == 3
    gap = {**data, "bands-0-max_years": "5"}  # the last row must be open
    assert client.post(f"/aid/regulation/edit?org_id={region.id}", data=gap).status_code == 422


@pytest.mark.parametrize(("values", "constraint"), [
    ({"state": "paid", "decision_date": today(), "decision_number": "1"}, "payment_recorded"),
    ({"state": "approved"}, "decision_recorded"),
    ({"is_override": True}, "override_recorded"),
    ({"amount": Decimal("-1")}, "amounts_nonnegative"),
    ({"bik": "12345"}, "bank_details_length"),
    ({"state": "bogus"}, "aid_petition_state"),
])
def test_the_database_refuses_what_the_states_forbid(aid, values, constraint):
    """The CHECKs hold even for a write that skips the workflow (a script, a bad migration)."""
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError, StatementError

    from portal.aid.models import AidPetition

    p = file(aid)
    with pytest.raises((IntegrityError, StatementError)) as e:
        db.session.execute(update(AidPetition.__table__).where(AidPetition.id == p.id).values(**values))
        db.session.flush()
    db.session.rollback()
    assert constraint in str(e.value)
