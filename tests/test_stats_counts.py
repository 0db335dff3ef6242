"""Kept member counters agree with the registry after every kind of change (`portal stats check`)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from portal.cli import main
from portal.consent import operations as consent_ops
from portal.extensions import db
from portal.registry import operations as ops
from portal.registry.imports import import_file
from portal.registry.models import CardStatus, Category, EventKind
from portal.stats.counts import check, maintained
from portal.stats.report import compute
from tests.conftest import create_member

DATA = Path(__file__).parent / "data"


def stats_check(app) -> str:
    result = app.test_cli_runner().invoke(main, ["stats", "check"])
    assert result.exit_code == 0, result.output
    return result.output


def test_counts_follow_every_registry_change(app, world):
    school, school2 = world.school_a, world.school_a2
    stats_check(app)
    m = create_member(school, category=Category.STUDENT)
    assert maintained()[(school.id, "category:student")] == 1
    assert maintained()[(school.id, "members")] == 2
    stats_check(app)

    ops.update_member(None, m, {"category": Category.PENSIONER})
    db.session.commit()
    stats_check(app)
    assert (school.id, "category:student") not in maintained()

    ops.transfer_member(None, m, school2, date.today())
    db.session.commit()
    stats_check(app)
    assert maintained()[(school2.id, "members")] == 2 and maintained()[(school.id, "members")] == 1

    ops.end_membership(None, m, EventKind.LEFT, date.today())
    db.session.commit()
    stats_check(app)
    assert maintained()[(school2.id, "members")] == 1

    other = world.members["a"]
    ops.end_membership(None, other, EventKind.EXCLUDED, date.today() - timedelta(days=400), reason="протокол № 1")
    db.session.commit()
    stats_check(app)
    ops.readmit_member(None, other, date.today())
    db.session.commit()
    stats_check(app)
    assert maintained()[(school.id, "members")] == 1

    chair = world.users["primary_chair"]
    consent_ops.mark_printed(chair, other)
    consent_ops.record_signature(chair, other, date.today())
    db.session.commit()
    stats_check(app)
    assert maintained()[(school.id, "consent:signed")] == 1
    consent_ops.withdraw(chair, other, date.today(), "не хочу")
    db.session.commit()
    stats_check(app)
    assert maintained()[(school.id, "consent:withdrawn")] == 1

    other.card_status = CardStatus.ISSUED  # the card workflow's effect writes the member the same way
    db.session.commit()
    stats_check(app)
    assert maintained()[(school.id, "card:issued")] == 1

    import_file(world.school_a3, DATA / "members-1c-export.csv", "a.csv", None)
    db.session.commit()
    stats_check(app)
    assert maintained()[(world.school_a3.id, "members")] > 1


def test_check_reports_a_difference_and_exits_1(app, world):
    from portal.stats.models import StatCount

    row = db.session.get(StatCount, (world.school_a.id, "members"))
    row.n = 7
    db.session.commit()
    assert check() == [(world.school_a.id, "members", 7, 1)]
    result = app.test_cli_runner().invoke(main, ["stats", "check"])
    assert result.exit_code == 1 and "хранится 7, на самом деле 1" in result.output
    assert app.test_cli_runner().invoke(main, ["stats", "rebuild"]).exit_code == 0
    stats_check(app)


def test_a_move_through_the_relationship_is_counted(app, world):
    m = world.members["a"]
    m.org = world.school_a2  # as a back-office form would: the relationship, not the key
    db.session.commit()
    assert check() == []
    assert maintained()[(world.school_a2.id, "members")] == 2 and (world.school_a.id, "members") not in maintained()


def test_an_assignment_to_an_expired_member_is_counted(app, world):
    """After a commit the member is expired: an assignment carries no old value, the committed row gives it."""
    m = world.members["a"]
    db.session.commit()
    m.card_status = CardStatus.ORDERED
    m.category = Category.PENSIONER
    db.session.commit()
    assert check() == []
    assert maintained()[(world.school_a.id, "card:ordered")] == 1


def test_counts_follow_the_card_workflow_to_issued(app, client, make_app, world):
    """Card request → processing → shipment → receipt by the region → handing over, through the real pages and jobs."""
    from tests.conftest import login
    from tests.test_cards import _draft_with, _process, consenting

    login(client, world.users["primary_chair"])
    members = consenting(world.school_a, 2)
    req = _draft_with(client, world.school_a, members)
    assert client.post(f"/card-requests/{req.id}/submit").status_code == 302
    stats_check(app)
    assert maintained()[(world.school_a.id, "card:ordered")] == 2
    _process()
    stats_check(app)
    regional = make_app().test_client()
    login(regional, world.users["regional_staff"])
    assert regional.post(f"/card-requests/{req.id}/ship", data={"tracking_number": "RA123456789RU",
                                                                "on_date": date.today().isoformat()}).status_code == 302
    stats_check(app)
    assert maintained()[(world.school_a.id, "card:shipped")] == 2
    # The regional office records that the shipment arrived: every card of the request is «получен».
    assert regional.post(f"/card-requests/{req.id}/receive",
                         data={"on_date": date.today().isoformat()}).status_code == 302
    stats_check(app)
    assert maintained()[(world.school_a.id, "card:received")] == 2
    assert (world.school_a.id, "card:shipped") not in maintained()
    # Received by the region is still requested, not yet issued.
    figures = compute(world.school_a, date.today()).own[world.school_a.id]
    assert figures["cards_requested"] == 2 and figures["cards_issued"] == 0
    db.session.refresh(req)
    for item in req.items:
        assert client.post(f"/cards/{item.card.id}/hand_over").status_code == 302
    stats_check(app)
    assert maintained()[(world.school_a.id, "card:issued")] == 2
    assert (world.school_a.id, "card:received") not in maintained()
    figures = compute(world.school_a, date.today()).own[world.school_a.id]
    assert figures["cards_requested"] == 0 and figures["cards_issued"] == 2


def test_the_one_pass_recount_of_an_organisation_equals_the_full_recount(app, world):
    from portal.stats.counts import _recount_one_pass, age_state, recount

    create_member(world.school_a, category=Category.STUDENT)
    ids = [world.school_a.id, world.school_a2.id]
    assert _recount_one_pass(ids, age_state()) == recount(ids, age_state())
