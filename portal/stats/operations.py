"""Named operations of statistics: freezing a report as a snapshot, and reading a snapshot back as a `Report`."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import select

from portal import audit
from portal.clock import now
from portal.extensions import db
from portal.registry.models import Organisation
from portal.stats.models import StatSnapshot, StatSnapshotOrg, StatSnapshotValue
from portal.stats.report import OrgInfo, Problem, Report, compute, roll_up


def freeze(actor, org: Organisation, on: date, title: str = "") -> StatSnapshot:
    """Store the report of `org` as of `on` as rows (each organisation as it stands now and its own figures):
    later registry edits, renames and moves never change it. The caller commits."""
    report = compute(org, on)
    snap = StatSnapshot(org_id=org.id, on_date=report.on, period_start=report.since, title=" ".join(title.split()),
                        created_by_id=getattr(actor, "id", None), created_by_login=getattr(actor, "login", "") or "",
                        created_at=now())
    db.session.add(snap)
    db.session.flush()
    db.session.execute(StatSnapshotOrg.__table__.insert(), [
        {"snapshot_id": snap.id, "org_id": o.id, "parent_id": o.parent_id, "level": o.level, "path": o.path,
         "name": o.name} for o in report.orgs.values()])
    values = [{"snapshot_id": snap.id, "org_id": i, "key": k, "n": n}
              for i, c in report.own.items() for k, n in sorted(c.items()) if n]
    if values:
        db.session.execute(StatSnapshotValue.__table__.insert(), values)
    audit.record("stats_freeze", object_type="stat_snapshots", object_id=snap.id, org_id=org.id, actor=actor,
                 on_date=report.on)
    return snap


def snapshot_report(snap: StatSnapshot) -> Report:
    """The frozen report exactly as stored, rolled up over the stored tree."""
    orgs = {o.org_id: OrgInfo(o.org_id, o.parent_id, o.level, o.path, o.name) for o in db.session.scalars(
        select(StatSnapshotOrg).where(StatSnapshotOrg.snapshot_id == snap.id))}
    own: dict[int, Counter] = {i: Counter() for i in orgs}
    for org_id, key, n in db.session.execute(select(StatSnapshotValue.org_id, StatSnapshotValue.key,
                                                    StatSnapshotValue.n)
                                             .where(StatSnapshotValue.snapshot_id == snap.id)):
        own.setdefault(org_id, Counter())[key] = n
    problems = sorted((Problem(i, orgs[i].name, own[i]["members"], None) for i in orgs if own[i]["problem_orgs"]),
                      key=lambda p: p.name)
    report = Report(snap.org_id, snap.on_date, snap.period_start, False, orgs, own, problems=problems)
    report.total = roll_up(orgs, own, snap.org_id)
    return report


def snapshots_of(org: Organisation) -> list[StatSnapshot]:
    """The organisation's frozen reports, newest first."""
    return db.session.scalars(select(StatSnapshot).where(StatSnapshot.org_id == org.id)
                              .order_by(StatSnapshot.id.desc()).limit(50)).all()
