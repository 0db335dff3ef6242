"""The portal's side of the workflow engine (workflows/ depends on nothing of the portal; the portal plugs in here).

`setup()` (called by `create_app`, idempotent) tells the engine which session and history table to write to, and
imports each domain package's `flow` module: portal/registry/flow.py (shared member guards and scope),
portal/consent/flow.py, portal/cards/flow.py and portal/aid/flow.py bind their workflows to their models and
register the guards and effects the definitions name. Then every definition is checked, so a guard nobody
registered fails at start-up, not when a chair clicks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db


class WorkflowHistory(db.Model):
    """One fired transition: the workflow's memory of who did what, when, from which state to which, and why."""

    __tablename__ = "workflow_history"
    __table_args__ = (Index("ix_workflow_history_object", "object_type", "object_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_login: Mapped[str] = mapped_column(String(80), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def __repr__(self) -> str:
        return f"<WorkflowHistory {self.workflow} {self.object_id} {self.from_state}->{self.to_state}>"


_READY = False


def setup() -> None:
    """Plug the portal into the engine once per process: session, history model, domain guards and effects."""
    global _READY
    if _READY:
        return
    import workflows
    from portal.aid import flow as _aid  # noqa: F401  (binds AID_PETITION, registers its guards and effects)
    from portal.cards import flow as _cards  # noqa: F401  (binds CARD_REQUEST and CARD)
    from portal.consent import flow as _consent  # noqa: F401  (binds CONSENT)
    from portal.news import flow as _news  # noqa: F401  (binds NEWS_ITEM)
    from portal.registry import flow as _registry  # noqa: F401  (member guards shared by the workflows)
    from portal.stats.counts import workflow_moved

    workflows.configure(session=lambda: db.session, history=WorkflowHistory, move_listeners=(workflow_moved,))
    for wf in workflows.ALL.values():
        workflows.check_registered(wf)
    _READY = True
