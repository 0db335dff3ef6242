"""Age bands kept in the counters: exact on any live date, moved by the daily job on birthdays (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.clock import today
from portal.extensions import db
from portal.registry import operations as ops
from portal.registry.models import EventKind, OrgLevel
from portal.stats.counts import advance_ages, age_state, check, maintained, rebuild_all, years_before
from portal.stats.report import compute
from tests.conftest import create_member, create_org

TODAY = today()
TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture
def ages_tree(app):
    c = create_org(None, OrgLevel.CENTRAL, "ЦС")
    r = create_org(c, OrgLevel.REGIONAL, "Регион")
    p1 = create_org(r, OrgLevel.PRIMARY, "П1", staff_count=10)
    p2 = create_org(r, OrgLevel.PRIMARY, "П2", staff_count=10)
    m = {
        "turns35_today": create_member(p1, birth_date=years_before(TODAY, 35)),
        "turns35_tomorrow": create_member(p1, birth_date=years_before(TOMORROW, 35)),
        "turns60_tomorrow": create_member(p2, birth_date=years_before(TOMORROW, 60)),
        "young": create_member(p2, birth_date=years_before(TODAY, 25)),
        "fifty_five": create_member(p2, birth_date=years_before(TODAY, 55) - timedelta(days=3)),
    }
    return {"c": c, "r": r, "p1": p1, "p2": p2, "m": m}


def bands(report, org) -> list[int]:
    return [report.own[org.id][f"age:{i}"] for i in range(4)]


def test_kept_bands_are_exact_today_and_a_live_report_moves_them_to_its_date(ages_tree):
    p1, p2, r = ages_tree["p1"], ages_tree["p2"], ages_tree["r"]
    assert age_state().as_of == TODAY and check() == []
    kept = maintained()
    # Turning 35 today is 35: the second band; turning 35 tomorrow is still in the first.
    assert (kept[(p1.id, "age:0")], kept[(p1.id, "age:1")]) == (1, 1)
    assert [kept.get((p2.id, f"age:{i}"), 0) for i in range(4)] == [1, 0, 2, 0]
    rep = compute(r, TODAY)
    assert rep.ages_kept_on == TODAY
    assert bands(rep, p1) == [1, 1, 0, 0] and bands(rep, p2) == [1, 0, 2, 0]
    # A report for tomorrow: the kept bands (as of today) plus tomorrow's birthdays.
    rep = compute(r, TOMORROW)
    assert bands(rep, p1) == [0, 2, 0, 0] and bands(rep, p2) == [1, 0, 1, 1]
    assert [rep.total[r.id][f"age:{i}"] for i in range(4)] == [1, 2, 1, 1]
    assert maintained() == kept  # reading never writes


def test_the_daily_job_moves_the_birthdays_and_check_agrees(ages_tree, app):
    from portal.stats.jobs import daily_age_bands

    p1, p2, r = ages_tree["p1"], ages_tree["p2"], ages_tree["r"]
    # The counters as they stood yesterday (the job has not run yet today).
    advance_ages(TODAY - timedelta(days=1))
    db.session.commit()
    assert age_state().as_of == TODAY - timedelta(days=1)
    assert check() == []  # check counts the bands as of the kept date
    assert maintained()[(p1.id, "age:0")] == 2  # yesterday nobody here was 35 yet
    # A live report is exact before the job runs.
    assert bands(compute(r, TODAY), p1) == [1, 1, 0, 0]
    # Registry changes while the bands are yesterday's are counted in yesterday's bands.
    late = create_member(p1, birth_date=years_before(TODAY, 35))  # 35 today, 34 yesterday
    assert maintained()[(p1.id, "age:0")] == 3 and check() == []
    assert daily_age_bands(datetime.now(UTC)).endswith(" 2.")  # today's 35-year-olds: the first and the late one
    assert age_state().as_of == TODAY and check() == []
    assert maintained()[(p1.id, "age:1")] == 2 and maintained()[(p1.id, "age:0")] == 1
    # Safe to repeat.
    assert daily_age_bands(datetime.now(UTC)).endswith(" 0.")
    assert check() == []
    # Tomorrow's run moves the people whose birthday it is.
    assert advance_ages(TOMORROW) == 2
    db.session.commit()
    assert check() == [] and bands(compute(r, TOMORROW), p2) == [1, 0, 1, 1]
    # Leaving, a birth-date correction, a transfer: counted in the kept bands' date.
    ops.end_membership(None, late, EventKind.LEFT, TODAY)
    ops.update_member(None, ages_tree["m"]["young"], {"birth_date": years_before(TODAY, 52)})
    ops.transfer_member(None, ages_tree["m"]["fifty_five"], p1, TODAY)
    db.session.commit()
    assert check() == []


def test_changed_bands_are_a_difference_until_rebuilt(ages_tree, app):
    app.config["STATS_AGE_BANDS"] = (30, 50, 60)
    diffs = check()
    assert diffs and diffs[0][0] == 0 and "age_bands" in diffs[0][1]
    # A live report never shows the stale bands: it counts the members itself.
    rep = compute(ages_tree["r"], TODAY)
    assert rep.ages_kept_on is None and rep.own[ages_tree["p1"].id]["age:1"] == 2
    rebuild_all()
    db.session.commit()
    assert check() == [] and age_state().bands == (30, 50, 60)
    assert compute(ages_tree["r"], TODAY).ages_kept_on == TODAY


def test_migration_0014_counts_the_existing_members_age_bands(ages_tree, app):
    """Down to 0013 (no kept age bands, no history) and up again: the migration counts the registry's age bands as
    of today, and the counters agree with a recount."""
    from flask_migrate import downgrade, upgrade

    kept = maintained()
    db.session.commit()
    db.session.remove()
    downgrade(revision="0013")
    upgrade()
    assert check() == [] and age_state().as_of == TODAY
    assert maintained() == kept
