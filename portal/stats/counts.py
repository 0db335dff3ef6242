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
* Age bands are kept too (``age:0`` … ``age:N``), exact as of one date for the whole table: ``stat_meta.ages_as_of``
  (with the boundaries they were counted with, ``stat_meta.age_bands``). Every writer counts a member's band as of
  that date, reading the row FOR SHARE on PostgreSQL. The daily job `advance_ages` (portal.stats.jobs, 00:05 Moscow)
  takes the row FOR UPDATE, moves the few members whose birthday crossed a boundary since then — found by a range of
  birth dates on ix_members_birth_date, a few hundred a day at 5 M members — and sets the date to today. A live
  report for another date adds the same crossing difference for its own date (`age_shift`), so its bands are exact
  whether or not the job has run yet today.
* The same listener records the old value of each changed category, education, dues form, consent and card
  (`MemberStatChange`), so that a report for a past date takes them as they stood (portal.stats.report).
* Figures that depend on the report's date otherwise (cards overdue > 14 days) and those of other domains (open
  petitions, cabinets) are computed set-based at query time (portal.stats.report), never stored.

`portal stats check` (`check()`) recomputes everything from the members table and lists every difference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from flask import current_app, has_app_context
from sqlalchemy import String, and_, case, cast, delete, event, func, inspect, literal, or_, select, union_all
from sqlalchemy.orm import Session

from portal.clock import now, today
from portal.extensions import db
from portal.registry.models import CardStatus, ConsentStatus, Member, MemberStatus
from portal.stats.models import MemberStatChange, StatCount, StatMeta

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
WATCHED = ("org_id", "status", "birth_date", *COUNTED)
# Properties whose changes are history (portal.stats.models.MemberStatChange); gender and birth date are corrections.
HISTORY = ("category", "education", "dues_form", "consent_status", "card_status")
DEFAULT_AGE_BANDS = (35, 50, 60)


def _plain(value) -> str:
    return str(getattr(value, "value", value))


# ---- age bands -------------------------------------------------------------------------------------------------


def configured_bands() -> tuple[int, ...]:
    """The age bands' boundaries the application is configured with (``STATS_AGE_BANDS``, default 35, 50, 60)."""
    if has_app_context():
        return tuple(current_app.config.get("STATS_AGE_BANDS", DEFAULT_AGE_BANDS))
    return DEFAULT_AGE_BANDS


def years_before(d: date, years: int) -> date:
    """The same calendar day `years` earlier (29 February → 28 February): born on or before it = that old on `d`."""
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


def band_of(birth_date: date | None, on: date, bands: tuple[int, ...]) -> int:
    """Index of the age band of someone born on `birth_date`, in full years on `on` (band i = under bands[i])."""
    if birth_date is None:
        return len(bands)
    for i, b in enumerate(bands):
        if birth_date > years_before(on, b):
            return i
    return len(bands)


def band_case(on: date, bands: tuple[int, ...]):
    """The same as SQL: a CASE giving the band's index on `on`, from members.birth_date."""
    return case(*[(Member.birth_date > years_before(on, b), i) for i, b in enumerate(bands)], else_=len(bands))


@dataclass(frozen=True)
class AgeState:
    """The date the kept ``age:`` counters are exact for, and the boundaries they were counted with."""

    as_of: date
    bands: tuple[int, ...]


def _parse_state(values: dict[str, str]) -> AgeState | None:
    if "ages_as_of" not in values or "age_bands" not in values:
        return None
    return AgeState(date.fromisoformat(values["ages_as_of"]),
                    tuple(int(x) for x in values["age_bands"].split(",") if x))


def age_state(connection=None, *, lock: str | None = None) -> AgeState:
    """The kept age bands' state; created (as of today, with the configured bands) when missing — an empty table,
    e.g. a fresh test database: there are then no kept age counters it could disagree with. `lock` = "share" (a
    writer of counters) or "update" (the daily job) takes the row lock on PostgreSQL."""
    connection = connection if connection is not None else db.session.connection()
    t = StatMeta.__table__
    q = select(t.c.key, t.c.value).where(t.c.key.in_(("ages_as_of", "age_bands")))
    pg = connection.dialect.name == "postgresql"
    if lock and pg:
        q = q.with_for_update(read=(lock == "share"))
    state = _parse_state(dict(connection.execute(q).all()))
    if state is not None:
        return state
    state = AgeState(today(), configured_bands())
    rows = [{"key": "ages_as_of", "value": state.as_of.isoformat()},
            {"key": "age_bands", "value": ",".join(str(b) for b in state.bands)}]
    if pg:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    connection.execute(insert(t).on_conflict_do_nothing(index_elements=["key"]), rows)
    return _parse_state(dict(connection.execute(q).all()))


def keys_of(values: dict, ages: AgeState | None = None) -> list[str]:
    """The counter keys one active member contributes to (nothing for a former member); with `ages`, its age band
    as of the kept bands' date."""
    if _plain(values.get("status") or DEFAULTS["status"]) != MemberStatus.ACTIVE.value:
        return []
    keys = ["members"]
    for attr, prefix in COUNTED.items():
        v = values.get(attr) or DEFAULTS.get(attr)
        if v is not None:
            keys.append(f"{prefix}:{_plain(v)}")
    if ages is not None:
        keys.append(f"age:{band_of(values.get('birth_date'), ages.as_of, ages.bands)}")
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


def _deltas(session: Session) -> tuple[dict[tuple[int, str], int], list[dict]]:
    """The counters' differences of this flush, and the history rows of the properties it changed."""
    delta: dict[tuple[int, str], int] = defaultdict(int)
    committed = session.info.pop("stat_committed", None)
    history: list[dict] = []
    changed = []  # (before or None, after or None)
    for obj in session.new:
        if isinstance(obj, Member):
            changed.append((None, _state(obj, old=False)))
    for obj in session.dirty:
        if isinstance(obj, Member):
            insp = inspect(obj)
            if not any(insp.attrs[a].history.has_changes() for a in (*WATCHED, "org")) and not (
                    committed and obj.id in committed):
                continue
            before, after = _state(obj, old=True, committed=committed), _state(obj, old=False)
            changed.append((before, after))
            day = today()
            history += [{"member_id": obj.id, "on_date": day, "attr": a, "old_value": _plain(before[a])
                         if before[a] is not None else None} for a in HISTORY
                        if before[a] is not None and _plain(before[a]) != _plain(after[a])]
    for obj in session.deleted:
        if isinstance(obj, Member):
            changed.append((_state(obj, old=True, committed=committed), None))
    if not changed:
        return {}, history
    ages = age_state(session.connection(), lock="share")
    for before, after in changed:
        if before is not None:
            for key in keys_of(before, ages):
                delta[(before["org_id"], key)] -= 1
        if after is not None:
            for key in keys_of(after, ages):
                delta[(after["org_id"], key)] += 1
    return {k: v for k, v in delta.items() if v}, history


def _upsert(connection, rows: list[dict], *, touch: bool = True) -> None:
    """n = n + delta for each (org, key), creating missing rows; one statement for the whole flush. `touch=False`
    (the daily age job: nobody changed the registry) leaves `changed_at`, the organisation's last change, alone."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(StatCount.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["org_id", "key"],
        set_={"n": StatCount.__table__.c.n + stmt.excluded.n,
              **({"changed_at": stmt.excluded.changed_at} if touch else {})})
    connection.execute(stmt, rows)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    """Apply the counted difference of the members this flush wrote, and record the history of the properties it
    changed, inside the same transaction."""
    delta, history = _deltas(session)
    if history:
        session.connection().execute(MemberStatChange.__table__.insert(), history)
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
    if wf.state_attr in HISTORY:
        db.session.execute(MemberStatChange.__table__.insert(), [
            {"member_id": obj.id, "on_date": today(), "attr": wf.state_attr, "old_value": _plain(before)}])
    if _plain(obj.status or DEFAULTS["status"]) != MemberStatus.ACTIVE.value:
        return
    prefix = COUNTED[wf.state_attr]
    moment = now()
    rows = [{"org_id": obj.org_id, "key": f"{prefix}:{_plain(before)}", "n": -1, "changed_at": moment},
            {"org_id": obj.org_id, "key": f"{prefix}:{_plain(after)}", "n": 1, "changed_at": moment}]
    _upsert(db.session.connection(), sorted(rows, key=lambda r: r["key"]))  # one lock order for everyone


def _recount_query(org_ids: Iterable[int] | None = None, ages: AgeState | None = None):
    """(org_id, key, n) computed from scratch from the members table: one grouped query per counted attribute, and
    the age bands as of `ages` (by default: the kept bands' date, with the configured boundaries)."""
    ages = ages or AgeState(age_state().as_of, configured_bands())
    active = Member.status == MemberStatus.ACTIVE
    parts = [select(Member.org_id.label("org_id"), literal("members").label("key"),
                    func.count().label("n")).where(active).group_by(Member.org_id)]
    for attr, prefix in COUNTED.items():
        col = getattr(Member, attr)
        parts.append(select(Member.org_id, literal(prefix + ":", String).concat(cast(col, String)).label("key"), func.count())
                     .where(active).group_by(Member.org_id, col))
    band = band_case(ages.as_of, ages.bands)
    parts.append(select(Member.org_id, literal("age:", String).concat(cast(band, String)).label("key"), func.count())
                 .where(active).group_by(Member.org_id, band))
    if org_ids is not None:
        ids = list(org_ids)
        parts = [p.where(Member.org_id.in_(ids)) for p in parts]
    return union_all(*parts)


def recount(org_ids: Iterable[int] | None = None, ages: AgeState | None = None) -> dict[tuple[int, str], int]:
    """Counts from scratch: {(org_id, key): n}."""
    return {(o, k): int(n) for o, k, n in db.session.execute(_recount_query(org_ids, ages))}


def refresh_orgs(org_ids: Iterable[int]) -> None:
    """Recompute the counters of these organisations from their members (after a bulk write that bypassed the
    ORM, e.g. an import); in the caller's transaction."""
    ids = sorted(set(org_ids))
    if not ids:
        return
    db.session.flush()
    ages = age_state(lock="share")
    db.session.execute(delete(StatCount).where(StatCount.org_id.in_(ids)))
    moment = now()
    rows = [{"org_id": o, "key": k, "n": n, "changed_at": moment}
            for (o, k), n in sorted(_recount_one_pass(ids, ages).items())]
    if rows:
        db.session.execute(StatCount.__table__.insert(), rows)


def _recount_one_pass(org_ids: list[int], ages: AgeState) -> dict[tuple[int, str], int]:
    """The same as `recount` for a few organisations, in one pass over their members (one index range each)
    grouped by every counted column at once: the combinations of one organisation are a few hundred, whereas the
    whole table's would be millions — `recount` (check, rebuild) keeps one grouping per attribute."""
    band = band_case(ages.as_of, ages.bands).label("band")
    cols = [getattr(Member, a) for a in COUNTED]
    out: dict[tuple[int, str], int] = defaultdict(int)
    prefixes = list(COUNTED.values())
    for org, *values, b, n in db.session.execute(
            select(Member.org_id, *cols, band, func.count())
            .where(Member.status == MemberStatus.ACTIVE, Member.org_id.in_(org_ids))
            .group_by(Member.org_id, *cols, band)):
        out[(org, "members")] += n
        for prefix, v in zip(prefixes, values, strict=True):
            if v is not None:
                out[(org, f"{prefix}:{_plain(v)}")] += n
        out[(org, f"age:{int(b)}")] += n
    return dict(out)


def rebuild_all() -> None:
    """Recompute every counter (demo data, the benchmark's generated registry, a repair after `stats check`), the age
    bands as of today with the configured boundaries."""
    db.session.flush()
    age_state(lock="update")
    ages = AgeState(today(), configured_bands())
    _set_state(ages)
    db.session.execute(delete(StatCount))
    moment = now()
    rows = [{"org_id": o, "key": k, "n": n, "changed_at": moment} for (o, k), n in sorted(recount(None, ages).items())]
    for start in range(0, len(rows), 5000):
        db.session.execute(StatCount.__table__.insert(), rows[start:start + 5000])


def maintained() -> dict[tuple[int, str], int]:
    """The counters as kept: {(org_id, key): n}, zero rows left out."""
    return {(o, k): n for o, k, n in db.session.execute(select(StatCount.org_id, StatCount.key, StatCount.n))
            if n}


def check() -> list[tuple[int, str, int, int]]:
    """Every difference between the kept counters and a count from scratch: (org_id, key, kept, actual). The age
    bands are recounted as of the kept bands' date with the *configured* boundaries; boundaries changed in the
    configuration since the counters were built are a difference of their own (organisation 0, ``age_bands``)."""
    state = age_state()
    kept, actual = maintained(), recount(None, AgeState(state.as_of, configured_bands()))
    diffs = sorted((o, k, kept.get((o, k), 0), actual.get((o, k), 0))
                   for (o, k) in set(kept) | set(actual) if kept.get((o, k), 0) != actual.get((o, k), 0))
    if state.bands != configured_bands():
        diffs.insert(0, (0, "age_bands " + ",".join(map(str, state.bands)) + " → "
                         + ",".join(map(str, configured_bands())), 0, 1))
    return diffs


def _set_state(ages: AgeState) -> None:
    t = StatMeta.__table__
    for key, value in (("ages_as_of", ages.as_of.isoformat()), ("age_bands", ",".join(map(str, ages.bands)))):
        db.session.execute(t.update().where(t.c.key == key).values(value=value))


def _crossing(since: date, until: date, bands: tuple[int, ...], org_filter=None):
    """(org_id, band on `since`, band on `until`, n) for the active members whose band differs between the two
    dates: those born within (years_before(earlier, b), years_before(later, b)] for a boundary b — a range scan of
    ix_members_birth_date per boundary, never the whole table."""
    lo, hi = min(since, until), max(since, until)
    ranges = [and_(Member.birth_date > years_before(lo, b), Member.birth_date <= years_before(hi, b)) for b in bands]
    b0, b1 = band_case(since, bands).label("b0"), band_case(until, bands).label("b1")
    q = (select(Member.org_id, b0, b1, func.count()).where(Member.status == MemberStatus.ACTIVE, or_(*ranges))
         .group_by(Member.org_id, b0, b1))
    if org_filter is not None:
        q = q.where(org_filter)
    return [(o, int(a), int(b), n) for o, a, b, n in db.session.execute(q) if a != b]


def age_shift(on: date, org_filter=None) -> tuple[AgeState, dict[tuple[int, str], int]]:
    """What to add to the kept ``age:`` counters to have them exact on `on`: {(org_id, key): delta}. Empty when the
    kept bands are already as of `on`. Raises LookupError when the kept boundaries are not the configured ones
    (then only a count from the members can be right)."""
    state = age_state()
    if state.bands != configured_bands():
        raise LookupError("age bands changed in the configuration")
    delta: dict[tuple[int, str], int] = defaultdict(int)
    if state.as_of != on:
        for org, a, b, n in _crossing(state.as_of, on, state.bands, org_filter):
            delta[(org, f"age:{a}")] -= n
            delta[(org, f"age:{b}")] += n
    return state, {k: v for k, v in delta.items() if v}


def advance_ages(to: date | None = None) -> int:
    """The daily job's work: bring the kept age bands to `to` (default today) by moving the members whose birthday
    crossed a boundary since the kept date; returns how many members moved. Takes the state row FOR UPDATE, so
    writers of counters wait for it (and it for them); safe to repeat. The caller commits."""
    to = to or today()
    db.session.flush()
    state = age_state(lock="update")
    if state.bands != configured_bands():
        rebuild_all()  # the configuration changed: only a full count gives the new bands
        return -1
    if state.as_of == to:
        return 0
    moved = 0
    delta: dict[tuple[int, str], int] = defaultdict(int)
    for org, a, b, n in _crossing(state.as_of, to, state.bands):
        delta[(org, f"age:{a}")] -= n
        delta[(org, f"age:{b}")] += n
        moved += n
    _upsert(db.session.connection(), [{"org_id": o, "key": k, "n": n, "changed_at": None}
                                      for (o, k), n in sorted(delta.items()) if n], touch=False)
    _set_state(AgeState(to, state.bands))
    return moved
