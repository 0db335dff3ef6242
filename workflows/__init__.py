"""Workflows as data (one module per workflow) and the engine that interprets them.

`CONSENT`, `CARD_REQUEST`, `CARD`, `AID_PETITION` and `NEWS_ITEM` are the built workflows; pages and jobs change their states
only through `fire(workflow, obj, action, actor, ...)`.
"""

from portal import policy
from portal.aid.models import AidPetition
from portal.cards.models import Card, CardRequest
from portal.news.models import NewsItem
from portal.registry.models import Member
from workflows import aid_guards as _aid_guards  # noqa: F401  (registers the aid guards and effects)
from workflows import aid_petition, card, card_request, consent, news_item
from workflows import guards as _guards  # noqa: F401  (registers guards and effects)
from workflows import news_guards as _news_guards  # noqa: F401  (registers the news guards and effects)
from workflows.engine import (  # noqa: F401
    WorkflowConflict,
    WorkflowError,
    available,
    build,
    check_registered,
    fire,
    history,
    may,
    problems,
)


def _member_in_scope(actor, member) -> bool:
    if policy.is_member_principal(actor):  # a member acts only on their own record
        return getattr(actor, "member_id", None) == member.id
    # A member of the actor's own organisation is in scope without loading the organisation (a query per transition).
    return policy.has_permission(actor, policy.Permission.EDIT_MEMBERS) and (
        member.org_id == actor.org_id or policy.org_in_scope(actor, member.org))


CONSENT = build(consent.DEFINITION, Member, scope=_member_in_scope)
CARD_REQUEST = build(card_request.DEFINITION, CardRequest,
                     scope=lambda actor, req: policy.org_in_scope(actor, req.org))
CARD = build(card.DEFINITION, Card, scope=lambda actor, c: _member_in_scope(actor, c.member))
AID_PETITION = build(aid_petition.DEFINITION, AidPetition, scope=policy.petition_in_scope)
NEWS_ITEM = build(news_item.DEFINITION, NewsItem, scope=policy.news_item_in_scope)
ALL = {wf.name: wf for wf in (CONSENT, CARD_REQUEST, CARD, AID_PETITION, NEWS_ITEM)}
for _wf in ALL.values():
    check_registered(_wf)
