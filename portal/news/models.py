"""News items (SPEC §8, seed 003), their images and audiences, and the mailings of seed 001's communication plan.

A news item is written by an editor of an organisation (the author org) and aimed at an audience: everyone, or the
subtrees of chosen organisations (regions, a city, one school), narrowed, if chosen, to member categories
(working, students, pensioners). Its state moves only through `workflows/news_item.py`. The body is stored as
sanitised HTML (`portal.news.sanitise`) beside its plain text (for search and mailings).

Mailings: one row per sent mailing (a digest of a period's items, or a welcome letter); its letters are outbox rows
that reference it (`portal.mail.models.OutboxMessage.mailing_id`), unique per (mailing, member), so a member gets
a mailing at most once however often the job runs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.extensions import db
from portal.i18n import N_
from portal.registry.models import Organisation, TitledEnum, _enum


class NewsCategory(TitledEnum):
    UNION = "union", N_("Новости Профсоюза")
    REGIONAL = "regional", N_("Региональные новости")
    INSTRUCTIONS = "instructions", N_("Инструкции")
    PARTNERS = "partners", N_("Предложения партнёров")
    CONTESTS = "contests", N_("Конкурсы и их итоги")
    FINANCE = "finance", N_("Финансовая грамотность")


class NewsState(TitledEnum):
    DRAFT = "draft", N_("черновик")
    PUBLISHED = "published", N_("опубликована")
    ARCHIVED = "archived", N_("в архиве")


class NewsItem(db.Model):
    __tablename__ = "news_items"
    __searchable__ = "news"  # every ORM write queues a re-index (search_index.service._queue_searchable)
    __table_args__ = (
        Index("ix_news_items_state_published", "state", "published_at"),
        Index("ix_news_items_org", "org_id", "state"),
        Index("ix_news_items_due", "state", "publish_at"),
        Index("ix_news_items_updated", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(300))
    lead: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")  # sanitised HTML
    body_text: Mapped[str] = mapped_column(Text, default="")  # the same as plain text
    category: Mapped[NewsCategory] = mapped_column(_enum(NewsCategory, "news_category"))
    state: Mapped[NewsState] = mapped_column(_enum(NewsState, "news_state"), default=NewsState.DRAFT)
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    # The audience: everyone (audience_all) or the subtrees of NewsAudience's organisations; audience_categories
    # ",working,student," narrows to member categories ("" = every category).
    audience_all: Mapped[bool] = mapped_column(Boolean, default=True)
    audience_categories: Mapped[str] = mapped_column(String(100), default="")
    publish_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # scheduled publication
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    org: Mapped[Organisation] = relationship(lazy="joined")
    author: Mapped[User | None] = relationship()
    audience_orgs: Mapped[list[Organisation]] = relationship(secondary="news_audience", lazy="selectin",
                                                             order_by="Organisation.name")
    images: Mapped[list[NewsImage]] = relationship(back_populates="item", order_by="NewsImage.id",
                                                   cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<NewsItem {self.id} {self.state.value} {self.title[:30]!r}>"

    @property
    def categories(self) -> list[str]:
        return [c for c in (self.audience_categories or "").split(",") if c]


class NewsAudience(db.Model):
    """An organisation whose subtree an item is meant for."""

    __tablename__ = "news_audience"
    __table_args__ = (Index("ix_news_audience_org", "org_id"),)

    news_id: Mapped[int] = mapped_column(ForeignKey("news_items.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)


class NewsImage(db.Model):
    """An image of an item: checked by its content, re-encoded and resized, stored under uploads/news."""

    __tablename__ = "news_images"
    __table_args__ = (Index("ix_news_images_item", "news_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    news_id: Mapped[int] = mapped_column(ForeignKey("news_items.id", ondelete="CASCADE"))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    mime: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    alt: Mapped[str] = mapped_column(String(300), default="")

    item: Mapped[NewsItem] = relationship(back_populates="images")

    def __repr__(self) -> str:
        return f"<NewsImage {self.id} {self.width}x{self.height}>"


class Mailing(db.Model):
    """One mailing: its letter, its recipients' filter, and how far the queueing got."""

    __tablename__ = "mailings"
    __table_args__ = (UniqueConstraint("plan", "period_end", name="uq_mailings_plan_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan: Mapped[str] = mapped_column(String(40))  # the plan entry (seed 001): union_news, partners, …, or "manual"
    category: Mapped[str] = mapped_column(String(24), default="")  # the unsubscribe category
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    segment_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    segment_category: Mapped[str] = mapped_column(String(24), default="")
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | sending | done
    total: Mapped[int] = mapped_column(Integer, default=0)
    queued: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<Mailing {self.id} {self.plan} {self.status}>"


class NewsContentVersion(db.Model):
    """One row (id 1): a counter that every write of a news item, its audience or its images advances in the
    writing transaction (portal.news.pagecache), so a page cached under an older value is never served again."""

    __tablename__ = "news_content_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class Unsubscribe(db.Model):
    """A member's refusal of one mailing category (or "all"), by a signed link, honoured from the next letter."""

    __tablename__ = "news_unsubscribes"
    __table_args__ = (UniqueConstraint("member_id", "category", name="uq_news_unsubscribes_member_category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    category: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
