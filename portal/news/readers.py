"""Who reads news: the seam between news and the member cabinet (SPEC §7), and the reader scopes.

The member cabinet is built on another branch. Until it is merged, `current_member()` answers None (no member is
logged in) and `members_with_cabinet()` means every active member with an email address. When the cabinet lands,
these two functions are pointed at its model and session; nothing else in news changes.
"""

from __future__ import annotations

from flask_login import current_user
from sqlalchemy import Select, select

from portal import policy
from portal.registry.models import Member, MemberStatus
from search_index import Scope, ancestor_paths

# Anonymous readers: public items only, whatever their audience (a region's public news is on the public site).
PUBLIC_SCOPE = Scope(ancestors=None, public_only=True)


def current_member() -> Member | None:
    """The member logged in to the cabinet, if any (seam: the cabinet branch provides it)."""
    return None


def members_with_cabinet() -> Select:
    """select(Member.id) of the members mailings go to (seam: members who opened a cabinet, once it exists)."""
    return select(Member.id).where(Member.status == MemberStatus.ACTIVE, Member.email != "")


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
