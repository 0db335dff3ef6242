"""Workflows as data (one module per workflow) and the engine that interprets them.

`CONSENT`, `CARD_REQUEST`, `CARD`, `AID_PETITION` and `NEWS_ITEM` are the built workflows; pages and jobs change their states
only through `fire(workflow, obj, action, actor, ...)`.

Nothing here imports the portal: the portal binds each workflow to its model and scope and each domain package
registers its guards and effects (portal/flows.py, run by `create_app`).
"""

from workflows import aid_petition, card, card_request, consent, news_item
from workflows.engine import (  # noqa: F401
    InputProblem,
    WorkflowConflict,
    WorkflowError,
    available,
    bind,
    build,
    check,
    check_registered,
    configure,
    effect,
    fire,
    guard,
    history,
    may,
    problems,
    withheld,
)

CONSENT = build(consent.DEFINITION)
CARD_REQUEST = build(card_request.DEFINITION)
CARD = build(card.DEFINITION)
AID_PETITION = build(aid_petition.DEFINITION)
NEWS_ITEM = build(news_item.DEFINITION)
ALL = {wf.name: wf for wf in (CONSENT, CARD_REQUEST, CARD, AID_PETITION, NEWS_ITEM)}
