"""Who reads news: the seam between news and the member cabinet (SPEC §7), and the reader scopes.

`current_member()` is the member of the cabinet session (portal.cabinet: a MemberAccount is the Flask-Login user);
`members_with_cabinet()` are the members whose cabinet is open with a confirmed email, which is where their
mailings go. These two functions are all that news knows of the cabinet.
"""

from __future__ import annotations

from flask_login import current_user
from sqlalchemy import Select, select

from portal import policy
from portal.extensions import db
from portal.registry.models import Member, MemberStatus
from search_index import Scope, ancestor_paths

# Anonymous readers: public items only, whatever their audience (a region's public news is on the public site).
PUBLIC_SCOPE = Scope(ancestors=None, public_only=True)


def current_member() -> Member | None:
    """The member logged in to the cabinet, if any."""
    if policy.is_member_principal(current_user):
        return current_user.member
    return None


def members_with_cabinet() -> Select:
    """select(member_id, email) of the members mailings go to: an open cabinet with a confirmed email (the
    cabinet's address, which the member confirmed, not the registry's), still an active member."""
    from portal.cabinet.models import MemberAccount

    return (select(MemberAccount.member_id.label("member_id"), MemberAccount.email.label("email"))
            .join(Member, Member.id == MemberAccount.member_id)
            .where(MemberAccount.closed_at.is_(None), MemberAccount.email_confirmed_at.is_not(None),
                   Member.status == MemberStatus.ACTIVE))


def cabinet_member_bound(after: int, n: int) -> int | None:
    """The member id of the `n`-th cabinet account after member id `after` (None: fewer are left) — how a mailing
    walks its recipients in chunks of accounts (the unique index on member_accounts.member_id, no table scan)."""
    from portal.cabinet.models import MemberAccount

    return db.session.scalar(select(MemberAccount.member_id).where(MemberAccount.member_id > after)
                             .order_by(MemberAccount.member_id).offset(max(n, 1) - 1).limit(1))


def member_scope(member: Member) -> Scope:
    """A member reads published items aimed at everyone, at their organisation or one above it, and at their
    category; never archives."""
    return Scope(ancestors=ancestor_paths(member.org.path), category=member.category.value)


def reader_scope() -> Scope:
    """The scope of whoever is reading: a member in the cabinet, staff with READ_NEWS, or the public."""
    member = current_member()
    if member is not None:
        return member_scope(member)
    if policy.has_permission(current_user, policy.Permission.READ_NEWS):
        return policy.news_reader_scope(current_user)
    return PUBLIC_SCOPE
