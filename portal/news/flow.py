"""The news workflow (workflows/news_item.py) bound to its model and scope, with its guards and effects.

Every effect queues the item for re-indexing in the same transaction (`search_index.enqueue`): the engine moves
the state with a Core UPDATE the ORM does not see, so the model's `__searchable__` hook alone would miss it.
"""

from __future__ import annotations

from flask_babel import gettext

from portal import clock, policy
from portal.news.models import NewsItem
from search_index import enqueue
from workflows import NEWS_ITEM, bind, effect, guard

bind(NEWS_ITEM, NewsItem, scope=policy.news_item_in_scope)


def _aware(value):
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@guard("news_is_complete")
def news_is_complete(item, actor, params):
    if not (item.title or "").strip():
        return gettext("У новости нет заголовка.")
    if not ((item.body_text or "").strip() or (item.lead or "").strip()):
        return gettext("У новости нет текста.")
    return None


@guard("news_is_due")
def news_is_due(item, actor, params):
    due = _aware(item.publish_at)
    if due is None or due > clock.now():
        return gettext("Время публикации ещё не наступило.")
    return None


@effect("news_published")
def news_published(item, actor, params):
    now = clock.now()
    # A scheduled item carries its planned time as its date (readers see when it was meant to appear).
    item.published_at = _aware(item.publish_at) if params.get("action") == "publish_scheduled" else now
    item.updated_at = now
    enqueue("news", item.id)
    from portal.news import mailings

    mailings.item_published(item)


@effect("news_archived")
def news_archived(item, actor, params):
    item.archived_at = clock.now()
    item.updated_at = clock.now()
    enqueue("news", item.id)


@effect("news_restored")
def news_restored(item, actor, params):
    item.archived_at = None
    item.updated_at = clock.now()
    enqueue("news", item.id)
