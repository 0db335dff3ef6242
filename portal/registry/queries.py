"""Query pieces the member list, the search and the export share (sort orders, filters, the search condition)."""

from __future__ import annotations

from sqlalchemy import and_

from portal.registry.models import CardStatus, Category, ConsentStatus, DuesForm, Member, MemberStatus
from portal.text import fold, like_prefix

SORTS = {
    "name": (Member.last_name_folded, Member.id),
    "-name": (Member.last_name_folded.desc(), Member.id.desc()),
    "birth": (Member.birth_date, Member.id),
    "-birth": (Member.birth_date.desc(), Member.id.desc()),
    "joined": (Member.joined_on, Member.id),
    "-joined": (Member.joined_on.desc(), Member.id.desc()),
}
FILTERS = {
    "category": (Member.category, Category),
    "consent": (Member.consent_status, ConsentStatus),
    "card": (Member.card_status, CardStatus),
    "dues": (Member.dues_form, DuesForm),
    "status": (Member.status, MemberStatus),
}


def search_condition(q: str):
    """A card number (digits) matches exactly; anything else is a surname prefix, case- and ё-insensitive."""
    q = q.strip()
    digits = q.replace(" ", "")
    if digits.isdigit() and len(digits) >= 6:
        return Member.card_number == digits
    words = fold(q).split(" ")
    cond = Member.last_name_folded.like(like_prefix(words[0]), escape="\\")
    if len(words) > 1:
        cond = and_(cond, Member.person_key.like(like_prefix(f"{words[0]}|{words[1]}"), escape="\\"))
    return cond
