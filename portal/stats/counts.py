"""Per-organisation counters of active members, kept current in the same transaction as the registry change.

How they are kept (the decision issue 13 leaves open):

* Every change of a `Member` through the ORM — registration, card edit, transfer, leaving, exclusion, re-admission,
  the consent and card workflows' effects — is seen by one `after_flush` listener: it compares each changed member's
  counted attributes before and after, and turns the difference into ``UPDATE stat_counts SET n = n + delta`` (an
  upsert) per (organisation, key), sorted so that concurrent transactions take row locks in the same order. No
  operation has to remember to call it, and it costs one statement per flush that touched members.
* The import's bulk writer (COPY / executemany, no ORM) calls `refresh_orgs([org])` once after the file: that
  organisation's counters are recomputed by one grouped query over its own members (index ix_members_org_name).
  So do the demo loader and the benchmark generator (`rebuild_all`).
* Date-dependent figures (age bands, cards overdue > 14 days) and those of other domains (open petitions, cabinets)
  are computed set-based at query time (portal.stats.report), never stored.

`portal stats check` (`check()`) recomputes everything from the members table and lists every difference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import String, cast, delete, event, func, inspect, literal, select, union_all
from sqlalchemy.orm import Session

from portal.clock import now
from portal.extensions import db
from portal.registry.models import CardStatus, ConsentStatus, Member, MemberStatus
from portal.stats.models import StatCount

# Member attribute → counter key prefix. `members` (the total) is counted for every active member.
COUNTED = {
    "category": "category",
    "gender": "gender",
    "education": "education",
    "dues_form": "dues",
    "consent_status": "consent",
    "card_status": "card",
}
DEFAULTS = {"status": MemberStatus.ACTIVE, "consent_status": ConsentStatus.NONE, "card_status": CardStatus.NOT_ORDERED}
WATCHED = ("org_id", "status", *COUNTED)


def _plain(value) -> str:
    return str(getattr(value, "value", value))


def keys_of(values: dict) -> list[str]:
    """The counter keys one active member contributes to (nothing for a former member)."""
    if _plain(values.get("status") or DEFAULTS["status"]) != MemberStatus.ACTIVE.value:
        return []
    keys = ["members"]
    for attr, prefix in COUNTED.items():
        v = values.get(attr) or DEFAULTS.get(attr)
        if v is not None:
            keys.append(f"{prefix}:{_plain(v)}")
    return keys


def _state(member: Member, old: bool, committed: dict | None = None) -> dict:
    """The member's counted attributes after the flush, or (old=True) as they were before it: from the row read
    by `_before_flush` when an old value was never loaded, else from the attributes' history."""
    if old and committed and member.id in committed:
        return dict(committed[member.id])
    values = {}
    insp = inspect(member)
    for attr in WATCHED:
        hist = insp.attrs[attr].history
        if old and hist.has_changes():
            values[attr] = hist.deleted[0] if hist.deleted else None
        else:
            values[attr] = getattr(member, attr)
    if old:
        # A move made through the relationship (member.org = other, e.g. a back-office form) leaves no history on
        # org_id (the flush syncs the key directly): read the old organisation from the relationship's history.
        org_hist = insp.attrs["org"].history
        if org_hist.deleted and org_hist.deleted[0] is not None:
            values["org_id"] = org_hist.deleted[0].id
    return values


def _unknown_old_value(member: Member) -> bool:
    """A counted attribute was set on an expired (or never loaded) member: its history holds no old value."""
    insp = inspect(member)
    return insp.persistent and any(insp.attrs[a].history.has_changes() and not insp.attrs[a].history.deleted
                                   for a in (*WATCHED, "org"))


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context, _instances) -> None:
    """Read the committed counted columns of members changed without their old values loaded (an assignment
    after a commit expired them): one SELECT on the session's connection, before the flush overwrites the row."""
    ids = [obj.id for obj in session.dirty if isinstance(obj, Member) and _unknown_old_value(obj)]
    if not ids:
        return
    t = Member.__table__
    rows = session.connection().execute(select(t.c.id, *(t.c[a] for a in WATCHED)).where(t.c.id.in_(ids)))
    session.info.setdefault("stat_committed", {}).update({r[0]: dict(zip(WATCHED, r[1:], strict=True)) for r in rows})


def _deltas(session: Session) -> dict[tuple[int, str], int]:
    delta: dict[tuple[int, str], int] = defaultdict(int)
    committed = session.info.pop("stat_committed", None)
    for obj in session.new:
        if isinstance(obj, Member):
            for key in keys_of(_state(obj, old=False)):
                delta[(obj.org_id, key)] += 1
    for obj in session.dirty:
        if isinstance(obj, Member):
            insp = inspect(obj)
            if not any(insp.attrs[a].history.has_changes() for a in (*WATCHED, "org")) and not (
                    committed and obj.id in committed):
                continue
            before, after = _state(obj, old=True, committed=committed), _state(obj, old=False)
            for key in keys_of(before):
                delta[(before["org_id"], key)] -= 1
            for key in keys_of(after):
                delta[(after["org_id"], key)] += 1
    for obj in session.deleted:
        if isinstance(obj, Member):
            before = _state(obj, old=True, committed=committed)
            for key in keys_of(before):
                delta[(before["org_id"], key)] -= 1
    return {k: v for k, v in delta.items() if v}


def _upsert(connection, rows: list[dict]) -> None:
    """n = n + delta for each (org, key), creating missing rows; one statement for the whole flush."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(StatCount.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["org_id", "key"],
        set_={"n": StatCount.__table__.c.n + stmt.excluded.n, "changed_at": stmt.excluded.changed_at})
    connection.execute(stmt, rows)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    """Apply the counted difference of the members this flush wrote, inside the same transaction."""
    delta = _deltas(session)
    if not delta:
        return
    moment = now()
    rows = [{"org_id": org, "key": key, "n": n, "changed_at": moment} for (org, key), n in sorted(delta.items())]
    _upsert(session.connection(), rows)


def workflow_moved(wf, obj, before: str, after: str) -> None:
    """A workflow moved a member's counted state (consent) by a Core UPDATE, which the flush listener cannot see:
    move the member from one counter to the other, in the same transaction."""
    if not isinstance(obj, Member) or wf.state_attr not in COUNTED or before == after:
        return
    if _plain(obj.status or DEFAULTS["status"]) != MemberStatus.ACTIVE.value:
        return
    prefix = COUNTED[wf.state_attr]
    moment = now()
    rows = [{"org_id": obj.org_id, "key": f"{prefix}:{_plain(before)}", "n": -1, "changed_at": moment},
            {"org_id": obj.org_id, "key": f"{prefix}:{_plain(after)}", "n": 1, "changed_at": moment}]
    _upsert(db.session.connection(), sorted(rows, key=lambda r: r["key"]))  # one lock order for everyone


def _recount_query(org_ids: Iterable[int] | None = None):
    """(org_id, key, n) computed from scratch from the members table: one grouped query per counted attribute."""
    active = Member.status == MemberStatus.ACTIVE
    parts = [select(Member.org_id.label("org_id"), literal("members").label("key"),
                    func.count().label("n")).where(active).group_by(Member.org_id)]
    for attr, prefix in COUNTED.items():
        col = getattr(Member, attr)
        parts.append(select(Member.org_id, literal(prefix + ":", String).concat(cast(col, String)).label("key"), func.count())
                     .where(active).group_by(Member.org_id, col))
    if org_ids is not None:
        ids = list(org_ids)
        parts = [p.where(Member.org_id.in_(ids)) for p in parts]
    return union_all(*parts)


def recount(org_ids: Iterable[int] | None = None) -> dict[tuple[int, str], int]:
    """Counts from scratch: {(org_id, key): n}."""
    return {(o, k): int(n) for o, k, n in db.session.execute(_recount_query(org_ids))}


def refresh_orgs(org_ids: Iterable[int]) -> None:
    """Recompute the counters of these organisations from their members (after a bulk write that bypassed the
    ORM, e.g. an import); in the caller's transaction."""
    ids = sorted(set(org_ids))
    if not ids:
        return
    db.session.flush()
    db.session.execute(delete(StatCount).where(StatCount.org_id.in_(ids)))
    moment = now()
    rows = [{"org_id": o, "key": k, "n": n, "changed_at": moment} for (o, k), n in sorted(recount(ids).items())]
    if rows:
        db.session.execute(StatCount.__table__.insert(), rows)


def rebuild_all() -> None:
    """Recompute every counter (demo data, the benchmark's generated registry, a repair after `stats check`)."""
    db.session.flush()
    db.session.execute(delete(StatCount))
    moment = now()
    rows = [{"org_id": o, "key": k, "n": n, "changed_at": moment} for (o, k), n in sorted(recount().items())]
    for start in range(0, len(rows), 5000):
        db.session.execute(StatCount.__table__.insert(), rows[start:start + 5000])


def maintained() -> dict[tuple[int, str], int]:
    """The counters as kept: {(org_id, key): n}, zero rows left out."""
    return {(o, k): n for o, k, n in db.session.execute(select(StatCount.org_id, StatCount.key, StatCount.n))
            if n}


def check() -> list[tuple[int, str, int, int]]:
    """Every difference between the kept counters and a count from scratch: (org_id, key, kept, actual)."""
    kept, actual = maintained(), recount()
    return sorted((o, k, kept.get((o, k), 0), actual.get((o, k), 0))
                  for (o, k) in set(kept) | set(actual) if kept.get((o, k), 0) != actual.get((o, k), 0))
