"""Registry guards several workflows share (the member must be active), and the member's scope for transitions."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext

from portal import policy
from portal.registry.models import Member, MemberStatus
from workflows import guard


def member_of(obj) -> Member:
    """The member a workflow object is about (the member itself, or a card's member)."""
    return obj if isinstance(obj, Member) else obj.member


def member_in_scope(actor, member) -> bool:
    """May this actor act on this member's workflows (edit rights, the member's organisation in their scope)."""
    if policy.is_member_principal(actor):  # a member acts only on their own record (the cabinet's withdrawal)
        return getattr(actor, "member_id", None) == member.id
    # A member of the actor's own organisation is in scope without loading the organisation (a query per transition).
    return policy.has_permission(actor, policy.Permission.EDIT_MEMBERS) and (
        member.org_id == actor.org_id or policy.org_in_scope(actor, member.org))


@guard("member_is_active")
def member_is_active(obj, actor, params):
    """Only a member on the register may sign consent or get a card."""
    if member_of(obj).status != MemberStatus.ACTIVE:
        return gettext("Человек не состоит на учёте в Профсоюзе.")
    return None


def date_param(params, key) -> date | None:
    """A date typed with the action (the form gives a `date`, anything else counts as missing)."""
    value = params.get(key)
    return value if isinstance(value, date) else None
