"""Mailings of seed 001's communication plan: schedules as data, digests of a period's items, per-category
unsubscribe by a signed link, and queueing through the outbox at most once per member per mailing.

The plan (seed 001, «Содержание и объём передаваемой информации»):

| plan entry | when | to whom |
|---|---|---|
| welcome («Цели и перспективы сервиса») | on a member's first entry to the cabinet | that member |
| union news | as they appear (each published item of the category) | everyone it is meant for |
| instructions | as they appear (new products) | everyone |
| partner offers | every two weeks (1st and 15th, 10:00 МСК) | all members or a segment |
| contests and results | monthly (1st, 12:00 МСК) | all members or a segment |
| regional news | every two weeks (1st and 15th, 11:00 МСК), one digest per region | each region's members |
| financial literacy | monthly (20th, 10:00 МСК) | all members |

`PLAN` holds the entries; `NEWS_MAILING_PLAN` in the configuration switches an entry off ({"partners": False}).
«Every two weeks» is the 1st and the 15th (the job layer's calendar; the same two slots the card processing uses).

Sending (`send`), in two steps. Queueing fixes the recipients: one delivery row per member with a cabinet
(`readers.members_with_cabinet`), narrowed by the mailing's segment (an organisation's subtree, a member category),
minus those who unsubscribed from the category (or from everything), by one INSERT … SELECT; the unique
(mailing, member) drops a second runner's rows. Then the letters go into the outbox chunk by chunk: a chunk first
claims its rows (`letter_at`, only where still empty) and writes their letters in the same transaction, so a
member never gets two letters of one mailing however often the job runs, and a crash loses at most the chunk in
hand, which the next run writes. Who unsubscribed or closed their cabinet after the queueing gets no letter.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext
from sqlalchemy import exists, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal import clock
from portal.bulk import insert_rows
from portal.extensions import db
from portal.i18n import N_
from portal.jobs.schedule import MonthDays
from portal.mail.models import OutboxMessage
from portal.news.models import Mailing, MailingDelivery, NewsAudience, NewsCategory, NewsItem, NewsState, Unsubscribe
from portal.news.readers import members_with_cabinet
from portal.registry.models import Member, Organisation, OrgLevel
from portal.text import like_prefix


@dataclass(frozen=True)
class PlanEntry:
    name: str
    title: str
    category: str  # the unsubscribe category (a NewsCategory value, or "welcome")
    when: str  # "first_entry" | "on_publish" | "digest"
    schedule: MonthDays | None = None
    per_region: bool = False


PLAN: dict[str, PlanEntry] = {e.name: e for e in (
    PlanEntry("welcome", N_("Цели и перспективы сервиса"), "welcome", "first_entry"),
    PlanEntry("union_news", N_("Новости Профсоюза"), NewsCategory.UNION.value, "on_publish"),
    PlanEntry("instructions", N_("Инструкции использования"), NewsCategory.INSTRUCTIONS.value, "on_publish"),
    PlanEntry("partners", N_("Предложения и акции партнёров"), NewsCategory.PARTNERS.value, "digest",
              MonthDays(days=(1, 15), hour=10)),
    PlanEntry("contests", N_("Конкурсы и их результаты"), NewsCategory.CONTESTS.value, "digest", MonthDays(days=(1,), hour=12)),
    PlanEntry("regional", N_("Региональные новости"), NewsCategory.REGIONAL.value, "digest",
              MonthDays(days=(1, 15), hour=11), per_region=True),
    PlanEntry("finance", N_("Финансовая грамотность"), NewsCategory.FINANCE.value, "digest", MonthDays(days=(20,), hour=10)),
)}

UNSUBSCRIBE_ALL = "all"
# An address that needs no further checking: ASCII, one @, a dotted domain, no spaces or control characters.
_PLAIN_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(\.[A-Za-z0-9\-]{1,63})+\Z")
CHUNK = 5000
WELCOME_PERIOD = datetime(2000, 1, 1, tzinfo=UTC)  # the one «welcome» mailing every first entry joins


_paused: contextvars.ContextVar[bool] = contextvars.ContextVar("news_mailings_paused", default=False)


@contextmanager
def paused():
    """No plan mailings inside (demo data: a year of items published at once is not news to mail)."""
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)


def enabled(name: str) -> bool:
    if _paused.get():
        return False
    return bool((current_app.config.get("NEWS_MAILING_PLAN") or {}).get(name, True))


def category_title(category: str) -> str:
    if category == "welcome":
        return gettext("Приветственное письмо")
    if category == UNSUBSCRIBE_ALL:
        return gettext("все рассылки")
    try:
        return NewsCategory(category).label
    except ValueError:
        return category


# ---- unsubscribe links -----------------------------------------------------------------------------------------


def _token_key() -> bytes:
    return hashlib.sha256(b"news-unsubscribe:" + str(current_app.config["SECRET_KEY"]).encode()).digest()


def unsubscribe_token(member_id: int, category: str, key: bytes | None = None) -> str:
    """`<member>-<category>-<signature>`: an HMAC-SHA256 of the two, so a link can't be made for someone else.
    Built by hand rather than with itsdangerous: a mailing to 1.3 M members makes 2.6 M of them."""
    mac = hmac.new(key or _token_key(), f"{member_id}:{category}".encode(), hashlib.sha256).digest()[:16]
    return f"{member_id}-{category}-{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def read_token(token: str) -> tuple[int, str] | None:
    """(member id, category) of a genuine link; None for a forged or damaged one."""
    parts = (token or "").split("-", 2)
    if len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit()) or len(parts[0]) > 10:
        return None
    member_id, category = int(parts[0]), parts[1]
    if not hmac.compare_digest(unsubscribe_token(member_id, category), token):
        return None
    return member_id, category


def unsubscribe(member_id: int, category: str) -> bool:
    """Record the refusal (idempotent); the next chunk of any mailing already skips the member. Caller commits."""
    if db.session.get(Member, member_id) is None:
        return False
    exists_already = db.session.scalar(select(Unsubscribe.id).where(Unsubscribe.member_id == member_id,
                                                                     Unsubscribe.category == category))
    if exists_already is None:
        db.session.add(Unsubscribe(member_id=member_id, category=category, created_at=clock.now()))
    return True


def base_url() -> str:
    return (current_app.config.get("PORTAL_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")


# ---- recipients --------------------------------------------------------------------------------------------------


def recipients(mailing: Mailing, *, pending_only: bool = True):
    """select(Member.id, email) of the mailing's recipients (not yet delivered, if pending_only)."""
    cabinet = members_with_cabinet().subquery()
    q = select(Member.id, cabinet.c.email).join(cabinet, cabinet.c.member_id == Member.id)
    if mailing.segment_org_id:
        org = db.session.get(Organisation, mailing.segment_org_id)
        q = q.where(Member.org_id.in_(select(Organisation.id).where(
            Organisation.path.like(like_prefix(org.path), escape="\\")).scalar_subquery()))
    if mailing.segment_category:
        q = q.where(Member.category == mailing.segment_category)
    q = q.where(~exists(select(Unsubscribe.id).where(
        Unsubscribe.member_id == Member.id, Unsubscribe.category.in_([mailing.category, UNSUBSCRIBE_ALL]))))
    if pending_only and mailing.id is not None:
        q = q.where(~exists(select(MailingDelivery.id).where(MailingDelivery.mailing_id == mailing.id,
                                                             MailingDelivery.member_id == Member.id)))
    return q


def count_recipients(mailing: Mailing) -> int:
    return db.session.scalar(select(func.count()).select_from(recipients(mailing, pending_only=False).subquery())) or 0


# ---- letters ------------------------------------------------------------------------------------------------------


def digest_items(category: str, start: datetime | None, end: datetime, region: Organisation | None = None,
                 limit: int = 30) -> list[NewsItem]:
    """Published items of a category in (start, end]: for everyone (no audience, no member category), or — for a
    region's digest — aimed at the region itself."""
    q = select(NewsItem).where(NewsItem.state == NewsState.PUBLISHED, NewsItem.category == category,
                               NewsItem.published_at <= end, NewsItem.audience_categories == "")
    if start is not None:
        q = q.where(NewsItem.published_at > start)
    if region is None:
        q = q.where(NewsItem.audience_all.is_(True))
    else:
        q = q.where(or_(NewsItem.audience_all.is_(True), exists(select(NewsAudience.news_id).where(
            NewsAudience.news_id == NewsItem.id, NewsAudience.org_id == region.id))))
    return list(db.session.scalars(q.order_by(NewsItem.published_at.desc()).limit(limit)))


def _url(endpoint: str, **values) -> str:
    """An absolute link for a letter; built without a request (the jobs send mail), on PORTAL_BASE_URL."""
    adapter = current_app.url_map.bind("localhost")
    return base_url() + adapter.build(endpoint, values)


def item_url(item: NewsItem) -> str:
    return _url("public_news.public_item", news_id=item.id) if item.is_public else _url("cabinet.news_item", news_id=item.id)


def digest_body(title: str, items: list[NewsItem]) -> str:
    lines = [title, ""]
    for item in items:
        when = item.published_at.astimezone(UTC).strftime("%d.%m.%Y") if item.published_at else ""
        lines += [f"• {item.title} ({when})"]
        if item.lead:
            lines.append(f"  {item.lead}")
        lines += [f"  {item_url(item)}", ""]
    return "\n".join(lines).rstrip() + "\n"


WELCOME_BODY = (
    "Здравствуйте!\n\nВы вошли в личный кабинет члена Профсоюза. Здесь публикуются новости Профсоюза и вашей "
    "региональной организации, инструкции, предложения партнёров, конкурсы и материалы по финансовой грамотности.\n\n"
    "Электронный профсоюзный билет даёт скидки и бонусы у партнёров программы ПРОФКАРДС.\n")


def footer(member_id: int, category: str) -> str:
    return footer_maker(category)(member_id)


def footer_maker(category: str):
    """member id → the letter's footer with its two signed unsubscribe links; the constant parts built once."""
    key = _token_key()
    base = _url("public_news.unsubscribe", token="TOKEN").rsplit("TOKEN", 1)[0]
    one = f"\n--\nОтписаться от рассылки «{category_title(category)}»: {base}"

    def make(member_id: int) -> str:
        return (f"{one}{unsubscribe_token(member_id, category, key)}\n"
                f"Отписаться от всех рассылок: {base}{unsubscribe_token(member_id, UNSUBSCRIBE_ALL, key)}\n")

    return make


# ---- creating mailings ----------------------------------------------------------------------------------------------


def create(plan: str, category: str, subject: str, body: str, *, period_end: datetime,
           period_start: datetime | None = None, segment_org: Organisation | None = None, segment_category: str = "",
           actor=None) -> Mailing:
    """A queued mailing (the job sends it); the same plan and period twice is the same mailing."""
    existing = db.session.scalar(select(Mailing).where(Mailing.plan == plan, Mailing.period_end == period_end))
    if existing is not None:
        return existing
    mailing = Mailing(plan=plan[:40], category=category, subject=subject[:300], body=body, period_start=period_start,
                      period_end=period_end, segment_org_id=segment_org.id if segment_org else None,
                      segment_category=segment_category, status="queued", total=0, queued=0,
                      created_by_id=getattr(actor, "id", None), created_at=clock.now())
    db.session.add(mailing)
    db.session.flush()
    mailing.total = count_recipients(mailing)
    return mailing


def item_published(item: NewsItem) -> None:
    """«As they appear»: a published union-news or instruction item becomes a mailing to those it is meant for."""
    for entry in PLAN.values():
        if entry.when != "on_publish" or entry.category != item.category.value or not enabled(entry.name):
            continue
        if not item.audience_all or item.audience_categories:
            # An item for some organisations or categories is mailed only to its single organisation's subtree.
            orgs = item.audience_orgs
            if len(orgs) != 1 or item.audience_categories.count(",") > 2:
                continue
            segment, seg_cat = orgs[0], item.categories[0] if item.categories else ""
        else:
            segment, seg_cat = None, ""
        create(f"{entry.name}:{item.id}", entry.category, item.title,
               digest_body(entry.title, [item]), period_end=clock.now(), segment_org=segment,
               segment_category=seg_cat)


def create_digests(entry: PlanEntry, slot: datetime) -> list[Mailing]:
    """The scheduled digests of one plan entry for one slot (one per region for regional news)."""
    previous = entry.schedule.slots_between(slot - timedelta(days=62), slot - timedelta(microseconds=1))
    start = previous[-1] if previous else slot - timedelta(days=31)
    out = []
    regions = ([None] if not entry.per_region else
               list(db.session.scalars(select(Organisation).where(Organisation.level == OrgLevel.REGIONAL)
                                       .order_by(Organisation.id))))
    for region in regions:
        items = digest_items(entry.category, start, slot, region)
        if not items:
            continue
        plan = entry.name if region is None else f"{entry.name}:{region.id}"
        subject = entry.title if region is None else f"{entry.title}: {region.short_name or region.name}"
        out.append(create(plan, entry.category, subject, digest_body(subject, items), period_start=start,
                          period_end=slot, segment_org=region))
    return out


def welcome_member(member: Member) -> bool:
    """The welcome letter on a member's first entry to the cabinet (seam: the cabinet calls it); once per member."""
    if not enabled("welcome") or not member.email:
        return False
    mailing = create("welcome", "welcome", PLAN["welcome"].title, WELCOME_BODY, period_end=WELCOME_PERIOD)
    mailing.status = "sending"
    if db.session.scalar(select(MailingDelivery.id).where(MailingDelivery.mailing_id == mailing.id,
                                                          MailingDelivery.member_id == member.id)):
        return False
    try:
        with db.session.begin_nested():  # two first entries at once: the unique row lets one through
            return _write_chunk(mailing, [(member.id, member.email)]) == 1
    except IntegrityError:
        return False


# ---- sending ---------------------------------------------------------------------------------------------------------


def _message_id(mailing_id: int, member_id: int) -> str:
    # Stable per (mailing, member): a resent letter is recognisably the same one.
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), f"{mailing_id}:{member_id}".encode(),
                      hashlib.sha256).hexdigest()[:16]
    return f"<mailing-{mailing_id}-{member_id}-{digest}@{_domain()}>"


def _domain() -> str:
    from portal.mail.outbox import _id_domain

    return _id_domain()


def _write_chunk(mailing: Mailing, rows: list[tuple[int, str]]) -> int:
    """Delivery rows (stamped) and letters for `rows` (member id, email), in the caller's transaction."""
    now = clock.now()
    insert_rows(MailingDelivery.__table__, ("mailing_id", "member_id", "letter_at"),
                [(mailing.id, member_id, now) for member_id, _ in rows])
    return _write_letters(mailing, rows)


def _write_letters(mailing: Mailing, rows: list[tuple[int, str]]) -> int:
    """The outbox letters for `rows` (member id, email), in the caller's transaction."""
    from portal.mail.outbox import check_address, clean_subject

    now = clock.now()
    subject = clean_subject(mailing.subject)
    footer_of = footer_maker(mailing.category)
    kind = f"news:{mailing.category}"[:40]
    letters = []
    for member_id, email in rows:
        address = email.strip() if email and _PLAIN_EMAIL.match(email.strip()) else None
        if address is None:
            # Not plainly an address: the outbox's full check (IDN, normalisation) decides, once per odd one.
            try:
                address = check_address(email)
            except ValueError:
                address = None
        if address:
            letters.append((_message_id(mailing.id, member_id), address, subject, mailing.body + footer_of(member_id),
                            kind, "pending", 0, "", now, now))
    insert_rows(OutboxMessage.__table__, ("message_id", "to_addr", "subject", "body", "kind", "status", "attempts",
                                          "last_error", "created_at", "next_attempt_at"), letters)
    return len(letters)


def fix_recipients(mailing: Mailing) -> int:
    """Queue the mailing: one delivery row per recipient, in one INSERT … SELECT (1.3 M rows in seconds). A second
    runner's rows collide on the unique (mailing, member) and are dropped. Caller commits."""
    rows = recipients(mailing).with_only_columns(literal(mailing.id).label("mailing_id"), Member.id,
                                                 maintain_column_froms=True)
    table = MailingDelivery.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(table).from_select(["mailing_id", "member_id"], rows).on_conflict_do_nothing()
    return db.session.execute(stmt).rowcount or 0


def send(mailing_id: int, *, chunk: int = CHUNK, heartbeat=None, limit_chunks: int | None = None) -> int:
    """Queue the mailing (its delivery rows), then write its letters to the outbox chunk by chunk, each chunk
    claiming its rows (`letter_at`) in the letters' own transaction; returns how many letters were written now.

    Safe to run twice, at once or after a crash: a claimed row is never written again, a chunk that lost its claim
    to another runner is rolled back whole, and members who unsubscribed or closed their cabinet after the mailing
    was queued get no letter (their rows are stamped without one).
    """
    mailing = db.session.get(Mailing, mailing_id)
    if mailing is None or mailing.status == "done":
        return 0
    if mailing.status == "queued":
        fix_recipients(mailing)
        total = db.session.scalar(select(func.count()).select_from(MailingDelivery)
                                  .where(MailingDelivery.mailing_id == mailing_id))
        db.session.execute(update(Mailing).where(Mailing.id == mailing_id, Mailing.status == "queued")
                           .values(status="sending", total=total))
        db.session.commit()
    cabinet = members_with_cabinet().subquery()
    off = exists(select(Unsubscribe.id).where(Unsubscribe.member_id == MailingDelivery.member_id,
                                              Unsubscribe.category.in_([mailing.category, UNSUBSCRIBE_ALL])))
    written, chunks, last = 0, 0, 0
    while limit_chunks is None or chunks < limit_chunks:
        rows = db.session.execute(
            select(MailingDelivery.id, MailingDelivery.member_id, cabinet.c.email, off.label("off"))
            .outerjoin(cabinet, cabinet.c.member_id == MailingDelivery.member_id)
            .where(MailingDelivery.mailing_id == mailing_id, MailingDelivery.id > last,
                   MailingDelivery.letter_at.is_(None))
            .order_by(MailingDelivery.id).limit(chunk)).all()
        if not rows:
            break
        last = rows[-1][0]
        ids = [r[0] for r in rows]
        claimed = db.session.execute(update(MailingDelivery).where(MailingDelivery.id.in_(ids),
                                                                   MailingDelivery.letter_at.is_(None))
                                     .values(letter_at=clock.now()).execution_options(synchronize_session=False))
        if claimed.rowcount != len(ids):
            db.session.rollback()  # another runner wrote some of these; they are theirs, go on past them
            chunks += 1
            continue
        written += _write_letters(mailing, [(r[1], r[2]) for r in rows if r[2] and not r[3]])
        db.session.execute(update(Mailing).where(Mailing.id == mailing_id).values(queued=Mailing.queued + len(ids)))
        db.session.commit()
        chunks += 1
        if heartbeat:
            heartbeat()
    if limit_chunks is None or chunks < limit_chunks:
        db.session.execute(update(Mailing).where(Mailing.id == mailing_id)
                           .values(status="done", finished_at=clock.now()))
        db.session.commit()
    return written


def send_queued(heartbeat=None) -> str:
    """The job: send every mailing that is queued or was left half-sent."""
    ids = list(db.session.scalars(select(Mailing.id).where(Mailing.status.in_(["queued", "sending"]),
                                                           Mailing.plan != "welcome").order_by(Mailing.id)))
    total = sum(send(i, heartbeat=heartbeat) for i in ids)
    return f"рассылок: {len(ids)}, писем поставлено в очередь: {total}"


