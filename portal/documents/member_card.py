"""The copy of the member card (профсоюзная карточка, SPEC §3): every field, tenure, history, consent and card."""

from __future__ import annotations

from datetime import date

from portal.documents.data import member_card_data
from portal.documents.pdf import render_pdf
from portal.registry.models import Member

HTML_TEMPLATE = "member_card/template.html"


def member_card_pdf(member: Member, on: date | None = None) -> bytes:
    """The member card as a PDF, e.g. to attach to an aid petition (seed 004: «копия профсоюзной карточки»)."""
    return render_pdf(HTML_TEMPLATE, card=member_card_data(member, on))
