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
