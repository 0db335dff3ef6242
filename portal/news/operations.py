"""Named operations on news items: write, change the audience, attach images, publish / archive (through the
workflow), publish the due scheduled items (the job), and the search source that turns items into documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from flask_babel import gettext
from sqlalchemy import and_, exists, or_, select, true, tuple_
from sqlalchemy.orm import lazyload, selectinload

from portal import audit, clock, policy
from portal.extensions import db
from portal.news.content import plain_text, sanitise, store_image
from portal.news.models import NewsAudience, NewsCategory, NewsImage, NewsItem, NewsState
from portal.registry.models import Category, Organisation
from search_index import ALL_TOKEN, Document, Scope, register_source
from workflows import NEWS_ITEM, fire

KIND = "news"


class NewsError(ValueError):
    """Refused input; `field` names the form field the message belongs next to."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message, self.field = message, field


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def save_item(actor, item: NewsItem | None, data: dict) -> NewsItem:
    """Create or change an item (never its state): sanitised body, audience in the editor's scope. Caller commits."""
    title = (data.get("title") or "").strip()
    if not title:
        raise NewsError(gettext("Укажите заголовок."), "title")
    try:
        category = NewsCategory(data.get("category"))
    except ValueError:
        raise NewsError(gettext("Выберите рубрику."), "category") from None
    orgs = list(data.get("audience_orgs") or [])
    for org in orgs:
        if not policy.org_in_scope(actor, org) and not _is_ancestor(org, actor.org):
            raise NewsError(gettext("Эта организация вне вашей области."), "audience_orgs")
    if not orgs and not policy.is_central(actor):
        # A regional editor writes for their region; «everyone» is the central office's to say.
        orgs = [actor.org]
    cats = [c for c in (data.get("audience_categories") or []) if c in {m.value for m in Category}]
    publish_at = _aware(data.get("publish_at"))
    # Public (no login, the feeds) is independent of the audience: a region's public news is on the public site,
    # while the cabinet feed of another region's members still leaves it out.
    is_public = bool(data.get("is_public"))
    now = clock.now()
    if item is None:
        item = NewsItem(org_id=actor.org_id, author_id=actor.id, state=NewsState.DRAFT, version=1, created_at=now)
        db.session.add(item)
    body = sanitise(data.get("body") or "")
    item.title = title[:300]
    item.lead = (data.get("lead") or "").strip()
    item.body = body
    item.body_text = plain_text(body)
    item.category = category
    item.is_public = is_public
    item.audience_all = not orgs
    item.audience_orgs = orgs
    item.audience_categories = ("," + ",".join(sorted(set(cats))) + ",") if cats else ""
    item.publish_at = publish_at
    item.updated_at = now
    db.session.flush()
    audit.record("news_saved", item, object_type="news_items", object_id=item.id, org_id=item.org_id, actor=actor)
    return item


def _is_ancestor(org: Organisation, of: Organisation) -> bool:
    return of.path.startswith(org.path)


def add_image(actor, item: NewsItem, data: bytes, alt: str = "") -> NewsImage:
    """Check, re-encode and attach an image (FileRejected with a Russian message otherwise). Caller commits."""
    name, mime, width, height = store_image(data)
    image = NewsImage(item=item, stored_name=name, mime=mime, width=width, height=height, alt=(alt or "")[:300])
    db.session.add(image)
    item.updated_at = clock.now()
    return image


def transition(actor, item: NewsItem, action: str) -> None:
    """Fire a workflow action (publish, archive, restore) as `actor`. Caller commits."""
    fire(NEWS_ITEM, item, action, actor)
    audit.record(f"news_{action}", item, object_type="news_items", object_id=item.id, org_id=item.org_id,
                 actor=actor)


def publish_due(slot: datetime | None = None) -> str:
    """The job: publish every draft whose scheduled time has come (each in its own commit)."""
    now = clock.now()
    ids = db.session.scalars(select(NewsItem.id).where(NewsItem.state == NewsState.DRAFT,
                                                       NewsItem.publish_at.is_not(None),
                                                       NewsItem.publish_at <= now).order_by(NewsItem.publish_at))
    done, failed = 0, 0
    for item_id in list(ids):
        item = db.session.get(NewsItem, item_id)
        try:
            fire(NEWS_ITEM, item, "publish_scheduled", None)
            db.session.commit()
            done += 1
        except Exception:  # noqa: BLE001 — one incomplete item does not stop the others; it stays a draft
            db.session.rollback()
            failed += 1
    from search_index import sync

    sync()
    return f"опубликовано {done}, не удалось {failed}"


# ---- reading ------------------------------------------------------------------------------------------------------


def visible_condition(scope: Scope):
    """The reader scope (search_index.Scope) as SQL on NewsItem, so lists and search agree on who sees what."""
    cond = [NewsItem.state.in_([NewsState.PUBLISHED, NewsState.ARCHIVED]) if scope.archives
            else NewsItem.state == NewsState.PUBLISHED]
    if scope.public_only:
        cond.append(NewsItem.is_public.is_(True))
    if scope.ancestors is not None:
        ancestor_ids = [int(p.strip("/").split("/")[-1]) for p in scope.ancestors]
        aimed = select(NewsAudience.news_id).where(NewsAudience.news_id == NewsItem.id)
        options = [NewsItem.audience_all.is_(True)]
        if ancestor_ids:
            options.append(exists(aimed.where(NewsAudience.org_id.in_(ancestor_ids))))
        if scope.subtree:
            inside = select(Organisation.id).where(Organisation.path.like(scope.subtree + "%")).correlate(None)
            options.append(exists(aimed.where(NewsAudience.org_id.in_(inside))))
        cond.append(or_(*options))
    if scope.category is not None:
        cond.append(or_(NewsItem.audience_categories == "",
                        NewsItem.audience_categories.contains("," + scope.category + ",")))
    return and_(*cond) if cond else true()


def get_readable(scope: Scope, news_id) -> NewsItem | None:
    news_id = policy.parse_id(news_id)
    if news_id is None:
        return None
    # The page shows the item, its organisation and images; its audience is read only if someone asks for it.
    return db.session.scalar(select(NewsItem).where(NewsItem.id == news_id, visible_condition(scope))
                             .options(lazyload(NewsItem.audience_orgs), selectinload(NewsItem.images)))


# ---- the search source ---------------------------------------------------------------------------------------------


def to_document(item: NewsItem) -> Document | None:
    """The item as the index sees it; None for a draft (never searchable)."""
    if item.state == NewsState.DRAFT or item.published_at is None:
        return None
    return Document(kind=KIND, id=item.id, title=item.title, lead=item.lead or "", body=item.body_text or "",
                    category=item.category.value, state=item.state.value, public=item.is_public,
                    published_at=_aware(item.published_at),
                    audience_orgs=(ALL_TOKEN,) if item.audience_all else tuple(o.path for o in item.audience_orgs),
                    audience_cats=tuple(item.categories) or (ALL_TOKEN,))


class NewsSource:
    kind = KIND

    def documents(self, ids: list[int]) -> dict[int, Document | None]:
        items = {i.id: i for i in db.session.scalars(select(NewsItem).where(NewsItem.id.in_(ids)))}
        return {i: (to_document(items[i]) if i in items else None) for i in ids}

    def batches(self, size: int) -> Iterator[list[Document]]:
        """Every indexable item, oldest publication first: an index built in this order has its newest items
        together at its end, which is what lets Whoosh's recent tier skip whole blocks of postings."""
        last = (datetime(1, 1, 1, tzinfo=UTC), 0)
        while True:
            items = list(db.session.scalars(
                select(NewsItem).where(NewsItem.state != NewsState.DRAFT, NewsItem.published_at.is_not(None),
                                       tuple_(NewsItem.published_at, NewsItem.id) > tuple_(*last))
                .order_by(NewsItem.published_at, NewsItem.id).limit(size)))
            if not items:
                return
            last = (items[-1].published_at, items[-1].id)
            yield [d for d in map(to_document, items) if d is not None]
            db.session.expunge_all()

    def changed_since(self, moment: datetime) -> list[int]:
        return list(db.session.scalars(select(NewsItem.id).where(NewsItem.updated_at >= moment)))

    def candidates(self, scope: Scope, category: str | None, limit: int) -> Iterable[Document]:
        q = select(NewsItem).where(visible_condition(scope))
        if category:
            q = q.where(NewsItem.category == category)
        for item in db.session.scalars(q.order_by(NewsItem.published_at.desc()).limit(limit)):
            doc = to_document(item)
            if doc is not None:
                yield doc


register_source(NewsSource())
