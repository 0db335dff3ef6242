"""News jobs: scheduled publication and queued mailings every minute; the plan's digests on their days."""

from __future__ import annotations

from datetime import datetime

from portal.extensions import db
from portal.i18n import N_
from portal.jobs.runner import heartbeat
from portal.jobs.schedule import Every, register
from portal.news import mailings
from portal.news.operations import publish_due


def news_minute(slot: datetime) -> str:
    """Publish the due scheduled items, bring the search index up to date, queue the letters of mailings."""
    published = publish_due(slot)
    from search_index import sync

    sync()
    sent = mailings.send_queued(heartbeat=heartbeat)
    return f"{published}; {sent}"


def _digest_job(entry: mailings.PlanEntry):
    def run(slot: datetime) -> str:
        if not mailings.enabled(entry.name):
            return "рассылка отключена в настройках"
        created = mailings.create_digests(entry, slot)
        db.session.commit()
        queued = sum(mailings.send(m.id, heartbeat=heartbeat) for m in created)
        return f"дайджестов: {len(created)}, писем: {queued}"

    run.__doc__ = f"The «{entry.title}» digest of the period that ends at the slot."
    return run


register("news_minute", Every(minutes=1), news_minute, title=N_("Публикация новостей по расписанию и рассылки"))
for _entry in mailings.PLAN.values():
    if _entry.when == "digest":
        register(f"news_digest_{_entry.name}", _entry.schedule, _digest_job(_entry),
                 title=_entry.title)
