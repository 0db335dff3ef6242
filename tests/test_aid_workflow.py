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
