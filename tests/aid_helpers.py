"""Factories for the material-aid tests: the seed regulation in region A, aid roles, petitions in any state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest

from portal.aid import operations as ops
from portal.aid.models import AidPetition, AttachmentKind, PetitionAttachment, PetitionState
from portal.auth.models import Role
from portal.clock import today
from portal.extensions import db
from portal.files import store_bytes
from tests.conftest import create_member, create_user
from workflows.aid import seed_regulation

BIK = "044525225"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def account(n: int = 1) -> str:
    return ops.with_account_key(f"40817810{n:012d}", BIK)


def treatment(**kw) -> ops.TreatmentFacts:
    start = kw.pop("treatment_start", today() - timedelta(days=40))
    values = {"sanatorium": "Санаторий «Светлана»", "treatment_start": start,
              "treatment_end": start + timedelta(days=13), "voucher_source": "purchase", "payer": "member"}
    values.update(kw)
    return ops.TreatmentFacts(**values)


@dataclass
class AidWorld:
    world: object
    regulation: object
    users: dict


@pytest.fixture(name="aid")
def aid_fixture(world) -> AidWorld:
    """Region A with seed 004's regulation, a presidium member, a second one, and an accountant; region B too."""
    reg = ops.save_regulation(None, world.region_a, seed_regulation(), valid_from=date(2020, 1, 1))
    ops.save_regulation(None, world.region_b, seed_regulation(), valid_from=date(2020, 1, 1))
    world.region_a.chair_name = "Прохоров Сергей Александрович"
    db.session.commit()
    users = dict(world.users)
    users["presidium_member"] = create_user(world.region_a, Role.PRESIDIUM_MEMBER, "presidium")
    users["presidium_member2"] = create_user(world.region_a, Role.PRESIDIUM_MEMBER, "presidium2")
    users["accountant"] = create_user(world.region_a, Role.ACCOUNTANT, "accountant")
    users["other_presidium"] = create_user(world.region_b, Role.PRESIDIUM_MEMBER, "omskpresidium")
    return AidWorld(world, reg, users)


def file(aid: AidWorld, member=None, **kw):
    """File an eligible petition for a member of school A (commits)."""
    w = aid.world
    member = member or create_member(w.school_a)
    p = ops.file_petition(aid.users["primary_chair"], member, treatment(**kw), today() - timedelta(days=3), "7",
                          account(member.id), BIK, "ПАО Сбербанк")
    db.session.commit()
    return p


def attach_proof(p: AidPetition) -> None:
    name = f"proof{p.id}.pdf"
    store_bytes(ops.ATTACHMENT_AREA, name, PDF)
    db.session.add(PetitionAttachment(petition_id=p.id, kind=AttachmentKind.PROOF, stored_name=name,
                                      file_type="pdf", original_name="talon.pdf", size=len(PDF)))
    db.session.commit()
    db.session.expire(p, ["attachments"])


def decision(**kw) -> dict:
    return {"decision_date": today(), "decision_number": "12", **kw}


def petition_in(aid: AidWorld, state: str, member=None) -> AidPetition:
    """A petition brought to a state through the workflow itself."""
    p = file(aid, member)
    if state == "filed":
        return p
    attach_proof(p)
    ops.act(p, "review", aid.users["regional_staff"])
    db.session.commit()
    if state == "reviewed":
        return p
    if state == "rejected":
        ops.act(p, "reject", aid.users["presidium_member"], params=decision(), comment="нет документов")
        db.session.commit()
        return p
    ops.act(p, "approve", aid.users["presidium_member"], params=decision())
    db.session.commit()
    if state == "approved":
        return p
    ops.act(p, "pay", aid.users["accountant"], params={"paid_on": today(), "payment_reference": "п/п 451"})
    db.session.commit()
    assert p.state == PetitionState.PAID
    return p


__all__ = ["aid_fixture", "file", "attach_proof", "decision", "petition_in", "treatment", "account", "BIK", "PDF", "PNG",
           "Decimal"]
