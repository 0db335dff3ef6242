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

Sending (`send`) is set-based: the mailing's letters go into the outbox as references — one row per recipient
(member id, cabinet address, subject, mailing id; empty body) — by one INSERT … SELECT per chunk of cabinet
accounts. The recipients are the members with an open cabinet and a confirmed address
(`readers.members_with_cabinet`), narrowed by the mailing's segment (an organisation's subtree, a member category),
minus those who unsubscribed from the category (or from everything). The outbox's unique (mailing, member) makes a
second or concurrent run, or a run after a crash midway, add only the letters still missing: a member never gets
two letters of one mailing. Each chunk commits with the mailing's `queued` count (the editor's progress). The
letter's text — the digest and the member's two signed unsubscribe links — is rendered when the worker sends it
(`render_letter`, through `portal.mail.outbox.letter_body`), so queueing 1.3 M letters does no per-member Python
work; a member who unsubscribed or closed their cabinet after the queueing gets no letter (it is «cancelled»).
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext
from sqlalchemy import DateTime, Integer, String, cast, exists, func, literal, or_, select, true, update

from portal import clock
from portal.extensions import db
from portal.i18n import N_
from portal.jobs.schedule import MonthDays
from portal.mail.models import OutboxMessage
from portal.mail.outbox import set_letter_renderer
from portal.news.models import Mailing, NewsAudience, NewsCategory, NewsItem, NewsState, Unsubscribe
from portal.news.readers import cabinet_member_bound, members_with_cabinet
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
CHUNK = 50_000  # cabinet accounts per INSERT … SELECT of letters (one commit, one step of the editor's progress)
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


def recipients(mailing: Mailing):
    """select(member id, email) of the mailing's recipients: an open cabinet with a confirmed address, in the
    segment, not unsubscribed from the category (or from everything). Narrowed on the cabinet's own member id
    (its first column: how `send` walks it in chunks) and on `Member`, which the cabinet's select already joins."""
    q = members_with_cabinet()
    if mailing.segment_org_id:
        org = db.session.get(Organisation, mailing.segment_org_id)
        q = q.where(Member.org_id.in_(select(Organisation.id).where(
            Organisation.path.like(like_prefix(org.path), escape="\\")).scalar_subquery()))
    if mailing.segment_category:
        q = q.where(Member.category == mailing.segment_category)
    q = q.where(~exists(select(Unsubscribe.id).where(
        Unsubscribe.member_id == q.selected_columns[0], Unsubscribe.category.in_([mailing.category, UNSUBSCRIBE_ALL]))))
    return q


def count_recipients(mailing: Mailing) -> int:
    return db.session.scalar(select(func.count()).select_from(recipients(mailing).subquery())) or 0


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
    """The welcome letter on a member's first entry to the cabinet (seam: the cabinet calls it); once per member —
    the outbox's unique (mailing, member) lets one of two first entries at once through."""
    if not enabled("welcome") or not member.email:
        return False
    mailing = create("welcome", "welcome", PLAN["welcome"].title, WELCOME_BODY, period_end=WELCOME_PERIOD)
    mailing.status = "sending"
    db.session.flush()
    one = select(literal(member.id, Integer).label("member_id"), literal(member.email).label("email")).where(true())
    return _letters_from(mailing, one) == 1


# ---- sending ---------------------------------------------------------------------------------------------------------


def _dialect_insert():
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _letters_from(mailing: Mailing, rows) -> int:
    """Queue the letters of `rows` (a select of member id and address) as outbox references by one INSERT … SELECT;
    a letter already queued for a member (unique mailing × member) is skipped. Returns how many were queued."""
    from portal.mail.outbox import _id_domain, clean_subject

    now = clock.now()
    member_id = rows.selected_columns[0]
    email = rows.selected_columns[1]
    # A stable Message-ID per (mailing, member): a resent letter is recognisably the same one.
    message_id = literal(f"<mailing-{mailing.id}-") + cast(member_id, String) + literal(f"@{_id_domain()}>")
    columns = {"message_id": message_id, "to_addr": email, "subject": literal(clean_subject(mailing.subject)),
               "body": literal(""), "kind": literal(f"news:{mailing.category}"[:40]), "status": literal("pending"),
               "attempts": literal(0), "last_error": literal(""), "created_at": literal(now, DateTime(timezone=True)),
               "next_attempt_at": literal(now, DateTime(timezone=True)),
               "retry_since": literal(now, DateTime(timezone=True)), "version": literal(0),
               "mailing_id": literal(mailing.id), "member_id": member_id}
    select_rows = rows.with_only_columns(*[c.label(k) for k, c in columns.items()], maintain_column_froms=True)
    stmt = (_dialect_insert()(OutboxMessage.__table__).from_select(list(columns), select_rows)
            .on_conflict_do_nothing().execution_options(preserve_rowcount=True))  # psycopg: else -1 for INSERT
    return db.session.execute(stmt).rowcount or 0


def send(mailing_id: int, *, chunk: int = CHUNK, heartbeat=None, limit_chunks: int | None = None) -> int:
    """Queue the mailing's letters in the outbox: one row per recipient, written set-based — an INSERT … SELECT per
    `chunk` cabinet accounts (by member id), each in its own transaction that also advances the mailing's
    `queued`, so the editor sees the progress. Returns how many letters were queued now.

    At most once per member: the outbox's unique (mailing, member) drops a letter already queued, so a second run,
    a concurrent one, or a run after a crash midway (the committed chunks stay) adds only what is missing. The
    letter's text — with the member's signed unsubscribe links — is rendered when it is sent (`render_letter`),
    which also cancels the letters of members who unsubscribed or closed their cabinet after the queueing.
    """
    mailing = db.session.get(Mailing, mailing_id)
    if mailing is None or mailing.status == "done":
        return 0
    if mailing.status == "queued":
        db.session.execute(update(Mailing).where(Mailing.id == mailing_id, Mailing.status == "queued")
                           .values(status="sending"))
        db.session.commit()
    base = recipients(mailing)
    written, chunks, last = 0, 0, 0
    while True:
        if limit_chunks is not None and chunks >= limit_chunks:
            return written  # stopped early (a test's crash midway): the mailing stays «sending»
        bound = cabinet_member_bound(last, chunk)
        # The range on both sides of the cabinet ⋈ members join: the planner does not carry a range across it.
        member_id = base.selected_columns[0]
        rows = base.where(member_id > last, Member.id > last)
        if bound is not None:
            rows = rows.where(member_id <= bound, Member.id <= bound)
        n = _letters_from(mailing, rows)
        written += n
        db.session.execute(update(Mailing).where(Mailing.id == mailing_id).values(queued=Mailing.queued + n))
        db.session.commit()
        chunks += 1
        if heartbeat:
            heartbeat()
        if bound is None:
            break
        last = bound
    db.session.execute(update(Mailing).where(Mailing.id == mailing_id)
                       .values(status="done", finished_at=clock.now()))
    db.session.commit()
    return written


def render_letter(msg) -> str | None:
    """The text of a mailing's letter (`portal.mail.outbox.letter_body`): the mailing's body and the member's two
    signed unsubscribe links; None — cancelled — if the member unsubscribed from the category (or everything) or
    has no open cabinet any more since the letter was queued."""
    from portal.cabinet.models import MemberAccount

    off = exists(select(Unsubscribe.id).where(Unsubscribe.member_id == msg.member_id,
                                              Unsubscribe.category.in_([Mailing.category, UNSUBSCRIBE_ALL])))
    still_open = exists(select(MemberAccount.id).where(MemberAccount.member_id == msg.member_id,
                                                       MemberAccount.closed_at.is_(None)))
    row = db.session.execute(select(Mailing.body, Mailing.category, off, still_open)
                             .where(Mailing.id == msg.mailing_id)).first()
    if row is None or row[2] or not row[3]:
        return None
    body, category = row[0], row[1]
    return body + footer(msg.member_id, category)


set_letter_renderer(render_letter)


def send_queued(heartbeat=None) -> str:
    """The job: send every mailing that is queued or was left half-sent."""
    ids = list(db.session.scalars(select(Mailing.id).where(Mailing.status.in_(["queued", "sending"]),
                                                           Mailing.plan != "welcome").order_by(Mailing.id)))
    total = sum(send(i, heartbeat=heartbeat) for i in ids)
    return f"рассылок: {len(ids)}, писем поставлено в очередь: {total}"


