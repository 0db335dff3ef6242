"""The scheduled jobs of consent and cards, through the real runner: the 1st/15th processing and its catch-up."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.cards.models import CardRequest, ProductionBatch, RequestState
from portal.extensions import db
from portal.jobs.models import JobRun
from portal.jobs.runner import run_due
from portal.registry.models import ConsentStatus
from tests.conftest import create_member, login

MSK = ZoneInfo("Europe/Moscow")


def _submitted(client, world, n=2) -> CardRequest:
    members = [create_member(world.school_a) for _ in range(n)]
    for m in members:
        m.consent_status = ConsentStatus.SIGNED
    db.session.commit()
    login(client, world.users["primary_chair"])
    client.post(f"/orgs/{world.school_a.id}/card-requests/add", data={"member_ids": [m.id for m in members]})
    req = db.session.scalar(select(CardRequest))
    client.post(f"/card-requests/{req.id}/submit")
    db.session.refresh(req)
    assert req.state == RequestState.SUBMITTED
    return req


def _next_cutoff(after: datetime) -> datetime:
    d = after.astimezone(MSK)
    for day in range(1, 40):
        c = (d + timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        if c.day in (1, 15):
            return c
    raise AssertionError


def test_requests_are_processed_by_the_next_cutoff_run_and_only_once(client, world):
    req = _submitted(client, world)
    cutoff = _next_cutoff(req.submitted_at)
    # Before the cut-off nothing happens.
    run_due(now=cutoff - timedelta(minutes=1), names=["card_processing", "bonus_export"])
    db.session.refresh(req)
    assert req.state == RequestState.SUBMITTED
    runs = run_due(now=cutoff + timedelta(minutes=1), names=["card_processing"])
    assert [r.status for r in runs if r.job == "card_processing"][-1] == "done"
    db.session.refresh(req)
    assert req.state == RequestState.PROCESSED and all(i.card for i in req.items)
    assert run_due(now=cutoff + timedelta(minutes=2), names=["card_processing"]) == []
    assert db.session.scalar(select(ProductionBatch.requests).where(ProductionBatch.requests > 0)) == 1


def test_after_downtime_each_missed_cutoff_runs_once(client, world):
    req = _submitted(client, world)
    first = _next_cutoff(req.submitted_at)
    run_due(now=first - timedelta(minutes=5), names=["card_processing"])  # the runner has seen the schedule
    later = first + timedelta(days=40)  # the machine was down for 40 days: two or three cut-offs missed
    runs = run_due(now=later, names=["card_processing"])
    slots = [r.slot for r in runs if r.status == "done"]
    assert len(slots) >= 2 and slots == sorted(slots)
    db.session.refresh(req)
    assert req.state == RequestState.PROCESSED
    batches = db.session.scalars(select(ProductionBatch).order_by(ProductionBatch.cutoff)).all()
    assert [b.requests for b in batches].count(1) == 1  # processed in the first missed cut-off, never again
    assert db.session.scalar(select(JobRun.id).where(JobRun.status == "failed")) is None
