"""The staff side of the cabinet: who has registered, and the printable instruction for members."""

from __future__ import annotations

from flask import Blueprint, Response, url_for
from flask_login import current_user
from sqlalchemy import select

from portal import audit, policy
from portal.cabinet import operations as ops
from portal.clock import today
from portal.extensions import db
from portal.policy import Permission
from portal.registry.models import CardStatus, ConsentStatus, Member, MemberStatus, OrgLevel

bp = Blueprint("cabinet_staff", __name__)
policy.staff_only(bp)

INSTRUCTION_LIMIT = 3000  # pages in one PDF: a primary organisation's whole list


@bp.route("/orgs/<int:org_id>/cabinet-instruction.pdf")
def instruction(org_id: int):
    """The members' instruction as a PDF: for a primary organisation a page per member whose card was issued (with
    the card number); for organisations above, one page to copy (numbers written in by hand).

    Card numbers are personal data: the download is audited with the members' ids.
    """
    from portal.documents.member_instruction import member_instruction_pdf

    org = policy.get_org(current_user, org_id)
    policy.require(current_user, Permission.VIEW_REGISTRY)
    members: list[tuple[str, str]] = []
    ids: list[int] = []
    if org.level == OrgLevel.PRIMARY:
        rows = db.session.scalars(select(Member).where(
            Member.org_id == org.id, Member.status == MemberStatus.ACTIVE, Member.card_status == CardStatus.ISSUED,
            Member.consent_status.in_([ConsentStatus.SIGNED, ConsentStatus.TRANSFERRED]))
            .order_by(Member.last_name_folded, Member.id).limit(INSTRUCTION_LIMIT)).all()
        members = [(m.full_name, m.card_number or "") for m in rows]
        ids = [m.id for m in rows]
    pdf = member_instruction_pdf(org.name, org.chair_name, members,
                                 register_url=url_for("cabinet.register", _external=True),
                                 login_url=url_for("cabinet.login", _external=True),
                                 support_phone=ops.SUPPORT_PHONE, support_email=ops.SUPPORT_EMAIL, on=today())
    audit.record("member_instruction", org, ids=ids)
    db.session.commit()
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=instruction-{org.id}.pdf"})
