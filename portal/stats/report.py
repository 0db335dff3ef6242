"""The one function behind every statistical figure: `compute(org, on)`. The passport analytics, the progress
table, the report page, its XLSX and its PDF all read their numbers from the `Report` it returns.

A report covers an organisation's subtree. For each organisation it holds its *own* figures (`own[id]`, a Counter
of keys such as ``members``, ``category:working``, ``age:0``, ``joined``) and the figures *rolled up* over its
subtree (`total[id]`): sums of counts — a level is rolled up by summing members and staff, never by averaging
percentages. Everything is read by a few set-based queries over the subtree (its organisations by the materialised
path, then grouped counts), never a query per organisation; the roll-up adds each organisation's own figures to
its ancestors within the subtree in one pass.

Dates. `on` is the report date (default 1 January of the current year); the period is the year before it,
[on − 1 year, on). A date today or later is the live registry: membership, category, gender, education, dues,
consent, cards and age bands are the kept counters (portal.stats.counts; the bands are kept exact for one date by
a daily job, and moved to the report's date by the few members whose birthday crosses a boundary in between). An earlier
date is reconstructed from the membership history (member_events): a person counts in the organisation where their
last event before `on` put them (joined / transferred / re-admitted), and not at all if it was leaving or
exclusion. Category, education, dues form, consent and card are taken as they stood on that date from the history
of their changes (MemberStatChange, kept since migration 0014: for an earlier date the report says from when);
gender and birth date are corrections, taken as corrected. A past report is computed set-based from the members,
their events and that history — at 5 M members it takes seconds (bench/RESULTS.md); a frozen report is read from
its stored rows.

Pages that show only an organisation and its children (passport analytics, the progress table, the charts) ask
for `children_only=True`: a live report whose children carry their subtrees' sums computed in SQL (`_shallow`), not
a Python object per organisation below — what makes a central passport affordable at 5 M members.

Age bands are full years on the report date: under 35, 35–49, 50–59, 60 and older by default (``STATS_AGE_BANDS``
= (35, 50, 60) in the app config); someone turning 35 on the report date is in the second band.

Membership level = members ÷ potential members (staff, or students for a students' primary). A primary without a
staff (student) count, or with more members than staff, is a *data problem*: it is listed with a link to its
passport and left out of both sides of the level — the level is never silently computed from bad inputs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import String, and_, case, func, literal, select, text, true, type_coerce
from sqlalchemy.orm import aliased
from sqlalchemy.orm import join as orm_join

from portal.clock import today
from portal.extensions import db
from portal.i18n import N_
from portal.registry.models import (
    CardStatus,
    Category,
    ConsentStatus,
    DuesForm,
    Education,
    EventKind,
    Gender,
    InstitutionKind,
    Member,
    MemberEvent,
    MemberStatus,
    Organisation,
    OrgLevel,
)
from portal.stats.counts import age_shift, configured_bands, years_before
from portal.stats.models import MemberStatChange, StatCount

DEFAULT_AGE_BANDS = (35, 50, 60)
ACTIVE_EVENTS = (EventKind.JOINED.value, EventKind.TRANSFERRED.value, EventKind.READMITTED.value)
# Ordered and not yet handed over: in production, in the post, or received by the regional office (issue 9 item 10).
CARD_REQUESTED = (CardStatus.ORDERED.value, CardStatus.PRODUCED.value, CardStatus.SHIPPED.value,
                  CardStatus.RECEIVED.value)
CONSENT_GIVEN = (ConsentStatus.SIGNED.value, ConsentStatus.TRANSFERRED.value)
OVERDUE_DAYS = 14


@dataclass
class OrgInfo:
    """What a report needs of an organisation (copied into a frozen snapshot as it stood)."""

    id: int
    parent_id: int | None
    level: str
    path: str
    name: str

    @property
    def depth(self) -> int:
        return self.path.count("/") - 1


@dataclass
class Problem:
    """A primary whose staff count makes its level meaningless: fix it in the passport."""

    org_id: int
    name: str
    members: int
    potential: int | None


@dataclass
class Report:
    root_id: int
    on: date
    since: date
    live: bool
    orgs: dict[int, OrgInfo]
    own: dict[int, Counter]
    total: dict[int, Counter] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    changed_at: dict[int, datetime] = field(default_factory=dict)
    # A live report: the date the kept age bands were exact for before the report moved them to `on`.
    ages_kept_on: date | None = None
    # Only the root and its children (`compute(..., children_only=True)`): each child's figures are its subtree's.
    shallow: bool = False
    # A past date before the history of members' properties began: category, education, dues form, consent and
    # card are as of this date at the earliest (the page says so).
    properties_from: date | None = None

    @property
    def root(self) -> OrgInfo:
        return self.orgs[self.root_id]

    def children(self, org_id: int) -> list[OrgInfo]:
        return sorted((o for o in self.orgs.values() if o.parent_id == org_id), key=lambda o: o.name)

    def primaries(self) -> list[OrgInfo]:
        return sorted((o for o in self.orgs.values() if o.level == OrgLevel.PRIMARY.value), key=lambda o: o.name)

    def levels(self) -> list[str]:
        """The levels present in the subtree, top down (one XLSX sheet each)."""
        order = [lv.value for lv in OrgLevel]
        return sorted({o.level for o in self.orgs.values()}, key=order.index)


def age_bands() -> tuple[int, ...]:
    return configured_bands()


def band_titles() -> list[str]:
    """Titles of the age bands, e.g. «до 35», «35–49», «50–59», «60 и старше»."""
    b = age_bands()
    titles = [f"до {b[0]}"]
    titles += [f"{lo}–{hi - 1}" for lo, hi in zip(b, b[1:], strict=False)]
    titles.append(f"{b[-1]} и старше")
    return titles


def default_date() -> date:
    """1 January of the current year."""
    return date(today().year, 1, 1)


def _age_case(on: date):
    whens = [(Member.birth_date > years_before(on, b), f"age:{i}") for i, b in enumerate(age_bands())]
    return case(*whens, else_=f"age:{len(age_bands())}")


@dataclass
class _Passport:
    """The passport fields the figures need, read as plain values (no ORM objects, no enum conversion)."""

    id: int
    name: str
    level: str
    kind: str | None
    staff_count: int | None
    student_count: int | None
    chair_name: str
    chair_gender: str | None
    chair_released: bool
    committee_size: int | None
    audit_commission_size: int | None

    @property
    def is_student_org(self) -> bool:
        return self.kind == InstitutionKind.STUDENTS.value

    @property
    def potential_members(self) -> int | None:
        return self.student_count if self.is_student_org else self.staff_count


def _subtree(org: Organisation) -> tuple[dict[int, OrgInfo], dict[int, _Passport]]:
    t = Organisation.__table__
    rows = db.session.connection().execute(select(
        t.c.id, t.c.parent_id, type_coerce(t.c.level, String), t.c.path, t.c.name, type_coerce(t.c.kind, String),
        t.c.staff_count, t.c.student_count, t.c.chair_name, type_coerce(t.c.chair_gender, String),
        t.c.chair_released, t.c.committee_size, t.c.audit_commission_size)
        .where(t.c.path.like(org.path + "%"))).all()  # Core rows: no ORM loading per row
    infos = {r[0]: OrgInfo(r[0], r[1], r[2], r[3], r[4]) for r in rows}
    infos[org.id].parent_id = None  # the report's root
    passports = {r[0]: _Passport(r[0], r[4], r[2], r[5], r[6], r[7], r[8] or "", r[9], bool(r[10]), r[11], r[12])
                 for r in rows}
    return infos, passports


def _in_subtree(col, org: Organisation):
    if org.level == OrgLevel.PRIMARY:
        return col == org.id
    return col.in_(select(Organisation.id).where(Organisation.path.like(org.path + "%")))


def _live_members(org: Organisation, on: date, own: dict[int, Counter], ages: bool) -> date | None:
    """The kept counters of the subtree, age bands included; the bands are moved from the kept date to `on` by the
    members whose birthday crosses a boundary in between (`counts.age_shift`, an index range on birth dates). Only
    when the configured boundaries differ from the kept ones (until `portal stats rebuild`) are the bands counted
    from the members. Returns the kept bands' date (shown as "as of")."""
    q = select(StatCount.org_id, StatCount.key, StatCount.n).where(_in_subtree(StatCount.org_id, org),
                                                                   StatCount.n != 0)
    if not ages:
        q = q.where(~StatCount.key.like("age:%"))
    # Core rows, one dict assignment each: at 5 M members this loop sees ~1.7 M rows (the table is unique on
    # (organisation, key), so each key arrives once per organisation).
    for org_id, key, n in db.session.connection().execute(q).all():  # fetched at once, not row by row
        own[org_id][key] = n
    if not ages:
        return None
    try:
        state, shift = age_shift(on, _in_subtree(Member.org_id, org))
    except LookupError:
        state = None
    if state is not None:
        for (org_id, key), n in shift.items():
            own[org_id][key] += n
            if not own[org_id][key]:
                del own[org_id][key]
        return state.as_of
    for org_id in own:
        for key in [k for k in own[org_id] if k.startswith("age:")]:
            del own[org_id][key]
    age = _age_case(on).label("band")
    for org_id, band, n in db.session.execute(
            select(Member.org_id, age, func.count()).where(_in_subtree(Member.org_id, org),
                                                           Member.status == MemberStatus.ACTIVE)
            .group_by(Member.org_id, age)):
        own[org_id][band] += n
    return None


def _past_members(org: Organisation, on: date, own: dict[int, Counter]) -> None:
    """Membership at the start of `on`, from each person's last event before it (one windowed query); category,
    education, dues form, consent and card as they stood then: the value before the earliest change recorded on
    or after `on` (portal.stats.models.MemberStatChange), else the current one."""
    touched = select(MemberEvent.member_id).where(_in_subtree(MemberEvent.to_org_id, org))
    ranked = (select(MemberEvent.member_id, MemberEvent.kind, MemberEvent.to_org_id,
                     func.row_number().over(partition_by=MemberEvent.member_id,
                                            order_by=(MemberEvent.on_date.desc(), MemberEvent.id.desc())).label("rn"))
              .where(MemberEvent.on_date < on, MemberEvent.member_id.in_(touched)).subquery())
    h = MemberStatChange
    first = (select(h.member_id, h.attr, h.old_value,
                    func.row_number().over(partition_by=(h.member_id, h.attr), order_by=(h.on_date, h.id)).label("rn"))
             .where(h.on_date >= on).subquery())
    history_attrs = ("category", "education", "dues_form", "consent_status", "card_status")
    then = (select(first.c.member_id,
                   *[func.max(case((and_(first.c.attr == a, first.c.rn == 1), first.c.old_value))).label(a)
                     for a in history_attrs])
            .group_by(first.c.member_id).subquery())
    age = _age_case(on).label("band")
    cols = (func.coalesce(then.c.category, type_coerce(Member.category, String)).label("category"),
            type_coerce(Member.gender, String).label("gender"),
            func.coalesce(then.c.education, type_coerce(Member.education, String)).label("education"),
            func.coalesce(then.c.dues_form, type_coerce(Member.dues_form, String)).label("dues"),
            func.coalesce(then.c.consent_status, type_coerce(Member.consent_status, String)).label("consent"),
            func.coalesce(then.c.card_status, type_coerce(Member.card_status, String)).label("card"))
    q = (select(ranked.c.to_org_id, age, *cols, func.count())
         .join(Member, Member.id == ranked.c.member_id)
         .outerjoin(then, then.c.member_id == Member.id)
         .where(ranked.c.rn == 1, ranked.c.kind.in_(ACTIVE_EVENTS), _in_subtree(ranked.c.to_org_id, org))
         .group_by(ranked.c.to_org_id, age, *cols))
    prefixes = ("category", "gender", "education", "dues", "consent", "card")
    for org_id, band, *values, n in db.session.execute(q):
        c = own[org_id]
        c["members"] += n
        c[band] += n
        for prefix, v in zip(prefixes, values, strict=True):
            c[f"{prefix}:{getattr(v, 'value', v)}"] += n


def history_since() -> date | None:
    """The first day the history of members' properties was recorded (migration 0014); None: from the start."""
    from portal.stats.models import StatMeta

    value = db.session.scalar(select(StatMeta.value).where(StatMeta.key == "history_since"))
    return date.fromisoformat(value) if value else None


def _movements(org: Organisation, since: date, until: date, own: dict[int, Counter]) -> None:
    """Joined (incl. re-admitted), left (incl. excluded), transferred in and out during [since, until)."""
    in_period = and_(MemberEvent.on_date >= since, MemberEvent.on_date < until)
    for side, col in (("to", MemberEvent.to_org_id), ("from", MemberEvent.from_org_id)):
        for org_id, kind, n in db.session.execute(
                select(col, MemberEvent.kind, func.count()).where(in_period, _in_subtree(col, org))
                .group_by(col, MemberEvent.kind)):
            _movement(own[org_id], side, getattr(kind, "value", kind), n)


_MOVEMENT_KINDS = {EventKind.JOINED.value: ("to", "joined"), EventKind.READMITTED.value: ("to", "joined"),
                   EventKind.LEFT.value: ("from", "left"), EventKind.EXCLUDED.value: ("from", "left")}


def _movement(c: Counter, side: str, kind: str, n: int) -> None:
    """Count `n` events of `kind` seen from `side` ("to": the organisation they went to, "from": the one left)."""
    if kind == EventKind.TRANSFERRED.value:
        c["transferred_in" if side == "to" else "transferred_out"] += n
    elif _MOVEMENT_KINDS.get(kind, ("", ""))[0] == side:
        c[_MOVEMENT_KINDS[kind][1]] += n
        if kind == EventKind.EXCLUDED.value:
            c["excluded"] += n
        if kind == EventKind.READMITTED.value:
            c["readmitted"] += n


def _progress(org: Organisation, on: date, own: dict[int, Counter]) -> None:
    """Today's work figures from other domains: cards overdue (> 14 days unshipped), open petitions, cabinets."""
    from portal.aid.models import OPEN_STATES, AidPetition
    from portal.cards.models import CardRequest, CardRequestItem, RequestState

    overdue = and_(CardRequest.state == RequestState.PROCESSED,
                   CardRequest.processed_on < on - timedelta(days=OVERDUE_DAYS))
    for org_id, n in db.session.execute(
            select(CardRequest.org_id, func.count(CardRequestItem.id))
            .join(CardRequestItem, CardRequestItem.request_id == CardRequest.id)
            .where(overdue, CardRequestItem.excluded_reason == "", _in_subtree(CardRequest.org_id, org))
            .group_by(CardRequest.org_id)):
        own[org_id]["cards_overdue"] += n
    for org_id, n in db.session.execute(
            select(AidPetition.org_id, func.count()).where(AidPetition.state.in_(OPEN_STATES),
                                                           _in_subtree(AidPetition.org_id, org))
            .group_by(AidPetition.org_id)):
        own[org_id]["petitions_open"] += n
    for org_id, n in cabinet_counts(org).items():
        own[org_id]["cabinets"] += n


def cabinet_counts(org: Organisation) -> dict[int, int]:
    """Active members with an open personal cabinet (member_accounts, closed_at empty), per organisation of the
    subtree: one grouped query, the same rule as the cabinet's own `cabinet_count`."""
    from portal.cabinet.models import MemberAccount

    return dict(db.session.execute(
        select(Member.org_id, func.count(MemberAccount.id)).select_from(MemberAccount)
        .join(Member, Member.id == MemberAccount.member_id)
        .where(MemberAccount.closed_at.is_(None), Member.status == MemberStatus.ACTIVE,
               _in_subtree(Member.org_id, org))
        .group_by(Member.org_id)).all())


def _passport_figures(orgs: dict[int, _Passport], own: dict[int, Counter],
                      counts: dict[int, tuple[int, int, int]] | None = None,
                      target: dict[int, int] | None = None) -> list[Problem]:
    """Staff, chairs, committees and the level's inputs; returns the data problems. Each organisation's figures go
    to `own[target[id]]` (a shallow report: the child of the root it lies under), by default to `own[id]`; its
    members, working and student members are `counts[id]` or, by default, read from `own[id]`."""
    problems = []
    working_key, student_key = f"category:{Category.WORKING.value}", f"category:{Category.STUDENT.value}"
    for o in orgs.values():
        c = own[target[o.id]] if target is not None else own[o.id]
        if o.chair_name or o.chair_gender:
            c["chairs"] += 1
            if o.chair_gender is not None:
                c[f"chair:{o.chair_gender}"] += 1
            if o.chair_released:
                c["chair:released"] += 1
        if o.committee_size:
            c["committee"] += o.committee_size
        if o.audit_commission_size:
            c["audit_commission"] += o.audit_commission_size
        if o.level != OrgLevel.PRIMARY.value:
            continue
        if counts is not None:
            members, working, students = counts.get(o.id, (0, 0, 0))
        else:
            src = own[o.id]
            members, working, students = src["members"], src[working_key], src[student_key]
        c["primaries"] += 1
        potential = o.potential_members
        if not potential or members > potential:
            problems.append(Problem(o.id, o.name, members, potential))
            c["problem_orgs"] += 1
            continue
        c["level_num"] += members
        c["level_den"] += potential
        if o.is_student_org:
            c["students_num"] += students
            c["students_den"] += potential
            c["students"] += potential
        else:
            c["working_num"] += working
            c["working_den"] += potential
            c["staff"] += potential
    return sorted(problems, key=lambda p: p.name)


_CARD_REQUESTED_KEYS = tuple(f"card:{s}" for s in CARD_REQUESTED)
_CONSENT_GIVEN_KEYS = tuple(f"consent:{s}" for s in CONSENT_GIVEN)
_CARD_ISSUED_KEY = f"card:{CardStatus.ISSUED.value}"


def _derived(c: Counter) -> None:
    get = c.get
    c["cards_requested"] = sum(get(k, 0) for k in _CARD_REQUESTED_KEYS)
    c["cards_issued"] = get(_CARD_ISSUED_KEY, 0)
    signed = c["consents_signed"] = sum(get(k, 0) for k in _CONSENT_GIVEN_KEYS)
    c["consents_missing"] = get("members", 0) - signed


def roll_up(orgs: dict[int, OrgInfo], own: dict[int, Counter], root_id: int) -> dict[int, Counter]:
    """Each organisation's figures summed over its subtree, bottom-up: deepest first, each total added to its
    parent's (one addition per organisation, whatever the depth). An organisation with nothing below it (every
    primary) shares its own Counter as its total: nothing is added to it, and a report is read, never changed."""
    parents = {o.parent_id for o in orgs.values() if o.id != root_id}
    total = {i: (Counter(own[i]) if i in parents else own[i]) for i in orgs}
    for o in sorted(orgs.values(), key=lambda o: -o.depth):
        if o.id != root_id and o.parent_id in total:
            acc, get = total[o.parent_id], total[o.parent_id].get
            for k, v in total[o.id].items():
                acc[k] = get(k, 0) + v
    return total


# ---- the shallow live report: the root and its children, each child's figures summed over its subtree in SQL ----


def _child_of(path_col, root_path: str):
    """SQL: the id (as text) of the root's child whose subtree holds the organisation with this path; '' for the
    root itself. The path is materialised ("/1/5/77/"), so it is the first element after the root's own path."""
    rest = func.substr(path_col, len(root_path) + 1)
    pos = func.strpos(rest, "/") if db.session.get_bind().dialect.name == "postgresql" else func.instr(rest, "/")
    return case((pos > 0, func.substr(rest, 1, pos - 1)), else_=literal(""))


def _grouped(org: Organisation, col, *, source):
    """(group column, filter, join) to count rows whose organisation column is `col` per child of `org`."""
    o = aliased(Organisation)
    return _child_of(o.path, org.path), o.path.like(org.path + "%"), (source, o, o.id == col)


def _per_org(org: Organisation, table, org_col, cols, where=()):
    """(child column, FROM clause, filter, the lateral's columns) reading `cols` of `table` organisation by
    organisation of `org`'s subtree. On PostgreSQL the rows of each organisation are read by a LATERAL subquery
    behind OFFSET 0 (a fence the planner cannot flatten): an index range per organisation, which is what a region's
    thousand primaries need — with the plain join the planner estimates a scan of the whole table as cheaper and
    reads all of it. For the central organisation (the whole table) the plain join's hash join over one scan is the
    right plan and is kept. SQLite has no LATERAL and no such sizes: a plain join."""
    o = aliased(Organisation)
    child = _child_of(o.path, org.path)
    flt = o.path.like(org.path + "%")
    if db.session.get_bind().dialect.name == "postgresql" and org.level != OrgLevel.CENTRAL:
        sub = select(*cols).select_from(table).where(org_col == o.id, *where).offset(0).lateral()
        return child, orm_join(o, sub, true()), flt, sub.c
    sub = select(org_col.label("_org"), *cols).select_from(table).where(*where).subquery()
    return child, sub.join(o, o.id == sub.c._org), flt, sub.c


def _target(org: Organisation):
    def to_id(value) -> int:
        return int(value) if value not in ("", None) else org.id
    return to_id


def _shallow(org: Organisation, on: date, ages: bool) -> Report:
    """The live report of `org` with only its children below it: `own[child]` (= `total[child]`) is the child's
    figures summed over its subtree, by GROUP BY on the child's id taken from each organisation's path — a few
    set-based queries whatever the subtree's size, and no Python object per organisation below the children
    except one tuple per primary for the level's inputs. The same figures as `compute(org, on)` gives for the root
    and its children (tests compare the two on hand-built trees); what it leaves out is the organisations
    deeper down, so pages that show only the children (the passport's analytics, the progress table) use it."""
    from portal.aid.models import OPEN_STATES, AidPetition
    from portal.cabinet.models import MemberAccount
    from portal.cards.models import CardRequest, CardRequestItem, RequestState

    to_id = _target(org)
    t = Organisation.__table__
    rows = db.session.execute(select(
        t.c.id, t.c.parent_id, type_coerce(t.c.level, String), t.c.path, t.c.name)
        .where((t.c.id == org.id) | (t.c.parent_id == org.id))).all()
    infos = {r[0]: OrgInfo(r[0], r[1], r[2], r[3], r[4]) for r in rows}
    infos[org.id].parent_id = None
    own: dict[int, Counter] = {i: Counter() for i in infos}

    # Kept counters (age bands included) and the last change, summed per child.
    child, frm, flt, c = _per_org(org, StatCount, StatCount.org_id,
                                  (StatCount.key, StatCount.n, StatCount.changed_at))
    changed_at: dict[int, datetime] = {}
    for ch, key, n, when in db.session.execute(
            select(child, c.key, func.sum(c.n), func.max(c.changed_at)).select_from(frm).where(flt)
            .group_by(child, c.key)):
        i = to_id(ch)
        if n and (ages or not key.startswith("age:")):
            own[i][key] += int(n)
        if when is not None and (i not in changed_at or changed_at[i] < _aware(when)):
            changed_at[i] = _aware(when)
    ages_kept_on = None
    if ages:
        try:
            state, shift = age_shift(on, _in_subtree(Member.org_id, org))
        except LookupError:
            state = None
        if state is not None:
            ages_kept_on = state.as_of
            paths = dict(db.session.execute(select(t.c.id, t.c.path).where(
                t.c.id.in_({i for i, _k in shift}))).all()) if shift else {}
            for (org_id, key), n in shift.items():
                own[to_id(paths[org_id][len(org.path):].split("/")[0])][key] += n
        else:
            for c in own.values():
                for key in [k for k in c if k.startswith("age:")]:
                    del c[key]
            child, where, (src, o, on_clause) = _grouped(org, Member.org_id, source=Member)
            age = _age_case(on).label("band")
            for ch, band, n in db.session.execute(
                    select(child, age, func.count()).select_from(src).join(o, on_clause)
                    .where(where, Member.status == MemberStatus.ACTIVE).group_by(child, age)):
                own[to_id(ch)][band] += n

    # Movements during the period.
    since = years_before(on, 1)
    in_period = and_(MemberEvent.on_date >= since, MemberEvent.on_date < on + timedelta(days=1))
    for side, col in (("to", MemberEvent.to_org_id), ("from", MemberEvent.from_org_id)):
        child, frm, flt, c = _per_org(org, MemberEvent, col, (MemberEvent.kind,), (in_period,))
        for ch, kind, n in db.session.execute(
                select(child, c.kind, func.count()).select_from(frm).where(flt).group_by(child, c.kind)):
            _movement(own[to_id(ch)], side, getattr(kind, "value", kind), n)

    # Work figures of other domains.
    overdue = and_(CardRequest.state == RequestState.PROCESSED,
                   CardRequest.processed_on < on - timedelta(days=OVERDUE_DAYS))
    child, where, (src, o, on_clause) = _grouped(org, CardRequest.org_id, source=CardRequest)
    for ch, n in db.session.execute(
            select(child, func.count(CardRequestItem.id)).select_from(src).join(o, on_clause)
            .join(CardRequestItem, CardRequestItem.request_id == CardRequest.id)
            .where(overdue, CardRequestItem.excluded_reason == "", where).group_by(child)):
        own[to_id(ch)]["cards_overdue"] += n
    child, where, (src, o, on_clause) = _grouped(org, AidPetition.org_id, source=AidPetition)
    for ch, n in db.session.execute(
            select(child, func.count()).select_from(src).join(o, on_clause)
            .where(AidPetition.state.in_(OPEN_STATES), where).group_by(child)):
        own[to_id(ch)]["petitions_open"] += n
    child, where, (src, o, on_clause) = _grouped(org, Member.org_id, source=MemberAccount)
    for ch, n in db.session.execute(
            select(child, func.count(MemberAccount.id)).select_from(src)
            .join(Member, Member.id == MemberAccount.member_id).join(o, on_clause)
            .where(MemberAccount.closed_at.is_(None), Member.status == MemberStatus.ACTIVE, where)
            .group_by(child)):
        own[to_id(ch)]["cabinets"] += n

    # The passports of the whole subtree (chairs, bodies, the level's inputs), one row each, to their child.
    m, w, st = aliased(StatCount), aliased(StatCount), aliased(StatCount)
    prows = db.session.execute(select(
        t.c.id, t.c.name, type_coerce(t.c.level, String), type_coerce(t.c.kind, String), t.c.staff_count,
        t.c.student_count, t.c.chair_name, type_coerce(t.c.chair_gender, String), t.c.chair_released,
        t.c.committee_size, t.c.audit_commission_size, t.c.path, m.n, w.n, st.n)
        .select_from(t)
        .outerjoin(m, and_(m.org_id == t.c.id, m.key == "members"))
        .outerjoin(w, and_(w.org_id == t.c.id, w.key == f"category:{Category.WORKING.value}"))
        .outerjoin(st, and_(st.org_id == t.c.id, st.key == f"category:{Category.STUDENT.value}"))
        .where(t.c.path.like(org.path + "%"))).all()
    passports, counts, target = {}, {}, {}
    cut = len(org.path)
    for r in prows:
        passports[r[0]] = _Passport(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or "", r[7], bool(r[8]), r[9], r[10])
        counts[r[0]] = (r[12] or 0, r[13] or 0, r[14] or 0)
        target[r[0]] = to_id(r[11][cut:].split("/")[0])
    problems = _passport_figures(passports, own, counts, target)
    for c in own.values():
        _derived(c)

    report = Report(org.id, on, since, True, infos, own, problems=problems, ages_kept_on=ages_kept_on,
                    shallow=True)
    report.total = roll_up(infos, own, org.id)
    # The last change under each child, and under the root.
    report.changed_at = dict(changed_at)
    if changed_at:
        report.changed_at[org.id] = max(changed_at.values())
    return report


def compute(org: Organisation, on: date | None = None, *, ages: bool = True, children_only: bool = False) -> Report:
    """The report of `org`'s subtree as of `on` (default 1 January of this year): see the module docstring.
    `ages=False` leaves the age bands out (the progress table has no use for them). `children_only=True`, for a
    live date, gives only the root and its children, each child's figures summed over its subtree in SQL
    (`_shallow`): what the passport's analytics and the progress table show, without a Python object per
    organisation of the subtree. A past date always takes the full path."""
    on = on or default_date()
    live = on >= today()
    if db.session.get_bind().dialect.name == "postgresql":
        # The grouped reads look expensive to the planner at 5 M members, and PostgreSQL's JIT then spends up to
        # ~1 s compiling each of them — longer than they run. Off for this transaction (the request) only.
        db.session.execute(text("SET LOCAL jit = off"))
    if live and children_only and org.level != OrgLevel.PRIMARY:
        return _shallow(org, on, ages)
    since = years_before(on, 1)
    infos, orgs = _subtree(org)
    own: dict[int, Counter] = {i: Counter() for i in infos}
    ages_kept_on = properties_from = None
    if live:
        ages_kept_on = _live_members(org, on, own, ages)
        _movements(org, since, on + timedelta(days=1), own)
        _progress(org, on, own)
    else:
        _past_members(org, on, own)
        _movements(org, since, on, own)
        started = history_since()
        properties_from = started if started and on < started else None
    # Rows of organisations outside the subtree cannot appear (every query is limited to it). Every figure was
    # added as a positive count, except the age bands' shift: its zero entries were dropped where it applied.
    problems = _passport_figures(orgs, own)
    for c in own.values():
        _derived(c)
    report = Report(org.id, on, since, live, infos, own, problems=problems, ages_kept_on=ages_kept_on,
                    properties_from=properties_from)
    report.total = roll_up(infos, own, org.id)
    if live:
        report.changed_at = last_changes(org, infos)
    return report


def last_changes(org: Organisation, infos: dict[int, OrgInfo]) -> dict[int, datetime]:
    """The last change of each organisation's members (its own, then the latest below it)."""
    own = {i: _aware(w) for i, w in db.session.connection().execute(
        select(StatCount.org_id, func.max(StatCount.changed_at)).where(_in_subtree(StatCount.org_id, org))
        .group_by(StatCount.org_id)).all() if w is not None}
    out: dict[int, datetime] = {}
    for i, when in own.items():
        o = infos.get(i)
        if o is None:
            continue
        for a in (int(p) for p in o.path.strip("/").split("/")):
            if a in infos and (a not in out or out[a] < when):
                out[a] = when
    return out


def _aware(d: datetime) -> datetime:
    from datetime import UTC

    return d if d.tzinfo else d.replace(tzinfo=UTC)


def percent(num: int, den: int) -> float | None:
    """num ÷ den in per cent, one decimal; None without a denominator."""
    return round(100 * num / den, 1) if den else None


# Titles of the report's rows, in order, for pages and downloads (keys → Russian msgids).
def sections() -> list[tuple[str, list[tuple[str, str]]]]:
    """The report's sections: (title, [(key, title)]), the same on the page, in the XLSX and in the PDF."""
    bands = [(f"age:{i}", t) for i, t in enumerate(band_titles())]
    return [
        (N_("Члены Профсоюза"), [("members", N_("Всего на учёте")),
                             *[(f"category:{c.value}", c.title) for c in Category]]),
        (N_("Пол"), [(f"gender:{g.value}", g.title) for g in Gender]),
        (N_("Возраст"), bands),
        (N_("Образование"), [(f"education:{e.value}", e.title) for e in Education]),
        (N_("Форма уплаты взносов"), [(f"dues:{d.value}", d.title) for d in DuesForm]),
        (N_("Согласия и билеты"), [("consents_signed", N_("согласие дано")), ("consents_missing", N_("согласия нет")),
                               ("cards_requested", N_("билеты заказаны")), ("cards_issued", N_("билеты выданы")),
                               ("cards_overdue", N_("не отправлены более 14 дней")), ("cabinets", N_("личные кабинеты"))]),
        (N_("Охват"), [("staff", N_("работающих в организациях")), ("working_num", N_("из них членов Профсоюза")),
                   ("students", N_("обучающихся")), ("students_num", N_("из них членов Профсоюза")),
                   ("level_den", N_("всего возможных членов")), ("level_num", N_("на учёте (в организациях с данными)")),
                   ("problem_orgs", N_("организаций с ошибками в численности"))]),
        (N_("Движение за период"), [("joined", N_("принято (в т. ч. повторно)")), ("readmitted", N_("из них повторно")),
                                ("left", N_("выбыло (в т. ч. исключено)")), ("excluded", N_("из них исключено")),
                                ("transferred_in", N_("переведено из других организаций")),
                                ("transferred_out", N_("переведено в другие организации"))]),
        (N_("Профсоюзные органы"), [("primaries", N_("первичных организаций")), ("chairs", N_("председателей")),
                                (f"chair:{Gender.FEMALE.value}", N_("из них женщин")),
                                (f"chair:{Gender.MALE.value}", N_("из них мужчин")),
                                ("chair:released", N_("освобождённых председателей")),
                                ("committee", N_("членов профкомов (комитетов)")),
                                ("audit_commission", N_("членов контрольно-ревизионных комиссий"))]),
        (N_("Текущая работа"), [("petitions_open", N_("ходатайств о помощи на рассмотрении"))]),
    ]


def level_figures(c: Counter) -> dict:
    """Membership levels from a (rolled-up) Counter: overall, among working and among students."""
    return {"level": percent(c["level_num"], c["level_den"]),
            "working": percent(c["working_num"], c["working_den"]),
            "students": percent(c["students_num"], c["students_den"])}

